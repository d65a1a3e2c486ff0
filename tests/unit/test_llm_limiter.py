"""The AIMD policy and the asyncio gate around it."""

from __future__ import annotations

import asyncio
import random

import pytest

from synthstream.agents.generation.backends.limiter import AdaptiveLimiter, AimdPolicy, backoff_delay


def test_additive_increase_is_about_one_per_window() -> None:
    policy = AimdPolicy(floor=1, ceiling=64, initial=8)
    for _ in range(8):
        policy.on_success()
    assert 8.9 < policy.limit < 9.0  # eight successes at limit ~8 grow it by just under one


def test_increase_stops_at_ceiling() -> None:
    policy = AimdPolicy(floor=1, ceiling=10, initial=9)
    for _ in range(1000):
        policy.on_success()
    assert policy.limit == 10.0 and policy.permits == 10


def test_multiplicative_decrease_once_per_window() -> None:
    policy = AimdPolicy(floor=1, ceiling=64, initial=32)
    epoch = policy.epoch
    assert policy.on_overload(epoch) is True
    assert policy.limit == 16.0
    # every other request that was in flight during the same storm reports it too: no second cut
    for _ in range(20):
        assert policy.on_overload(epoch) is False
    assert policy.limit == 16.0
    # a request admitted after the cut reports overload again: that is a new signal
    assert policy.on_overload(policy.epoch) is True
    assert policy.limit == 8.0


def test_decrease_stops_at_floor() -> None:
    policy = AimdPolicy(floor=2, ceiling=8, initial=8)
    for _ in range(10):
        policy.on_overload(policy.epoch)
    assert policy.limit == 2.0 and policy.permits == 2


@pytest.mark.parametrize("kwargs", [{"floor": 0}, {"floor": 5, "ceiling": 4}, {"decrease": 1.0}])
def test_bad_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AimdPolicy(**kwargs)  # type: ignore[arg-type]


def test_backoff_is_jittered_exponential_and_honours_retry_after() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(a, 0.5, 8.0, rng) for a in range(8) for _ in range(50)]
    assert all(0 <= d <= 8.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 300  # jittered, not a fixed schedule
    assert max(backoff_delay(1, 0.5, 8.0, rng) for _ in range(200)) <= 1.0
    assert backoff_delay(0, 0.5, 8.0, rng, retry_after=3.0) >= 3.0


async def _hold(limiter: AdaptiveLimiter, seen: list[int], hold: float) -> None:
    async with limiter.slot() as slot:
        seen.append(limiter.in_flight)
        await asyncio.sleep(hold)
        slot.success()


def test_gate_never_admits_more_than_the_limit() -> None:
    limiter_box: list[AdaptiveLimiter] = []
    seen: list[int] = []

    async def main() -> None:
        limiter = AdaptiveLimiter(AimdPolicy(floor=1, ceiling=4, initial=3))
        limiter_box.append(limiter)
        await asyncio.gather(*(_hold(limiter, seen, 0.005) for _ in range(40)))

    asyncio.run(main())
    assert max(seen) <= 4
    assert max(seen[:3]) == 3  # started at 3 in flight
    assert limiter_box[0].in_flight == 0


def test_retry_after_pauses_new_requests() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        limiter = AdaptiveLimiter(AimdPolicy(floor=1, ceiling=4, initial=4))
        async with limiter.slot() as slot:
            slot.overload(retry_after=0.2)
        assert limiter.limit == 2.0
        started = loop.time()
        async with limiter.slot():
            pass
        return loop.time() - started

    assert asyncio.run(main()) >= 0.19


def test_gauge_follows_the_limit() -> None:
    values: list[float] = []

    async def main() -> None:
        limiter = AdaptiveLimiter(AimdPolicy(floor=1, ceiling=8, initial=4), on_change=values.append)
        async with limiter.slot() as slot:
            slot.overload()
        async with limiter.slot() as slot:
            slot.success()

    asyncio.run(main())
    assert values[0] == 4.0 and values[1] == 2.0 and values[2] == 2.5

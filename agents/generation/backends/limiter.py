"""Adaptive concurrency for model requests: additive increase, multiplicative decrease (AIMD).

The policy is pure arithmetic (unit-tested with a fake clock); the limiter wraps it in an
asyncio gate. A request that succeeds grows the limit by ``increase / limit`` (about +increase
per round trip of a full window); an overload signal (429, 503, timeout) cuts it by ``decrease``,
at most once per window: requests that were already in flight when the limit was cut report the
same storm and must not cut it again. ``Retry-After`` pauses new requests until it expires.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class AimdPolicy:
    floor: int = 1
    ceiling: int = 64
    initial: float | None = None
    increase: float = 1.0
    decrease: float = 0.5
    limit: float = field(init=False)
    epoch: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.floor < 1 or self.ceiling < self.floor:
            raise ValueError(f"need 1 <= floor <= ceiling, got floor={self.floor} ceiling={self.ceiling}")
        if not 0 < self.decrease < 1:
            raise ValueError(f"decrease must be in (0, 1), got {self.decrease}")
        start = self.initial if self.initial is not None else min(self.ceiling, max(self.floor, 8))
        self.limit = float(min(self.ceiling, max(self.floor, start)))

    @property
    def permits(self) -> int:
        return max(self.floor, int(math.floor(self.limit)))

    def on_success(self) -> None:
        self.limit = min(float(self.ceiling), self.limit + self.increase / self.limit)

    def on_overload(self, started_epoch: int) -> bool:
        """Cut the limit unless this request started before the last cut; True when it cut."""
        if started_epoch < self.epoch:
            return False
        self.limit = max(float(self.floor), self.limit * self.decrease)
        self.epoch += 1
        return True


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random,
                  retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff; a server's Retry-After is a lower bound, never ignored."""
    jitter = rng.uniform(0.0, min(cap, base * (2 ** attempt)))
    if retry_after is not None:
        return max(retry_after, jitter)
    return jitter


class AdaptiveLimiter:
    """An asyncio gate whose width follows an :class:`AimdPolicy`."""

    def __init__(self, policy: AimdPolicy, clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[float], None] | None = None) -> None:
        self.policy = policy
        self.clock = clock
        self.in_flight = 0
        self.paused_until = 0.0
        self._cond = asyncio.Condition()
        self._on_change = on_change or (lambda _limit: None)
        self._on_change(policy.limit)

    @property
    def limit(self) -> float:
        return self.policy.limit

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    async def _wait_for_slot(self) -> None:
        async with self._cond:
            while True:
                wait = self.paused_until - self.clock()
                if wait > 0:
                    try:  # wake early if notified, then re-check
                        await asyncio.wait_for(self._cond.wait(), timeout=wait)
                    except asyncio.TimeoutError:
                        pass
                    continue
                if self.in_flight < self.policy.permits:
                    self.in_flight += 1
                    return
                await self._cond.wait()

    async def _release(self) -> None:
        async with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator["Slot"]:
        await self._wait_for_slot()
        s = Slot(self, self.policy.epoch)
        try:
            yield s
        finally:
            await self._release()


class Slot:
    """One admitted request; it reports how it went so the limit can adapt."""

    def __init__(self, limiter: AdaptiveLimiter, epoch: int) -> None:
        self._limiter = limiter
        self._epoch = epoch

    def success(self) -> None:
        self._limiter.policy.on_success()
        self._limiter._on_change(self._limiter.policy.limit)

    def overload(self, retry_after: float | None = None) -> None:
        if retry_after is not None and retry_after > 0:
            self._limiter.pause(retry_after)
        if self._limiter.policy.on_overload(self._epoch):
            self._limiter._on_change(self._limiter.policy.limit)

"""The batched loop acks in the order records arrived, whatever order its batches finish in.

Faust commits the lowest run of consecutive acked offsets of a partition, whether or not the
offsets before it were acked: a later batch acked first would commit past an earlier one still
in flight, and a crash then would lose the earlier batch (found by benchmarks/chaos_duplicates.py:
187 prompts of one partition never generated). These tests fail if the loop acks a batch as soon
as it is delivered."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from synthstream.streams.runtime import shell


class FakeStream:
    """``batches`` of offsets of one partition, each ending where ``channel.empty()`` says so;
    the stream ends once every offset was acked (or at a bound)."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches
        self.total = sum(len(b) for b in batches)
        self.acked: list[int] = []
        self.all_acked = asyncio.Event()
        self._queued = 0
        self.channel = SimpleNamespace(empty=lambda: self._queued == 0)
        self.enable_acks = True

    async def events(self):
        for batch in self.batches:
            for i, offset in enumerate(batch):
                self._queued = len(batch) - i - 1
                yield SimpleNamespace(message=SimpleNamespace(topic="prompts", partition=0, offset=offset))
        await asyncio.wait_for(self.all_acked.wait(), 10)

    async def ack(self, event) -> None:
        self.acked.append(event.message.offset)
        if len(self.acked) == self.total:
            self.all_acked.set()


class FakeSinks:
    def __init__(self, deliver_delay) -> None:
        self.deliver_delay = deliver_delay
        self.metrics = SimpleNamespace(latency=SimpleNamespace(labels=lambda _: SimpleNamespace(observe=lambda _: None)))

    def outbox(self, pending):
        return SimpleNamespace(pending=pending)

    async def deliver(self, pending) -> None:
        await asyncio.sleep(self.deliver_delay(pending))


def run(batches, handle, sinks, in_flight):
    stream = FakeStream(batches)
    asyncio.run(asyncio.wait_for(shell.run_batched_stage("generation", stream, handle, sinks, max_batch=100,
                                                         in_flight=in_flight), 20))
    return stream.acked


@pytest.mark.parametrize("in_flight", [2, 8])
def test_a_slow_first_batch_is_acked_before_the_fast_ones_after_it(in_flight):
    async def handle(message, out):
        out.pending.add("generations", b"k", b"v")
        await asyncio.sleep(0.2 if message.offset < 5 else 0.0)  # the first batch waits on its model

    acked = run([list(range(0, 5)), list(range(5, 10)), list(range(10, 15))], handle, FakeSinks(lambda _: 0.0),
                in_flight)
    assert acked == list(range(15))


def test_a_slow_delivery_of_the_first_batch_holds_back_the_acks_after_it():
    delays = iter([0.2, 0.0, 0.0])

    async def handle(message, out):
        out.pending.add("generations", b"k", b"v")

    acked = run([list(range(0, 4)), list(range(4, 8)), list(range(8, 12))], handle,
                FakeSinks(lambda _: next(delays)), in_flight=1)
    assert acked == list(range(12))


def test_a_batch_that_fails_to_ack_stops_the_loop_instead_of_stalling_it_silently():
    class Broken(FakeStream):
        async def ack(self, event) -> None:
            raise RuntimeError("ack failed")

    async def handle(message, out):
        out.pending.add("generations", b"k", b"v")

    stream = Broken([[0, 1], [2, 3], [4, 5]])

    async def main():
        await shell.run_batched_stage("generation", stream, handle, FakeSinks(lambda _: 0.0), max_batch=100,
                                      in_flight=2)

    with pytest.raises(RuntimeError, match="ack failed"):
        asyncio.run(asyncio.wait_for(main(), 20))

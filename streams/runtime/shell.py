"""The agent shell every stage shares: raw topics, typed sinks, dead letters, outcomes and the
record loop that turns errors into dead letters."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from synthstream.streams.runtime.errors import PoisonRecord
from synthstream.streams.runtime.metrics import Metrics
from synthstream.streams.runtime.records import OutcomeKind, outcome
from synthstream.streams.runtime.serde import SchemaRegistry
from synthstream.streams.runtime.topics import ROLES, TopicNames
from synthstream.streams.runtime.transactions import Fenced, PartitionTransactions, Pending, send_together

logger = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


class Writer:
    """Avro-encodes records and writes them to the stage's topics, by role; the subclasses say
    where the bytes go (``_write``) and when a counter counts (``_count``)."""

    def __init__(self, names: TopicNames, serde: SchemaRegistry, metrics: Metrics,
                 clock: Callable[[], int] = now_ms) -> None:
        self.names, self.serde, self.metrics, self.clock = names, serde, metrics, clock

    async def _write(self, role: str, key: bytes, value: bytes, partition: int | None) -> None:
        raise NotImplementedError

    def count(self, fn: Callable[[], None]) -> None:
        """Count now (or, in an outbox, once the batch commits)."""
        fn()

    async def send(self, role: str, key: str, record_name: str, record: dict[str, Any],
                   partition: int | None = None) -> None:
        await self._write(role, key.encode(), self.serde.encode(record_name, record), partition)

    async def outcome(self, prompt_id: str, kind: OutcomeKind, stage: str, *, reason: str | None = None,
                      record_id: str | None = None, task: str | None = None) -> None:
        await self.send("outcomes", prompt_id, "Outcome",
                        outcome(prompt_id, kind, stage, self.clock(), reason=reason, record_id=record_id, task=task))

    async def dead_letter(self, stage: str, message: Any, exc: PoisonRecord, prompt_id: str | None = None) -> None:
        """Send the original bytes with the reason; account the prompt when we know its id."""
        logger.warning("%s: dead letter (%s) from %s[%s]@%s: %s", stage, exc.reason,
                       message.topic, message.partition, message.offset, exc.detail)
        await self.send("dead-letters", (message.key or b"").decode("utf-8", "replace"), "DeadLetter", {
            "stage": stage, "reason": exc.reason, "detail": exc.detail[:2000],
            "source_topic": message.topic, "source_partition": message.partition,
            "source_offset": message.offset, "original_key": message.key, "original_value": message.value,
            "prompt_id": prompt_id, "failed_at": self.clock(),
        })
        self.count(lambda: self.metrics.dead_letters.labels(stage, exc.reason).inc())
        if prompt_id is not None:
            await self.outcome(prompt_id, "DEAD_LETTER", stage, reason=f"{exc.reason}: {exc.detail[:200]}",
                               task=exc.task)


class Sinks(Writer):
    """Raw-bytes topics of one app; records are Avro-encoded here, never by Faust."""

    def __init__(self, app: faust.App, names: TopicNames, serde: SchemaRegistry, metrics: Metrics,
                 clock: Callable[[], int] = now_ms) -> None:
        super().__init__(names, serde, metrics, clock)
        self.app = app
        self.topics = {role: raw_topic(app, names[role]) for role in ROLES}

    async def _write(self, role: str, key: bytes, value: bytes, partition: int | None) -> None:
        await self.topics[role].send(key=key, value=value, partition=partition)

    async def deliver(self, pending: Pending) -> None:
        """Send a batch's outputs through the app's producer, one record batch per topic
        partition, and return when the broker has all of them (acks=all); raises if it does not."""
        producer = self.app.producer._ensure_producer()  # Faust's aiokafka producer
        for future in await send_together(producer, pending.items):
            await future

    def outbox(self, pending: Pending) -> Outbox:
        return Outbox(pending, self.names, self.serde, self.metrics, self.clock)

    def transactions(self, app: faust.App, stage: str, source: str, bootstrap: str,
                     timeout_s: float) -> PartitionTransactions:
        """The transactional producers of ``stage``, which consumes ``source`` in ``app``'s group."""

        def owns(partition: int) -> bool:
            return any(tp.topic == source and tp.partition == partition for tp in app.consumer.assignment())

        return PartitionTransactions(bootstrap, app.conf.id, stage, source, owns, timeout_s)


class Outbox(Writer):
    """Collects a batch's outputs for one transaction (nothing is sent, nothing counted, until
    it commits)."""

    def __init__(self, pending: Pending, names: TopicNames, serde: SchemaRegistry, metrics: Metrics,
                 clock: Callable[[], int] = now_ms) -> None:
        super().__init__(names, serde, metrics, clock)
        self.pending = pending

    async def _write(self, role: str, key: bytes, value: bytes, partition: int | None) -> None:
        self.pending.add(self.names[role], key, value, partition)

    def count(self, fn: Callable[[], None]) -> None:
        self.pending.on_commit(fn)

    def scratch(self) -> Outbox:
        """An empty outbox like this one, for work that may fail half-way: ``take`` it on success,
        drop it otherwise."""
        return Outbox(Pending(), self.names, self.serde, self.metrics, self.clock)

    def take(self, other: Outbox) -> None:
        """Add what ``other`` holds (its outputs and its counters), after what this one holds."""
        self.pending.items.extend(other.pending.items)
        self.pending.after.extend(other.pending.after)


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


Handler = Callable[[Any], Awaitable[None]]


async def run_stage(stage: str, stream: Any, handle: Handler, sinks: Sinks) -> None:
    """The loop every agent shares: time each record, turn errors into dead letters, keep going."""
    latency = sinks.metrics.latency.labels(stage)
    async for event in stream.events():
        message = event.message
        started = time.perf_counter()
        try:
            await handle(message)
        except PoisonRecord as exc:
            await sinks.dead_letter(stage, message, exc, exc.prompt_id)
        except Exception as exc:  # a bug must not stop the stream or lose the record
            logger.exception("%s: internal error on %s[%s]@%s", stage, message.topic, message.partition, message.offset)
            err = PoisonRecord("internal_error", f"{type(exc).__name__}: {exc}")
            await sinks.dead_letter(stage, message, err, None)
        latency.observe(time.perf_counter() - started)


BatchHandler = Callable[[Any, Outbox], Awaitable[None]]
BATCHES_IN_FLIGHT = 4


async def run_batched_stage(stage: str, stream: Any, handle: BatchHandler, sinks: Sinks, *, max_batch: int = 500,
                            in_flight: int = 1) -> None:
    """The at-least-once loop in batches: the records that arrived together (up to
    ``max_batch``) are handled into one outbox, its outputs go out together
    (``Sinks.deliver``: one record batch per partition, no await per record), and the events
    are acked to Faust only once the broker has every output, so a crash redoes the batch and
    never skips a record. Batches are acked in the order they were taken, whatever order they
    finish in (``AckOrder``): Faust commits the lowest run of consecutive acked offsets even when
    earlier ones are not acked yet. A failed delivery is retried with the same outputs.

    ``in_flight`` > 1 is for handlers that wait (on a model server, the jail, a judge): up to
    that many records are handled at once, from as many batches (a batch is acked when its
    slowest record is done, so the next ones go on meanwhile; batches of one record, when they
    come one by one, still keep ``in_flight`` records busy); 1 handles one record after
    another, and up to BATCHES_IN_FLIGHT batches are delivered while the next is handled. The agent must have one actor: batches are cut from its channel.
    (Handing a whole batch to the model client at once made hundreds of coroutines wait on its
    limiter, which wakes them all at each free slot.)"""
    stream.enable_acks = False
    # batches that come one record at a time must still keep ``in_flight`` records busy
    slots = asyncio.Semaphore(BATCHES_IN_FLIGHT if in_flight <= 1 else in_flight)
    records = asyncio.Semaphore(in_flight)
    order = AckOrder()
    running: set[asyncio.Task] = set()
    failed: list[BaseException] = []
    loop_task = asyncio.current_task()

    def done(task: asyncio.Task) -> None:
        running.discard(task)
        order.room.release()
        if not task.cancelled() and task.exception() is not None and not failed:
            failed.append(task.exception())  # a bug: the batches after it would never be acked
            loop_task.cancel()

    batch: list[Any] = []
    try:
        async for event in stream.events():
            batch.append(event)
            if len(batch) < max_batch and not stream.channel.empty():
                continue
            events, batch = batch, []
            if in_flight <= 1:  # handled now, one after another; delivered while the next is handled
                started = time.perf_counter()
                pending = Pending()
                out = sinks.outbox(pending)
                for ev in events:
                    await _handle_into(stage, ev.message, handle, out)
                await slots.acquire()
                await order.room.acquire()
                task = asyncio.ensure_future(_deliver_and_ack(stage, events, pending, stream, sinks, started,
                                                              order.turn(), slots))
            else:
                await slots.acquire()
                await order.room.acquire()
                task = asyncio.ensure_future(_run_batch(stage, events, stream, handle, sinks, records,
                                                        order.turn(), slots))
            running.add(task)
            task.add_done_callback(done)
    except asyncio.CancelledError:
        if failed:
            raise failed[0] from None
        raise
    finally:
        for task in list(running):  # stopping: what is not acked is redone by the next owner
            task.cancel()


class AckOrder:
    """Batches acked in the order they were taken. Each batch gets a turn: the future of the
    batch before it (done once that one is acked) and its own. A batch whose turn never comes
    (the one before was cancelled: the worker is stopping) is never acked, so its offsets are
    not committed and the next owner redoes it. ``room`` bounds the batches taken and not yet
    acked (a slow batch holds back the acks after it, not their work)."""

    def __init__(self, waiting: int = 64) -> None:
        self.room = asyncio.Semaphore(waiting)
        self._last: asyncio.Future | None = None

    def turn(self) -> tuple[asyncio.Future | None, asyncio.Future]:
        before, mine = self._last, asyncio.get_running_loop().create_future()
        self._last = mine
        return before, mine


async def _run_batch(stage: str, events: list[Any], stream: Any, handle: BatchHandler, sinks: Sinks,
                     concurrent: asyncio.Semaphore, turn: tuple[asyncio.Future | None, asyncio.Future],
                     slot: asyncio.Semaphore) -> None:
    pending = Pending()
    out = sinks.outbox(pending)
    started = time.perf_counter()

    async def one(message: Any) -> None:
        async with concurrent:
            await _handle_into(stage, message, handle, out)

    try:
        await asyncio.gather(*(one(ev.message) for ev in events))
    except BaseException:
        slot.release()
        raise
    await _deliver_and_ack(stage, events, pending, stream, sinks, started, turn, slot)


async def _deliver_and_ack(stage: str, events: list[Any], pending: Pending, stream: Any, sinks: Sinks,
                           started: float, turn: tuple[asyncio.Future | None, asyncio.Future],
                           slot: asyncio.Semaphore) -> None:
    """Deliver a batch's outputs (retrying), free its slot for the next batch, and ack its
    events when every batch taken before it has been acked."""
    before, mine = turn
    attempt = 0
    try:
        while True:
            try:
                await sinks.deliver(pending)
                break
            except Exception as exc:
                attempt += 1
                logger.warning("%s: cannot deliver the outputs of %d records (%s: %s); trying again in %.1fs",
                               stage, len(events), type(exc).__name__, exc, _backoff(attempt))
                await asyncio.sleep(_backoff(attempt))
    finally:
        slot.release()
    pending.committed()
    latency = sinks.metrics.latency.labels(stage)
    per_record = (time.perf_counter() - started) / len(events)
    if before is not None:
        await asyncio.shield(before)  # cancelling this batch must not cancel the one before it
    for ev in events:
        latency.observe(per_record)
        await stream.ack(ev)
    mine.set_result(None)


def _backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...): doubling from 1 s, at most 10 s."""
    return min(0.5 * 2 ** attempt, 10.0)


async def _handle_into(stage: str, message: Any, handle: BatchHandler, out: Outbox) -> None:
    try:
        await handle(message, out)
    except PoisonRecord as exc:
        await out.dead_letter(stage, message, exc, exc.prompt_id)
    except Exception as exc:  # a bug must not stop the stream or lose the record
        logger.exception("%s: internal error on %s[%s]@%s", stage, message.topic, message.partition, message.offset)
        await out.dead_letter(stage, message, PoisonRecord("internal_error", f"{type(exc).__name__}: {exc}"), None)


async def run_transactional_stage(stage: str, stream: Any, handle: BatchHandler, sinks: Sinks,
                                  txns: PartitionTransactions, *, forget: Callable[[int], None], lock: asyncio.Lock,
                                  max_batch: int = 500, linger_s: float = 0.0) -> None:
    """The loop of a stage whose outputs are exactly-once: the records that arrived together
    (up to ``max_batch``, those already waiting when one is taken) are handled per input
    partition into an outbox, and its outputs go out with the consumed offsets in one
    transaction (transactions.py). An event is acked to Faust only once its batch committed, so
    a crash or a stop in between leaves the offsets where they were and the batch is redone.

    When a commit fails, the partition's state is dropped (``forget``: it may hold what was not
    committed), and the batch is handled again from scratch while the partition is still ours
    (``txns.owns``); a fenced producer on a partition that moved to another worker gives it up. The
    ``lock`` is held while a batch is handled and committed (a snapshot taken under it holds
    committed state only).

    A batch that is not full when nothing more is waiting waits ``linger_s`` once for more
    (then takes what came meanwhile): a transaction costs the worker and the broker about as much
    as some dozens of records (its control requests and the markers it writes on every partition
    it touched), so a stream that trickles in must not commit a transaction per few records."""
    stream.enable_acks = False  # acked below, after the commit
    batch: list[Any] = []
    lingered = False
    async for event in stream.events():
        batch.append(event)
        if len(batch) < max_batch and not stream.channel.empty():
            continue  # more have arrived already: take them into this batch
        if linger_s > 0 and not lingered and len(batch) < max_batch:
            lingered = True
            await asyncio.sleep(linger_s)
            if not stream.channel.empty():
                continue
        lingered = False
        events, batch = batch, []
        by_partition: dict[int, list[Any]] = {}
        for ev in events:
            by_partition.setdefault(ev.message.partition, []).append(ev)
        async with lock:  # the partitions' transactions go on at once, each with its own producer
            done = await asyncio.gather(*(_commit_partition(stage, partition, evs, handle, sinks, txns, forget)
                                          for partition, evs in by_partition.items()))
        for ok, evs in zip(done, by_partition.values()):
            if ok:
                for ev in evs:
                    await stream.ack(ev)


async def _commit_partition(stage: str, partition: int, events: list[Any], handle: BatchHandler, sinks: Sinks,
                            txns: PartitionTransactions, forget: Callable[[int], None]) -> bool:
    """Handle and commit one partition's share of a batch; False when the partition is not ours."""
    latency = sinks.metrics.latency.labels(stage)
    owns = txns.owns
    attempt = 0
    while True:
        if not owns(partition):
            logger.info("%s: partition %d was revoked; its %d buffered records are left to its new owner",
                        stage, partition, len(events))
            return False
        pending = Pending()
        out = sinks.outbox(pending)
        try:
            await txns.ready(partition)
        except Exception as exc:
            attempt += 1
            logger.warning("%s: cannot start the transactional producer of partition %d (%s: %s); "
                           "trying again in %.1fs", stage, partition, type(exc).__name__, exc, _backoff(attempt))
            await asyncio.sleep(_backoff(attempt))
            continue
        started = time.perf_counter()
        for event in events:
            await _handle_into(stage, event.message, handle, out)
        try:
            await txns.commit(partition, pending, events[-1].message.offset + 1)
        except Fenced as exc:
            forget(partition)
            logger.warning("%s: the transaction of partition %d was fenced (%s); %s", stage, partition, exc,
                           "handling its batch again" if owns(partition) else "the partition moved")
            await asyncio.sleep(0.2)
            continue
        except Exception as exc:
            forget(partition)
            attempt += 1
            logger.warning("%s: cannot commit the transaction of partition %d (%s: %s); nothing of it is "
                           "visible, handling its %d records again in %.1fs", stage, partition,
                           type(exc).__name__, exc, len(events), _backoff(attempt))
            await asyncio.sleep(_backoff(attempt))
            continue
        pending.committed()
        per_record = (time.perf_counter() - started) / len(events)
        for _ in events:
            latency.observe(per_record)
        return True

"""Exactly-once output of a stage: what a batch of one input partition's records produces, and
the consumed offsets, commit in one Kafka transaction.

Why not Faust's ``processing_guarantee="exactly_once"``: it makes every stage of the app
transactional (generation's and verification's sends too, whose duplicates the dedup stage
already absorbs), commits per Faust's commit interval with a producer per partition of every
topic the app reads, and faust-streaming marks it experimental. Only the last hop needs it:
trainers read accepted-records. So the dedup stage keeps Faust's consumer (assignment,
rebalances, its buffering) and writes through aiokafka's transactional producer itself:

- one producer per *input* partition, ``transactional.id = <group>-<stage>-<partition>``, so
  whoever is given partition ``p`` next (a restart, another worker) fences the previous owner
  and aborts its open transaction at once (``init_transactions``), instead of leaving it open
  until the transaction timeout;
- a batch = the records of one partition that arrived together; its outputs are sent without
  an await per record, then ``send_offsets_to_transaction`` with the offset after the batch's
  last record for the stage's consumer group, then commit. Either all of it is visible to a
  ``read_committed`` reader, or none of it and the offsets did not move, so it is redone.

The stage acks the batch's events to Faust only after the commit (Faust then commits the same
offsets again, harmlessly).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synthstream.streams.runtime.kafka_io import client_id, security

logger = logging.getLogger(__name__)


@dataclass
class Pending:
    """A batch's outputs, in order: (topic, key, value, partition or None)."""

    items: list[tuple[str, bytes, bytes, int | None]] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)  # metrics, counted once it is committed

    def add(self, topic: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        self.items.append((topic, key, value, partition))

    def on_commit(self, fn: Callable[[], None]) -> None:
        self.after.append(fn)

    def committed(self) -> None:
        for fn in self.after:
            fn()


async def send_together(producer: Any, items: list[tuple[str, bytes, bytes, int | None]]) -> list[asyncio.Future]:
    """Send ``items`` (topic, key, value, partition or None) through an aiokafka producer as one
    record batch per topic partition, not one ``send`` per record (each costs an await and the
    accumulator's bookkeeping); a keyed record without a partition goes where ``send`` would
    put it (the producer's partitioner). Returns the batches' delivery futures, in order."""
    groups: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
    known: set[str] = set()
    for topic, key, value, partition in items:
        if topic not in known:
            await producer.partitions_for(topic)  # metadata, once per topic and call
            known.add(topic)
        if partition is None:
            partition = producer._partition(topic, None, key, value, key, value)
        groups.setdefault((topic, partition), []).append((key, value))
    futures = []
    now = int(time.time() * 1000)
    for (topic, partition), records in groups.items():
        batch = producer.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=now) is None:  # full: send it, start another
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=now) is None:
                    raise ValueError(f"a record of {len(value)} bytes does not fit a batch for {topic}")
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


class Fenced(Exception):
    """Another producer with this partition's transactional id has started: the partition is
    someone else's now (or again ours, through a newer producer)."""


class PartitionTransactions:
    """The transactional producers of one stage in one worker, one per input partition."""

    def __init__(self, bootstrap: str, group_id: str, stage: str, source_topic: str, owns: Callable[[int], bool],
                 transaction_timeout_s: float = 30.0) -> None:
        self.bootstrap, self.group_id, self.stage, self.source_topic = bootstrap, group_id, stage, source_topic
        self.owns = owns  # partition -> is it assigned to this worker's consumer now
        self.timeout_ms = int(transaction_timeout_s * 1000)
        self.producers: dict[int, Any] = {}
        self.commits = 0

    def transactional_id(self, partition: int) -> str:
        return f"{self.group_id}-{self.stage}-{partition}"

    async def _producer(self, partition: int) -> Any:
        producer = self.producers.get(partition)
        if producer is None:
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, client_id=client_id(f"{self.stage}-txn-{partition}"),
                transactional_id=self.transactional_id(partition), transaction_timeout_ms=self.timeout_ms,
                enable_idempotence=True, acks="all", linger_ms=5, max_batch_size=256 * 1024,
                max_request_size=8 * 1024 * 1024, **security().aiokafka())
            try:
                await producer.start()  # InitProducerId: fences the partition's previous producer
            except BaseException:
                await _stop_quietly(producer)
                raise
            self.producers[partition] = producer
        return producer

    async def ready(self, partition: int) -> None:
        """Start the partition's producer if it is not running: this fences its previous owner
        and aborts that owner's open transaction, so what follows reads a settled log."""
        await self._producer(partition)

    async def commit(self, partition: int, pending: Pending, next_offset: int) -> None:
        """Send the batch's outputs and move the group's offset of ``partition`` to
        ``next_offset``, atomically. Raises Fenced when another producer owns the partition's
        transactional id now; any other error leaves nothing visible (the producer is dropped
        and a new one starts, aborting what this one left open)."""
        from aiokafka.errors import ProducerFenced
        from aiokafka.structs import TopicPartition

        producer = await self._producer(partition)
        try:
            async with producer.transaction():
                await send_together(producer, pending.items)
                await producer.send_offsets_to_transaction(
                    {TopicPartition(self.source_topic, partition): next_offset}, self.group_id)
        except ProducerFenced as exc:
            await self.drop(partition)
            raise Fenced(str(exc)) from exc
        except BaseException:
            await self.drop(partition)
            raise
        self.commits += 1

    async def drop(self, partition: int) -> None:
        producer = self.producers.pop(partition, None)
        if producer is not None:
            await _stop_quietly(producer)

    async def close(self) -> None:
        for partition in list(self.producers):
            await self.drop(partition)


async def _stop_quietly(producer: Any) -> None:
    try:
        await asyncio.wait_for(producer.stop(), timeout=5.0)
    except BaseException as exc:  # a producer that cannot stop cleanly is abandoned; its broker aborts
        if isinstance(exc, asyncio.CancelledError):
            raise
        logger.debug("transactional producer did not stop cleanly: %s", exc)

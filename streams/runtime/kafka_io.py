"""Every kafka-python client the project makes, with its defaults, and bounded reads of a topic.

Faust's own aiokafka clients live in the agents; everything else (producer, exporter, outcome
watcher, lag monitor, the dedup and bias stores, the admin and review tools) gets its clients here:

- ``consumer``/``producer``/``admin``: client id ``synthstream-<purpose>``, no consumer group and no
  auto-commit unless asked, committed records only (read_committed), ``acks=all`` with retries for producers, bounded admin timeouts;
- ``cluster_ready``: the quiet readiness probe (a metadata answer, not an open port);
- ``read_range``/``read_to_end``: every message of some partitions between two offsets, bounded by
  the end offsets taken when reading starts and by a deadline, so a reader never waits for ever on
  a topic that others keep writing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)

CLIENT_PREFIX = "synthstream"
FETCH_MAX_BYTES = 64 * 1024 * 1024
PARTITION_FETCH_BYTES = 16 * 1024 * 1024


def client_id(purpose: str) -> str:
    return f"{CLIENT_PREFIX}-{purpose}"


def consumer(bootstrap: str, purpose: str, **overrides: Any) -> Any:
    """An unassigned consumer with no group and no auto-commit (readers assign partitions
    themselves) that reads committed records only (``isolation_level=read_committed``: what a
    transaction aborted, or has not committed yet, is never seen); ``overrides`` are kafka-python
    settings."""
    from kafka import KafkaConsumer

    options: dict[str, Any] = dict(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                   auto_offset_reset="earliest", isolation_level="read_committed",
                                   client_id=client_id(purpose))
    options.update(overrides)
    return KafkaConsumer(**options)


def producer(bootstrap: str, purpose: str = "producer", **overrides: Any) -> Any:
    """A producer that waits for every in-sync replica and retries: a prompt is never sent once
    and lost."""
    from kafka import KafkaProducer

    options: dict[str, Any] = dict(bootstrap_servers=bootstrap, acks="all", linger_ms=10, batch_size=256 * 1024,
                                   retries=10, client_id=client_id(purpose))
    options.update(overrides)
    return KafkaProducer(**options)


def admin(bootstrap: str, purpose: str = "admin", timeout_s: float = 15.0) -> Any:
    from kafka.admin import KafkaAdminClient

    ms = int(timeout_s * 1000)
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id(purpose), request_timeout_ms=ms,
                            bootstrap_timeout_ms=ms)


def cluster_ready(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when the cluster answers a metadata request (not merely an open port). A refused
    connection is the expected answer while a broker starts, so kafka-python's own ERROR lines
    about it are kept out of the log: the probe's result says it all."""
    from kafka.errors import KafkaError

    client_log = logging.getLogger("kafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        try:
            client = admin(bootstrap, "probe", timeout_s)
        except (KafkaError, OSError, ValueError):
            return False
        try:
            return bool(client.describe_cluster().get("brokers"))
        except (KafkaError, OSError):
            return False
        finally:
            client.close()
    finally:
        client_log.setLevel(level)


def partitions_of(client: Any, topic: str, timeout_s: float = 30.0) -> list[int]:
    """The topic's partitions. One created a moment ago may be missing from the first metadata
    answer: ask again until it is there (TimeoutError after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        parts = client.partitions_for_topic(topic)
        if parts:
            return sorted(parts)
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} has no partitions after {timeout_s:.0f}s")
        client.topics()  # a fresh metadata request
        time.sleep(0.2)


def assign_at_end(client: Any, topics: list[str], timeout_s: float = 30.0) -> list[Any]:
    """Assign every partition of ``topics`` and position the consumer at their current ends (the
    lazy seek is resolved now, before anything else is produced); returns the partitions."""
    from kafka import TopicPartition

    parts = [TopicPartition(t, p) for t in topics for p in partitions_of(client, t, timeout_s)]
    client.assign(parts)
    client.seek_to_end(*parts)
    for tp in parts:
        client.position(tp)
    return parts


def end_offsets(bootstrap: str, topic: str, partitions: list[int] | None = None,
                purpose: str = "offsets") -> dict[int, int]:
    """partition -> end offset (the next offset to be written), for ``partitions`` (default: all)."""
    from kafka import TopicPartition

    client = consumer(bootstrap, purpose)
    try:
        wanted = partitions if partitions is not None else sorted(client.partitions_for_topic(topic) or [])
        parts = [TopicPartition(topic, p) for p in wanted]
        return {tp.partition: off for tp, off in client.end_offsets(parts).items()} if parts else {}
    finally:
        client.close()


def read_range(bootstrap: str, topic: str, *, partitions: list[int] | None = None,
               start: dict[int, int] | None = None, stop: dict[int, int] | None = None,
               timeout_s: float = 60.0, purpose: str = "read",
               isolation_level: str = "read_committed") -> Iterator[Any]:
    """Yield every message of ``partitions`` (default: all) from ``start`` (partition -> offset;
    default: the beginning) up to ``stop`` (partition -> offset, exclusive) or the end offsets taken
    when reading starts, whichever comes first. Raises TimeoutError when the range is not read
    within ``timeout_s``."""
    from kafka import TopicPartition

    client = consumer(bootstrap, purpose, fetch_max_bytes=FETCH_MAX_BYTES,
                      max_partition_fetch_bytes=PARTITION_FETCH_BYTES, isolation_level=isolation_level)
    try:
        available = client.partitions_for_topic(topic) or set()
        wanted = sorted(available if partitions is None else set(partitions) & available)
        parts = [TopicPartition(topic, p) for p in wanted]
        if not parts:
            return
        client.assign(parts)
        begin, end = client.beginning_offsets(parts), client.end_offsets(parts)
        end = {tp: min(end[tp], (stop or {}).get(tp.partition, end[tp])) for tp in parts}
        for tp in parts:
            client.seek(tp, max((start or {}).get(tp.partition, 0), begin[tp]))
        remaining = {tp for tp in parts if client.position(tp) < end[tp]}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for tp, messages in client.poll(timeout_ms=500, max_records=20_000).items():
                for msg in messages:
                    if msg.offset < end[tp]:
                        yield msg
            # every partition, not only those that returned messages: one whose last records are
            # an aborted transaction's, or its markers, reaches its end with nothing to return
            remaining = {tp for tp in remaining if client.position(tp) < end[tp]}
        if remaining:
            raise TimeoutError(f"{topic} partitions {sorted(tp.partition for tp in remaining)} "
                               f"not read to the end within {timeout_s:.0f}s")
    finally:
        client.close()


def read_to_end(bootstrap: str, topic: str, *, partitions: list[int] | None = None,
                start: dict[int, int] | None = None, timeout_s: float = 60.0,
                purpose: str = "read", isolation_level: str = "read_committed") -> Iterator[Any]:
    """``read_range`` up to the end offsets taken when reading starts."""
    return read_range(bootstrap, topic, partitions=partitions, start=start, timeout_s=timeout_s, purpose=purpose,
                      isolation_level=isolation_level)

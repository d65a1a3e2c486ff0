"""The dedup index's persistence: the ``dedup-index`` changelog topic (kafka-python).

Every record dedup keeps is written to the changelog, on the same partition number as the
verdict that carried it. Verification routes each verdict to the partition of its dedup scope
(``fields.partition_for``), so a partition holds whole scopes and whoever consumes verdicts
partition ``p`` owns the index of partition ``p``. After a restart, a crash or a rebalance, the
owner replays the changelog partition (from where it last read) before deciding on anything
from it, so a near duplicate arriving after a restart is still caught, and any number of dedup
workers share the index without two of them deciding on one scope.

Replaying costs a Kafka fetch, an Avro decode and a signature per entry (docs/BENCHMARKS.md:
about 8,000 entries/s), so each worker also keeps a local snapshot per partition (snapshot.py):
after a restart on the same data dir it loads the snapshot and replays only the log's tail.
Entries in the semantic tier (``embedded``) are re-embedded from their text on replay, in
batches; a snapshot stores their vectors, so a restart from one embeds only the tail.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthstream.agents.dedup import snapshot
from synthstream.agents.dedup.core import DedupIndex, DedupParams, IndexEntry
from synthstream.streams.runtime import kafka_io
from synthstream.streams.runtime.errors import DecodeError

logger = logging.getLogger(__name__)


def from_record(record: dict[str, Any]) -> IndexEntry:
    return IndexEntry(record["record_id"], record["prompt_id"], record["scope"], record["text"],
                      bool(record.get("embedded", False)))


@dataclass
class Replayed:
    entries: int = 0
    undecodable: int = 0
    unembedded: int = 0  # embedded entries replayed without their vector (no model): not in the semantic tier
    next_offset: int = 0
    seconds: float = 0.0


def read_changelog(bootstrap: str, topic: str, serde: Any, partitions: list[int] | None = None,
                   start: dict[int, int] | None = None, timeout_s: float = 120.0,
                   stats: dict[int, Replayed] | None = None) -> Iterator[tuple[int, IndexEntry]]:
    """Yield ``(partition, entry)`` from ``start`` (default: the beginning) up to the end offsets
    taken when reading starts. ``stats`` gets each partition's counts and next offset."""
    stats = {} if stats is None else stats
    for p in partitions or []:
        stats[p] = Replayed(next_offset=(start or {}).get(p, 0))
    started = time.monotonic()
    for msg in kafka_io.read_to_end(bootstrap, topic, timeout_s=timeout_s, partitions=partitions, start=start,
                                    purpose="dedup-replay"):
        st = stats.setdefault(msg.partition, Replayed())
        st.next_offset = msg.offset + 1
        try:
            _, record = serde.decode(msg.value, "DedupEntry")
        except DecodeError as exc:
            st.undecodable += 1
            logger.warning("dedup replay: skipping undecodable %s[%d]@%d: %s", topic, msg.partition, msg.offset, exc)
            continue
        st.entries += 1
        yield msg.partition, from_record(record)
    for st in stats.values():
        st.seconds = time.monotonic() - started


def end_offset(bootstrap: str, topic: str, partition: int) -> int:
    return kafka_io.end_offsets(bootstrap, topic, [partition], purpose="dedup-snapshot")[partition]


class PartitionedIndex:
    """One DedupIndex per owned partition, each caught up from the changelog before use (from
    its local snapshot's offset when there is one). ``embed`` (texts -> unit vectors, or None when
    there is no model) recomputes the semantic tier's vectors of replayed entries."""

    REPLAY_BATCH = 256

    def __init__(self, params: DedupParams, bootstrap: str | None, topic: str, serde: Any,
                 snapshot_dir: Path | None = None, end_of: Callable[[int], int] | None = None,
                 embed: Callable[[list[str]], Any] | None = None) -> None:
        self.params, self.bootstrap, self.topic, self.serde = params, bootstrap, topic, serde
        self.embed = embed
        self.snapshot_dir = snapshot_dir
        # partition -> the changelog's end offset (the broker's, unless a test gives its own)
        self.end_of = end_of or (lambda p: end_offset(bootstrap, topic, p) if bootstrap is not None else 0)
        self._lock = asyncio.Lock()  # one catch-up at a time, and none while a snapshot is taken
        self.indexes: dict[int, DedupIndex] = {}
        self.read_to: dict[int, int] = {}  # partition -> next changelog offset to replay
        self.stale: set[int] = set()  # partitions (re)assigned since their last catch-up
        self.snapshotted: dict[int, int] = {}  # partition -> index.added at its last snapshot

    def __len__(self) -> int:
        return sum(len(i) for i in self.indexes.values())

    def mark_stale(self, partitions: set[int] | None = None) -> None:
        """After a rebalance: another worker may have added entries meanwhile."""
        self.stale |= set(self.indexes) if partitions is None else partitions

    def forget(self, partition: int) -> None:
        """Drop a partition's index (it may hold entries of a transaction that did not commit):
        its next use rebuilds it from the snapshot and the committed changelog."""
        self.indexes.pop(partition, None)
        self.read_to.pop(partition, None)
        self.snapshotted.pop(partition, None)
        self.stale.discard(partition)

    def ready(self, partition: int) -> bool:
        return partition in self.indexes and partition not in self.stale

    def snapshot_path(self, partition: int) -> Path | None:
        return None if self.snapshot_dir is None else self.snapshot_dir / f"{self.topic}-{partition}.npz"

    def dirty(self) -> list[int]:
        """Owned partitions with records added since their last snapshot."""
        return [p for p, index in self.indexes.items() if index.added != self.snapshotted.get(p, 0)]

    def export(self, partition: int) -> tuple[tuple[Any, ...], int]:
        """What a snapshot of the partition holds right now (call on the thread that mutates it):
        the index's export (entries, keys, embedded rows, vectors) and its change counter."""
        index = self.indexes[partition]
        return index.export(), index.added

    def write_snapshot(self, partition: int, exported: tuple[tuple[Any, ...], int], read_to: int) -> None:
        """Blocking. ``read_to`` must be a changelog end offset read before the export was taken
        (every entry below it was in the index then, as records enter it before they are sent)."""
        path = self.snapshot_path(partition)
        if path is None:
            return
        (entries, keys, rows, vectors), added = exported
        snapshot.write(path, entries, keys, read_to, self.params.lsh, rows, vectors)
        self.snapshotted[partition] = added

    def _restore(self, partition: int) -> DedupIndex:
        index = DedupIndex(self.params)
        path = self.snapshot_path(partition)
        snap = snapshot.read(path, self.params.lsh) if path is not None else None
        if snap is not None and self.bootstrap is not None:
            end = self.end_of(partition)
            if snap.read_to > end:
                logger.warning("dedup snapshot %s covers offset %d but the changelog ends at %d (recreated?); "
                               "replaying the log instead", path, snap.read_to, end)
                snap = None
        if snap is not None:
            index.restore(snap.entries, snap.keys, snap.rows, snap.vectors)
            self.read_to[partition] = snap.read_to
            self.snapshotted[partition] = index.added
            logger.info("dedup: partition %d restored %d records from %s", partition, len(index), path)
        return index

    def catch_up(self, partition: int) -> Replayed:
        """Blocking: replay the changelog partition from where this index last read it."""
        if partition not in self.indexes:
            self.indexes[partition] = self._restore(partition)
        index = self.indexes[partition]
        stats: dict[int, Replayed] = {}
        unembedded = 0
        if self.bootstrap is not None:
            batch: list[IndexEntry] = []
            for _, entry in read_changelog(self.bootstrap, self.topic, self.serde, [partition],
                                           {partition: self.read_to.get(partition, 0)}, stats=stats):
                batch.append(entry)
                if len(batch) >= self.REPLAY_BATCH:
                    unembedded += self._add_all(index, batch)
                    batch = []
            unembedded += self._add_all(index, batch)
        done = stats.get(partition, Replayed(next_offset=self.read_to.get(partition, 0)))
        done.unembedded = unembedded
        self.read_to[partition] = done.next_offset
        self.stale.discard(partition)
        return done

    def _add_all(self, index: DedupIndex, entries: list[IndexEntry]) -> int:
        """Add replayed entries in order, embedding those of the semantic tier in one batch;
        how many of those had to go in without a vector."""
        todo: dict[str, str] = {}  # record id -> text, for the entries not in the index yet
        for entry in entries:
            if entry.embedded and entry.record_id not in index:
                todo.setdefault(entry.record_id, entry.norm)
        vectors: dict[str, Any] = {}
        if todo and self.embed is not None:
            try:
                vectors = dict(zip(todo, self.embed(list(todo.values()))))
            except Exception as exc:  # the model's absence or failure: the other tiers still work
                logger.warning("dedup replay: cannot embed %d entries (%s); they are not in the semantic tier",
                               len(todo), exc)
        for entry in entries:
            index.add(entry, vectors.get(entry.record_id))
        return len(todo) - len(vectors)

    # -- the asynchronous side the agent calls (the blocking work runs in threads) ----------------
    async def ensure_ready(self, partition: int) -> Replayed | None:
        """Catch the partition's index up before its first record and after a rebalance; what
        was replayed, or None when it was ready already."""
        if self.ready(partition):
            return None
        async with self._lock:
            if self.ready(partition):
                return None
            return await asyncio.to_thread(self.catch_up, partition)

    async def snapshot_changed(self, flush: Callable[[], Awaitable[Any]]) -> list[tuple[int, int, int, float]]:
        """Snapshot every owned partition that changed since its last snapshot: (partition,
        records, log offset, seconds) for each. ``flush`` (the producer's) runs first, once: a
        record enters the index before its changelog entry is sent, so the end offset read after
        the flush covers every entry of the export taken after it, and the tail a restart
        replays stays short."""
        if self.snapshot_dir is None:
            return []
        done = []
        async with self._lock:
            dirty = self.dirty()
            if dirty:
                await flush()
            for partition in dirty:
                end = await asyncio.to_thread(self.end_of, partition)
                exported = self.export(partition)  # on the loop: no record is added meanwhile
                started = time.perf_counter()
                await asyncio.to_thread(self.write_snapshot, partition, exported, end)
                done.append((partition, len(exported[0][0]), end, time.perf_counter() - started))
        return done

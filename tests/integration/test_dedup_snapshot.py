"""A partition's index restored from its local snapshot replays only the changelog's tail."""

from __future__ import annotations

import pytest

from synthstream.agents.dedup.core import DedupParams, IndexEntry, record_id
from synthstream.agents.dedup.core import dedup_entry
from synthstream.agents.dedup.store import PartitionedIndex, end_offset
from synthstream.streams.app.producer import make_producer
from synthstream.streams.runtime.serde import registry

pytestmark = pytest.mark.integration


def entry(i: int) -> IndexEntry:
    norm = f"a crate in the orchard number {i} holds {i * 7 % 13} pears and {i} apples"
    return IndexEntry(record_id("s", norm), f"p{i}", "s", norm)


def write(bootstrap: str, topic: str, entries: list[IndexEntry]) -> None:
    serde, producer = registry(), make_producer(bootstrap)
    for e in entries:
        producer.send(topic, key=e.record_id.encode(), value=serde.encode("DedupEntry", dedup_entry(e, "t", 0)),
                      partition=1)
    producer.flush()
    producer.close()


def test_restore_from_the_snapshot_then_replay_the_tail(names, bootstrap, tmp_path):
    topic, serde = names["dedup-index"], registry()
    write(bootstrap, topic, [entry(i) for i in range(30)])
    first = PartitionedIndex(DedupParams(), bootstrap, topic, serde, tmp_path)
    assert first.catch_up(1).entries == 30 and first.dirty() == [1]
    first.write_snapshot(1, first.export(1), end_offset(bootstrap, topic, 1))
    assert first.dirty() == []
    write(bootstrap, topic, [entry(i) for i in range(30, 40)])

    second = PartitionedIndex(DedupParams(), bootstrap, topic, serde, tmp_path)
    done = second.catch_up(1)
    assert done.entries == 10 and len(second) == 40  # 30 from the snapshot, the tail of 10 from Kafka
    assert second.indexes[1].entries() == [entry(i) for i in range(40)]

    # a snapshot claiming more of the log than there is (the topic was recreated) is not used
    first.write_snapshot(1, first.export(1), 10_000)
    third = PartitionedIndex(DedupParams(), bootstrap, topic, serde, tmp_path)
    assert third.catch_up(1).entries == 40 and len(third) == 40

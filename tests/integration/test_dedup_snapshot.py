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


def test_the_semantic_tier_is_rebuilt_from_the_changelog_and_then_from_a_snapshot(names, bootstrap, tmp_path):
    """Embedded entries carry no vector on Kafka: a replay re-embeds their text (the real model,
    in batches), a snapshot stores the vectors (nothing re-embedded), and a worker without a
    model replays them into the other tiers only and says how many."""
    from synthstream.agents.dedup.core import DedupIndex, Duplicate
    from synthstream.agents.dedup.normalize import normalize
    from synthstream.agents.semantic import start

    service = start()
    assert service.available, service.why
    calls: list[int] = []

    def embed(texts: list[str]):
        calls.append(len(texts))
        return service.embed(texts)

    originals = ["How many legs does a spider have?\nA spider has eight legs.",
                 "What is the boiling point of water at sea level?\nWater boils at 100 degrees Celsius at sea level."]
    paraphrases = ["A spider has how many legs?\nSpiders walk on eight legs.",
                   "At sea level, at what temperature does water start to boil?\nIt boils once it reaches 100 degrees "
                   "Celsius."]
    made = DedupIndex()
    kept = [made.check(f"o{i}", t, "s", vector=service.embed([normalize(t)])[0])[1] for i, t in enumerate(originals)]
    topic, serde = names["dedup-index"], registry()
    write(bootstrap, topic, kept + [entry(i) for i in range(3)])  # two embedded, three not

    def caught(index: PartitionedIndex) -> list[str]:
        vectors = service.embed([normalize(p) for p in paraphrases])
        return [d.kind if isinstance(d, Duplicate) else "kept"
                for d, _ in (index.indexes[1].check(f"q{i}", p, "s", vector=v)
                             for i, (p, v) in enumerate(zip(paraphrases, vectors)))]

    replayed = PartitionedIndex(DedupParams(), bootstrap, topic, serde, tmp_path, embed=embed)
    done = replayed.catch_up(1)
    assert done.entries == 5 and done.unembedded == 0 and calls == [2]  # one batch, the embedded ones only
    replayed.write_snapshot(1, replayed.export(1), end_offset(bootstrap, topic, 1))
    assert caught(replayed) == ["semantic", "semantic"]

    calls.clear()
    restored = PartitionedIndex(DedupParams(), bootstrap, topic, serde, tmp_path, embed=embed)
    assert restored.catch_up(1).entries == 0 and calls == []  # all from the snapshot, vectors included
    assert caught(restored) == ["semantic", "semantic"]

    blind = PartitionedIndex(DedupParams(), bootstrap, topic, serde, None, embed=None)
    assert blind.catch_up(1).unembedded == 2 and len(blind) == 5
    assert caught(blind) == ["kept", "kept"]

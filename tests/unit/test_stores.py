"""The stages' state, moved out of the agents: the dedup store's catch-up and snapshot round and
the bias monitor's windows, recovery and rebalance, without a broker (the re-reading from Kafka
is replaced by what a test hands in)."""

from __future__ import annotations

import asyncio
from typing import Any

from synthstream.agents.bias.store import BiasMonitor, Recovery, Resume
from synthstream.agents.dedup.core import DedupParams
from synthstream.agents.dedup.store import PartitionedIndex, Replayed
from tests.records import ACCEPTED

# ---- dedup ------------------------------------------------------------------------------------


def test_a_partition_is_caught_up_once_until_a_rebalance_makes_it_stale(tmp_path):
    index = PartitionedIndex(DedupParams(), None, "dedup-index", None, tmp_path)
    first = asyncio.run(index.ensure_ready(2))
    assert isinstance(first, Replayed) and index.ready(2)
    assert asyncio.run(index.ensure_ready(2)) is None  # ready: nothing to do
    index.mark_stale()
    assert not index.ready(2) and asyncio.run(index.ensure_ready(2)) is not None


def test_snapshots_cover_changed_partitions_after_one_flush_and_restore(tmp_path):
    ends = {0: 7, 1: 3}
    flushes: list[int] = []

    async def flush() -> None:
        flushes.append(1)

    index = PartitionedIndex(DedupParams(), None, "dedup-index", None, tmp_path, end_of=ends.__getitem__)

    async def go() -> list[tuple[int, int, int, float]]:
        await index.ensure_ready(0)
        await index.ensure_ready(1)
        index.indexes[0].check("p1", "the first record's text, long enough to hash", "s")
        index.indexes[0].check("p2", "another record altogether, about something else", "s")
        first = await index.snapshot_changed(flush)
        again = await index.snapshot_changed(flush)  # nothing changed since
        return first + again

    done = asyncio.run(go())
    assert [(p, n, end) for p, n, end, _ in done] == [(0, 2, 7)] and flushes == [1]
    restored = PartitionedIndex(DedupParams(), None, "dedup-index", None, tmp_path, end_of=ends.__getitem__)
    asyncio.run(restored.ensure_ready(0))
    assert len(restored.indexes[0]) == 2 and restored.read_to[0] == 7


def test_no_snapshot_dir_means_no_snapshots(tmp_path):
    index = PartitionedIndex(DedupParams(), None, "dedup-index", None, None)

    async def flush() -> None:
        raise AssertionError("nothing to flush for")

    asyncio.run(index.ensure_ready(0))
    index.indexes[0].check("p1", "some text of a record to keep here", "s")
    assert asyncio.run(index.snapshot_changed(flush)) == []


# ---- bias -------------------------------------------------------------------------------------


class FakeRecovery(Recovery):
    """What the reports and accepted-records hold, without Kafka."""

    def __init__(self, resume: dict[str, Resume], records: dict[int, list[tuple[int, dict[str, Any]]]]) -> None:
        super().__init__(None, "bias-reports", "accepted-records", None, 60_000)
        self.stored, self.records, self.loads = resume, records, 0

    def load(self) -> dict[str, Resume]:
        self.loads += 1
        self.resume = self.stored
        return self.resume

    def unreported(self, partition, resume_at, reported_to):
        return [(o, r) for o, r in self.records.get(partition, []) if reported_to.get("t", 0) <= o < resume_at]


def record(i: int, task: str = "math.linear") -> dict[str, Any]:
    return dict(ACCEPTED, record_id=f"{i:032x}", prompt_id=f"p{i}", task=task,
                lineage=dict(ACCEPTED["lineage"], accepted_at=1_800_000_000_000 + i))


def monitor(recovery: Recovery, now: list[int], window: int = 4) -> BiasMonitor:
    return BiasMonitor(recovery, lambda ds: {"task": {"math.linear": 1.0}}, window, 60, 3, 0.1, 0.2,
                       lambda: now[0])


def test_a_restarted_monitor_counts_what_no_report_holds_and_skips_redeliveries():
    # reports say partition 0 is reported below offset 3; records 3 and 4 are in no report
    recovery = FakeRecovery({"t": Resume(reported={0: 3})}, {0: [(o, record(o)) for o in range(6)]})
    m = monitor(recovery, [1_800_000_000_100])
    counted, closed = asyncio.run(m.catch_up(0, 5))  # resuming at offset 5
    assert counted == 2 and closed == [] and m.caught_up(0)
    assert asyncio.run(m.catch_up(0, 5)) == (0, []) and recovery.loads == 1  # once per assignment
    assert m.observe(record(1), (0, 1)) == (False, [])  # a report holds offset 1: a redelivery
    counted, closed = m.observe(record(5), (0, 5))
    assert counted and closed == []
    counted, closed = m.observe(record(6), (0, 6))
    [report] = closed  # 3, 4, 5 and 6: a window of 4
    assert report.records == 4 and report.source_offsets == {"0": 7}


def test_a_rebalance_closes_the_open_windows_and_the_next_assignment_reads_again():
    recovery = FakeRecovery({}, {})
    now = [1_800_000_000_100]
    m = monitor(recovery, now)
    asyncio.run(m.catch_up(0, 0))
    m.observe(record(0), (0, 0))
    [report] = m.close_for_rebalance()
    assert report.closed_by == "rebalance" and report.records == 1
    assert not m.caught_up(0) and m.close_for_rebalance() == []
    asyncio.run(m.catch_up(0, 1))
    assert recovery.loads == 2


def test_an_idle_dataset_is_reported_early():
    now = [1_800_000_000_100]
    m = monitor(FakeRecovery({}, {}), now)
    m.observe(record(0), (0, 0))
    assert m.flush_idle() == []
    now[0] += 3_000
    [report] = m.flush_idle()
    assert report.closed_by == "idle" and m.flush_idle() == []


def test_a_broker_failure_while_re_reading_leaves_monitoring_running(caplog):
    class Broken(FakeRecovery):
        def load(self):
            raise TimeoutError("reports not read within 30s")

    m = monitor(Broken({}, {}), [1_800_000_000_100])
    assert asyncio.run(m.catch_up(0, 10)) == (0, []) and m.caught_up(0)
    assert "could not re-read" in caplog.text
    assert m.observe(record(10), (0, 10))[0]

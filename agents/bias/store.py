"""What the bias monitor needs after a restart, read back from Kafka (kafka-python).

The monitor's windows live in memory, and Faust commits offsets as records are read, so a window
still open when a worker dies would be lost: its records are past the committed offset and no
report holds them. No other state is written to prevent that: each report says, per partition of
accepted-records, the offset below which its dataset's records are reported (``source_offsets``)
and carries the length reference. So a worker given a partition reads the reports back, then
re-reads the partition's records between the last reported ones and where it resumes, and
counts those no report holds.

How far back to re-read is bounded by time, not by the reports alone (a dataset may have no
report yet): a window closes at most ``window_seconds`` after its first record (event time), or
when its dataset has been idle for ``idle_flush_seconds``. So every record of a window that was
open when the record before the resume point was read is at most ``horizon_ms`` older than it
(with a margin for pipeline latency and clock skew between hosts).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaError

from synthstream.agents.bias.core import BiasWindow, WindowReport
from synthstream.agents.families import REGISTRY, BiasView
from synthstream.streams.runtime import kafka_io
from synthstream.streams.runtime.errors import DecodeError
from synthstream.streams.runtime.records import AcceptedRecord

logger = logging.getLogger(__name__)
SLACK_MS = 60_000


@dataclass
class Resume:
    """One dataset's state as its reports left it."""

    reported: dict[int, int] = field(default_factory=dict)  # partition -> offset below which all is reported
    reference: dict[str, float] = field(default_factory=dict)  # length bins of the reference window


def resume_from(reports: list[dict[str, Any]]) -> dict[str, Resume]:
    """Fold reports (in topic order) into each dataset's resume state: the highest covered offset
    per partition over every worker's reports, and the newest length reference (reports written
    before they carried one: the dataset's first window, which was the reference)."""
    out: dict[str, Resume] = {}
    for report in reports:
        state = out.setdefault(report["dataset"], Resume())
        for partition, offset in report.get("source_offsets", {}).items():
            state.reported[int(partition)] = max(offset, state.reported.get(int(partition), 0))
        if report.get("length_reference"):
            state.reference = dict(report["length_reference"])
        elif not state.reference and report.get("length_bins") and report.get("length_psi") is None:
            state.reference = dict(report["length_bins"])
    return out


def horizon_ms(window_seconds: float, idle_flush_seconds: float) -> int:
    return int((window_seconds + 2 * idle_flush_seconds) * 1000) + SLACK_MS


class Recovery:
    """Reads the reports once per assignment and the records of each partition's open windows."""

    def __init__(self, bootstrap: str | None, reports_topic: str, records_topic: str, serde: Any,
                 horizon: int) -> None:
        self.bootstrap, self.reports_topic, self.records_topic = bootstrap, reports_topic, records_topic
        self.serde, self.horizon = serde, horizon
        self.caught_up: set[int] = set()
        self.resume: dict[str, Resume] | None = None

    def mark_stale(self) -> None:
        """After a rebalance: other workers may have reported meanwhile."""
        self.caught_up.clear()
        self.resume = None

    def load(self) -> dict[str, Resume]:
        """Blocking: every report of the topic, folded (once per assignment)."""
        if self.resume is None:
            reports = []
            if self.bootstrap is not None:
                for msg in kafka_io.read_to_end(self.bootstrap, self.reports_topic, purpose="bias-resume"):
                    try:
                        reports.append(self.serde.decode(msg.value, "BiasReport")[1])
                    except DecodeError as exc:
                        logger.warning("bias: skipping undecodable report %s[%d]@%d: %s", self.reports_topic,
                                       msg.partition, msg.offset, exc)
            self.resume = resume_from(reports)
        return self.resume

    def unreported(self, partition: int, resume_at: int,
                   reported_to: dict[str, int]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Blocking: ``(offset, record)`` for the records before ``resume_at`` that may belong to a
        window that was open, leaving out those below their dataset's ``reported_to`` offset."""
        if self.bootstrap is None or resume_at <= 0:
            return
        start = self._start(partition, resume_at)
        for msg in kafka_io.read_range(self.bootstrap, self.records_topic, partitions=[partition],
                                       start={partition: start}, stop={partition: resume_at}, purpose="bias-resume"):
            try:
                record = self.serde.decode(msg.value, "AcceptedRecord")[1]
            except DecodeError:
                continue  # dead-lettered when it was first read
            if msg.offset >= reported_to.get(record["lineage"]["dataset"], 0):
                yield msg.offset, record

    def _start(self, partition: int, resume_at: int) -> int:
        from kafka import TopicPartition

        consumer = kafka_io.consumer(self.bootstrap, "bias-resume")
        try:
            tp = TopicPartition(self.records_topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, resume_at - 1)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                got = consumer.poll(timeout_ms=500, max_records=1).get(tp)
                if got:
                    found = consumer.offsets_for_times({tp: max(0, got[0].timestamp - self.horizon)})[tp]
                    return resume_at if found is None else min(found.offset, resume_at)
            raise TimeoutError(f"{self.records_topic}[{partition}]@{resume_at - 1} not read within 30s")
        finally:
            consumer.close()


class BiasMonitor:
    """The bias stage's state: one window per dataset, and the recovery that makes it survive
    restarts and rebalances. Before it counts anything from a partition it has been given, it
    reads the reports back (what they cover, the length reference) and re-reads the records no
    report holds yet; a redelivered record a report already holds is not counted twice.

    The agent awaits it and publishes the reports it returns; everything here is in-memory apart
    from the re-reading, which runs in a thread."""

    def __init__(self, recovery: Recovery, targets: Callable[[str], Mapping[str, Mapping[str, float]]],
                 window_records: int, window_seconds: float, idle_flush_seconds: float, warn: float,
                 critical: float, clock: Callable[[], int]) -> None:
        self.recovery, self.targets, self.clock = recovery, targets, clock
        self.window_records, self.window_ms = window_records, int(window_seconds * 1000)
        self.idle_ms = int(idle_flush_seconds * 1000)
        self.warn, self.critical = warn, critical
        self.windows: dict[str, BiasWindow] = {}
        self.last_seen: dict[str, int] = {}
        self._lock = asyncio.Lock()

    def window_for(self, dataset: str) -> BiasWindow:
        if dataset not in self.windows:
            self.windows[dataset] = BiasWindow(dataset, {k: dict(v) for k, v in self.targets(dataset).items()},
                                               max_records=self.window_records, window_ms=self.window_ms,
                                               warn=self.warn, critical=self.critical)
        return self.windows[dataset]

    def observe(self, record: AcceptedRecord, position: tuple[int, int]) -> tuple[bool, list[WindowReport]]:
        """Count one record unless a report already holds it: (counted, the windows it closed)."""
        dataset = record["lineage"]["dataset"]
        window = self.window_for(dataset)
        if window.covered(*position):
            return False, []
        dims = dict(record["dimensions"], task=record["task"])
        ts = record["lineage"]["accepted_at"] or self.clock()
        self.last_seen[dataset] = self.clock()
        family = REGISTRY.get(record["task"])
        view = family.bias if family is not None else BiasView()
        return True, window.add(dims, ts, view.text(record["messages"]), is_code=view.code, position=position)

    def caught_up(self, partition: int) -> bool:
        return partition in self.recovery.caught_up

    async def catch_up(self, partition: int, resume_at: int) -> tuple[int, list[WindowReport]]:
        """Before the first record of a partition given to this worker: count what no report
        holds yet (records before ``resume_at``). (records counted, the windows they closed)."""
        if self.caught_up(partition):
            return 0, []
        async with self._lock:
            if self.caught_up(partition):
                return 0, []
            try:
                resume = await asyncio.to_thread(self.recovery.load)
                for dataset, state in resume.items():
                    self.window_for(dataset).restore(state.reported, state.reference)
                reported_to = {dataset: w.reported_to(partition) for dataset, w in self.windows.items()}
                records = await asyncio.to_thread(
                    lambda: list(self.recovery.unreported(partition, resume_at, reported_to)))
            except (KafkaError, TimeoutError):  # monitoring goes on; the record in hand is fine
                logger.exception("bias: could not re-read %s[%d] before offset %d; records of a window open at "
                                 "the last stop are not counted", self.recovery.records_topic, partition, resume_at)
                self.recovery.caught_up.add(partition)
                return 0, []
            counted, closed = 0, []
            for offset, record in records:
                was_counted, reports = self.observe(record, (partition, offset))
                counted += was_counted
                closed += reports
            self.recovery.caught_up.add(partition)
            if counted:
                logger.info("bias: partition %d: counted %d records that no report held (before offset %d)",
                            partition, counted, resume_at)
            return counted, closed

    def close_for_rebalance(self) -> list[WindowReport]:
        """Close every open window, so a partition's next owner re-reads only records no report
        holds; what was read before is stale afterwards."""
        now = self.clock()
        closed = [r for r in (w.flush("rebalance", now) for w in self.windows.values()) if r is not None]
        self.recovery.mark_stale()
        return closed

    def flush_idle(self) -> list[WindowReport]:
        """Close the windows of datasets that have had no record for the idle time."""
        now, closed = self.clock(), []
        for dataset, window in self.windows.items():
            if window.pending and now - self.last_seen.get(dataset, now) >= self.idle_ms:
                report = window.flush("idle", now)
                if report is not None:
                    closed.append(report)
        return closed

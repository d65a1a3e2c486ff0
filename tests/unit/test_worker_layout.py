"""How `run` starts: the stages over worker processes, the backlog it counts first, and what the workers and Kafka clients need to be fast."""

from __future__ import annotations


def test_every_stage_runs_in_exactly_one_worker_process_whatever_the_cores():
    from synthstream.streams.app.faust_app import STAGE_NAMES, fuses
    from synthstream.streams.app.runner import worker_layout
    from synthstream.streams.runtime.settings import WorkerSettings

    for cores in (1, 2, 8):
        layout = worker_layout(cores)
        assert sorted(s for stages in layout for s in stages) == sorted(STAGE_NAMES)
    assert worker_layout(1) == [list(STAGE_NAMES)]
    # generation and verification share a process, so generation verifies what it makes
    assert any(fuses(WorkerSettings(), stages) for stages in worker_layout(2))
    assert len(worker_layout(2)) == 3


def test_kafka_python_checks_crcs_with_the_c_module():
    """Without it kafka-python computes every batch's CRC-32C in pure Python (about 116 us per KB)."""
    from kafka.record import util

    assert util.crc32c_c is not None


def test_the_workers_faust_app_keeps_no_per_message_monitor():
    from synthstream.streams.app.faust_app import App

    app = App("t-monitor", broker="kafka://127.0.0.1:1", store="memory://", web_enabled=False)
    app.on_init_dependencies()
    assert app.monitor not in list(app.sensors) and app.monitor is not None


def test_run_waits_for_a_just_started_broker_to_load_its_groups_before_counting_the_backlog(monkeypatch):
    """A broker started a moment ago answers a group's offsets with CoordinatorLoadInProgress
    while it loads them: `run --fresh` failed on it. It is asked again, as for a missing coordinator."""
    from kafka import TopicPartition
    from kafka.errors import CoordinatorLoadInProgressError
    from kafka.structs import OffsetAndMetadata

    from synthstream.streams.app import runner
    from synthstream.streams.runtime import kafka_io

    tp = TopicPartition("p.prompts", 0)

    class Admin:
        calls = 0

        def list_group_offsets(self, groups):
            Admin.calls += 1
            if Admin.calls < 3:
                raise CoordinatorLoadInProgressError("loading")
            return {"g": {tp: OffsetAndMetadata(7, "", -1)}}

        def close(self):
            pass

    class Consumer:
        def partitions_for_topic(self, topic):
            return {0}

        def end_offsets(self, parts):
            return {tp: 7}

        def beginning_offsets(self, parts):
            return {tp: 0}

        def close(self):
            pass

    monkeypatch.setattr(kafka_io, "admin", lambda *a, **k: Admin())
    monkeypatch.setattr(kafka_io, "consumer", lambda *a, **k: Consumer())
    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    waiting = runner.backlog("127.0.0.1:1", "p.prompts", "g")
    assert Admin.calls == 3 and waiting.waiting == 0 and waiting.ends == {0: 7}

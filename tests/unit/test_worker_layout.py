"""How `run` splits the stages over worker processes, and what the workers and Kafka clients need to be fast."""

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

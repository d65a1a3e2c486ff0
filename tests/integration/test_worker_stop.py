"""A worker told to stop (SIGTERM) stops within a bounded time even when its broker is gone:
Faust's own shutdown waits on the Kafka clients, which retry a dead broker for a long time; the
worker's stop watchdog ends the process after SYNTHSTREAM_WORKER_STOP_TIMEOUT_S. Work in flight
is simply not committed, and is redone by whoever takes the partitions over."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from synthstream.streams.app.kafka_local.launcher import LocalKafka
from synthstream.streams.app.runner import start_worker, stop_process
from synthstream.streams.runtime.settings import KafkaSettings, worker_settings
from synthstream.streams.runtime.topics import create_topics
from tests.integration.conftest import free_port, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_whose_broker_died_still_stops_when_told(tmp_path, kafka_settings):
    settings = KafkaSettings(bootstrap=None, kafka_port=free_port(), kafka_controller_port=free_port(),
                             kafka_data_dir=tmp_path / "kafka", kafka_cache_dir=kafka_settings.kafka_cache_dir)
    broker = LocalKafka(settings)
    broker.start()
    proc = None
    try:
        create_topics(settings.bootstrap_servers, "ws.", partitions=4)
        log = tmp_path / "worker.log"
        config = worker_settings(settings.bootstrap_servers, {
            "SYNTHSTREAM_TOPIC_PREFIX": "ws.", "SYNTHSTREAM_METRICS_PORT": str(free_port()),
            "SYNTHSTREAM_WORKER_DATA_DIR": str(tmp_path / "w"), "SYNTHSTREAM_WORKER_STOP_TIMEOUT_S": "10"})
        proc = start_worker(ROOT / "specs" / "procedural.yaml", config, log)
        assert wait_until(lambda: "metrics on http" in log.read_text(errors="replace") or proc.poll() is not None, 120,
                          step_s=0.5) and proc.poll() is None, \
            log.read_text()[-3000:]
        time.sleep(5)  # its Faust app is up and talking to the broker
        pid = int((settings.kafka_data_dir / "kafka.pid").read_text())
        import os

        os.kill(pid, signal.SIGKILL)  # the broker is gone
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=45)  # the watchdog's 10 s, the time to get there, and plenty to spare
        except subprocess.TimeoutExpired:
            pytest.fail("the worker did not stop within 45 s of SIGTERM with its broker gone:\n"
                        + log.read_text()[-3000:])
        assert "did not stop within 10 s" in log.read_text(errors="replace") or proc.returncode == 0
    finally:
        if proc is not None:
            stop_process(proc, timeout_s=5)
        broker.stop(timeout_s=5)

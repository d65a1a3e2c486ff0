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


def test_a_worker_with_model_requests_in_flight_stops_when_told(names, bootstrap, worker_factory, tmp_path):
    """The model server takes every request and never answers (a hung server; a dead one is
    the same to the client until its timeout). SIGTERM with requests in flight: the worker is
    gone within the bound, and none of those prompts got an outcome (they are redone)."""
    from tests.fakellm import FakeLLM
    from tests.integration.test_model_pipeline import LINEAR, write_spec

    from synthstream.agents.spec import load_spec
    from synthstream.streams.app.producer import make_producer, plan_prompts, publish
    from synthstream.streams.runtime.serde import registry

    with FakeLLM(latency_s=600) as llm:
        spec = write_spec(tmp_path, [LINEAR])
        proc = worker_factory(names, spec, free_port(), ["generation"], SYNTHSTREAM_LLM_BASE_URL=llm.url,
                              SYNTHSTREAM_WORKER_STOP_TIMEOUT_S="10", SYNTHSTREAM_LLM_MAX_CONCURRENCY="8")
        assert wait_until(lambda: len(llm.requests) >= 1, 60), proc.log_path.read_text()[-2000:]  # its probe
        producer = make_producer(bootstrap)
        try:
            publish(producer, names.prompts, registry(), plan_prompts(load_spec(spec), 20, "hang",
                                                                      int(time.time() * 1000)))
        finally:
            producer.close()
        assert wait_until(lambda: len(llm.requests) >= 5, 60), proc.log_path.read_text()[-2000:]
        import os

        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)  # the watchdog's 10 s and plenty to spare
        except subprocess.TimeoutExpired:
            pytest.fail("the worker did not stop within 30 s of SIGTERM with model requests in flight:\n"
                        + proc.log_path.read_text()[-3000:])
        assert time.monotonic() - started < 30
        assert llm.outcomes["ok"] == 0  # nothing was answered, so nothing was generated or committed

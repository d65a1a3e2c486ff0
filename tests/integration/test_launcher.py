"""The local broker's lifecycle and its error messages, on real processes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from synthstream.streams.app.kafka_local.launcher import LauncherError, LocalKafka
from synthstream.streams.runtime.kafka_io import cluster_ready
from synthstream.streams.runtime.settings import KafkaSettings
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration


def local(tmp_path, **kw) -> KafkaSettings:
    base = dict(bootstrap=None, kafka_port=free_port(), kafka_controller_port=free_port(),
                kafka_data_dir=tmp_path / "data")
    return KafkaSettings(**(base | kw))


def test_start_is_idempotent_and_stop_stops(kafka_settings):
    if not kafka_settings.local:
        pytest.skip("SYNTHSTREAM_BOOTSTRAP points at an external cluster")
    broker = LocalKafka(kafka_settings)
    before = broker.status()
    assert before.running and before.ready
    again = broker.start()
    assert again.pid == before.pid and again.ready
    assert cluster_ready(kafka_settings.bootstrap_servers)


def test_second_broker_lifecycle_and_formatted_once(tmp_path, kafka_settings):
    settings = local(tmp_path, kafka_cache_dir=kafka_settings.kafka_cache_dir)
    broker = LocalKafka(settings)
    try:
        st = broker.start()
        assert st.ready and broker.pid_file.exists() and broker.log_file.exists()
        meta = (settings.kafka_data_dir / "kraft" / "meta.properties").read_text()
    finally:
        assert broker.stop() is True
    assert not broker.status().running and not broker.pid_file.exists()
    assert broker.stop() is False
    assert not cluster_ready(broker.bootstrap, timeout_s=1.0)
    try:  # a restart reuses the formatted storage (same cluster id)
        broker.start()
        assert (settings.kafka_data_dir / "kraft" / "meta.properties").read_text() == meta
    finally:
        broker.stop()


def test_port_in_use_is_a_clear_error(tmp_path, kafka_settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        settings = local(tmp_path, kafka_port=s.getsockname()[1], kafka_cache_dir=kafka_settings.kafka_cache_dir)
        with pytest.raises(LauncherError) as exc:
            LocalKafka(settings).start()
    assert f"port {settings.kafka_port} on 127.0.0.1 is already in use" in str(exc.value)
    assert "SYNTHSTREAM_KAFKA_PORT" in str(exc.value)


def test_missing_java_and_mvn_say_what_to_do(tmp_path, monkeypatch, kafka_settings):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(LauncherError, match=r"`java` is not on PATH.*apt-get install"):
        LocalKafka(local(tmp_path, kafka_cache_dir=kafka_settings.kafka_cache_dir)).start()
    with pytest.raises(LauncherError, match=r"Maven \(`mvn`\) is not on PATH.*SYNTHSTREAM_BOOTSTRAP"):
        LocalKafka(local(tmp_path, kafka_cache_dir=tmp_path / "nocache")).start()


def test_broker_that_never_answers_is_reported_and_stoppable(tmp_path, kafka_settings):
    settings = local(tmp_path, kafka_cache_dir=kafka_settings.kafka_cache_dir, kafka_ready_timeout_s=0.5)
    broker = LocalKafka(settings)
    try:
        with pytest.raises(LauncherError, match=r"did not answer a metadata request .* within 0s"):
            broker.start()
    finally:
        broker.stop()
    assert not broker.status().running


def test_start_after_the_broker_was_killed_succeeds_at_the_first_call(tmp_path, kafka_settings):
    """A SIGKILLed broker stays a zombie until its parent reaps it (or init, which on some machines
    never does), and its pid file still names it: the next start must see it as gone, not wait
    on it. The broker here is started by a helper process that then sleeps without reaping."""
    import os
    import signal
    import subprocess
    import sys
    import time

    settings = local(tmp_path, kafka_cache_dir=kafka_settings.kafka_cache_dir)
    env = {k: v for k, v in os.environ.items() if k != "SYNTHSTREAM_BOOTSTRAP"}
    env.update(SYNTHSTREAM_KAFKA_PORT=str(settings.kafka_port),
               SYNTHSTREAM_KAFKA_CONTROLLER_PORT=str(settings.kafka_controller_port),
               SYNTHSTREAM_KAFKA_DATA_DIR=str(settings.kafka_data_dir),
               SYNTHSTREAM_KAFKA_CACHE_DIR=str(settings.kafka_cache_dir))
    starter = ("import sys, time\n"
               "from synthstream.streams.app.kafka_local.launcher import LocalKafka\n"
               "from synthstream.streams.runtime.settings import KafkaSettings\n"
               "LocalKafka(KafkaSettings()).start()\nprint('started', flush=True)\ntime.sleep(300)\n")
    parent = subprocess.Popen([sys.executable, "-c", starter], env=env, stdout=subprocess.PIPE, text=True)
    broker = LocalKafka(settings)
    try:
        assert parent.stdout.readline().strip() == "started"
        pid = int(broker.pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1][:3]:
            time.sleep(0.1)
        assert broker.pid() is None  # a zombie, its parent alive and not reaping: not running
        again = subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "kafka", "start"], env=env,
                               capture_output=True, text=True, timeout=150)
        assert again.returncode == 0, again.stdout + again.stderr
        assert broker.pid() not in (None, pid) and cluster_ready(broker.bootstrap)
    finally:
        broker.stop()
        parent.kill()
        parent.wait(10)

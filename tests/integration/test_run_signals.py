"""`synthstream run` stopped by SIGTERM or SIGHUP (what timeout, systemd, CI and docker stop send)
stops everything it started, as Ctrl-C does: its workers and the local broker it started, and
exits non-zero (128 + the signal)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import free_port, free_ports

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_stops_the_workers_and_the_broker_it_started(tmp_path, signum):
    env = {k: v for k, v in os.environ.items() if k != "SYNTHSTREAM_BOOTSTRAP"}  # run starts its own broker
    kafka_dir = tmp_path / "kafka"
    env.update(SYNTHSTREAM_KAFKA_PORT=str(free_port()), SYNTHSTREAM_KAFKA_CONTROLLER_PORT=str(free_port()),
               SYNTHSTREAM_KAFKA_DATA_DIR=str(kafka_dir), SYNTHSTREAM_WORKER_DATA_DIR=str(tmp_path / "w"),
               SYNTHSTREAM_METRICS_PORT=str(free_ports(4)), SYNTHSTREAM_TOPIC_PREFIX=f"s{uuid.uuid4().hex[:8]}.",
               COLUMNS="200")
    proc = subprocess.Popen([sys.executable, "-m", "synthstream.streams.app.cli", "run", "--spec",
                             str(ROOT / "specs" / "procedural.yaml"), "--count", "2000000", "--out",
                             str(tmp_path / "out.jsonl")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    workers: list[int] = []
    broker = None
    try:
        deadline = time.monotonic() + 180
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
            lines.append(line)
            workers += [int(p) for p in re.findall(r"^worker \S+: pid (\d+)", line)]
        assert len(workers) == 2, "".join(lines)
        broker = int((kafka_dir / "kafka.pid").read_text())
        assert alive(broker) and all(alive(p) for p in workers)
        time.sleep(2)  # the prompts are being published and worked on
        proc.send_signal(signum)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    said = "".join(lines) + rest
    assert proc.returncode == 128 + signum, said
    assert f"stopped by {signal.Signals(signum).name}" in said, said
    gone = time.monotonic() + 15  # the broker's JVM may take a moment after its pid file is removed
    while time.monotonic() < gone and any(alive(p) for p in (*workers, broker)):
        time.sleep(0.2)
    assert not [p for p in (*workers, broker) if alive(p)], said

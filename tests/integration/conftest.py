"""One real broker per test session (started through the launcher), a fresh topic prefix per test."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from synthstream.streams.app.kafka_local.launcher import LocalKafka
from synthstream.streams.app.runner import start_worker, stop_process
from synthstream.streams.runtime.settings import KafkaSettings, worker_settings
from synthstream.streams.runtime.topics import TopicNames, create_topics


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> int:
    """A first port of ``n`` consecutive free ones (``run`` gives worker i the metrics port + i),
    below the ephemeral range: there a client's connection may take port + 1 before the worker
    binds it."""
    import random

    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(20_000, 32_000 - n)
        socks = []
        try:
            for port in range(first, first + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports below 32000")


@pytest.fixture(scope="session")
def kafka_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSettings]:
    existing = os.environ.get("SYNTHSTREAM_BOOTSTRAP")
    if existing:
        yield KafkaSettings(bootstrap=existing)
        return
    settings = KafkaSettings(bootstrap=None, kafka_port=free_port(), kafka_controller_port=free_port(),
                             kafka_data_dir=tmp_path_factory.mktemp("kafka"))
    broker = LocalKafka(settings)
    broker.start()
    yield settings
    broker.stop()


@pytest.fixture
def bootstrap(kafka_settings: KafkaSettings) -> str:
    return kafka_settings.bootstrap_servers


@pytest.fixture
def names(bootstrap: str) -> TopicNames:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    create_topics(bootstrap, prefix, partitions=4)
    return TopicNames(prefix)


@pytest.fixture
def worker_factory(bootstrap: str, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start `synthstream worker` subprocesses; all of them are stopped at the end of the test."""
    procs: list[subprocess.Popen] = []

    def start(names: TopicNames, spec: Path, metrics_port: int, stages: list[str] | None = None,
              **env: str) -> subprocess.Popen:
        log = tmp_path / f"worker-{len(procs)}.log"
        config = worker_settings(bootstrap, {
            "SYNTHSTREAM_TOPIC_PREFIX": names.prefix,
            "SYNTHSTREAM_METRICS_PORT": str(metrics_port),
            "SYNTHSTREAM_WORKER_DATA_DIR": str(tmp_path / f"worker-{len(procs)}"), **env})
        proc = start_worker(spec, config, log, stages)
        proc.log_path = log  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        stop_process(proc, timeout_s=20)


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()

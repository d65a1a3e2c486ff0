"""What trainers see after crashes: prompts through both workers while each is SIGKILLed and
restarted again and again; then every prompt's outcome and the accepted-records topic as a
read_committed consumer (a trainer) reads it.

    .venv/bin/python benchmarks/chaos_duplicates.py [--count 20000] [--kills 6] [--every 3]

Uses SYNTHSTREAM_BOOTSTRAP if set, else starts the local broker. Last line:
chaos: N prompts, K kills; accepted-records read_committed R records for I ids (D seen twice);
read_uncommitted U; lost L
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synthstream.agents.spec import load_spec  # noqa: E402
from synthstream.streams.app.kafka_local.launcher import LocalKafka  # noqa: E402
from synthstream.streams.app.outcomes import OutcomeWatcher  # noqa: E402
from synthstream.streams.app.producer import make_producer, plan_prompts, publish  # noqa: E402
from synthstream.streams.app.runner import start_worker, stop_process, worker_layout  # noqa: E402
from synthstream.streams.runtime import kafka_io  # noqa: E402
from synthstream.streams.runtime.serde import registry  # noqa: E402
from synthstream.streams.runtime.settings import KafkaSettings, worker_settings  # noqa: E402
from synthstream.streams.runtime.topics import TopicNames, create_topics  # noqa: E402

SPEC = ROOT / "specs" / "procedural.yaml"


def accepted(bootstrap: str, topic: str, isolation: str) -> list[str]:
    serde = registry()
    return [serde.decode(m.value, "AcceptedRecord")[1]["record_id"]
            for m in kafka_io.read_to_end(bootstrap, topic, isolation_level=isolation, timeout_s=300)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=6, help="SIGKILLs per worker")
    parser.add_argument("--every", type=float, default=3.0, help="seconds between kills")
    args = parser.parse_args()
    settings = KafkaSettings()
    broker = None
    if settings.local:
        broker = LocalKafka(settings)
        broker = None if broker.status().running else broker
        if broker is not None:
            broker.start()
    bootstrap = settings.bootstrap_servers
    names = TopicNames(f"chaos{uuid.uuid4().hex[:6]}.")
    create_topics(bootstrap, names.prefix, 4)
    tmp = Path(tempfile.mkdtemp(prefix="synthstream-chaos-"))
    layout = worker_layout()

    def start(i: int):
        return start_worker(SPEC, worker_settings(bootstrap, {
            "SYNTHSTREAM_TOPIC_PREFIX": names.prefix, "SYNTHSTREAM_WORKER_DATA_DIR": str(tmp / str(i)),
            "SYNTHSTREAM_METRICS_ENABLED": "false", "SYNTHSTREAM_WORKER_SESSION_TIMEOUT_S": "6"}),
            tmp / f"worker-{i}.log", layout[i])

    serde = registry()
    watcher = OutcomeWatcher(bootstrap, names, serde)
    producer = make_producer(bootstrap)
    procs = [start(i) for i in range(len(layout))]
    kills = 0
    try:
        spec = load_spec(SPEC)
        pending = set(publish(producer, names.prompts, serde, plan_prompts(spec, args.count, "chaos",
                                                                           int(time.time() * 1000))))
        next_kill, victim = time.monotonic() + args.every, 0
        deadline = time.monotonic() + 1800
        while pending and time.monotonic() < deadline:
            watcher.poll(pending)
            if kills < args.kills * len(procs) and time.monotonic() >= next_kill:
                os.killpg(procs[victim].pid, signal.SIGKILL)
                procs[victim].wait(10)
                procs[victim] = start(victim)
                kills += 1
                print(f"kill {kills}: worker {'+'.join(layout[victim])} at {args.count - len(pending)} decided",
                      flush=True)
                victim = (victim + 1) % len(procs)
                next_kill = time.monotonic() + args.every
        lost = len(pending)
    finally:
        # every worker is stopped even if a second stop signal interrupts stopping one of them
        interrupted: BaseException | None = None
        for close in (producer.close, watcher.close, *(lambda p=p: stop_process(p) for p in procs)):
            try:
                close()
            except BaseException as exc:
                interrupted = interrupted or exc
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        if interrupted is not None:
            raise interrupted
    committed = accepted(bootstrap, names["accepted-records"], "read_committed")
    uncommitted = accepted(bootstrap, names["accepted-records"], "read_uncommitted")
    twice = sum(1 for n in collections.Counter(committed).values() if n > 1)
    if broker is not None:
        broker.stop()
    print(f"outcomes: {dict(watcher.counts)}; {watcher.repeats} repeated outcomes")
    print(f"chaos: {args.count} prompts, {kills} kills; accepted-records read_committed {len(committed)} records "
          f"for {len(set(committed))} ids ({twice} seen twice); read_uncommitted {len(uncommitted)}; lost {lost}")


if __name__ == "__main__":
    from synthstream.streams.runtime.procs import main_stopping_on_signals

    main_stopping_on_signals(main)  # SIGTERM and SIGHUP stop what it started, as Ctrl-C does

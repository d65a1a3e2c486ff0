"""End-to-end throughput: the same procedural workload in-process and through the real pipeline.

    .venv/bin/python benchmarks/bench_e2e.py [--count 20000] [--copies 1]

Starts the local broker unless SYNTHSTREAM_BOOTSTRAP is set, uses a fresh topic prefix,
warms the worker up, then times COUNT prompts from the first send to the last outcome.
Last line: e2e_ratio: X (pipeline P rec/s, in-process L rec/s)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synthstream.agents.bias.core import BiasWindow  # noqa: E402
from synthstream.agents.dedup.core import DedupIndex, Duplicate  # noqa: E402
from synthstream.agents.dedup.fields import scope_of, text_of  # noqa: E402
from synthstream.agents.families import default_fields  # noqa: E402
from synthstream.agents.generation.tasks.linear_procedural import generate  # noqa: E402
from synthstream.agents.verification.core import verify  # noqa: E402
from synthstream.streams.app.kafka_local.launcher import LocalKafka  # noqa: E402
from synthstream.streams.app.outcomes import OutcomeWatcher  # noqa: E402
from synthstream.streams.app.producer import make_producer, plan_prompts, publish  # noqa: E402
from synthstream.streams.app.runner import start_worker, stop_process, worker_layout  # noqa: E402
from synthstream.streams.runtime.serde import registry  # noqa: E402
from synthstream.streams.runtime.settings import KafkaSettings, worker_settings  # noqa: E402
from synthstream.agents.spec import load_spec  # noqa: E402
from synthstream.streams.runtime.topics import TopicNames, create_topics  # noqa: E402

SPEC = ROOT / "specs" / "procedural.yaml"


def in_process(prompts: list[dict]) -> tuple[float, int]:
    """The cores alone, in one loop: generation -> verification -> dedup -> bias."""
    spec = load_spec(SPEC)
    index, window = DedupIndex(), BiasWindow("bench", spec.targets())
    accepted = 0
    started = time.perf_counter()
    for i, prompt in enumerate(prompts):
        gen = generate(prompt)
        if not verify(gen).accepted:
            continue
        gen.setdefault("lineage", {"dataset": "bench"})  # the agent adds lineage; the core alone does not
        fields = default_fields(gen["task"])
        if isinstance(index.check(gen["prompt_id"], text_of(gen, fields), scope_of(gen, fields))[0], Duplicate):
            continue
        window.add(dict(gen["dimensions"], task=gen["task"]), i)
        accepted += 1
    return time.perf_counter() - started, accepted


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_pid() -> int | None:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if b"kafka.Kafka" in (proc / "cmdline").read_bytes():
                    return int(proc.name)
            except OSError:
                continue
    return None


def cpu_report(before: dict[str, float], after: dict[str, float], elapsed: float, accepted: int) -> str:
    """Where the CPU went in the timed phase: per process, in cores and in microseconds per record."""
    rows = []
    for name in after:
        used = after[name] - before.get(name, 0.0)
        rows.append(f"  {name:<34} {used:6.1f} s CPU = {used / elapsed:4.2f} cores, "
                    f"{1e6 * used / max(accepted, 1):6.0f} us per accepted record")
    return "\n".join(rows)


def through_pipeline(bootstrap: str, prompts: list[dict], warmup: list[dict],
                     copies: int = 1) -> tuple[float, int, dict]:
    serde = registry()
    names = TopicNames(f"bench{uuid.uuid4().hex[:6]}.")
    create_topics(bootstrap, names.prefix, int(os.environ.get("SYNTHSTREAM_PARTITIONS", "4")))
    tmp = Path(tempfile.mkdtemp(prefix="synthstream-bench-"))
    layout = [stages for stages in worker_layout() for _ in range(copies)]
    procs = [start_worker(SPEC, worker_settings(bootstrap, {
        "SYNTHSTREAM_TOPIC_PREFIX": names.prefix, "SYNTHSTREAM_WORKER_DATA_DIR": str(tmp / str(i)),
        "SYNTHSTREAM_METRICS_ENABLED": "false"}), tmp / f"worker-{i}.log", stages)
        for i, stages in enumerate(layout)]
    watcher = OutcomeWatcher(bootstrap, names, serde)
    producer = make_producer(bootstrap)
    try:
        pending = set(publish(producer, names.prompts, serde, iter(warmup)))
        deadline = time.monotonic() + 120
        while pending and time.monotonic() < deadline:
            watcher.poll(pending)
        if pending:
            raise SystemExit(f"warm-up did not finish; see the logs in {tmp}")
        watched = {f"worker {'+'.join(stages)} #{i}": proc.pid for i, (stages, proc) in enumerate(zip(layout, procs))}
        if (pid := broker_pid()) is not None:
            watched["Kafka broker (JVM)"] = pid
        watched["this process (producer, watcher)"] = os.getpid()
        cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        started = time.perf_counter()
        pending = set(publish(producer, names.prompts, serde, iter(prompts)))
        print(f"published {len(prompts)} prompts in {time.perf_counter() - started:.2f} s", flush=True)
        deadline = time.monotonic() + 900
        while pending and time.monotonic() < deadline:
            watcher.poll(pending)
        elapsed = time.perf_counter() - started
        cpu_after = {name: cpu_seconds(pid) for name, pid in watched.items()}
        if pending:
            raise SystemExit(f"{len(pending)} prompts without outcome after 900 s; see the logs in {tmp}")
        counts = dict(watcher.counts)
        accepted = counts.get("ACCEPTED", 0) - len(warmup) + sum(
            1 for p in warmup if watcher.outcomes[p["prompt_id"]] != "ACCEPTED")
        print(f"CPU in the timed phase ({elapsed:.1f} s, {os.cpu_count()} cores):")
        print(cpu_report(cpu_before, cpu_after, elapsed, accepted))
        return elapsed, accepted, counts
    finally:
        producer.close()
        watcher.close()
        for proc in procs:
            stop_process(proc)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--copies", type=int, default=1, help="worker processes of each kind (consumer-group "
                        "scaling on the same topics; default 1)")
    args = parser.parse_args()
    spec = load_spec(SPEC)
    now = int(time.time() * 1000)
    prompts = list(plan_prompts(spec, args.count, "bench", now))
    warmup = list(plan_prompts(spec, 200, "warmup", now, start=10_000_000))

    local_elapsed, local_accepted = in_process(prompts)
    local_rate = local_accepted / local_elapsed
    print(f"in-process: {local_accepted} accepted of {args.count} in {local_elapsed:.2f} s = {local_rate:.0f} rec/s")

    settings = KafkaSettings()
    broker = None
    if settings.local:
        broker = LocalKafka(settings)
        if not broker.status().running:
            broker.start()
        else:
            broker = None
    try:
        elapsed, accepted, counts = through_pipeline(settings.bootstrap_servers, prompts, warmup, args.copies)
    finally:
        if broker is not None:
            broker.stop()
    rate = accepted / elapsed
    print(f"pipeline: {accepted} accepted of {args.count} in {elapsed:.2f} s = {rate:.0f} rec/s; outcomes {counts}")
    print(f"e2e_ratio: {rate / local_rate:.3f} (pipeline {rate:.0f} rec/s, in-process {local_rate:.0f} rec/s)")


if __name__ == "__main__":
    from synthstream.streams.runtime.procs import main_stopping_on_signals

    main_stopping_on_signals(main)  # SIGTERM and SIGHUP stop what it started, as Ctrl-C does

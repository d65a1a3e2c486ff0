"""A code-only stream through the real pipeline: catalogue specs implemented by the fault-injecting
model server (which answers each spec with its canonical body), each tested in the jail by the
verification stage, with one record verified at a time and with as many as the jail takes; and
the same tasks through ``verify-code``'s path (the sandbox pool alone) for the ceiling.

    .venv/bin/python benchmarks/bench_code_pipeline.py [--count 400]

Starts the local broker unless SYNTHSTREAM_BOOTSTRAP is set; one worker process with every stage.
Last line: code_pipeline: concurrent C tasks/s, one at a time S tasks/s (C/S x); verify-code V tasks/s
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

import yaml  # noqa: E402

from synthstream.agents.generation.tasks.code import load_catalogue  # noqa: E402
from synthstream.agents.spec import load_spec  # noqa: E402
from synthstream.agents.verification.sandbox import Limits, run_humaneval  # noqa: E402
from synthstream.streams.app.kafka_local.launcher import LocalKafka  # noqa: E402
from synthstream.streams.app.outcomes import OutcomeWatcher  # noqa: E402
from synthstream.streams.app.producer import make_producer, plan_prompts, publish  # noqa: E402
from synthstream.streams.app.runner import start_worker, stop_process  # noqa: E402
from synthstream.streams.app.worker import make_sandbox  # noqa: E402
from synthstream.streams.runtime.serde import registry  # noqa: E402
from synthstream.streams.runtime.settings import KafkaSettings, Settings, worker_settings  # noqa: E402
from synthstream.streams.runtime.topics import TopicNames, create_topics  # noqa: E402
from tests.fakellm import FakeLLM  # noqa: E402

CANONICAL = {s.prompt: s.canonical for s in load_catalogue()}


def implementer(api: str, body: dict) -> str:
    return CANONICAL.get(body.get("prompt") or "", "    raise NotImplementedError\n")


def write_spec(tmp: Path) -> Path:
    path = tmp / "code-only.yaml"
    path.write_text(yaml.safe_dump({
        "dataset": {"name": "bench-code", "version": "1"}, "seed": 3,
        "model": {"name": "fake-model", "api": "completion", "sampling": {"max_tokens": 200}},
        "tasks": [{"name": "code.python", "weight": 1,
                   "dimensions": {"source": {"catalogue": 1}, "difficulty": {"easy": 1, "medium": 1, "hard": 1}}}]}))
    return path


def through_pipeline(bootstrap: str, spec: Path, llm: FakeLLM, prompts: list[dict], concurrency: int,
                     tmp: Path) -> float:
    serde = registry()
    names = TopicNames(f"benchcode{uuid.uuid4().hex[:6]}.")
    create_topics(bootstrap, names.prefix, int(os.environ.get("SYNTHSTREAM_PARTITIONS", "4")))
    log = tmp / f"worker-c{concurrency}.log"
    proc = start_worker(spec, worker_settings(bootstrap, {
        "SYNTHSTREAM_TOPIC_PREFIX": names.prefix, "SYNTHSTREAM_WORKER_DATA_DIR": str(tmp / f"c{concurrency}"),
        "SYNTHSTREAM_METRICS_ENABLED": "false", "SYNTHSTREAM_LLM_BASE_URL": llm.url,
        "SYNTHSTREAM_VERIFY_CONCURRENCY": str(concurrency), "SYNTHSTREAM_JUDGE_AUTO": "false",
        "SYNTHSTREAM_WORKER_DECONTAMINATE": "false"}), log)
    watcher = OutcomeWatcher(bootstrap, names, serde)
    producer = make_producer(bootstrap)
    try:
        warm = [dict(p, prompt_id=p["prompt_id"] + "-warm") for p in prompts[:20]]
        pending = set(publish(producer, names.prompts, serde, iter(warm)))
        deadline = time.monotonic() + 240
        while pending and time.monotonic() < deadline:
            watcher.poll(pending)
        if pending:
            raise SystemExit(f"warm-up did not finish; see {log}")
        started = time.perf_counter()
        pending = set(publish(producer, names.prompts, serde, iter(prompts)))
        deadline = time.monotonic() + 1200
        while pending and time.monotonic() < deadline:
            watcher.poll(pending)
        if pending:
            raise SystemExit(f"{len(pending)} prompts without outcome; see {log}")
        elapsed = time.perf_counter() - started
        print(f"pipeline, verification concurrency {concurrency or 'auto'}: {len(prompts)} tasks in {elapsed:.1f} s "
              f"= {len(prompts) / elapsed:.1f} tasks/s; outcomes {dict(watcher.counts)}", flush=True)
        return len(prompts) / elapsed
    finally:
        producer.close()
        watcher.close()
        stop_process(proc)


def verify_code_rate(prompts: list[dict]) -> float:
    """The same tasks (each prompt's catalogue spec with its canonical body) through the sandbox pool."""
    import random

    specs = load_catalogue()
    chosen = []
    for p in prompts:  # the generator's choice: a spec of the prompt's difficulty, by the prompt's seed
        wanted = [s for s in specs if s.difficulty == p["dimensions"].get("difficulty")] or list(specs)
        chosen.append(random.Random(p["seed"]).choice(wanted))
    sandbox = make_sandbox(Settings.from_env().verify)
    try:
        from concurrent.futures import ThreadPoolExecutor

        started = time.perf_counter()
        with ThreadPoolExecutor(sandbox.parallel) as pool:
            results = list(pool.map(lambda s: run_humaneval(sandbox, s.prompt, s.canonical, s.test, s.entry_point,
                                                            Limits()), chosen))
        elapsed = time.perf_counter() - started
    finally:
        sandbox.close()
    passed = sum(r.status == "passed" for r in results)
    print(f"verify-code path: {len(chosen)} tasks in {elapsed:.1f} s = {len(chosen) / elapsed:.1f} tasks/s "
          f"({passed} passed)", flush=True)
    return len(chosen) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=400)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="synthstream-bench-code-"))
    spec_path = write_spec(tmp)
    prompts = list(plan_prompts(load_spec(spec_path), args.count, f"b{uuid.uuid4().hex[:6]}", int(time.time() * 1000)))
    settings = KafkaSettings()
    broker = None
    if settings.local:
        broker = LocalKafka(settings)
        if broker.status().running:
            broker = None
        else:
            broker.start()
    try:
        with FakeLLM(responder=implementer) as llm:
            one = through_pipeline(settings.bootstrap_servers, spec_path, llm, prompts, 1, tmp)
            many = through_pipeline(settings.bootstrap_servers, spec_path, llm, prompts, 0, tmp)
        ceiling = verify_code_rate(prompts)
    finally:
        if broker is not None:
            broker.stop()
    print(f"code_pipeline: concurrent {many:.1f} tasks/s, one at a time {one:.1f} tasks/s ({many / one:.2f}x); "
          f"verify-code {ceiling:.1f} tasks/s")


if __name__ == "__main__":
    from synthstream.streams.runtime.procs import main_stopping_on_signals

    main_stopping_on_signals(main)  # SIGTERM and SIGHUP stop what it started, as Ctrl-C does

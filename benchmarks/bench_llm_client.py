"""Model-client overhead: the pipeline's generation agent against a bare AsyncOpenAI loop.

    .venv/bin/python benchmarks/bench_llm_client.py [--requests 5000] [--concurrency 32] [--latency-ms 50]
    .venv/bin/python benchmarks/bench_llm_client.py --embedded [--per-task 6]

Default: the fault-injecting test server (tests/fakellm, its own process) answers every request
after a fixed latency and never fails. Both sides send REQUESTS completions with the same
concurrency: the direct side from one asyncio loop with a semaphore, the pipeline side as
math.linear prompts (one model request each) published to Kafka and served by a real worker
running the generation agent; its time runs from the first publish to the last generation on
the generations topic. Last line: llm_client_ratio: X (pipeline P req/s, direct D req/s), the
direct loop as a user writes it (``completions.create``, the SDK's default httpx transport). The
line before it compares with a direct loop on the model client's own HTTP path (the SDK's
``post``, aiohttp), which shows the pipeline's overhead alone. ``--http httpx`` runs the worker
on the SDK's default transport (SYNTHSTREAM_LLM_HTTP_CLIENT).

--embedded instead measures the embedded model (llama.cpp, Gemma 3 270M): tokens/s and accepted
records per minute for every task, through the whole pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from synthstream.streams.app.kafka_local.launcher import LocalKafka  # noqa: E402
from synthstream.streams.app.producer import make_producer, plan_prompts, publish  # noqa: E402
from synthstream.streams.app.runner import start_worker, stop_process  # noqa: E402
from synthstream.streams.runtime.serde import registry  # noqa: E402
from synthstream.streams.runtime.settings import KafkaSettings, worker_settings  # noqa: E402
from synthstream.agents.spec import load_spec  # noqa: E402
from synthstream.streams.runtime.topics import TopicNames, create_topics  # noqa: E402


def start_fake_server(latency_ms: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakellm", "--latency-ms", str(latency_ms)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    url = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if not url.startswith("http"):
        raise SystemExit("the fake model server did not start")
    return proc, url


def bench_spec(tmp: Path) -> Path:
    spec = {"dataset": {"name": "bench-llm", "version": "1"}, "seed": 11,
            "model": {"name": "fake-model", "api": "completion", "sampling": {"max_tokens": 32}},
            "tasks": [{"name": "math.linear", "weight": 1, "dimensions": {"difficulty": {"basic": 1}},
                       "params": {"samples": 1}}]}
    path = tmp / "bench-llm.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


async def direct(url: str, prompts: list[str], concurrency: int, lean: bool = False) -> float:
    """The floor: AsyncOpenAI with a semaphore, nothing else: as a user would write it
    (``completions.create`` over the SDK's default httpx transport) or, ``lean``, the way the
    model client sends (the SDK's generic ``post`` with a plain JSON answer, over its aiohttp
    transport): the second tells the pipeline's own overhead apart from the HTTP path's."""
    import openai

    extra = {"http_client": openai.DefaultAioHttpClient()} if lean else {}
    client = openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=0, **extra)
    gate = asyncio.Semaphore(concurrency)

    async def one(text: str, seed: int) -> None:
        async with gate:
            if lean:
                await client.post("/completions", cast_to=object, body={
                    "model": "fake-model", "prompt": text, "max_tokens": 32, "temperature": 0.7, "top_p": 0.95,
                    "seed": seed, "stop": ["\nProblem:"]})
            else:
                await client.completions.create(model="fake-model", prompt=text, max_tokens=32, temperature=0.7,
                                                top_p=0.95, seed=seed, stop=["\nProblem:"])

    started = time.perf_counter()
    await asyncio.gather(*(one(t, i) for i, t in enumerate(prompts)))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


def through_pipeline(bootstrap: str, url: str, spec_path: Path, count: int, concurrency: int,
                     workers: int, http: str = "aiohttp") -> tuple[float, Counter]:
    from kafka import TopicPartition

    from synthstream.streams.runtime import kafka_io

    serde = registry()
    spec = load_spec(spec_path)
    names = TopicNames(f"bllm{uuid.uuid4().hex[:6]}.")
    create_topics(bootstrap, names.prefix, 4)
    tmp = Path(tempfile.mkdtemp(prefix="synthstream-bench-llm-"))
    share = max(1, concurrency // workers)  # the same concurrency in all, split over the processes
    procs = [start_worker(spec_path, worker_settings(bootstrap, {
        "SYNTHSTREAM_TOPIC_PREFIX": names.prefix, "SYNTHSTREAM_WORKER_DATA_DIR": str(tmp / f"w{i}"),
        "SYNTHSTREAM_METRICS_ENABLED": "false", "SYNTHSTREAM_LLM_BASE_URL": url,
        "SYNTHSTREAM_LLM_MAX_CONCURRENCY": str(share), "SYNTHSTREAM_LLM_INITIAL_CONCURRENCY": str(share),
        "SYNTHSTREAM_LLM_HTTP_CLIENT": http}),
        tmp / f"worker-{i}.log", ["generation"]) for i in range(workers)]
    consumer = kafka_io.consumer(bootstrap, "bench-llm")
    parts = [TopicPartition(names.generations, p) for p in range(4)]
    consumer.assign(parts)
    producer = make_producer(bootstrap)
    try:
        def wait_for(ids: set[str], timeout_s: float) -> Counter:
            """Wait for a generation of each prompt; its key is the prompt id, so only every 50th
            is decoded (to tell which model answered): decoding all of them cost this process,
            which shares the 2 cores with the worker it measures, about half a core."""
            seen: Counter = Counter()
            deadline = time.monotonic() + timeout_s
            n = 0
            while ids and time.monotonic() < deadline:
                for msgs in consumer.poll(timeout_ms=50, max_records=5000).values():
                    for m in msgs:
                        ids.discard(m.key.decode())
                        if n % 50 == 0:
                            _, gen = serde.decode(m.value, "Generation")
                            seen[gen["lineage"]["model"]] += 1
                        n += 1
            if ids:
                raise SystemExit(f"{len(ids)} prompts without a generation; see the logs in {tmp}")
            return seen

        now = int(time.time() * 1000)
        warm = {p["prompt_id"] for p in plan_prompts(spec, 200, "warm", now)}
        publish(producer, names.prompts, serde, plan_prompts(spec, 200, "warm", now))
        wait_for(warm, 120)
        ids = set(p["prompt_id"] for p in plan_prompts(spec, count, "bench", now))
        started = time.perf_counter()
        publish(producer, names.prompts, serde, plan_prompts(spec, count, "bench", now))
        seen = wait_for(ids, 900)
        return time.perf_counter() - started, seen
    finally:
        producer.close()
        consumer.close()
        for proc in procs:
            stop_process(proc)


def task_entry(name: str) -> dict:
    from synthstream.agents.families import TASKS

    entry: dict = {"name": name, "weight": 1}
    if name.startswith("math."):  # the easiest difficulty the task offers (math.open has no "basic")
        easiest = TASKS[name].dimensions["difficulty"][0]
        entry.update(dimensions={"difficulty": {easiest: 1}}, params={"samples": 3})
    elif name == "code.python":
        entry.update(dimensions={"source": {"catalogue": 0.75, "model": 0.25}, "difficulty": {"easy": 1}})
    elif name == "dialogue.chat":
        entry.update(dimensions={"turns": {"2": 1}}, sampling={"temperature": 0.7})  # as in specs/demo.yaml
    return entry


def embedded(per_task: int) -> None:
    """Tokens/s of the embedded model, and accepted records per minute for each task run alone
    through `synthstream run` (broker and model server started once and shared by the runs)."""
    import openai

    from synthstream.agents.families import TASKS
    from synthstream.streams.app.llm_local.launcher import LocalLLM
    from synthstream.streams.runtime.settings import LLMSettings

    settings = KafkaSettings()
    broker = LocalKafka(settings) if settings.local else None
    if broker is not None and not broker.status().running:
        broker.start()
    else:
        broker = None
    server = LocalLLM(LLMSettings(base_url=None))
    own_server = not server.status().running
    server.start()
    tmp = Path(tempfile.mkdtemp(prefix="synthstream-bench-emb-"))
    rows = []
    try:
        client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
        t = time.perf_counter()
        resp = client.completions.create(model="gemma3-270m", prompt="Once upon a time", max_tokens=256,
                                          temperature=0.8, seed=1)
        dt = time.perf_counter() - t
        tps = resp.usage.completion_tokens / dt
        print(f"embedded model: {resp.usage.completion_tokens} tokens in {dt:.2f} s = {tps:.1f} tokens/s "
              "(one 256-token completion)")
        for name in sorted(TASKS):
            spec_path = tmp / f"{name}.yaml"
            spec_path.write_text(yaml.safe_dump({
                "dataset": {"name": f"bench-{name.replace('.', '-')}", "version": "1"}, "seed": 13,
                "count": per_task,
                "model": {"name": "gemma3-270m", "api": "completion",
                          "sampling": {"max_tokens": 160, "temperature": 0.3}},
                "tasks": [task_entry(name)]}))
            out = tmp / f"{name}.jsonl"
            env = dict(os.environ, SYNTHSTREAM_TOPIC_PREFIX=f"bemb{uuid.uuid4().hex[:6]}.", COLUMNS="160")
            proc = subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "run", "--spec", str(spec_path),
                                   "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{name}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
            elapsed = next(float(line.split("│")[2].split()[0]) for line in proc.stdout.splitlines()
                           if "elapsed (first prompt" in line)
            records = [json.loads(line) for line in out.read_text().splitlines()]
            outcomes = {k: next((int(line.split("│")[2]) for line in proc.stdout.splitlines()
                                 if f"│   {k} " in line), 0) for k in ("accepted", "rejected", "duplicate")}
            rate = len(records) * 60 / elapsed
            rows.append((name, per_task, outcomes, elapsed, rate))
            print(f"  {name:26s} {per_task} prompts: accepted {outcomes['accepted']:2d} rejected "
                  f"{outcomes['rejected']:2d} duplicate {outcomes['duplicate']:2d} in {elapsed:6.1f} s "
                  f"= {rate:5.2f} accepted records/min, {per_task * 60 / elapsed:5.2f} prompts/min")
        total_acc = sum(r[2]["accepted"] for r in rows)
        total_t = sum(r[3] for r in rows)
        print(f"embedded: {total_acc} accepted of {per_task * len(rows)} prompts in {total_t:.0f} s of runs "
              f"= {total_acc * 60 / total_t:.1f} accepted records/min over all tasks; {tps:.1f} tokens/s")
    finally:
        if own_server:
            server.stop()
        if broker is not None:
            broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=1, help="generation worker processes (they share the "
                                                                "concurrency)")
    parser.add_argument("--http", choices=["aiohttp", "httpx"], default="aiohttp",
                        help="the worker's SYNTHSTREAM_LLM_HTTP_CLIENT")
    parser.add_argument("--embedded", action="store_true")
    parser.add_argument("--per-task", type=int, default=6)
    args = parser.parse_args()
    if args.embedded:
        embedded(args.per_task)
        return
    server, url = start_fake_server(args.latency_ms)
    settings = KafkaSettings()
    broker = None
    tmp = Path(tempfile.mkdtemp(prefix="synthstream-bench-llm-"))
    try:
        spec_path = bench_spec(tmp)
        spec = load_spec(spec_path)
        # the same prompt texts the agent sends: the task's completion prompt for each planned prompt
        from synthstream.agents.families import TASKS
        task = TASKS["math.linear"]
        texts = []
        for p in plan_prompts(spec, args.requests, "bench", 0):
            problem = task.problem(p, __import__("random").Random(p["seed"]))  # type: ignore[attr-defined]
            texts.append(f"{task.few_shot(p, 4)}Problem: {problem.statement}\nSolution:")  # type: ignore[attr-defined]
        d_elapsed = asyncio.run(direct(url, texts, args.concurrency))
        d_rate = args.requests / d_elapsed
        print(f"direct: {args.requests} requests in {d_elapsed:.2f} s = {d_rate:.0f} req/s "
              f"(concurrency {args.concurrency}, server latency {args.latency_ms:.0f} ms)")
        l_elapsed = asyncio.run(direct(url, texts, args.concurrency, lean=True))
        l_rate = args.requests / l_elapsed
        print(f"direct, the model client's HTTP path (post, aiohttp): {args.requests} requests in {l_elapsed:.2f} s "
              f"= {l_rate:.0f} req/s")
        if settings.local:
            broker = LocalKafka(settings)
            if broker.status().running:
                broker = None
            else:
                broker.start()
        p_elapsed, seen = through_pipeline(settings.bootstrap_servers, url, spec_path, args.requests, args.concurrency,
                                           args.workers, args.http)
        p_rate = args.requests / p_elapsed
        print(f"pipeline: {args.requests} prompts (one request each) through {args.workers} generation worker(s) in "
              f"{p_elapsed:.2f} s = {p_rate:.0f} req/s over {args.http}; "
              f"generations by model (every 50th) {dict(seen)}")
        print(f"same-path ratio: {p_rate / l_rate:.3f} (pipeline {p_rate:.0f} req/s, direct on the model client's "
              f"HTTP path {l_rate:.0f} req/s)")
        print(f"llm_client_ratio: {p_rate / d_rate:.3f} (pipeline {p_rate:.0f} req/s, direct {d_rate:.0f} req/s)")
    finally:
        if broker is not None:
            broker.stop()
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    from synthstream.streams.runtime.procs import main_stopping_on_signals

    main_stopping_on_signals(main)  # SIGTERM and SIGHUP stop what it started, as Ctrl-C does

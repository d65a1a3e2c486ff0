"""Model-backed generation through the real broker: a 429 storm from a misbehaving server loses
and duplicates nothing, a server that keeps failing ends in dead letters with its error, and the
embedded model serves every task."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pytest
import yaml

from synthstream.streams.runtime.kafka_io import read_to_end
from synthstream.streams.app.outcomes import OutcomeWatcher
from synthstream.streams.app.producer import make_producer, plan_prompts, plan_seeded, publish
from synthstream.streams.app.seeds import read_rows
from synthstream.streams.runtime.serde import registry
from synthstream.streams.runtime.settings import LLMSettings
from synthstream.agents.spec import load_spec
from tests.fakellm import FakeLLM, Fault
from tests.integration.conftest import free_port, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def write_spec(tmp_path: Path, tasks: list[dict], model: dict | None = None, name: str = "it-model",
               **extra: object) -> Path:
    spec = {"dataset": {"name": name, "version": "1"}, "seed": 7,
            "model": model or {"name": "fake-model", "api": "completion", "sampling": {"max_tokens": 32}},
            "tasks": tasks, **extra}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


LINEAR = {"name": "math.linear", "weight": 1, "dimensions": {"difficulty": {"basic": 1}}, "params": {"samples": 1}}


def run_prompts(bootstrap: str, names, spec_path: Path, count: int, proc, timeout_s: float) -> tuple[OutcomeWatcher, list[str]]:
    serde, spec = registry(), load_spec(spec_path)
    watcher = OutcomeWatcher(bootstrap, names, serde)
    watcher.seek_to_beginning()
    producer = make_producer(bootstrap)
    try:
        ids = publish(producer, names.prompts, serde, plan_prompts(spec, count, "m", int(time.time() * 1000)))
    finally:
        producer.close()
    pending = set(ids)
    ok = wait_until(lambda: watcher.poll(pending) >= 0 and not pending, timeout_s)
    assert ok, f"{len(pending)} prompts without outcome; worker log:\n{proc.log_path.read_text()[-4000:]}"
    return watcher, ids


def generations(bootstrap: str, names) -> list[dict]:
    """Every generation the worker made: the generations topic has those it did not verify itself
    (SYNTHSTREAM_WORKER_FUSE), each verdict holds the one it judged."""
    serde = registry()
    gens = [serde.decode(m.value, "Generation")[1] for m in read_to_end(bootstrap, names.generations)]
    verdicts = [serde.decode(m.value, "Verdict")[1] for m in read_to_end(bootstrap, names.verdicts)]
    return gens + [v["generation"] for v in verdicts]


def test_a_429_storm_loses_and_duplicates_nothing(names, bootstrap, worker_factory, tmp_path):
    with FakeLLM(latency_s=0.01) as llm:
        spec = write_spec(tmp_path, [LINEAR])
        proc = worker_factory(names, spec, free_port(), SYNTHSTREAM_LLM_BASE_URL=llm.url,
                              SYNTHSTREAM_LLM_MAX_CONCURRENCY="16", SYNTHSTREAM_LLM_INITIAL_CONCURRENCY="16",
                              SYNTHSTREAM_LLM_BACKOFF_BASE_S="0.02", SYNTHSTREAM_LLM_BACKOFF_MAX_S="0.5",
                              SYNTHSTREAM_LLM_MAX_RETRIES="30")
        # the worker's start-up probe (one completion) comes first; the storm starts after it
        assert wait_until(lambda: len(llm.requests) >= 1, 60), proc.log_path.read_text()[-2000:]
        probes = len(llm.requests)
        llm.add(Fault("429", times=150, retry_after="0.05"))
        watcher, ids = run_prompts(bootstrap, names, spec, 80, proc, 180)
        assert llm.outcomes["429"] == 150 and llm.outcomes["ok"] == 80 + probes
    assert sum(watcher.counts.values()) == 80 and watcher.counts["DEAD_LETTER"] == 0
    gens = generations(bootstrap, names)
    per_prompt = Counter(g["prompt_id"] for g in gens)
    assert set(per_prompt) == set(ids) and max(per_prompt.values()) == 1  # one generation per prompt
    assert all(g["usage"]["requests"] == 1 and g["usage"]["attempts"] >= 1 for g in gens)
    assert sum(g["usage"]["attempts"] for g in gens) == 80 + 150  # every 429 was retried, once each
    assert all(g["lineage"]["model"] == "fake-model" and g["lineage"]["generator"] == "math.linear@3" for g in gens)


def test_a_server_that_keeps_failing_ends_in_dead_letters_with_its_error(names, bootstrap, worker_factory, tmp_path):
    with FakeLLM() as llm:
        llm.add(Fault("500", times=None))
        spec = write_spec(tmp_path, [LINEAR])
        proc = worker_factory(names, spec, free_port(), SYNTHSTREAM_LLM_BASE_URL=llm.url,
                              SYNTHSTREAM_LLM_MAX_RETRIES="2", SYNTHSTREAM_LLM_BACKOFF_BASE_S="0.01")
        watcher, ids = run_prompts(bootstrap, names, spec, 10, proc, 120)
    assert watcher.counts["DEAD_LETTER"] == 10
    assert all(d["reason"] == "backend_exhausted" and "HTTP 500" in d["detail"] and "3 attempts" in d["detail"]
               for d in watcher.dead_letters)
    assert {d["prompt_id"] for d in watcher.dead_letters} == set(ids)
    assert all(d["original_value"] for d in watcher.dead_letters)  # the prompt itself is kept for a replay
    assert "gave no completion" in proc.log_path.read_text()  # said at start-up, before the retries


def test_malformed_and_truncated_replies_end_in_an_outcome(names, bootstrap, worker_factory, tmp_path):
    with FakeLLM() as llm:
        llm.add(Fault("malformed", times=5), Fault("truncated", times=5), Fault("drop", times=5),
                Fault("bad_usage", times=5))
        spec = write_spec(tmp_path, [LINEAR])
        proc = worker_factory(names, spec, free_port(), SYNTHSTREAM_LLM_BASE_URL=llm.url,
                              SYNTHSTREAM_LLM_BACKOFF_BASE_S="0.01", SYNTHSTREAM_LLM_MAX_RETRIES="20")
        watcher, _ = run_prompts(bootstrap, names, spec, 20, proc, 120)
    assert sum(watcher.counts.values()) == 20 and watcher.counts["DEAD_LETTER"] == 0


@pytest.fixture(scope="session")
def embedded_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded model server, as `synthstream run` starts it (skipped only outside CI when the
    local-llm extra is not installed)."""
    from synthstream.streams.app.llm_local.launcher import LocalLLM

    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI must install the local-llm extra (make setup does)")
        pytest.skip("the local-llm extra is not installed (make setup installs it)")
    settings = LLMSettings(base_url=None, embedded_port=free_port(),
                           embedded_state_dir=tmp_path_factory.mktemp("llm"))
    server = LocalLLM(settings)
    server.start()
    yield server.url
    server.stop()


@pytest.mark.timeout(960)  # its own wait below is 900 s, and says which prompts are missing
def test_every_task_through_the_pipeline_with_the_embedded_model(names, bootstrap, worker_factory, tmp_path,
                                                                  embedded_llm):
    from synthstream.agents.families import TASKS

    tasks = []
    every = {n: t for n, t in TASKS.items() if n != "code.seeded"}  # through the pipeline in test_seeds.py
    for name, task in sorted(every.items()):
        entry: dict = {"name": name, "weight": 1}
        if name == "math.open":
            entry.update(dimensions={"difficulty": {"easy": 1}}, params={"samples": 2})
        elif name == "math.seeded":  # its problems come from the bundled seed rows
            entry.update(params={"samples": 1})
        elif name == "template.text":  # a task defined in the spec: free text over a dimension
            entry.update(params={"template": "Write one short, true sentence about {{ topic }}."},
                         dimensions={"topic": {"rivers": 1, "volcanoes": 1}})
        elif name.startswith("math."):
            entry.update(dimensions={"difficulty": {"basic": 1}}, params={"samples": 1, "few_shot": 2})
        elif name == "code.python":
            entry.update(dimensions={"source": {"catalogue": 1, "model": 1}, "difficulty": {"easy": 1}})
        elif name == "dialogue.chat":
            entry.update(dimensions={"turns": {"2": 1}})
        elif name == "dialogue.grounded":  # about a passage of the bundled corpus, one exchange
            entry.update(dimensions={"turns": {"1": 1}, "domain": {"science": 1, "geography": 1}})
        tasks.append(entry)
    rows = ROOT / "specs" / "seeds" / "word-problems.jsonl"
    spec_path = write_spec(tmp_path, tasks, {"name": "gemma3-270m", "api": "completion",
                                             "sampling": {"max_tokens": 64, "temperature": 0.3}}, name="it-embedded",
                           seeds={"path": str(rows), "fields": {"question": "problem", "answer": "solution"},
                                  "task": "math.seeded"})
    spec = load_spec(spec_path)
    serde = registry()
    # exactly 10 prompts of every task: plan more and keep the first 10 of each
    planned: dict[str, list] = {t: [] for t in every}
    for p in plan_prompts(spec, 400, "emb", int(time.time() * 1000)):
        if len(planned[p["task"]]) < 10:
            planned[p["task"]].append(p)
    planned["math.seeded"] = list(islice(plan_seeded(spec, read_rows(str(rows)), "emb", int(time.time() * 1000),
                                                     str(rows)), 10))
    prompts = [p for ps in planned.values() for p in ps]
    assert len(prompts) == 10 * len(every)
    proc = worker_factory(names, spec_path, free_port(), SYNTHSTREAM_LLM_BASE_URL=embedded_llm,
                          SYNTHSTREAM_LLM_MAX_CONCURRENCY="2", SYNTHSTREAM_LLM_INITIAL_CONCURRENCY="2")
    watcher = OutcomeWatcher(bootstrap, names, serde)
    watcher.seek_to_beginning()
    producer = make_producer(bootstrap)
    try:
        ids = publish(producer, names.prompts, serde, iter(prompts))
    finally:
        producer.close()
    pending = set(ids)
    assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending, 900, step_s=1.0), (
        f"{len(pending)} prompts without outcome; worker log:\n{proc.log_path.read_text()[-4000:]}")
    assert watcher.counts["DEAD_LETTER"] == 0, watcher.dead_letters[:3]
    gens = generations(bootstrap, names)
    assert Counter(g["task"] for g in gens) == {t: 10 for t in every}
    for g in gens:
        assert g["usage"]["requests"] >= 1 and g["usage"]["completion_tokens"] > 0, g["prompt_id"]
        assert g["lineage"]["model"] == "gemma3-270m" and g["lineage"]["generator"].startswith(g["task"])
        assert g["lineage"]["spec_hash"] == spec.spec_hash and g["samples"]
    accepted = [serde.decode(m.value, "AcceptedRecord")[1] for m in read_to_end(bootstrap, names["accepted-records"])]
    assert accepted, "the embedded model had no record accepted at all"
    for record in accepted:
        assert record["usage"]["model"] == "gemma3-270m" and record["lineage"]["verifier"]
        assert record["messages"][0]["role"] == "user" and record["lineage"]["accepted_at"]

"""Publishes Prompt events sampled from a spec, or made from a seed data set's rows (kafka-python)."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any

import xxhash

from synthstream.streams import __version__
from synthstream.streams.runtime import kafka_io
from synthstream.streams.runtime.errors import PoisonRecord
from synthstream.streams.runtime.serde import SchemaRegistry
from synthstream.agents.spec import Spec

logger = logging.getLogger(__name__)


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    names = sorted(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def plan_prompts(spec: Spec, count: int, run_id: str, now_ms: int, start: int = 0,
                 factors: dict[str, dict[str, float]] | None = None) -> Iterator[dict[str, Any]]:
    """Prompt records for indices start..start+count-1.

    Every choice and the generation seed derive from (spec, spec seed, run id, index): two
    runs give different problems, and the same run id reproduces a run exactly. The
    generator seeds itself from the prompt's seed, so replaying a prompt is deterministic.
    ``factors`` (dimension -> category -> multiplier, 'task' included) re-weight the spec's
    sampling: the closed loop of ``produce --follow-bias``.
    """
    from synthstream.agents.families import TASKS

    spec_hash = spec.spec_hash
    factors = factors or {}
    sampled = [t for t in spec.tasks if not TASKS[t.name].seed_fields]  # seeded tasks come from plan_seeded only
    if not sampled:
        raise ValueError(f"every task of {spec.dataset.name} takes its problems from a seed data set; "
                         "publish its rows (produce --from FILE, or the spec's seeds section)")
    tasks = {t.name: t for t in sampled}
    task_weights = {t.name: t.weight * factors.get("task", {}).get(t.name, 1.0) for t in sampled}
    dim_weights = {t.name: {dim: {c: w * factors.get(dim, {}).get(c, 1.0) for c, w in ws.items()}
                            for dim, ws in t.dimensions.items()} for t in spec.tasks}
    for index in range(start, start + count):
        rng = random.Random(f"{spec_hash}:{spec.seed}:{run_id}:{index}")
        task = tasks[_weighted(rng, task_weights)]
        dims = {dim: _weighted(rng, w) for dim, w in sorted(dim_weights[task.name].items())}
        yield {
            "prompt_id": f"{spec.dataset.name}-{run_id}-{index:08d}",
            "task": task.name,
            "seed": xxhash.xxh64_intdigest(f"{spec.seed}:{run_id}:{index}".encode()) >> 1,
            "instruction": rng.choice(task.effective_instructions),
            "dimensions": dims,
            "params": {k: v if isinstance(v, str) else json.dumps(v) for k, v in sorted(task.params.items())},
            "threshold": spec.threshold_for(task),
            "model": spec.model_config_for(task),
            "lineage": {
                "dataset": spec.dataset.name, "dataset_version": spec.dataset.version, "spec_hash": spec_hash,
                "producer_version": f"synthstream@{__version__}", "prompted_at": now_ms,
            },
        }


def plan_seeded(spec: Spec, rows: Iterator[Any], run_id: str, now_ms: int, source: str,
                skip: set[str] | None = None) -> Iterator[dict[str, Any] | Any]:
    """Prompts made from a seed data set's rows (streams/app/seeds.py), ``seeds.per_row`` each;
    a row that cannot make one is yielded as its BadRow, and ``skip`` holds prompt ids already
    published (a resumed run). The task is ``seeds.task`` or drawn by the tasks' weights; every
    other choice is drawn as ``plan_prompts`` does, from (spec, seed, run id, row, k), so a
    re-run with the same run id makes the same prompts."""
    from synthstream.agents.families import TASKS
    from synthstream.streams.app.seeds import BadRow, map_row, row_hash

    seeds = spec.seeds
    if seeds is None:
        raise ValueError("plan_seeded needs a spec with a seeds section")
    spec_hash, skip = spec.spec_hash, skip or set()
    tasks = {t.name: t for t in spec.tasks}
    weights = {t.name: t.weight for t in spec.tasks}
    for row in rows:
        if isinstance(row, BadRow):
            yield row
            continue
        mapped = map_row(row, seeds.fields)
        if isinstance(mapped, BadRow):
            yield mapped
            continue
        for k in range(seeds.per_row):
            prompt_id = f"{spec.dataset.name}-{run_id}-r{row.number:08d}" + (f"-{k}" if seeds.per_row > 1 else "")
            if prompt_id in skip:
                continue
            rng = random.Random(f"{spec_hash}:{spec.seed}:{run_id}:row{row.number}:{k}")
            task = tasks[seeds.task or _weighted(rng, weights)]
            generator = TASKS[task.name]
            params = {**{k2: v if isinstance(v, str) else json.dumps(v) for k2, v in sorted(task.params.items())},
                      **mapped}
            why = generator.check_seed(mapped)
            if why is None:
                try:
                    generator.params(params)
                except PoisonRecord as exc:  # the row's values do not fit the task's params
                    why = exc.detail
            if why is not None:
                yield BadRow(row.number, why)
                break
            dims = {dim: _weighted(rng, w) for dim, w in sorted(task.dimensions.items())}
            yield {
                "prompt_id": prompt_id,
                "task": task.name,
                "seed": xxhash.xxh64_intdigest(f"{spec.seed}:{run_id}:row{row.number}:{k}".encode()) >> 1,
                "instruction": rng.choice(task.effective_instructions),
                "dimensions": dims,
                "params": params,
                "threshold": spec.threshold_for(task),
                "model": spec.model_config_for(task),
                "lineage": {
                    "dataset": spec.dataset.name, "dataset_version": spec.dataset.version, "spec_hash": spec_hash,
                    "producer_version": f"synthstream@{__version__}", "prompted_at": now_ms,
                    "seed_source": source, "seed_row": row.number, "seed_hash": row_hash(row),
                },
            }


def published_ids(bootstrap: str, topic: str, prefix: str, timeout_s: float = 120.0) -> set[str]:
    """Prompt ids starting with ``prefix`` already in the prompts topic (its keys; nothing decoded)."""
    found = set()
    for msg in kafka_io.read_to_end(bootstrap, topic, timeout_s=timeout_s, purpose="produce-resume"):
        key = (msg.key or b"").decode("utf-8", "replace")
        if key.startswith(prefix):
            found.add(key)
    return found


def make_producer(bootstrap: str) -> Any:
    return kafka_io.producer(bootstrap, "producer")


def publish(producer: Any, topic: str, serde: SchemaRegistry, prompts: Iterator[dict[str, Any]],
            on_sent: Callable[[int], None] | None = None) -> list[str]:
    """Send every prompt keyed by prompt id; flush and raise if any send failed."""
    ids, futures = [], []
    for prompt in prompts:
        futures.append(producer.send(topic, key=prompt["prompt_id"].encode(), value=serde.encode("Prompt", prompt)))
        ids.append(prompt["prompt_id"])
        if on_sent is not None:
            on_sent(len(ids))
    producer.flush()
    for fut in futures:
        fut.get(timeout=30)  # surfaces any delivery error instead of losing the prompt
    return ids


class BiasFollower:
    """Reads bias-reports (kafka-python) from the moment it is created, for one data set."""

    def __init__(self, bootstrap: str, topic: str, serde: SchemaRegistry, dataset: str) -> None:
        self.serde, self.dataset = serde, dataset
        self.consumer = kafka_io.consumer(bootstrap, "follow-bias")
        kafka_io.assign_at_end(self.consumer, [topic])  # "end" resolved now, not at the first poll

    def wait_for_batch(self, since_ms: int, timeout_s: float, quiet_s: float) -> list[dict[str, Any]]:
        """The reports of windows that started at or after ``since_ms``, until one closed by
        idleness (the batch is done) or ``quiet_s`` without a new one after the first, or the
        timeout."""
        import time

        from synthstream.streams.runtime.errors import DecodeError

        reports: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            if last is not None and time.monotonic() - last > quiet_s:
                break
            for messages in self.consumer.poll(timeout_ms=200).values():
                for msg in messages:
                    try:
                        _, report = self.serde.decode(msg.value, "BiasReport")
                    except DecodeError as exc:
                        logger.warning("follow-bias: skipping undecodable report: %s", exc)
                        continue
                    if report["dataset"] == self.dataset and report["window_start"] >= since_ms:
                        reports.append(report)
                        last = time.monotonic()
            if reports and reports[-1]["closed_by"] == "idle":
                break
        return reports

    def close(self) -> None:
        self.consumer.close()


def publish_following_bias(producer: Any, follower: BiasFollower, topic: str, serde: SchemaRegistry, spec: Spec,
                           count: int, run_id: str, batch: int, wait_s: float,
                           say: Callable[[str], None]) -> list[str]:
    """``produce --follow-bias``: publish in batches; after each, re-weight the sampling from
    that batch's bias reports (synthstream.agents.bias.reweight) and say what was seen and steered."""
    import time

    from synthstream.agents.bias.core import psi
    from synthstream.agents.bias.reweight import Reweighter, merge

    targets = spec.targets()
    loop = Reweighter(targets)
    ids: list[str] = []
    number = 0
    while len(ids) < count:
        number += 1
        started = int(time.time() * 1000)
        ids += publish(producer, topic, serde, plan_prompts(spec, min(batch, count - len(ids)), run_id, started,
                                                            start=len(ids), factors=loop.factors))
        reports = follower.wait_for_batch(started, timeout_s=wait_s, quiet_s=min(wait_s, 15.0))
        if not reports:
            say(f"batch {number}: no bias report within {wait_s:.0f}s (is a worker with the bias stage running?); "
                "weights unchanged")
            continue
        observed = merge(reports)
        drift = ", ".join(f"{d} PSI {psi(o, targets[d]):.3f}" for d, o in sorted(observed.items()) if d in targets)
        loop.update(observed)
        steer = "; ".join(f"{d}: " + ", ".join(f"{c} x{f:.2f}" for c, f in sorted(fs.items()))
                          for d, fs in sorted(loop.factors.items()))
        say(f"batch {number}: {sum(r['records'] for r in reports)} accepted, {drift} -> {steer or 'nothing to steer'}")
    return ids

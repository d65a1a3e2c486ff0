"""A task family is the unit: one module's worth of declarations, registered once, and every
stage treats its tasks accordingly. Here a small family of the test's own (unit conversion, with
a computed answer) goes through all four stages' cores; no stage knows its name."""

from __future__ import annotations

import ast
import asyncio
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from synthstream.agents.bias.store import BiasMonitor, Recovery
from synthstream.agents.dedup import core as dedup_core
from synthstream.agents.dedup.core import DedupIndex
from synthstream.agents.dedup.fields import DedupFields, dedup_route
from synthstream.agents.deps import DatasetConfig
from synthstream.agents.families import REGISTRY, TASKS, BiasView, TaskFamily, default_fields, default_weights
from synthstream.agents.generation import core as generation_core
from synthstream.agents.generation.tasks.base import Output, Params, Task
from synthstream.agents.spec import parse_spec
from synthstream.agents.verification import core as verification_core
from synthstream.agents.verification.checks import Checked
from synthstream.streams.runtime.records import Reason
from tests.records import LINEAGE

ROOT = Path(__file__).resolve().parents[2]


# ---- the whole family: a generator, a verifier and the declaration -------------------------------

class ConvertTask(Task):
    name = "units.convert"
    summary = "convert a length between units, with the exact answer computed"
    dimensions = {"unit": ("km", "cm")}
    solvers = ("procedural",)
    params_model = Params
    default_instructions = ("Convert the length to metres.",)

    async def run(self, prompt: dict[str, Any], params: Any, model: Any, rng: random.Random) -> Output:
        unit = prompt["dimensions"].get("unit", "km")
        n = rng.randint(2, 99)
        metres = Fraction(n * 1000) if unit == "km" else Fraction(n, 100)
        problem = f"{prompt['instruction']} {n} {unit}"
        return Output(problem=problem, response=f"{metres} m", answer=str(metres), reference_answer=str(metres))


def verify_conversion(gen: dict[str, Any], _sandbox: Any = None, _limits: Any = None) -> Checked:
    if Fraction(gen["answer"]) != Fraction(gen["reference_answer"]):
        return Checked(False, 0.0, [Reason("answer_wrong", f"{gen['answer']} m")], "units.exact@1")
    return Checked(True, 1.0, [], "units.exact@1", veto=False)


UNITS = TaskFamily(name="units", summary="unit conversions", tasks=(ConvertTask(),), verify=verify_conversion,
                   verifier="units.exact@1", gate_weights={"task": 1.0},
                   dedup=DedupFields(("problem",), ("task", "answer")), bias=BiasView(roles=("user", "assistant")))


def prompt(i: int, unit: str = "km", seed: int | None = None) -> dict[str, Any]:
    return {"prompt_id": f"u-{i}", "task": "units.convert", "seed": i if seed is None else seed,
            "instruction": "Convert to metres:", "dimensions": {"unit": unit}, "params": {}, "threshold": 0.85,
            "lineage": LINEAGE, "model": None}


@pytest.fixture
def units():
    with REGISTRY.registered(UNITS) as family:
        yield family
    assert "units.convert" not in TASKS


def test_a_new_family_goes_through_all_four_stages(units):
    config = DatasetConfig("t", targets={"unit": {"km": 0.5, "cm": 0.5}})
    clock = iter(range(1_800_000_000_000, 1_800_000_100_000, 10))
    # generation
    gens = [asyncio.run(generation_core.generate(prompt(i, unit), None, lambda: next(clock)))
            for i, unit in ((1, "km"), (2, "cm"), (3, "km"))]
    gens.append(asyncio.run(generation_core.generate(prompt(4, seed=1), None, lambda: next(clock))))  # = u-1's
    assert gens[0]["lineage"]["generator"] == "units.convert@1" and gens[0]["lineage"]["model"] == "procedural"
    wrong = dict(gens[2], prompt_id="u-5", answer="1")
    # verification: the family's verifier and weights, the dedup scope's partition
    verified = []
    for gen in (*gens, wrong):
        verifier, decision = verification_core.assess(gen, config, None, [])
        verified.append(verification_core.verdict(gen, verifier, decision, config, 4, next(clock)))
    assert [v.verdict["accepted"] for v in verified] == [True, True, True, True, False]
    assert verified[0].verdict["generation"]["lineage"]["verifier"] == "units.exact@1"
    assert verified[4].reason_code == "answer_wrong" and verified[4].outcome["outcome"] == "REJECTED"
    route = dedup_route(gens[0], config.dedup("units.convert"), 4)
    assert verified[0].partition == route.partition and route.text == gens[0]["problem"]
    assert route.scope.split("\x1f")[1:] == ["units convert", gens[0]["answer"]]
    # dedup: u-4 is u-1 again (the same seed), from another prompt
    index = DedupIndex()
    admitted = [dedup_core.admit(v.verdict, index, dedup_route(v.verdict["generation"], config.dedup("units.convert"),
                                                                 4), None, next(clock)) for v in verified[:4]]
    # kept records are their prompts' ACCEPTED outcomes (no outcome message); the copy is DUPLICATE
    assert [(a.record is not None, a.outcome and a.outcome["outcome"]) for a in admitted] == [
        (True, None), (True, None), (True, None), (False, "DUPLICATE")]
    assert admitted[3].record is None and admitted[3].outcome["record_id"] == admitted[0].record["record_id"]
    assert admitted[0].entry["task"] == "units.convert" and admitted[0].kind == "accepted"
    # bias: what the family says it reads (both turns here), against the data set's targets
    monitor = BiasMonitor(Recovery(None, "r", "a", None, 1000), lambda ds: config.targets, 3, 60, 3, 0.1, 0.2,
                          lambda: 1_800_000_200_000)
    reports = []
    for offset, a in enumerate(x for x in admitted if x.record is not None):
        counted, closed = monitor.observe(a.record, (0, offset))
        assert counted
        reports += closed
    [report] = reports
    shares = {d["dimension"]: d["observed"] for d in report.dimensions}
    assert shares["unit"] == {"cm": pytest.approx(1 / 3), "km": pytest.approx(2 / 3)}
    assert shares["task"] == {"units.convert": 1.0}
    assert report.diversity["mean_length"] > len(admitted[0].record["messages"][1]["content"])  # user turn too


def test_a_spec_may_name_a_registered_family_s_tasks(units):
    spec = parse_spec({"dataset": {"name": "u", "version": "1"},
                       "tasks": [{"name": "units.convert", "weight": 1, "dimensions": {"unit": {"km": 1}}}]})
    assert spec.tasks[0].effective_solver == "procedural"
    assert default_weights("units.convert") == {"task": 1.0} and default_fields("units.convert") == UNITS.dedup
    with pytest.raises(Exception, match="unknown categories"):
        parse_spec({"dataset": {"name": "u", "version": "1"},
                    "tasks": [{"name": "units.convert", "weight": 1, "dimensions": {"unit": {"mile": 1}}}]})


def test_the_registry_refuses_a_task_two_families_claim(units):
    twin = TaskFamily(name="twin", summary="x", tasks=(ConvertTask(),), verify=verify_conversion, verifier="v",
                      gate_weights={"task": 1.0}, dedup=DedupFields(("problem",), ("task",)))
    with pytest.raises(ValueError, match="belong to another family"):
        REGISTRY.register(twin)
    assert "twin" not in REGISTRY.families


def test_every_builtin_task_has_exactly_one_family():
    for name in TASKS:
        assert name in {t.name for t in REGISTRY.family_of(name).tasks}
    assert {f.name for f in REGISTRY.families.values()} >= {"math", "code", "dialogue", "qa"}


STAGES = ("generation", "verification", "dedup", "bias")


def test_no_stage_dispatches_on_a_task_name_prefix():
    """The stages ask the registry; only the families (and the generators that define tasks)
    spell task names."""
    found = []
    for stage in STAGES:
        for path in (ROOT / "agents" / stage).rglob("*.py"):
            if "tasks" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                        (node.value in TASKS or node.value in {f"{f}." for f in REGISTRY.families}):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert found == []

"""The closed loop's core against a simulated pipeline that rejects categories unevenly."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from synthstream.agents.bias.core import psi
from synthstream.agents.bias.reweight import Reweighter, merge
from synthstream.streams.app.producer import plan_prompts
from synthstream.agents.spec import load_spec

TARGET = {"task": {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}}
ACCEPT = {"a": 1.0, "b": 0.5, "c": 0.2}  # b rejected half the time, c four times in five


def window(rng: random.Random, weights: dict[str, float], size: int = 200) -> dict:
    """One window of accepted records when prompts are sampled with ``weights``."""
    cats = sorted(weights)
    counts: Counter = Counter()
    while sum(counts.values()) < size:
        c = rng.choices(cats, [weights[k] for k in cats])[0]
        if rng.random() < ACCEPT[c]:
            counts[c] += 1
    observed = {c: counts[c] / size for c in cats}
    return {"records": size, "dimensions": [{"dimension": "task", "observed": observed, "target": TARGET["task"],
                                             "psi": psi(observed, TARGET["task"])}]}


def test_uneven_rejection_drifts_past_critical_without_the_loop_and_returns_with_it():
    rng = random.Random(1)
    base = {"a": 1.0, "b": 1.0, "c": 1.0}
    without = [window(rng, base)["dimensions"][0]["psi"] for _ in range(8)]
    assert min(without) > 0.2

    loop = Reweighter(TARGET)
    history = []
    for _ in range(8):
        report = window(rng, {c: base[c] * loop.factors["task"][c] for c in base})
        history.append(report["dimensions"][0]["psi"])
        loop.update(merge([report]))
    assert history[0] > 0.2
    settled = next(i for i, v in enumerate(history) if v <= 0.1)
    assert settled <= 3 and max(history[settled:]) <= 0.1, history
    f = loop.factors["task"]
    assert f["c"] > f["b"] > f["a"]  # the most rejected is sampled most
    assert f["c"] / f["a"] == pytest.approx(5.0, rel=0.35)  # 1 / 0.2 in the long run


def test_merge_weights_windows_by_records_and_skips_dimensions_without_targets():
    r1 = {"records": 100, "dimensions": [{"dimension": "task", "observed": {"a": 1.0}, "psi": 0.5},
                                         {"dimension": "style", "observed": {"x": 1.0}, "psi": None}]}
    r2 = {"records": 300, "dimensions": [{"dimension": "task", "observed": {"b": 1.0}, "psi": 0.5}]}
    assert merge([r1, r2]) == {"task": {"a": 0.25, "b": 0.75}}


def test_factors_are_bounded_and_single_category_dimensions_are_left_alone():
    loop = Reweighter({"task": {"a": 0.5, "b": 0.5}, "difficulty": {"easy": 1.0}})
    for _ in range(50):
        loop.update({"task": {"a": 1.0}, "difficulty": {"easy": 1.0}})  # b never accepted
    assert set(loop.factors) == {"task"} and 0.05 <= loop.factors["task"]["a"] < loop.factors["task"]["b"] <= 20
    with pytest.raises(ValueError):
        Reweighter(TARGET, gain=0)


def test_plan_prompts_follows_the_factors():
    spec = load_spec(Path(__file__).resolve().parents[1] / "fixtures" / "specs" / "drift.yaml")
    plain = Counter(p["task"] for p in plan_prompts(spec, 3000, "r", 0))
    steered = Counter(p["task"] for p in plan_prompts(spec, 3000, "r", 0,
                                                      factors={"task": {"math.percentage_word": 4.0}}))
    assert 800 < plain["math.percentage_word"] < 1200
    assert steered["math.percentage_word"] / 3000 == pytest.approx(4 / 6, abs=0.04)

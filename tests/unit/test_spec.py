from pathlib import Path

import pytest

from streams.errors import ConfigError
from streams.spec import load_spec, parse_spec

DEMO = Path(__file__).resolve().parents[2] / "specs" / "demo.yaml"


def test_demo_spec_loads_and_targets_sum_to_one():
    spec = load_spec(DEMO)
    assert spec.dataset.name == "demo-math" and spec.verification.threshold == 0.85
    for dim, shares in spec.targets().items():
        assert sum(shares.values()) == pytest.approx(1.0), dim
    assert len(spec.spec_hash) == 64 and spec.spec_hash == load_spec(DEMO).spec_hash


@pytest.mark.parametrize("mutate,field,words", [
    (lambda d: d["tasks"][0].update(name="poetry"), "tasks.0.name", "unknown task 'poetry'"),
    (lambda d: d["tasks"][0].update(weight=-1), "tasks.0.weight", "greater than 0"),
    (lambda d: d["tasks"][0]["dimensions"]["difficulty"].update(impossible=1), "tasks.0",
     "unknown categories ['impossible']"),
    (lambda d: d["verification"].update(threshold=2), "verification.threshold", "less than or equal to 1"),
    (lambda d: d.pop("dataset"), "dataset", "Field required"),
    (lambda d: d.update(extra_field=1), "extra_field", "Extra inputs are not permitted"),
])
def test_invalid_spec_names_file_field_and_expectation(tmp_path, mutate, field, words):
    import yaml

    data = yaml.safe_load(DEMO.read_text())
    mutate(data)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as exc:
        load_spec(bad)
    msg = str(exc.value)
    assert str(bad) in msg and f"field {field}" in msg and words in msg


def test_unreadable_and_non_yaml_specs(tmp_path):
    with pytest.raises(ConfigError, match="cannot read spec"):
        load_spec(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("tasks: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(broken)
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_spec(["a"], "x.yaml")


def test_prompt_plans_are_reproducible_per_run_and_differ_between_runs():
    from streams.producer import plan_prompts

    spec = load_spec(DEMO)
    a = list(plan_prompts(spec, 50, "run-a", 0))
    assert a == list(plan_prompts(spec, 50, "run-a", 0))
    b = list(plan_prompts(spec, 50, "run-b", 0))
    assert {p["seed"] for p in a}.isdisjoint({p["seed"] for p in b})
    assert all(p["prompt_id"] == f"demo-math-run-a-{i:08d}" for i, p in enumerate(a))
    shares = sum(p["dimensions"]["difficulty"] == "integer" for p in plan_prompts(spec, 2000, "r", 0)) / 2000
    assert shares == pytest.approx(0.4, abs=0.04)

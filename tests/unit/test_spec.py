from pathlib import Path

import pytest
import yaml

from synthstream.streams.runtime.errors import ConfigError
from synthstream.agents.spec import load_spec, parse_spec

DEMO = Path(__file__).resolve().parents[2] / "specs" / "procedural.yaml"


def test_demo_spec_loads_and_targets_sum_to_one():
    spec = load_spec(DEMO)
    assert spec.dataset.name == "procedural-math" and spec.verification.threshold == 0.85
    for dim, shares in spec.targets().items():
        assert sum(shares.values()) == pytest.approx(1.0), dim
    assert len(spec.spec_hash) == 64 and spec.spec_hash == load_spec(DEMO).spec_hash


@pytest.mark.parametrize("mutate,where,words", [
    (lambda d: d["tasks"][0].update(name="poetry"), "tasks[0].name", "unknown task 'poetry'; expected one of"),
    (lambda d: d["tasks"][0].update(weight=-1), "tasks[0].weight", "greater than 0"),
    (lambda d: d["tasks"][0]["dimensions"]["difficulty"].update(impossible=1), "tasks[0].dimensions",
     "unknown categories ['impossible']"),
    (lambda d: d["tasks"][0]["params"].update(error_rate=3), "tasks[0].params", "error_rate: Input should be less"),
    (lambda d: d["tasks"][0]["params"].update(colour="red"), "tasks[0].params", "colour: Extra inputs"),
    (lambda d: d["tasks"][0].update(solver="oracle"), "tasks[0].solver", "'model' or 'procedural'"),
    (lambda d: d["verification"].update(threshold=2), "verification.threshold", "less than or equal to 1"),
    (lambda d: d.pop("dataset"), "dataset", "Field required"),
    (lambda d: d.update(extra_field=1), "extra_field", "unknown field"),
    (lambda d: d.update(model={"api": "telepathy"}), "model.api", "'chat' or 'completion'"),
])
def test_invalid_spec_names_file_line_path_and_expectation(tmp_path, mutate, where, words):
    import yaml

    data = yaml.safe_load(DEMO.read_text())
    mutate(data)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as exc:
        load_spec(bad)
    msg = str(exc.value)
    assert f"{bad}:" in msg and f" {where}: " in msg and words in msg, msg


def test_error_line_points_at_the_offending_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: {name: x, version: '1'}\ntasks:\n  - name: math.linear\n    weight: 1\n"
                   "    dimensions: {difficulty: {integer: 1}}\n    params:\n      samples: 99\n")
    with pytest.raises(ConfigError) as exc:
        load_spec(bad)
    assert f"{bad}:6: tasks[0].params: math.linear params: samples: Input should be less than or equal to 9" \
        in str(exc.value)


def test_a_procedural_only_task_cannot_be_given_to_a_model_and_back(tmp_path):
    from synthstream.agents.spec import TaskSpec

    with pytest.raises(Exception, match="solver 'procedural' is not available"):
        from synthstream.agents.families import TASKS
        only_model = next((n for n, t in TASKS.items() if "procedural" not in t.solvers), None)
        if only_model is None:
            pytest.skip("every registered task has a procedural solver")
        TaskSpec(name=only_model, weight=1, solver="procedural")


def test_model_config_merges_task_overrides():
    from synthstream.agents.spec import Spec

    spec = Spec.model_validate({
        "dataset": {"name": "x", "version": "1"},
        "model": {"name": "m", "api": "chat", "sampling": {"temperature": 0.3, "max_tokens": 100}},
        "tasks": [{"name": "math.quadratic", "weight": 1, "dimensions": {"difficulty": {"easy": 1}},
                   "sampling": {"max_tokens": 50}},
                  {"name": "math.linear", "weight": 1, "solver": "procedural",
                   "dimensions": {"difficulty": {"integer": 1}}}]})
    cfg = spec.model_config_for(spec.tasks[0])
    assert cfg == {"name": "m", "api": "chat", "temperature": 0.3, "top_p": 0.95, "max_tokens": 50, "n": 1,
                   "stop": [], "seeded": True}
    assert spec.model_config_for(spec.tasks[1]) is None
    assert spec.needs_model


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
    from synthstream.streams.app.producer import plan_prompts

    spec = load_spec(DEMO)
    a = list(plan_prompts(spec, 50, "run-a", 0))
    assert a == list(plan_prompts(spec, 50, "run-a", 0))
    b = list(plan_prompts(spec, 50, "run-b", 0))
    assert {p["seed"] for p in a}.isdisjoint({p["seed"] for p in b})
    assert all(p["prompt_id"] == f"procedural-math-run-a-{i:08d}" for i, p in enumerate(a))
    shares = sum(p["dimensions"]["difficulty"] == "integer" for p in plan_prompts(spec, 2000, "r", 0)) / 2000
    assert shares == pytest.approx(0.4, abs=0.04)


SPECS = sorted((DEMO.parent).glob("*.yaml"))


def test_the_published_json_schema_is_generated_from_the_code():
    import json

    from synthstream.agents.spec import json_schema

    published = json.loads((DEMO.parent / "spec.schema.json").read_text())
    assert published == json_schema(), "run: synthstream spec schema --out specs/spec.schema.json"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_bundled_spec_is_valid_for_pydantic_and_the_json_schema(path):
    import json

    import jsonschema
    import yaml

    load_spec(path)
    schema = json.loads((DEMO.parent / "spec.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_the_bundled_examples_cover_every_task_family():
    names = {p.stem for p in SPECS}
    assert {"demo", "math", "code", "dialogue", "qa", "mixed"} <= names
    import yaml
    mixed = {t["name"].split(".")[0] for t in yaml.safe_load((DEMO.parent / "mixed.yaml").read_text())["tasks"]}
    demo = {t.name.split(".")[0] for t in load_spec(DEMO.parent / "demo.yaml").tasks}
    assert mixed == demo == {"math", "code", "dialogue", "qa"}


@pytest.mark.parametrize("mutate", [
    lambda d: d["tasks"][0].update(name="poetry"),
    lambda d: d["tasks"][0]["params"].update(error_rate=3),
    lambda d: d["tasks"][0]["dimensions"]["difficulty"].update(impossible=1),
    lambda d: d.update(model={"api": "telepathy"}),
])
def test_the_json_schema_rejects_what_pydantic_rejects(mutate):
    import json

    import jsonschema
    import yaml

    data = yaml.safe_load(DEMO.read_text())
    mutate(data)
    schema = json.loads((DEMO.parent / "spec.schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
    with pytest.raises(ConfigError):
        parse_spec(data)


def test_code_params_set_the_sandbox_limits_of_their_task(tmp_path):
    from synthstream.agents.spec import load_spec

    doc = yaml.safe_load((DEMO.parent / "code.yaml").read_text())
    doc["tasks"][0]["params"] = dict(doc["tasks"][0].get("params") or {}, timeout_s=2.5, memory_mb=256)
    path = tmp_path / "limits.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert load_spec(path).sandbox_limits() == {"code.python": {"wall_s": 2.5, "memory_mb": 256}}
    doc["tasks"][0]["params"]["timeout_s"] = 0.1
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="timeout_s"):
        load_spec(path)


def test_dedup_fields_default_per_family_and_a_task_can_override_them():
    data = yaml.safe_load(DEMO.read_text())
    data["tasks"][0]["dedup"] = {"text": ["problem", "response"], "scope": []}
    data["dedup"] = {"ratio": 95, "token_sort": 93}
    spec = parse_spec(data)
    fields = spec.dedup_fields()
    first = data["tasks"][0]["name"]
    assert fields[first].text == ("problem", "response") and fields[first].scope == ()
    others = [t["name"] for t in data["tasks"][1:] if t["name"].startswith("math.")]
    assert all(fields[t].scope == ("task", "equation", "answer") for t in others)
    assert (spec.dedup.ratio, spec.dedup.token_sort) == (95, 93)
    data["tasks"][0]["dedup"] = {"text": ["problme"]}
    with pytest.raises(ConfigError, match="unknown field"):
        parse_spec(data)


def test_the_semantic_dedup_tier_is_the_familys_default_and_a_task_can_switch_it():
    from synthstream.agents.families import default_fields

    assert default_fields("dialogue.chat").semantic and default_fields("qa.grounded").semantic
    assert not default_fields("math.linear").semantic and not default_fields("code.python").semantic
    data = yaml.safe_load(DEMO.read_text())
    first = data["tasks"][0]["name"]
    assert parse_spec(data).dedup_fields()[first].semantic == default_fields(first).semantic
    data["tasks"][0]["dedup"] = {"semantic": not default_fields(first).semantic}
    data["dedup"] = {"semantic": 0.9}
    spec = parse_spec(data)
    assert spec.dedup_fields()[first].semantic != default_fields(first).semantic and spec.dedup.semantic == 0.9
    data["dedup"] = {"semantic": 1.5}
    with pytest.raises(ConfigError, match="semantic"):
        parse_spec(data)


def test_sections_added_later_do_not_change_the_hash_of_a_spec_that_leaves_them_unset():
    """Prompts are seeded from the spec hash: a spec that does not use seeds, decontamination,
    a license or the semantic dedup threshold keeps the hash it had before they existed (the
    value below is the one main gave specs/procedural.yaml before them), so a run id reproduces
    its prompts across versions; setting one of them changes it."""
    spec = load_spec(DEMO)
    assert spec.spec_hash == "5648301cbce2479704892e5a8f82494a2327e89abe3d8e9fb3a928378587d7db"
    data = yaml.safe_load(DEMO.read_text())
    data["decontamination"] = {"humaneval": True, "ngram": 8}  # the defaults, spelled out
    assert parse_spec(data).spec_hash == spec.spec_hash
    data["decontamination"] = {"ngram": 13}
    assert parse_spec(data).spec_hash != spec.spec_hash

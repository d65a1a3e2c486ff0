"""The typed records (streams/runtime/records.py) stay in step with schemas/*.avsc: the same
records, the same field names in the same order, the same types."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from synthstream.streams.runtime import records

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
PRIMITIVE = {"string": str, "long": int, "int": int, "double": float, "float": float, "boolean": bool,
             "bytes": bytes}


def python_type(avro: typing.Any, named: dict[str, dict]) -> typing.Any:
    """The annotation a TypedDict field must have for this Avro type."""
    if isinstance(avro, list):
        branches = [python_type(b, named) for b in avro if b != "null"]
        [branch] = branches
        return branch | None if "null" in avro else branch
    if isinstance(avro, dict):
        kind = avro["type"]
        if kind == "array":
            return list[python_type(avro["items"], named)]
        if kind == "map":
            return dict[str, python_type(avro["values"], named)]
        if kind == "enum":
            return typing.Literal[tuple(avro["symbols"])]
        if kind == "record":
            named[avro["name"]] = avro
            return getattr(records, avro["name"])
        return python_type(kind, named)
    if avro in PRIMITIVE:
        return PRIMITIVE[avro]
    name = avro.rsplit(".", 1)[-1]
    named.setdefault(name, json.loads((SCHEMAS / f"{name}.avsc").read_text()))
    return getattr(records, name)


def all_records() -> dict[str, dict]:
    named: dict[str, dict] = {}
    for path in sorted(SCHEMAS.glob("*.avsc")):
        schema = json.loads(path.read_text())
        named[schema["name"]] = schema
    pending = list(named.values())
    while pending:  # nested record types (DimensionReport, DiversityStats) count too
        schema = pending.pop()
        for f in schema["fields"]:
            before = set(named)
            python_type(f["type"], named)
            pending += [named[n] for n in set(named) - before]
    return named


@pytest.mark.parametrize("name", sorted(all_records()))
def test_typed_record_matches_its_schema(name):
    schema = all_records()[name]
    typed = getattr(records, name, None)
    assert typed is not None, f"streams/runtime/records.py has no {name}"
    hints = typing.get_type_hints(typed)
    assert list(hints) == [f["name"] for f in schema["fields"]]
    for f in schema["fields"]:
        assert hints[f["name"]] == python_type(f["type"], {}), f"{name}.{f['name']}"


def test_a_wrong_type_is_caught():
    class Wrong(typing.TypedDict):
        role: int
        content: str

    assert typing.get_type_hints(Wrong)["role"] != python_type("string", {})
    assert python_type(["null", "string"], {}) == (str | None)
    assert python_type({"type": "array", "items": "io.synthstream.Message"}, {}) == list[records.Message]

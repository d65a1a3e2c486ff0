"""Verification's entry point: :func:`verify` runs the verifier the generation's task family
declares. Pure: no Kafka, no clock; a rejection is data (a ``Checked``), not an exception."""

from __future__ import annotations

from typing import Any

from synthstream.agents.families import REGISTRY, UnknownTask
from synthstream.agents.verification.checks import Checked
from synthstream.agents.verification.sandbox import Limits, Sandbox


def verify(gen: dict[str, Any], sandbox: Sandbox | None = None, limits: Limits | None = None) -> Checked:
    """The verdict on one Generation by its family's verifier; code runs in ``sandbox`` (without
    one, code is not run and not accepted)."""
    try:
        family = REGISTRY.family_of(gen["task"])
    except UnknownTask:
        return Checked(False, 0.0, [f"no_verifier: no verifier for task {gen['task']!r} yet"], "none")
    if gen.get("parse_error"):
        return Checked(False, 0.0, [f"unparseable: {gen['parse_error']}"], family.verifier)
    return family.verify(gen, sandbox, limits)

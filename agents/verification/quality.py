"""One generation through the task's verifier and the validators the gate weighs, to a Decision.

Only validators with a weight above 0 for the task run (the rest would cost time and decide
nothing); the task verifier always runs and is the validator named ``task``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synthstream.agents.verification import core
from synthstream.agents.verification.sandbox import Limits, Sandbox
from synthstream.agents.families import default_weights
from synthstream.agents.verification.validators import Decision, Judgement, Validator, decide


def task_judgement(checked: core.Checked) -> Judgement:
    return Judgement("task", checked.verifier, checked.score, list(checked.reasons), veto=checked.veto)


def assess(gen: dict[str, Any], sandbox: Sandbox | None, validators: Sequence[Validator],
           weights: Mapping[str, float] | None = None, extra: Sequence[Judgement] = (),
           limits: Limits | None = None) -> tuple[str, Decision]:
    """(the task verifier's name, the gate's decision) for one Generation; ``extra`` holds judgements
    made elsewhere (the LLM judge, which the agent awaits); ``limits`` are the spec's sandbox limits
    for a code task."""
    checked = core.verify(gen, sandbox, limits)
    weights = default_weights(gen["task"]) if weights is None else weights
    judgements = [task_judgement(checked)]
    judgements += [v.validate(gen) for v in validators if weights.get(v.name, 0.0) > 0]
    return checked.verifier, decide([*judgements, *extra], weights, gen["threshold"])

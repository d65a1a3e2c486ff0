"""The verification stage's core. :func:`verify` runs the verifier the generation's task family
declares; :func:`assess` adds the validators the data set's gate weighs; :func:`verdict` builds the
Verdict, its partition (the dedup scope's), whether it is sampled for review, and a rejection's
Outcome. Pure: no Kafka, the clock is passed in; a rejection is data, not an exception."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from synthstream.agents.dedup.fields import dedup_route
from synthstream.agents.families import REGISTRY, UnknownTask, default_weights
from synthstream.agents.verification import review
from synthstream.agents.verification.checks import Checked
from synthstream.agents.verification.sandbox import Limits, Sandbox
from synthstream.agents.verification.validators import Decision, Judgement, Validator, decide
from synthstream.streams.runtime.records import Generation, Outcome, Reason, Verdict, outcome

if TYPE_CHECKING:
    from synthstream.agents.deps import DatasetConfig


def verify(gen: dict[str, Any], sandbox: Sandbox | None = None, limits: Limits | None = None) -> Checked:
    """The verdict on one Generation by its family's verifier; code runs in ``sandbox`` (without
    one, code is not run and not accepted)."""
    try:
        family = REGISTRY.family_of(gen["task"])
    except UnknownTask:
        return Checked(False, 0.0, [Reason("no_verifier", f"no verifier for task {gen['task']!r} yet")], "none")
    if gen.get("parse_error"):
        return Checked(False, 0.0, [Reason("unparseable", gen["parse_error"])], family.verifier)
    return family.verify(gen, sandbox, limits)


def task_judgement(checked: Checked) -> Judgement:
    return Judgement("task", checked.verifier, checked.score, list(checked.reasons), veto=checked.veto)


def decide_generation(gen: dict[str, Any], sandbox: Sandbox | None, validators: Sequence[Validator],
                      weights: Mapping[str, float] | None = None, extra: Sequence[Judgement] = (),
                      limits: Limits | None = None) -> tuple[str, Decision]:
    """(the task verifier's name, the gate's decision) for one Generation. Only validators with a
    weight above 0 run (the rest would cost time and decide nothing); the task verifier always
    runs and is the validator named ``task``. ``extra`` holds judgements made elsewhere (the LLM
    judge); ``limits`` are the sandbox limits for a task that runs code."""
    checked = verify(gen, sandbox, limits)
    weights = default_weights(gen["task"]) if weights is None else weights
    judgements = [task_judgement(checked)]
    judgements += [v.validate(gen) for v in validators if weights.get(v.name, 0.0) > 0]
    return checked.verifier, decide([*judgements, *extra], weights, gen["threshold"])


# ---- the stage's core: a Generation to its Verdict, where it goes, and the prompt's outcome ----

STAGE = "verification"


def runs_code(task: str) -> bool:
    """Whether the task's family verifies by running code (the agent then keeps its event loop
    free while the sandbox works)."""
    family = REGISTRY.get(task)
    return family is not None and family.sandbox is not None


def assess(gen: Generation, config: DatasetConfig, sandbox: Sandbox | None, validators: Sequence[Validator],
           extra: Sequence[Judgement] = ()) -> tuple[str, Decision]:
    """Blocking (code runs in the sandbox): the task verifier's name and the gate's decision, with
    the data set's weights and sandbox limits; ``extra`` holds judgements made elsewhere (the LLM
    judge, which the agent awaits)."""
    limits = config.limits(gen["task"], sandbox.limits) if sandbox is not None and runs_code(gen["task"]) else None
    return decide_generation(gen, sandbox, validators, config.gate(gen["task"]), extra, limits)


@dataclass(frozen=True)
class Verified:
    verdict: Verdict
    decision: Decision
    partition: int  # of the verdicts topic: where the generation's dedup scope is indexed
    review: bool  # also goes to human-review
    outcome: Outcome | None  # REJECTED; an accepted verdict's outcome is dedup's to decide

    @property
    def reason_code(self) -> str:
        """The first reason's code ('answer_wrong'); '' when accepted."""
        d = self.decision
        return "" if d.accepted or not d.reasons else Reason.read(d.reasons[0]).code


def verdict(gen: Generation, verifier: str, decision: Decision, config: DatasetConfig, partitions: int,
            now_ms: int) -> Verified:
    """The Verdict on a generation and where it goes."""
    gen = Generation(gen)  # type: ignore[misc]  # a copy: the caller's generation keeps its lineage
    gen["lineage"] = dict(gen["lineage"], verifier=verifier, verified_at=now_ms)  # type: ignore[typeddict-item]
    record = Verdict(prompt_id=gen["prompt_id"], accepted=decision.accepted, quality_score=decision.score,
                     threshold=gen["threshold"], reasons=list(decision.reasons), generation=gen,
                     validators=list(decision.scores))  # type: ignore[typeddict-item]
    rejected = None if decision.accepted else outcome(
        gen["prompt_id"], "REJECTED", STAGE, now_ms, reason="; ".join(decision.reasons)[:500], task=gen["task"])
    return Verified(record, decision, dedup_route(gen, config.dedup(gen["task"]), partitions).partition,
                    review.sampled(gen["prompt_id"], config.review_fraction), rejected)

"""What a task family declares: everything the four stages need to know about its tasks.

A family is the unit of extension. Its module builds one ``TaskFamily`` value; the registry
(``agents/families/__init__.py``) holds them and maps each task name to its family, so that no
stage looks at a task name's prefix:

- generation runs the task's generator (``Task``: name, dimensions, params, parser);
- verification runs the family's ``verify`` and weighs the validators by ``gate_weights``;
  a family with ``sandbox`` set runs code, so the stage keeps its event loop free meanwhile and
  the spec's params named in ``sandbox.limit_params`` set that task's limits;
- dedup compares ``dedup.text`` within equal ``dedup.scope`` (a spec may override both);
- the bias monitor measures the text of the ``bias.roles`` turns, as code when ``bias.code``;
- an LLM judge grades the family's records on ``rubric``'s criteria.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from synthstream.agents.dedup.fields import DedupFields
from synthstream.agents.generation.tasks.base import Task
from synthstream.agents.verification.checks import Checked
from synthstream.agents.verification.sandbox import Limits, Sandbox

#: verify(generation, sandbox or None, limits or None) -> Checked
Verify = Callable[[dict[str, Any], Sandbox | None, Limits | None], Checked]


@dataclass(frozen=True)
class SandboxNeeds:
    """The family's verifier runs generated code in the sandbox."""

    #: task param -> field of sandbox.Limits it sets for that task (e.g. timeout_s -> wall_s)
    limit_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BiasView:
    """What the bias monitor reads of an accepted record."""

    roles: tuple[str, ...] = ("assistant",)  # whose turns are the text it measures
    code: bool = False  # the text is code: prose detectors (refusals, boilerplate, ...) do not apply

    def text(self, messages: list[dict[str, str]]) -> str:
        return "\n".join(m["content"] for m in messages if m["role"] in self.roles)


@dataclass(frozen=True)
class Criterion:
    """One thing an LLM judge grades, 1 (fails) to 5 (fully meets); ``question`` may name the
    record's dimensions in braces ("Is the conversation about {topic}?")."""

    name: str
    question: str


@dataclass(frozen=True)
class Rubric:
    """What the LLM judge checks for a family, criterion by criterion."""

    criteria: tuple[Criterion, ...]
    #: judged by default when a model server is configured (dialogue, QA: no exact verifier)
    by_default: bool = False


@dataclass(frozen=True)
class TaskFamily:
    name: str
    summary: str
    tasks: tuple[Task, ...]
    verify: Verify
    verifier: str  # its name in lineage (a family may name finer verifiers in the Checked it returns)
    gate_weights: Mapping[str, float]
    dedup: DedupFields
    sandbox: SandboxNeeds | None = None
    bias: BiasView = BiasView()
    rubric: Rubric | None = None  # the LLM judge's criteria for this family's records
    #: the fields checked against benchmark test sets (agents/dedup/decontam.py); () for none
    decontaminate: tuple[str, ...] = ()
    #: each sample of a generation judged on its own, (passed, reason) per sample, or None when
    #: the samples cannot be told apart (no truth); what preference pairs are made of. Called as
    #: verify is, (generation, sandbox or None, limits or None): a family with ``sandbox`` set
    #: may run each sample there
    judge_samples: Callable[[dict[str, Any], Sandbox | None, Limits | None], list[tuple[bool, str]] | None] | None = None
    #: sample i as the record would show it, when judge_samples judges ``sample_answers`` (code:
    #: the whole function; template: the sample's output) rather than the raw ``samples``
    sample_text: Callable[[dict[str, Any], int], str] | None = None

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError(f"family {self.name!r} declares no task")
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"family {self.name!r} declares a task twice: {names}")
        if sum(w for w in self.gate_weights.values()) <= 0:
            raise ValueError(f"family {self.name!r}: the gate needs a validator with a weight above 0")

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

"""The task family registry: every task a spec may name, and the family that says how each
stage treats it. Adding a family is one module (see agents/families/base.py and
docs/architecture.md) and one entry in ``BUILTIN`` (or ``REGISTRY.register`` at run time)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from synthstream.agents.dedup.fields import DedupFields
from synthstream.agents.families import code, dialogue, grounded_dialogue, math, qa, template
from synthstream.agents.families.base import BiasView, SandboxNeeds, TaskFamily
from synthstream.agents.generation.tasks.base import Task

BUILTIN = (math.FAMILY, code.FAMILY, dialogue.FAMILY, grounded_dialogue.FAMILY, qa.FAMILY, template.FAMILY)


class UnknownTask(KeyError):
    """No registered family has a task of this name."""

    def __str__(self) -> str:
        return f"unknown task {self.args[0]!r}"


class Registry:
    def __init__(self, families: Iterable[TaskFamily] = ()) -> None:
        self.families: dict[str, TaskFamily] = {}
        self.tasks: dict[str, Task] = {}  # the same dict object for as long as the registry lives
        self._family_of: dict[str, TaskFamily] = {}
        for family in families:
            self.register(family)

    def register(self, family: TaskFamily) -> None:
        if family.name in self.families:
            raise ValueError(f"a family named {family.name!r} is registered already")
        taken = [t.name for t in family.tasks if t.name in self.tasks]
        if taken:
            raise ValueError(f"family {family.name!r}: task(s) {taken} belong to another family")
        self.families[family.name] = family
        for task in family.tasks:
            self.tasks[task.name] = task
            self._family_of[task.name] = family

    def unregister(self, name: str) -> None:
        family = self.families.pop(name)
        for task in family.tasks:
            del self.tasks[task.name]
            del self._family_of[task.name]

    @contextmanager
    def registered(self, family: TaskFamily) -> Iterator[TaskFamily]:
        """The family is known inside the block only (for tests and tools)."""
        self.register(family)
        try:
            yield family
        finally:
            self.unregister(family.name)

    def family_of(self, task: str) -> TaskFamily:
        try:
            return self._family_of[task]
        except KeyError:
            raise UnknownTask(task) from None

    def get(self, task: str) -> TaskFamily | None:
        return self._family_of.get(task)

    def task(self, name: str) -> Task:
        try:
            return self.tasks[name]
        except KeyError:
            raise UnknownTask(name) from None


REGISTRY = Registry(BUILTIN)
TASKS = REGISTRY.tasks  # task name -> Task, of every registered family


def default_weights(task: str) -> dict[str, float]:
    """The family's gate weights (an unknown task: the task verifier alone)."""
    try:
        return dict(REGISTRY.family_of(task).gate_weights)
    except UnknownTask:
        return {"task": 1.0}


def judged_by_default(task: str) -> bool:
    """Whether the task's family is judged by an LLM by default (its rubric says so)."""
    family = REGISTRY.get(task)
    return family is not None and family.rubric is not None and family.rubric.by_default


def decontamination_fields(task: str) -> tuple[str, ...]:
    """The fields of a task's records that must not copy a benchmark item (none for an unknown task)."""
    try:
        return REGISTRY.family_of(task).decontaminate
    except UnknownTask:
        return ()


def default_fields(task: str) -> DedupFields:
    """The family's dedup fields (an unknown task: its response, within the task)."""
    try:
        return REGISTRY.family_of(task).dedup
    except UnknownTask:
        return DedupFields(("response",), ("task",))


__all__ = ["BUILTIN", "REGISTRY", "TASKS", "BiasView", "Registry", "SandboxNeeds", "TaskFamily", "UnknownTask",
           "decontamination_fields", "default_fields", "default_weights", "judged_by_default"]

"""The task registry: every task a spec may name, with its dimensions, params and generator."""

from __future__ import annotations

from synthstream.agents.generation.tasks.base import Output, Params, PromptModel, Task
from synthstream.agents.generation.tasks.code import CodeTask
from synthstream.agents.generation.tasks.dialogue import DialogueTask
from synthstream.agents.generation.tasks.math import MATH_TASKS
from synthstream.agents.generation.tasks.math_open import OpenMathTask
from synthstream.agents.generation.tasks.qa import QATask

TASKS: dict[str, Task] = {t.name: t for t in (*MATH_TASKS, OpenMathTask(), CodeTask(), DialogueTask(), QATask())}

__all__ = ["TASKS", "Output", "Params", "PromptModel", "Task"]

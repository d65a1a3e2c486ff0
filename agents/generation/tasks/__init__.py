"""The task registry: every task a spec may name, with its dimensions, params and generator."""

from __future__ import annotations

from agents.generation.tasks.base import Output, Params, PromptModel, Task
from agents.generation.tasks.code import CodeTask
from agents.generation.tasks.dialogue import DialogueTask
from agents.generation.tasks.math import MATH_TASKS
from agents.generation.tasks.math_open import OpenMathTask
from agents.generation.tasks.qa import QATask

TASKS: dict[str, Task] = {t.name: t for t in (*MATH_TASKS, OpenMathTask(), CodeTask(), DialogueTask(), QATask())}

__all__ = ["TASKS", "Output", "Params", "PromptModel", "Task"]

"""The task generators (one module per kind of task); which family each belongs to, and so how
every stage treats it, is declared in agents/families/ (the registry: ``families.TASKS``)."""

from __future__ import annotations

from synthstream.agents.generation.tasks.base import Output, Params, PromptModel, Task

__all__ = ["Output", "Params", "PromptModel", "Task"]

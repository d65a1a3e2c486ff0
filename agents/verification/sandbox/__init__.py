"""The code sandbox: a bubblewrap jail with two warm processes, a zygote that forks a confined
judge per task and a forker that forks its confined candidate, and a verdict the candidate can
neither forge nor read out of its own memory (see ``zygote.py``, ``roles.py``).

``Sandbox`` is the worker's handle on one jail; ``run_humaneval``, ``run_io`` and ``run_asserts``
run the three test formats through it.
"""

from synthstream.agents.verification.sandbox.formats import IoCase, RunResult, run_asserts, run_humaneval, run_io, same
from synthstream.agents.verification.sandbox.pool import Limits, Sandbox, TaskResult

__all__ = ["IoCase", "Limits", "RunResult", "Sandbox", "TaskResult", "run_asserts", "run_humaneval", "run_io",
           "same"]

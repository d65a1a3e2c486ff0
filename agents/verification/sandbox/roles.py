"""The two processes of a code task, confined before they start: the judge, forked from the
zygote, and the candidate, forked from the forker (see ``zygote.py``).

The candidate runs the generated program and answers calls to its entry point; it sees the
arguments, never the expected values or the assertions. The judge runs the test (``check`` of a
HumanEval-style test, or a list of calls) with the entry point bound to a relay: each call sends
its arguments to the candidate as data and gets the returned value back as data, rebuilt from
builtins only. Only the judge's one result frame counts; exit codes and output count for nothing.

Standard library only: this module runs inside the jail under the system Python.
"""

from __future__ import annotations

import builtins
import os
import re
from typing import Any

import wire  # the jail's bootstrap registers it; outside the jail this module is never imported

TEST_FILE = "<test>"


def run_candidate(sock: int) -> None:
    """Take the program from the judge, load it, say ready (or why not), then answer calls until
    the judge hangs up. The program comes over the socket, not through the fork: the process this
    one was forked from never holds a program or a test."""
    try:
        offered = wire.recv(sock)
    except (OSError, wire.WireError):
        return
    if not isinstance(offered, dict) or not isinstance(offered.get("program"), str):
        return
    program, entry_point = offered["program"], str(offered.get("entry_point"))
    ns: dict[str, Any] = {"__name__": "candidate", "__builtins__": builtins}
    try:
        exec(compile(program, "<candidate>", "exec"), ns)
    except BaseException as exc:  # anything the program raises while loading is its failure
        wire.send(sock, {"error": f"the program raised {describe(exc)} while loading"})
        return
    fn = ns.get(entry_point)
    if not callable(fn):
        wire.send(sock, {"error": f"the program defines no function {entry_point!r}"})
        return
    wire.send(sock, {"ready": True})
    while True:
        call = wire.recv(sock)
        if call is None:
            return
        try:
            args, kwargs = wire.decode(call["args"]), wire.decode(call["kwargs"])
            reply = {"ok": wire.encode(fn(*args, **kwargs))}
        except wire.WireError as exc:
            reply = {"raise": ["TypeError", str(exc)]}
        except BaseException as exc:  # the candidate's exception is an answer, passed on by name
            reply = {"raise": [type(exc).__name__, str(exc)[:500]]}
        wire.send(sock, reply)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}".rstrip(": ")


class CandidateGone(BaseException):
    """The candidate process stopped answering; a BaseException so a test's ``except Exception``
    cannot swallow it."""


class CandidateError(Exception):
    """The candidate raised an exception that is not a builtin one."""


class Relay:
    """Stands in for the entry point in the judge: a call is a round trip of data."""

    def __init__(self, sock: int) -> None:
        self.sock = sock
        self.gone = False
        self.calls = 0
        self.raised: BaseException | None = None  # the last exception the candidate raised, re-raised here

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.gone:
            raise CandidateGone("the candidate process is gone")
        try:
            wire.send(self.sock, {"args": wire.encode(list(args)), "kwargs": wire.encode(dict(kwargs))})
            reply = wire.recv(self.sock)
        except (OSError, wire.WireError):
            reply = None
        self.calls += 1
        if not isinstance(reply, dict) or not ({"ok", "raise"} & reply.keys()):
            self.gone = True
            raise CandidateGone("the candidate process stopped answering")
        if "ok" in reply:
            return wire.decode(reply["ok"])
        self.raised = rebuilt(reply["raise"])
        raise self.raised


def rebuilt(raised: Any) -> Exception:
    """The exception a candidate's ``{"raise": [name, message]}`` reply stands for: the same
    builtin type, so a test that expects it can catch it, else a CandidateError. Building it can
    itself raise (a builtin that takes more than a message), as it would in the test."""
    name, message = (list(raised) + ["", ""])[:2]
    kind = getattr(builtins, str(name), None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        return kind(str(message))
    return CandidateError(f"{name}: {message}")


def offer(sock: int, program: str, entry_point: str) -> None:
    """The judge's first message: the program the candidate is to load (a candidate already gone
    shows up in the handshake that follows)."""
    try:
        wire.send(sock, {"program": program, "entry_point": entry_point})
    except OSError:
        pass


def handshake(sock: int) -> str | None:
    """None when the candidate loaded, else why it did not."""
    try:
        hello = wire.recv(sock)
    except (OSError, wire.WireError) as exc:
        return f"the candidate broke the protocol: {exc}"
    if hello is None:
        return "candidate_died"
    if isinstance(hello, dict) and hello.get("ready") is True:
        return None
    if isinstance(hello, dict) and isinstance(hello.get("error"), str):
        return hello["error"][:500]
    return "the candidate broke the protocol"


IMPORT = re.compile(r"import\s+([\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+(?:\s+as\s+\w+)?)*)\s*(?:#.*)?$")
FROM_IMPORT = re.compile(r"from\s+[\w.]+\s+import\s+(\w+(?:\s+as\s+\w+)?(?:\s*,\s*\w+(?:\s+as\s+\w+)?)*)\s*(?:#.*)?$")


def prompt_binds_for(prompt: str, test: str, entry_point: str) -> bool:
    """Whether the test might use something the prompt defines, so the judge must run the prompt.

    Compiling the prompt is a good part of what a judge costs, and the usual prompt binds only
    the entry point (which the judge replaces by the relay) and a few imports. Only such a
    prompt is skipped: every line at the left margin is a one-line import or the ``def`` of the
    entry point, and no name those imports bind appears in the test. Anything else (a helper,
    a decorator, a constant, a docstring at the margin, an import over several lines) runs as
    before.
    """
    bound = []
    for line in prompt.splitlines():
        if not line or line[0] in " \t#":
            continue
        if line.startswith(f"def {entry_point}("):
            continue
        found = IMPORT.match(line) or FROM_IMPORT.match(line)
        if found is None:
            return True
        for item in found.group(1).split(","):
            words = item.split()
            bound.append(words[-1] if len(words) == 3 else words[0].split(".")[0])
    return any(re.search(rf"\b{re.escape(name)}\b", test) for name in bound)


def run_check(sock: int, prompt: str, test: str, entry_point: str) -> dict[str, Any]:
    """Run ``check(candidate)`` of a HumanEval-style test with the entry point relayed."""
    why = handshake(sock)
    if why is not None:
        return {"status": "error", "detail": why}
    relay = Relay(sock)
    ns: dict[str, Any] = {"__name__": "judge", "__builtins__": builtins}
    if prompt_binds_for(prompt, test, entry_point):
        try:
            exec(compile(prompt, "<prompt>", "exec"), ns)  # helpers the test uses (poly, encode_cyclic, ...)
        except BaseException:  # a prompt that is not a whole module gives no helpers, nothing more
            ns = {"__name__": "judge", "__builtins__": builtins}
    ns[entry_point] = relay
    try:
        exec(compile(test, TEST_FILE, "exec"), ns)
        check = ns.get("check")
        if not callable(check):
            return {"status": "error", "detail": "the test defines no check(candidate) function"}
        check(relay)
    except CandidateGone:
        return {"status": "error", "detail": "candidate_died"}
    except BaseException as exc:
        if relay.gone:
            return {"status": "error", "detail": "candidate_died"}
        if exc is relay.raised:
            return {"status": "failed", "detail": f"the candidate raised {describe(exc)}"}
        if isinstance(exc, AssertionError):
            return {"status": "failed", "detail": _assertion(exc, test)}
        return {"status": "failed", "detail": f"the test raised {describe(exc)}"}
    if relay.gone:
        return {"status": "error", "detail": "candidate_died"}
    return {"status": "passed", "detail": f"{relay.calls} call(s)"}


def _assertion(exc: AssertionError, test: str) -> str:
    line, tb = 0, exc.__traceback__
    while tb is not None:  # the innermost line of the test (traceback.walk_tb, without importing traceback)
        if tb.tb_frame.f_code.co_filename == TEST_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    lines = test.splitlines()
    return assertion_failed(line, lines[line - 1].strip() if 0 < line <= len(lines) else "", str(exc))


def assertion_failed(line: int, text: str, message: str) -> str:
    """The verdict of a failed assertion at ``line`` of the test (0: not known)."""
    where = f"test line {line}: {text}" if line else "the test"
    return f"assertion failed at {where}{f' ({message[:200]})' if message else ''}"[:400]


def run_calls(sock: int, calls: list[Any]) -> dict[str, Any]:
    """Send each call and hand back the raw replies; the worker decodes and compares them."""
    why = handshake(sock)
    if why is not None:
        return {"status": "error", "detail": why}
    outputs = []
    for call in calls:
        try:
            wire.send(sock, call)
            reply = wire.recv(sock)
        except (OSError, wire.WireError) as exc:
            return {"status": "error", "detail": f"candidate_died ({exc})"}
        if reply is None:
            return {"status": "error", "detail": "candidate_died"}
        outputs.append(reply)
    return {"status": "done", "outputs": outputs}


def exit_with(result_fd: int, result: dict[str, Any]) -> None:
    """Write the one result frame and leave at once (no atexit, no finalisers)."""
    try:
        wire.send(result_fd, result)
    finally:
        os._exit(0)

"""The warm process inside the jail: it forks a candidate and a judge per task and reports.

Requests arrive as frames on stdin, replies leave as frames on stdout (see ``pool.py``). The
zygote imports the common standard library once, so a forked child starts warm. Per task it makes
a scratch directory, a socket pair (candidate <-> judge) and a pipe (judge -> zygote), forks both
children into their own sessions, and confines each before it runs anything. It enforces the wall
deadline by killing both process groups, reads at most one capped frame from the judge, reaps,
cleans up, and answers. Nothing a child prints, exits with or writes elsewhere is read.

Standard library only: this module runs inside the jail under the system Python.
"""

from __future__ import annotations

import base64
import gc
import importlib
import os
import selectors
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import confine
import roles
import wire

# what generated solutions import most; more would make every fork slower than the imports it saves
WARM = ("math", "re", "string", "itertools", "functools", "collections", "heapq", "bisect", "typing")
RESULT_CAP = wire.MAX_FRAME + wire.HEADER.size
CONFINE_FAILED = 71


@dataclass
class Task:
    id: str
    started: float
    deadline: float
    slot: int
    candidate: int
    judge: int
    result_fd: int
    buf: bytearray = field(default_factory=bytearray)


class Zygote:
    def __init__(self, seccomp: confine.Seccomp, landlock: int, scratch_root: str, slots: int) -> None:
        self.seccomp = seccomp
        # one scratch directory per task slot, each with its Landlock ruleset made once, here
        self.scratch = [f"{scratch_root}/{n}" for n in range(slots)]
        for path in self.scratch:
            os.makedirs(path, mode=0o700, exist_ok=True)
        self.rulesets = [confine.landlock_ruleset(landlock, path) for path in self.scratch]
        self.free = list(range(slots))
        self.sel = selectors.DefaultSelector()
        self.tasks: dict[int, Task] = {}  # by result fd
        self.dying: set[int] = set()  # killed, not yet reaped: waiting for them would stall every task
        self.inbox = bytearray()

    def serve(self) -> None:
        self.sel.register(0, selectors.EVENT_READ, None)
        while True:
            timeout = 0.005 if self.dying else None
            if self.tasks:
                due = max(0.0, min(t.deadline for t in self.tasks.values()) - time.monotonic())
                timeout = due if timeout is None else min(timeout, due)
            for key, _ in self.sel.select(timeout):
                if key.fd == 0:
                    if not self._read_requests():
                        return  # the worker closed our stdin: shut down
                else:
                    self._read_result(self.tasks[key.fd])
            self._reap()
            now = time.monotonic()
            for task in [t for t in self.tasks.values() if t.deadline <= now]:
                self._finish(task, {"status": "timeout", "detail": f"wall deadline of {task.deadline - task.started:.1f}s"})

    def _read_requests(self) -> bool:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            return False
        self.inbox += chunk
        while len(self.inbox) >= wire.HEADER.size:
            (size,) = wire.HEADER.unpack_from(self.inbox)
            if len(self.inbox) < wire.HEADER.size + size:
                break
            body = bytes(self.inbox[wire.HEADER.size:wire.HEADER.size + size])
            del self.inbox[:wire.HEADER.size + size]
            self._start(wire.unpack(body))
        return True

    def _start(self, req: dict[str, Any]) -> None:
        limits, started = req["limits"], time.monotonic()
        if not self.free:
            self._reply(req["id"], "sandbox", "sandbox_failure: more tasks than slots were sent", started)
            return
        slot = self.free.pop()
        try:
            c_sock, j_sock = socket.socketpair()
            r, w = os.pipe()
        except OSError as exc:
            self.free.append(slot)
            self._reply(req["id"], "sandbox", f"sandbox_failure: cannot prepare the task: {exc}", started)
            return
        c_fd, j_fd = c_sock.detach(), j_sock.detach()
        cand = 0
        try:
            cand = self._fork([c_fd], limits, slot, lambda: roles.run_candidate(c_fd, req["program"], req["entry_point"]))
            judge = self._fork([j_fd, w], limits, slot, lambda: roles.exit_with(w, self._judge(j_fd, req)))
        except OSError as exc:
            for fd in (c_fd, j_fd, r, w):
                os.close(fd)
            if cand:
                _kill_and_reap(cand)
            self._release(slot)
            self._reply(req["id"], "sandbox", f"sandbox_failure: cannot fork: {exc}", started)
            return
        for fd in (c_fd, j_fd, w):
            os.close(fd)
        os.set_blocking(r, False)
        task = Task(req["id"], started, started + float(limits["wall_s"]), slot, cand, judge, r)
        self.tasks[r] = task
        self.sel.register(r, selectors.EVENT_READ, None)

    @staticmethod
    def _judge(sock: int, req: dict[str, Any]) -> dict[str, Any]:
        if req["kind"] == "calls":
            return roles.run_calls(sock, req["calls"])
        return roles.run_check(sock, req.get("prompt", ""), req["test"], req["entry_point"])

    def _fork(self, keep: list[int], limits: dict[str, int], slot: int, body: Any) -> int:
        pid = os.fork()
        if pid:
            return pid
        code = 0
        try:
            os.setsid()
            devnull = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            ruleset = self.rulesets[slot]
            _close_all_but([0, 1, 2, *keep, ruleset])
            try:
                confine.confine(limits, self.scratch[slot], ruleset, self.seccomp)
            except (confine.ConfineError, OSError):
                code = CONFINE_FAILED
                return 0
            body()
        except BaseException:
            pass
        finally:
            os._exit(code)

    def _read_result(self, task: Task) -> None:
        try:
            chunk = os.read(task.result_fd, 1 << 20)
        except BlockingIOError:
            return
        task.buf += chunk
        if chunk and len(task.buf) <= RESULT_CAP:
            return
        if len(task.buf) > RESULT_CAP:
            self._finish(task, {"status": "error", "detail": "the judge's result is over the size cap"})
            return
        try:
            result = wire.unpack(bytes(task.buf[wire.HEADER.size:])) if len(task.buf) > wire.HEADER.size else None
        except wire.WireError:
            result = None
        self._finish(task, result if isinstance(result, dict) else None)

    def _finish(self, task: Task, result: dict[str, Any] | None) -> None:
        self.sel.unregister(task.result_fd)
        os.close(task.result_fd)
        del self.tasks[task.result_fd]
        died = bool(result) and str(result.get("detail", "")).startswith("candidate_died")
        cand_status = _wait_briefly(task.candidate) if died else None  # why it died decides the verdict
        for pid in (task.candidate, task.judge):
            if pid == task.candidate and cand_status is not None:
                continue  # already reaped
            _kill(pid)
            self.dying.add(pid)
        self._release(task.slot)
        if result is None:
            status, detail = "error", "the judge gave no result"
        else:
            status, detail = str(result.get("status")), str(result.get("detail", ""))
        if detail.startswith("candidate_died"):
            status, detail = _candidate_fate(cand_status)
        self._reply(task.id, status, detail, task.started, result.get("outputs") if result else None)

    def _reap(self) -> None:
        for pid in list(self.dying):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.dying.discard(pid)

    def _release(self, slot: int) -> None:
        """Empty the slot's scratch directory (whatever the candidate did to it) and free the slot."""
        path = self.scratch[slot]
        with os.scandir(path) as entries:
            names = [e.name for e in entries]
        for name in names:
            _clean(os.path.join(path, name))
        self.free.append(slot)

    def _reply(self, task_id: str, status: str, detail: str, started: float, outputs: Any = None) -> None:
        msg = {"id": task_id, "status": status, "detail": detail[:2000],
               "ms": round((time.monotonic() - started) * 1000.0, 3)}
        if outputs is not None:
            msg["outputs"] = outputs
        wire.send(1, msg)


def _close_all_but(keep: list[int]) -> None:
    start = 0
    for fd in sorted(set(keep)):
        if fd > start:
            os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, 1 << 16)


def _wait_briefly(pid: int) -> int | None:
    for _ in range(50):  # the candidate closed its socket on the way out; let it become a zombie
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.002)
    return None


def _kill(pid: int) -> None:
    """The child's whole process group (its threads too); the pid itself if it had not made one yet."""
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass


def _kill_and_reap(pid: int) -> None:
    _kill(pid)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _candidate_fate(status: int | None) -> tuple[str, str]:
    if status is None:
        return "error", "the candidate stopped answering"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return "timeout", "the candidate hit its CPU-time limit"
        return "error", f"the candidate was killed by signal {signal.Signals(sig).name}"
    code = os.WEXITSTATUS(status)
    if code == CONFINE_FAILED:
        return "sandbox", "sandbox_failure: the candidate process could not be confined"
    return "error", f"the candidate exited (code {code}) instead of answering"


def _clean(path: str) -> None:
    def unlock(func: Any, p: str, _exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, onerror=unlock)
    else:
        os.unlink(path)


def main() -> None:
    init = wire.recv(0)
    seccomp = confine.Seccomp(base64.b64decode(init["bpf"]))
    abi = confine.landlock_abi() if init["landlock"] else 0
    for name in WARM:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    gc.collect()
    gc.freeze()  # children then leave the warm heap alone instead of copying it page by page
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    confine._prctl(confine.PR_SET_DUMPABLE, 0)
    zygote = Zygote(seccomp, abi, init["scratch_root"], int(init["slots"]))
    wire.send(1, {"ready": True, "landlock_abi": abi, "seccomp": seccomp.enabled, "python": sys.version.split()[0]})
    zygote.serve()

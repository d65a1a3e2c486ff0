"""The warm processes inside the jail: per task a judge and a candidate, forked and confined.

Requests arrive as frames on stdin, replies leave as frames on stdout (see ``pool.py``). Two
warm processes serve them, both importing the common standard library once so their children
start warm:

- the zygote reads the requests, forks each task's judge, enforces its wall deadline, reads at
  most one capped frame from the judge, and answers;
- the forker, forked from the zygote before the first request is read, forks each task's
  candidate. It never holds a test, a prompt or a program, only a slot number, limits and the
  candidate's end of a socket: everything a child can find in its own memory (its parent's
  frames, ``gc.get_objects()``, raw memory through ctypes) is what its parent held when it
  forked, so a candidate forked from the zygote could read the tests of its own task and of
  every task in flight and answer them without solving anything.

Per task the zygote makes a socket pair (candidate <-> judge) and a pipe (judge -> zygote), forks
the judge and passes the candidate's end to the forker (SCM_RIGHTS). The judge sends the program
to the candidate over their socket, then runs the test. Both children get their own session and
are confined before they run anything. At the end the zygote kills the judge and asks the
forker to kill the candidate; the forker reaps it and reports its exit status (which decides
the verdict when the candidate died), and only then is the slot's scratch directory emptied and
the slot given to the next task. Nothing a child prints, exits with or writes elsewhere is read.

Standard library only: this module runs inside the jail under the system Python. Every fork
copies its parent's page tables and every child faults in the pages it touches, so these
processes import nothing they do not use (no dataclasses, which brings inspect and ast; no
shutil, which brings bz2 and lzma and their libraries).
"""

from __future__ import annotations

import binascii
import collections
import gc
import json
import os
import selectors
import signal
import socket
import stat
import sys
import time
from typing import Any, Callable

import confine
import roles
import wire

# what generated solutions import most; more would make every fork slower than the imports it saves
WARM = ("math", "re", "string", "itertools", "functools", "collections", "heapq", "bisect", "typing")
RESULT_CAP = wire.MAX_FRAME + wire.HEADER.size
CONFINE_FAILED = 71
FATE_WAIT_S = 0.1  # how long a verdict that depends on how the candidate died waits for its exit status
PACKET = 1 << 16


class Confiner:
    """Forks a child that confines itself to a slot before it runs ``body``; shared by the zygote
    (judges) and the forker (candidates)."""

    def __init__(self, seccomp: confine.Seccomp, landlock: int, scratch_root: str, slots: int) -> None:
        self.seccomp = seccomp
        # one scratch directory per task slot, each with its Landlock ruleset made once, here
        self.scratch = [f"{scratch_root}/{n}" for n in range(slots)]
        for path in self.scratch:
            os.makedirs(path, mode=0o700, exist_ok=True)
        self.rulesets = [confine.landlock_ruleset(landlock, path) for path in self.scratch]

    def fork(self, keep: list[int], limits: dict[str, int], slot: int, body: Callable[[], Any]) -> int:
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


class Expect:
    """A test of literal calls and expected values (``kind: expect``), run by the zygote itself:
    the same relay a judge would run, without forking a judge. The expected values stay here; the
    candidate, forked from the forker, never had this process's memory."""

    __slots__ = ("calls", "expected", "where", "next", "ready", "out")

    def __init__(self, req: dict[str, Any]) -> None:
        self.calls = req["calls"]
        self.expected = [wire.decode(value) for value in req["expected"]]
        self.where = req["where"]  # per call: [test line, its text, the assert's message], for the verdict
        self.next = 0  # the call whose reply is awaited (once the candidate is ready)
        self.ready = False
        self.out = bytearray()  # frames not yet written to the candidate


class Task:
    __slots__ = ("id", "started", "deadline", "slot", "judge", "result_fd", "buf", "result", "fate", "exited",
                 "fate_due", "replied", "expect")

    def __init__(self, task_id: str, started: float, deadline: float, slot: int, judge: int, result_fd: int) -> None:
        self.id, self.started, self.deadline, self.slot = task_id, started, deadline, slot
        self.judge, self.result_fd = judge, result_fd
        self.buf = bytearray()
        self.result: dict[str, Any] | None = None  # the judge's, once it has given it (or the deadline has)
        self.fate: int | str | None = None  # the candidate's exit status, or why it was never forked
        self.exited = False  # the forker has reaped the candidate (or never forked it)
        self.fate_due = 0.0  # when a verdict waiting for the fate goes out without it
        self.replied = False
        self.expect: Expect | None = None  # set when the zygote relays the calls itself (result_fd: its socket)


class Zygote:
    def __init__(self, confiner: Confiner, forker: socket.socket, slots: int) -> None:
        self.confiner = confiner
        self.forker = forker
        self.free = list(range(slots))
        self.waiting: collections.deque[dict[str, Any]] = collections.deque()  # requests waiting for a slot
        self.sel = selectors.DefaultSelector()
        self.judging: dict[int, Task] = {}  # by result fd: the judge has not answered yet
        self.tasks: dict[str, Task] = {}  # by id: every task whose slot is not free again yet
        self.dying: set[int] = set()  # judges killed, not yet reaped: waiting for them would stall every task
        self.inbox = bytearray()

    def serve(self) -> None:
        self.sel.register(0, selectors.EVENT_READ, None)
        self.sel.register(self.forker.fileno(), selectors.EVENT_READ, None)
        while True:
            timeout = 0.005 if self.dying else None
            dues = [t.deadline for t in self.judging.values()]
            dues += [t.fate_due for t in self.tasks.values() if t.fate_due and not t.replied]
            if dues:
                due = max(0.0, min(dues) - time.monotonic())
                timeout = due if timeout is None else min(timeout, due)
            for key, events in self.sel.select(timeout):
                if key.fd == 0:
                    if not self._read_requests():
                        return  # the worker closed our stdin: shut down
                elif key.fd == self.forker.fileno():
                    if not self._read_forker():
                        return  # the forker is gone: the worker restarts the jail
                elif (task := self.judging.get(key.fd)) is not None:
                    if task.expect is None:
                        self._read_result(task)
                    else:
                        self._relay(task, events)
            self._reap()
            now = time.monotonic()
            for task in [t for t in self.judging.values() if t.deadline <= now]:
                self._judged(task, {"status": "timeout", "detail": f"wall deadline of {task.deadline - task.started:.1f}s"})
            for task in [t for t in self.tasks.values() if t.fate_due and not t.replied and t.fate_due <= now]:
                self._verdict(task)

    def _read_requests(self) -> bool:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            return False
        self.inbox += chunk
        self.waiting.extend(wire.unpack(body) for body in wire.take_frames(self.inbox))
        self._start_waiting()
        return True

    def _start_waiting(self) -> None:
        while self.waiting and self.free:
            self._start(self.waiting.popleft(), self.free.pop())

    def _start(self, req: dict[str, Any], slot: int) -> None:
        if req["kind"] == "expect":
            self._start_expect(req, slot)
            return
        limits, started = req["limits"], time.monotonic()
        try:
            c_sock, j_sock = socket.socketpair()
            r, w = os.pipe()
        except OSError as exc:
            self.free.append(slot)
            self._reply(req["id"], "sandbox", f"sandbox_failure: cannot prepare the task: {exc}", started)
            return
        j_fd = j_sock.detach()
        try:
            judge = self.confiner.fork([j_fd, w], limits, slot, lambda: roles.exit_with(w, _judge(j_fd, req)))
        except OSError as exc:
            c_sock.close()
            for fd in (j_fd, r, w):
                os.close(fd)
            self.free.append(slot)
            self._reply(req["id"], "sandbox", f"sandbox_failure: cannot fork: {exc}", started)
            return
        for fd in (j_fd, w):
            os.close(fd)
        task = Task(req["id"], started, started + float(limits["wall_s"]), slot, judge, r)
        self._fork_candidate(task, c_sock, limits)
        os.set_blocking(r, False)
        self.judging[r] = task
        self.sel.register(r, selectors.EVENT_READ, None)

    def _fork_candidate(self, task: Task, c_sock: socket.socket, limits: dict[str, int]) -> None:
        self.tasks[task.id] = task
        try:
            socket.send_fds(self.forker, [_packet({"fork": task.id, "slot": task.slot, "limits": limits})],
                            [c_sock.fileno()])
        except OSError as exc:
            task.fate, task.exited = f"cannot pass the task to the forker: {exc}", True
        c_sock.close()  # the forker has its own copy now; the other end sees the candidate hang up if it had none

    def _start_expect(self, req: dict[str, Any], slot: int) -> None:
        limits, started = req["limits"], time.monotonic()
        try:
            expect = Expect(req)
            c_sock, z_sock = socket.socketpair()
        except (OSError, wire.WireError, RecursionError) as exc:
            self.free.append(slot)
            self._reply(req["id"], "sandbox", f"sandbox_failure: cannot prepare the task: {exc}", started)
            return
        z_sock.setblocking(False)
        fd = z_sock.detach()
        task = Task(req["id"], started, started + float(limits["wall_s"]), slot, 0, fd)
        task.expect = expect
        self._fork_candidate(task, c_sock, limits)
        self.judging[fd] = task
        self.sel.register(fd, selectors.EVENT_READ, None)
        self._send(task, {"program": req["program"], "entry_point": req["entry_point"]})

    # --- the relay of an expect task: roles.Relay and roles.run_check's verdicts, without a judge ---

    def _send(self, task: Task, message: dict[str, Any]) -> None:
        assert task.expect is not None
        task.expect.out += wire.pack(message)
        self._flush(task)

    def _flush(self, task: Task) -> None:
        assert task.expect is not None
        out = task.expect.out
        try:
            while out:
                del out[:os.write(task.result_fd, out)]
        except BlockingIOError:
            pass
        except OSError:
            out.clear()  # the candidate is gone; reading says so
        if task.result_fd in self.judging:
            self.sel.modify(task.result_fd, selectors.EVENT_READ | (selectors.EVENT_WRITE if out else 0), None)

    def _relay(self, task: Task, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            self._flush(task)
        if not events & selectors.EVENT_READ:
            return
        try:
            chunk = os.read(task.result_fd, 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._judged(task, {"status": "error", "detail": "candidate_died"})
            return
        task.buf += chunk
        try:
            bodies = wire.take_frames(task.buf)
        except wire.WireError as exc:
            self._broken(task, exc)
            return
        for body in bodies:
            if task.result_fd not in self.judging:
                return  # judged on an earlier frame; the rest is not read
            try:
                message = wire.unpack(body)
            except wire.WireError as exc:
                self._broken(task, exc)
                return
            self._answer(task, message)

    def _broken(self, task: Task, exc: Exception) -> None:
        assert task.expect is not None
        if task.expect.ready:  # a relay call whose reply cannot be read: the candidate is taken for gone
            self._judged(task, {"status": "error", "detail": "candidate_died"})
        else:
            self._judged(task, {"status": "error", "detail": f"the candidate broke the protocol: {exc}"})

    def _answer(self, task: Task, message: Any) -> None:
        expect = task.expect
        assert expect is not None
        if not expect.ready:  # roles.handshake
            if isinstance(message, dict) and message.get("ready") is True:
                expect.ready = True
                self._call_next(task)
            elif isinstance(message, dict) and isinstance(message.get("error"), str):
                self._judged(task, {"status": "error", "detail": message["error"][:500]})
            else:
                self._judged(task, {"status": "error", "detail": "the candidate broke the protocol"})
            return
        at = expect.next
        if not isinstance(message, dict) or not ({"ok", "raise"} & message.keys()):
            self._judged(task, {"status": "error", "detail": "candidate_died"})
            return
        try:  # what the judge's test would have raised: a value or an exception that cannot be rebuilt
            if "ok" not in message:
                raised = roles.rebuilt(message["raise"])
                self._judged(task, {"status": "failed", "detail": f"the candidate raised {roles.describe(raised)}"})
                return
            equal = bool(wire.decode(message["ok"]) == expect.expected[at])
        except Exception as exc:
            self._judged(task, {"status": "failed", "detail": f"the test raised {roles.describe(exc)}"})
            return
        if not equal:
            self._judged(task, {"status": "failed", "detail": roles.assertion_failed(*expect.where[at])})
            return
        expect.next += 1
        self._call_next(task)

    def _call_next(self, task: Task) -> None:
        expect = task.expect
        assert expect is not None
        if expect.next >= len(expect.calls):
            self._judged(task, {"status": "passed", "detail": f"{expect.next} call(s)"})
            return
        call = expect.calls[expect.next]
        self._send(task, {"args": call["args"], "kwargs": call["kwargs"]})

    def _read_forker(self) -> bool:
        try:
            data = self.forker.recv(PACKET)
        except BlockingIOError:
            return True
        if not data:
            return False
        msg = json.loads(data)
        task = self.tasks.get(msg["exit"])
        if task is None:
            return True
        task.fate = msg["error"] if "error" in msg else int(msg["status"])
        task.exited = True
        if task.fate_due and not task.replied:
            self._verdict(task)
        self._maybe_release(task)
        return True

    def _read_result(self, task: Task) -> None:
        try:
            chunk = os.read(task.result_fd, 1 << 20)
        except BlockingIOError:
            return
        task.buf += chunk
        if chunk and len(task.buf) <= RESULT_CAP:
            return
        if len(task.buf) > RESULT_CAP:
            self._judged(task, {"status": "error", "detail": "the judge's result is over the size cap"})
            return
        try:
            result = wire.unpack(bytes(task.buf[wire.HEADER.size:])) if len(task.buf) > wire.HEADER.size else None
        except wire.WireError:
            result = None
        self._judged(task, result if isinstance(result, dict) else {"status": "error", "detail": "the judge gave no result"})

    def _judged(self, task: Task, result: dict[str, Any]) -> None:
        """The judge has answered (or the deadline has): stop both children, then give the verdict,
        at once unless it depends on how the candidate died and the forker has not said yet."""
        self.sel.unregister(task.result_fd)
        os.close(task.result_fd)
        del self.judging[task.result_fd]
        if task.judge:  # an expect task has none (and killpg(0) would be our own group)
            _kill(task.judge)
            self.dying.add(task.judge)
        task.result = result
        if not task.exited:
            try:
                self.forker.send(_packet({"kill": task.id}))
            except OSError:
                pass  # the forker is gone; the loop notices and shuts the jail down
        if str(result.get("detail", "")).startswith("candidate_died") and not task.exited:
            task.fate_due = time.monotonic() + FATE_WAIT_S
        else:
            self._verdict(task)
        self._maybe_release(task)

    def _verdict(self, task: Task) -> None:
        result = task.result or {}
        status, detail = str(result.get("status")), str(result.get("detail", ""))
        if detail.startswith("candidate_died"):
            status, detail = _candidate_fate(task.fate if task.exited else None)
        task.replied = True
        self._reply(task.id, status, detail, task.started, result.get("outputs"))

    def _maybe_release(self, task: Task) -> None:
        """Free the slot once the verdict is out and the candidate is gone (it could still write)."""
        if task.replied and task.exited and task.result is not None:
            del self.tasks[task.id]
            self._release(task.slot)
            self._start_waiting()

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
        path = self.confiner.scratch[slot]
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


def _judge(sock: int, req: dict[str, Any]) -> dict[str, Any]:
    roles.offer(sock, req["program"], req["entry_point"])
    if req["kind"] == "calls":
        return roles.run_calls(sock, req["calls"])
    return roles.run_check(sock, req.get("prompt", ""), req["test"], req["entry_point"])


def _candidate(sock: int) -> None:
    signal.set_wakeup_fd(-1)  # the forker's, closed in the child: a signal must not write to a reused fd
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    roles.run_candidate(sock)


def _packet(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def forker(sock: socket.socket, confiner: Confiner) -> None:
    """The forker's loop: fork a candidate per request, kill one when asked, report each exit."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd hears of each exit
    live: dict[int, str] = {}  # pid -> task id
    pids: dict[str, int] = {}  # task id -> pid, only while unreaped: a kill never reaches a reused pid
    sel = selectors.DefaultSelector()
    sel.register(sock.fileno(), selectors.EVENT_READ, None)
    sel.register(wake_r, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.fd == wake_r:
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                continue
            try:
                data, fds, _, _ = socket.recv_fds(sock, PACKET, 1)
            except BlockingIOError:
                continue
            if not data:
                for pid in live:
                    _kill(pid)
                return  # the zygote is gone
            msg = json.loads(data)
            if "kill" in msg:
                pid = pids.get(msg["kill"])
                if pid is not None:
                    _kill(pid)
                continue
            task_id, fd = msg["fork"], fds[0] if fds else -1
            try:
                if fd < 0:
                    raise OSError("no socket came with the task")
                pid = confiner.fork([fd], msg["limits"], int(msg["slot"]), lambda: _candidate(fd))
            except OSError as exc:
                sock.send(_packet({"exit": task_id, "error": f"cannot fork the candidate: {exc}"}))
            else:
                live[pid], pids[task_id] = task_id, pid
            finally:
                for extra in fds:
                    os.close(extra)
        while live:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            task_id = live.pop(pid, None)
            if task_id is not None:
                del pids[task_id]
                sock.send(_packet({"exit": task_id, "status": status}))


def _close_all_but(keep: list[int]) -> None:
    start = 0
    for fd in sorted(set(keep)):
        if fd > start:
            os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, 1 << 16)


def _kill(pid: int) -> None:
    """The child's whole process group (its threads too); the pid itself if it had not made one yet."""
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass


def _candidate_fate(status: int | str | None) -> tuple[str, str]:
    if status is None:
        return "error", "the candidate stopped answering"
    if isinstance(status, str):
        return "sandbox", f"sandbox_failure: {status}"
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
    """Remove whatever a candidate left, whatever modes it set (a directory it made unreadable
    or unwritable is opened up first), without recursion (a tree can be deeper than Python's
    recursion limit); symbolic links are removed, never followed."""
    stack, opened = [path], set()
    while stack:
        top = stack[-1]
        try:
            is_dir = stat.S_ISDIR(os.lstat(top).st_mode)
        except OSError:
            stack.pop()
            continue
        if not is_dir or top in opened:
            stack.pop()
            try:
                os.rmdir(top) if is_dir else os.unlink(top)
            except OSError:
                pass
            continue
        opened.add(top)
        try:
            os.chmod(top, 0o700)
            stack.extend(os.path.join(top, name) for name in os.listdir(top))
        except OSError:
            pass


def main() -> None:
    init = wire.recv(0)
    seccomp = confine.Seccomp(binascii.a2b_base64(init["bpf"]))
    abi = confine.landlock_abi() if init["landlock"] else 0
    for name in WARM:
        try:
            __import__(name)
        except ImportError:
            pass
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    confine.prepare_parent()
    slots = int(init["slots"])
    confiner = Confiner(seccomp, abi, init["scratch_root"], slots)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    gc.collect()
    gc.freeze()  # children then leave the warm heap alone instead of copying it page by page
    # the forker, before the first request is read: nothing of any task is in its memory, ever
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            ours.close()
            devnull = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1):  # the requests and the replies are the zygote's alone
                os.dup2(devnull, fd)
            os.close(devnull)
            forker(theirs, confiner)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    theirs.close()
    zygote = Zygote(confiner, ours, slots)
    wire.send(1, {"ready": True, "landlock_abi": abi, "seccomp": seccomp.enabled, "python": sys.version.split()[0]})
    try:
        zygote.serve()
    finally:
        _kill(pid)

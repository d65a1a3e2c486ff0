"""The worker's side of the sandbox: one long-lived jail with a warm zygote, shared by threads.

``Sandbox.submit`` queues a task and returns a future; at most ``parallel`` tasks are inside the
jail at once. A writer thread feeds the zygote's stdin and a reader thread takes its replies, so
neither side can block the other. The zygote enforces each task's wall deadline; the pool keeps a
backstop: a reply that is later than the deadline plus a grace period means the jail is wedged,
and it is killed. A jail that dies fails its tasks in flight as ``sandbox`` results (not the
candidates' fault, never a pass) and is started again for the next task.
"""

from __future__ import annotations

import base64
import collections
import itertools
import logging
import os
import queue
import select
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from synthstream.agents.verification.sandbox import jail, policy, wire

logger = logging.getLogger(__name__)
GRACE_S = 10.0
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Limits:
    """Per task; ``tmpfs_mb`` is the jail's whole writable space, shared by its tasks."""

    wall_s: float = 5.0
    cpu_s: int = 5
    memory_mb: int = 512
    file_mb: int = 8
    open_files: int = 64
    processes: int = 256  # threads and processes of the jail's uid, across the tasks running at once

    def wire(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TaskResult:
    status: str  # passed | failed | timeout | error | done (calls) | refused | sandbox
    detail: str
    duration_ms: float
    outputs: list[Any] | None = None


@lru_cache(maxsize=1)
def seccomp_bpf() -> tuple[bytes, str]:
    """The compiled filter, or empty bytes and why (then the children run without seccomp)."""
    try:
        return policy.compile_bpf(), ""
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        return b"", f"seccomp unavailable ({type(exc).__name__}: {exc}); install libseccomp2 and pyseccomp"


class Sandbox:
    """Thread-safe. ``mode`` is 'bwrap', 'unsafe' (no jail, user opted out) or 'refuse'. Runs
    ``parallel`` tasks at once (default: two per core)."""

    def __init__(self, parallel: int | None = None, tmpfs_mb: int = 64, allow_unsafe: bool = False,
                 limits: Limits = Limits()) -> None:
        # two per core: a task spends part of its time in relay round trips and process start-up
        self.parallel = max(1, parallel or 2 * (os.cpu_count() or 1))
        self.limits = limits  # for tasks that bring none of their own
        self.tmpfs_mb = tmpfs_mb
        self._lock = threading.Lock()
        self._queue: collections.deque[tuple[dict[str, Any], Future]] = collections.deque()
        self._inflight: dict[str, tuple[Future, float]] = {}
        self._ids = itertools.count(1)
        self._proc: subprocess.Popen | None = None
        self._outbox: queue.Queue[bytes | None] | None = None
        self._closed = False
        self._private: list[str] = []  # scratch roots made outside a jail (unsafe mode), removed on close
        self.info: dict[str, Any] = {}
        problem = jail.problem()
        self.mode = "bwrap" if problem is None else ("unsafe" if allow_unsafe else "refuse")
        self.why = problem or ""

    def submit(self, request: dict[str, Any], limits: Limits) -> Future:
        fut: Future = Future()
        if self.mode == "refuse":
            fut.set_result(TaskResult("refused", f"sandbox_unavailable: {self.why}; refusing to run generated code "
                                      f"(set {jail.UNSAFE_ENV}=true to run it without a jail, at your risk)", 0.0))
            return fut
        req = dict(request, limits=limits.wire())
        with self._lock:
            self._queue.append((req, fut))
            self._dispatch_locked()
        return fut

    def run(self, request: dict[str, Any], limits: Limits) -> TaskResult:
        return self.submit(request, limits).result()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
            if self._outbox is not None:
                self._outbox.put(None)
        if proc is not None:
            proc.kill()
            proc.wait()
        for path in self._private:
            shutil.rmtree(path, ignore_errors=True)

    # --- inside the lock -------------------------------------------------------------------

    def _dispatch_locked(self) -> None:
        while self._queue and len(self._inflight) < self.parallel:
            if self._proc is None and not self._start_locked():
                while self._queue:
                    _, fut = self._queue.popleft()
                    fut.set_result(TaskResult("sandbox", f"sandbox_failure: {self.why}", 0.0))
                return
            req, fut = self._queue.popleft()
            req["id"] = str(next(self._ids))
            backstop = time.monotonic() + float(req["limits"]["wall_s"]) + GRACE_S
            self._inflight[req["id"]] = (fut, backstop)
            assert self._outbox is not None
            self._outbox.put(wire.pack(req))

    def _start_locked(self) -> bool:
        bpf, why_not = seccomp_bpf()
        jailed = self.mode == "bwrap"
        scratch_root = "/tmp/sbx" if jailed else _private_dir()
        if not jailed:
            self._private.append(scratch_root)
        stderr = tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen(jail.argv(self.tmpfs_mb, jailed), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=stderr, env=jail.JAIL_ENV, cwd="/", start_new_session=True,
                                    preexec_fn=jail.drop_privileges)
            assert proc.stdin is not None and proc.stdout is not None
            wire.send(proc.stdin.fileno(), {"bpf": base64.b64encode(bpf).decode(), "landlock": True,
                                            "scratch_root": scratch_root, "slots": self.parallel})
            ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT_S)
            hello = wire.recv(proc.stdout.fileno()) if ready else None
        except (OSError, wire.WireError) as exc:
            hello, proc = None, locals().get("proc")
            logger.warning("sandbox: cannot start the jail: %s", exc)
        if not isinstance(hello, dict) or not hello.get("ready"):
            if proc is not None:
                proc.kill()
                proc.wait()
            stderr.seek(0)
            tail = stderr.read()[-600:].decode("utf-8", "replace").strip()
            self.why = f"the jail did not start{': ' + tail if tail else ''}"
            return False
        self.info = dict(hello, seccomp_note=why_not, mode=self.mode)
        logger.info("sandbox: %s jail ready (pid %s): %s", self.mode, proc.pid, self.info)
        self._proc, self._outbox = proc, queue.Queue()
        threading.Thread(target=self._write, args=(proc, self._outbox), daemon=True, name="sandbox-writer").start()
        threading.Thread(target=self._read, args=(proc,), daemon=True, name="sandbox-reader").start()
        return True

    # --- threads -------------------------------------------------------------------------------

    @staticmethod
    def _write(proc: subprocess.Popen, outbox: queue.Queue) -> None:
        assert proc.stdin is not None
        while (frame := outbox.get()) is not None:
            try:
                fd = proc.stdin.fileno()
                data = memoryview(frame)
                while data:
                    data = data[os.write(fd, data):]
            except OSError:
                return  # the jail is gone; the reader fails what was in flight

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        why = "the jail exited"
        while True:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    msg = wire.recv(fd)
                except (OSError, wire.WireError) as exc:
                    msg, why = None, f"the jail broke the protocol: {exc}"
                if msg is None:
                    break
                self._resolve(msg)
            elif self._overdue():
                why = "the jail stopped answering (a task is past its deadline plus grace); restarted"
                break
        proc.kill()
        proc.wait()
        with self._lock:
            if self._proc is proc:
                self._proc = None
                if self._outbox is not None:
                    self._outbox.put(None)
                for fut, _ in self._inflight.values():
                    fut.set_result(TaskResult("sandbox", f"sandbox_failure: {why}", 0.0))
                self._inflight.clear()
                if not self._closed:
                    self._dispatch_locked()

    def _resolve(self, msg: dict[str, Any]) -> None:
        with self._lock:
            entry = self._inflight.pop(str(msg.get("id")), None)
            self._dispatch_locked()
        if entry is not None:
            entry[0].set_result(TaskResult(str(msg.get("status")), str(msg.get("detail", "")),
                                           float(msg.get("ms", 0.0)), msg.get("outputs")))

    def _overdue(self) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(backstop < now for _, backstop in self._inflight.values())


def _private_dir() -> str:
    path = tempfile.mkdtemp(prefix="synthstream-sandbox-")
    if os.geteuid() == 0:
        os.chown(path, jail.NOBODY, jail.NOBODY)
    return path

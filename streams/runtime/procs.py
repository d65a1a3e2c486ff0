"""Managing local server processes: by pid file (the Kafka and model launchers share ManagedServer)
and as children in their own session (the runner's workers)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def spawn(command: list[str], log_file: Path, pid_file: Path) -> subprocess.Popen:
    """Start a server in its own session, output appended to ``log_file``, pid in ``pid_file``."""
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    pid_file.write_text(str(proc.pid))
    return proc


def live_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` when that process is alive, else None. A zombie is not alive: a
    server killed with SIGKILL whose parent has gone stays one until init reaps it, and on some
    machines init never does, so a pid file naming it must not make ``start`` wait for it."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return None if is_zombie(pid) else pid


def is_zombie(pid: int) -> bool:
    """True when ``pid`` has exited and not been reaped (Linux /proc; False where it cannot tell)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop_pid(pid_file: Path, what: str, timeout_s: float) -> bool:
    """SIGTERM the pid-file's process, wait, then SIGKILL; False when nothing was running."""
    pid = live_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and live_pid(pid_file) is not None:
        reap(pid)
        time.sleep(0.2)
    if live_pid(pid_file) is not None:
        logger.warning("%s pid %d ignored SIGTERM for %.0fs; sending SIGKILL", what, pid, timeout_s)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        reap(pid)
    pid_file.unlink(missing_ok=True)
    return True


def log_tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """SIGTERM a child started in its own session (its whole process group), wait, then SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class ManagedServer:
    """A local server run as a managed process: a pid file makes ``start`` idempotent, a log file
    keeps its output, readiness is a real answer (``probe``), and ``stop`` is SIGTERM, a wait,
    then SIGKILL. The Kafka and model launchers fill in what differs."""

    what = "server"  # for messages
    error: type[Exception] = RuntimeError
    pid_file: Path
    log_file: Path
    ready_timeout_s: float = 60.0
    stop_timeout_s: float = 30.0

    # -- what a launcher provides ---------------------------------------------------------
    def ports(self) -> list[int]:
        """Ports the server binds on 127.0.0.1; each must be free before it starts."""
        return []

    def port_in_use(self, port: int) -> str:
        return f"port {port} on 127.0.0.1 is already in use by another program"

    def prepare(self) -> list[str]:
        """Everything before the first start (fetch, format, assemble); the command to run."""
        raise NotImplementedError

    def probe(self, timeout_s: float) -> str | None:
        """None when the server answers; else what went wrong."""
        raise NotImplementedError

    def not_ready(self, pid: int, error: str) -> str:
        return f"the {self.what} (pid {pid}) did not become ready within {self.ready_timeout_s:.0f}s: {error}"

    # -- the shared mechanism ---------------------------------------------------------------
    def pid(self) -> int | None:
        return live_pid(self.pid_file)

    def launch(self) -> None:
        """Start the server unless it runs already, and wait until it answers."""
        pid = self.pid()
        if pid is not None:
            self.wait_ready(pid)
            return
        for port in self.ports():
            if not port_free(port):
                raise self.error(self.port_in_use(port))
        command = self.prepare()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        proc = spawn(command, self.log_file, self.pid_file)
        logger.info("started the %s, pid %d, log %s", self.what, proc.pid, self.log_file)
        self.wait_ready(proc.pid, proc)

    def wait_ready(self, pid: int, proc: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        error = "not probed"
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise self.error(f"the {self.what} exited with code {proc.returncode} during start-up. Last lines "
                                 f"of {self.log_file}:\n{self.log_tail()}")
            error = self.probe(min(30.0, max(1.0, deadline - time.monotonic())))
            if error is None:
                return
            time.sleep(0.5)
        raise self.error(f"{self.not_ready(pid, error)}\n{self.log_tail()}")

    def log_tail(self, lines: int = 12) -> str:
        return log_tail(self.log_file, lines)

    def stop(self, timeout_s: float | None = None) -> bool:
        """SIGTERM our own pid, wait, then SIGKILL; False when nothing was running."""
        return stop_pid(self.pid_file, self.what, self.stop_timeout_s if timeout_s is None else timeout_s)


class Stopped(BaseException):
    """A stop signal (SIGTERM, SIGHUP) arrived; raised where the main thread was, as Ctrl-C's
    KeyboardInterrupt is, so that every ``finally`` and ExitStack on the way out runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


@contextlib.contextmanager
def stopping_on_signals(signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)) -> Iterator[None]:
    """Inside the block, the first of ``signals`` raises :class:`Stopped` in the main thread; a
    second one while the block unwinds is ignored (with a log line), so cleanup runs to its end."""
    seen: list[int] = []

    def handler(signum: int, _frame: Any) -> None:
        if seen:
            logger.warning("%s received while stopping; still stopping what was started",
                           signal.Signals(signum).name)
            return
        seen.append(signum)
        raise Stopped(signum)

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def main_stopping_on_signals(main: Callable[[], Any]) -> None:
    """Run a script's ``main`` so that SIGTERM and SIGHUP stop what it started as Ctrl-C does
    (every ``finally`` runs), then exit 128 + the signal's number."""
    try:
        with stopping_on_signals():
            main()
    except Stopped as stop:
        raise SystemExit(128 + stop.signum) from None

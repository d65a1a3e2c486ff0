"""Managing a local server process by its pid file: shared by the Kafka and model launchers."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

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
    """The pid in ``pid_file`` when that process is alive, else None."""
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
    return pid


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

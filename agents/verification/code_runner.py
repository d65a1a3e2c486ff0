"""Runs a HumanEval-style program (prompt + completion + test + ``check(entry_point)``) in a jail.

This is the first layer of the sandbox: one bubblewrap jail per program, with no network, its own
pid/ipc/uts namespaces, a cleared environment, read-only system directories, an empty size-capped
tmpfs as the only writable place, nothing of the project or the home directory visible, and
resource limits (address space, CPU seconds, file size, open files, no core dumps) plus a wall
deadline that kills the whole process group. The Faust worker never runs candidate code itself.

It does not yet protect the verdict from a hostile candidate (the exit status decides) and pays
a process start per program; the hardened, warm sandbox replaces it (issue 5). Without bubblewrap
the verifier refuses to run code, unless SYNTHSTREAM_VERIFY_UNSAFE_NO_SANDBOX=true.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

PYTHON = "/usr/bin/python3"  # the system interpreter: nothing of the project's virtualenv is needed
RO_DIRS = ("/usr", "/lib", "/lib64", "/bin", "/etc/alternatives")
OUTPUT_CAP = 64 * 1024
PASS_MARK = "__SYNTHSTREAM_CHECK_PASSED__"


@dataclass(frozen=True)
class RunResult:
    status: str  # passed | failed | timeout | error | refused
    detail: str
    duration_ms: float


@dataclass(frozen=True)
class Limits:
    wall_s: float = 5.0
    cpu_s: int = 5
    memory_mb: int = 512
    file_mb: int = 8
    open_files: int = 64
    tmpfs_mb: int = 16
    processes: int = 512  # for the uid the jail runs as (nobody), across the programs running at once


def unsafe_opt_out() -> bool:
    return os.environ.get("SYNTHSTREAM_VERIFY_UNSAFE_NO_SANDBOX", "").lower() in ("1", "true", "yes")


@lru_cache(maxsize=1)
def sandbox_mode() -> tuple[str, str]:
    """('bwrap', '') when a jail works here, else ('unsafe', why) or ('refuse', why)."""
    bwrap = shutil.which("bwrap")
    why = ""
    if bwrap is None:
        why = "bubblewrap (bwrap) is not installed; install the Debian package bubblewrap"
    elif not os.path.exists(PYTHON):
        why = f"{PYTHON} is missing; the jail runs the system Python"
    else:
        # the probe starts the jail exactly as a run does (as nobody, with the limits), so that what
        # fails for the runs fails here, once, with the reason
        code, out, err = _launch(_jail_argv(Limits()) + ["-c", "print('ok')"], Limits(wall_s=30.0))
        if code == 0 and out.strip() == "ok":
            return "bwrap", ""
        why = f"bwrap cannot create a jail here (user namespaces disabled?): {err.strip()[:300]}"
    return ("unsafe", why) if unsafe_opt_out() else ("refuse", why)


def _jail_argv(limits: Limits) -> list[str]:
    argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp", "--setenv", "PYTHONDONTWRITEBYTECODE", "1"]
    for d in RO_DIRS:
        if os.path.exists(d):
            argv += ["--ro-bind", d, d]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmpfs_mb * 1024 * 1024), "--tmpfs", "/tmp",
             "--chdir", "/tmp", PYTHON, "-I", "-S"]
    return argv


NOBODY = 65534


def _limit(limits: Limits) -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * 1024 * 1024,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * 1024 * 1024,) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # processes are counted per real uid: as root the limit would count (and not bind) every root
    # process of the host, so the jail runs as nobody, where it bounds a fork bomb
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    return f"{prompt}{completion}\n\n{test}\n\ncheck({entry_point})\nprint({PASS_MARK!r})\n"


def run_program(source: str, limits: Limits = Limits(), attempts: int = 3) -> RunResult:
    """Run once; when the jail itself could not start (the shared process budget of the jail's
    uid is momentarily used up, e.g. by a fork bomb next door), try again after a pause."""
    for attempt in range(attempts):
        result = _run_once(source, limits)
        if not result.detail.startswith("error: bwrap:"):
            return result
        time.sleep(0.2 * (attempt + 1))
    return RunResult("error", f"sandbox_failure: the jail did not start ({result.detail})", result.duration_ms)


def _run_once(source: str, limits: Limits) -> RunResult:
    mode, why = sandbox_mode()
    if mode == "refuse":
        return RunResult("refused", f"sandbox_unavailable: {why}; refusing to run generated code (set "
                                    "SYNTHSTREAM_VERIFY_UNSAFE_NO_SANDBOX=true to run it without a jail, at your risk)",
                         0.0)
    argv = _jail_argv(limits) if mode == "bwrap" else [PYTHON, "-I", "-S"]
    started = time.perf_counter()
    code, out_text, err_text = _launch(argv + ["-c", source], limits)
    duration = _ms(started)
    if code is None:
        return RunResult("timeout", f"timed out after {limits.wall_s:.1f}s", duration)
    if code == 0 and out_text.rstrip().endswith(PASS_MARK):
        return RunResult("passed", "passed", duration)
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        return RunResult("timeout", f"killed by signal {-code} (CPU limit)", duration)
    last = (err_text.strip().splitlines() or [f"exit code {code}"])[-1][:300]
    if "AssertionError" in err_text:
        return RunResult("failed", f"failed: a test assertion failed ({last})", duration)
    return RunResult("error", f"error: {last}", duration)


def _launch(argv: list[str], limits: Limits) -> tuple[int | None, str, str]:
    """(exit code, stdout tail, stderr tail); exit code None when the wall deadline killed it."""
    # output goes to unlinked files, bounded by RLIMIT_FSIZE: a flood costs neither the
    # parent's memory nor its time, and nothing waits on a pipe a stray child still holds
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out_f, stderr=err_f,
                                start_new_session=True, preexec_fn=lambda: _limit(limits),
                                # bwrap itself stays as pid 1 of the jail's pid namespace, and /proc/1/environ
                                # shows its environment: it must never carry the worker's (API keys, ...)
                                env={"PATH": "/usr/bin:/bin"}, cwd="/tmp")
        try:
            proc.wait(timeout=limits.wall_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
            return None, "", ""
        return proc.returncode, _tail(out_f), _tail(err_f)


def _tail(f: Any) -> str:
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - OUTPUT_CAP))
    return f.read().decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)

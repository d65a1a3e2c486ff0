"""Hostile candidate programs against the code jail: none may be judged 'passed', and the host
must be unharmed (no file written or read outside the jail, no secret seen, no connection made,
no process left behind). A correct, harmless solution in the same suite must still pass.

Known holes of this first sandbox layer are marked strict xfail with the reason: they are the
verdict-forgery cases that the relay design of the hardened sandbox closes (issue 5); a strict
xfail fails the suite as soon as the hole is closed, so the marks cannot outlive the holes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from agents.verification.code_runner import Limits, program, run_program, sandbox_mode

pytestmark = pytest.mark.skipif(sandbox_mode()[0] != "bwrap" and not os.environ.get("CI"),
                                reason="no bubblewrap jail on this machine (CI installs it and never skips)")

PROMPT = 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n'
TEST = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-5, 5) == 0\n    assert candidate(10, 20) == 30\n"
CANARY_ENV = "SYNTHSTREAM_LLM_API_KEY"
CANARY_SECRET = "sk-adversarial-canary-7f3a"
LIMITS = Limits(wall_s=3.0, cpu_s=3, memory_mb=256)
FORGERY = "verdict forgery: the candidate runs in the process that decides; closed by the relay (issue 5)"


def run(completion: str) -> tuple[str, str]:
    result = run_program(program(PROMPT, completion, TEST, "add"), LIMITS)
    return result.status, result.detail


def python_processes() -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid,comm"], capture_output=True, text=True).stdout.split("\n")[1:]
    return {int(line.split()[0]) for line in out if line.split() and line.split()[1] in ("python3", "python3.11", "bwrap")}


@pytest.fixture(autouse=True)
def no_leftovers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CANARY_ENV, CANARY_SECRET)  # the worker's secret, which the jail must not show
    before = python_processes()
    yield
    import time

    for _ in range(20):  # processes killed at the deadline may take a moment to be reaped
        left = python_processes() - before
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"processes left behind: {left}"


def test_a_correct_harmless_solution_passes() -> None:
    assert run("    return a + b\n") == ("passed", "passed")


HOSTILE = {
    "fork_bomb": "    import os\n    while True:\n        os.fork()\n",
    "thread_bomb": "    import threading, time\n    while True:\n        threading.Thread(target=time.sleep, args=(60,)).start()\n",
    "memory_bomb": "    x = []\n    while True:\n        x.append(' ' * 10_000_000)\n",
    "infinite_loop": "    while True:\n        pass\n",
    "sleep_past_deadline": "    import time\n    time.sleep(60)\n    return a + b\n",
    "huge_stdout": "    import sys\n    while True:\n        sys.stdout.write('x' * 65536)\n",
    "huge_stderr": "    import sys\n    while True:\n        sys.stderr.write('y' * 65536)\n",
    "write_outside_scratch": "    open('/usr/pwned', 'w').write('x')\n    return a + b\n",
    "write_home": f"    open({str(Path.home() / 'pwned-by-candidate')!r}, 'w').write('x')\n    return a + b\n",
    "read_etc_shadow": "    print(open('/etc/shadow').read())\n    return a + b\n",
    "read_project_file": f"    print(open({str(Path(__file__).resolve())!r}).read())\n    return a + b\n",
    "read_environment": f"    import os\n    assert os.environ.get({CANARY_ENV!r})\n    return a + b\n",
    "read_parent_environ": f"    data = open('/proc/1/environ', 'rb').read()\n    assert b{CANARY_SECRET!r} in data\n    return a + b\n",
    "kill_parent": "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n    os.killpg(0, signal.SIGKILL)\n",
    "ctypes_call": "    import ctypes\n    libc = ctypes.CDLL(None)\n    libc.system(b'touch /tmp/../usr/ctypes-pwned')\n    raise SystemExit(1)\n",
    "mmap_trick": "    import mmap\n    m = mmap.mmap(-1, 1 << 34)\n    m[-1] = 1\n",
    "exit_zero_before_tests": "    return a + b\nimport sys\nsys.exit(0)\n",
    "exit_zero_os": "    return a + b\nimport os\nos._exit(0)\n",
    "exception_in_del": "    class Boom:\n        def __del__(self):\n            raise RuntimeError('boom')\n    Boom()\n    return a - b\n",
    "atexit_exit_zero": "    return a - b\nimport atexit, os\natexit.register(lambda: os._exit(0))\n",
    "signal_handler": "    import signal, os\n    signal.signal(signal.SIGALRM, lambda *a: os._exit(0))\n    signal.alarm(1)\n    while True:\n        pass\n",
    "raise_rlimits": "    import resource\n    resource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))\n    while True:\n        pass\n",
    "setuid": "    import os\n    os.setuid(0)\n    open('/usr/setuid-pwned', 'w')\n",
    "ptrace": "    import ctypes\n    libc = ctypes.CDLL(None)\n    assert libc.ptrace(16, 1, 0, 0) == 0\n    return a + b\n",
    "unshare": "    import os\n    os.unshare(os.CLONE_NEWUSER | os.CLONE_NEWNET)\n    open('/usr/unshare-pwned', 'w')\n",
    "proc_self_mem": "    f = open('/proc/self/mem', 'wb')\n    f.seek(0x400000)\n    f.write(b'\\x00' * 16)\n",
    "setuid_file": "    import os\n    open('/tmp/s', 'w').close()\n    os.chmod('/tmp/s', 0o4755)\n    assert os.stat('/tmp/s').st_mode & 0o4000 and os.stat('/tmp/s').st_uid == 0\n    raise SystemExit(1)\n",
    "fill_tmpfs": "    with open('/tmp/big', 'wb') as f:\n        while True:\n            f.write(b'0' * (1 << 20))\n",
    "network_tcp": "    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=1)\n    return a + b\n",
    "network_udp": "    import socket\n    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    s.sendto(b'x', ('8.8.8.8', 53))\n    return a + b\n",
    "slow_import_but_wrong": "    return a - b\nimport time\ntime.sleep(0.5)\n",
    "correct_but_slow_import": "    return a + b\nimport time\ntime.sleep(10)\n",  # right, but past the deadline
    "monkeypatch_assertion": ("    return 0\nimport builtins\nclass _Quiet(Exception):\n    pass\n"
                              "builtins.AssertionError = _Quiet\n"
                              "import sys\nsys.excepthook = lambda *a: (print('__SYNTHSTREAM_CHECK_PASSED__'), "
                              "sys.stdout.flush())\n"),
}
FORGING = {
    "print_pass_mark": "    return 0\nimport sys\nprint('__SYNTHSTREAM_CHECK_PASSED__')\nsys.stdout.flush()\nimport os\nos._exit(0)\n",
    "always_equal_result": ("    class Anything(int):\n        def __eq__(self, other):\n            return True\n"
                            "        __hash__ = int.__hash__\n    return Anything(0)\n"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_is_not_passed_and_the_host_is_unharmed(name: str, tmp_path: Path) -> None:
    status, detail = run(HOSTILE[name])
    assert status != "passed", (name, detail)
    assert CANARY_SECRET not in detail
    for path in ("/usr/pwned", "/usr/ctypes-pwned", "/usr/setuid-pwned", "/usr/unshare-pwned",
                 str(Path.home() / "pwned-by-candidate")):
        assert not os.path.exists(path), path


@pytest.mark.parametrize("name", sorted(FORGING))
@pytest.mark.xfail(strict=True, reason=FORGERY)
def test_forged_verdicts_are_not_passed(name: str) -> None:
    status, detail = run(FORGING[name])
    assert status != "passed", (name, detail)


def test_no_connection_reaches_the_host_loopback() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    hits: list[object] = []

    def accept() -> None:
        for _ in range(25):
            try:
                hits.append(server.accept())
            except OSError:
                pass

    t = threading.Thread(target=accept)
    t.start()
    code = (f"    import socket\n    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            f"    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    s.sendto(b'x', ('127.0.0.1', {port}))\n"
            "    return a + b\n")
    status, _ = run(code)
    t.join()
    server.close()
    assert status != "passed" and not hits

"""Hostile candidate programs against the code sandbox: none may be judged 'passed', and the host
must be unharmed: no file written or read outside the jail, no secret seen, no connection made, no
process left behind, and the jail itself still serving. A correct, harmless solution in the same
suite must still pass, also when it is slow to import but within its deadline.

The candidate runs in its own confined process and the test's assertions in another (the judge),
so the verdict-forgery programs (a printed pass mark, an always-equal result, patched assertions,
builtins, json or relay) have nothing to forge: what they return crosses as data, rebuilt from
builtins, and only the judge's own result counts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from synthstream.agents.verification.sandbox import Limits, Sandbox, run_humaneval
from synthstream.agents.verification.sandbox.formats import literal_check

PROMPT = 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n'
TEST = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-5, 5) == 0\n    assert candidate(10, 20) == 30\n"
# Two ways a test runs: literal asserts only, relayed by the zygote itself ("expect"), and anything
# else, run by a judge process; every hostile program meets both.
TESTS = {"expect": TEST, "judge": TEST + "    assert candidate(*[2, 3]) + 0 == 5\n"}
CANARY_ENV = "SYNTHSTREAM_LLM_API_KEY"
CANARY_SECRET = "sk-adversarial-canary-7f3a"
LIMITS = Limits(wall_s=3.0, cpu_s=3, memory_mb=256)
WITNESSES = ("/usr/pwned", "/usr/ctypes-pwned", "/usr/setuid-pwned", "/usr/unshare-pwned", "/tmp/escaped-scratch",
             str(Path.home() / "pwned-by-candidate"))


def jail_processes(sandbox: Sandbox) -> set[int]:
    """The jail's process tree (bwrap, the zygote, anything they started), from the host's ps."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        pid, ppid = (int(x) for x in line.split())
        children.setdefault(ppid, []).append(pid)
    root = sandbox._proc.pid if sandbox._proc is not None else None
    tree, todo = set(), [root] if root else []
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


def describe(pids: set[int]) -> str:
    out = subprocess.run(["ps", "-o", "pid,ppid,user,stat,etime,args", "-p", ",".join(map(str, pids))],
                         capture_output=True, text=True).stdout
    return out[:2000]


@pytest.fixture(params=sorted(TESTS))
def run(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    """Run a completion of ``add``; afterwards the jail is the only thing of its uid still alive."""
    test = TESTS[request.param]
    assert (literal_check(test) is None) == (request.param == "judge")
    monkeypatch.setenv(CANARY_ENV, CANARY_SECRET)  # the worker's secret, which the jail must not show
    run_humaneval(sandbox, PROMPT, "    return a + b\n", TEST, "add", LIMITS)  # the jail is up before we look
    before = jail_processes(sandbox)

    def go(completion: str) -> tuple[str, str]:
        result = run_humaneval(sandbox, PROMPT, completion, test, "add", LIMITS)
        return result.status, result.detail

    yield go
    left: set[int] = set()
    for _ in range(100):  # processes killed at the deadline may take a moment to be reaped
        left = jail_processes(sandbox) - before
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"processes left behind:\n{describe(left)}"
    assert run_humaneval(sandbox, PROMPT, "    return a + b\n", TEST, "add", LIMITS).status == "passed"


def test_a_correct_harmless_solution_passes(run) -> None:
    assert run("    return a + b\n") == ("passed", "passed")


def test_a_correct_solution_slow_to_import_within_its_deadline_passes(run) -> None:
    assert run("    return a + b\nimport time\ntime.sleep(0.5)\n") == ("passed", "passed")


# Read the expected value from the test instead of computing it, wherever a candidate could find
# the test in its own memory: what its parent process held when it forked (frames up the stack,
# objects the collector tracks, strings those refer to).
PEEK = ("    import re\n"
        "    wanted = re.compile(r'candidate\\(%d, %d\\) == (-?[0-9]+)' % (a, b))\n"
        "    for text in texts():\n"
        "        found = wanted.search(text)\n"
        "        if found:\n"
        "            return int(found.group(1))\n")
PEEK_SOURCES = {
    "peek_parent_frames": ("def texts():\n    import sys\n    frame = sys._getframe()\n    while frame is not None:\n"
                           "        for value in list(frame.f_locals.values()):\n"
                           "            if isinstance(value, dict):\n"
                           "                yield from (v for v in value.values() if isinstance(v, str))\n"
                           "            if isinstance(value, (str, bytes, bytearray)):\n"
                           "                yield value if isinstance(value, str) else bytes(value).decode('utf-8', 'replace')\n"
                           "        frame = frame.f_back\n"),
    "peek_collected_objects": ("def texts():\n    import gc\n    for obj in gc.get_objects():\n"
                               "        for ref in gc.get_referents(obj):\n"
                               "            if isinstance(ref, str) and 'candidate(' in ref:\n                yield ref\n"
                               "            elif isinstance(ref, (bytes, bytearray)) and b'candidate(' in ref:\n"
                               "                yield bytes(ref).decode('utf-8', 'replace')\n"),
}

FORGERIES = {
    **{name: PEEK + "\n\n" + source for name, source in PEEK_SOURCES.items()},
    "print_pass_words": "    return 0\nprint('passed')\nprint('__SYNTHSTREAM_CHECK_PASSED__')\n",
    "write_passed_to_every_descriptor": (
        "    return 0\nimport os, json, struct\nframe = json.dumps({'status': 'passed', 'detail': ''}).encode()\n"
        "for fd in range(1024):\n    for data in (struct.pack('>I', len(frame)) + frame, b'passed\\n'):\n"
        "        try:\n            os.write(fd, data)\n        except OSError:\n            pass\n"),
    "exit_zero_before_tests": "    return a + b\nimport sys\nsys.exit(0)\n",
    "exit_zero_os": "    return a + b\nimport os\nos._exit(0)\n",
    "always_equal_result": ("    class Anything(int):\n        def __eq__(self, other):\n            return True\n"
                            "        __hash__ = lambda self: 0\n    return Anything(0)\n"),
    "always_equal_hash_collision": ("    class Anything(tuple):\n        def __eq__(self, other):\n            return True\n"
                                    "        def __hash__(self):\n            return hash(3)\n    return Anything()\n"),
    "monkeypatch_assertion": ("    return 0\nimport builtins\nclass _Quiet(Exception):\n    pass\n"
                              "builtins.AssertionError = _Quiet\n"),
    "monkeypatch_builtins": "    return 0\nimport builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.len = lambda x: 0\n",
    "monkeypatch_json": ("    return 0\nimport json\n_dumps = json.dumps\n"
                         "json.dumps = lambda obj, **kw: _dumps({'status': 'passed'} if 'ok' in obj else obj, **kw)\n"),
    "monkeypatch_relay": ("    return 0\nimport sys\nwire = sys.modules.get('wire')\n"
                          "if wire is not None:\n    wire.encode = lambda v: 3\n"
                          "    _send = wire.send\n    wire.send = lambda fd, msg: _send(fd, {'status': 'passed'})\n"),
    "answer_in_protocol": ("    return 0\nimport sys\nroles = sys.modules.get('roles')\n"
                           "if roles is not None:\n    roles.run_candidate = lambda *a: None\n"),
    "exception_in_del": "    class Boom:\n        def __del__(self):\n            raise RuntimeError('boom')\n    Boom()\n    return a - b\n",
    "atexit_exit_zero": "    return a - b\nimport atexit, os\natexit.register(lambda: os._exit(0))\n",
    "signal_handler_exit": ("    import signal, os\n    signal.signal(signal.SIGALRM, lambda *a: os._exit(0))\n"
                            "    signal.alarm(1)\n    while True:\n        pass\n"),
    "kill_parent_and_group": ("    import os, signal\n    for pid in (os.getppid(), 1, 0, -1):\n        try:\n"
                              "            os.kill(pid, signal.SIGKILL)\n        except OSError:\n            pass\n"
                              "    os.killpg(0, signal.SIGKILL)\n"),
    "attack_the_judge": ("    return 0\nimport os, json, struct\nframe = json.dumps({'status': 'passed'}).encode()\n"
                         "for pid in os.listdir('/proc'):\n    if not pid.isdigit():\n        continue\n"
                         "    for fd in range(16):\n        try:\n"
                         "            with open(f'/proc/{pid}/fd/{fd}', 'wb') as f:\n"
                         "                f.write(struct.pack('>I', len(frame)) + frame)\n        except OSError:\n"
                         "            pass\n    try:\n        os.kill(int(pid), 9)\n    except OSError:\n        pass\n"),
}

ESCAPES = {
    "fork_bomb": "    import os\n    while True:\n        os.fork()\n",
    "thread_bomb": "    import threading, time\n    while True:\n        threading.Thread(target=time.sleep, args=(60,)).start()\n",
    "memory_bomb": "    x = []\n    while True:\n        x.append(' ' * 10_000_000)\n",
    "infinite_loop": "    while True:\n        pass\n",
    "sleep_past_deadline": "    import time\n    time.sleep(60)\n    return a + b\n",
    "correct_but_slow_import_past_deadline": "    return a + b\nimport time\ntime.sleep(10)\n",
    "huge_stdout": "    import sys\n    while True:\n        sys.stdout.write('x' * 65536)\n",
    "huge_stderr": "    import sys\n    while True:\n        sys.stderr.write('y' * 65536)\n",
    "huge_answer": "    return 'x' * (400 * 1024 * 1024)\n",
    "write_outside_scratch": "    open('/usr/pwned', 'w').write('x')\n    return a + b\n",
    "write_tmp_outside_scratch": "    open('/tmp/escaped-scratch', 'w').write('x')\n    return a + b\n",
    "write_home": f"    open({str(Path.home() / 'pwned-by-candidate')!r}, 'w').write('x')\n    return a + b\n",
    "read_etc_shadow": "    print(open('/etc/shadow').read())\n    return a + b\n",
    "read_project_file": f"    print(open({str(Path(__file__).resolve())!r}).read())\n    return a + b\n",
    "read_environment": f"    import os\n    assert os.environ.get({CANARY_ENV!r})\n    return a + b\n",
    "read_parent_environ": f"    data = open('/proc/1/environ', 'rb').read()\n    assert b{CANARY_SECRET!r} in data\n    return a + b\n",
    "ctypes_system": "    import ctypes\n    libc = ctypes.CDLL(None)\n    libc.system(b'touch /usr/ctypes-pwned')\n    return a - b\n",
    "ctypes_raw_fork": "    import ctypes\n    libc = ctypes.CDLL(None)\n    assert libc.syscall(57) >= 0\n    return a + b\n",
    "mmap_huge": "    import mmap\n    m = mmap.mmap(-1, 1 << 34)\n    m[-1] = 1\n",
    "raise_rlimits": "    import resource\n    resource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))\n    while True:\n        pass\n",
    "setuid": "    import os\n    os.setuid(0)\n    open('/usr/setuid-pwned', 'w')\n",
    "ptrace": "    import ctypes\n    libc = ctypes.CDLL(None)\n    assert libc.ptrace(16, 1, 0, 0) == 0\n    return a + b\n",
    "unshare": ("    import ctypes\n    libc = ctypes.CDLL(None, use_errno=True)\n"
                "    assert libc.unshare(0x10000000 | 0x40000000) == 0, ctypes.get_errno()\n"
                "    open('/usr/unshare-pwned', 'w')\n"),
    "proc_self_mem": "    f = open('/proc/self/mem', 'wb')\n    f.seek(0x400000)\n    f.write(b'\\x00' * 16)\n    return a + b\n",
    "setuid_file": ("    import os\n    open('s', 'w').close()\n    os.chmod('s', 0o4755)\n"
                    "    assert os.stat('s').st_mode & 0o4000 and os.stat('s').st_uid == 0\n    return a + b\n"),
    "fill_tmpfs": "    with open('big', 'wb') as f:\n        while True:\n            f.write(b'0' * (1 << 20))\n",
    "network_tcp": "    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=1)\n    return a + b\n",
    "network_udp": "    import socket\n    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    s.sendto(b'x', ('8.8.8.8', 53))\n    return a + b\n",
    "exec_a_shell": "    import os\n    os.execv('/bin/sh', ['sh', '-c', 'touch /usr/pwned'])\n",
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_a_forged_verdict_is_not_passed(run, name: str) -> None:
    status, detail = run(FORGERIES[name])
    assert status != "passed", (name, detail)


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_an_escape_is_not_passed_and_the_host_is_unharmed(run, name: str) -> None:
    status, detail = run(ESCAPES[name])
    assert status != "passed", (name, detail)
    assert CANARY_SECRET not in detail
    for path in WITNESSES:
        assert not os.path.exists(path), path


def test_verdicts_say_what_happened(run) -> None:
    """Not only 'not passed': the reason names the cause a user would look for."""
    assert run(ESCAPES["infinite_loop"])[0] == "timeout"
    assert run(ESCAPES["sleep_past_deadline"])[0] == "timeout"
    status, detail = run(ESCAPES["fork_bomb"])
    assert (status, detail) == ("failed", "the candidate raised PermissionError: [Errno 1] Operation not permitted")
    status, detail = run(FORGERIES["always_equal_result"])
    assert status == "failed" and "Anything cannot cross the sandbox boundary" in detail, detail
    status, detail = run(ESCAPES["ptrace"])
    assert status == "failed" and detail.startswith("the candidate raised AssertionError"), detail
    status, detail = run(FORGERIES["exit_zero_before_tests"])
    assert status == "error" and "SystemExit" in detail, detail
    status, detail = run("    return a - b\n")
    assert (status, detail) == ("failed", "assertion failed at test line 2: assert candidate(1, 2) == 3")


def test_no_connection_reaches_the_host_loopback(run) -> None:
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


def test_the_jail_has_every_layer(sandbox: Sandbox) -> None:
    """bwrap, a seccomp filter, and Landlock at the kernel's own ABI (this kernel has it: CI's does)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    host_abi = max(0, libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))
    run_humaneval(sandbox, PROMPT, "    return a + b\n", TEST, "add", LIMITS)
    assert sandbox.mode == "bwrap" and sandbox.info["seccomp"] is True, sandbox.info
    assert sandbox.info["landlock_abi"] == host_abi

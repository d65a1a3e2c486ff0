"""What the sandbox does when it cannot jail, when the user opts out, and when its jail dies."""

from __future__ import annotations

import os
import signal
import threading
import time

from synthstream.agents.verification.sandbox import Limits, Sandbox, run_humaneval
from synthstream.agents.verification.sandbox.jail import UNSAFE_ENV

OK = ("def f():\n    return 1\n", "def check(candidate):\n    assert candidate() == 1\n")


def test_without_a_jail_code_is_refused_with_what_to_do() -> None:
    box = Sandbox()
    box.mode, box.why = "refuse", "bubblewrap (bwrap) is not installed"
    result = run_humaneval(box, "", *OK, "f")
    assert result.status == "refused"
    assert result.detail.startswith("sandbox_unavailable: bubblewrap (bwrap) is not installed") and UNSAFE_ENV in result.detail


def test_the_unsafe_opt_out_still_confines_each_process() -> None:
    box = Sandbox(allow_unsafe=True)
    box.mode = "unsafe"  # what a machine without bubblewrap gets when the user opts out
    try:
        assert run_humaneval(box, "", *OK, "f").status == "passed"
        forked = run_humaneval(box, "", "def f():\n    import os\n    os.fork()\n", OK[1], "f")
        assert forked.detail == "the candidate raised PermissionError: [Errno 1] Operation not permitted"
        escaped = run_humaneval(box, "", "def f():\n    open('/tmp/escaped-unsafe', 'w')\n", OK[1], "f")
        assert escaped.status == "failed" and not os.path.exists("/tmp/escaped-unsafe")
        scratch = list(box._private)
    finally:
        box.close()
    assert scratch and not any(os.path.exists(p) for p in scratch)


def test_a_jail_that_dies_fails_its_tasks_and_the_next_task_gets_a_new_one() -> None:
    box = Sandbox(parallel=2)
    try:
        assert run_humaneval(box, "", *OK, "f").status == "passed"
        proc = box._proc
        assert proc is not None
        slow = "def f():\n    import time\n    time.sleep(30)\n"
        results: list[object] = []
        worker = threading.Thread(target=lambda: results.append(box.run({"kind": "check", "program": slow, "prompt": "",
                                                                         "test": OK[1], "entry_point": "f"},
                                                                        Limits(wall_s=20.0))))
        worker.start()
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)  # bwrap dies; --die-with-parent takes the zygote with it
        worker.join(timeout=30)
        (died,) = results
        assert died.status == "sandbox" and died.detail.startswith("sandbox_failure: "), died
        assert run_humaneval(box, "", *OK, "f").status == "passed"
        assert box._proc is not None and box._proc.pid != proc.pid
    finally:
        box.close()

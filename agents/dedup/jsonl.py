"""Deduplicating an existing JSONL data set with the pipeline's core (``synthstream dedup``).

Stream order: the first line of a group is kept, later exact or near copies are dropped; kept
lines are written back unchanged, line ending included (the last line gets one if it had none).
Lines that are not a JSON object or lack the text field are not guessed at: they go to the rejects file with their reason, like dropped duplicates
(with the line or live record they duplicate), so every input line is accounted for.
With an ``embed`` function (``--semantic``) paraphrases are dropped too: lines are read in
batches of ``BATCH``, their normalised texts embedded together, then decided in order.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TextIO

import numpy as np

from synthstream.agents.dedup.core import DedupIndex, DedupParams, Duplicate, IndexEntry, record_id
from synthstream.agents.dedup.normalize import normalize

BATCH = 64
Embed = Callable[[list[str]], np.ndarray]


class BadLine(ValueError):
    pass


def text_field(obj: Any, path: str) -> str:
    """The text to compare: a string, a list of strings, or a list of chat messages (their
    contents, in order); ``path`` may be dotted (``metadata.question``)."""
    if not isinstance(obj, dict):
        raise BadLine("not a JSON object")
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise BadLine(f"no field {path!r}")
        node = node[part]
    if isinstance(node, str):
        return node
    if isinstance(node, list) and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in node):
        return "\n".join(m["content"] for m in node)
    if isinstance(node, list) and all(isinstance(s, str) for s in node):
        return "\n".join(node)
    raise BadLine(f"field {path!r} is {type(node).__name__}, not text, a list of texts or chat messages")


@dataclass
class Summary:
    lines: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # exact, near, semantic, and each with _live
    invalid: Counter = field(default_factory=Counter)  # reason -> lines
    live_records: int = 0
    blank: int = 0  # blank lines carry nothing and are skipped


def live_index(entries: Iterable[IndexEntry], params: DedupParams,
               embed: Embed | None = None) -> tuple[DedupIndex, dict[str, str]]:
    """An index holding the live records' texts (scopes dropped: a file has none); returns it and
    a map from its ids to the live record ids. With ``embed``, the live records that are in the
    semantic tier are embedded too."""
    index, live = DedupIndex(params), {}
    pending = iter(entries)
    while chunk := list(islice(pending, BATCH * 4)):
        wanted = [e.norm for e in chunk if e.embedded] if embed is not None else []
        vectors = iter(embed(wanted)) if wanted else iter(())
        for entry in chunk:
            rid = record_id("", entry.norm)
            index.add(IndexEntry(rid, f"live:{entry.record_id}", "", entry.norm, entry.embedded and embed is not None),
                      next(vectors) if entry.embedded and embed is not None else None)
            live[rid] = entry.record_id
    return index, live


def dedup_lines(lines: Iterable[str], text_path: str, out: TextIO, rejects: TextIO,
                index: DedupIndex | None = None, live: dict[str, str] | None = None,
                progress: Callable[[Summary], None] | None = None, embed: Embed | None = None) -> Summary:
    index = index if index is not None else DedupIndex()
    live = live or {}
    summary = Summary(live_records=len(live))
    first_line: dict[str, int] = {}  # record id -> the line that kept it
    numbered = enumerate(lines, start=1)
    while chunk := list(islice(numbered, BATCH)):
        parsed: list[tuple[int, str, str, str | None]] = []  # number, raw, line, text (None: not to decide)
        for number, raw in chunk:
            line = raw.rstrip("\n").rstrip("\r")
            text = None
            if line.strip():
                try:
                    text = text_field(json.loads(line), text_path)
                except json.JSONDecodeError as exc:
                    _reject(rejects, number, "invalid", f"not JSON: {exc.msg} at column {exc.colno}", line, summary)
                except BadLine as exc:
                    _reject(rejects, number, "invalid", str(exc), line, summary)
            else:
                summary.blank += 1
            parsed.append((number, raw, line, text))
        texts = [normalize(t) for *_, t in parsed if t is not None]
        vectors = iter(embed(texts)) if embed is not None and texts else iter(())
        for number, raw, line, text in parsed:
            summary.lines += 1
            if text is not None:
                vector = next(vectors, None)
                _decide(index, number, raw, line, text, vector, first_line, live, out, rejects, summary)
            if progress is not None:
                progress(summary)
    return summary


def _decide(index: DedupIndex, number: int, raw: str, line: str, text: str, vector: np.ndarray | None,
            first_line: dict[str, int], live: dict[str, str], out: TextIO, rejects: TextIO, summary: Summary) -> None:
    decision, _ = index.check(f"line:{number}", text, vector=vector)  # every line has its own id: never a Replay
    if isinstance(decision, Duplicate):
        of = decision.of_record
        where = {"of_line": first_line[of]} if of in first_line else {"of_live_record": live.get(of, of)}
        kind = decision.kind + ("" if of in first_line else "_live")
        summary.dropped[kind] += 1
        score = round(decision.score, 3 if decision.kind == "semantic" else 1)
        rejects.write(json.dumps({"line": number, "dropped": f"duplicate_{kind}",
                                  ("cosine" if decision.kind == "semantic" else "similarity"): score, **where,
                                  "original": line}, ensure_ascii=False) + "\n")
    else:
        first_line[decision.record_id] = number
        out.write(raw if raw.endswith("\n") else raw + "\n")
        summary.kept += 1


def _reject(rejects: TextIO, number: int, kind: str, reason: str, line: str, summary: Summary) -> None:
    summary.invalid[reason if len(reason) < 60 else reason[:57] + "..."] += 1
    rejects.write(json.dumps({"line": number, "dropped": kind, "reason": reason, "original": line},
                             ensure_ascii=False) + "\n")

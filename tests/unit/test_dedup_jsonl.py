"""`synthstream dedup` on files: stream order, unchanged kept lines, every other line with its reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from synthstream.agents.dedup.jsonl import BadLine, text_field

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from dedup_corpus import Corpus  # noqa: E402


def test_text_field_reads_strings_lists_messages_and_dotted_paths():
    assert text_field({"text": "a"}, "text") == "a"
    assert text_field({"text": ["a", "b"]}, "text") == "a\nb"
    assert text_field({"m": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}, "m") == "hi\nyo"
    assert text_field({"meta": {"q": "deep"}}, "meta.q") == "deep"
    for obj, path, message in (([1], "text", "not a JSON object"), ({"x": 1}, "text", "no field 'text'"),
                               ({"text": 3}, "text", "is int, not text")):
        with pytest.raises(BadLine, match=message):
            text_field(obj, path)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "dedup", *args], capture_output=True, text=True,
                          timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


def test_dedup_keeps_the_first_of_each_group_and_accounts_for_every_line(tmp_path):
    records = list(Corpus(seed=11).records(2000))
    src = tmp_path / "data.jsonl"
    lines = [json.dumps({"n": i, "body": {"text": t}}, ensure_ascii=False) for i, (t, _) in enumerate(records)]
    src.write_text("\n".join(lines[:1000] + ["{broken", "", json.dumps({"n": "no text"})] + lines[1000:]) + "\n")
    done = run("--in", str(src), "--out", str(tmp_path / "kept.jsonl"), "--field", "body.text")
    assert done.returncode == 0, done.stderr
    kept = (tmp_path / "kept.jsonl").read_text().splitlines()
    rejects = [json.loads(r) for r in (tmp_path / "kept.rejects.jsonl").read_text().splitlines()]
    first_of_group = {}
    for i, (_, group) in enumerate(records):
        first_of_group.setdefault(group, i)
    expected = [lines[i] for i in sorted(first_of_group.values())]
    missed = len(set(expected) - set(kept))
    extra = len(set(kept) - set(expected))
    assert missed <= 2 and extra <= 2, (missed, extra)  # the benchmark holds recall and precision to 0.99+
    assert set(kept) <= set(lines)  # kept lines are written unchanged
    assert [json.loads(k)["n"] for k in kept] == sorted(json.loads(k)["n"] for k in kept)  # in input order
    assert len(kept) + len(rejects) == 2002  # every non-blank line is kept or in rejects
    invalid = [r for r in rejects if r["dropped"] == "invalid"]
    assert [(r["line"], r["reason"][:8]) for r in invalid] == [(1001, "not JSON"), (1003, "no field")]
    dups = [r for r in rejects if r["dropped"].startswith("duplicate_")]
    assert all(r["of_line"] < r["line"] and r["original"] in lines for r in dups)
    assert f"2003 lines: kept {len(kept)}, dropped {len(dups)} duplicates (" in done.stderr
    assert "2 invalid lines" in done.stderr and str(tmp_path / "kept.rejects.jsonl") in done.stderr


def test_dedup_says_what_to_fix(tmp_path):
    done = run("--in", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o.jsonl"))
    assert done.returncode != 0 and "cannot read" in done.stderr
    src = tmp_path / "same.jsonl"
    src.write_text('{"text": "a"}\n')
    done = run("--in", str(src), "--out", str(src))
    assert done.returncode != 0 and "would be overwritten" in done.stderr


def test_kept_lines_keep_their_bytes_and_line_endings():
    import io

    from synthstream.agents.dedup.jsonl import dedup_lines

    src = io.StringIO('{"text": "first line of a windows file"}\r\n{"text":  "First line of a Windows file!"}\r\n'
                      '{"text": "another, different one entirely"}', newline="")
    kept, rejects = io.StringIO(newline=""), io.StringIO()
    summary = dedup_lines(src, "text", kept, rejects)
    assert (summary.kept, dict(summary.dropped)) == (2, {"exact": 1})  # same once normalised
    assert kept.getvalue() == ('{"text": "first line of a windows file"}\r\n'
                               '{"text": "another, different one entirely"}\n')  # the last line gets its newline


def test_semantic_drops_paraphrases_and_keeps_look_alikes_with_the_real_model(tmp_path):
    """--semantic: all-MiniLM-L6-v2 (from its PyPI package) embeds every line; a reworded QA pair
    (cosine about 0.93) goes, one about another animal or another point (about 0.65-0.72) stays,
    and exact and near copies are still the other tiers' (decided first)."""
    spider = "How many legs does a spider have?\nA spider has eight legs."
    water = "What is the boiling point of water at sea level?\nWater boils at 100 degrees Celsius at sea level."
    texts = [spider, "A spider has how many legs?\nSpiders walk on eight legs.",
             "How many legs does an ant have?\nAn ant has six legs.", water,
             "At sea level, at what temperature does water start to boil?\nIt boils once it reaches 100 degrees Celsius.",
             "What is the freezing point of water at sea level?\nWater freezes at 0 degrees Celsius at sea level.",
             spider.upper()]
    src = tmp_path / "qa.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    plain = run("--in", str(src), "--out", str(tmp_path / "plain.jsonl"))
    assert plain.returncode == 0, plain.stderr
    assert [json.loads(x)["id"] for x in (tmp_path / "plain.jsonl").read_text().splitlines()] == [0, 1, 2, 3, 4, 5]
    done = run("--in", str(src), "--out", str(tmp_path / "kept.jsonl"), "--semantic")
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["id"] for x in (tmp_path / "kept.jsonl").read_text().splitlines()] == [0, 2, 3, 5]
    rejects = [json.loads(x) for x in (tmp_path / "kept.rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["dropped"], r.get("of_line")) for r in rejects] == [
        (2, "duplicate_semantic", 1), (5, "duplicate_semantic", 4), (7, "duplicate_exact", 1)]
    assert all(0.84 <= r["cosine"] < 1 for r in rejects[:2])
    assert "kept 4, dropped 3 duplicates (1 exact, 2 semantic)" in done.stdout + done.stderr
    strict = run("--in", str(src), "--out", str(tmp_path / "strict.jsonl"), "--semantic", "--semantic-threshold", "0.99")
    assert strict.returncode == 0 and len((tmp_path / "strict.jsonl").read_text().splitlines()) == 6


def test_semantic_without_the_model_is_a_clear_error(tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps({"text": "anything"}) + "\n")
    done = subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "dedup", "--in", str(src), "--out",
                           str(tmp_path / "b.jsonl"), "--semantic"], capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin",
                               "SYNTHSTREAM_VERIFY_SEMANTIC_MODEL_PATH": str(tmp_path / "missing.onnx")})
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1
    assert "--semantic needs the embedding model" in said and "missing.onnx does not exist" in said
    assert not (tmp_path / "b.jsonl").exists()

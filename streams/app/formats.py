"""The formats trainers read: JSONL, Parquet and a Hugging Face dataset with a dataset card.

``write(records, out, fmt)`` takes accepted records (AcceptedRecord dicts, each once) as a
stream and writes

- ``jsonl``: one training example per line (``exporter.to_jsonl``);
- ``parquet``: one row per record with pyarrow, a row group every ``ROW_GROUP`` records (never
  the whole set in memory). The columns a trainer selects on are typed: ``id``, ``task``,
  ``messages`` (a list of ``{role, content}``, what TRL's SFT trainer reads), ``answer``,
  ``quality_score``, ``prompt_id`` and the lineage (``dataset``, ``model``, ``verifier``,
  ``seed_source``, ...); what differs per task is JSON text: ``dimensions``, ``code``,
  ``grounding``, ``validators`` and ``usage``;
- ``hf``: the same rows as a ``datasets.Dataset`` saved with ``save_to_disk`` (read it with
  ``datasets.load_from_disk``), plus a ``README.md`` dataset card (``card``).

Every format reads back to the same records (tests/unit/test_formats.py).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMATS = ("jsonl", "parquet", "hf")
ROW_GROUP = 1000
LINEAGE = ("dataset", "dataset_version", "spec_hash", "producer_version", "generator", "model", "verifier",
           "prompted_at", "generated_at", "verified_at", "accepted_at", "seed_source", "seed_row", "seed_hash")
JSON_COLUMNS = ("dimensions", "code", "grounding", "validators", "usage")


@dataclass
class Written:
    records: int = 0
    per_task: Counter = field(default_factory=Counter)
    scores: list[float] = field(default_factory=list)  # quality scores, for the card's distribution
    datasets: Counter = field(default_factory=Counter)
    models: Counter = field(default_factory=Counter)
    spec_hashes: set[str] = field(default_factory=set)

    def count(self, record: dict[str, Any]) -> None:
        self.records += 1
        self.per_task[record["task"]] += 1
        self.scores.append(float(record["quality_score"]))
        lineage = record["lineage"]
        self.datasets[f"{lineage['dataset']}@{lineage['dataset_version']}"] += 1
        self.models[lineage.get("model") or "unknown"] += 1
        self.spec_hashes.add(lineage["spec_hash"])


def schema() -> Any:
    import pyarrow as pa

    text, number = pa.string(), pa.int64()
    lineage = [pa.field(name, number if name.endswith("_at") or name == "seed_row" else text) for name in LINEAGE]
    return pa.schema([
        pa.field("id", text, nullable=False), pa.field("task", text, nullable=False),
        pa.field("messages", pa.list_(pa.struct([pa.field("role", text), pa.field("content", text)]))),
        pa.field("answer", text), pa.field("quality_score", pa.float64()), pa.field("prompt_id", text),
        *lineage, *(pa.field(name, text) for name in JSON_COLUMNS)])


def to_row(record: dict[str, Any]) -> dict[str, Any]:
    """One record as one row of the Parquet / Hugging Face schema."""
    row: dict[str, Any] = {"id": record["record_id"], "task": record["task"],
                           "messages": [{"role": m["role"], "content": m["content"]} for m in record["messages"]],
                           "answer": record["answer"], "quality_score": float(record["quality_score"]),
                           "prompt_id": record["prompt_id"]}
    lineage = record["lineage"]
    row.update({name: lineage.get(name) for name in LINEAGE})
    for name in JSON_COLUMNS:
        value = record.get(name)
        row[name] = None if value in (None, [], {}) and name != "dimensions" else json.dumps(
            value, ensure_ascii=False, sort_keys=True)
    return row


def from_row(row: dict[str, Any]) -> dict[str, Any]:
    """The inverse of ``to_row`` for the fields it keeps (tests and readers)."""
    out = {k: row[k] for k in ("id", "task", "messages", "answer", "quality_score", "prompt_id")}
    out["lineage"] = {name: row[name] for name in LINEAGE}
    for name in JSON_COLUMNS:
        out[name] = json.loads(row[name]) if row[name] is not None else None
    return out


def write(records: Iterable[dict[str, Any]], out: Path, fmt: str, card: Any = None) -> Written:
    """Write the records to ``out`` in ``fmt`` (a file; a directory for ``hf``), through a
    temporary name that is renamed into place at the end (a failed export leaves no half file).
    ``card``: a callable(Written) -> str for the ``hf`` dataset card."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {list(FORMATS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    written = Written()
    counted = _counting(records, written)
    if fmt == "jsonl":
        from synthstream.streams.app.exporter import to_jsonl

        tmp = out.with_name(out.name + ".partial")
        with tmp.open("w", encoding="utf-8") as fh:
            for record in counted:
                fh.write(json.dumps(to_jsonl(record), ensure_ascii=False) + "\n")
        tmp.replace(out)
    elif fmt == "parquet":
        tmp = out.with_name(out.name + ".partial")
        _parquet(counted, tmp)
        tmp.replace(out)
    else:
        _hf(counted, out, written, card)
    return written


def _counting(records: Iterable[dict[str, Any]], written: Written) -> Iterator[dict[str, Any]]:
    for record in records:
        written.count(record)
        yield record


def _parquet(records: Iterator[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table_schema = schema()
    with pq.ParquetWriter(path, table_schema, compression="zstd") as writer:
        batch: list[dict[str, Any]] = []
        for record in records:
            batch.append(to_row(record))
            if len(batch) >= ROW_GROUP:
                writer.write_table(pa.Table.from_pylist(batch, schema=table_schema))
                batch = []
        if batch:  # an export with no record is still a valid file with the schema and no row group
            writer.write_table(pa.Table.from_pylist(batch, schema=table_schema))


def _hf(records: Iterator[dict[str, Any]], out: Path, written: Written, card: Any) -> None:
    """Parquet first (streamed), then a Dataset over it saved with save_to_disk, then the card."""
    import datasets

    datasets.disable_progress_bars()
    work = Path(tempfile.mkdtemp(prefix="synthstream-export-", dir=out.parent))
    try:
        _parquet(records, work / "records.parquet")
        data = datasets.Dataset.from_parquet(str(work / "records.parquet"), cache_dir=str(work / "cache"))
        staged = work / "dataset"
        data.save_to_disk(str(staged))
        del data
        (staged / "README.md").write_text(card(written) if card is not None else card_text(written, {}))
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        staged.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def card_text(written: Written, context: dict[str, Any]) -> str:
    """The dataset card (README.md): what the data set is, how it was made and verified, counts
    per task and outcome, the quality scores, the latest bias report, the lineage fields.
    ``context`` may hold ``spec`` (the Spec), ``outcomes`` ({task: Counter of outcomes}),
    ``bias`` (the latest BiasReport per data set) and ``version`` (a tag)."""
    spec = context.get("spec")
    license_ = getattr(getattr(spec, "dataset", None), "license", None) or "other"
    name = spec.dataset.name if spec is not None else ", ".join(sorted(written.datasets)) or "synthstream"
    lines = ["---", f"license: {license_}", "tags:", "- synthetic", "- synthstream",
             f"pretty_name: {json.dumps(name)}", "size_categories:", f"- {_size(written.records)}", "---", "",
             f"# {name}", "",
             "Synthetic training data made and verified by synthstream: every record passed its task's verifier "
             "(answers checked exactly, code run against its tests in a sandbox, dialogue and QA through the quality "
             "gate), was deduplicated (exact, near and semantic) and carries its lineage.", ""]
    if context.get("version"):
        lines += [f"Version: `{context['version']}`.", ""]
    lines += ["## How it was made", ""]
    if spec is not None:
        lines += [f"- spec: data set `{spec.dataset.name}` version `{spec.dataset.version}`, spec hash "
                  f"`{spec.spec_hash[:16]}`", f"- tasks in the spec: {', '.join(t.name for t in spec.tasks)}"]
    lines += [f"- data sets in the records: {', '.join(f'{d} ({n})' for d, n in sorted(written.datasets.items()))}",
              f"- models: {', '.join(f'{m} ({n})' for m, n in written.models.most_common())}",
              f"- spec hashes: {', '.join(sorted(h[:16] for h in written.spec_hashes))}", "",
              "## Records", "", "| task | records |", "|---|---|"]
    lines += [f"| {task} | {n} |" for task, n in sorted(written.per_task.items())]
    lines += [f"| **all** | **{written.records}** |", ""]
    outcomes = context.get("outcomes") or {}
    if outcomes:
        kinds = ("ACCEPTED", "REJECTED", "DUPLICATE", "DEAD_LETTER", "CONTAMINATED")
        lines += ["Every prompt's outcome in the pipeline (accepted records are this data set; the rest were "
                  "dropped):", "", "| task | " + " | ".join(k.lower() for k in kinds) + " |",
                  "|---|" + "---|" * len(kinds)]
        lines += [f"| {task} | " + " | ".join(str(c.get(k, 0)) for k in kinds) + " |"
                  for task, c in sorted(outcomes.items())]
        lines.append("")
    lines += ["## Quality scores", "", _distribution(written.scores), ""]
    bias = context.get("bias") or {}
    if "bias" in context and not bias:
        lines += ["## Bias", "", "No bias report had been published when this export was made (a window closes "
                  "after SYNTHSTREAM_WORKER_BIAS_WINDOW_RECORDS records or _SECONDS).", ""]
    if bias:
        lines += ["## Bias (the latest report per data set)", ""]
        for dataset, report in sorted(bias.items()):
            dims = "; ".join(f"{d['dimension']} PSI {d['psi']:.3f} ({d['status']})" if d.get("psi") is not None
                             else f"{d['dimension']} ({d['status']})" for d in report["dimensions"])
            lines.append(f"- `{dataset}`: window of {report['records']} records; {dims or 'no dimension'}; "
                         f"length {report['length_status']}")
        lines.append("")
    lines += ["## Fields", "",
              "`id` (the record id: a hash of its normalised content), `task`, `messages` (chat format), `answer`, "
              "`quality_score` (0-1, the gate's), `prompt_id`; lineage: " + ", ".join(f"`{f}`" for f in LINEAGE)
              + "; JSON text: " + ", ".join(f"`{c}`" for c in JSON_COLUMNS) + " (the per-validator scores and "
              "reasons are in `validators`).", "",
              "Load it with `datasets.load_from_disk(PATH)`.", ""]
    return "\n".join(lines)


def _size(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return label
    return "1M<n<10M"


def _distribution(scores: list[float]) -> str:
    if not scores:
        return "No records."
    edges = (0.0, 0.85, 0.9, 0.95, 1.0001)
    counts = [sum(lo <= s < hi for s in scores) for lo, hi in zip(edges, edges[1:])]
    ordered = sorted(scores)
    head = (f"mean {sum(scores) / len(scores):.3f}, median {ordered[len(ordered) // 2]:.3f}, min {ordered[0]:.3f}, "
            f"max {ordered[-1]:.3f}")
    table = ["| score | records |", "|---|---|"] + [
        f"| {lo:.2f}–{min(hi, 1.0):.2f} | {c} |" for lo, hi, c in zip(edges, edges[1:], counts)]
    return head + "\n\n" + "\n".join(table)

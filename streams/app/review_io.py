"""`synthstream review export|import`: the human-review topic to a sheet, and labels back to Kafka.

Sheets are JSONL or CSV (chosen by the file's extension), one row per sampled verdict with the
columns of :data:`synthstream.agents.verification.review.COLUMNS`; reviewers fill in ``label`` (accept or
reject), and optionally ``note`` and ``reviewer``. Import publishes each label to review-labels,
where the verification worker counts agreement with the gate for Prometheus.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthstream.agents.verification.review import COLUMNS, BadRow, Label, read_label, sheet_row
from synthstream.streams.runtime.errors import ConfigError, DecodeError
from synthstream.streams.runtime.kafka_io import read_to_end
from synthstream.streams.runtime.serde import SchemaRegistry


@dataclass
class ExportResult:
    rows: int = 0
    replays: int = 0
    undecodable: int = 0


@dataclass
class ImportResult:
    labels: list[Label] = field(default_factory=list)
    skipped: int = 0  # rows left without a label
    bad: list[str] = field(default_factory=list)


def _csv_mode(path: Path) -> bool:
    if path.suffix.lower() not in (".csv", ".jsonl", ".json"):
        raise ConfigError(f"{path}: use a .csv or .jsonl file")
    return path.suffix.lower() == ".csv"


def decoded(bootstrap: str, topic: str, serde: SchemaRegistry, schema: str, purpose: str,
            res: ExportResult | CalibrationInput) -> Iterator[dict[str, Any]]:
    """Every record of ``topic`` from the beginning, decoded as ``schema``; the undecodable ones
    are counted in ``res.undecodable`` and skipped."""
    for msg in read_to_end(bootstrap, topic, purpose=purpose):
        try:
            yield serde.decode(msg.value, schema)[1]
        except DecodeError:
            res.undecodable += 1


def export_sheet(bootstrap: str, topic: str, serde: SchemaRegistry, out: Path, limit: int | None = None) -> ExportResult:
    """Every sampled verdict (each prompt once, latest verdict wins), oldest first."""
    csv_mode = _csv_mode(out)
    res, rows = ExportResult(), {}
    for verdict in decoded(bootstrap, topic, serde, "Verdict", "review-export", res):
        if verdict["prompt_id"] in rows:
            res.replays += 1
        rows[verdict["prompt_id"]] = sheet_row(verdict)
    chosen = list(rows.values())[:limit] if limit else list(rows.values())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".partial")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        if csv_mode:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(chosen)
        else:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen)
    tmp.replace(out)
    res.rows = len(chosen)
    return res


def read_sheet(path: Path, reviewer: str | None = None) -> ImportResult:
    """Labels from a filled-in sheet; bad rows are listed with their line, never dropped silently."""
    csv_mode = _csv_mode(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    res = ImportResult()
    rows: list[tuple[str, Any]] = []
    if csv_mode:
        reader = csv.DictReader(text.splitlines(keepends=True))
        missing = [c for c in ("prompt_id", "task", "gate", "label") if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{path}: the header lacks column(s) {missing}; import a sheet made by review export")
        rows = [(f"{path.name}:{n}", row) for n, row in enumerate(reader, 2)]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                res.bad.append(f"{path.name}:{n}: not JSON ({exc})")
                continue
            rows.append((f"{path.name}:{n}", row if isinstance(row, dict) else {}))
    for where, row in rows:
        try:
            label = read_label(row, where, reviewer)
        except BadRow as exc:
            res.bad.append(str(exc))
            continue
        if label is None:
            res.skipped += 1
        else:
            res.labels.append(label)
    return res


def publish_labels(producer: Any, topic: str, serde: SchemaRegistry, labels: list[Label]) -> None:
    now = int(time.time() * 1000)
    futures = [producer.send(topic, key=lab.prompt_id.encode(), value=serde.encode("ReviewLabel", lab.record(now)))
               for lab in labels]
    producer.flush()
    for fut in futures:
        fut.get(timeout=30)  # a label that did not reach Kafka is an error, not a silent loss


@dataclass
class CalibrationInput:
    rows: list = field(default_factory=list)  # calibrate.Labelled
    labels: int = 0
    without_verdict: int = 0  # labels whose verdict is no longer (or not yet) in human-review
    undecodable: int = 0


def read_calibration(bootstrap: str, verdicts_topic: str, labels_topic: str, serde: SchemaRegistry) -> CalibrationInput:
    """Every review label joined with the sampled verdict it labels (the latest of each)."""
    from synthstream.agents.verification.calibrate import join

    res = CalibrationInput()
    verdicts = {v["prompt_id"]: v for v in decoded(bootstrap, verdicts_topic, serde, "Verdict", "review-calibrate", res)}
    labels = [(lab["prompt_id"], lab["label"])
              for lab in decoded(bootstrap, labels_topic, serde, "ReviewLabel", "review-calibrate", res)]
    res.rows, res.without_verdict = join(labels, verdicts)
    res.labels = len(dict(labels))
    return res


def write_thresholds(spec_path: Path, out: Path, thresholds: dict[str, float]) -> list[str]:
    """A copy of the spec with each task's ``threshold`` set; the tasks it changed."""
    import yaml

    if out.resolve() == spec_path.resolve():
        raise ConfigError(f"--write {out}: give a new file; the spec itself is not overwritten")
    try:
        doc = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the spec {spec_path}: {exc}") from exc
    changed = []
    for task in doc.get("tasks") or []:
        if isinstance(task, dict) and task.get("name") in thresholds:
            task["threshold"] = round(float(thresholds[task["name"]]), 4)
            changed.append(task["name"])
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f"# {spec_path.name} with thresholds from `synthstream review calibrate`\n"
    out.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return changed

"""Reads accepted-records from the beginning and writes them in a trainer's format (kafka-python)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthstream.streams.runtime.errors import DecodeError
from synthstream.streams.runtime.kafka_io import read_to_end
from synthstream.streams.runtime.serde import SchemaRegistry

logger = logging.getLogger(__name__)


@dataclass
class ExportResult:
    written: int = 0
    replays: int = 0
    undecodable: int = 0
    per_task: Counter = field(default_factory=Counter)


def to_jsonl(record: dict[str, Any]) -> dict[str, Any]:
    """One training example per line: chat messages for every task; code tasks also carry the
    HumanEval fields (prompt, completion, test, entry_point), grounded QA its passage and evidence."""
    lineage = record["lineage"]
    metadata: dict[str, Any] = {**record["dimensions"], "prompt_id": record["prompt_id"], "lineage": lineage}
    if record.get("usage"):
        metadata["usage"] = record["usage"]
    if record.get("validators"):
        metadata["validators"] = {v["name"]: {"score": v["score"], "weight": v["weight"], "reasons": v["reasons"]}
                                  for v in record["validators"]}
    out: dict[str, Any] = {
        "id": record["record_id"],
        "task": record["task"],
        "messages": record["messages"],
        "answer": record["answer"],
        "quality_score": record["quality_score"],
        "metadata": metadata,
    }
    if record.get("code"):
        out["code"] = record["code"]
    if record.get("grounding"):
        out["grounding"] = record["grounding"]
    return out


def accepted(bootstrap: str, topic: str, serde: SchemaRegistry, result: ExportResult,
             prompt_prefix: str = "") -> Iterator[dict[str, Any]]:
    """Each accepted record once (first occurrence of a record id wins), counted in ``result``.
    ``prompt_prefix`` keeps only records whose prompt id starts with it (one run's records)."""
    seen: set[str] = set()
    for msg in read_to_end(bootstrap, topic, purpose="export"):
        try:
            _, record = serde.decode(msg.value, "AcceptedRecord")
        except DecodeError as exc:
            result.undecodable += 1
            if result.undecodable <= 3:
                logger.warning("export: skipping undecodable %s[%d]@%d: %s", topic, msg.partition, msg.offset, exc)
            continue
        if not record["prompt_id"].startswith(prompt_prefix):
            continue
        if record["record_id"] in seen:
            result.replays += 1
            continue
        seen.add(record["record_id"])
        result.written += 1
        result.per_task[record["task"]] += 1
        yield record
    if result.undecodable > 3:
        logger.warning("export: skipped %d undecodable records in all", result.undecodable)


def export(bootstrap: str, topic: str, serde: SchemaRegistry, out: Path, prompt_prefix: str = "",
           fmt: str = "jsonl", card: Callable[[Any], str] | None = None, version: Any = None) -> ExportResult:
    """Write each accepted record once to ``out`` in ``fmt`` (streams/app/formats.py); with a
    ``version`` manifest (streams/app/versions.py) exactly that version's records."""
    from synthstream.streams.app.formats import write

    result = ExportResult()
    if version is None:
        records = accepted(bootstrap, topic, serde, result, prompt_prefix)
    else:
        from synthstream.streams.app.versions import Contents, records_of, stop_of

        contents = Contents()
        records = _counted(records_of(bootstrap, topic, serde, version["name"], stop_of(version), contents), result)
    write(records, out, fmt, card)
    return result


def _counted(records: Iterator[dict[str, Any]], result: ExportResult) -> Iterator[dict[str, Any]]:
    for record in records:
        result.written += 1
        result.per_task[record["task"]] += 1
        yield record


def to_dpo(pair: dict[str, Any]) -> dict[str, Any]:
    """One pair as TRL's DPO trainer reads a conversational preference example."""
    return {"prompt": [{"role": m["role"], "content": m["content"]} for m in pair["prompt"]],
            "chosen": [{"role": "assistant", "content": pair["chosen"]}],
            "rejected": [{"role": "assistant", "content": pair["rejected"]}],
            "score_chosen": pair["chosen_score"], "score_rejected": pair["rejected_score"],
            "id": pair["pair_id"], "task": pair["task"], "prompt_id": pair["prompt_id"],
            "metadata": {"chosen_reasons": pair["chosen_reasons"], "rejected_reasons": pair["rejected_reasons"],
                         "judged_by": pair["judged_by"], "lineage": pair["lineage"]}}


def export_pairs(bootstrap: str, topic: str, serde: SchemaRegistry, out: Path) -> ExportResult:
    """``export --format dpo``: every preference pair once (by pair id), as JSONL."""
    import json

    result, seen = ExportResult(), set()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    with tmp.open("w", encoding="utf-8") as fh:
        for msg in read_to_end(bootstrap, topic, purpose="export-dpo"):
            try:
                _, pair = serde.decode(msg.value, "PreferencePair")
            except DecodeError:
                result.undecodable += 1
                continue
            if pair["pair_id"] in seen:
                result.replays += 1
                continue
            seen.add(pair["pair_id"])
            fh.write(json.dumps(to_dpo(pair), ensure_ascii=False) + "\n")
            result.written += 1
            result.per_task[pair["task"]] += 1
    tmp.replace(out)
    return result


def card_context(bootstrap: str, names: Any, serde: SchemaRegistry) -> dict[str, Any]:
    """What the dataset card says besides the records: each prompt's final outcome per task (an
    accepted record is the ACCEPTED outcome and wins over an outcome of a redone attempt), and
    the latest bias report of each data set (both read from their topics, bounded)."""
    final: dict[str, tuple[str, str]] = {}  # prompt id -> (task, outcome): the last word per prompt
    for msg in read_to_end(bootstrap, names.outcomes, purpose="export-card"):
        try:
            _, o = serde.decode(msg.value, "Outcome")
        except DecodeError:
            continue
        final[o["prompt_id"]] = (o.get("task") or "unknown", o["outcome"])
    for msg in read_to_end(bootstrap, names["accepted-records"], purpose="export-card"):
        try:  # an accepted record is its prompt's ACCEPTED outcome (no Outcome message is sent for it)
            _, r = serde.decode(msg.value, "AcceptedRecord")
        except DecodeError:
            continue
        final[r["prompt_id"]] = (r.get("task") or "unknown", "ACCEPTED")
    outcomes: dict[str, Counter] = {}
    for task, kind in final.values():
        outcomes.setdefault(task, Counter())[kind] += 1
    bias: dict[str, dict[str, Any]] = {}
    for msg in read_to_end(bootstrap, names["bias-reports"], purpose="export-card"):
        try:
            _, report = serde.decode(msg.value, "BiasReport")
        except DecodeError:
            continue
        if report["dataset"] not in bias or report["window_end"] >= bias[report["dataset"]]["window_end"]:
            bias[report["dataset"]] = report
    return {"outcomes": outcomes, "bias": bias}

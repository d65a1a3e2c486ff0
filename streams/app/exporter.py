"""Reads accepted-records from the beginning and writes trainer-ready JSONL (kafka-python)."""

from __future__ import annotations

import json
import logging
from collections import Counter
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


def export(bootstrap: str, topic: str, serde: SchemaRegistry, out: Path, prompt_prefix: str = "") -> ExportResult:
    """Write each accepted record once (first occurrence of a record id wins).

    ``prompt_prefix`` keeps only records whose prompt id starts with it (one run's records)."""
    result, seen = ExportResult(), set()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".partial")
    with tmp.open("w") as fh:
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
            fh.write(json.dumps(to_jsonl(record), ensure_ascii=False) + "\n")
            result.written += 1
            result.per_task[record["task"]] += 1
    tmp.replace(out)
    if result.undecodable > 3:
        logger.warning("export: skipped %d undecodable records in all", result.undecodable)
    return result

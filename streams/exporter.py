"""Reads accepted-records from the beginning and writes trainer-ready JSONL (kafka-python)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.errors import DecodeError
from streams.serde import SchemaRegistry

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


def read_topic(bootstrap: str, topic: str, group: str | None = None, timeout_s: float = 60.0,
               partitions: list[int] | None = None, start: dict[int, int] | None = None,
               client_id: str = "synthstream-export", stop: dict[int, int] | None = None):
    """Yield every message of ``partitions`` (default: all) from ``start`` (partition -> offset;
    default: the beginning) up to the end offsets taken at the start, or to ``stop`` (partition ->
    offset, exclusive) where that comes first."""
    import time

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", client_id=client_id,
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024)
    try:
        available = consumer.partitions_for_topic(topic) or set()
        wanted = sorted(available if partitions is None else set(partitions) & available)
        parts = [TopicPartition(topic, p) for p in wanted]
        if not parts:
            return
        consumer.assign(parts)
        begin, end = consumer.beginning_offsets(parts), consumer.end_offsets(parts)
        end = {tp: min(end[tp], (stop or {}).get(tp.partition, end[tp])) for tp in parts}
        for tp in parts:
            consumer.seek(tp, max((start or {}).get(tp.partition, 0), begin[tp]))
        remaining = {tp for tp in parts if consumer.position(tp) < end[tp]}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for tp, messages in consumer.poll(timeout_ms=500, max_records=20_000).items():
                for msg in messages:
                    if msg.offset < end[tp]:
                        yield msg
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        if remaining:
            raise TimeoutError(f"{topic} partitions {sorted(tp.partition for tp in remaining)} "
                               f"not read to the end within {timeout_s:.0f}s")
    finally:
        consumer.close()


def export(bootstrap: str, topic: str, serde: SchemaRegistry, out: Path, prompt_prefix: str = "") -> ExportResult:
    """Write each accepted record once (first occurrence of a record id wins).

    ``prompt_prefix`` keeps only records whose prompt id starts with it (one run's records)."""
    result, seen = ExportResult(), set()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".partial")
    with tmp.open("w") as fh:
        for msg in read_topic(bootstrap, topic):
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

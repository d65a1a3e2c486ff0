"""Watches outcomes, accepted records and dead-letters so a run can account for every prompt it published.

An accepted record is its prompt's ACCEPTED outcome: the dedup stage sends no separate outcome
message for it (one Kafka message less per accepted record), so whoever waits for outcomes
reads accepted-records too. Every other decision (REJECTED, DUPLICATE, CONTAMINATED,
DEAD_LETTER) is an Outcome on the outcomes topic."""

from __future__ import annotations

import logging
from collections import Counter

from synthstream.streams.runtime import kafka_io
from synthstream.streams.runtime.errors import DecodeError, SynthstreamError
from synthstream.streams.runtime.serde import SchemaRegistry
from synthstream.streams.runtime.topics import TopicNames

logger = logging.getLogger(__name__)


class OutcomeWatcher:
    """kafka-python consumer over outcomes + accepted-records + dead-letters (read committed),
    read from where it was positioned."""

    def __init__(self, bootstrap: str, names: TopicNames, serde: SchemaRegistry) -> None:
        from kafka import TopicPartition

        self.serde = serde
        self.names = names
        self.accepted_topic = names["accepted-records"]
        self.consumer = kafka_io.consumer(bootstrap, "watch")
        self.parts = [TopicPartition(t, p) for t in (names.outcomes, names["accepted-records"], names["dead-letters"])
                      for p in self._partitions(t)]
        self.consumer.assign(self.parts)
        self.counts: Counter = Counter()
        self.per_task: Counter = Counter()  # (task, outcome kind)
        self.rejected_for: Counter = Counter()  # (task, first reason code) of rejections
        self.outcomes: dict[str, str] = {}
        self.repeats = 0
        self.foreign = 0  # outcomes of prompts this watcher was not asked about (other runs, backlog)
        self.conflicts: list[tuple[str, str, str]] = []
        self.dead_letters: list[dict] = []
        self.dead_letter_reasons: Counter = Counter()
        self.undecodable = 0

    def _partitions(self, topic: str, timeout_s: float = 30.0) -> list[int]:
        """A topic created a moment ago may be missing from the first metadata answer: ask again
        until it is there, so that no partition goes unwatched."""
        try:
            return kafka_io.partitions_of(self.consumer, topic, timeout_s)
        except TimeoutError:
            raise SynthstreamError(f"topic {topic} has no partitions after {timeout_s:.0f}s; "
                                   "create the topics first (synthstream topics create)") from None

    def seek_to_end(self) -> None:
        """Ignore history: only what happens from now on is watched."""
        self.consumer.seek_to_end(*self.parts)
        for tp in self.parts:
            self.consumer.position(tp)  # seek is lazy; resolve it before anything is produced

    def seek_to_beginning(self) -> None:
        self.consumer.seek_to_beginning(*self.parts)

    def poll(self, pending: set[str] | None = None, timeout_ms: int = 250) -> int:
        """Read what arrived; remove decided prompt ids from ``pending``; return records read.

        With ``pending`` given, outcomes of other prompts are counted in ``foreign`` only."""
        n = 0
        for tp, messages in self.consumer.poll(timeout_ms=timeout_ms, max_records=5000).items():
            for msg in messages:
                n += 1
                try:
                    if tp.topic == self.accepted_topic:  # only its prompt id and task: the rest is not decoded
                        name, record = self.serde.leading(msg.value, ("record_id", "prompt_id", "task"))
                    else:
                        name, record = self.serde.decode(msg.value)
                except DecodeError as exc:
                    self.undecodable += 1
                    logger.warning("watch: undecodable %s[%d]@%d: %s", tp.topic, tp.partition, msg.offset, exc)
                    continue
                if name == "DeadLetter":
                    self.dead_letters.append(record)
                    self.dead_letter_reasons[f"{record['stage']}/{record['reason']}"] += 1
                elif name == "Outcome":
                    self._outcome(record, pending)
                elif name == "AcceptedRecord":  # the prompt's ACCEPTED outcome
                    self._outcome({"prompt_id": record["prompt_id"], "outcome": "ACCEPTED", "task": record["task"]},
                                  pending)
        return n

    def _outcome(self, record: dict, pending: set[str] | None) -> None:
        pid, kind = record["prompt_id"], record["outcome"]
        previous = self.outcomes.get(pid)
        if previous is None and pending is not None and pid not in pending:
            self.foreign += 1
            return
        if previous is not None:
            self.repeats += 1  # at-least-once redelivery: counted once
            if previous != kind:
                self.conflicts.append((pid, previous, kind))
            return
        self.outcomes[pid] = kind
        self.counts[kind] += 1
        self.per_task[(record.get("task") or "?", kind)] += 1
        if kind == "REJECTED":
            code = (record.get("reason") or "").split(":", 1)[0].strip() or "(no reason)"
            self.rejected_for[(record.get("task") or "?", code)] += 1
        if pending is not None:
            pending.discard(pid)

    def close(self) -> None:
        self.consumer.close()


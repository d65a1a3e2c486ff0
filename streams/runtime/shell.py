"""The agent shell every stage shares: raw topics, typed sinks, dead letters, outcomes and the
record loop that turns errors into dead letters."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from synthstream.streams.runtime.errors import PoisonRecord
from synthstream.streams.runtime.metrics import Metrics
from synthstream.streams.runtime.records import OutcomeKind, outcome
from synthstream.streams.runtime.serde import SchemaRegistry
from synthstream.streams.runtime.topics import ROLES, TopicNames

logger = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


class Sinks:
    """Raw-bytes topics of one app; records are Avro-encoded here, never by Faust."""

    def __init__(self, app: faust.App, names: TopicNames, serde: SchemaRegistry, metrics: Metrics,
                 clock: Callable[[], int] = now_ms) -> None:
        self.serde, self.metrics, self.clock = serde, metrics, clock
        self.topics = {role: raw_topic(app, names[role]) for role in ROLES}

    async def send(self, role: str, key: str, record_name: str, record: dict[str, Any],
                   partition: int | None = None) -> None:
        value = self.serde.encode(record_name, record)
        await self.topics[role].send(key=key.encode(), value=value, partition=partition)

    async def outcome(self, prompt_id: str, kind: OutcomeKind, stage: str, *, reason: str | None = None,
                      record_id: str | None = None, task: str | None = None) -> None:
        await self.send("outcomes", prompt_id, "Outcome",
                        outcome(prompt_id, kind, stage, self.clock(), reason=reason, record_id=record_id, task=task))

    async def dead_letter(self, stage: str, message: Any, exc: PoisonRecord, prompt_id: str | None = None) -> None:
        """Send the original bytes with the reason; account the prompt when we know its id."""
        logger.warning("%s: dead letter (%s) from %s[%s]@%s: %s", stage, exc.reason,
                       message.topic, message.partition, message.offset, exc.detail)
        await self.send("dead-letters", (message.key or b"").decode("utf-8", "replace"), "DeadLetter", {
            "stage": stage, "reason": exc.reason, "detail": exc.detail[:2000],
            "source_topic": message.topic, "source_partition": message.partition,
            "source_offset": message.offset, "original_key": message.key, "original_value": message.value,
            "prompt_id": prompt_id, "failed_at": self.clock(),
        })
        self.metrics.dead_letters.labels(stage, exc.reason).inc()
        if prompt_id is not None:
            await self.outcome(prompt_id, "DEAD_LETTER", stage, reason=f"{exc.reason}: {exc.detail[:200]}",
                               task=exc.task)


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


Handler = Callable[[Any], Awaitable[None]]


async def run_stage(stage: str, stream: Any, handle: Handler, sinks: Sinks) -> None:
    """The loop every agent shares: time each record, turn errors into dead letters, keep going."""
    latency = sinks.metrics.latency.labels(stage)
    async for event in stream.events():
        message = event.message
        started = time.perf_counter()
        try:
            await handle(message)
        except PoisonRecord as exc:
            await sinks.dead_letter(stage, message, exc, exc.prompt_id)
        except Exception as exc:  # a bug must not stop the stream or lose the record
            logger.exception("%s: internal error on %s[%s]@%s", stage, message.topic, message.partition, message.offset)
            err = PoisonRecord("internal_error", f"{type(exc).__name__}: {exc}")
            await sinks.dead_letter(stage, message, err, None)
        latency.observe(time.perf_counter() - started)

"""Review-labels agent: counts how often human reviewers agree with the quality gate.

Consumes: review-labels (ReviewLabel, published by ``synthstream review import``)
Produces: dead-letters for labels it cannot read
State:    agreement counts since this worker started (the counters are what to query over time)
Metrics:  synthstream_review_labels_total{task, human, gate}, synthstream_review_agreement_ratio{task},
          synthstream_stage_records_total{stage="review"}
"""

from __future__ import annotations

from typing import Any

import faust

from synthstream.agents.verification.review import LABELS, Agreement
from synthstream.streams.runtime.errors import PoisonRecord
from synthstream.agents.deps import Deps
from synthstream.streams.runtime.shell import Sinks, raw_topic, run_stage

STAGE = "review"


def register_labels(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    agreement = Agreement()

    async def handle(message: Any) -> None:
        _, label = deps.serde.decode(message.value, "ReviewLabel")
        if label["label"] not in LABELS:
            raise PoisonRecord("invalid_record", f"label {label['label']!r} is not one of {LABELS}", label["prompt_id"])
        gate = "accept" if label["gate_accepted"] else "reject"
        share = agreement.add(label["task"], label["label"] == gate)
        deps.metrics.review_labels.labels(label["task"], label["label"], gate).inc()
        deps.metrics.review_agreement.labels(label["task"]).set(share)
        deps.metrics.records.labels(STAGE, "labelled").inc()

    @app.agent(raw_topic(app, deps.names["review-labels"]), name=f"{deps.names.prefix}review-labels")
    async def review_labels(stream: Any) -> None:
        await run_stage(STAGE, stream, handle, sinks)

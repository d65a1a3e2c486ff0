"""Runs the Faust app for a subset of stages until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
from pathlib import Path

from prometheus_client import CollectorRegistry

from streams.app import STAGE_NAMES, build_app
from streams.metrics import Metrics, serve
from streams.pipeline import Deps
from streams.serde import registry as schema_registry
from streams.settings import KafkaSettings, MetricsSettings, WorkerSettings, masked_dump
from streams.spec import KNOWN_TASKS, load_spec
from streams.topics import TopicNames

logger = logging.getLogger(__name__)


def run_worker(stages: list[str], spec_paths: list[Path]) -> None:
    kafka, worker, metrics_settings = KafkaSettings(), WorkerSettings(), MetricsSettings()
    specs = [load_spec(p) for p in spec_paths]
    logger.info("settings:\n%s", masked_dump(kafka, worker, metrics_settings))
    registry = CollectorRegistry()
    metrics = Metrics(registry, tasks=tuple(sorted(KNOWN_TASKS)))
    deps = Deps(TopicNames(kafka.topic_prefix), schema_registry(), metrics, worker,
                targets={s.dataset.name: s.targets() for s in specs})
    app = build_app(kafka, worker, deps, stages or STAGE_NAMES)
    if metrics_settings.enabled:
        serve(registry, metrics_settings.host, metrics_settings.port)
        logger.info("metrics on http://%s:%d/metrics", metrics_settings.host, metrics_settings.port)
    from faust.worker import Worker

    Worker(app, loglevel=worker.log_level, quiet=True).execute_from_commandline()

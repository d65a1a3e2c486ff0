"""Every metric synthstream exports, on one registry passed in (fresh per test)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from streams.errors import ConfigError

OUTCOMES = {
    "generation": ("generated",),
    "verification": ("accepted", "rejected"),
    "dedup": ("accepted", "duplicate_exact", "duplicate_near", "replayed"),
    "bias": ("observed",),
}
DEAD_LETTER_REASONS = ("empty", "not_avro", "unknown_schema", "wrong_type", "corrupt", "invalid_record", "unknown_task", "internal_error")
QUALITY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """The worker's metrics; expected label sets are created up front so series exist at 0."""

    def __init__(self, registry: CollectorRegistry, tasks: tuple[str, ...] = ("math.linear",)) -> None:
        self.registry = registry
        self.records = Counter(
            "synthstream_stage_records", "Records a stage finished, by outcome.",
            ["stage", "outcome"], registry=registry)
        self.dead_letters = Counter(
            "synthstream_dead_letters", "Records a stage sent to dead-letters, by reason.",
            ["stage", "reason"], registry=registry)
        self.latency = Histogram(
            "synthstream_stage_latency_seconds", "Time a stage spent on one record.",
            ["stage"], buckets=LATENCY_BUCKETS, registry=registry)
        self.quality = Histogram(
            "synthstream_quality_score", "Quality score the verifier gave, per task.",
            ["task"], buckets=QUALITY_BUCKETS, registry=registry)
        self.dedup_index = Gauge(
            "synthstream_dedup_index_records", "Records held in the dedup index.", registry=registry)
        self.bias_share = Gauge(
            "synthstream_bias_share_ratio", "Observed share of a category in the last closed window.",
            ["dimension", "category"], registry=registry)
        self.bias_target = Gauge(
            "synthstream_bias_target_ratio", "Target share of a category from the spec.",
            ["dimension", "category"], registry=registry)
        self.bias_psi = Gauge(
            "synthstream_bias_psi", "Population stability index of the last window against the targets.",
            ["dimension"], registry=registry)
        self.bias_jsd = Gauge(
            "synthstream_bias_jsd", "Jensen-Shannon divergence (base 2) of the last window against the targets.",
            ["dimension"], registry=registry)
        self.bias_windows = Counter(
            "synthstream_bias_windows", "Bias windows closed, by what closed them.",
            ["closed_by"], registry=registry)
        for stage, outcomes in OUTCOMES.items():
            for outcome in outcomes:
                self.records.labels(stage, outcome)
            self.latency.labels(stage)
            for reason in DEAD_LETTER_REASONS:
                self.dead_letters.labels(stage, reason)
        for task in tasks:
            self.quality.labels(task)
        for closed_by in ("count", "time", "idle"):
            self.bias_windows.labels(closed_by)


def serve(registry: CollectorRegistry, host: str, port: int) -> None:
    """Serve /metrics for this registry on a background thread."""
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve /metrics on {host}:{port}: {exc.strerror}. Give each worker its own "
                          "SYNTHSTREAM_METRICS_PORT, or set SYNTHSTREAM_METRICS_ENABLED=false.") from exc

"""Every metric synthstream exports, on one registry passed in (fresh per test)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from synthstream.streams.runtime.errors import ConfigError

OUTCOMES = {
    "generation": ("generated",),
    "verification": ("accepted", "rejected"),
    "dedup": ("accepted", "duplicate_exact", "duplicate_near", "duplicate_semantic", "contaminated", "replayed"),
    "bias": ("observed", "replayed", "redelivered"),  # replayed: re-read after a restart; redelivered: already reported
    "review": ("labelled",),
}
DEAD_LETTER_REASONS = ("empty", "not_avro", "unknown_schema", "wrong_type", "corrupt", "invalid_record", "unknown_task", "internal_error",
                       "backend_rejected", "backend_exhausted")
SANDBOX_MODES = ("bwrap", "unsafe", "refuse")
SANDBOX_RESULTS = ("passed", "tests_failed", "timeout", "runtime_error", "sandbox_unavailable", "sandbox_failure",
                   "code_missing", "unparseable")
LLM_OUTCOMES = ("ok", "overload", "transient", "permanent")
LLM_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
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
            "synthstream_dedup_index_records", "Records held in this worker's dedup index (its partitions).",
            registry=registry)
        self.dedup_hits = Counter(
            "synthstream_dedup_hits", "Duplicates dedup dropped, by kind (exact, near, semantic).", ["kind"],
            registry=registry)
        self.preference_pairs = Counter(
            "synthstream_preference_pairs", "Preference pairs (a sample that passed, one that failed) emitted, "
            "per task.", ["task"], registry=registry)
        self.contaminated = Counter(
            "synthstream_contaminated", "Records dropped because they copy a benchmark test item, by benchmark "
            "and task.", ["benchmark", "task"], registry=registry)
        self.dedup_unembedded = Counter(
            "synthstream_dedup_unembedded", "Records of a task deduplicated semantically that were kept without "
            "the semantic tier (no embedding model in this worker, or it failed), per task.", ["task"],
            registry=registry)
        self.dedup_replay = Histogram(
            "synthstream_dedup_replay_seconds", "Time to replay one partition of the dedup-index changelog.",
            buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0), registry=registry)
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
        self.bias_length_psi = Gauge(
            "synthstream_bias_length_psi", "PSI of response lengths in the last window against the reference window "
            "(absent until a second window closes).", ["dataset"], registry=registry)
        self.diversity_distinct = Gauge(
            "synthstream_diversity_distinct_ratio", "Distinct word n-grams over all n-grams in the last window "
            "(distinct-n; absent until a window closes).", ["dataset", "n"], registry=registry)
        self.diversity_compression = Gauge(
            "synthstream_diversity_compression_ratio", "Raw bytes over zlib bytes of the last window's responses "
            "(higher is more repetitive).", ["dataset"], registry=registry)
        self.diversity_opening = Gauge(
            "synthstream_diversity_top_opening_ratio", "Share of the last window's responses opening with its most "
            "common first three words.", ["dataset"], registry=registry)
        self.bias_detector = Gauge(
            "synthstream_bias_detector_ratio", "Detector shares in the last window (gendered, male among gendered, "
            "refusal, boilerplate, non-English; absent when there was nothing to measure).", ["dataset", "detector"],
            registry=registry)
        self.consumer_lag = Gauge(
            "synthstream_consumer_lag_messages", "Messages the worker's consumer group has yet to read, per topic "
            "(end offsets minus committed offsets).", ["topic", "group"], registry=registry)
        self.bias_windows = Counter(
            "synthstream_bias_windows", "Bias windows closed, by what closed them.",
            ["closed_by"], registry=registry)
        self.llm_requests = Counter(
            "synthstream_llm_requests", "Model requests by how each attempt ended.",
            ["model", "task", "outcome"], registry=registry)
        self.llm_latency = Histogram(
            "synthstream_llm_request_seconds", "Time of one model request attempt.",
            ["model", "task"], buckets=LLM_LATENCY_BUCKETS, registry=registry)
        self.llm_tokens = Counter(
            "synthstream_llm_tokens", "Tokens the backend reported in usage, by kind (prompt, completion).",
            ["model", "task", "kind"], registry=registry)
        self.llm_cost = Counter(
            "synthstream_llm_cost_usd", "Estimated cost from usage and the configured price per million tokens.",
            ["model", "task"], registry=registry)
        self.llm_concurrency = Gauge(
            "synthstream_llm_concurrency_limit", "Current adaptive limit of model requests in flight.",
            ["model"], registry=registry)
        self.llm_retries = Counter(
            "synthstream_llm_retries", "Model requests retried, by the kind of failure.",
            ["model", "kind"], registry=registry)
        self.llm_usage_invalid = Counter(
            "synthstream_llm_usage_invalid", "Responses whose usage was missing or not valid counts.",
            ["model"], registry=registry)
        self.sandbox_mode = Gauge(
            "synthstream_sandbox_mode", "1 for the mode the code sandbox runs in (bwrap, unsafe: no jail by "
            "explicit opt-out, refuse: no jail, code is not run).", ["mode"], registry=registry)
        self.sandbox_seconds = Histogram(
            "synthstream_sandbox_task_seconds", "Time to run one program's tests in the sandbox, by result.",
            ["result"], buckets=LLM_LATENCY_BUCKETS, registry=registry)
        self.validator_score = Histogram(
            "synthstream_validator_score", "Score each validator gave, per task (only validators the gate weighs run).",
            ["validator", "task"], buckets=QUALITY_BUCKETS, registry=registry)
        self.validator_abstained = Counter(
            "synthstream_validator_abstained", "Judgements a validator could not make (no embedding model, judge "
            "unreachable): reported, never counted as a pass.", ["validator", "task"], registry=registry)
        self.semantic_model = Gauge(
            "synthstream_semantic_model_loaded", "1 when this worker's sentence-embedding model loaded, 0 when the "
            "semantic validators abstain.", registry=registry)
        self.embeddings = Counter(
            "synthstream_embeddings", "Texts the embedding service returned, by source (cache or model).",
            ["source"], registry=registry)
        for source in ("cache", "model"):
            self.embeddings.labels(source)
        self.review_sampled = Counter(
            "synthstream_review_sampled", "Verdicts sent to the human-review topic, by task and the gate's outcome.",
            ["task", "outcome"], registry=registry)
        self.review_labels = Counter(
            "synthstream_review_labels", "Human labels read back, by task, the human's label and the gate's decision.",
            ["task", "human", "gate"], registry=registry)
        self.review_agreement = Gauge(
            "synthstream_review_agreement_ratio", "Share of human labels this worker has read that agree with the "
            "gate, per task.", ["task"], registry=registry)
        self.verdicts = Counter(
            "synthstream_verdicts", "Verdicts per task and outcome, with the first reason code of rejections.",
            ["task", "outcome", "reason"], registry=registry)
        self.tasks = tasks
        for stage, outcomes in OUTCOMES.items():
            for outcome in outcomes:
                self.records.labels(stage, outcome)
            self.latency.labels(stage)
            for reason in DEAD_LETTER_REASONS:
                self.dead_letters.labels(stage, reason)
        for task in tasks:
            self.quality.labels(task)
        for kind in ("exact", "near", "semantic"):
            self.dedup_hits.labels(kind)
        for closed_by in ("count", "time", "idle", "rebalance"):
            self.bias_windows.labels(closed_by)
        for mode in SANDBOX_MODES:
            self.sandbox_mode.labels(mode)
        for result in SANDBOX_RESULTS:
            self.sandbox_seconds.labels(result)
        for task in tasks:
            self.verdicts.labels(task, "accepted", "")
            self.validator_score.labels("task", task)
            for outcome in ("accepted", "rejected"):
                self.review_sampled.labels(task, outcome)

    def register_model(self, model: str) -> None:
        """Create a model's series at zero, so dashboards see them before the first request."""
        for task in self.tasks:
            for outcome in LLM_OUTCOMES:
                self.llm_requests.labels(model, task, outcome)
            self.llm_latency.labels(model, task)
            for kind in ("prompt", "completion"):
                self.llm_tokens.labels(model, task, kind)
            self.llm_cost.labels(model, task)
        self.llm_concurrency.labels(model)
        for kind in ("overload", "transient"):
            self.llm_retries.labels(model, kind)
        self.llm_usage_invalid.labels(model)


def serve(registry: CollectorRegistry, host: str, port: int) -> None:
    """Serve /metrics for this registry on a background thread."""
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve /metrics on {host}:{port}: {exc.strerror}. Give each worker its own "
                          "SYNTHSTREAM_METRICS_PORT, or set SYNTHSTREAM_METRICS_ENABLED=false.") from exc

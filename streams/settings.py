"""Settings from the environment, one class per concern, all with the SYNTHSTREAM_ prefix."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "synthstream"


def _state_home() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "synthstream"


class KafkaSettings(BaseSettings):
    """Where the cluster is, or how to start the local one."""

    model_config = SettingsConfigDict(env_prefix="SYNTHSTREAM_", extra="ignore")

    bootstrap: str | None = Field(None, description="existing cluster; unset = local broker")
    kafka_version: str = "4.1.1"
    kafka_port: int = 9092
    kafka_controller_port: int | None = None
    kafka_cache_dir: Path = Field(default_factory=lambda: _cache_home() / "kafka")
    kafka_data_dir: Path = Field(default_factory=lambda: _state_home() / "kafka")
    kafka_heap: str = "512m"
    kafka_ready_timeout_s: float = 60.0
    topic_prefix: str = "synthstream."
    partitions: int = 4
    replication_factor: int = 1

    @property
    def local(self) -> bool:
        return not self.bootstrap

    @property
    def bootstrap_servers(self) -> str:
        return self.bootstrap or f"127.0.0.1:{self.kafka_port}"


class MetricsSettings(BaseSettings):
    """The worker's /metrics endpoint."""

    model_config = SettingsConfigDict(env_prefix="SYNTHSTREAM_METRICS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 9464
    enabled: bool = True


class WorkerSettings(BaseSettings):
    """Tuning of the Faust worker and its stages."""

    model_config = SettingsConfigDict(env_prefix="SYNTHSTREAM_WORKER_", extra="ignore")

    app_id: str = "synthstream"
    data_dir: Path = Field(default_factory=lambda: _state_home() / "worker")
    dedup_capacity: int = Field(0, ge=0, description="records each partition's dedup index keeps before it "
                                "forgets the oldest; 0 keeps all (docs/BENCHMARKS.md has the bytes per record)")
    dedup_snapshot_seconds: float = Field(300.0, ge=0, description="how often dedup snapshots each changed "
                                          "partition's index under data_dir/dedup (0: never; then a restart "
                                          "replays the whole changelog)")
    dedup_ratio: float = Field(90.0, gt=0, le=100, description="fuzz.ratio for a near duplicate when no spec sets it")
    dedup_token_sort: float = Field(90.0, gt=0, le=100, description="fuzz.token_sort_ratio, likewise")
    session_timeout_s: float = Field(30.0, ge=6, description="how long the group waits for a worker that stopped "
                                     "answering (a crash) before its partitions move to the others")
    lag_interval_s: float = Field(10.0, gt=0, description="how often the worker measures its group's consumer lag")
    bias_warn: float = Field(0.1, gt=0, description="PSI at which a dimension (or the length distribution) warns")
    bias_critical: float = Field(0.2, gt=0, description="PSI at which it is critical")
    bias_window_records: int = 200
    bias_window_seconds: float = 60.0
    bias_idle_flush_seconds: float = 3.0
    log_level: str = "warn"


class LLMSettings(BaseSettings):
    """The model server generation talks to; unset base_url = the embedded local model."""

    model_config = SettingsConfigDict(env_prefix="SYNTHSTREAM_LLM_", extra="ignore")

    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    api_key: SecretStr = Field(SecretStr("not-needed"), description="sent as the bearer token; never logged")
    model: str | None = Field(None, description="overrides the spec's model name")
    timeout_s: float = Field(120.0, gt=0, description="per request")
    max_retries: int = Field(6, ge=0)
    max_concurrency: int = Field(32, ge=1, description="ceiling of the adaptive limit, per worker")
    min_concurrency: int = Field(1, ge=1)
    initial_concurrency: int = Field(8, ge=1)
    backoff_base_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    price_input_per_mtok: float = Field(0.0, ge=0, description="USD per million prompt tokens, for the cost metric")
    price_output_per_mtok: float = Field(0.0, ge=0, description="USD per million completion tokens")
    # the embedded server (used when base_url is unset)
    embedded_port: int = 8765
    embedded_model_path: Path | None = Field(None, description="a GGUF file; default: the bundled Gemma 3 270M")
    embedded_ctx: int = 2048
    embedded_threads: int | None = None
    embedded_ready_timeout_s: float = 120.0
    embedded_state_dir: Path = Field(default_factory=lambda: _state_home() / "llm")
    model_cache_dir: Path = Field(default_factory=lambda: _cache_home() / "models")

    @property
    def embedded(self) -> bool:
        return not self.base_url

    @property
    def endpoint(self) -> str:
        return self.base_url or f"http://127.0.0.1:{self.embedded_port}/v1"


class SandboxSettings(BaseSettings):
    """The verification stage: its code sandbox (per-task limits) and its validators' data."""

    model_config = SettingsConfigDict(env_prefix="SYNTHSTREAM_VERIFY_", extra="ignore")

    unsafe_no_sandbox: bool = Field(False, description="run generated code without the jail when bubblewrap cannot "
                                                       "work here (unsafe: the code sees this machine)")
    parallel: int = Field(0, ge=0, description="tasks inside the jail at once; 0 = the number of cores")
    tmpfs_mb: int = Field(64, ge=4, description="the jail's whole writable space, shared by its tasks")
    wall_s: float = Field(5.0, gt=0, description="wall seconds per task")
    cpu_s: int = Field(5, ge=1, description="CPU seconds per process")
    memory_mb: int = Field(512, ge=64, description="address space per process")
    knowledge_base: Path | None = Field(None, description="JSONL facts for the factual validator; default: the "
                                                          "bundled one about the QA corpus")


def masked_dump(*settings: BaseSettings) -> str:
    """One line per setting for the start-up log; anything secret-looking is masked."""
    lines = []
    for group in settings:
        for name, value in group.model_dump().items():
            if any(word in name for word in ("key", "secret", "password", "token")) or isinstance(value, SecretStr):
                value = "****"
            lines.append(f"{type(group).__name__}.{name}={value}")
    return "\n".join(lines)

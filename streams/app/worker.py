"""Runs the Faust app for a subset of stages until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from synthstream.agents.generation.backends.client import ClientConfig, ModelClient
from synthstream.agents.families import TASKS
from synthstream.agents.verification.sandbox import Limits, Sandbox
from synthstream.agents.verification.validators import (DiversityValidator, FactualValidator, StyleConsistencyValidator,
                                                       Validator, load_kb)
from synthstream.agents import semantic
from synthstream.agents.verification.validators.grounded import qa_validators
from synthstream.agents.verification.validators.grounded_dialogue import grounded_dialogue_validators
from synthstream.agents.verification.validators.judge import JudgeConfig, JudgePanel, JudgeValidator, UnreachableJudge
from synthstream.agents.verification.validators.semantic import dialogue_validators
from synthstream.streams.app.faust_app import STAGE_NAMES, build_app
from synthstream.streams.runtime import kafka_io
from synthstream.streams.runtime.metrics import Metrics, serve
from synthstream.agents.deps import DatasetConfig, Deps
from synthstream.streams.runtime.serde import registry as schema_registry
from synthstream.streams.runtime.settings import LLMSettings, SandboxSettings, Settings
from synthstream.agents.spec import DEFAULT_MODEL, JudgeSpec, load_spec
from synthstream.streams.runtime.topics import TopicNames

logger = logging.getLogger(__name__)


def make_client(llm: LLMSettings, default_model: str, metrics: Metrics | None) -> ModelClient:
    """The worker's one model client: one connection pool and one adaptive limit for all actors."""
    config = ClientConfig(
        base_url=llm.endpoint, model=default_model, api_key=llm.api_key.get_secret_value(),
        model_override=llm.model, timeout_s=llm.timeout_s, max_retries=llm.max_retries,
        floor=llm.min_concurrency, ceiling=llm.max_concurrency,
        initial=min(llm.max_concurrency, max(llm.min_concurrency, llm.initial_concurrency)),
        backoff_base_s=llm.backoff_base_s, backoff_max_s=llm.backoff_max_s,
        price_input_per_mtok=llm.price_input_per_mtok, price_output_per_mtok=llm.price_output_per_mtok,
        http=llm.http_client)
    return ModelClient(config, metrics)


def run_worker(settings: Settings, stages: list[str], spec_paths: list[Path]) -> None:
    kafka, worker, metrics_settings, llm = settings.kafka, settings.worker, settings.metrics, settings.llm
    sandbox_settings = settings.verify
    specs = [load_spec(p) for p in spec_paths]
    spec_files = {s.dataset.name: Path(p) for s, p in zip(specs, spec_paths)}
    logger.info("settings:\n%s", settings.masked())
    kafka_io.configure(kafka)  # TLS / SASL for every client of this process (its settings came from a file)
    registry = CollectorRegistry()
    metrics = Metrics(registry, tasks=tuple(sorted(TASKS)))
    stages = stages or list(STAGE_NAMES)
    client = None
    by_default = settings.judge.weight if settings.judge_by_default else 0.0
    judged = [s for s in specs if s.judged(by_default)] if "verification" in stages else []
    if "generation" in stages:
        models = {llm.model} if llm.model else ({s.model.name for s in specs} or {DEFAULT_MODEL})
        for name in sorted(models):
            metrics.register_model(name)
        client = make_client(llm, sorted(models)[0], metrics)
        if any(s.needs_model for s in specs):
            warn_if_model_unreachable(llm, sorted(models)[0])
    judges = {s.dataset.name: make_judge(s.judge_specs, s.model.name, s.model.api, settings, metrics, by_default > 0)
              for s in judged}
    if judges:
        logger.info("LLM judge for data set(s) %s", ", ".join(sorted(judges)))
    datasets = {s.dataset.name: DatasetConfig.from_spec(s, judges.get(s.dataset.name), by_default) for s in specs}
    if "dedup" in stages and worker.decontaminate:
        datasets = {name: replace(config, decontam=make_decontaminator(spec, spec_files[name]))
                    for (name, config), spec in zip(datasets.items(), specs)}
    embeddings = make_embeddings(sandbox_settings, metrics) if {"verification", "dedup"} & set(stages) else None
    deps = Deps(TopicNames(kafka.topic_prefix), schema_registry(), metrics, worker, datasets=datasets,
                validators=make_validators(sandbox_settings, datasets, metrics, embeddings)
                if "verification" in stages else [],
                bootstrap=kafka.bootstrap_servers, partitions=kafka.partitions,
                model_client=client,
                # prompts wait on the model server, so many at once; when no task asks it (procedural
                # tasks) a batch is handled in sequence, with no task and semaphore per prompt
                generation_concurrency=llm.max_concurrency if any(s.generates_with_model for s in specs) else 1,
                sandbox=make_sandbox(sandbox_settings) if "verification" in stages else None, embeddings=embeddings,
                verification_concurrency=sandbox_settings.concurrency)
    if {"verification", "dedup"} & set(stages):
        from synthstream.streams.runtime.topics import check_dedup_partitions

        check_dedup_partitions(kafka.bootstrap_servers, deps.names, kafka.partitions)
    app = build_app(kafka, worker, deps, stages)
    from synthstream.streams.app.faust_app import CONSUMES
    from synthstream.streams.runtime.lag import LagMonitor

    LagMonitor(kafka.bootstrap_servers, app.conf.id, {r: deps.names[r] for s in stages for r in CONSUMES[s]},
               metrics.consumer_lag, worker.lag_interval_s).start()
    if metrics_settings.enabled:
        serve(registry, metrics_settings.host, metrics_settings.port)
        logger.info("metrics on http://%s:%d/metrics", metrics_settings.host, metrics_settings.port)
    faust_worker = bounded_stop_worker(worker.stop_timeout_s)(app, loglevel=worker.log_level, quiet=True)
    quiet_http_loggers(worker.log_level)
    faust_worker.execute_from_commandline()


def bounded_stop_worker(timeout_s: float) -> type:
    """Faust's Worker whose stop is bounded: Faust's shutdown waits on its Kafka clients and on
    requests in flight, and a dead broker or model server keeps it waiting for minutes. At the
    stop signal a watchdog starts; if the process has not exited ``timeout_s`` later it logs why
    and exits at once (no terminal spinner either, see ``__init__``). Nothing is lost: what was not committed is redone by whoever takes the
    partitions over (processing is at-least-once, sinks idempotent by id)."""
    import os
    import threading

    from faust.worker import Worker

    class BoundedStopWorker(Worker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # No terminal spinner: to feed it, Faust sets the root logger to DEBUG (its handler
            # keeps the worker's level), so every debug line of aiokafka and Faust, several per
            # message, was formatted into a record and dropped: 7 % of a worker's CPU. It also
            # wrote cursor escapes into the log.
            self.spinner = None

        def _schedule_shutdown(self, signum: Any) -> None:
            def watchdog() -> None:
                if not stopped.wait(timeout_s):
                    logger.error("the worker did not stop within %.0f s of %s (is the broker or the model server "
                                 "unreachable?); exiting now: work in flight is not committed and will be redone",
                                 timeout_s, getattr(signum, "name", signum))
                    logging.shutdown()
                    os._exit(128 + int(signum))

            if not started.is_set():
                started.set()
                threading.Thread(target=watchdog, name="stop-watchdog", daemon=True).start()
            super()._schedule_shutdown(signum)

    started, stopped = threading.Event(), threading.Event()
    return BoundedStopWorker


def make_judge_client(settings: Settings, model: str, metrics: Metrics | None, base_url: str | None = None,
                      model_override: str | None = None) -> ModelClient:
    """A model client of its own for the judge: its server (SYNTHSTREAM_JUDGE_BASE_URL, else the
    generation backend's), key and model, with the generation backend's retries and limits; the
    judge's requests, tokens and cost go to the model metrics with task="judge"."""
    llm, judge = settings.llm, settings.judge
    key = judge.api_key if judge.api_key is not None else llm.api_key
    if metrics is not None:
        metrics.register_model(model_override or model)
    return make_client(llm.model_copy(update={"base_url": base_url or judge.base_url or llm.endpoint,
                                              "api_key": key, "model": model_override}), model, metrics)


def make_judge(judge_specs: list[JudgeSpec], model: str, api: str, settings: Settings, metrics: Metrics | None,
               by_default: bool = False, probe: bool = False) -> JudgePanel:
    """The data set's judge(s), one client each, as a panel whose scores are averaged. With
    ``probe`` a judge whose server does not answer now abstains at once on every record (what
    ``synthstream verify`` wants) instead of waiting out the retries each time."""
    members: list[JudgeValidator | UnreachableJudge] = []
    for js in judge_specs:
        name = js.model or settings.judge.model or settings.llm.model or model
        override = settings.judge.model if not js.model else None
        url = js.base_url or settings.judge.base_url or settings.llm.endpoint
        if probe:
            why = judge_unreachable(url, (settings.judge.api_key or settings.llm.api_key).get_secret_value())
            if why is not None:
                logger.warning("the judge at %s does not answer (%s): it abstains on every record", url, why)
                members.append(UnreachableJudge(f"{url}: {why}"))
                continue
        client = make_judge_client(settings, name, metrics, js.base_url, override)
        config = JudgeConfig(model=name, api=js.api or ("chat" if by_default else api), guidance=js.rubric or "",
                             max_tokens=js.max_tokens, structured=settings.judge.structured,
                             label=name if len(judge_specs) > 1 else "")
        members.append(JudgeValidator(client.complete, config))
    return JudgePanel(members)


def judge_unreachable(url: str, api_key: str, timeout_s: float = 5.0) -> str | None:
    """Why the judge's server gives no answer to GET /models, or None when it does."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{url.rstrip('/')}/models", headers={"Authorization": f"Bearer {api_key}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):  # noqa: S310 - the user's configured server
            return None
    except urllib.error.HTTPError as exc:
        return None if exc.code == 404 else f"HTTP {exc.code}"  # 404: a server without /models still answers
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def make_decontaminator(spec: Any, spec_path: Path) -> Any:
    """The benchmark index of one data set: HumanEval (unless the spec turns it off) and the
    spec's own test sets (relative paths from the spec's directory); a set that cannot be read
    stops the worker with what to fix."""
    from synthstream.agents.dedup.decontam import Decontaminator, humaneval, load_items
    from synthstream.streams.app.seeds import resolve
    from synthstream.streams.runtime.errors import ConfigError

    d = spec.decontamination
    items = humaneval() if d.humaneval else []
    for bench in d.benchmarks:
        path = resolve(bench.path, spec_path)
        try:
            items += load_items(bench.name, path, bench.field, bench.id_field)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"spec {spec.dataset.name}: decontamination benchmark {bench.name}: {exc}") from exc
    checker = Decontaminator(items, n=d.ngram)
    logger.info("decontamination for %s: %d benchmark items (%s), %d-grams", spec.dataset.name, len(checker),
                ", ".join(sorted({i.benchmark for i in items})) or "none", d.ngram)
    return checker


def make_embeddings(settings: SandboxSettings, metrics: Metrics | None = None) -> semantic.EmbeddingService:
    """The worker's one embedding service (the model loaded once, for the semantic validators
    and the semantic dedup tier alike)."""
    def on_embed(hits: int, computed: int) -> None:
        if metrics is not None:
            metrics.embeddings.labels("cache").inc(hits)
            metrics.embeddings.labels("model").inc(computed)
    service = semantic.start(settings.semantic, settings.semantic_model_path, settings.semantic_tokenizer_path,
                             settings.semantic_threads, settings.semantic_batch, settings.semantic_cache, on_embed)
    if metrics is not None:
        metrics.semantic_model.set(1 if service.available else 0)
    return service


def make_validators(settings: SandboxSettings, datasets: Mapping[str, DatasetConfig] | None = None,
                    metrics: Metrics | None = None, service: semantic.EmbeddingService | None = None) -> list[Validator]:
    """The validators besides each task's own verifier; the knowledge base is read here, and the
    embedding model loaded here unless the worker's service is given."""
    kb = load_kb(settings.knowledge_base) if settings.knowledge_base else load_kb()
    service = service if service is not None else make_embeddings(settings, metrics)
    known = datasets or {}

    def topics_for(dataset: str) -> Mapping[str, str]:
        config = known.get(dataset)
        return config.topics if config is not None else {}

    return [FactualValidator(kb), StyleConsistencyValidator(), DiversityValidator(),
            *dialogue_validators(service, topics_for), *qa_validators(), *grounded_dialogue_validators()]


def make_sandbox(settings: SandboxSettings) -> Sandbox:
    limits = Limits(wall_s=settings.wall_s, cpu_s=settings.cpu_s, memory_mb=settings.memory_mb)
    sandbox = Sandbox(settings.parallel or None, settings.tmpfs_mb, settings.unsafe_no_sandbox, limits)
    if sandbox.mode == "refuse":
        logger.warning("code tasks will be rejected as sandbox_unavailable: %s. Install bubblewrap (Debian package "
                       "bubblewrap), or set SYNTHSTREAM_VERIFY_UNSAFE_NO_SANDBOX=true to run generated code without "
                       "a jail at your own risk.", sandbox.why)
    elif sandbox.mode == "unsafe":
        logger.warning("SYNTHSTREAM_VERIFY_UNSAFE_NO_SANDBOX is set: generated code runs without the bubblewrap jail")
    return sandbox


def warn_if_model_unreachable(llm: LLMSettings, model: str) -> None:
    """Say at start-up, not after the retries, that the model server does not answer."""
    from synthstream.streams.app.llm_local.launcher import probe_completion

    error = probe_completion(llm.endpoint, model=llm.model or model, timeout_s=10.0)
    if error is not None:
        how = ("start it with `synthstream llm start`" if llm.embedded
               else "check SYNTHSTREAM_LLM_BASE_URL, SYNTHSTREAM_LLM_MODEL and SYNTHSTREAM_LLM_API_KEY")
        logger.warning("the model server at %s gave no completion (%s). Model prompts will be retried and then "
                       "dead-lettered until it answers: %s.", llm.endpoint, error, how)


def quiet_http_loggers(level: str) -> None:
    """The HTTP stack under the model client formats a debug line per request event when its
    loggers inherit DEBUG; that cost a tenth of the worker's CPU. Keep them at the worker's level
    unless that is debug."""
    if level.lower() != "debug":
        for name in ("httpx", "httpcore", "httpx2", "httpcore2", "openai", "hpack"):
            logging.getLogger(name).setLevel(logging.WARNING)

"""The main job: broker, topics, worker, prompts in, every outcome awaited, JSONL out."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synthstream.streams.app.faust_app import STAGE_NAMES, group_id
from synthstream.streams.runtime.errors import ConfigError, SynthstreamError
from synthstream.streams.runtime.kafka_io import cluster_problem
from synthstream.streams.runtime.procs import log_tail, stop_process
from synthstream.streams.app.exporter import ExportResult, export
from synthstream.streams.app.kafka_local.launcher import LocalKafka
from synthstream.streams.app.outcomes import OutcomeWatcher
from synthstream.streams.app.producer import make_producer, plan_prompts, publish
from synthstream.streams.runtime.serde import registry as schema_registry
from synthstream.streams.app.llm_local.launcher import LocalLLM, probe_completion
from synthstream.streams.runtime.settings import LLMSettings, Settings
from synthstream.agents.spec import load_spec
from synthstream.streams.runtime.topics import TopicNames, create_topics

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    produced: int
    outcomes: Counter
    missing: int
    elapsed_s: float
    export: ExportResult | None
    dead_letter_reasons: Counter = field(default_factory=Counter)
    per_task: Counter = field(default_factory=Counter)
    model: str | None = None
    rejected_for: Counter = field(default_factory=Counter)  # (task, first reason code)
    spend: Spend | None = None  # tokens and cost the workers reported

    @property
    def accepted(self) -> int:
        return self.outcomes.get("ACCEPTED", 0)


@dataclass
class Spend:
    """What the model calls cost, from the workers' /metrics: generation and judge apart."""

    prompt_tokens: float = 0.0
    completion_tokens: float = 0.0
    judge_tokens: float = 0.0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> float:
        return self.prompt_tokens + self.completion_tokens


def scrape_spend(urls: list[str], timeout_s: float = 5.0) -> Spend | None:
    """Sum synthstream_llm_tokens_total and _cost_usd_total over the workers; None when no worker
    answered (a summary without the figure rather than a wrong one)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    spend, answered = Spend(), False
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - the workers' loopback /metrics
                text = resp.read().decode()
        except OSError:
            continue
        answered = True
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "synthstream_llm_tokens_total":
                    if sample.labels.get("task") == "judge":
                        spend.judge_tokens += sample.value
                    elif sample.labels.get("kind") == "prompt":
                        spend.prompt_tokens += sample.value
                    else:
                        spend.completion_tokens += sample.value
                elif sample.name == "synthstream_llm_cost_usd_total":
                    spend.cost_usd += sample.value
    return spend if answered else None


def worker_layout(cores: int | None = None) -> list[list[str]]:
    """Stages per worker process, split where the records hand over: on one core, one process;
    else three, generation+verification (fused: streams/app/faust_app.py), dedup and bias. A
    worker is one event loop, which waits on the broker part of the time (dedup's commits, the
    deliveries), so two processes left a quarter of 2 cores idle while each was the limit
    (docs/BENCHMARKS.md: 1,286 against 1,771 accepted records/s)."""
    cores = cores or os.cpu_count() or 1
    if cores < 2:
        return [list(STAGE_NAMES)]
    return [["generation", "verification"], ["dedup"], ["bias"]]


def start_worker(spec: Path, settings: Settings, log_path: Path, stages: list[str] | None = None) -> subprocess.Popen:
    """A `synthstream worker` process in its own session, configured by ``settings`` (written next
    to its log, for it alone), its output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    config = settings.write(log_path.with_suffix(".settings.json"))
    log = open(log_path, "ab")
    agents = ["--agents", ",".join(stages)] if stages else []
    return subprocess.Popen([sys.executable, "-m", "synthstream.streams.app.cli", "worker", "--spec", str(spec),
                             "--settings", str(config), *agents],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


EMBEDDED_CONCURRENCY = 2  # llama.cpp's Python server answers one request at a time


def prepare_model(stack: ExitStack, llm: LLMSettings, model_name: str,
                  console: Console) -> tuple[dict[str, Any], str]:
    """Start the embedded model server, or check that the configured one answers; what the
    workers' model settings change and a description for the summary."""
    if llm.embedded:
        server = LocalLLM(llm)
        already = server.status().running
        with console.status(f"starting the embedded model server on {server.url} (first time: assembling the "
                            "model file) ..."):
            server.start()
        if not already:
            stack.callback(server.stop)
        changes: dict[str, Any] = {"base_url": server.url}
        if "max_concurrency" not in llm.model_fields_set:  # the user did not choose one
            changes.update(max_concurrency=EMBEDDED_CONCURRENCY, initial_concurrency=EMBEDDED_CONCURRENCY)
        console.print(f"model: embedded {model_name} on {server.url} (log {server.log_file}); for production data "
                      "point SYNTHSTREAM_LLM_BASE_URL at a larger model server")
        return changes, f"embedded {model_name}"
    name = llm.model or model_name
    error = probe_completion(llm.endpoint, model=name, timeout_s=min(60.0, llm.timeout_s))
    if error is not None:
        raise SynthstreamError(f"the model server at SYNTHSTREAM_LLM_BASE_URL={llm.base_url} gave no completion "
                               f"for model {name!r}: {error}. Check the URL (it usually ends in /v1), the model "
                               "name (SYNTHSTREAM_LLM_MODEL or the spec's model.name) and the API key.")
    console.print(f"model: {name} at {llm.base_url}")
    return {}, f"{name} at {llm.base_url}"


def _seeded(spec: Any, spec_path: Path, count: int, run_id: str, console: Console) -> Iterator[dict[str, Any]]:
    """``run`` with a seeded spec: the prompts of its first ``count`` rows (or its limit)."""
    from synthstream.streams.app.producer import plan_seeded
    from synthstream.streams.app.seeds import BadRow, open_seeds

    source, rows = open_seeds(spec.seeds, spec_path, limit=count)
    for item in plan_seeded(spec, rows, run_id, int(time.time() * 1000), source):
        if isinstance(item, BadRow):
            console.print(f"[yellow]skipped[/yellow] {source} {item}", highlight=False)
        else:
            yield item


_PROMPT_ID = re.compile(r"^(?P<run>.+)-r?\d{8}(?:-\d+)?$")  # <data set>-<run id>-<index> (or -r<row>[-k])


@dataclass
class Backlog:
    """Prompts a consumer group has not read yet: how many, per '<data set>-<run id>', and the end
    offsets that skipping them commits."""

    waiting: int
    runs: Counter
    ends: dict[int, int]

    def describe(self, most: int = 3) -> str:
        shown = ", ".join(f"{run} {n}" for run, n in self.runs.most_common(most))
        more = len(self.runs) - most
        return shown + (f" and {more} more runs" if more > 0 else "") if self.runs else "runs not read"


def backlog(bootstrap: str, topic: str, group: str, read_at_most: int = 200_000) -> Backlog:
    """What ``group`` has still to read of ``topic`` (from its committed offsets, or the
    beginning where it has none), with the runs its prompts belong to (keys only, when there
    are at most ``read_at_most``)."""
    from kafka import TopicPartition

    from synthstream.streams.runtime import kafka_io

    from kafka.errors import CoordinatorLoadInProgressError, CoordinatorNotAvailableError, NotCoordinatorError

    admin, consumer = kafka_io.admin(bootstrap, "run-backlog"), kafka_io.consumer(bootstrap, "run-backlog")
    try:
        for attempt in range(40):  # a new cluster creates its offsets topic at the first group lookup, and a
            try:                   # broker just started loads it before it answers for its groups
                committed = admin.list_group_offsets({group: None}).get(group, {})
                break
            except (CoordinatorNotAvailableError, CoordinatorLoadInProgressError, NotCoordinatorError):
                if attempt == 39:
                    raise
                time.sleep(0.5)
        parts = [TopicPartition(topic, p) for p in kafka_io.partitions_of(consumer, topic)]
        end, begin = consumer.end_offsets(parts), consumer.beginning_offsets(parts)
    finally:
        admin.close()
        consumer.close()
    start = {tp.partition: committed[tp].offset if tp in committed and committed[tp].offset >= 0 else begin[tp]
             for tp in parts}
    waiting = sum(max(0, end[tp] - start[tp.partition]) for tp in parts)
    runs: Counter = Counter()
    if 0 < waiting <= read_at_most:
        for msg in kafka_io.read_range(bootstrap, topic, start=start, stop={tp.partition: end[tp] for tp in parts},
                                       purpose="run-backlog"):
            key = (msg.key or b"").decode("utf-8", "replace")
            m = _PROMPT_ID.match(key)
            runs[m.group("run") if m else key] += 1
    return Backlog(waiting, runs, {tp.partition: end[tp] for tp in parts})


def skip_backlog(bootstrap: str, topic: str, group: str, ends: dict[int, int]) -> None:
    """Commit ``ends`` for ``group``: its workers start after what is waiting. The group must have
    no running member (a worker of an earlier run still up makes this an error that says so)."""
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    from synthstream.streams.runtime import kafka_io

    admin = kafka_io.admin(bootstrap, "run-fresh")
    try:
        result = admin.alter_group_offsets(group, {TopicPartition(topic, p): OffsetAndMetadata(o, "", None)
                                                   for p, o in ends.items()})
    finally:
        admin.close()
    failed = {tp.partition: err.__name__ for tp, err in result.items() if err.__name__ != "NoError"}
    if failed:
        raise SynthstreamError(f"cannot skip the waiting prompts: the consumer group {group} refused ({failed}); "
                               "is a worker of an earlier run still running? Stop it (synthstream worker processes), "
                               "then run again")


def run(settings: Settings, spec_path: Path, count: int | None, out: Path, console: Console,
        timeout_s: float | None = None, fresh: bool = False) -> RunResult:
    spec = load_spec(spec_path)  # an invalid spec fails here, before anything starts or is published
    kafka, worker_settings, metrics, llm = settings.kafka, settings.worker, settings.metrics, settings.llm
    names = TopicNames(kafka.topic_prefix)
    serde = schema_registry()
    count = count or spec.count
    timeout_s = timeout_s or (max(600.0, count * 30.0) if spec.needs_model else max(120.0, count * 0.1))
    with ExitStack() as stack:
        if kafka.local:
            broker = LocalKafka(kafka)
            already = broker.status().running
            with console.status(f"starting local Kafka {kafka.kafka_version} on {broker.bootstrap} ..."):
                broker.start()
            if not already:
                stack.callback(broker.stop)
        bootstrap = kafka.bootstrap_servers
        if not kafka.local and (problem := cluster_problem(bootstrap, timeout_s=10.0)) is not None:
            raise ConfigError(problem)
        create_topics(bootstrap, kafka.topic_prefix, kafka.partitions, kafka.replication_factor)
        model_changes: dict[str, Any] = {}
        model_desc = None
        if spec.needs_model:
            model_changes, model_desc = prepare_model(stack, llm, spec.model.name, console)
        layout = worker_layout()
        prompts_group = group_id(kafka.topic_prefix, worker_settings.app_id,
                                 next(stages for stages in layout if "generation" in stages))
        try:
            waiting = backlog(bootstrap, names.prompts, prompts_group)
        except Exception as exc:  # the notice is a courtesy: without it the run goes on, unless --fresh needs it
            if fresh:
                raise SynthstreamError(f"--fresh: cannot read what {prompts_group} has still to read: {exc}") from exc
            logger.warning("could not tell whether prompts of earlier runs are waiting: %s", exc)
            waiting = Backlog(0, Counter(), {})
        if waiting.waiting and fresh:
            skip_backlog(bootstrap, names.prompts, prompts_group, waiting.ends)
            console.print(f"skipped {waiting.waiting} prompts of earlier runs waiting in {names.prompts} "
                          f"({waiting.describe()}): --fresh")
        elif waiting.waiting:
            console.print(f"[yellow]{waiting.waiting} prompts of earlier runs are waiting in {names.prompts}[/yellow] "
                          f"({waiting.describe()}); the workers take them first, so this run's outcomes come after "
                          "theirs. `synthstream run --fresh` skips them.", highlight=False)
        watcher = OutcomeWatcher(bootstrap, names, serde)
        stack.callback(watcher.close)
        watcher.seek_to_end()
        procs = []
        for i, stages in enumerate(layout):
            log_path = worker_settings.data_dir / f"worker-{i}.log"
            port = metrics.port + i
            config = settings.replace(kafka={"bootstrap": bootstrap}, metrics={"port": port}, llm=model_changes)
            proc = start_worker(spec_path, config, log_path, stages)
            stack.callback(stop_process, proc)
            procs.append((proc, log_path))
            console.print(f"worker {'+'.join(stages)}: pid {proc.pid}, log {log_path}, "
                          f"metrics http://{metrics.host}:{port}/metrics")
        run_id = uuid.uuid4().hex[:8]
        started = time.monotonic()
        producer = make_producer(bootstrap)
        stack.callback(producer.close)
        if spec.seeds is not None:  # one prompt per seed row (the first COUNT rows), bad rows said and skipped
            ids = publish(producer, names.prompts, serde, _seeded(spec, spec_path, count, run_id, console))
        else:
            ids = publish(producer, names.prompts, serde, plan_prompts(spec, count, run_id, int(time.time() * 1000)))
        pending = set(ids)
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("outcomes", total=len(ids), detail="")
            deadline = time.monotonic() + timeout_s
            while pending and time.monotonic() < deadline:
                for proc, log_path in procs:
                    if proc.poll() is not None:
                        raise SynthstreamError(f"a worker exited with code {proc.returncode}; last lines of "
                                               f"{log_path}:\n{log_tail(log_path)}")
                watcher.poll(pending)
                bar.update(task, completed=len(ids) - len(pending),
                           detail="  ".join(f"{k.lower()} {v}" for k, v in sorted(watcher.counts.items())))
        elapsed = time.monotonic() - started
        while watcher.poll(set(), timeout_ms=300):  # drain what is already there, for the summary
            pass
        if pending:
            console.print(f"[red]{len(pending)} prompts had no outcome after {timeout_s:.0f}s[/red] "
                          f"(e.g. {sorted(pending)[:3]}); see the worker logs in {worker_settings.data_dir}")
        spend = scrape_spend([f"http://127.0.0.1:{metrics.port + i}/metrics" for i in range(len(procs))]) \
            if metrics.enabled and spec.needs_model else None
        for proc, _ in procs:
            stop_process(proc)
        result = export(bootstrap, names["accepted-records"], serde, out, prompt_prefix=f"{spec.dataset.name}-{run_id}-")
        if watcher.foreign:
            console.print(f"(the workers also decided {watcher.foreign} prompts of earlier runs or other producers "
                          "that were waiting in the prompts topic)")
        return RunResult(len(ids), watcher.counts, len(pending), elapsed, result, watcher.dead_letter_reasons,
                         watcher.per_task, model_desc, watcher.rejected_for, spend)


KINDS = ("ACCEPTED", "REJECTED", "DUPLICATE", "DEAD_LETTER", "CONTAMINATED")


def summary_table(res: RunResult, out: Path) -> Table:
    table = Table(title="synthstream run")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("prompts produced", str(res.produced))
    for kind in KINDS:
        if kind != "CONTAMINATED" or res.outcomes.get(kind):  # copies of benchmark items: shown when there are any
            table.add_row(f"  {kind.lower().replace('_', ' ')}", str(res.outcomes.get(kind, 0)))
    table.add_row("  no outcome (lost)", str(res.missing))
    for reason, n in sorted(res.dead_letter_reasons.items()):
        table.add_row(f"  dead letters seen, {reason}", str(n))
    tasks = sorted({task for task, _ in res.per_task})
    if len(tasks) > 1 or res.model:
        for task in tasks:
            row = ", ".join(f"{kind.lower().replace('_', ' ')} {res.per_task[(task, kind)]}"
                            for kind in KINDS if res.per_task[(task, kind)])
            table.add_row(f"  {task}", row)
            why = [(code, n) for (t, code), n in res.rejected_for.most_common() if t == task][:3]
            if why:
                table.add_row("    rejected for", ", ".join(f"{code} {n}" for code, n in why))
    if res.model:
        table.add_row("model", res.model)
    if res.spend is not None:
        s = res.spend
        table.add_row("tokens spent", f"{s.prompt_tokens:.0f} prompt + {s.completion_tokens:.0f} completion"
                      + (f" + {s.judge_tokens:.0f} judging" if s.judge_tokens else ""))
        per = (s.tokens + s.judge_tokens) / res.accepted if res.accepted else None
        table.add_row("tokens per accepted record", f"{per:.0f}" if per is not None else "- (none accepted)")
        if s.cost_usd > 0:
            table.add_row("estimated cost per accepted record",
                          f"${s.cost_usd / res.accepted:.5f}" if res.accepted else f"${s.cost_usd:.4f} (none accepted)")
    table.add_row("elapsed (first prompt to last outcome)", f"{res.elapsed_s:.1f} s")
    if res.model:
        table.add_row("accepted records/min", f"{res.accepted * 60 / res.elapsed_s:.1f}" if res.elapsed_s else "-")
    else:
        table.add_row("accepted records/s", f"{res.accepted / res.elapsed_s:.0f}" if res.elapsed_s else "-")
        table.add_row("prompts/s", f"{res.produced / res.elapsed_s:.0f}" if res.elapsed_s else "-")
    if res.export is not None:
        table.add_row("exported records", f"{res.export.written} -> {out}")
    return table



"""The `synthstream` command line."""

from __future__ import annotations

import functools
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from synthstream.streams.runtime import kafka_io
from synthstream.streams.runtime.errors import ConfigError, SynthstreamError
from synthstream.streams.runtime.settings import LLMSettings, Settings

app = typer.Typer(help="A streaming factory for verified synthetic LLM training data.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
kafka_app = typer.Typer(help="Manage the local single-node Kafka broker.", no_args_is_help=True)
topics_app = typer.Typer(help="Manage the pipeline's topics.", no_args_is_help=True)
app.add_typer(kafka_app, name="kafka")
app.add_typer(topics_app, name="topics")
llm_app = typer.Typer(help="Manage the embedded local model server (used when SYNTHSTREAM_LLM_BASE_URL is unset).",
                      no_args_is_help=True)
app.add_typer(llm_app, name="llm")
spec_app = typer.Typer(help="Inspect specs: the JSON Schema, the task registry, validation.", no_args_is_help=True)
app.add_typer(spec_app, name="spec")
review_app = typer.Typer(help="Human review: export sampled verdicts for reviewers, import their labels.",
                         no_args_is_help=True)
app.add_typer(review_app, name="review")
dataset_app = typer.Typer(help="Named versions of a data set: tag one, list them, diff two (export --version "
                          "reproduces one).", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")
console = Console(stderr=True)
SPEC = typer.Option(..., "--spec", help="dataset spec (YAML)", exists=False)


@functools.cache
def _settings() -> Settings:
    """This process's configuration, read from the environment once (a worker started by ``run``
    reads the file it was given instead: ``worker --settings``)."""
    settings = Settings.from_env()
    kafka_io.configure(settings.kafka)  # every Kafka client of this process: TLS and SASL
    return settings


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
    raise typer.Exit(1)


def _emit(text: str, out: Path | None) -> None:
    """A generated document to standard output, or to ``out``."""
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        console.print(f"wrote {out}")


def _setup_logging(level: str = "WARNING") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@kafka_app.command("start")
def kafka_start() -> None:
    """Fetch the jars (once), format storage (once), start the broker and wait until it answers."""
    from synthstream.streams.app.kafka_local.launcher import LocalKafka

    settings = _settings().kafka
    if not settings.local:
        _fail(ConfigError(f"SYNTHSTREAM_BOOTSTRAP={settings.bootstrap} is set: an existing cluster is in use, "
                          "there is no local broker to start. Unset it to use the local one."))
    try:
        with console.status("starting Kafka ..."):
            st = LocalKafka(settings).start()
    except SynthstreamError as exc:
        _fail(exc)
    console.print(f"Kafka ready on {st.bootstrap} (pid {st.pid})")


@kafka_app.command("fetch")
def kafka_fetch() -> None:
    """Resolve the broker's jars through Maven into the per-user cache (once; offline afterwards)."""
    from synthstream.streams.app.kafka_local.launcher import LocalKafka

    try:
        with console.status("fetching Kafka jars with Maven ..."):
            path = LocalKafka(_settings().kafka).fetch()
    except SynthstreamError as exc:
        _fail(exc)
    console.print(f"Kafka jars in {path}")


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the local broker (SIGTERM, then SIGKILL)."""
    from synthstream.streams.app.kafka_local.launcher import LocalKafka

    stopped = LocalKafka(_settings().kafka).stop()
    console.print("Kafka stopped" if stopped else "Kafka was not running")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether a broker answers; exit 1 when none does."""
    from synthstream.streams.app.kafka_local.launcher import LocalKafka
    from synthstream.streams.runtime.kafka_io import cluster_problem

    settings = _settings().kafka
    if not settings.local:
        problem = cluster_problem(settings.bootstrap_servers)
        ok = problem is None
        console.print(f"cluster {settings.bootstrap}: {'ready' if ok else problem}", highlight=False)
        raise typer.Exit(0 if ok else 1)
    st = LocalKafka(settings).status()
    console.print(f"local Kafka on {st.bootstrap}: {st.detail}" + (f" (pid {st.pid})" if st.pid else ""))
    raise typer.Exit(0 if st.ready else 1)


def _embedded_only() -> LLMSettings:
    settings = _settings().llm
    if not settings.embedded:
        _fail(ConfigError(f"SYNTHSTREAM_LLM_BASE_URL={settings.base_url} is set: that server is used, there is no "
                          "embedded model to manage. Unset it to use the embedded one."))
    return settings


@llm_app.command("start")
def llm_start() -> None:
    """Assemble the bundled model (once), start the server on 127.0.0.1, wait for a real completion."""
    from synthstream.streams.app.llm_local.launcher import LocalLLM

    settings = _embedded_only()
    try:
        with console.status("starting the embedded model server ..."):
            st = LocalLLM(settings).start()
    except SynthstreamError as exc:
        _fail(exc)
    console.print(f"model server ready on {st.url} (pid {st.pid})")


@llm_app.command("stop")
def llm_stop() -> None:
    """Stop the embedded model server (SIGTERM, then SIGKILL)."""
    from synthstream.streams.app.llm_local.launcher import LocalLLM

    stopped = LocalLLM(_embedded_only()).stop()
    console.print("model server stopped" if stopped else "model server was not running")


@llm_app.command("status")
def llm_status() -> None:
    """Say whether the model server answers a completion; exit 1 when it does not."""
    from synthstream.streams.app.llm_local.launcher import LocalLLM, probe_completion

    settings = _settings().llm
    if not settings.embedded:
        error = probe_completion(settings.endpoint, model=settings.model or "default")
        console.print(f"model server {settings.endpoint}: {'ready' if error is None else error}")
        raise typer.Exit(0 if error is None else 1)
    st = LocalLLM(settings).status()
    console.print(f"embedded model server on {st.url}: {st.detail}" + (f" (pid {st.pid})" if st.pid else ""))
    raise typer.Exit(0 if st.ready else 1)


@spec_app.command("schema")
def spec_schema(out: Path = typer.Option(None, "--out", help="write here instead of stdout")) -> None:
    """Print the JSON Schema of a spec (specs/spec.schema.json is this output)."""
    import json

    from synthstream.agents.spec import json_schema

    _emit(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n", out)


@spec_app.command("tasks")
def spec_tasks() -> None:
    """List every task with its solvers, dimensions and parameters."""
    from rich.table import Table

    from synthstream.agents.families import TASKS

    table = Table("task", "solvers", "dimensions", "params", "what")
    table.columns[0].no_wrap = True
    for name, task in sorted(TASKS.items()):
        dims = "; ".join(f"{d}: {', '.join(c) if c else 'any'}" for d, c in task.dimensions.items())
        params = ", ".join(f"{k}={v.default}" for k, v in task.params_model.model_fields.items())
        table.add_row(name, "/".join(task.solvers), dims, params, task.summary)
    Console().print(table)


@spec_app.command("check")
def spec_check(spec: list[Path] = typer.Argument(..., help="spec files")) -> None:
    """Validate specs; print what is wrong, with file, line and field."""
    from synthstream.agents.spec import load_spec

    failed = False
    for path in spec:
        try:
            parsed = load_spec(path)
        except ConfigError as exc:
            console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
            failed = True
            continue
        console.print(f"{path}: ok ({parsed.dataset.name} {parsed.dataset.version}, {len(parsed.tasks)} task(s), "
                      f"count {parsed.count}, spec hash {parsed.spec_hash[:12]})")
    raise typer.Exit(1 if failed else 0)


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic of the table that does not exist yet (idempotent)."""
    from synthstream.streams.runtime.topics import create_topics

    s = _settings().kafka
    try:
        created = create_topics(s.bootstrap_servers, s.topic_prefix, s.partitions, s.replication_factor)
    except SynthstreamError as exc:
        _fail(exc)
    console.print(f"created {len(created)} topic(s): {', '.join(created) or '(all existed)'}")


@app.command()
def produce(spec: Path = SPEC, count: int = typer.Option(100, "--count", min=1),
            run_id: str = typer.Option("", "--run-id", help="default: random"),
            follow_bias: bool = typer.Option(False, "--follow-bias", help="publish in batches and re-weight the "
                                             "sampling from the bias reports after each, so the accepted records "
                                             "return to the spec's targets when categories are rejected unevenly"),
            batch: int = typer.Option(200, "--batch", min=10, help="prompts per batch with --follow-bias"),
            wait: float = typer.Option(60.0, "--wait", min=1, help="seconds to wait for a batch's bias reports"),
            seed_file: str = typer.Option(None, "--from", help="a seed data set (JSONL, CSV, Parquet, a saved "
                                          "Hugging Face dataset or a hub id): one prompt per row, mapped by the "
                                          "spec's seeds.fields; overrides seeds.path"),
            seed_format: str = typer.Option(None, "--format", help="jsonl, csv, parquet or hf (default: the spec's "
                                            "seeds.format, else by suffix)"),
            ) -> None:
    """Publish COUNT Prompt events sampled from SPEC, or one per row of a seed data set (--from,
    or the spec's seeds section). A seeded run given the --run-id of an earlier one skips the
    rows that run already published."""
    import uuid

    from synthstream.streams.app.producer import make_producer, plan_prompts, publish
    from synthstream.streams.runtime.serde import registry
    from synthstream.agents.spec import load_spec
    from synthstream.streams.runtime.topics import TopicNames

    try:
        parsed = load_spec(spec)
    except SynthstreamError as exc:
        _fail(exc)
    s = _settings().kafka
    names = TopicNames(s.topic_prefix)
    if seed_file is not None or parsed.seeds is not None:
        if follow_bias:
            _fail(ConfigError("--follow-bias samples prompts from the spec; a seed data set gives one per row"))
        _produce_seeded(parsed, spec, seed_file, seed_format, run_id or uuid.uuid4().hex[:8], s, names)
        return
    run_id = run_id or uuid.uuid4().hex[:8]
    from synthstream.streams.runtime.kafka_io import cluster_problem

    if (problem := cluster_problem(s.bootstrap_servers, timeout_s=10.0)) is not None:
        _fail(ConfigError(problem))
    producer = make_producer(s.bootstrap_servers)
    try:
        if not follow_bias:
            ids = publish(producer, names.prompts, registry(), plan_prompts(parsed, count, run_id,
                                                                             int(time.time() * 1000)))
        else:
            from synthstream.streams.app.producer import BiasFollower, publish_following_bias

            follower = BiasFollower(s.bootstrap_servers, names["bias-reports"], registry(), parsed.dataset.name)
            try:
                ids = publish_following_bias(producer, follower, names.prompts, registry(), parsed, count, run_id,
                                             batch, wait, console.print)
            finally:
                follower.close()
    finally:
        producer.close()
    console.print(f"published {len(ids)} prompts to {names.prompts}")


def _produce_seeded(spec: Any, spec_path: Path, seed_file: str | None, seed_format: str | None, run_id: str,
                    kafka: Any, names: Any) -> None:
    """``produce`` from a seed data set: rows streamed, bad rows reported with their number, a
    resumed run (same run id) skipping what is already published, a progress line."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from synthstream.streams.app.producer import make_producer, plan_seeded, published_ids
    from synthstream.streams.app.seeds import BadRow, open_seeds
    from synthstream.streams.runtime.kafka_io import cluster_problem
    from synthstream.streams.runtime.serde import registry

    if spec.seeds is None:
        _fail(ConfigError(f"--from needs a seeds: section in {spec_path} that maps each prompt param to the row's "
                          "field, e.g. seeds: {path: data.jsonl, fields: {question: problem, answer: solution}}"))
    if (problem := cluster_problem(kafka.bootstrap_servers)) is not None:
        _fail(ConfigError(problem))
    try:
        source, rows = open_seeds(spec.seeds, spec_path, seed_file, seed_format)
        prefix = f"{spec.dataset.name}-{run_id}-r"
        done = published_ids(kafka.bootstrap_servers, names.prompts, prefix)
        if done:
            console.print(f"run {run_id}: {len(done)} prompts of it are already in {names.prompts}; skipping them")
        producer = make_producer(kafka.bootstrap_servers)
        serde, sent, bad, futures = registry(), 0, 0, []
        columns = (SpinnerColumn(), TextColumn("[bold]produce[/bold] {task.fields[detail]}"), TimeElapsedColumn())
        try:
            with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
                task = bar.add_task("produce", detail="")
                for item in plan_seeded(spec, rows, run_id, int(time.time() * 1000), source, done):
                    if isinstance(item, BadRow):
                        bad += 1
                        if bad <= 20:
                            console.print(f"[yellow]skipped[/yellow] {source} {item}", highlight=False)
                        continue
                    futures.append(producer.send(names.prompts, key=item["prompt_id"].encode(),
                                                 value=serde.encode("Prompt", item)))
                    sent += 1
                    if sent % 200 == 0:
                        bar.update(task, detail=f"{sent} prompts, {bad} bad rows")
                        for fut in futures:
                            fut.get(timeout=30)
                        futures = []
                producer.flush()
                for fut in futures:
                    fut.get(timeout=30)  # surfaces any delivery error instead of losing the prompt
        finally:
            producer.close()
    except SynthstreamError as exc:
        _fail(exc)
    more = f" ({bad - 20} more not shown)" if bad > 20 else ""
    console.print(f"published {sent} prompts from {source} to {names.prompts} (run {run_id}); "
                  f"{bad} bad rows skipped{more}; {len(done)} already published")


@app.command()
def worker(spec: list[Path] = typer.Option([], "--spec", help="spec(s) whose targets the bias monitor uses"),
           agents: str = typer.Option("", "--agents", help="comma-separated subset of "
                                      "generation,verification,dedup,bias (default: all)"),
           settings: Path = typer.Option(None, "--settings", help="a settings file written by `run` (default: "
                                         "the SYNTHSTREAM_* environment variables)")) -> None:
    """Run the Faust worker with all stages or a subset."""
    from synthstream.streams.app.worker import run_worker

    _setup_logging("INFO")
    try:
        config = _settings() if settings is None else Settings.read(settings)
    except (OSError, ValueError) as exc:
        _fail(ConfigError(f"cannot read the settings file {settings}: {exc}"))
    try:
        run_worker(config, [a.strip() for a in agents.split(",") if a.strip()], spec)
    except SynthstreamError as exc:
        _fail(exc)


@app.command()
def export(out: Path = typer.Option(..., "--out", help="the file to write (a directory for --format hf)"),
           fmt: str = typer.Option("jsonl", "--format", help="jsonl (one chat-format example per line), parquet "
                                   "(typed columns, zstd), hf (a Hugging Face dataset saved with save_to_disk, "
                                   "plus a README.md dataset card) or dpo (the preference pairs, as TRL's DPO "
                                   "trainer reads them)"),
           spec: Path = typer.Option(None, "--spec", help="the data set's spec, for the dataset card (name, "
                                     "version, license, tasks)"),
           push_to_hub: str = typer.Option(None, "--push-to-hub", help="also upload the hf export to this hub "
                                           "repo (owner/name; needs HF_TOKEN and a reachable hub)"),
           version: str = typer.Option(None, "--version", help="NAME@VERSION: exactly the records of that tagged "
                                       "version (synthstream dataset tag), not everything up to now")) -> None:
    """Write every accepted record, from the beginning, once per record id, in a trainer's format."""
    from synthstream.agents.spec import load_spec
    from synthstream.streams.app.exporter import card_context, export as do_export
    from synthstream.streams.app.formats import FORMATS, card_text
    from synthstream.streams.runtime.kafka_io import cluster_problem
    from synthstream.streams.runtime.serde import registry
    from synthstream.streams.runtime.topics import TopicNames

    if fmt not in (*FORMATS, "dpo"):
        _fail(ConfigError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}, dpo"))
    if fmt == "dpo" and (version or push_to_hub):
        _fail(ConfigError("--format dpo writes every preference pair; --version and --push-to-hub are for records"))
    if push_to_hub and fmt != "hf":
        _fail(ConfigError("--push-to-hub uploads a Hugging Face dataset: use it with --format hf"))
    s = _settings().kafka
    names = TopicNames(s.topic_prefix)
    if (problem := cluster_problem(s.bootstrap_servers)) is not None:
        _fail(ConfigError(problem))
    try:
        parsed = load_spec(spec) if spec is not None else None
    except SynthstreamError as exc:
        _fail(exc)
    if fmt == "dpo":
        from synthstream.streams.app.exporter import export_pairs

        res = export_pairs(s.bootstrap_servers, names["preference-pairs"], registry(), out)
        console.print(f"wrote {res.written} preference pairs to {out} as TRL DPO JSONL ({res.replays} replays "
                      f"skipped, {res.undecodable} undecodable skipped)")
        return
    manifest = None
    if version is not None:
        from synthstream.streams.app.versions import parse_key, read_versions

        try:
            wanted = "@".join(parse_key(version))
        except SynthstreamError as exc:
            _fail(exc)
        tags = read_versions(s.bootstrap_servers, names["dataset-versions"], registry())
        if wanted not in tags:
            _fail(ConfigError(f"no version {wanted}; tagged: {', '.join(sorted(tags)) or 'none'} "
                              "(synthstream dataset list)"))
        manifest = tags[wanted]
    card = None
    if fmt == "hf":
        context = dict(card_context(s.bootstrap_servers, names, registry()), spec=parsed,
                       version=version if manifest is not None else None)
        card = functools.partial(card_text, context=context)
    res = do_export(s.bootstrap_servers, names["accepted-records"], registry(), out, fmt=fmt, card=card,
                    version=manifest)
    console.print(f"wrote {res.written} records to {out} as {fmt} ({res.replays} replays skipped, "
                  f"{res.undecodable} undecodable skipped)")
    if push_to_hub:
        _push(out, push_to_hub)


@dataset_app.command("tag")
def dataset_tag(name: str = typer.Argument(..., help="the data set (its records' lineage.dataset)"),
                version: str = typer.Argument(..., help="a new version name, e.g. v1 or 2026-12-02"),
                note: str = typer.Option(None, "--note", help="a line saying what this version is")) -> None:
    """Tag the data set's accepted records as they are now as NAME@VERSION (never overwritten)."""
    from synthstream.streams.app.versions import tag

    s, names, serde = _versions_io()
    try:
        m = tag(s.bootstrap_servers, names, serde, name, version, int(time.time() * 1000), note)
    except SynthstreamError as exc:
        _fail(exc)
    tasks = ", ".join(f"{t} {n}" for t, n in m["per_task"].items())
    console.print(f"tagged {name}@{version}: {m['records']} records ({tasks}) at accepted-records offsets "
                  + ", ".join(f"{p}:{o}" for p, o in m["offsets"].items()))


@dataset_app.command("list")
def dataset_list() -> None:
    """Every tagged version: when, how many records, per task."""
    from rich.table import Table

    from synthstream.streams.app.versions import read_versions

    s, names, serde = _versions_io()
    tags = read_versions(s.bootstrap_servers, names["dataset-versions"], serde)
    if not tags:
        console.print("no version tagged yet (synthstream dataset tag NAME VERSION)")
        return
    table = Table("version", "tagged at (UTC)", "records", "per task", "note")
    for k, m in sorted(tags.items(), key=lambda kv: kv[1]["tagged_at"]):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(m["tagged_at"] / 1000))
        table.add_row(k, when, str(m["records"]), ", ".join(f"{t} {n}" for t, n in m["per_task"].items()),
                      m["note"] or "")
    console.print(table)


@dataset_app.command("diff")
def dataset_diff(a: str = typer.Argument(..., help="NAME@VERSION"), b: str = typer.Argument(..., help="NAME@VERSION")
                 ) -> None:
    """What B has that A has not (and the reverse), per task, by record id."""
    from synthstream.streams.app.versions import diff, parse_key, read_versions

    s, names, serde = _versions_io()
    tags = read_versions(s.bootstrap_servers, names["dataset-versions"], serde)
    try:
        keys = ["@".join(parse_key(x)) for x in (a, b)]
    except SynthstreamError as exc:
        _fail(exc)
    missing = [k for k in keys if k not in tags]
    if missing:
        _fail(ConfigError(f"no version {', '.join(missing)}; tagged: {', '.join(sorted(tags)) or 'none'}"))
    changes = diff(s.bootstrap_servers, names, serde, tags[keys[0]], tags[keys[1]])
    for task, (added, removed) in changes.items():
        console.print(f"{task}: +{added}" + (f" -{removed}" if removed else ""))
    console.print(f"{keys[1]} vs {keys[0]}: +{sum(x for x, _ in changes.values())} records"
                  + (f", -{sum(y for _, y in changes.values())}" if any(y for _, y in changes.values()) else ""))


def _versions_io() -> tuple[Any, Any, Any]:
    from synthstream.streams.runtime.kafka_io import cluster_problem
    from synthstream.streams.runtime.serde import registry
    from synthstream.streams.runtime.topics import TopicNames, create_topics

    s = _settings().kafka
    if (problem := cluster_problem(s.bootstrap_servers)) is not None:
        _fail(ConfigError(problem))
    create_topics(s.bootstrap_servers, s.topic_prefix, s.partitions, s.replication_factor)  # dataset-versions, if new
    return s, TopicNames(s.topic_prefix), registry()


def _push(path: Path, repo: str) -> None:
    """``export --push-to-hub``: the saved dataset and its card to a hub repo (not reached in our tests)."""
    import datasets

    try:
        datasets.load_from_disk(str(path)).push_to_hub(repo, private=True)
        from huggingface_hub import HfApi

        HfApi().upload_file(path_or_fileobj=str(path / "README.md"), path_in_repo="README.md", repo_id=repo,
                            repo_type="dataset")
    except Exception as exc:  # no token, no network, no permission: say which, keep the local export
        _fail(ConfigError(f"could not push to the hub repo {repo} ({type(exc).__name__}: {exc}); the export at "
                          f"{path} is complete. Set HF_TOKEN and check that huggingface.co is reachable."))
    console.print(f"pushed {path} to https://huggingface.co/datasets/{repo} (private)")


@app.command()
def run(spec: Path = SPEC, count: int = typer.Option(None, "--count", min=1, help="default: the spec's count"),
        out: Path = typer.Option(Path("out/accepted.jsonl"), "--out"),
        timeout: float = typer.Option(0, "--timeout", help="seconds to wait for outcomes (default: scaled)"),
        fresh: bool = typer.Option(False, "--fresh", help="skip prompts of earlier runs still waiting in the "
                                                          "prompts topic (run says how many there are)")) -> None:
    """The main job: broker, topics, worker, COUNT prompts, wait for every outcome, export, summary."""
    from synthstream.streams.app.runner import run as do_run
    from synthstream.streams.app.runner import summary_table

    from synthstream.streams.runtime.procs import Stopped, stopping_on_signals

    _setup_logging()
    try:
        with stopping_on_signals():  # SIGTERM and SIGHUP stop the run as Ctrl-C does
            res = do_run(_settings(), spec, count, out, console, timeout or None, fresh)
    except SynthstreamError as exc:
        _fail(exc)
    except (Stopped, KeyboardInterrupt) as exc:
        why = exc.name if isinstance(exc, Stopped) else "Ctrl-C"
        console.print(f"[bold red]stopped by {why}[/bold red]: the workers, the model server and the broker this run "
                      "started are stopped; prompts it published and did not finish stay in the prompts topic")
        raise typer.Exit(128 + (exc.signum if isinstance(exc, Stopped) else signal.SIGINT)) from None
    Console().print(summary_table(res, out))
    if res.missing:
        raise typer.Exit(1)


@app.command("verify")
def verify(input_path: Path = typer.Option(..., "--in", help="records to check, one JSON object per line (id, task, "
                                          "messages, dimensions; grounding for QA)"),
           out: Path = typer.Option(..., "--out", help="one verdict per input line, in input order"),
           spec: Path = typer.Option(None, "--spec", help="the data set's spec: its gate weights, thresholds, "
                                     "judge and sandbox limits (default: the stage's defaults)")) -> None:
    """The verification stage's gate, offline: accepted, quality score, reasons and every
    validator's score per record, then a summary per task."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from synthstream.agents.deps import DatasetConfig
    from synthstream.agents.spec import DEFAULT_MODEL, JudgeSpec, VerificationSpec, load_spec
    from synthstream.agents.verification.offline import Summary, verify_lines
    from synthstream.streams.app.worker import make_judge, make_sandbox, make_validators

    settings = _settings()
    try:
        lines = input_path.read_text().splitlines()
        parsed = load_spec(spec) if spec is not None else None
    except OSError as exc:
        _fail(ConfigError(f"cannot read {input_path}: {exc.strerror}"))
    except ConfigError as exc:
        _fail(exc)
    by_default = settings.judge.weight if settings.judge_by_default else 0.0
    judge = None
    if parsed is not None and parsed.judged(by_default):
        judge = make_judge(parsed.judge_specs, parsed.model.name, parsed.model.api, settings, None, by_default > 0,
                           probe=True)
    elif parsed is None and by_default:
        judge = make_judge([JudgeSpec()], DEFAULT_MODEL, "chat", settings, None, True, probe=True)
    if parsed is not None:
        config = DatasetConfig.from_spec(parsed, judge, by_default)
    else:  # every task the file holds: its family's weights, and the judge where it is on by default
        config = DatasetConfig("offline", judge=judge if by_default else None, judge_by_default=by_default)
    by_task = {t.name: t for t in parsed.tasks} if parsed is not None else {}
    default = parsed.verification.threshold if parsed is not None else VerificationSpec().threshold

    def threshold_for(task: str) -> float:
        return parsed.threshold_for(by_task[task]) if parsed is not None and task in by_task else default

    sandbox: list = []

    def sandbox_for():  # started at the first record that runs code, closed at the end
        if not sandbox:
            sandbox.append(make_sandbox(settings.verify))
        return sandbox[0]

    summary = Summary()
    total = sum(1 for line in lines if line.strip())
    columns = (TextColumn("[bold]verify"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        progress = bar.add_task("verify", total=total, detail="")

        def done(verdict: dict) -> None:
            summary.add(verdict)
            accepted = sum(n for (_, kind), n in summary.per_task.items() if kind == "accepted")
            bar.update(progress, advance=1, detail=f"accepted {accepted}")

        try:
            verdicts = asyncio.run(verify_lines(lines, config, make_validators(settings.verify, {config.name: config}),
                                                sandbox_for,
                                                threshold_for, done))
        finally:
            for s in sandbox:
                s.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text("".join(json.dumps(v, ensure_ascii=False) + "\n" for v in verdicts))
    partial.replace(out)
    table = Table(title=f"synthstream verify: {summary.lines} records -> {out}")
    table.add_column("task")
    table.add_column("accepted", justify="right")
    table.add_column("rejected", justify="right")
    for task in sorted({t for t, _ in summary.per_task}):
        table.add_row(task, str(summary.per_task[(task, "accepted")]), str(summary.per_task[(task, "rejected")]))
    console.print(table)
    if summary.reasons:
        console.print("commonest reasons for rejecting: " + ", ".join(
            f"{code} {n}" for code, n in summary.reasons.most_common(8)))
    if summary.invalid:
        console.print(f"[yellow]{summary.invalid} line(s) could not be used (invalid_input); see {out}[/yellow]")


@app.command("verify-code")
def verify_code(input_path: Path = typer.Option(..., "--in", help="HumanEval-style samples, one JSON object per line"),
                out: Path = typer.Option(..., "--out", help="one verdict per input line, in input order"),
                timeout: float = typer.Option(5.0, "--timeout", min=0.1, help="wall seconds per program"),
                workers: int = typer.Option(0, "--workers", min=0, help="programs at a time (default: cores)")) -> None:
    """Run every sample's tests in the jail; write passed/failed/timed out/error per line and pass@1."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from synthstream.agents.verification.humaneval import Outcome, verify_lines, write_outcomes
    from synthstream.agents.verification.sandbox import Limits, Sandbox

    try:
        lines = input_path.read_text().splitlines()
    except OSError as exc:
        _fail(ConfigError(f"cannot read {input_path}: {exc.strerror}"))
    settings = _settings().verify
    sandbox = Sandbox(workers or settings.parallel or None, settings.tmpfs_mb, settings.unsafe_no_sandbox)
    mode = sandbox.mode
    if mode == "refuse":
        _fail(ConfigError(f"cannot run generated code safely here: {sandbox.why}. Install bubblewrap, or set "
                          "SYNTHSTREAM_VERIFY_UNSAFE_NO_SANDBOX=true to run it without a jail at your own risk."))
    total = sum(1 for line in lines if line.strip())
    limits = Limits(wall_s=timeout, cpu_s=max(1, int(timeout) + 1), memory_mb=settings.memory_mb)
    columns = (TextColumn("[bold]verify-code"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())
    passed = 0
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("verify", total=total, detail="")

        def done(outcome: Outcome) -> None:
            nonlocal passed
            passed += outcome.passed
            bar.update(task, advance=1, detail=f"passed {passed}")

        try:
            outcomes = verify_lines(sandbox, iter(lines), limits, done)
        finally:
            sandbox.close()
    write_outcomes(outcomes, out)
    by_kind: dict[str, int] = {}
    for o in outcomes:
        kind = o.result.split(":", 1)[0]
        by_kind[kind] = by_kind.get(kind, 0) + 1
    rate = passed / len(outcomes) if outcomes else 0.0
    console.print(f"{len(outcomes)} samples: " + ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items()))
                  + f"; pass@1 = {rate:.4f} (sandbox: {mode}) -> {out}")


@app.command()
def dedup(input_path: Path = typer.Option(..., "--in", help="JSONL data set to deduplicate"),
          out: Path = typer.Option(..., "--out", help="the kept lines, unchanged, in input order"),
          text_field: str = typer.Option("text", "--field", help="the field compared: a string, a list of strings "
                                         "or chat messages; dotted for nested fields (metadata.question)"),
          against_index: bool = typer.Option(False, "--against-index", help="also drop lines that duplicate a "
                                             "record already in the live pipeline's index (reads dedup-index)"),
          rejects: Path = typer.Option(None, "--rejects", help="where dropped and invalid lines go, each with its "
                                       "reason (default: OUT with .rejects.jsonl)"),
          ratio: float = typer.Option(90.0, "--ratio", min=1, max=100, help="fuzz.ratio of a near duplicate"),
          token_sort: float = typer.Option(90.0, "--token-sort", min=1, max=100,
                                           help="fuzz.token_sort_ratio of a near duplicate (reordered words)"),
          semantic: bool = typer.Option(False, "--semantic", help="also drop paraphrases: lines whose sentence "
                                        "embeddings (all-MiniLM-L6-v2, on CPU) are this close to a kept line's"),
          semantic_threshold: float = typer.Option(None, "--semantic-threshold", min=0.01, max=1.0,
                                                   help="cosine of a paraphrase (default: the pipeline's, "
                                                   "SYNTHSTREAM_WORKER_DEDUP_SEMANTIC_THRESHOLD)")) -> None:
    """Drop exact and near duplicates from a JSONL file (the first of each group is kept), with
    the pipeline's dedup core, and with --semantic paraphrases too; optionally against the live
    index as well (cross-run dedup)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from synthstream.agents.dedup.core import DedupIndex, DedupParams
    from synthstream.agents.dedup.jsonl import Summary, dedup_lines
    from synthstream.agents.dedup.semantic import SemanticParams

    settings = _settings()
    embed = None
    if semantic:
        from synthstream.streams.app.worker import make_embeddings

        service = make_embeddings(settings.verify)
        if not service.available:
            _fail(ConfigError(f"--semantic needs the embedding model, which did not load: {service.why}. "
                              "Reinstall synthstream (`make setup`) or set SYNTHSTREAM_VERIFY_SEMANTIC_MODEL_PATH."))
        embed = service.embed
    params = DedupParams(ratio=ratio, token_sort=token_sort, semantic=SemanticParams(
        threshold=semantic_threshold or settings.worker.dedup_semantic_threshold))
    rejects = rejects or out.with_name(out.name.removesuffix(".jsonl") + ".rejects.jsonl")
    if input_path.resolve() in (out.resolve(), rejects.resolve()):
        _fail(ConfigError(f"--in {input_path} would be overwritten: choose another --out or --rejects"))
    try:
        with input_path.open("rb") as fh:
            total = sum(1 for _ in fh)
    except OSError as exc:
        _fail(ConfigError(f"cannot read {input_path}: {exc.strerror}"))
    index, live = DedupIndex(params), {}
    if against_index:
        index, live = _live_index(params, embed)
    columns = (TextColumn("[bold]dedup"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())
    out.parent.mkdir(parents=True, exist_ok=True)
    rejects.parent.mkdir(parents=True, exist_ok=True)
    with Progress(*columns, console=console, disable=not console.is_terminal and total < 10_000) as bar, \
            input_path.open(encoding="utf-8", errors="replace", newline="") as src, \
            out.open("w", encoding="utf-8", newline="") as kept, rejects.open("w", encoding="utf-8") as rej:
        task = bar.add_task("dedup", total=total, detail="")

        def progress(s: Summary) -> None:
            if s.lines % (64 if semantic else 500) == 0 or s.lines == total:
                bar.update(task, completed=s.lines, detail=f"kept {s.kept}, dropped {sum(s.dropped.values())}")

        summary = dedup_lines(src, text_field, kept, rej, index, live, progress, embed)
    dropped = sum(summary.dropped.values())
    why = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(summary.dropped.items())) or "none"
    console.print(f"{summary.lines} lines: kept {summary.kept}, dropped {dropped} duplicates ({why})"
                  + (f" against {summary.live_records} live records" if against_index else "") + f" -> {out}")
    if summary.invalid:
        console.print(f"{sum(summary.invalid.values())} invalid lines (not deduplicated, not kept): "
                      + "; ".join(f"{n} x {r}" for r, n in summary.invalid.most_common(5)))
    if dropped or summary.invalid:
        console.print(f"every dropped or invalid line, with its reason: {rejects}")


def _live_index(params: Any, embed: Any = None) -> tuple[Any, dict[str, str]]:
    """``dedup --against-index``: the live records' index, or a clear error when it cannot be read."""
    from synthstream.agents.dedup.jsonl import live_index
    from synthstream.agents.dedup.store import read_changelog
    from synthstream.streams.runtime.kafka_io import cluster_problem
    from synthstream.streams.runtime.serde import registry as schema_registry
    from synthstream.streams.runtime.topics import TopicNames

    kafka = _settings().kafka
    topic = TopicNames(kafka.topic_prefix)["dedup-index"]
    if (problem := cluster_problem(kafka.bootstrap_servers)) is not None:
        _fail(ConfigError(f"--against-index reads {topic}, but {problem}"))
    try:
        entries = list(e for _, e in read_changelog(kafka.bootstrap_servers, topic, schema_registry()))
    except Exception as exc:  # kafka-python raises many kinds; all mean the same thing here
        _fail(ConfigError(f"cannot read the live index {topic} at {kafka.bootstrap_servers}: {exc}"))
    return live_index(entries, params, embed)


@app.command("metrics-doc")
def metrics_doc(out: Path = typer.Option(None, "--out", help="write here instead of standard output")) -> None:
    """The metrics catalogue (docs/METRICS.md), generated from the code's registry."""
    from synthstream.streams.app.metrics_doc import catalogue

    _emit(catalogue(), out)


@app.command("config-doc")
def config_doc(out: Path = typer.Option(None, "--out", help="write here instead of standard output")) -> None:
    """Every setting and its environment variable (docs/configuration.md), generated from the code."""
    from synthstream.streams.app.config_doc import document

    _emit(document(), out)


@review_app.command("export")
def review_export(out: Path = typer.Option(..., "--out", help="a .csv or .jsonl sheet for reviewers"),
                  limit: int = typer.Option(0, "--limit", min=0, help="at most this many rows (0: all)")) -> None:
    """Write the sampled verdicts (human-review topic) as a sheet with empty label/note/reviewer columns."""
    from synthstream.streams.app.review_io import export_sheet
    from synthstream.streams.runtime.serde import registry
    from synthstream.streams.runtime.topics import TopicNames

    s = _settings().kafka
    try:
        res = export_sheet(s.bootstrap_servers, TopicNames(s.topic_prefix)["human-review"], registry(), out,
                           limit or None)
    except (SynthstreamError, TimeoutError) as exc:
        _fail(exc)
    console.print(f"wrote {res.rows} rows to {out} ({res.replays} replays merged, {res.undecodable} undecodable "
                  "skipped); fill in 'label' with accept or reject, then: synthstream review import --in "
                  f"{out}")


@review_app.command("import")
def review_import(input_path: Path = typer.Option(..., "--in", help="a sheet from review export, labels filled in"),
                  reviewer: str = typer.Option(None, "--reviewer", help="for rows whose reviewer column is empty")
                  ) -> None:
    """Publish the labels to review-labels and print how often the reviewers agree with the gate."""
    from synthstream.agents.verification.review import agreement
    from synthstream.streams.app.producer import make_producer
    from synthstream.streams.app.review_io import publish_labels, read_sheet
    from synthstream.streams.runtime.serde import registry
    from synthstream.streams.runtime.topics import TopicNames

    try:
        res = read_sheet(input_path, reviewer)
    except SynthstreamError as exc:
        _fail(exc)
    for problem in res.bad:
        console.print(f"[yellow]skipped[/yellow] {problem}", highlight=False)
    if res.labels:
        s = _settings().kafka
        producer = make_producer(s.bootstrap_servers)
        try:
            publish_labels(producer, TopicNames(s.topic_prefix)["review-labels"], registry(), res.labels)
        finally:
            producer.close()
    agree = agreement(res.labels)
    lines = [f"  {task}: {a} of {n} agree ({a / n:.0%})" for task, (a, n) in sorted(agree.items()) if task != "*"]
    a, n = agree.get("*", (0, 0))
    console.print(f"imported {len(res.labels)} labels ({res.skipped} rows without a label, {len(res.bad)} bad rows); "
                  f"reviewers agree with the gate on {a} of {n}" + (f" ({a / n:.0%})" if n else "")
                  + ("\n" + "\n".join(lines) if lines else ""))
    if res.bad:
        raise typer.Exit(1)


@review_app.command("calibrate")
def review_calibrate(target: float = typer.Option(0.95, "--target-precision", min=0.0, max=1.0,
                                                  help="precision the suggested thresholds should reach"),
                     spec: Path = typer.Option(None, "--spec", help="the data set's spec (with --write)"),
                     write: Path = typer.Option(None, "--write", help="write a copy of --spec with the suggested "
                                                                      "per-task thresholds here")) -> None:
    """Reviewers' labels against the gate: precision and recall per task, each validator's agreement
    (AUC, kappa), and the threshold that meets --target-precision."""
    from rich.table import Table

    from synthstream.agents.spec import load_spec
    from synthstream.agents.verification.calibrate import calibrate
    from synthstream.streams.app.review_io import read_calibration, write_thresholds
    from synthstream.streams.runtime.serde import registry
    from synthstream.streams.runtime.topics import TopicNames

    if write is not None and spec is None:
        _fail(ConfigError("--write needs --spec: the spec whose copy gets the thresholds"))
    s = _settings().kafka
    names = TopicNames(s.topic_prefix)
    try:
        got = read_calibration(s.bootstrap_servers, names["human-review"], names["review-labels"], registry())
    except (SynthstreamError, TimeoutError) as exc:
        _fail(exc)
    if not got.rows:
        _fail(ConfigError(f"no labelled verdicts to calibrate on ({got.labels} labels, {got.without_verdict} without "
                          "their verdict): export a sheet with `synthstream review export`, label it, then "
                          "`synthstream review import`"))
    results = calibrate(got.rows, target)
    table = Table(title=f"gate vs reviewers ({len(got.rows)} labelled verdicts; target precision {target:.2f})")
    for col in ("task", "labels", "reviewers accept", "gate accepts", "precision", "recall",
                f"threshold for {target:.2f}", "there: precision / recall"):
        table.add_column(col)

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    for c in results:
        table.add_row(c.task, str(c.labels), str(c.human_accepts), str(c.gate_accepts), pct(c.precision),
                      pct(c.recall), pct(c.threshold), f"{pct(c.threshold_precision)} / {pct(c.threshold_recall)}"
                      if c.threshold is not None else c.note)
    console.print(table)
    agreement = Table(title="validators against the reviewers (AUC: 0.5 is chance; kappa of their vetoes)")
    for col in ("task", "validator", "judged", "AUC", "vetoes", "kappa"):
        agreement.add_column(col)
    for c in results:
        for v in c.validators:
            agreement.add_row(c.task, v.name, str(v.n), pct(v.auc), str(v.vetoes), pct(v.kappa))
    console.print(agreement)
    if got.without_verdict:
        console.print(f"[yellow]{got.without_verdict} label(s) have no verdict in human-review (left out)[/yellow]")
    if write is not None:
        suggested = {c.task: c.threshold for c in results if c.threshold is not None}
        try:
            changed = write_thresholds(spec, write, suggested)
            load_spec(write)  # what was written must be a valid spec
        except SynthstreamError as exc:
            _fail(exc)
        console.print(f"wrote {write}: threshold set for {', '.join(changed) or 'no task'}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""The `synthstream` command line."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import typer
from rich.console import Console

from streams.errors import ConfigError, SynthstreamError

app = typer.Typer(help="A streaming factory for verified synthetic LLM training data.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
kafka_app = typer.Typer(help="Manage the local single-node Kafka broker.", no_args_is_help=True)
topics_app = typer.Typer(help="Manage the pipeline's topics.", no_args_is_help=True)
app.add_typer(kafka_app, name="kafka")
app.add_typer(topics_app, name="topics")
console = Console(stderr=True)
SPEC = typer.Option(..., "--spec", help="dataset spec (YAML)", exists=False)


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
    raise typer.Exit(1)


def _setup_logging(level: str = "WARNING") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@kafka_app.command("start")
def kafka_start() -> None:
    """Fetch the jars (once), format storage (once), start the broker and wait until it answers."""
    from streams.kafka_local.launcher import LocalKafka
    from streams.settings import KafkaSettings

    settings = KafkaSettings()
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
    from streams.kafka_local.launcher import LocalKafka
    from streams.settings import KafkaSettings

    try:
        with console.status("fetching Kafka jars with Maven ..."):
            path = LocalKafka(KafkaSettings()).fetch()
    except SynthstreamError as exc:
        _fail(exc)
    console.print(f"Kafka jars in {path}")


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the local broker (SIGTERM, then SIGKILL)."""
    from streams.kafka_local.launcher import LocalKafka
    from streams.settings import KafkaSettings

    stopped = LocalKafka(KafkaSettings()).stop()
    console.print("Kafka stopped" if stopped else "Kafka was not running")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether a broker answers; exit 1 when none does."""
    from streams.kafka_local.launcher import LocalKafka, cluster_ready
    from streams.settings import KafkaSettings

    settings = KafkaSettings()
    if not settings.local:
        ok = cluster_ready(settings.bootstrap_servers)
        console.print(f"cluster {settings.bootstrap}: {'ready' if ok else 'not answering'}")
        raise typer.Exit(0 if ok else 1)
    st = LocalKafka(settings).status()
    console.print(f"local Kafka on {st.bootstrap}: {st.detail}" + (f" (pid {st.pid})" if st.pid else ""))
    raise typer.Exit(0 if st.ready else 1)


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic of the table that does not exist yet (idempotent)."""
    from streams.settings import KafkaSettings
    from streams.topics import create_topics

    s = KafkaSettings()
    try:
        created = create_topics(s.bootstrap_servers, s.topic_prefix, s.partitions, s.replication_factor)
    except SynthstreamError as exc:
        _fail(exc)
    console.print(f"created {len(created)} topic(s): {', '.join(created) or '(all existed)'}")


@app.command()
def produce(spec: Path = SPEC, count: int = typer.Option(100, "--count", min=1),
            run_id: str = typer.Option("", "--run-id", help="default: random")) -> None:
    """Publish COUNT Prompt events sampled from SPEC."""
    import uuid

    from streams.producer import make_producer, plan_prompts, publish
    from streams.serde import registry
    from streams.settings import KafkaSettings
    from streams.spec import load_spec
    from streams.topics import TopicNames

    try:
        parsed = load_spec(spec)
    except SynthstreamError as exc:
        _fail(exc)
    s = KafkaSettings()
    producer = make_producer(s.bootstrap_servers)
    try:
        ids = publish(producer, TopicNames(s.topic_prefix).prompts, registry(),
                      plan_prompts(parsed, count, run_id or uuid.uuid4().hex[:8], int(time.time() * 1000)))
    finally:
        producer.close()
    console.print(f"published {len(ids)} prompts to {TopicNames(s.topic_prefix).prompts}")


@app.command()
def worker(spec: list[Path] = typer.Option([], "--spec", help="spec(s) whose targets the bias monitor uses"),
           agents: str = typer.Option("", "--agents", help="comma-separated subset of "
                                      "generation,verification,dedup,bias (default: all)")) -> None:
    """Run the Faust worker with all stages or a subset."""
    from streams.worker import run_worker

    _setup_logging("INFO")
    try:
        run_worker([a.strip() for a in agents.split(",") if a.strip()], spec)
    except SynthstreamError as exc:
        _fail(exc)


@app.command()
def export(out: Path = typer.Option(..., "--out", help="JSONL file to write")) -> None:
    """Write every accepted record, from the beginning, as one JSON object per line."""
    from streams.exporter import export as do_export
    from streams.serde import registry
    from streams.settings import KafkaSettings
    from streams.topics import TopicNames

    s = KafkaSettings()
    res = do_export(s.bootstrap_servers, TopicNames(s.topic_prefix)["accepted-records"], registry(), out)
    console.print(f"wrote {res.written} records to {out} ({res.replays} replays skipped, "
                  f"{res.undecodable} undecodable skipped)")


@app.command()
def run(spec: Path = SPEC, count: int = typer.Option(1000, "--count", min=1),
        out: Path = typer.Option(Path("out/accepted.jsonl"), "--out"),
        timeout: float = typer.Option(0, "--timeout", help="seconds to wait for outcomes (default: scaled)")) -> None:
    """The main job: broker, topics, worker, COUNT prompts, wait for every outcome, export, summary."""
    from streams.runner import run as do_run
    from streams.runner import summary_table

    _setup_logging()
    try:
        res = do_run(spec, count, out, console, timeout or None)
    except SynthstreamError as exc:
        _fail(exc)
    Console().print(summary_table(res, out))
    if res.missing:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""Builds the Faust app and registers the requested stages on it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import faust

from synthstream.streams.runtime import kafka_io
from synthstream.streams.runtime.errors import ConfigError
from synthstream.agents.deps import Deps
from synthstream.streams.runtime.shell import Sinks
from synthstream.streams.runtime.settings import KafkaSettings, WorkerSettings

logger = logging.getLogger(__name__)

STAGE_NAMES = ("generation", "verification", "dedup", "bias")
CONSUMES = {"generation": ("prompts",), "verification": ("generations",), "dedup": ("verdicts",),
            "bias": ("accepted-records", "review-labels")}


def _registrars() -> dict:
    from synthstream.agents.bias import agent as bias
    from synthstream.agents.dedup import agent as dedup
    from synthstream.agents.generation import agent as generation
    from synthstream.agents.verification import agent as verification

    return {"generation": generation.register, "verification": verification.register,
            "dedup": dedup.register, "bias": bias.register}


def _read_committed_transport(app: faust.App) -> object:
    """Faust's aiokafka transport with a consumer that reads committed records only. Faust
    switches ``isolation_level`` to read_committed only with its own exactly-once mode, which
    would make every stage transactional; here only dedup writes transactionally
    (streams/runtime/transactions.py) and the bias stage must not see what a transaction
    aborted. Reading a non-transactional topic read_committed changes nothing."""
    from faust.transport.drivers import aiokafka as driver

    class CommittedThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: object) -> object:
            consumer = super()._create_worker_consumer(transport)  # type: ignore[arg-type]
            if getattr(consumer, "_isolation_level", None) is None:
                raise ConfigError("this aiokafka has no _isolation_level on its consumer; pin the aiokafka "
                                  "version of pyproject.toml")
            consumer._isolation_level = "read_committed"
            return consumer

    class CommittedConsumer(driver.Consumer):
        def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
            return CommittedThread(self, loop=self.loop, beacon=self.beacon)

    transport = type("ReadCommittedTransport", (driver.Transport,), {"Consumer": CommittedConsumer})
    return transport(app.conf.broker_consumer, app)


class App(faust.App):
    """Faust's app without its per-message Monitor sensor: it keeps statistics of every event,
    message and send for Faust's web views, which the workers do not serve (their metrics are
    synthstream_*), and cost 3-5 % of each worker's CPU (docs/BENCHMARKS.md). Faust's own direct
    calls to ``app.monitor`` (commit and end-offset tracking) still find it."""

    def on_init_dependencies(self) -> Iterable[Any]:
        services = super().on_init_dependencies()
        self.sensors.remove(self.monitor)
        return services


def group_id(prefix: str, app_id: str, stages: list[str]) -> str:
    """The Faust app id, which is the consumer group, of a worker hosting ``stages``."""
    group = app_id if set(stages) == set(STAGE_NAMES) else f"{app_id}-{'_'.join(stages)}"
    return f"{prefix}{group}"


def build_app(kafka: KafkaSettings, worker: WorkerSettings, deps: Deps,
              stages: Iterable[str] = STAGE_NAMES) -> faust.App:
    stages = list(stages)
    unknown = sorted(set(stages) - set(STAGE_NAMES))
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}; choose from {', '.join(STAGE_NAMES)}")
    # One consumer group per set of stages: workers hosting different stages must not share a
    # group (Faust's assignor expects every member to consume the same topics).
    # '+' is not allowed in topic names, and Faust names an internal topic after the app id
    app = App(
        group_id(kafka.topic_prefix, worker.app_id, stages),
        broker=f"kafka://{kafka.bootstrap_servers}",
        store="memory://",
        web_enabled=False,
        datadir=str(worker.data_dir),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=False,  # topics come from synthstream.streams.runtime.topics, with their configs
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=0.05,
        producer_max_batch_size=256 * 1024,
        broker_max_poll_records=2000,
        broker_session_timeout=worker.session_timeout_s,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        stream_buffer_maxsize=8192,
        # At a rebalance Faust would wait for every event a stage has taken to be acked, after it
        # has stopped the stream's flow: a batch still being filled never finishes, the member is
        # thrown out of the group and the group rebalances again (two workers of a kind: 230 rec/s
        # instead of 929). Not waiting is safe: what was not committed is redelivered, and the
        # dedup stage's transactional producers are fenced by the partition's new owner.
        stream_wait_empty=False,
        broker_credentials=kafka_io.configure(kafka).faust_credentials(),
    )
    app.transport = _read_committed_transport(app)  # before any topic or agent asks for it
    sinks = Sinks(app, deps.names, deps.serde, deps.metrics, deps.clock)
    registrars = _registrars()
    fused = fuses(worker, stages)
    for stage in stages:
        if stage == "generation" and fused:
            from synthstream.agents.verification import agent as verification

            registrars[stage](app, deps, sinks, verify=verification.verifier(deps),
                              verify_in_flight=verification.concurrency_for(deps))
        else:
            registrars[stage](app, deps, sinks)
    logger.info("faust app %s with stages %s%s on %s", app.conf.id, stages,
                " (generation verifies what it makes)" if fused else "", kafka.bootstrap_servers)
    return app


def fuses(worker: WorkerSettings, stages: Iterable[str]) -> bool:
    """Whether generation verifies its own generations: the worker runs both stages and
    SYNTHSTREAM_WORKER_FUSE is on. The verification agent still runs, for the generations of
    workers that only generate and for those generation could not verify."""
    return worker.fuse and {"generation", "verification"} <= set(stages)

"""The one table of topics: names, key, and per-topic configuration."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from synthstream.streams.runtime.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    role: str
    record: str
    key: str
    config: dict[str, str] = field(default_factory=dict)


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("prompts", "Prompt", "prompt_id"),
    TopicSpec("generations", "Generation", "prompt_id"),
    TopicSpec("verdicts", "Verdict", "prompt_id"),
    # Trainers replay accepted-records from the start, so it is never deleted.
    TopicSpec("accepted-records", "AcceptedRecord", "record_id", {"retention.ms": "-1"}),
    # the data set's distribution over time; a restarted bias worker also resumes from these
    TopicSpec("bias-reports", "BiasReport", "dataset", {"retention.ms": "-1"}),
    TopicSpec("dead-letters", "DeadLetter", "original key"),
    TopicSpec("outcomes", "Outcome", "prompt_id"),
    # a sample of verdicts, accepted and rejected alike, for people to label; and their labels
    TopicSpec("human-review", "Verdict", "prompt_id", {"retention.ms": "-1"}),
    TopicSpec("review-labels", "ReviewLabel", "prompt_id", {"retention.ms": "-1"}),
    # dedup's index, kept forever: replaying a partition rebuilds the index of the scopes it owns
    TopicSpec("dedup-index", "DedupEntry", "record_id", {"cleanup.policy": "compact", "retention.ms": "-1"}),
    # chosen/rejected sample pairs for preference training, kept for ever
    TopicSpec("preference-pairs", "PreferencePair", "pair_id", {"retention.ms": "-1"}),
    # named versions of the data sets (offsets into accepted-records), kept forever
    TopicSpec("dataset-versions", "DatasetVersion", "NAME@VERSION", {"cleanup.policy": "compact", "retention.ms": "-1"}),
)
ROLES = tuple(t.role for t in TOPICS)


class TopicNames:
    """Full topic names for one prefix: ``names.prompts``, ``names['accepted-records']``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __getitem__(self, role: str) -> str:
        if role not in ROLES:
            raise KeyError(role)
        return f"{self.prefix}{role}"

    def __getattr__(self, attr: str) -> str:
        role = attr.replace("_", "-")
        if role not in ROLES:
            raise AttributeError(attr)
        return f"{self.prefix}{role}"

    def all(self) -> list[str]:
        return [self[r] for r in ROLES]


def topic_configs(spec: TopicSpec, replication: int) -> dict[str, str]:
    """A topic's configs at a replication factor: with more than one replica, a write counts
    (acks=all, which every producer of the project uses) once ``min.insync.replicas`` replicas
    have it, 2 from a replication factor of 3 (one broker can be down and nothing acknowledged
    is lost), else 1."""
    configs = dict(spec.config)
    if replication > 1:
        configs.setdefault("min.insync.replicas", str(min(2, replication - 1)))
    return configs


def create_topics(bootstrap: str, prefix: str, partitions: int, replication: int = 1) -> list[str]:
    """Create every topic of the table that does not exist yet; return the ones created."""
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    from synthstream.streams.runtime import kafka_io

    names = TopicNames(prefix)
    try:
        admin = kafka_io.admin(bootstrap, "admin")
    except KafkaError as exc:
        raise ConfigError(f"cannot reach Kafka at {bootstrap}: {exc}. Start it with `synthstream kafka start` "
                          "or point SYNTHSTREAM_BOOTSTRAP at a running cluster.") from exc
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(names[t.role], num_partitions=partitions, replication_factor=replication,
                     topic_configs=topic_configs(t, replication))
            for t in TOPICS
            if names[t.role] not in existing
        ]
        created = []
        for topic in wanted:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass  # another process won the race: that is what idempotent means here
        logger.info("topics: created %s, %d already existed", created, len(TOPICS) - len(wanted))
        return created
    finally:
        admin.close()


def check_dedup_partitions(bootstrap: str, names: TopicNames, partitions: int) -> None:
    """Verification routes verdicts to ``hash(scope) % partitions`` and dedup writes its
    changelog on the same partition number: both topics need at least that many partitions."""
    from synthstream.streams.runtime import kafka_io

    consumer = kafka_io.consumer(bootstrap, "check")
    try:
        for role in ("verdicts", "dedup-index"):
            found = consumer.partitions_for_topic(names[role])
            if found is not None and len(found) < partitions:
                raise ConfigError(f"topic {names[role]} has {len(found)} partitions but SYNTHSTREAM_PARTITIONS="
                                  f"{partitions}: set SYNTHSTREAM_PARTITIONS={len(found)}, or recreate the topics "
                                  "with more (dedup routes by scope over that many partitions)")
    finally:
        consumer.close()

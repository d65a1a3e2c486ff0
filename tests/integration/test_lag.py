"""Consumer lag against the real broker: end offsets minus the group's committed offsets."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from synthstream.streams.runtime.lag import group_lag

pytestmark = pytest.mark.integration


def test_lag_counts_what_the_group_has_not_committed(names, bootstrap):
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(10):
        producer.send(names.prompts, key=b"k", value=b"v%d" % i, partition=1)
    for i in range(3):
        producer.send(names.verdicts, key=b"k", value=b"v%d" % i, partition=0)
    producer.flush()
    producer.close()
    group = f"{names.prefix}lag-test"
    committer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    committer.commit({TopicPartition(names.prompts, 1): OffsetAndMetadata(4, "", -1)})
    committer.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        lag = group_lag(admin, consumer, group, {"prompts": names.prompts, "verdicts": names.verdicts})
    finally:
        admin.close()
        consumer.close()
    assert lag == {"prompts": 6, "verdicts": 3}  # nothing committed on verdicts: all of it is behind


def test_a_worker_refuses_topics_with_fewer_partitions_than_the_scope_routing_uses(bootstrap):
    import uuid

    from synthstream.streams.runtime.errors import ConfigError
    from synthstream.streams.runtime.topics import TopicNames, check_dedup_partitions, create_topics

    names = TopicNames(f"t{uuid.uuid4().hex[:10]}.")
    create_topics(bootstrap, names.prefix, partitions=2)
    check_dedup_partitions(bootstrap, names, 2)
    with pytest.raises(ConfigError, match=r"has 2 partitions but SYNTHSTREAM_PARTITIONS=4: set SYNTHSTREAM_PARTITIONS=2"):
        check_dedup_partitions(bootstrap, names, 4)

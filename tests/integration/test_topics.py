from __future__ import annotations

import uuid

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from synthstream.streams.runtime.topics import ROLES, TopicNames, create_topics

pytestmark = pytest.mark.integration


def test_create_is_idempotent_with_partitions_and_retention(bootstrap):
    prefix = f"tt{uuid.uuid4().hex[:8]}."
    created = create_topics(bootstrap, prefix, partitions=3)
    assert sorted(created) == sorted(TopicNames(prefix).all()) and len(created) == len(ROLES)
    assert create_topics(bootstrap, prefix, partitions=3) == []
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        meta = {t["name"]: t for t in admin.describe_topics(TopicNames(prefix).all())}
        assert all(len(t["partitions"]) == 3 for t in meta.values())
        for role in ("accepted-records", "bias-reports", "dedup-index"):
            name = TopicNames(prefix)[role]
            configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
            assert configs["topic"][name]["retention.ms"]["value"] == "-1", role
    finally:
        admin.close()

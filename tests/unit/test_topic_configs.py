"""Topic configs past one broker: acks=all is only as strong as min.insync.replicas."""

from synthstream.streams.runtime.topics import TOPICS, topic_configs


def test_one_replica_adds_nothing_and_keeps_each_topics_own_configs():
    for spec in TOPICS:
        assert topic_configs(spec, 1) == spec.config


def test_three_replicas_need_two_in_sync_and_two_need_one():
    index = next(t for t in TOPICS if t.role == "dedup-index")
    three = topic_configs(index, 3)
    assert three["min.insync.replicas"] == "2" and three["cleanup.policy"] == index.config["cleanup.policy"]
    assert topic_configs(index, 2)["min.insync.replicas"] == "1"
    assert "min.insync.replicas" not in index.config  # the table itself is not changed

"""Consumer lag of a worker's group, per topic (kafka-python admin), for /metrics.

Lag of a partition = its end offset - the group's committed offset (the beginning offset when
the group has committed nothing there yet: everything still to read). A daemon thread polls
every ``interval_s`` and sets ``synthstream_consumer_lag_messages{topic, group}`` (topic is the
role, e.g. ``verdicts``, so the label set stays small whatever the prefix).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)


def group_lag(admin: Any, consumer: Any, group: str, topics: dict[str, str]) -> dict[str, int]:
    """role -> messages behind, for the topics (role -> full name) the group consumes."""
    from kafka import TopicPartition

    committed = admin.list_group_offsets({group: None}).get(group, {})
    parts = [TopicPartition(name, p) for name in topics.values()
             for p in sorted(consumer.partitions_for_topic(name) or [])]
    if not parts:
        return {}
    end, begin = consumer.end_offsets(parts), consumer.beginning_offsets(parts)
    by_name = {name: role for role, name in topics.items()}
    lag = {role: 0 for role in topics}
    for tp in parts:
        meta = committed.get(tp)
        done = meta.offset if meta is not None and meta.offset >= 0 else begin[tp]
        lag[by_name[tp.topic]] += max(0, end[tp] - done)
    return lag


class LagMonitor:
    def __init__(self, bootstrap: str, group: str, topics: dict[str, str], gauge: Any,
                 interval_s: float = 10.0) -> None:
        self.bootstrap, self.group, self.topics, self.gauge = bootstrap, group, topics, gauge
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="synthstream-lag", daemon=True)
        for role in topics:
            gauge.labels(role, group)

    def start(self) -> LagMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        from synthstream.streams.runtime import kafka_io

        admin = consumer = None
        while not self._stop.wait(self.interval_s if admin is not None else 1.0):
            try:
                if admin is None:
                    admin = kafka_io.admin(self.bootstrap, "lag")
                    consumer = kafka_io.consumer(self.bootstrap, "lag")
                for role, lag in group_lag(admin, consumer, self.group, self.topics).items():
                    self.gauge.labels(role, self.group).set(lag)
            except Exception as exc:  # a broker hiccup must not end the monitor; the gauge keeps its value
                logger.warning("consumer lag of %s: %s", self.group, exc)
        for client in (admin, consumer):
            if client is not None:
                client.close()

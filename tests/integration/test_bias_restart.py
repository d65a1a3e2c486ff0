"""The bias monitor loses nothing and counts nothing twice across crashes (real broker, real workers).

Accepted records are published straight to accepted-records (4 partitions). Windows close by
count only (50 records), so a crash always leaves one open:

1. worker A counts 130 records: two reports of 50; 30 sit in the open window, already committed.
   It is killed with SIGKILL.
2. worker B gets 40 more. Before counting them it re-reads the 30 that no report holds
   ("replayed"), then closes a window of 50 (whose length PSI is measured against A's reference,
   not a new one) and holds 20 when it is killed, again after committing.
3. the group's offsets are rewound to 0, so worker C is redelivered all 170: the 150 that reports
   hold are skipped ("redelivered"), the other 20 are counted and flushed when idle.

Every record is in exactly one report: the reports' record counts add up to 170.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from synthstream.streams.runtime.kafka_io import read_to_end
from synthstream.streams.app.producer import make_producer
from synthstream.streams.runtime.serde import registry
from tests.integration.conftest import free_port, wait_until
from tests.integration.test_dedup_index import SPEC
from tests.integration.test_pipeline import metric, scrape
from tests.records import ACCEPTED

pytestmark = pytest.mark.integration
COUNT_ONLY = {"SYNTHSTREAM_WORKER_BIAS_WINDOW_RECORDS": "50", "SYNTHSTREAM_WORKER_BIAS_WINDOW_SECONDS": "3600",
              "SYNTHSTREAM_WORKER_BIAS_IDLE_FLUSH_SECONDS": "3600", "SYNTHSTREAM_WORKER_SESSION_TIMEOUT_S": "6"}


def publish(producer, names, serde, first: int, n: int) -> None:
    for i in range(first, first + n):
        answer = "Subtract 1 and halve: x = 2." if i % 3 else "We move every term to one side and divide. " * 4
        record = dict(ACCEPTED, record_id=uuid.uuid4().hex, prompt_id=f"b{i}",
                      messages=[{"role": "user", "content": f"Solve 2x + 1 = 5 ({i})"},
                                {"role": "assistant", "content": answer}],
                      lineage=dict(ACCEPTED["lineage"], dataset="bias-it", accepted_at=int(time.time() * 1000)))
        producer.send(names["accepted-records"], key=record["record_id"].encode(),
                      value=serde.encode("AcceptedRecord", record))
    producer.flush()


def committed(bootstrap: str, group: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
        return sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0)
    except KafkaError:  # no coordinator yet while the group forms
        return -1
    finally:
        admin.close()


def rewind(bootstrap: str, group: str, topic: str) -> bool:
    """Commit offset 0 on every partition for the group (refused while it has members)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        consumer.commit({TopicPartition(topic, p): OffsetAndMetadata(0, "", -1) for p in range(4)})
        return True
    except KafkaError:
        return False
    finally:
        consumer.close()


def reports(bootstrap: str, names, serde) -> list[dict]:
    return [serde.decode(m.value, "BiasReport")[1] for m in read_to_end(bootstrap, names["bias-reports"])]


def crash(proc) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_a_crash_loses_no_record_of_an_open_window_and_a_redelivery_is_not_counted_twice(
        names, bootstrap, worker_factory):
    serde = registry()
    group, topic = f"{names.prefix}synthstream-bias", names["accepted-records"]
    producer = make_producer(bootstrap)
    try:
        a = worker_factory(names, SPEC, free_port(), ["bias"], **COUNT_ONLY)
        publish(producer, names, serde, 0, 130)
        assert wait_until(lambda: committed(bootstrap, group, topic) == 130
                          and len(reports(bootstrap, names, serde)) == 2, 90), a.log_path.read_text()[-3000:]
        crash(a)  # 30 records committed but in no report

        port_b = free_port()
        b = worker_factory(names, SPEC, port_b, ["bias"], **COUNT_ONLY)
        publish(producer, names, serde, 130, 40)
        assert wait_until(lambda: committed(bootstrap, group, topic) == 170
                          and len(reports(bootstrap, names, serde)) == 3, 90), b.log_path.read_text()[-3000:]
        m = scrape(port_b)
        assert metric(m, "synthstream_stage_records_total", stage="bias", outcome="replayed") == 30
        assert metric(m, "synthstream_stage_records_total", stage="bias", outcome="observed") == 40
        crash(b)  # 20 records in no report

        assert wait_until(lambda: rewind(bootstrap, group, topic), 60)  # once the dead member has left the group
        port_c = free_port()
        c = worker_factory(names, SPEC, port_c, ["bias"], **dict(COUNT_ONLY, SYNTHSTREAM_WORKER_BIAS_IDLE_FLUSH_SECONDS="2"))
        assert wait_until(lambda: len(reports(bootstrap, names, serde)) == 4, 90), c.log_path.read_text()[-3000:]
        m = scrape(port_c)
    finally:
        producer.close()
    assert metric(m, "synthstream_stage_records_total", stage="bias", outcome="redelivered") == 150
    assert metric(m, "synthstream_stage_records_total", stage="bias", outcome="observed") == 20
    got = reports(bootstrap, names, serde)
    assert [(r["records"], r["closed_by"]) for r in got] == [(50, "count"), (50, "count"), (50, "count"), (20, "idle")]
    assert sum(r["records"] for r in got) == 170  # each record in exactly one report
    reference = got[0]
    assert reference["length_psi"] is None and reference["length_reference"] == reference["length_bins"]
    assert all(r["length_psi"] is not None and r["length_reference"] == reference["length_bins"] for r in got[1:])
    ends = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        end = {tp.partition: off for tp, off in ends.end_offsets([TopicPartition(topic, p) for p in range(4)]).items()}
    finally:
        ends.close()
    assert {int(p): o for p, o in got[-1]["source_offsets"].items()} == {p: o for p, o in end.items() if o}

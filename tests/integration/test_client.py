"""The client API on the real broker: PromptPublisher's prompts on the prompts topic (keys, fields,
refusals that send nothing), iter_accepted from the beginning / offsets / a version tag, following
the live topic, read_committed against an aborted transaction, the datasets round trip and the
trainer example."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import xxhash

from synthstream.streams.app import versions
from synthstream.streams.app.client import (PromptError, PromptPublisher, ReadStats, as_hf_iterable,
                                            iter_accepted)
from synthstream.streams.app.exporter import to_jsonl
from synthstream.streams.runtime import kafka_io
from synthstream.streams.runtime.errors import ConfigError
from synthstream.streams.runtime.serde import registry
from tests.integration.test_versions import publish, record

pytestmark = pytest.mark.integration


def ids(records) -> list[str]:
    return sorted(r["record_id"] for r in records)


def rids(dataset: str, numbers) -> list[str]:
    return sorted(record(i, dataset)["record_id"] for i in numbers)


def prompts_on(bootstrap: str, topic: str) -> dict[str, dict]:
    serde, out = registry(), {}
    for msg in kafka_io.read_to_end(bootstrap, topic, purpose="test-client"):
        out[msg.key.decode()] = serde.decode(msg.value, "Prompt")[1]
    return out


def test_publisher_sends_valid_prompts_keyed_by_id(bootstrap, names):
    with PromptPublisher(bootstrap, dataset="cli", dataset_version="v2", prefix=names.prefix) as pub:
        first = pub.publish("math.linear", "Solve it.", dimensions={"difficulty": "integer", "domain": "tea"},
                            params={"samples": 3, "error_rate": "0"}, prompt_id="cli-1", seed=7, threshold=0.5)
        many = pub.publish_many([{"task": "math.quadratic", "dimensions": {"difficulty": "easy"}}] * 3
                                + [{"task": "dialogue.chat", "dimensions": {"topic": "tea"}, "model": "m"}])
    assert first == "cli-1" and len(set(many)) == 4
    found = prompts_on(bootstrap, names.prompts)
    assert sorted(found) == sorted([first, *many])  # every key is its prompt's id, and nothing else was sent
    assert all(p["prompt_id"] == k for k, p in found.items())

    p = found["cli-1"]
    assert (p["task"], p["instruction"], p["seed"], p["threshold"]) == ("math.linear", "Solve it.", 7, 0.5)
    assert p["dimensions"] == {"difficulty": "integer", "domain": "tea"}
    assert p["params"] == {"error_rate": "0", "samples": "3"}  # non-text values as JSON, as the producer writes
    assert p["model"] is None  # math.linear has a procedural solver
    lineage = p["lineage"]
    assert (lineage["dataset"], lineage["dataset_version"]) == ("cli", "v2")
    assert lineage["producer_version"].startswith("synthstream@") and len(lineage["spec_hash"]) == 64
    assert lineage["prompted_at"] > 0 and lineage["seed_source"] is None

    q = found[many[0]]
    assert q["prompt_id"].startswith("cli-api-")
    assert q["seed"] == xxhash.xxh64_intdigest(q["prompt_id"].encode()) >> 1  # replayable from the id alone
    assert q["instruction"] == "Solve the problem step by step and give the exact answer."
    chat = found[many[3]]
    assert chat["model"]["name"] == "m" and chat["model"]["api"] == "completion"


def test_publisher_refuses_bad_prompts_and_sends_nothing(bootstrap, names):
    with PromptPublisher(bootstrap, dataset="bad", prefix=names.prefix) as pub:
        with pytest.raises(PromptError, match=r"unknown task 'math\.nope'; known tasks: .*math\.linear"):
            pub.publish("math.nope")
        with pytest.raises(PromptError, match=r"math\.linear params: params\.samples"):
            pub.publish("math.linear", dimensions={"difficulty": "basic"}, params={"samples": "many"})
        with pytest.raises(PromptError, match=r"params\.bogus"):
            pub.publish("math.linear", dimensions={"difficulty": "basic"}, params={"bogus": 1})
        with pytest.raises(PromptError, match=r"needs dimensions \['difficulty'\]"):
            pub.publish("math.linear")
        with pytest.raises(PromptError, match=r"prompt 1: .*'difficulty' is 'x'"):  # checked before any is sent
            pub.publish_many([{"task": "math.linear", "dimensions": {"difficulty": "basic"}},
                              {"task": "math.linear", "dimensions": {"difficulty": "x"}}])
        with pytest.raises(PromptError, match=r"missing \['question', 'answer'\]"):
            pub.publish("math.seeded")
    err = PromptError("x")
    assert isinstance(err, ConfigError) and isinstance(err, ValueError)
    with pytest.raises(PromptError, match="dataset"):
        PromptPublisher(bootstrap, dataset="no spaces", prefix=names.prefix)
    assert prompts_on(bootstrap, names.prompts) == {}


def test_iter_accepted_each_record_once_by_dataset_and_from_offsets(bootstrap, names):
    topic = names["accepted-records"]
    publish(bootstrap, topic, [record(i, "cl") for i in range(6)] + [record(2, "cl"), record(0, "zz")])
    producer = kafka_io.producer(bootstrap, "test-client")
    producer.send(topic, key=b"junk", value=b"not avro").get(timeout=30)
    producer.close()

    stats = ReadStats()
    assert ids(iter_accepted(bootstrap, prefix=names.prefix, stats=stats)) == sorted(rids("cl", range(6))
                                                                                     + rids("zz", [0]))
    assert (stats.yielded, stats.duplicates, stats.undecodable) == (7, 1, 1)
    stats = ReadStats()
    got = list(iter_accepted(bootstrap, prefix=names.prefix, dataset="cl", stats=stats))
    assert ids(got) == rids("cl", range(6)) and stats.other_datasets == 1
    assert got[0]["lineage"]["dataset"] == "cl" and got[0]["messages"] == record(0, "cl")["messages"]

    ends = kafka_io.end_offsets(bootstrap, topic)
    publish(bootstrap, topic, [record(i, "cl") for i in range(6, 9)])
    assert ids(iter_accepted(bootstrap, prefix=names.prefix, dataset="cl", since=ends)) == rids("cl", range(6, 9))
    as_text = {str(p): o for p, o in ends.items()}  # a manifest's form
    assert ids(iter_accepted(bootstrap, prefix=names.prefix, since=as_text)) == rids("cl", range(6, 9))
    assert list(iter_accepted(bootstrap, prefix=names.prefix, since="end")) == []
    with pytest.raises(ConfigError, match="since is 'beginning', 'end'"):
        iter_accepted(bootstrap, prefix=names.prefix, since="yesterday")
    with pytest.raises(ConfigError, match=r"no partition\(s\) \[99\]"):
        list(iter_accepted(bootstrap, prefix=names.prefix, since={99: 0}))


def test_iter_accepted_since_a_version_tag(bootstrap, names):
    topic, serde = names["accepted-records"], registry()
    publish(bootstrap, topic, [record(i, "tg") for i in range(4)] + [record(0, "zz")])
    versions.tag(bootstrap, names, serde, "tg", "v1", now_ms=1_700_000_000_000)
    publish(bootstrap, topic, [record(i, "tg") for i in range(4, 7)] + [record(1, "zz")])

    assert ids(iter_accepted(bootstrap, prefix=names.prefix, since="tg@v1")) == rids("tg", range(4, 7))
    assert ids(iter_accepted(bootstrap, prefix=names.prefix, since="tg@v1", dataset="zz")) == rids("zz", [1])
    with pytest.raises(ConfigError, match=r"no version tg@v9 .*tags there: tg@v1"):
        iter_accepted(bootstrap, prefix=names.prefix, since="tg@v9")
    with pytest.raises(ConfigError, match="NAME@VERSION"):
        iter_accepted(bootstrap, prefix=names.prefix, since="@v1")


def test_iter_accepted_follows_the_topic_until_idle_or_closed(bootstrap, names):
    topic = names["accepted-records"]
    publish(bootstrap, topic, [record(0, "fo")])
    live = iter_accepted(bootstrap, prefix=names.prefix, dataset="fo", follow=True, poll_timeout_s=0.2,
                         idle_timeout_s=5.0)
    assert next(live)["record_id"] == record(0, "fo")["record_id"]
    publish(bootstrap, topic, [record(1, "fo"), record(1, "fo"), record(2, "zz")])  # after iteration began
    assert ids(live) == rids("fo", [1])  # then 5 s without a new record end it

    # since="end": only what is written once reading started; a writer keeps adding until one is seen
    seen, stop = threading.Event(), threading.Event()

    def writer() -> None:
        for i in range(100, 160):
            if stop.wait(0.25):
                return
            publish(bootstrap, topic, [record(i, "fe")])

    thread = threading.Thread(target=writer, daemon=True)
    tail = iter_accepted(bootstrap, prefix=names.prefix, dataset="fe", since="end", follow=True, poll_timeout_s=0.2)
    thread.start()
    try:
        got = next(tail)
        seen.set()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert seen.is_set() and got["lineage"]["dataset"] == "fe"
    tail.close()  # no idle timeout: closing the generator ends it (and closes its consumer)
    assert list(tail) == []


def test_an_aborted_or_open_transaction_is_not_seen(bootstrap, names):
    topic = names["accepted-records"]
    txn = kafka_io.producer(bootstrap, "test-txn", transactional_id=f"test-client-{uuid.uuid4().hex[:8]}")
    serde = registry()

    def send(*records: dict) -> None:
        for r in records:
            txn.send(topic, key=r["record_id"].encode(), value=serde.encode("AcceptedRecord", r))
        txn.flush()

    try:
        txn.init_transactions()
        txn.begin_transaction()
        send(record(0, "tx"), record(1, "tx"))
        txn.abort_transaction()
        txn.begin_transaction()
        send(record(2, "tx"))
        txn.commit_transaction()
        publish(bootstrap, topic, [record(3, "tx")])  # not transactional: committed as it is written
        txn.begin_transaction()
        send(record(4, "tx"))  # left open while reading: below the end, not yet committed

        uncommitted = {serde.decode(m.value, "AcceptedRecord")[1]["record_id"]
                       for m in kafka_io.read_to_end(bootstrap, topic, purpose="test-client",
                                                     isolation_level="read_uncommitted")}
        assert set(rids("tx", [0, 1, 4])) <= uncommitted  # a read_uncommitted reader would have them
        assert ids(iter_accepted(bootstrap, prefix=names.prefix, dataset="tx")) == rids("tx", [2, 3])
        # the exporter and every other reader of the project read committed records only
        from synthstream.streams.app.exporter import ExportResult, accepted

        assert sorted(r["record_id"] for r in accepted(bootstrap, topic, serde, ExportResult())) == rids("tx", [2, 3])
        txn.commit_transaction()
        assert ids(iter_accepted(bootstrap, prefix=names.prefix, dataset="tx")) == rids("tx", [2, 3, 4])
    finally:
        txn.close(timeout=10)


def test_hf_iterable_dataset_round_trip(bootstrap, names):
    topic = names["accepted-records"]
    records = [record(i, "hf", task=task) for i, task in enumerate(["math.linear", "code.python", "math.linear"])]
    publish(bootstrap, topic, records + [record(1, "hf"), record(0, "zz")])

    ds = as_hf_iterable(bootstrap, prefix=names.prefix, dataset="hf")
    rows = sorted(ds, key=lambda r: r["id"])
    assert rows == sorted((to_jsonl(r) for r in records), key=lambda r: r["id"])
    assert rows[0]["messages"] == records[0]["messages"]
    texts = [r["text"] for r in ds.map(lambda r: {"text": r["messages"][-1]["content"]})]  # read again, mapped
    assert len(texts) == 3

    with pytest.raises(ConfigError, match="no version hf@v1"):
        as_hf_iterable(bootstrap, prefix=names.prefix, since="hf@v1")


def test_the_trainer_example_prints_the_rows(bootstrap, names):
    publish(bootstrap, names["accepted-records"], [record(i, "ex") for i in range(3)] + [record(0, "zz")])
    example = Path(__file__).resolve().parents[2] / "examples" / "train_from_stream.py"
    done = subprocess.run([sys.executable, str(example), "--bootstrap", bootstrap, "--prefix", names.prefix,
                           "--dataset", "ex", "--batch-size", "2"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(r["id"] for r in rows) == rids("ex", range(3))
    assert rows[0]["text"].startswith("<|user|> ") and "step 2: 1 rows" in done.stderr

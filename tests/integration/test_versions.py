"""Dataset versions on the real broker: tag, add records, tag again; each version's export is
exactly its records (a redelivered copy and another data set's records left out), diff says what
was added per task, and a tag is never overwritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from synthstream.streams.app.producer import make_producer
from synthstream.streams.runtime.serde import registry
from synthstream.streams.runtime.topics import TopicNames, create_topics
from tests.records import ACCEPTED, LINEAGE

pytestmark = pytest.mark.integration


def record(i: int, dataset: str = "vers", task: str = "math.linear") -> dict:
    return dict(ACCEPTED, record_id=f"{dataset}{i:028d}"[:32], prompt_id=f"{dataset}-{i}", task=task,
                lineage=dict(LINEAGE, dataset=dataset, accepted_at=1_700_000_000_000 + i))


def publish(bootstrap: str, topic: str, records: list[dict]) -> None:
    serde, producer = registry(), make_producer(bootstrap)
    for r in records:
        producer.send(topic, key=r["record_id"].encode(), value=serde.encode("AcceptedRecord", r))
    producer.flush()
    producer.close()


def test_tag_add_tag_again_and_export_each_version(bootstrap, tmp_path):
    prefix = f"v{uuid.uuid4().hex[:8]}."
    create_topics(bootstrap, prefix, 4)
    topic = TopicNames(prefix)["accepted-records"]
    env = dict(os.environ, SYNTHSTREAM_BOOTSTRAP=bootstrap, SYNTHSTREAM_TOPIC_PREFIX=prefix, COLUMNS="200")

    def cli(*args: str, ok: bool = True) -> str:
        done = subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", *args], env=env,
                              capture_output=True, text=True, timeout=180)
        said = " ".join((done.stdout + done.stderr).split())
        assert (done.returncode == 0) is ok, said
        return said

    def exported(version: str) -> list[str]:
        out = tmp_path / f"{version}.jsonl"
        cli("export", "--version", version, "--out", str(out))
        return [json.loads(line)["id"] for line in out.read_text().splitlines()]

    first = [record(i) for i in range(5)] + [record(i, task="code.python") for i in range(5, 7)]
    publish(bootstrap, topic, first + [record(0, dataset="other")])
    said = cli("dataset", "tag", "vers", "v1", "--note", "the first seven")
    assert "tagged vers@v1: 7 records (code.python 2, math.linear 5)" in said
    later = [record(i) for i in range(7, 10)] + [record(10, task="qa.grounded")]
    publish(bootstrap, topic, later + [record(2), record(1, dataset="other")])  # a redelivered copy, another set
    assert "tagged vers@v2: 11 records" in cli("dataset", "tag", "vers", "v2")

    assert "already tagged" in cli("dataset", "tag", "vers", "v1", ok=False)
    assert "no accepted record of data set 'nope'" in cli("dataset", "tag", "nope", "v1", ok=False)
    assert "data sets there: other, vers" in cli("dataset", "tag", "nope", "v1", ok=False)
    listed = cli("dataset", "list")
    assert "vers@v1" in listed and "vers@v2" in listed and "the first seven" in listed

    assert sorted(exported("vers@v1")) == sorted(r["record_id"] for r in first)
    assert sorted(exported("vers@v2")) == sorted(r["record_id"] for r in first + later)
    diff = cli("dataset", "diff", "vers@v1", "vers@v2")
    assert "math.linear: +3" in diff and "qa.grounded: +1" in diff and "code.python: +0" in diff
    assert "vers@v2 vs vers@v1: +4 records" in diff

    publish(bootstrap, topic, [record(20)])  # after the tags: in neither version
    assert len(exported("vers@v2")) == 11
    cli("export", "--version", "vers@v1", "--format", "hf", "--out", str(tmp_path / "hf"))
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "Version: `vers@v1`" in card and "| **all** | **7** |" in card
    assert "no version vers@v9" in cli("export", "--version", "vers@v9", "--out", str(tmp_path / "x"), ok=False)
    assert "not NAME@VERSION" in cli("export", "--version", "vers", "--out", str(tmp_path / "x"), ok=False)

"""Named, reproducible versions of a data set (``synthstream dataset tag|list|diff``, ``export --version``).

A version is a manifest in the compacted ``dataset-versions`` topic, keyed ``NAME@VERSION``:
the end offset of every accepted-records partition at the moment of tagging, and what the
records of data set NAME below those offsets were (distinct records, per task, per spec hash)
with the data set's latest bias report. accepted-records is kept for ever and only appended
to, so the records of data set NAME below the offsets, once per record id, are exactly that
version's, whenever they are read again; ``diff A B`` is what B has that A has not, per task.
A tag, once written, is not overwritten.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from synthstream.streams.runtime import kafka_io
from synthstream.streams.runtime.errors import ConfigError, DecodeError
from synthstream.streams.runtime.records import DatasetVersion
from synthstream.streams.runtime.serde import SchemaRegistry


def key(name: str, version: str) -> str:
    return f"{name}@{version}"


def parse_key(text: str) -> tuple[str, str]:
    name, sep, version = text.rpartition("@")
    if not sep or not name or not version:
        raise ConfigError(f"{text!r} is not NAME@VERSION (e.g. demo@v1)")
    return name, version


@dataclass
class Contents:
    """What a version holds: record ids by task, and counts."""

    ids: dict[str, set[str]] = field(default_factory=dict)  # task -> record ids
    spec_hashes: Counter = field(default_factory=Counter)
    others: Counter = field(default_factory=Counter)  # records of other data sets seen on the way
    undecodable: int = 0

    @property
    def records(self) -> int:
        return sum(len(v) for v in self.ids.values())

    def per_task(self) -> dict[str, int]:
        return {task: len(ids) for task, ids in sorted(self.ids.items())}


def records_of(bootstrap: str, topic: str, serde: SchemaRegistry, name: str, stop: dict[int, int] | None,
               contents: Contents | None = None) -> Iterator[dict[str, Any]]:
    """The accepted records of data set ``name`` below ``stop`` (partition -> offset; None: the
    end now), each once, in topic order per partition; ``contents`` is filled as they go."""
    contents = contents if contents is not None else Contents()
    seen: set[str] = set()
    partitions = sorted(stop) if stop is not None else None  # a partition added since the tag is not in it
    for msg in kafka_io.read_range(bootstrap, topic, partitions=partitions, stop=stop, timeout_s=600.0,
                                   purpose="dataset-version"):
        try:
            _, record = serde.decode(msg.value, "AcceptedRecord")
        except DecodeError:
            contents.undecodable += 1
            continue
        if record["lineage"]["dataset"] != name:
            contents.others[record["lineage"]["dataset"]] += 1
            continue
        if record["record_id"] in seen:
            continue
        seen.add(record["record_id"])
        contents.ids.setdefault(record["task"], set()).add(record["record_id"])
        contents.spec_hashes[record["lineage"]["spec_hash"]] += 1
        yield record


def stop_of(manifest: DatasetVersion) -> dict[int, int]:
    return {int(p): int(o) for p, o in manifest["offsets"].items()}


def read_versions(bootstrap: str, topic: str, serde: SchemaRegistry) -> dict[str, DatasetVersion]:
    """Every tag, the first written for each key (a compacted topic may still hold repeats)."""
    found: dict[str, DatasetVersion] = {}
    for msg in kafka_io.read_to_end(bootstrap, topic, purpose="dataset-versions"):
        try:
            _, manifest = serde.decode(msg.value, "DatasetVersion")
        except DecodeError:
            continue
        found.setdefault(key(manifest["name"], manifest["version"]), manifest)
    return found


def tag(bootstrap: str, names: Any, serde: SchemaRegistry, name: str, version: str, now_ms: int,
        note: str | None = None) -> DatasetVersion:
    """Record NAME@VERSION: the offsets now, what they hold, the latest bias report; refuses a
    tag that exists and a data set with no accepted record (naming the ones there are)."""
    versions_topic, accepted_topic = names["dataset-versions"], names["accepted-records"]
    if key(name, version) in read_versions(bootstrap, versions_topic, serde):
        raise ConfigError(f"{key(name, version)} is already tagged; versions are never overwritten: choose "
                          "another VERSION")
    offsets = kafka_io.end_offsets(bootstrap, accepted_topic, purpose="dataset-tag")
    contents = Contents()
    for _ in records_of(bootstrap, accepted_topic, serde, name, offsets, contents):
        pass
    if not contents.records:
        there = ", ".join(sorted(contents.others)) or "none"
        raise ConfigError(f"no accepted record of data set {name!r} in {accepted_topic} (data sets there: {there})")
    bias = None
    for msg in kafka_io.read_to_end(bootstrap, names["bias-reports"], purpose="dataset-tag"):
        try:
            _, report = serde.decode(msg.value, "BiasReport")
        except DecodeError:
            continue
        if report["dataset"] == name:
            bias = report
    manifest = DatasetVersion(name=name, version=version, tagged_at=now_ms,
                              offsets={str(p): int(o) for p, o in sorted(offsets.items())}, records=contents.records,
                              per_task=contents.per_task(), spec_hashes=dict(contents.spec_hashes),
                              bias=json.dumps(bias, sort_keys=True) if bias is not None else None, note=note)
    producer = kafka_io.producer(bootstrap, "dataset-tag")
    try:
        producer.send(versions_topic, key=key(name, version).encode(),
                      value=serde.encode("DatasetVersion", manifest)).get(timeout=30)
    finally:
        producer.close()
    return manifest


def diff(bootstrap: str, names: Any, serde: SchemaRegistry, a: DatasetVersion,
         b: DatasetVersion) -> dict[str, tuple[int, int]]:
    """Per task, (records B has that A has not, records A has that B has not)."""
    sides = []
    for manifest in (a, b):
        contents = Contents()
        for _ in records_of(bootstrap, names["accepted-records"], serde, manifest["name"], stop_of(manifest),
                            contents):
            pass
        sides.append(contents.ids)
    tasks = sorted(set(sides[0]) | set(sides[1]))
    return {t: (len(sides[1].get(t, set()) - sides[0].get(t, set())), len(sides[0].get(t, set()) - sides[1].get(t, set())))
            for t in tasks}

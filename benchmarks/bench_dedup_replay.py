"""How long a dedup worker takes to rebuild one partition's index from the changelog.

    .venv/bin/python benchmarks/bench_dedup_replay.py [--records 200000]

Starts the local broker if none answers (like `synthstream run`), writes ``--records``
DedupEntry records (the planted corpus' texts, normalised) to one partition of a fresh
dedup-index topic, then times ``PartitionedIndex.catch_up`` (kafka-python fetch, Avro decode,
signature and bucket inserts) from offset 0. Last line:
``dedup_replay: N entries in S s = R entries/s``.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedup_corpus import Corpus  # noqa: E402

from synthstream.agents.dedup.core import DedupParams, IndexEntry, record_id  # noqa: E402
from synthstream.agents.dedup.normalize import normalize  # noqa: E402
from synthstream.agents.dedup.core import dedup_entry  # noqa: E402
from synthstream.agents.dedup.store import PartitionedIndex  # noqa: E402
from synthstream.streams.app.kafka_local.launcher import LocalKafka  # noqa: E402
from synthstream.streams.runtime.kafka_io import cluster_ready  # noqa: E402
from synthstream.streams.app.producer import make_producer  # noqa: E402
from synthstream.streams.runtime.serde import registry  # noqa: E402
from synthstream.streams.runtime.settings import KafkaSettings  # noqa: E402
from synthstream.streams.runtime.topics import TopicNames, create_topics  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args(argv)
    kafka = KafkaSettings()
    if not cluster_ready(kafka.bootstrap_servers):
        if not kafka.local:
            raise SystemExit(f"no Kafka answers at {kafka.bootstrap_servers}")
        LocalKafka(kafka).start()
    names = TopicNames(f"replay{uuid.uuid4().hex[:6]}.")
    create_topics(kafka.bootstrap_servers, names.prefix, partitions=1)
    serde = registry()
    producer = make_producer(kafka.bootstrap_servers)
    t0 = time.perf_counter()
    distinct = set()
    for i, (text, _) in enumerate(Corpus(seed=5).records(args.records)):
        norm = normalize(text)
        entry = IndexEntry(record_id("bench", norm), f"p{i}", "bench", norm)
        distinct.add(entry.record_id)
        producer.send(names["dedup-index"], key=entry.record_id.encode(),
                      value=serde.encode("DedupEntry", dedup_entry(entry, "math.linear", 0)), partition=0)
    producer.flush()
    producer.close()
    print(f"wrote {args.records:,} entries in {time.perf_counter() - t0:.1f} s", flush=True)
    index = PartitionedIndex(DedupParams(), kafka.bootstrap_servers, names["dedup-index"], serde)
    t0 = time.perf_counter()
    done = index.catch_up(0)
    seconds = time.perf_counter() - t0
    assert done.entries == args.records and len(index) == len(distinct), (done, len(index))  # exact copies once
    # the same partition from a local snapshot instead (what a restart on the same data dir does)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        index.snapshot_dir = Path(tmp)
        t0 = time.perf_counter()
        index.write_snapshot(0, index.export(0), done.next_offset)
        written = time.perf_counter() - t0
        size = index.snapshot_path(0).stat().st_size
        restored = PartitionedIndex(DedupParams(), kafka.bootstrap_servers, names["dedup-index"], serde, Path(tmp))
        t0 = time.perf_counter()
        tail = restored.catch_up(0)
        loaded = time.perf_counter() - t0
        assert len(restored) == len(index) and tail.entries == 0, (len(restored), tail)
    print(f"snapshot: written in {written:.1f} s ({size / 2**20:.0f} MiB), restored in {loaded:.1f} s")
    print(f"dedup_replay: {done.entries} entries in {seconds:.1f} s = {done.entries / seconds:.0f} entries/s "
          f"({len(index)} distinct in the index); from the snapshot {loaded:.1f} s")


if __name__ == "__main__":
    from synthstream.streams.runtime.procs import main_stopping_on_signals

    main_stopping_on_signals(main)  # SIGTERM and SIGHUP stop what it started, as Ctrl-C does

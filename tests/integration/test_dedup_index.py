"""The dedup index survives a crash and is shared by several workers (real broker, real workers).

Verdicts are published the way verification publishes them (on the partition of their dedup
scope). A first dedup worker accepts originals, snapshots its partitions and is killed with
SIGKILL; two new processes (one on the dead worker's data dir, so it starts from its snapshots,
one on a fresh one) then share the partitions, catch up from the changelog, and must catch
near duplicates and paraphrases of what the dead one accepted, in every partition (the
paraphrases through the embeddings restored from the snapshot or re-embedded on replay, with
the real model). The JSONL command
then deduplicates a file against the same live index.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from synthstream.agents.dedup.fields import partition_for, scope_of
from synthstream.agents.families import default_fields
from synthstream.streams.app.outcomes import OutcomeWatcher
from synthstream.streams.app.producer import make_producer
from synthstream.streams.runtime.serde import registry
from tests.integration.conftest import free_port, wait_until
from tests.integration.test_pipeline import metric, scrape
from tests.records import GENERATION, VERDICT

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "procedural.yaml"


def semantic_spec(tmp_path: Path) -> Path:
    """The procedural spec as data set dedup-it, with math.linear's semantic tier switched on (the
    family leaves it off): the per-task switch, through the stage."""
    import yaml

    data = yaml.safe_load(SPEC.read_text())
    data["dataset"]["name"] = "dedup-it"
    data["tasks"][0]["dedup"] = {"semantic": True}
    path = tmp_path / "dedup-it.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
PLACES = ("orchard", "harbour", "bakery", "library", "garage", "meadow", "station", "market")


def verdict(i: int, prompt_id: str, wording: str) -> dict:
    """A math verdict whose scope (equation, answer) is its own: 2*x + i = 2*2 + i."""
    problem = (f"{wording} In the {PLACES[i % 8]} number {i}, a crate holds x pears; two crates and {i} loose "
               f"pears make {4 + i} pears. Solve 2*x + {i} = {4 + i} for x.")
    gen = dict(GENERATION, prompt_id=prompt_id, problem=problem, equation=f"2*x + {i} = {4 + i}", answer="2",
               lineage=dict(GENERATION["lineage"], dataset="dedup-it"))
    return dict(VERDICT, prompt_id=prompt_id, generation=gen)


def paraphrase(i: int, prompt_id: str) -> dict:
    """The same problem as ``verdict(i, ...)`` in other words: fuzz.ratio about 53, so only the
    semantic tier (embedding cosine about 0.9) can tell."""
    v = verdict(i, prompt_id, "")
    v["generation"]["problem"] = (f"Two crates of pears plus {i} single pears come to {4 + i} pears at the "
                                  f"{PLACES[i % 8]} (site {i}). If every crate contains x pears, what is x? "
                                  f"Use 2*x + {i} = {4 + i}.")
    return v


def group_has(bootstrap: str, group: str, members: int) -> bool:
    """The consumer group is stable with ``members`` members (both new workers have joined, so
    the partitions are shared before anything is published)."""
    from synthstream.streams.runtime import kafka_io

    admin = kafka_io.admin(bootstrap, "test-group")
    try:
        info = admin.describe_groups([group]).get(group) or {}
        state = info.get("group_state") or info.get("state")
        return state == "Stable" and len(info.get("members") or []) == members
    finally:
        admin.close()


def publish(producer, names, serde, verdicts: list[dict], partitions: int = 4) -> list[str]:
    for v in verdicts:
        gen = v["generation"]
        p = partition_for(scope_of(gen, default_fields(gen["task"])), partitions)
        producer.send(names.verdicts, key=v["prompt_id"].encode(), value=serde.encode("Verdict", v), partition=p)
    producer.flush()
    return [v["prompt_id"] for v in verdicts]


def test_a_near_duplicate_after_a_crash_is_caught_by_the_workers_sharing_the_index(names, bootstrap, worker_factory,
                                                                                     tmp_path):
    serde = registry()
    spec = semantic_spec(tmp_path)
    watcher = OutcomeWatcher(bootstrap, names, serde)
    watcher.seek_to_beginning()
    producer = make_producer(bootstrap)
    fast = {"SYNTHSTREAM_WORKER_SESSION_TIMEOUT_S": "6"}
    try:
        first = worker_factory(names, spec, free_port(), ["dedup"], SYNTHSTREAM_WORKER_DEDUP_SNAPSHOT_SECONDS="1",
                               **fast)
        originals = publish(producer, names, serde, [verdict(i, f"o{i}", "Work it out step by step.")
                                                     for i in range(24)])
        pending = set(originals)
        assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending, 90), \
            f"no outcome for {sorted(pending)}; log:\n{first.log_path.read_text()[-3000:]}"
        assert all(watcher.outcomes[p] == "ACCEPTED" for p in originals)
        used = {partition_for(scope_of(verdict(i, "x", "")["generation"], default_fields("math.linear")), 4)
                for i in range(24)}
        assert used == {0, 1, 2, 3}  # the test covers every partition's index
        snapshots = tmp_path / "worker-0" / "dedup"
        assert wait_until(lambda: len(list(snapshots.glob("*.npz"))) == 4, 30), \
            f"no snapshots; log:\n{first.log_path.read_text()[-3000:]}"  # one per partition, by the timer
        os.killpg(first.pid, signal.SIGKILL)  # a crash: no shutdown, no final commit
        first.wait(timeout=10)

        ports = free_port(), free_port()
        # one comes back on the crashed worker's data dir (it starts from the snapshots), one is new
        a = worker_factory(names, spec, ports[0], ["dedup"], SYNTHSTREAM_WORKER_DATA_DIR=str(tmp_path / "worker-0"),
                           **fast)
        b = worker_factory(names, spec, ports[1], ["dedup"], **fast)
        # each loads the embedding model before joining: wait until the group holds both
        assert wait_until(lambda: group_has(bootstrap, f"{names.prefix}synthstream-dedup", 2), 90, step_s=1.0), \
            "the two new dedup workers did not both join the group"
        near = publish(producer, names, serde, [verdict(i, f"n{i}", "Work it out step by step, please!")
                                                for i in range(24)])
        fresh = publish(producer, names, serde, [verdict(100 + i, f"f{i}", "Work it out.") for i in range(4)])
        reworded = publish(producer, names, serde, [paraphrase(i, f"r{i}") for i in range(0, 24, 3)])
        pending = set(near) | set(fresh) | set(reworded)
        logs = lambda: "\n".join(p.log_path.read_text()[-2000:] for p in (a, b))  # noqa: E731
        assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending, 120), \
            f"no outcome for {sorted(pending)}; logs:\n{logs()}"
    finally:
        producer.close()
        watcher.close()
    missed = {p: watcher.outcomes[p] for p in near + reworded if watcher.outcomes[p] != "DUPLICATE"}
    assert not missed, f"near duplicates or paraphrases accepted after the restart: {missed}\n{logs()}"
    assert all(watcher.outcomes[p] == "ACCEPTED" for p in fresh)
    # the two new workers rebuilt their partitions from the changelog and hold all of it between them
    metrics = [scrape(port) for port in ports]
    assert all(metric(m, "synthstream_dedup_replay_seconds_count") >= 1 for m in metrics)
    assert sum(metric(m, "synthstream_dedup_index_records") for m in metrics) == 28
    assert sum(metric(m, "synthstream_dedup_hits_total", kind="near") for m in metrics) == 24
    assert sum(metric(m, "synthstream_dedup_hits_total", kind="semantic") for m in metrics) == 8
    assert sum(metric(m, "synthstream_dedup_unembedded_total", task="math.linear") for m in metrics) == 0

    # the same live index, from the command line
    lines = [{"id": "old", "text": verdict(3, "x", "Please work it out step by step.")["generation"]["problem"]},
             {"id": "new", "text": "A completely different question about trains leaving stations at noon."},
             {"id": "copy", "text": "A completely different question about TRAINS leaving stations at noon!"}]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines))
    env = dict(os.environ, SYNTHSTREAM_BOOTSTRAP=bootstrap, SYNTHSTREAM_TOPIC_PREFIX=names.prefix, COLUMNS="200")
    done = subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "dedup", "--in", str(src), "--out", str(out),
                           "--against-index"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["new"]
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["dropped"]) for r in rejects] == [(1, "duplicate_near_live"), (3, "duplicate_exact")]
    assert rejects[0]["of_live_record"] and rejects[1]["of_line"] == 2
    assert "kept 1, dropped 2 duplicates (1 exact, 1 near live) against 28 live records" in done.stderr

"""A read_committed reader of accepted-records sees each record once, whatever crashes (real
broker, real dedup workers).

6,000 distinct verdicts (and 300 redeliveries of some of them, as verification sends after its
own crash) flow into a dedup worker that is SIGKILLed whenever it has decided some hundreds
more, and restarted on the same data dir, several times; then one runs to the end. Each kill
lands while a batch is being handled or committed. At least once
(SYNTHSTREAM_WORKER_EXACTLY_ONCE=false), the same test saw 3,232 records more than once: each
kill redoes what was sent but not committed, and each redelivery republishes its record.
"""

from __future__ import annotations

import collections
import os
import signal
from pathlib import Path

import pytest

from synthstream.streams.app.outcomes import OutcomeWatcher
from synthstream.streams.app.producer import make_producer
from synthstream.streams.runtime import kafka_io
from synthstream.streams.runtime.serde import registry
from tests.integration.conftest import free_port, wait_until
from tests.integration.test_dedup_index import publish, verdict

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "procedural.yaml"
TOTAL, KILLS, STEP = 6000, 4, 700


def accepted_ids(bootstrap: str, topic: str, isolation_level: str) -> list[str]:
    serde = registry()
    return [serde.decode(m.value, "AcceptedRecord")[1]["prompt_id"]
            for m in kafka_io.read_to_end(bootstrap, topic, isolation_level=isolation_level, timeout_s=120)]


def test_sigkilled_dedup_workers_neither_duplicate_nor_lose_an_accepted_record(names, bootstrap, worker_factory,
                                                                               tmp_path):
    serde = registry()
    watcher = OutcomeWatcher(bootstrap, names, serde)
    watcher.seek_to_beginning()
    producer = make_producer(bootstrap)
    env = {"SYNTHSTREAM_WORKER_EXACTLY_ONCE": "true", "SYNTHSTREAM_WORKER_SESSION_TIMEOUT_S": "6", "SYNTHSTREAM_WORKER_DATA_DIR": str(tmp_path / "dedup"),
           "SYNTHSTREAM_WORKER_DEDUP_BATCH": "200", "SYNTHSTREAM_WORKER_DEDUP_SEMANTIC": "false"}
    verdicts = [verdict(i, f"p{i}", "Work it out.") for i in range(TOTAL)]
    redelivered = verdicts[::20]
    published = set(publish(producer, names, serde, verdicts[: TOTAL // 2]))
    pending = set(published)
    kills: list[int] = []
    try:
        worker = worker_factory(names, SPEC, free_port(), ["dedup"], **env)
        for k in range(KILLS):
            if k == 1:  # the rest, with the redeliveries, while it runs; a redelivery of a decided
                # prompt is not waited for: exactly once, it gets no second outcome
                more = set(publish(producer, names, serde, verdicts[TOTAL // 2:] + redelivered)) - published
                published |= more
                pending |= more
            goal = len(published) - len(pending) + STEP
            wait_until(lambda: watcher.poll(pending) >= 0 and len(published) - len(pending) >= goal, 120,
                       step_s=0.05)
            kills.append(len(published) - len(pending))
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
            worker = worker_factory(names, SPEC, free_port(), ["dedup"], **env)
        assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending, 150, step_s=0.2), \
            f"{len(pending)} prompts without an outcome; log:\n{worker.log_path.read_text()[-3000:]}"
    finally:
        producer.close()
        watcher.close()
    assert all(0 < done < TOTAL for done in kills), f"a kill did not land while records flowed: {kills}"
    committed = accepted_ids(bootstrap, names["accepted-records"], "read_committed")
    twice = {pid: n for pid, n in collections.Counter(committed).items() if n > 1}
    assert not twice, f"{len(twice)} records seen twice by a read_committed reader, e.g. {list(twice.items())[:5]}"
    assert sorted(committed) == sorted(v["prompt_id"] for v in verdicts)  # nothing lost
    assert all(watcher.outcomes[v["prompt_id"]] == "ACCEPTED" for v in verdicts)
    # what the kills left behind is there, aborted: a read_uncommitted reader sees more
    print(f"kills at {kills} decided; read_uncommitted sees "
          f"{len(accepted_ids(bootstrap, names['accepted-records'], 'read_uncommitted'))} records, "
          f"read_committed {len(committed)}")

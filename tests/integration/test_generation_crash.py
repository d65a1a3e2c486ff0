"""Nothing is lost when the generation+verification worker is SIGKILLed again and again while
prompts flow (real broker, real workers): every prompt gets its outcome.

A worker that acked a later batch before an earlier one still in flight lost the earlier one
at a kill: Faust commits the lowest run of consecutive acked offsets even when offsets before it
are not acked (benchmarks/chaos_duplicates.py found 187 prompts of one partition never
generated). The kills here come soon after each start, while the first batches, which are the
slowest (metadata, connections), are still in flight.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from synthstream.agents.spec import load_spec
from synthstream.streams.app.outcomes import OutcomeWatcher
from synthstream.streams.app.producer import make_producer, plan_prompts, publish
from synthstream.streams.runtime.serde import registry
from tests.integration.conftest import free_port, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "procedural.yaml"
TOTAL, KILLS = 8000, 6


def test_sigkilled_generation_workers_lose_no_prompt(names, bootstrap, worker_factory, tmp_path):
    serde = registry()
    watcher = OutcomeWatcher(bootstrap, names, serde)
    watcher.seek_to_beginning()
    producer = make_producer(bootstrap)
    env = {"SYNTHSTREAM_WORKER_SESSION_TIMEOUT_S": "6", "SYNTHSTREAM_WORKER_DEDUP_SEMANTIC": "false"}
    kills: list[int] = []
    try:
        worker_factory(names, SPEC, free_port(), ["dedup", "bias"], **env)
        pending = set(publish(producer, names.prompts, serde,
                              plan_prompts(load_spec(SPEC), TOTAL, "crash", int(time.time() * 1000))))
        for k in range(KILLS):
            worker = worker_factory(names, SPEC, free_port(), ["generation", "verification"],
                                    SYNTHSTREAM_WORKER_DATA_DIR=str(tmp_path / "gen"), **env)
            before = len(pending)
            # kill once it has decided something, while its first batches are in flight
            wait_until(lambda: watcher.poll(pending) >= 0 and len(pending) < before, 120, step_s=0.05)
            time.sleep(0.3 * (k % 3))
            watcher.poll(pending)
            kills.append(TOTAL - len(pending))
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        worker = worker_factory(names, SPEC, free_port(), ["generation", "verification"],
                                SYNTHSTREAM_WORKER_DATA_DIR=str(tmp_path / "gen"), **env)
        assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending, 240, step_s=0.2), (
            f"{len(pending)} of {TOTAL} prompts without an outcome after kills at {kills} decided, e.g. "
            f"{sorted(pending)[:5]}; log:\n{worker.log_path.read_text()[-2000:]}")
    finally:
        producer.close()
        watcher.close()
    assert all(0 < done < TOTAL for done in kills), f"a kill did not land while prompts flowed: {kills}"
    print(f"kills at {kills} decided; {watcher.repeats} outcomes repeated by redelivery")

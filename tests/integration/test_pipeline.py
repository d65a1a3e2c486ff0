"""200 prompts, planted duplicates and garbage through the real broker and a real worker."""

from __future__ import annotations

import io
import time
import urllib.request
from pathlib import Path

import avro.io
import avro.schema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from synthstream.agents.generation.tasks.linear_procedural import generate
from synthstream.agents.verification.core import verify
from synthstream.streams.runtime.kafka_io import read_to_end
from synthstream.streams.app.outcomes import OutcomeWatcher
from synthstream.streams.app.producer import make_producer, plan_prompts, publish
from synthstream.streams.runtime.serde import registry
from synthstream.agents.spec import load_spec
from tests.integration.conftest import free_port, wait_until
from tests.records import SAMPLES

pytestmark = pytest.mark.integration
SPEC = Path(__file__).resolve().parents[2] / "specs" / "procedural.yaml"
# another instruction for the same problem: math dedups on the problem's statement, so these are
# exact copies too (near copies of a text cross the real broker in test_dedup_index.py)
REWORDED = ("Please {}", "{} Thanks", "Now {}", "{} Be concise.")


def garbage(serde, spec) -> list[tuple[bytes, bytes, str | None]]:
    """50 bad messages: (key, value, prompt id when the record is readable)."""
    good = serde.encode("Prompt", next(plan_prompts(spec, 1, "garbage", 0)))
    out: list[tuple[bytes, bytes, str | None]] = []
    out += [(b"g%d" % i, b"not avro at all %d" % i, None) for i in range(10)]
    out += [(b"u%d" % i, b"\xc3\x01" + bytes([i] * 8) + b"body", None) for i in range(10)]
    out += [(b"t%d" % i, good[: 12 + i * 3], None) for i in range(10)]
    out += [(b"w%d" % i, serde.encode("Outcome", SAMPLES["Outcome"]), None) for i in range(5)]
    out += [(b"e%d" % i, b"", None) for i in range(5)]
    bad_prompts = [dict(p, threshold=5.0) for p in plan_prompts(spec, 5, "badthr", 0)]
    bad_prompts += [dict(p, task="poetry.sonnet") for p in plan_prompts(spec, 5, "badtask", 0)]
    out += [(p["prompt_id"].encode(), serde.encode("Prompt", p), p["prompt_id"]) for p in bad_prompts]
    return out


def scrape(port: int) -> dict[tuple, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values


def metric(values: dict, name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_every_prompt_is_accounted_for_and_no_copy_is_accepted(names, bootstrap, worker_factory):
    serde, spec = registry(), load_spec(SPEC)
    port = free_port()
    proc = worker_factory(names, SPEC, port, SYNTHSTREAM_WORKER_BIAS_WINDOW_RECORDS="50")
    watcher = OutcomeWatcher(bootstrap, names, serde)
    watcher.seek_to_beginning()
    producer = make_producer(bootstrap)
    try:
        originals = list(plan_prompts(spec, 200, "it", int(time.time() * 1000)))
        ids = publish(producer, names.prompts, serde, iter(originals))
        pending = set(ids)
        assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending, 120), (
            f"{len(pending)} prompts without outcome; worker log:\n{proc.log_path.read_text()[-3000:]}")

        accepted_originals = [p for p in originals if verify(generate(p)).accepted][:40]
        # case, whitespace and punctuation noise normalise away: these are exact copies
        exact = [dict(p, prompt_id=f"{p['prompt_id']}-exact",
                      instruction=f"  {p['instruction'].upper()}!" if i % 2 else p["instruction"])
                 for i, p in enumerate(accepted_originals[:20])]
        reworded = [dict(p, prompt_id=f"{p['prompt_id']}-reworded",
                         instruction=REWORDED[i % 4].format(p["instruction"].upper() if i % 2 else p["instruction"]))
                    for i, p in enumerate(accepted_originals[20:40])]
        copies = publish(producer, names.prompts, serde, iter(exact + reworded))
        bad = garbage(serde, spec)
        for key, value, _ in bad:
            producer.send(names.prompts, key=key, value=value)
        producer.flush()
        pending = set(copies) | {pid for _, _, pid in bad if pid}
        assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending and len(watcher.dead_letters) >= 50, 120)
        watcher.poll(None, timeout_ms=1000)  # anything that should not be there would show up now
    finally:
        producer.close()
        watcher.close()

    # every prompt exactly once, no conflicting outcomes
    assert set(watcher.outcomes) == set(ids) | set(copies) | {pid for _, _, pid in bad if pid}
    assert watcher.conflicts == [] and watcher.repeats == 0
    kinds = watcher.outcomes
    assert all(kinds[p] == "DUPLICATE" for p in copies), {p: kinds[p] for p in copies if kinds[p] != "DUPLICATE"}
    counts = watcher.counts
    assert counts["REJECTED"] > 0 and counts["ACCEPTED"] >= 150
    assert counts["ACCEPTED"] + counts["REJECTED"] + counts["DUPLICATE"] + counts["DEAD_LETTER"] == 250

    # garbage: 50 dead letters with reasons, original bytes kept
    assert len(watcher.dead_letters) == 50
    reasons = watcher.dead_letter_reasons
    assert reasons["generation/not_avro"] == 10 and reasons["generation/unknown_schema"] == 10
    assert reasons["generation/corrupt"] == 10 and reasons["generation/wrong_type"] == 5
    assert reasons["generation/empty"] == 5 and reasons["generation/invalid_record"] == 5
    assert reasons["generation/unknown_task"] == 5
    sent = {key: value for key, value, _ in bad}
    for dl in watcher.dead_letters:
        assert dl["original_value"] == sent[dl["original_key"]] and dl["detail"]

    # accepted-records: only non-copies, unique ids, readable by the reference avro library
    schema = avro.schema.parse(serde.schema("AcceptedRecord").canonical)
    reader = avro.io.DatumReader(schema)
    records = []
    for msg in read_to_end(bootstrap, names["accepted-records"]):
        assert msg.value[:10] == b"\xc3\x01" + schema.fingerprint("CRC-64-AVRO")
        records.append(reader.read(avro.io.BinaryDecoder(io.BytesIO(msg.value[10:]))))
    assert len(records) == counts["ACCEPTED"]
    assert len({r["record_id"] for r in records}) == len(records)
    assert not {r["prompt_id"] for r in records} & set(copies)
    assert all(r["lineage"]["verifier"] and r["lineage"]["accepted_at"] for r in records)

    # /metrics agrees with what the topics say
    expected = {
        ("dedup", "accepted"): counts["ACCEPTED"], ("verification", "rejected"): counts["REJECTED"],
        ("dedup", "duplicate_exact"): 40, ("dedup", "duplicate_near"): 0, ("generation", "generated"): 240,
    }

    def mismatches() -> list:
        v = scrape(port)
        bad = [(k, n, metric(v, "synthstream_stage_records_total", stage=k[0], outcome=k[1]))
               for k, n in expected.items()
               if metric(v, "synthstream_stage_records_total", stage=k[0], outcome=k[1]) != n]
        dead = sum(metric(v, "synthstream_dead_letters_total", stage="generation", reason=r.split("/")[1])
                   for r in reasons)
        if dead != 50:
            bad.append(("dead_letters", 50, dead))
        if metric(v, "synthstream_bias_windows_total", closed_by="count") < 3:
            bad.append(("bias windows", ">=3", metric(v, "synthstream_bias_windows_total", closed_by="count")))
        return bad

    assert wait_until(lambda: not mismatches(), 15), mismatches()

    # bias reports: at least one per 50 accepted records, against the spec's targets
    reports = [serde.decode(m.value, "BiasReport")[1] for m in read_to_end(bootstrap, names["bias-reports"])]
    assert len(reports) >= counts["ACCEPTED"] // 50
    dims = {d["dimension"]: d for d in reports[0]["dimensions"]}
    assert set(dims) >= {"task", "difficulty", "domain"}
    assert dims["difficulty"]["target"] == pytest.approx(spec.targets()["difficulty"])
    assert dims["difficulty"]["psi"] is not None and dims["difficulty"]["status"] in ("ok", "warn", "critical")

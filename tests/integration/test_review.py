"""Human review end to end on the real broker: a worker samples verdicts to human-review,
`synthstream review export` writes the sheet, reviewers label it, `review import` publishes the
labels, and the worker's /metrics counts how often they agree with the gate."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from synthstream.agents.verification.review import sampled
from synthstream.streams.runtime.kafka_io import read_to_end
from synthstream.streams.app.outcomes import OutcomeWatcher
from synthstream.streams.app.producer import make_producer, plan_prompts, publish
from synthstream.streams.runtime.serde import registry
from synthstream.agents.spec import load_spec
from tests.integration.conftest import free_port, wait_until
from tests.integration.test_pipeline import metric, scrape

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def cli(bootstrap: str, prefix: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SYNTHSTREAM_BOOTSTRAP=bootstrap, SYNTHSTREAM_TOPIC_PREFIX=prefix, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_sampled_verdicts_go_out_to_reviewers_and_their_labels_come_back(names, bootstrap, worker_factory, tmp_path):
    doc = yaml.safe_load((ROOT / "specs" / "procedural.yaml").read_text())
    doc["verification"] = dict(doc.get("verification") or {}, review_fraction=0.3)
    spec_path = tmp_path / "review.yaml"
    spec_path.write_text(yaml.safe_dump(doc))
    serde, spec = registry(), load_spec(spec_path)
    port = free_port()
    proc = worker_factory(names, spec_path, port)
    watcher = OutcomeWatcher(bootstrap, names, serde)
    watcher.seek_to_beginning()
    producer = make_producer(bootstrap)
    try:
        ids = publish(producer, names.prompts, serde, iter(plan_prompts(spec, 80, "rv", int(time.time() * 1000))))
        pending = set(ids)
        assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending, 120), proc.log_path.read_text()[-3000:]
    finally:
        producer.close()
        watcher.close()
    expected = sorted(i for i in ids if sampled(i, 0.3))
    assert 10 <= len(expected) <= 40

    sheet = tmp_path / "review.csv"
    out = cli(bootstrap, names.prefix, "review", "export", "--out", str(sheet))
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(sheet.open()))
    assert sorted(r["prompt_id"] for r in rows) == expected
    assert f"wrote {len(expected)} rows" in out.stderr
    for n, row in enumerate(rows):  # the reviewer rejects every third record and leaves one row empty
        row["label"] = "" if n == 0 else ("reject" if n % 3 == 0 else "accept")
    rows.append(dict(rows[1], label="perhaps"))
    with sheet.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    back = cli(bootstrap, names.prefix, "review", "import", "--in", str(sheet), "--reviewer", "ana")
    assert back.returncode == 1, back.stderr  # one bad row: reported, the rest imported
    labelled = rows[1:-1]
    agree = sum((r["label"] == "accept") == (r["gate"] == "accept") for r in labelled)
    assert f"imported {len(labelled)} labels (1 rows without a label, 1 bad rows)" in back.stderr
    assert f"reviewers agree with the gate on {agree} of {len(labelled)}" in back.stderr
    assert f"review.csv:{len(rows) + 1}: label 'perhaps'" in back.stderr

    published = [serde.decode(m.value, "ReviewLabel")[1] for m in read_to_end(bootstrap, names["review-labels"])]
    assert sorted(p["prompt_id"] for p in published) == sorted(r["prompt_id"] for r in labelled)
    assert {p["reviewer"] for p in published} == {"ana"}

    def counted() -> float:
        values = scrape(port)
        return sum(metric(values, "synthstream_review_labels_total", task="math.linear", human=h, gate=g)
                   for h in ("accept", "reject") for g in ("accept", "reject"))

    assert wait_until(lambda: counted() == len(labelled), 60), proc.log_path.read_text()[-3000:]
    values = scrape(port)
    assert metric(values, "synthstream_review_agreement_ratio", task="math.linear") == pytest.approx(agree / len(labelled))
    sampled_total = sum(metric(values, "synthstream_review_sampled_total", task="math.linear", outcome=o)
                        for o in ("accepted", "rejected"))
    assert sampled_total == len(expected)

    # the live worker's /metrics passes Prometheus's own lint
    import shutil
    import urllib.request

    live = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    promtool = shutil.which("promtool")
    if promtool is None and not os.environ.get("CI"):
        pytest.skip("promtool is not installed (Debian package prometheus; CI installs it)")
    assert promtool is not None, "promtool is missing: install the Debian package prometheus"
    lint = subprocess.run([promtool, "check", "metrics"], input=live, capture_output=True, timeout=60)
    assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), lint.stdout + lint.stderr


def test_calibrate_reads_the_labels_and_verdicts_from_kafka_and_writes_thresholds(names, bootstrap, tmp_path):
    """Planted verdicts on human-review and labels on review-labels (the figures are worked out in
    tests/unit/test_calibrate.py); the command prints them and writes the threshold into a copy
    of the spec."""
    from synthstream.agents.verification.review import Label
    from synthstream.streams.app.producer import make_producer
    from synthstream.streams.app.review_io import publish_labels
    from tests.unit.test_calibrate import PLANTED, verdict

    serde = registry()
    producer = make_producer(bootstrap)
    try:
        for i, (score, _, vetoed) in enumerate(PLANTED):
            producer.send(names["human-review"], key=f"p{i}".encode(), value=serde.encode("Verdict", verdict(i, score, vetoed)))
        producer.flush()
        publish_labels(producer, names["review-labels"], serde, [
            Label(f"p{i}", "dialogue.chat", label, not vetoed and score >= 0.85, score, "r", None)
            for i, (score, label, vetoed) in enumerate(PLANTED)])
    finally:
        producer.close()
    spec = ROOT / "specs" / "dialogue.yaml"
    out = tmp_path / "calibrated.yaml"
    proc = cli(bootstrap, names.prefix, "review", "calibrate", "--target-precision", "0.95", "--spec", str(spec),
               "--write", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr  # the tables go to the console (stderr)
    row = next(line for line in text.splitlines() if line.startswith("│ dialogue.chat") and "0.92" in line)
    assert "0.80" in row and "1.00 / 0.40" in row  # precision 0.8 (recall 0.8), threshold 0.92 there: 1.0 / 0.4
    assert "relevance" in text and "0.68" in text  # its AUC
    written = load_spec(out)
    assert next(t for t in written.tasks if t.name == "dialogue.chat").threshold == 0.92
    refused = cli(bootstrap, names.prefix, "review", "calibrate", "--spec", str(spec), "--write", str(spec))
    assert refused.returncode != 0 and "not overwritten" in refused.stdout + refused.stderr

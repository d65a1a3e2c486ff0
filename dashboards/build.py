"""Writes the Grafana dashboards (dashboards/grafana/dashboards/*.json) from one table.

    python dashboards/build.py          # rewrite the JSON files
    python dashboards/build.py --check  # exit 1 when a file differs (the tests do the same)

Every query is plain PromQL over metrics the workers define or the recording rules in
dashboards/alerts.yml derive (no Grafana-only variables), so
tests/integration/test_dashboards.py can evaluate each one against a real Prometheus scraping a
live pipeline and check that it returns data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "grafana" / "dashboards"
DS = {"type": "prometheus", "uid": "synthstream-prometheus"}


def q(expr: str, legend: str = "") -> dict:
    return {"expr": expr, "legendFormat": legend}


# title, panel type, unit, queries
DASHBOARDS: dict[str, tuple[str, list[tuple[str, str, str, list[dict]]]]] = {
    "synthstream-overview": ("synthstream: pipeline overview", [
        ("Throughput per stage (records/s)", "timeseries", "ops",
         [q("synthstream:stage_throughput:rate1m", "{{stage}}")]),
        ("Acceptance rate (verification)", "timeseries", "percentunit",
         [q('sum(rate(synthstream_stage_records_total{stage="verification",outcome="accepted"}[5m])) / '
            'sum(rate(synthstream_stage_records_total{stage="verification"}[5m]))', "all tasks"),
          q("synthstream:acceptance_ratio:rate5m", "{{task}}")]),
        ("Outcomes per stage (records/s)", "timeseries", "ops",
         [q("sum by (stage, outcome) (rate(synthstream_stage_records_total[5m]))", "{{stage}} {{outcome}}")]),
        ("Stage latency p99 (s)", "timeseries", "s",
         [q("histogram_quantile(0.99, sum by (le, stage) (rate(synthstream_stage_latency_seconds_bucket[5m])))",
            "{{stage}}")]),
        ("Dead letters by stage and reason (records/s)", "timeseries", "ops",
         [q("sum by (stage, reason) (rate(synthstream_dead_letters_total[5m]))", "{{stage}} {{reason}}")]),
        ("Consumer lag per topic and group (messages)", "timeseries", "short",
         [q("sum by (topic, group) (synthstream_consumer_lag_messages)", "{{group}} {{topic}}")]),
    ]),
    "synthstream-quality": ("synthstream: data quality", [
        ("Quality score distribution", "heatmap", "short",
         [q("sum by (le) (rate(synthstream_quality_score_bucket[5m]))", "{{le}}")]),
        ("Quality score quantiles per task", "timeseries", "short",
         [q("histogram_quantile(0.5, sum by (le, task) (rate(synthstream_quality_score_bucket[5m])))", "p50 {{task}}"),
          q("histogram_quantile(0.1, sum by (le, task) (rate(synthstream_quality_score_bucket[5m])))", "p10 {{task}}")]),
        ("Verdicts by task, outcome and reason (records/s)", "timeseries", "ops",
         [q("sum by (task, outcome, reason) (rate(synthstream_verdicts_total[5m]))",
            "{{task}} {{outcome}} {{reason}}")]),
        ("Validator score median per validator", "timeseries", "short",
         [q("histogram_quantile(0.5, sum by (le, validator) (rate(synthstream_validator_score_bucket[5m])))",
            "{{validator}}")]),
        ("Sandbox tasks by result (tasks/s)", "timeseries", "ops",
         [q("sum by (result) (rate(synthstream_sandbox_task_seconds_count[5m]))", "{{result}}")]),
        ("Sandbox mode", "stat", "short", [q("max by (mode) (synthstream_sandbox_mode)", "{{mode}}")]),
        ("Human review: agreement with the gate", "timeseries", "percentunit",
         [q("max by (task) (synthstream_review_agreement_ratio)", "{{task}}")]),
    ]),
    "synthstream-bias": ("synthstream: bias and diversity", [
        ("PSI against the spec's targets", "timeseries", "short",
         [q("max by (dimension) (synthstream_bias_psi)", "{{dimension}}")]),
        ("Jensen-Shannon divergence against the targets", "timeseries", "short",
         [q("max by (dimension) (synthstream_bias_jsd)", "{{dimension}}")]),
        ("Observed vs target share", "timeseries", "percentunit",
         [q("max by (dimension, category) (synthstream_bias_share_ratio)", "{{dimension}}={{category}}"),
          q("max by (dimension, category) (synthstream_bias_target_ratio)", "target {{dimension}}={{category}}")]),
        ("Response length PSI against the reference window", "timeseries", "short",
         [q("max by (dataset) (synthstream_bias_length_psi)", "{{dataset}}")]),
        ("Distinct-n of accepted responses", "timeseries", "percentunit",
         [q("max by (dataset, n) (synthstream_diversity_distinct_ratio)", "{{dataset}} distinct-{{n}}")]),
        ("Compression ratio and top opening share", "timeseries", "short",
         [q("max by (dataset) (synthstream_diversity_compression_ratio)", "{{dataset}} compression ratio"),
          q("max by (dataset) (synthstream_diversity_top_opening_ratio)", "{{dataset}} top opening share")]),
        ("Detectors: gendered terms, refusals, boilerplate, language", "timeseries", "percentunit",
         [q("max by (dataset, detector) (synthstream_bias_detector_ratio)", "{{dataset}} {{detector}}")]),
        ("Bias windows closed (windows/min)", "timeseries", "short",
         [q("sum by (closed_by) (rate(synthstream_bias_windows_total[5m])) * 60", "{{closed_by}}")]),
    ]),
    "synthstream-dedup": ("synthstream: dedup", [
        ("Duplicates dropped by kind (records/s)", "timeseries", "ops",
         [q("sum by (kind) (rate(synthstream_dedup_hits_total[5m]))", "{{kind}}")]),
        ("Share of candidates dropped as duplicates", "timeseries", "percentunit",
         [q("synthstream:dedup_duplicate_ratio:rate5m", "duplicates")]),
        ("Index size (records, all workers)", "timeseries", "short",
         [q("sum(synthstream_dedup_index_records)", "records")]),
        ("Changelog replays: count and mean time (s)", "timeseries", "short",
         [q("sum(synthstream_dedup_replay_seconds_count)", "replays"),
          q("sum(synthstream_dedup_replay_seconds_sum) / sum(synthstream_dedup_replay_seconds_count)", "mean s")]),
        ("Dedup latency p99 (s)", "timeseries", "s",
         [q('histogram_quantile(0.99, sum by (le) (rate(synthstream_stage_latency_seconds_bucket{stage="dedup"}[5m])))',
            "p99")]),
    ]),
    "synthstream-model": ("synthstream: model cost and latency", [
        ("Model requests by outcome (req/s)", "timeseries", "reqps",
         [q("sum by (model, outcome) (rate(synthstream_llm_requests_total[5m]))", "{{model}} {{outcome}}")]),
        ("Tokens (tokens/s)", "timeseries", "short",
         [q("sum by (model, kind) (rate(synthstream_llm_tokens_total[5m]))", "{{model}} {{kind}}")]),
        ("Estimated cost (USD/h)", "timeseries", "currencyUSD",
         [q("sum by (model) (rate(synthstream_llm_cost_usd_total[5m])) * 3600", "{{model}}")]),
        ("Request latency p50 / p95 (s)", "timeseries", "s",
         [q("histogram_quantile(0.5, sum by (le, model) (rate(synthstream_llm_request_seconds_bucket[5m])))",
            "p50 {{model}}"),
          q("histogram_quantile(0.95, sum by (le, model) (rate(synthstream_llm_request_seconds_bucket[5m])))",
            "p95 {{model}}")]),
        ("Concurrency limit and retries", "timeseries", "short",
         [q("max by (model) (synthstream_llm_concurrency_limit)", "limit {{model}}"),
          q("sum by (model, kind) (rate(synthstream_llm_retries_total[5m]))", "retries {{model}} {{kind}}")]),
    ]),
}


def dashboard(uid: str, title: str, panels: list[tuple[str, str, str, list[dict]]]) -> dict:
    out = []
    for i, (ptitle, ptype, unit, queries) in enumerate(panels):
        out.append({
            "id": i + 1, "title": ptitle, "type": ptype, "datasource": DS,
            "gridPos": {"x": (i % 2) * 12, "y": (i // 2) * 8, "w": 12, "h": 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(ord("A") + j), "datasource": DS, **query} for j, query in enumerate(queries)],
        })
    links = [{"title": t, "type": "link", "url": f"/d/{u}"} for u, (t, _) in DASHBOARDS.items() if u != uid]
    return {"uid": uid, "title": title, "schemaVersion": 39, "version": 1, "editable": True,
            "time": {"from": "now-1h", "to": "now"}, "refresh": "10s", "tags": ["synthstream"],
            "templating": {"list": []}, "annotations": {"list": []}, "links": links, "panels": out}


def rendered() -> dict[Path, str]:
    return {OUT / f"{uid}.json": json.dumps(dashboard(uid, title, panels), indent=2) + "\n"
            for uid, (title, panels) in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    files = rendered()
    if "--check" in argv:
        stale = [p.name for p, text in files.items() if not p.exists() or p.read_text() != text]
        extra = [p.name for p in OUT.glob("*.json") if p not in files]
        if stale or extra:
            print(f"out of date: {stale + extra}; run python dashboards/build.py", file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for p in OUT.glob("*.json"):
        if p not in files:
            p.unlink()
    for path, text in files.items():
        path.write_text(text)
    print(f"wrote {len(files)} dashboards to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

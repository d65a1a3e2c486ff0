"""The `synthstream run` summary: per task the commonest reasons for rejecting, and what the model
calls cost per accepted record, read from the workers' real /metrics over HTTP."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from prometheus_client import CollectorRegistry
from rich.console import Console

from synthstream.streams.app.runner import RunResult, Spend, scrape_spend, summary_table
from synthstream.streams.runtime.metrics import Metrics, serve
from tests.integration.conftest import free_port


def rendered(res: RunResult) -> str:
    console = Console(record=True, width=160)
    console.print(summary_table(res, Path("out.jsonl")))
    return console.export_text()


def test_the_summary_gives_each_task_s_top_reasons_and_the_spend_per_accepted_record() -> None:
    per_task = Counter({("dialogue.chat", "ACCEPTED"): 2, ("dialogue.chat", "REJECTED"): 9,
                        ("qa.grounded", "ACCEPTED"): 2})
    reasons = Counter({("dialogue.chat", "restates"): 4, ("dialogue.chat", "reply_irrelevant"): 3,
                       ("dialogue.chat", "trivial"): 1, ("dialogue.chat", "off_topic"): 1})
    res = RunResult(13, Counter({"ACCEPTED": 4, "REJECTED": 9}), 0, 10.0, None, Counter(), per_task, "embedded m",
                    reasons, Spend(prompt_tokens=3000, completion_tokens=1000, judge_tokens=400, cost_usd=0.02))
    text = rendered(res)
    assert "rejected for" in text and "restates 4, reply_irrelevant 3, trivial 1" in text  # top three
    assert "3000 prompt + 1000 completion + 400 judging" in text
    assert "tokens per accepted record" in text and "1100" in text  # (3000 + 1000 + 400) / 4
    assert "$0.00500" in text  # 0.02 / 4
    free = RunResult(1, Counter({"REJECTED": 1}), 0, 1.0, None, Counter(), Counter({("qa.grounded", "REJECTED"): 1}),
                     "m", Counter({("qa.grounded", "answer_wrong_type"): 1}), Spend(10, 5))
    text = rendered(free)
    assert "- (none accepted)" in text and "cost per accepted" not in text  # no prices set: no cost row


def test_spend_is_summed_over_the_workers_metrics_with_judging_apart() -> None:
    ports = []
    for tokens in ((100, 40, 10), (50, 20, 5)):
        metrics = Metrics(CollectorRegistry(), tasks=("dialogue.chat", "judge"))
        metrics.llm_tokens.labels("m", "dialogue.chat", "prompt").inc(tokens[0])
        metrics.llm_tokens.labels("m", "dialogue.chat", "completion").inc(tokens[1])
        metrics.llm_tokens.labels("m", "judge", "completion").inc(tokens[2])
        metrics.llm_cost.labels("m", "dialogue.chat").inc(0.001)
        port = free_port()
        serve(metrics.registry, "127.0.0.1", port)
        ports.append(port)
    spend = scrape_spend([f"http://127.0.0.1:{p}/metrics" for p in ports] + [f"http://127.0.0.1:{free_port()}/metrics"])
    assert (spend.prompt_tokens, spend.completion_tokens, spend.judge_tokens) == (150, 60, 15)
    assert abs(spend.cost_usd - 0.002) < 1e-9
    assert scrape_spend([f"http://127.0.0.1:{free_port()}/metrics"]) is None  # nobody answered: no figure

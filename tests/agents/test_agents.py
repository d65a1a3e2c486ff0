"""Agent shells with faust's test_context and a recording sink: decode, route, count, dead-letter."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import pytest
from prometheus_client import CollectorRegistry

from synthstream.agents.dedup import agent as dedup_agent
from synthstream.agents.generation import agent as generation_agent
from synthstream.agents.verification import agent as verification_agent
from synthstream.streams.runtime.metrics import Metrics
from synthstream.agents.deps import DatasetConfig, Deps
from synthstream.streams.runtime.shell import Outbox, Sinks
from synthstream.streams.runtime.serde import registry
from synthstream.streams.runtime.settings import WorkerSettings
from synthstream.streams.runtime.topics import TopicNames
from tests.records import GENERATION, PROCEDURAL_PROMPT as PROMPT, VERDICT


class RecordingSinks(Sinks):
    """The real dead-letter and outcome logic; sends are recorded instead of produced."""

    def __init__(self, deps: Deps) -> None:
        self.serde, self.metrics, self.clock = deps.serde, deps.metrics, deps.clock
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.partitions: list[tuple[str, int | None]] = []

    async def send(self, role: str, key: str, record_name: str, record: dict[str, Any],
                   partition: int | None = None) -> None:
        data = self.serde.encode(record_name, record)  # must be encodable, as in production
        self.sent.append((role, key, self.serde.decode(data, record_name)[1]))
        self.partitions.append((role, partition))

    def of(self, role: str) -> list[dict[str, Any]]:
        return [r for (ro, _, r) in self.sent if ro == role]

    def outbox(self, pending):
        return Outbox(pending, TopicNames("t."), self.serde, self.metrics, self.clock)

    def transactions(self, app, stage, source, bootstrap, timeout_s):
        return RecordingTransactions(self)

    fail_deliveries = 0

    async def deliver(self, pending) -> None:
        """What a batch sends, recorded in order once it is "delivered" (the first
        ``fail_deliveries`` attempts fail, recording nothing)."""
        if self.fail_deliveries > 0:
            self.fail_deliveries -= 1
            raise ConnectionError("broker went away")
        self.record(pending.items)

    def record(self, items) -> None:
        by_topic = {TopicNames("t.")[role]: role for role in RECORD_OF_ROLE}
        for topic, key, value, part in items:
            role = by_topic[topic]
            self.sent.append((role, key.decode(), self.serde.decode(value, RECORD_OF_ROLE[role])[1]))
            self.partitions.append((role, part))


RECORD_OF_ROLE = {"accepted-records": "AcceptedRecord", "outcomes": "Outcome", "dedup-index": "DedupEntry",
                  "dead-letters": "DeadLetter", "generations": "Generation", "verdicts": "Verdict",
                  "human-review": "Verdict", "preference-pairs": "PreferencePair"}


class RecordingTransactions:
    """A transaction that commits by recording its outputs in the sinks, in order, with the
    offsets it moved; ``fail_first`` commits fail that many times first (nothing recorded)."""

    def __init__(self, sinks: RecordingSinks, fail_first: int = 0) -> None:
        self.sinks, self.fail_first = sinks, fail_first
        self.offsets: list[tuple[int, int]] = []
        self.sinks.txns = self

    def owns(self, partition: int) -> bool:
        return True

    async def ready(self, partition: int) -> None:
        pass

    async def commit(self, partition: int, pending, next_offset: int) -> None:
        if self.fail_first > 0:
            self.fail_first -= 1
            raise ConnectionError("broker went away")
        self.sinks.record(pending.items)
        self.offsets.append((partition, next_offset))

    async def close(self) -> None:
        pass


@pytest.fixture
def deps(tmp_path) -> Deps:
    return Deps(TopicNames("t."), registry(), Metrics(CollectorRegistry()), WorkerSettings(data_dir=tmp_path),
                clock=lambda: 1_800_000_000_000)


def run_agent(register, deps: Deps, values: list[bytes], wait_for=None, sinks_class=None) -> RecordingSinks:
    """Feed values to the first agent ``register`` defines; ``wait_for(sinks)`` bounds a wait for slow work."""
    app = faust.App(f"test-{id(values)}", broker="kafka://127.0.0.1:1", store="memory://",
                    web_enabled=False)  # test_context feeds an in-memory channel; nothing connects
    sinks = (sinks_class or RecordingSinks)(deps)
    register(app, deps, sinks)
    agent = next(iter(app.agents.values()))

    async def go() -> None:
        async with agent.test_context() as ctx:
            for value in values:
                await ctx.put(value, key=b"k")
            for _ in range(300):  # at most 15 s
                if wait_for is None or wait_for(sinks):
                    break
                await asyncio.sleep(0.05)

    asyncio.run(go())
    return sinks


def count(deps: Deps, name: str, **labels: str) -> float:
    return deps.metrics.registry.get_sample_value(name, labels) or 0.0


def test_generation_turns_a_prompt_into_a_generation_with_lineage(deps):
    sinks = run_agent(generation_agent.register, deps, [deps.serde.encode("Prompt", PROMPT)])
    [gen] = sinks.of("generations")
    assert gen["prompt_id"] == PROMPT["prompt_id"] and gen["steps"] and gen["answer"]
    assert gen["lineage"]["generator"] == "math.linear@3" and gen["lineage"]["model"] == "procedural"
    assert gen["usage"] is None and gen["messages"][0]["content"] == gen["problem"]
    assert gen["lineage"]["generated_at"] == 1_800_000_000_000
    assert gen["lineage"]["prompted_at"] == PROMPT["lineage"]["prompted_at"]
    assert count(deps, "synthstream_stage_records_total", stage="generation", outcome="generated") == 1


class FlakySinks(RecordingSinks):
    fail_deliveries = 2


def test_a_batch_whose_delivery_failed_is_sent_again_whole_and_once(deps):
    prompts = [deps.serde.encode("Prompt", dict(PROMPT, prompt_id=f"p{i}", seed=i)) for i in range(3)]
    sinks = run_agent(generation_agent.register, deps, prompts, sinks_class=FlakySinks,
                      wait_for=lambda s: len(s.of("generations")) == 3)
    assert sorted(g["prompt_id"] for g in sinks.of("generations")) == ["p0", "p1", "p2"]
    assert sinks.fail_deliveries == 0  # both failures were met, and nothing of them was recorded
    assert count(deps, "synthstream_stage_records_total", stage="generation", outcome="generated") == 3


def test_generation_dead_letters_garbage_and_bad_prompts_and_keeps_going(deps):
    bad_threshold = deps.serde.encode("Prompt", dict(PROMPT, prompt_id="bad", threshold=3.0))
    values = [b"garbage", bad_threshold, deps.serde.encode("Prompt", PROMPT)]
    sinks = run_agent(generation_agent.register, deps, values)
    dead = sinks.of("dead-letters")
    assert [(d["stage"], d["reason"], d["prompt_id"]) for d in dead] == [
        ("generation", "not_avro", None), ("generation", "invalid_record", "bad")]
    assert dead[0]["original_value"] == b"garbage" and dead[0]["original_key"] == b"k"
    assert "threshold 3.0 is outside [0, 1]" in dead[1]["detail"]
    assert [(o["prompt_id"], o["outcome"]) for o in sinks.of("outcomes")] == [("bad", "DEAD_LETTER")]
    assert len(sinks.of("generations")) == 1
    assert count(deps, "synthstream_dead_letters_total", stage="generation", reason="not_avro") == 1


def fused(deps: Deps, verify=None):
    """Generation registered as a worker that runs verification too registers it."""
    verify = verify or verification_agent.verifier(deps)
    return lambda app, d, sinks: generation_agent.register(app, d, sinks, verify=verify)


def test_fused_generation_sends_the_verdicts_the_two_stages_would_and_no_generation(deps):
    slips = dict(PROMPT["params"], error_rate="0.3")  # the solver's seeded slips, which verification rejects
    prompts = [deps.serde.encode("Prompt", dict(PROMPT, prompt_id=f"p{i}", seed=i, params=slips)) for i in range(40)]
    one = run_agent(fused(deps), deps, prompts, wait_for=lambda s: len(s.of("verdicts")) == 40)
    assert one.of("generations") == []
    gens = run_agent(generation_agent.register, deps, prompts).of("generations")
    two = run_agent(verification_agent.register, deps, [deps.serde.encode("Generation", g) for g in gens])
    assert one.of("verdicts") == two.of("verdicts") and one.of("outcomes") == two.of("outcomes")
    assert [p for r, p in one.partitions if r == "verdicts"] == [p for r, p in two.partitions if r == "verdicts"]
    verdicts = one.of("verdicts")
    assert {v["accepted"] for v in verdicts} == {True, False}  # the seeded slips are caught, fused too
    assert len(one.of("outcomes")) == sum(not v["accepted"] for v in verdicts)
    accepted = sum(v["accepted"] for v in verdicts)
    # each stage counts its records, whichever agent ran it (40 generated in each of three runs)
    assert count(deps, "synthstream_stage_records_total", stage="verification", outcome="accepted") == 2 * accepted
    assert count(deps, "synthstream_stage_latency_seconds_count", stage="verification") >= 40


def test_fused_generation_sends_what_it_cannot_verify_to_the_generations_topic_and_nothing_half_done(deps):
    real = verification_agent.verifier(deps)

    async def breaks_on_p1(gen, sink) -> None:
        await real(gen, sink)  # its verdict is written, then it fails: none of it may go out
        if gen["prompt_id"] == "p1":
            raise RuntimeError("validator crashed")

    prompts = [deps.serde.encode("Prompt", dict(PROMPT, prompt_id=f"p{i}", seed=i)) for i in range(3)]
    sinks = run_agent(fused(deps, breaks_on_p1), deps, prompts,
                      wait_for=lambda s: len(s.of("verdicts")) + len(s.of("generations")) == 3)
    assert [g["prompt_id"] for g in sinks.of("generations")] == ["p1"]
    assert sorted(v["prompt_id"] for v in sinks.of("verdicts")) == ["p0", "p2"]
    assert all(o["prompt_id"] != "p1" for o in sinks.of("outcomes"))


def test_a_worker_fuses_generation_and_verification_only_when_it_runs_both_and_the_setting_is_on(tmp_path):
    from synthstream.streams.app.faust_app import fuses

    on, off = WorkerSettings(data_dir=tmp_path), WorkerSettings(data_dir=tmp_path, fuse=False)
    assert fuses(on, ["generation", "verification"]) and fuses(on, ["generation", "verification", "dedup", "bias"])
    assert not fuses(on, ["generation"]) and not fuses(on, ["verification", "dedup"])
    assert not fuses(off, ["generation", "verification"])


def test_verification_rejects_with_reasons_and_an_outcome(deps):
    wrong = dict(GENERATION, answer="3", steps=["2*x + 1 = 5", "2*x = 4", "x = 3"])
    sinks = run_agent(verification_agent.register, deps,
                      [deps.serde.encode("Generation", GENERATION), deps.serde.encode("Generation", wrong)])
    good, bad = sinks.of("verdicts")
    assert good["accepted"] and good["quality_score"] == 1.0
    assert not bad["accepted"] and bad["reasons"][0].startswith("answer_wrong")
    assert good["generation"]["lineage"]["verifier"] == "math.linear-exact@1"
    [outcome] = sinks.of("outcomes")
    assert outcome["outcome"] == "REJECTED" and outcome["reason"].startswith("answer_wrong")
    assert count(deps, "synthstream_quality_score_count", task="math.linear") == 2


def test_dedup_accepts_once_and_drops_the_copy(deps):
    copy = dict(VERDICT, prompt_id="t-2", generation=dict(GENERATION, prompt_id="t-2"))
    rejected = dict(VERDICT, prompt_id="t-3", accepted=False, generation=dict(GENERATION, prompt_id="t-3"))
    sinks = run_agent(dedup_agent.register, deps, [deps.serde.encode("Verdict", v) for v in (VERDICT, copy, rejected)])
    [record] = sinks.of("accepted-records")
    assert record["prompt_id"] == "t-1" and record["messages"][0]["role"] == "user"
    assert record["lineage"]["accepted_at"] == 1_800_000_000_000
    # the accepted record is t-1's ACCEPTED outcome: only the duplicate gets an Outcome message
    assert [(o["prompt_id"], o["outcome"]) for o in sinks.of("outcomes")] == [("t-2", "DUPLICATE")]
    assert count(deps, "synthstream_stage_records_total", stage="dedup", outcome="duplicate_exact") == 1
    assert count(deps, "synthstream_dedup_hits_total", kind="exact") == 1
    [entry] = sinks.of("dedup-index")  # the changelog gets the kept record, on the verdict's partition
    assert entry["record_id"] == record["record_id"] and entry["prompt_id"] == "t-1"
    assert entry["scope"].startswith(GENERATION["lineage"]["dataset"]) and entry["text"] == entry["text"].lower()
    assert ("dedup-index", 0) in sinks.partitions


def test_dedup_drops_a_copy_of_a_benchmark_item_as_contaminated(deps):
    from synthstream.agents.dedup.decontam import humaneval

    def code_verdict(pid: str, prompt: str) -> dict:
        code = {"prompt": prompt, "completion": "    return 1\n", "test": "def check(c):\n    pass\n",
                "entry_point": "f", "spec_source": "model"}
        gen = dict(GENERATION, prompt_id=pid, task="code.python", code=code, problem=prompt, response="x")
        return dict(VERDICT, prompt_id=pid, generation=gen)

    planted = code_verdict("t-5", humaneval()[12].text)  # HumanEval/12 as a generated spec
    fresh = code_verdict("t-6", 'def running_max(xs):\n    """Largest value so far at each position."""\n')
    sinks = run_agent(dedup_agent.register, deps, [deps.serde.encode("Verdict", v) for v in (planted, fresh)],
                      wait_for=lambda s: len(s.of("outcomes")) + len(s.of("accepted-records")) >= 2)
    [outcome] = sinks.of("outcomes")
    assert outcome["prompt_id"] == "t-5" and outcome["outcome"] == "CONTAMINATED"
    assert "HumanEval HumanEval/12" in outcome["reason"]
    assert [r["prompt_id"] for r in sinks.of("accepted-records")] == ["t-6"]
    assert [e["prompt_id"] for e in sinks.of("dedup-index")] == ["t-6"]  # a contaminated record is not kept
    assert count(deps, "synthstream_contaminated_total", benchmark="HumanEval", task="code.python") == 1
    assert count(deps, "synthstream_stage_records_total", stage="dedup", outcome="contaminated") == 1


def test_verification_routes_each_verdict_to_its_dedup_scope_partition(deps):
    from synthstream.agents.dedup.fields import partition_for, scope_of
    from synthstream.agents.families import default_fields

    deps.partitions = 8
    gens = [dict(GENERATION, prompt_id=f"s{i}", equation=f"2*x + {i} = {i + 4}", answer="2") for i in range(6)]
    sinks = run_agent(verification_agent.register, deps, [deps.serde.encode("Generation", g) for g in gens])
    routed = [p for role, p in sinks.partitions if role == "verdicts"]
    expected = [partition_for(scope_of(g, default_fields(g["task"])), 8) for g in gens]
    assert routed == expected and len(set(expected)) > 1


def at_least_once(deps: Deps) -> Deps:
    deps.worker = deps.worker.model_copy(update={"exactly_once": False})
    return deps


def test_dedup_republishes_a_redelivered_verdict_with_the_same_id_at_least_once(deps):
    deps = at_least_once(deps)
    sinks = run_agent(dedup_agent.register, deps, [deps.serde.encode("Verdict", VERDICT)] * 2)
    first, again = sinks.of("accepted-records")
    assert first["record_id"] == again["record_id"]
    assert sinks.of("outcomes") == []  # the records are the outcome
    assert count(deps, "synthstream_stage_records_total", stage="dedup", outcome="replayed") == 1


def exactly_once(deps: Deps) -> Deps:
    deps.worker = deps.worker.model_copy(update={"exactly_once": True})
    return deps


def test_dedup_sends_nothing_for_a_redelivered_verdict_exactly_once(deps):
    """Its record, entry and outcome were committed in one transaction when it was first kept:
    sending them again would be the duplicate trainers see."""
    deps = exactly_once(deps)
    sinks = run_agent(dedup_agent.register, deps, [deps.serde.encode("Verdict", VERDICT)] * 2,
                      wait_for=lambda s: count(deps, "synthstream_stage_records_total", stage="dedup",
                                               outcome="replayed") == 1)
    [record] = sinks.of("accepted-records")
    assert record["prompt_id"] == VERDICT["prompt_id"]
    assert sinks.of("outcomes") == []  # the record is the outcome
    assert count(deps, "synthstream_stage_records_total", stage="dedup", outcome="replayed") == 1
    assert count(deps, "synthstream_stage_records_total", stage="dedup", outcome="accepted") == 1


def test_dedup_redoes_a_batch_whose_transaction_failed_from_a_rebuilt_index(deps):
    """A failed commit leaves nothing visible; the partition's index (which holds the batch's
    entries) is rebuilt and the batch handled again: the records are kept, not taken for
    replays of themselves, and each counter counts once."""
    class Failing(RecordingSinks):
        def transactions(self, app, stage, source, bootstrap, timeout_s):
            return RecordingTransactions(self, fail_first=1)

    deps = exactly_once(deps)
    copy = dict(VERDICT, prompt_id="t-2", generation=dict(GENERATION, prompt_id="t-2"))
    values = [deps.serde.encode("Verdict", v) for v in (VERDICT, copy)]
    sinks = run_agent(dedup_agent.register, deps, values, sinks_class=Failing,
                      wait_for=lambda s: len(s.of("outcomes")) + len(s.of("accepted-records")) >= 2)
    assert [r["prompt_id"] for r in sinks.of("accepted-records")] == ["t-1"]
    assert [(o["prompt_id"], o["outcome"]) for o in sinks.of("outcomes")] == [("t-2", "DUPLICATE")]
    assert count(deps, "synthstream_stage_records_total", stage="dedup", outcome="accepted") == 1
    assert count(deps, "synthstream_stage_records_total", stage="dedup", outcome="replayed") == 0
    assert count(deps, "synthstream_dedup_hits_total", kind="exact") == 1
    assert sinks.txns.offsets[-1][1] >= 2  # the group's offset moved past both, with them


def test_dedup_waits_for_more_verdicts_before_it_commits_a_batch_that_is_not_full(deps):
    """Verdicts that come one at a time: with a linger, the one that came meanwhile joins the
    batch (fewer transactions); without, each is committed alone. Nothing waits for ever."""
    verdicts = [dict(VERDICT, prompt_id=f"t-{i}", generation=dict(GENERATION, prompt_id=f"t-{i}",
                                                                     equation=f"2*x + {i} = {i + 4}", answer="2"))
                for i in range(3)]
    commits = {}
    for linger_ms in (0.0, 300.0):
        d = exactly_once(deps)
        d.worker = d.worker.model_copy(update={"dedup_linger_ms": linger_ms})
        d.metrics = Metrics(CollectorRegistry())
        sinks = run_agent(dedup_agent.register, d, [d.serde.encode("Verdict", v) for v in verdicts],
                          wait_for=lambda s: len(s.of("accepted-records")) == 3)
        assert sorted(r["prompt_id"] for r in sinks.of("accepted-records")) == ["t-0", "t-1", "t-2"]
        assert sinks.txns.offsets[-1][1] == 3  # the offset moved past all three, with them
        commits[linger_ms] = len(sinks.txns.offsets)
    assert commits[0.0] == 3 and commits[300.0] < 3


def test_verification_counts_verdicts_by_reason_and_times_the_sandbox(deps, sandbox):
    from tests.records import CODE

    deps.sandbox = sandbox
    good = dict(GENERATION, prompt_id="c1", task="code.python", code=CODE)
    bad = dict(GENERATION, prompt_id="c2", task="code.python", code=dict(CODE, completion="    return a - b\n"))
    wrong_math = dict(GENERATION, prompt_id="m1", answer="3", steps=["2*x + 1 = 5", "2*x = 4", "x = 3"])
    sinks = run_agent(verification_agent.register, deps, [deps.serde.encode("Generation", g)
                                                          for g in (good, bad, wrong_math)])
    assert [v["accepted"] for v in sinks.of("verdicts")] == [True, False, False]
    assert count(deps, "synthstream_verdicts_total", task="code.python", outcome="accepted", reason="") == 1
    assert count(deps, "synthstream_verdicts_total", task="code.python", outcome="rejected", reason="tests_failed") == 1
    assert count(deps, "synthstream_verdicts_total", task="math.linear", outcome="rejected", reason="answer_wrong") == 1
    assert count(deps, "synthstream_sandbox_task_seconds_count", result="passed") == 1
    assert count(deps, "synthstream_sandbox_task_seconds_count", result="tests_failed") == 1
    assert count(deps, "synthstream_sandbox_mode", mode="bwrap") == 1


def test_verification_weighs_validators_and_the_verdict_carries_every_score(deps):
    from synthstream.agents.verification.validators import DiversityValidator, FactualValidator, StyleConsistencyValidator

    deps.validators = [FactualValidator(), StyleConsistencyValidator(), DiversityValidator()]
    deps.datasets = {"t": DatasetConfig("t", gates={"dialogue.chat": {"task": 0.5, "style": 0.5}})}  # its spec's weights
    turns = ["Furthermore, the Moon orbits Earth at a distance of about 384,400 kilometres from Earth.",
             "Moreover, its gravity therefore causes most of the tides in the oceans of our planet."]
    asks = ["Please explain the Moon to me.", "And what does it do to the sea?"]
    msgs = [m for q, t in zip(asks, turns) for m in ({"role": "user", "content": q}, {"role": "assistant", "content": t})]
    formal = dict(GENERATION, prompt_id="d1", task="dialogue.chat", messages=msgs,
                  dimensions={"topic": "science", "style": "formal", "turns": "2"})
    casual = dict(formal, prompt_id="d2", dimensions=dict(formal["dimensions"], style="casual"))
    sinks = run_agent(verification_agent.register, deps, [deps.serde.encode("Generation", g) for g in (formal, casual)])
    first, second = sinks.of("verdicts")
    assert [s["name"] for s in first["validators"]] == ["task", "style"]  # only weighed validators run
    assert first["accepted"], first["reasons"]
    assert first["validators"][1] == {
        "name": "style", "version": "lexical-markers@2", "score": 1.0, "weight": 0.5, "veto": False, "reasons": []}
    assert not second["accepted"] and second["validators"][1]["score"] == 0.25  # one neutral turn, one formal
    assert second["reasons"][0].startswith("style_mismatch: assistant turn 2 reads formal (moreover, therefore)")
    assert second["reasons"][-1] == "below_threshold: score 0.625 < 0.850"
    assert count(deps, "synthstream_validator_score_count", validator="style", task="dialogue.chat") == 2
    assert count(deps, "synthstream_verdicts_total", task="dialogue.chat", outcome="rejected",
                 reason="style_mismatch") == 1


def test_verification_awaits_the_judge_where_the_spec_weighs_it(deps):
    from synthstream.agents.generation.backends.client import ModelReply
    from synthstream.agents.verification.validators.judge import JudgeValidator

    asked: list[str] = []

    async def model(request):
        asked.append(request.task)
        return ModelReply(['{"explanation": 1, "reason": "The answer is wrong."}'], ["stop"], "m")

    deps.datasets = {"t": DatasetConfig("t", gates={"math.linear": {"task": 0.5, "judge": 0.5}},
                                        judge=JudgeValidator(model))}
    sinks = run_agent(verification_agent.register, deps, [deps.serde.encode("Generation", GENERATION)],
                      wait_for=lambda s: s.of("verdicts"))
    (verdict,) = sinks.of("verdicts")
    assert asked == ["judge"] and not verdict["accepted"] and verdict["quality_score"] == 0.5
    assert verdict["validators"][1]["name"] == "judge" and verdict["validators"][1]["score"] == 0.0
    assert verdict["reasons"] == ["judge_fail: explanation 1/5: The answer is wrong."]  # a grade of 1 vetoes


def test_a_sample_of_verdicts_goes_to_human_review_and_labels_are_counted(deps):
    from synthstream.agents.verification.review import sampled

    deps.datasets = {"t": DatasetConfig("t", review_fraction=0.5)}
    gens = [dict(GENERATION, prompt_id=f"r{i}") for i in range(40)]
    sinks = run_agent(verification_agent.register, deps, [deps.serde.encode("Generation", g) for g in gens])
    reviewed = [v["prompt_id"] for v in sinks.of("human-review")]
    assert reviewed == [g["prompt_id"] for g in gens if sampled(g["prompt_id"], 0.5)] and 10 <= len(reviewed) <= 30
    assert count(deps, "synthstream_review_sampled_total", task="math.linear", outcome="accepted") == len(reviewed)

    from tests.records import LABEL

    labels = [dict(LABEL, prompt_id="a", label="accept"), dict(LABEL, prompt_id="b", label="reject"),
              dict(LABEL, prompt_id="c", label="accept", gate_accepted=False)]
    app = faust.App("test-labels", broker="kafka://127.0.0.1:1", store="memory://", web_enabled=False)
    rec = RecordingSinks(deps)
    from synthstream.agents.bias import agent as bias_agent

    bias_agent.register(app, deps, rec)
    agent = app.agents[f"{deps.names.prefix}review-labels"]

    async def feed() -> None:
        async with agent.test_context() as ctx:
            for value in [deps.serde.encode("ReviewLabel", lab) for lab in labels] + [b"garbage"]:
                await ctx.put(key=b"k", value=value)

    asyncio.run(feed())
    assert count(deps, "synthstream_review_labels_total", task="math.linear", human="accept", gate="accept") == 1
    assert count(deps, "synthstream_review_labels_total", task="math.linear", human="reject", gate="accept") == 1
    assert count(deps, "synthstream_review_labels_total", task="math.linear", human="accept", gate="reject") == 1
    assert count(deps, "synthstream_review_agreement_ratio", task="math.linear") == pytest.approx(1 / 3)
    assert [d["reason"] for d in rec.of("dead-letters")] == ["not_avro"]


def test_a_code_task_runs_under_the_sandbox_limits_its_spec_sets(deps, sandbox):
    from tests.records import CODE

    deps.sandbox = sandbox
    deps.datasets = {"t": DatasetConfig("t", sandbox_limits={"code.python": {"wall_s": 1.0}})}  # params.timeout_s: 1
    slow = dict(CODE, completion="    import time\n    time.sleep(1.5)\n    return a + b\n")
    gen = dict(GENERATION, prompt_id="s1", task="code.python", code=slow)
    elsewhere = dict(gen, prompt_id="s2", lineage=dict(GENERATION["lineage"], dataset="other"))  # worker defaults: 5 s
    sinks = run_agent(verification_agent.register, deps, [deps.serde.encode("Generation", g) for g in (gen, elsewhere)],
                      wait_for=lambda s: len(s.of("verdicts")) == 2)
    limited, default = sinks.of("verdicts")
    assert not limited["accepted"] and limited["reasons"][0].startswith("timeout: wall deadline of 1.0s")
    assert default["accepted"], default["reasons"]


def test_bias_reports_shares_lengths_diversity_and_detectors_and_sets_the_gauges(deps):
    from synthstream.agents.bias import agent as bias_agent
    from tests.records import ACCEPTED

    deps.worker = deps.worker.model_copy(update={"bias_window_records": 4})
    deps.datasets = {"t": DatasetConfig("t", targets={"task": {"math.linear": 1.0}})}
    answers = ["I'm sorry, I cannot help with that.", "She solved it: x = 2.", "x = 2", "He checks: 2*2 + 1 = 5."]
    records = [dict(ACCEPTED, record_id=f"{i:032x}", prompt_id=f"p{i}",
                    messages=[{"role": "user", "content": "Solve 2x + 1 = 5"}, {"role": "assistant", "content": a}])
               for i, a in enumerate(answers)]
    sinks = run_agent(bias_agent.register, deps, [deps.serde.encode("AcceptedRecord", r) for r in records])
    [report] = sinks.of("bias-reports")
    assert report["records"] == 4 and report["length_bins"] and report["length_psi"] is None  # the reference
    assert report["diversity"]["distinct_1"] > 0 and report["diversity"]["top_opening_share"] == 0.25
    assert report["detectors"]["refusal_share"] == 0.25 and report["detectors"]["male_share"] == 0.5
    assert count(deps, "synthstream_bias_detector_ratio", dataset="t", detector="refusal_share") == 0.25
    assert count(deps, "synthstream_diversity_distinct_ratio", dataset="t", n="1") == report["diversity"]["distinct_1"]
    assert count(deps, "synthstream_bias_psi", dimension="task") == 0.0


def test_verification_works_on_as_many_code_records_as_the_jail_takes(tmp_path):
    from dataclasses import replace
    from types import SimpleNamespace

    from synthstream.agents.spec import parse_spec

    def config(task: str, **extra: Any) -> DatasetConfig:
        dims = {"source": {"catalogue": 1}} if task == "code.python" else {"difficulty": {"basic": 1}}
        spec = parse_spec({"dataset": {"name": "d", "version": "1"}, "tasks": [{"name": task, "weight": 1,
                                                                               "dimensions": dims}]})
        return replace(DatasetConfig.from_spec(spec), **extra)

    jail = SimpleNamespace(mode="bwrap", parallel=4)
    base = Deps(TopicNames("t."), registry(), Metrics(CollectorRegistry()), WorkerSettings(data_dir=tmp_path))
    code = replace(base, sandbox=jail, datasets={"d": config("code.python")})
    assert verification_agent.concurrency_for(code) == 4
    assert verification_agent.concurrency_for(replace(code, datasets={"d": config("math.linear")})) == 1
    assert verification_agent.concurrency_for(replace(code, sandbox=SimpleNamespace(mode="refuse", parallel=4))) == 1
    judged = replace(code, datasets={"d": config("math.linear", judge=object())})
    assert verification_agent.concurrency_for(judged) == 8
    assert verification_agent.concurrency_for(replace(code, verification_concurrency=2)) == 2

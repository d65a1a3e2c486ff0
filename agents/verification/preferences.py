"""Preference pairs: two samples of one prompt, one that passed its check and one that failed.

The generation stage draws several samples per prompt where a family asks for them (math: k
solutions, code: ``params.samples`` implementations); the verifier judges each sample on its
own (``TaskFamily.judge_samples``: a math answer against the truth, code against its tests in
the sandbox). A prompt whose samples split into right and wrong gives pairs, chosen = a
right one, rejected = a wrong one (each sample in at most one pair, at most ``MAX_PAIRS``), with
both scores and reasons: what DPO-style preference training reads (``export --format dpo``).
The pair does not depend on the record's verdict: a prompt whose majority answer was wrong but
one sample right is a pair worth having. Families that cannot tell samples apart (no truth, one
sample) give none.
"""

from __future__ import annotations

from typing import Any

from synthstream.agents.families import REGISTRY, UnknownTask
from synthstream.agents.verification.sandbox import Limits, Sandbox
from synthstream.streams.runtime.records import Message

MAX_PAIRS = 4


def preference_pairs(gen: dict[str, Any], sandbox: Sandbox | None = None,
                     limits: Limits | None = None) -> list[dict[str, Any]]:
    """The pairs of one generation (blocking when its family runs samples in ``sandbox``)."""
    try:
        family = REGISTRY.family_of(gen["task"])
    except UnknownTask:
        return []
    judged = family.judge_samples(gen, sandbox, limits) if family.judge_samples is not None else None
    samples = gen.get("samples") or []
    if not judged or len(judged) != len(samples):
        return []
    good = [i for i, (ok, _) in enumerate(judged) if ok and samples[i].strip()]
    bad = [i for i, (ok, _) in enumerate(judged) if not ok and samples[i].strip()]
    messages = gen.get("messages") or []
    prompt = [Message(role=m["role"], content=m["content"]) for m in messages[:-1]] if len(messages) > 1 \
        else [Message(role="user", content=gen["problem"])]
    pairs = []
    for i, j in list(zip(good, bad))[:MAX_PAIRS]:
        chosen, rejected = response(gen, i, family.sandbox is not None), response(gen, j, family.sandbox is not None)
        pairs.append({"pair_id": f"{gen['prompt_id']}:{i}>{j}", "prompt_id": gen["prompt_id"], "task": gen["task"],
                      "prompt": prompt, "chosen": chosen, "rejected": rejected,
                      "chosen_score": 1.0, "rejected_score": 0.0, "chosen_reasons": [judged[i][1]],
                      "rejected_reasons": [judged[j][1]], "judged_by": f"{family.verifier} (each sample on its own)",
                      "lineage": gen["lineage"]})
    return pairs


def response(gen: dict[str, Any], i: int, is_code: bool) -> str:
    """Sample ``i`` as the record's response would show it: a code sample (``is_code``: its
    family runs code) is the whole function (the spec's signature and docstring with the
    sample's body, as in the record), any other the sample's text."""
    code, bodies = gen.get("code"), gen.get("sample_answers") or []
    if is_code and code and len(bodies) == len(gen.get("samples") or []) and bodies[i]:
        return f"```python\n{code['prompt']}{bodies[i]}```"
    return gen["samples"][i].strip()

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
    if family.sample_text is not None:  # the family judged its parsed samples (sample_answers)
        judged_texts = gen.get("sample_answers") or []
        text = family.sample_text
    else:
        judged_texts = gen.get("samples") or []
        text = lambda g, i: g["samples"][i].strip()  # noqa: E731
    if not judged or len(judged) != len(judged_texts):
        return []
    texts = [text(gen, i) for i in range(len(judged))]
    good = [i for i, (ok, _) in enumerate(judged) if ok and texts[i].strip()]
    bad = [i for i, (ok, _) in enumerate(judged) if not ok and texts[i].strip()]
    messages = gen.get("messages") or []
    prompt = [Message(role=m["role"], content=m["content"]) for m in messages[:-1]] if len(messages) > 1 \
        else [Message(role="user", content=gen["problem"])]
    pairs = []
    for i, j in list(zip(good, bad))[:MAX_PAIRS]:
        chosen, rejected = texts[i], texts[j]
        pairs.append({"pair_id": f"{gen['prompt_id']}:{i}>{j}", "prompt_id": gen["prompt_id"], "task": gen["task"],
                      "prompt": prompt, "chosen": chosen, "rejected": rejected,
                      "chosen_score": 1.0, "rejected_score": 0.0, "chosen_reasons": [judged[i][1]],
                      "rejected_reasons": [judged[j][1]], "judged_by": f"{family.verifier} (each sample on its own)",
                      "lineage": gen["lineage"]})
    return pairs


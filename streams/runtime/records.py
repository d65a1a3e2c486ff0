"""The records on the wire as typed values: one TypedDict per Avro record in ``schemas/``.

Cores build and return these; serde encodes them as they are (a TypedDict is a dict). A test
(tests/unit/test_records.py) keeps every field name and type here equal to the schemas, so a
schema change that the code does not follow, or the other way round, fails there first.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class Message(TypedDict):
    role: str
    content: str


class Lineage(TypedDict):
    dataset: str
    dataset_version: str
    spec_hash: str
    producer_version: str
    generator: str | None
    model: str | None
    verifier: str | None
    prompted_at: int
    generated_at: int | None
    verified_at: int | None
    accepted_at: int | None
    seed_source: NotRequired[str | None]  # a seeded prompt's data set, row number and row hash
    seed_row: NotRequired[int | None]
    seed_hash: NotRequired[str | None]


class Usage(TypedDict):
    model: str
    prompt_tokens: int
    completion_tokens: int
    requests: int
    attempts: int
    latency_ms: float
    cost_usd: float


class CodeSample(TypedDict):
    prompt: str
    completion: str
    test: str
    entry_point: str
    spec_source: str


class Grounding(TypedDict):
    doc_id: str
    chunk: int
    context: str
    evidence: str
    question: str
    answer: str


class ModelConfig(TypedDict):
    name: str
    api: str
    temperature: float
    top_p: float
    max_tokens: int
    n: int
    stop: list[str]
    seeded: bool


class ValidatorScore(TypedDict):
    name: str
    version: str
    score: float
    weight: float
    veto: bool
    reasons: list[str]


class Prompt(TypedDict):
    prompt_id: str
    task: str
    seed: int
    instruction: str
    dimensions: dict[str, str]
    params: dict[str, str]
    threshold: float
    lineage: Lineage
    model: ModelConfig | None


class Generation(TypedDict):
    prompt_id: str
    task: str
    problem: str
    equation: str | None
    steps: list[str]
    answer: str
    response: str
    reference_answer: str | None
    dimensions: dict[str, str]
    threshold: float
    lineage: Lineage
    messages: list[Message]
    samples: list[str]
    sample_answers: list[str]
    code: CodeSample | None
    grounding: Grounding | None
    usage: Usage | None
    parse_error: str | None
    checks: NotRequired[str | None]  # template tasks: what the spec declares the output must pass, as JSON


class Verdict(TypedDict):
    prompt_id: str
    accepted: bool
    quality_score: float
    threshold: float
    reasons: list[str]
    generation: Generation
    validators: list[ValidatorScore]


class AcceptedRecord(TypedDict):
    record_id: str
    prompt_id: str
    task: str
    messages: list[Message]
    answer: str
    quality_score: float
    dimensions: dict[str, str]
    lineage: Lineage
    code: CodeSample | None
    grounding: Grounding | None
    usage: Usage | None
    validators: list[ValidatorScore]


class Outcome(TypedDict):
    prompt_id: str
    outcome: Literal["ACCEPTED", "REJECTED", "DUPLICATE", "DEAD_LETTER", "CONTAMINATED"]  # OutcomeKind
    stage: str
    reason: str | None
    record_id: str | None
    task: str | None
    decided_at: int


OutcomeKind = Literal["ACCEPTED", "REJECTED", "DUPLICATE", "DEAD_LETTER", "CONTAMINATED"]


def outcome(prompt_id: str, kind: OutcomeKind, stage: str, decided_at: int, *, reason: str | None = None,
            record_id: str | None = None, task: str | None = None) -> Outcome:
    """A prompt's final disposition (one per prompt: verification rejects, dedup accepts or marks a
    duplicate, any stage dead-letters)."""
    return Outcome(prompt_id=prompt_id, outcome=kind, stage=stage, reason=reason, record_id=record_id, task=task,
                   decided_at=decided_at)


class DedupEntry(TypedDict):
    record_id: str
    prompt_id: str
    scope: str
    text: str
    task: str
    added_at: int
    embedded: bool  # False in entries written before the semantic tier (the schema default)


class PreferencePair(TypedDict):
    pair_id: str
    prompt_id: str
    task: str
    prompt: list[Message]
    chosen: str
    rejected: str
    chosen_score: float
    rejected_score: float
    chosen_reasons: list[str]
    rejected_reasons: list[str]
    judged_by: str
    lineage: Lineage


class DatasetVersion(TypedDict):
    name: str
    version: str
    tagged_at: int
    offsets: dict[str, int]  # accepted-records partition (as text) -> end offset when tagged
    records: int
    per_task: dict[str, int]
    spec_hashes: dict[str, int]
    bias: str | None
    note: str | None


class DimensionReport(TypedDict):
    dimension: str
    observed: dict[str, float]
    target: dict[str, float]
    psi: float | None
    jsd: float | None
    status: str


class DiversityStats(TypedDict):
    mean_length: float
    distinct_1: float
    distinct_2: float
    distinct_3: float
    compression_ratio: float
    top_opening: str
    top_opening_share: float


class BiasReport(TypedDict):
    dataset: str
    window_start: int
    window_end: int
    records: int
    closed_by: str
    dimensions: list[DimensionReport]
    length_bins: dict[str, float]
    length_psi: float | None
    length_status: str
    diversity: DiversityStats | None
    detectors: dict[str, float]
    source_offsets: dict[str, int]
    length_reference: dict[str, float]


class DeadLetter(TypedDict):
    stage: str
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    original_key: bytes | None
    original_value: bytes | None
    prompt_id: str | None
    failed_at: int


class ReviewLabel(TypedDict):
    prompt_id: str
    task: str
    label: str
    gate_accepted: bool
    quality_score: float
    reviewer: str | None
    note: str | None
    labelled_at: int


class Reason(str):
    """Why a record was judged as it was: a code from a small fixed set (``answer_wrong``) and a
    detail for people. On the wire and in logs it is the text ``"code: detail"`` (it *is* that
    str); code that decides reads ``.code`` and never splits the text."""

    code: str
    detail: str

    def __new__(cls, code: str, detail: str = "") -> Reason:
        self = super().__new__(cls, f"{code}: {detail}" if detail else code)
        self.code, self.detail = code, detail
        return self

    def __reduce__(self) -> tuple:
        return (Reason, (self.code, self.detail))

    @classmethod
    def read(cls, text: str) -> Reason:
        """A reason as another process wrote it (a Verdict's reasons)."""
        if isinstance(text, Reason):
            return text
        code, _, detail = text.partition(": ")
        return cls(code, detail)

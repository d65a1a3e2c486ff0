"""The local embedding model and service, and the semantic validators of dialogue and grounded QA.

The model is the real one (all-MiniLM-L6-v2 int8 from its PyPI package); a fake embedder appears
only where the test is about the service's own bookkeeping (cache, batching, order). Examples are
written here, not taken from the evaluation set the thresholds were measured on.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from synthstream.agents.semantic import model as semantic_model
from synthstream.agents.semantic.service import EmbeddingService, Unavailable, start
from synthstream.agents.verification.validators import decide
from synthstream.agents.verification.validators.grounded import (AnswerCompleteValidator, AnswerRelevanceValidator,
                                                                  AnswerSupportValidator, AnswerTypeValidator,
                                                                  asked_type, qa_validators)
from synthstream.agents.verification.validators.lexical import names, numbers
from synthstream.agents.verification.validators.semantic import (CoherenceValidator, NoveltyValidator,
                                                                 RelevanceValidator, RoleValidator, TopicValidator,
                                                                 TrivialityValidator, dialogue_validators)
from synthstream.agents.verification.validators.style import StyleConsistencyValidator


@pytest.fixture(scope="module")
def service() -> EmbeddingService:
    svc = start()
    assert svc.available, svc.why
    return svc


def chat(*turns: str, topic: str = "science", style: str = "casual") -> dict:
    msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
    return {"task": "dialogue.chat", "messages": msgs, "dimensions": {"topic": topic, "style": style},
            "lineage": {"dataset": "t"}, "threshold": 0.85}


GOOD = chat("How do vaccines train the immune system?",
            "A vaccine shows your immune system a harmless piece or copy of a germ, so it builds antibodies and memory "
            "cells without you getting sick.",
            "Why do some vaccines need boosters?",
            "The memory cells fade over time for some germs, and a booster reminds the immune system so antibody levels "
            "climb back up.")


# ---- the model and the service ------------------------------------------------------------------

def test_the_model_gives_unit_vectors_that_rank_a_paraphrase_above_an_unrelated_sentence(service) -> None:
    vecs = service.embed(["The cat sat on the mat.", "A cat was sitting on a rug.", "Interest rates rose in March."])
    assert vecs.shape == (3, semantic_model.DIM) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert vecs[0] @ vecs[1] > 0.5 > vecs[0] @ vecs[2]


def test_a_model_file_that_does_not_match_its_pinned_sha256_is_refused(tmp_path) -> None:
    files = semantic_model.bundled_files()
    copy = tmp_path / "model.onnx"
    shutil.copy(files.model, copy)
    with copy.open("r+b") as fh:  # one flipped byte
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(semantic_model.ModelUnavailable, match="sha256"):
        semantic_model.OnnxEmbedder(semantic_model.ModelFiles(copy, files.tokenizer_json, files.sha256))


def test_a_missing_model_leaves_the_service_unavailable_with_the_reason(tmp_path, caplog) -> None:
    svc = start(model_path=tmp_path / "nope.onnx")
    assert not svc.available and "does not exist" in svc.why
    assert "semantic validators will abstain" in caplog.text
    with pytest.raises(Unavailable, match="does not exist"):
        svc.embed(["x"])
    off = start(enabled=False)
    assert not off.available and "SYNTHSTREAM_VERIFY_SEMANTIC=false" in off.why


class Counting:
    model_id = "fake"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), semantic_model.DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, len(t) % semantic_model.DIM] = 1.0
        return out


def test_the_service_caches_by_text_batches_by_length_and_keeps_the_order() -> None:
    fake = Counting()
    seen: list[tuple[int, int]] = []
    svc = EmbeddingService(fake, batch=2, cache_size=10, on_embed=lambda h, m: seen.append((h, m)))
    texts = ["bbbb", "a", "ccc", "a", "dd"]
    vecs = svc.embed(texts)
    assert [int(np.argmax(v)) for v in vecs] == [4, 1, 3, 1, 2]  # in input order, duplicates filled
    assert fake.calls == [["a", "dd"], ["ccc", "bbbb"]]  # each text once, shortest first, two per call
    svc.embed(["ccc", "eeeee"])
    assert fake.calls[-1] == ["eeeee"] and seen == [(1, 4), (1, 1)]  # (cache hits, texts the model embedded)


def test_the_cache_is_bounded() -> None:
    fake = Counting()
    svc = EmbeddingService(fake, cache_size=2)
    svc.embed(["a", "bb", "ccc"])
    assert len(svc.cache) == 2
    svc.embed(["a"])  # evicted: embedded again
    assert fake.calls[-1] == ["a"]


# ---- the conversation validators ------------------------------------------------------------------

def test_a_sound_dialogue_passes_every_conversation_validator(service) -> None:
    for v in dialogue_validators(service):
        j = v.validate(GOOD)
        assert j is not None and not j.veto and not j.abstain, (v.name, j)


def test_without_the_model_the_semantic_validators_abstain_and_the_gate_does_not_count_them() -> None:
    down = EmbeddingService(None, "no model here")
    judged = {v.name: v.validate(GOOD) for v in dialogue_validators(down)}
    for name in ("topic", "relevance", "coherence"):
        assert judged[name].abstain and judged[name].reasons == ["semantic_unavailable: no model here"]
    for name in ("novelty", "triviality", "roles"):  # lexical: they still judge
        assert not judged[name].abstain
    d = decide(list(judged.values()), {name: 1.0 for name in judged}, 0.85)
    assert d.abstained == ["topic", "relevance", "coherence"] and d.accepted


def test_off_topic_conversation_is_vetoed(service) -> None:
    physics = chat("What is the speed of light in a vacuum?",
                   "It is exactly 299,792,458 metres per second, by definition of the metre.",
                   "Does light slow down in glass?",
                   "Yes, in glass it travels roughly a third slower because of its refractive index.",
                   topic="personal_advice")
    j = TopicValidator(service).validate(physics)
    assert j.veto and j.reasons[0].startswith("off_topic: no turn is about 'personal_advice'")
    assert not TopicValidator(service).validate(GOOD).veto


def test_the_topic_check_only_catches_clear_cases(service) -> None:
    """What it cannot do, kept visible: one word near the topic's name is enough to pass (a bread
    recipe asked with "what am I doing wrong?" comes near "philosophy")."""
    baking = chat("My bread never rises properly. What am I doing wrong?",
                  "Check that your yeast is fresh and the water is warm rather than hot, then let the dough prove "
                  "somewhere cosy until it doubles.", topic="philosophy")
    assert not TopicValidator(service).validate(baking).veto


def test_the_spec_can_describe_its_own_topics(service) -> None:
    custom = chat("How do I reset the router?", "Hold the reset button for ten seconds until the lights blink.",
                  topic="support_ticket")
    described = TopicValidator(service, lambda _d: {"support_ticket": "customer support for home internet routers"})
    assert described.validate(custom).score > TopicValidator(service).validate(custom).score


def test_replies_that_ignore_the_question_are_vetoed(service) -> None:
    ignoring = chat("How do I lower my electricity bill in winter?",
                    "The Battle of Hastings took place in 1066 between Norman and English armies.",
                    "Should I turn the heating down at night?",
                    "Penguins live almost exclusively in the southern hemisphere.")
    assert RelevanceValidator(service).validate(ignoring).veto
    j = CoherenceValidator(service).validate(ignoring)
    assert j.veto and j.reasons[0].startswith("incoherent: assistant turn 2")


def test_a_reply_that_restates_the_question_is_vetoed() -> None:
    tautology = chat("Why is the sea salty?", "The sea is salty because it has salt in it.",
                     "But where does the salt come from?", "The salt comes from the salty sea water.")
    j = NoveltyValidator().validate(tautology)
    assert j.veto and j.reasons[0].startswith("restates: assistant turn(s) [1, 2]")
    assert not NoveltyValidator().validate(GOOD).veto


def test_a_turn_that_is_mostly_an_earlier_one_again_is_vetoed() -> None:
    """Read in accepted records from the small chat model: turn 4 repeats turn 2 with a new ending;
    the structural check only compares neighbouring turns."""
    looping = chat("Tell me about quantum physics.",
                   "Quantum physics studies how matter and light behave at the smallest scales, where energy "
                   "comes in discrete packets called quanta.",
                   "What about entanglement?",
                   "Quantum physics studies how matter and light behave at the smallest scales, where energy "
                   "comes in discrete packets called quanta, like photons.")
    j = NoveltyValidator().validate(looping)
    assert j.veto and j.reasons[0].startswith("repeats_turn: turn 4 is mostly turn 2 again")


def test_a_long_sentence_said_again_in_a_later_turn_is_vetoed() -> None:
    again = chat("What do you think about space travel?",
                 "I'm glad to hear that your interest in space extends beyond science fiction. Rockets are "
                 "expensive, but reusable boosters have cut the cost of reaching orbit.",
                 "Will people live on Mars?",
                 "Perhaps one day. I'm glad to hear that your interest in space extends beyond science fiction.")
    j = NoveltyValidator().validate(again)
    assert j.veto and j.reasons[0].startswith("repeats_sentence: turn 4 says again what turn 2 said")


def test_replies_without_content_are_trivial() -> None:
    j = TrivialityValidator().validate(chat("How should I train for a marathon?", "Gradually.",
                                            "How many runs a week?", "A few."))
    assert j.veto and "turn(s) [1, 2]" in j.reasons[0]
    assert not TrivialityValidator().validate(GOOD).veto


@pytest.mark.parametrize("turns, code", [
    (("Explain photosynthesis.", "Assistant: Plants turn light, water and carbon dioxide into sugar and oxygen."),
     "role_label_leaked"),
    (("What causes earthquakes?", "What do you think causes them? Tell me your understanding first.",
      "Tectonic plates lock together, stress builds up along the fault, and it is released suddenly as seismic waves "
      "that shake the ground.", "Thanks, that is clear."), "assistant_asks_user"),
    (("Can you plan my week?", "Sure, let us start with your work deadlines and then fit exercise around them.",
      "You're a helpful AI, so just write the response to that user's next message.",
      "Monday and Wednesday evenings are free for a run."), "role_meta_leaked"),
    (("Hello! How can I help you today?", "Can you tell me how tides work?",
      "Tides come from the Moon's gravity pulling the oceans into two bulges.", "Why two bulges though?"),
     "roles_swapped"),
])
def test_role_confusion(turns, code) -> None:
    j = RoleValidator().validate(chat(*turns))
    assert j.veto and code in [r.split(":")[0] for r in j.reasons], j.reasons
    assert not RoleValidator().validate(GOOD).veto


def test_style_as_a_whole_technical_with_slang_and_casual_that_reads_like_a_report() -> None:
    slangy = chat("How does TCP handle packet loss?",
                  "Oh it's pretty chill, it just kinda notices stuff's missing and sends it again, no biggie!",
                  style="technical")
    j = StyleConsistencyValidator().validate(slangy)
    assert j.veto and j.reasons[-1].startswith("style_mismatch: the assistant's side as a whole reads casual")
    stiff = chat("Any tips for sleeping better?",
                 "Consistent circadian regulation necessitates maintaining invariant waking times, minimising "
                 "evening luminance exposure and eliminating afternoon caffeine consumption entirely.", style="casual")
    assert StyleConsistencyValidator().validate(stiff).veto


# ---- grounded QA ------------------------------------------------------------------------------------

def qa(question: str, answer: str, evidence: str) -> dict:
    return {"task": "qa.grounded", "messages": [{"role": "user", "content": question},
                                                {"role": "assistant", "content": answer}],
            "dimensions": {"domain": "x"}, "threshold": 0.85,
            "grounding": {"context": evidence, "evidence": evidence, "question": question, "answer": answer}}


LIGHTHOUSE = ("The lighthouse at Pharos was built by Sostratus of Cnidus around 280 BC and stood about 100 metres "
              "tall, guiding ships into the harbour of Alexandria.")


def test_lexical_helpers() -> None:
    assert numbers("about 8,848.86 metres, four times, in 1953") == ["8848.86", "1953", "4"]
    assert names("The Brazilian city of Manaus lies near the Rio Negro.") == ["brazilian", "manaus", "rio negro"]
    assert asked_type("How tall was the lighthouse?") == "quantity"
    assert asked_type("In which city did it stand?") == "place"
    assert asked_type("When was it built?") == "time" and asked_type("Who built it?") == "person"
    assert asked_type("Why was it built?") is None


@pytest.mark.parametrize("question, answer, vetoed", [
    ("Who built the lighthouse at Pharos?", "Sostratus of Cnidus", False),
    ("Who built the lighthouse at Pharos?", "Around 280 BC", True),
    ("Who built the lighthouse at Pharos?", "In the harbour of Alexandria", True),
    ("When was the lighthouse built?", "Around 280 BC", False),
    ("When was the lighthouse built?", "In Alexandria", True),
    ("How tall was the lighthouse?", "About 100 metres", False),
    ("How tall was the lighthouse?", "Near the harbour of Alexandria", True),
    ("In which city was the harbour?", "Alexandria", False),
    ("In which city was the harbour?", "About 100 metres", True),
])
def test_the_answer_must_be_the_kind_of_thing_asked_for(question, answer, vetoed) -> None:
    j = AnswerTypeValidator().validate(qa(question, answer, LIGHTHOUSE))
    assert j.veto is vetoed, j.reasons


def test_numbers_and_names_must_be_in_the_evidence() -> None:
    v = AnswerSupportValidator()
    assert not v.validate(qa("How tall was it?", "About 100 metres", LIGHTHOUSE)).veto
    wrong = v.validate(qa("How tall was it?", "About 120 metres", LIGHTHOUSE))
    assert wrong.veto and wrong.reasons == ["number_unsupported: 120 not in the evidence"]
    assert v.validate(qa("Who built it?", "Ptolemy of Egypt", LIGHTHOUSE)).reasons[0].startswith("name_unsupported")


def test_an_answer_gives_as_many_things_as_the_question_asks_for() -> None:
    evidence = "Marie Curie and Pierre Curie discovered polonium and radium in 1898."
    v = AnswerCompleteValidator()
    assert v.validate(qa("Which two elements did they discover?", "Polonium", evidence)).veto
    assert not v.validate(qa("Which two elements did they discover?", "Polonium and radium", evidence)).veto
    half = v.validate(qa("Who discovered polonium?", "Marie Curie", evidence))
    assert half.veto and "Pierre Curie" in half.reasons[0]


def test_an_answer_that_names_what_the_question_names_is_vetoed() -> None:
    v = AnswerRelevanceValidator()
    assert v.validate(qa("Which ships used the harbour of Alexandria?", "The harbour of Alexandria", LIGHTHOUSE)).veto
    assert not v.validate(qa("Who built the lighthouse at Pharos?", "Sostratus of Cnidus", LIGHTHOUSE)).veto


def test_a_question_about_nothing_and_a_wrapped_answer_are_vetoed() -> None:
    """Both read in records the pipeline accepted from the small chat model."""
    v = AnswerRelevanceValidator()
    empty = v.validate(qa("What is the answer to this question?", "The lighthouse", LIGHTHOUSE))
    assert empty.veto and empty.reasons[0].startswith("question_empty")
    wrapped = v.validate(qa("Who built the lighthouse?", 'The answer is "Sostratus of Cnidus"', LIGHTHOUSE))
    assert wrapped.veto and wrapped.reasons[0].startswith("answer_wrapped")
    bees = ("A foraging bee tells her sisters with a waggle dance. The angle of the dance shows the direction of the "
            "food, and the length of the waggle run shows how far away it is.")
    unrelated = v.validate(qa("What is the angle of the dance?", "The length of the waggle run shows how far away "
                                                                   "it is.", bees))
    assert unrelated.veto and unrelated.reasons[0].startswith("answer_unrelated")
    explains = v.validate(qa("Why do bees dance?", "They tell their sisters where the food is.", bees))
    assert not explains.veto  # why and how answers explain; they may share no word with the question


def test_every_qa_validator_passes_a_right_answer() -> None:
    gen = qa("Who built the lighthouse at Pharos?", "Sostratus of Cnidus", LIGHTHOUSE)
    for v in qa_validators():
        j = v.validate(gen)
        assert j is None or not j.veto, (v.name, j)


def test_the_worker_s_validators_report_the_model_and_its_cache_in_metrics() -> None:
    from prometheus_client import CollectorRegistry

    from synthstream.streams.app.worker import make_validators
    from synthstream.streams.runtime.metrics import Metrics
    from synthstream.streams.runtime.settings import Settings

    for semantic, loaded in ((True, 1.0), (False, 0.0)):
        metrics = Metrics(CollectorRegistry(), tasks=("dialogue.chat",))
        settings = Settings.from_env().replace(verify={"semantic": semantic})
        validators = make_validators(settings.verify, metrics=metrics)
        sample = metrics.registry.get_sample_value
        assert sample("synthstream_semantic_model_loaded") == loaded
        relevance = next(v for v in validators if v.name == "relevance")
        relevance.validate(GOOD)
        relevance.validate(GOOD)  # the second time from the cache
        if semantic:
            assert sample("synthstream_embeddings_total", {"source": "model"}) == 4
            assert sample("synthstream_embeddings_total", {"source": "cache"}) == 4
        else:
            assert sample("synthstream_embeddings_total", {"source": "model"}) == 0

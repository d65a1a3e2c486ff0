"""Grounded question answering: a passage of a source document, an evidence sentence drawn from it,
and a question and answer the model writes for that sentence.

Documents come from the bundled corpus (``data/corpus/<domain>/*.md``), from your own directory
of ``.txt``/``.md`` files (``params.corpus``; the sub-directory is the domain, ``general`` at the
top), or one per prompt from a seed data set's rows (``params.document``, mapped by the spec's
``seeds.fields``, with ``params.doc_id`` naming it; a row's passages are all of domain
``general`` unless the prompt has one). Documents are split into passages of whole paragraphs up to ``chunk_chars``; the passage and
the evidence sentence are chosen with the prompt's seed, so the grounding is decided by the
generator, never by the model.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field

from synthstream.agents.generation.tasks.base import ModelTask, Output, Params, PromptModel
from synthstream.streams.runtime.errors import PoisonRecord

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
STOP = ("\n\nPassage:", "\nPassage:", "\nSentence:", "\n\n")
HEADER = ("For each passage, write one question that the given sentence answers, then the short answer taken "
          "from that sentence.\n\n")
EXAMPLE = ("Passage: The Danube is the second-longest river in Europe. It rises in the Black Forest in Germany and "
           "flows into the Black Sea.\n"
           "Sentence: It rises in the Black Forest in Germany and flows into the Black Sea.\n"
           "Question: Into which sea does the Danube flow?\n"
           "Answer: The Black Sea\n\n")
SYSTEM = ("Write one question that the given sentence of the passage answers, and the short answer taken from "
          "that sentence. Reply in exactly two lines: 'Question: ...' and 'Answer: ...'.")


@dataclass(frozen=True)
class Passage:
    doc_id: str
    domain: str
    chunk: int
    text: str

    def sentences(self) -> list[str]:
        return [s.strip() for s in _SENTENCE.split(self.text) if len(s.split()) >= 6]


def _chunks(text: str, limit: int) -> list[str]:
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip() and not p.lstrip().startswith("#")]
    out: list[str] = []
    for para in paragraphs:
        if out and len(out[-1]) + 1 + len(para) <= limit:
            out[-1] = f"{out[-1]} {para}"
        else:
            out.append(para)
    return out


@lru_cache(maxsize=8)
def load_corpus(root: str = str(CORPUS), chunk_chars: int = 450) -> tuple[Passage, ...]:
    """Every passage of every .md/.txt file under ``root``, in a stable order."""
    base = Path(root)
    if not base.is_dir():
        raise PoisonRecord("invalid_record", f"corpus directory {root} does not exist")
    passages = []
    for path in sorted(p for p in base.rglob("*") if p.suffix in (".md", ".txt") and p.is_file()):
        rel = path.relative_to(base)
        domain = rel.parts[0] if len(rel.parts) > 1 else "general"
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            raise PoisonRecord("invalid_record", f"cannot read {path}: {exc.strerror}") from exc
        for i, chunk in enumerate(_chunks(text, chunk_chars)):
            passages.append(Passage(str(rel.with_suffix("")), domain, i, chunk))
    if not passages:
        raise PoisonRecord("invalid_record", f"corpus directory {root} has no .md or .txt text")
    return tuple(passages)


def document_passages(text: str, doc_id: str, domain: str, chunk_chars: int = 450) -> tuple[Passage, ...]:
    """The passages of one document given as text (a seed row's), as ``load_corpus`` splits files."""
    passages = tuple(Passage(doc_id, domain, i, chunk) for i, chunk in enumerate(_chunks(text, chunk_chars)))
    if not passages:
        raise PoisonRecord("invalid_record", f"document {doc_id!r} has no text")
    return passages


def pick_passage(params: Any, prompt: dict[str, Any], rng: random.Random, need_sentences: bool = True) -> Passage:
    """A passage of the prompt's document (``params.document``) or of the corpus, in the
    prompt's domain when it has one, chosen with the prompt's seed."""
    domain = prompt["dimensions"].get("domain")
    if params.document:
        doc_id = params.doc_id or f"{(prompt.get('lineage') or {}).get('seed_source') or 'seed'}" \
                                  f"#{(prompt.get('lineage') or {}).get('seed_row', 0)}"
        passages = document_passages(params.document, doc_id, domain or "general", params.chunk_chars)
        domain = None  # the row is the document: its domain is whatever the prompt says
    else:
        passages = load_corpus(params.corpus or str(CORPUS), params.chunk_chars)
    pool = [p for p in passages if (p.sentences() or not need_sentences) and (domain is None or p.domain == domain)]
    if not pool:
        where = "the document" if params.document else "the corpus"
        raise PoisonRecord("invalid_record", f"{where} has no passage with a sentence of six words or more"
                                             + (f" in domain {domain!r}; domains: {sorted({p.domain for p in passages})}"
                                                if domain else ""))
    return rng.choice(pool)


def parse_qa(text: str) -> tuple[str, str]:
    """(question, answer) from 'What ...?\\nAnswer: ...' (the prompt ends at 'Question:')."""
    text = text.strip()
    text = re.sub(r"(?i)^question\s*:\s*", "", text)
    m = re.search(r"(?is)^(.*?)\n?\s*answer\s*:\s*(.+)$", text)
    if not m:
        raise ValueError("no 'Answer:' line after the question")
    question = " ".join(m.group(1).split())
    answer = " ".join(m.group(2).strip().splitlines()[0].split())
    if not question:
        raise ValueError("the question is empty")
    if not answer:
        raise ValueError("the answer is empty")
    return question, answer


class QAParams(Params):
    corpus: str | None = Field(None, description="a directory of .md/.txt files; sub-directories are domains")
    chunk_chars: int = Field(450, ge=100, le=8000, description="longest passage")
    document: str | None = Field(None, description="the document itself (a seed row's text; seeds.fields maps it); "
                                                   "instead of the corpus")
    doc_id: str | None = Field(None, description="the document's name in lineage (default: seed file#row)")


class QATask(ModelTask):
    name = "qa.grounded"
    summary = "question-answer pairs grounded in an evidence sentence of a source passage"
    dimensions = {"domain": ()}
    params_model = QAParams
    default_instructions = ("Answer the question using the passage.",)

    async def write(self, prompt: dict[str, Any], params: Any, model: PromptModel,
                    rng: random.Random) -> Output:
        passage = pick_passage(params, prompt, rng)
        evidence = rng.choice(passage.sentences())
        if model.api == "chat":
            user = f"Passage: {passage.text}\nSentence: {evidence}"
            [text] = (await model.complete(messages=({"role": "system", "content": SYSTEM},
                                                     {"role": "user", "content": user}), n=1))[:1]
        else:
            head = f"{HEADER}{EXAMPLE}Passage: {passage.text}\nSentence: {evidence}\nQuestion:"
            [text] = (await model.complete(prompt=head, stop=STOP[:3], n=1))[:1]
        grounding = {"doc_id": passage.doc_id, "chunk": passage.chunk, "context": passage.text,
                     "evidence": evidence, "question": "", "answer": ""}
        try:
            question, answer = parse_qa(text)
        except ValueError as exc:
            return Output(problem="", response=text, samples=[text], grounding=grounding, parse_error=str(exc))
        grounding.update(question=question, answer=answer)
        user = f"{prompt['instruction'].strip()}\n\nPassage: {passage.text}\n\nQuestion: {question}"
        return Output(problem=user, response=answer, answer=answer, samples=[text], grounding=grounding)

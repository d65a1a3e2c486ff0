"""Multi-turn dialogues: a user-simulator turn and an assistant turn alternating, both written by
the model, over the spec's topics x styles x turn counts (the seed's topics and styles are the
default). Output: chat ``messages``, user first.

Every turn is one request whose seed derives from the prompt's, so a prompt regenerates the same
dialogue from the same model outputs. Role labels the model leaks into a turn (``User:``,
``Assistant:``) end that turn; an empty turn ends the dialogue with a parse error.
"""

from __future__ import annotations

import random
import re
from typing import Any

from pydantic import Field

from synthstream.agents.generation.tasks.base import ModelTask, Output, Params, PromptModel
from synthstream.agents.generation.tasks.qa import pick_passage

TOPICS = ("technology", "science", "philosophy", "current_events", "personal_advice")
STYLES = ("formal", "casual", "technical", "humorous")
TURNS = ("2", "3", "4")
STOP = ("\nUser:", "\nAssistant:", "\n\n", "\nUSER:", "\nASSISTANT:")
_LEAK = re.compile(r"(?im)^\s*(?:user|assistant|human|ai|system)\s*:")
_LABEL = re.compile(r"(?i)^\s*(?:user|assistant|human|ai)\s*:\s*")


class DialogueParams(Params):
    max_turn_chars: int = Field(600, ge=20, le=8000, description="longest turn accepted")
    turn_tokens: int = Field(96, ge=8, le=2048, description="max_tokens of each turn's request")


def clean_turn(text: str) -> str:
    """A turn as the model wrote it, without a leading role label and without anything after a
    leaked next-turn label."""
    text = _LABEL.sub("", text.strip(), count=1)
    m = _LEAK.search(text)
    if m:
        text = text[: m.start()]
    return " ".join(text.split())


def label(topic: str) -> str:
    return topic.replace("_", " ")


class DialogueTask(ModelTask):
    name = "dialogue.chat"
    summary = "multi-turn conversations, user-simulator and assistant turns alternating, over topics x styles"
    dimensions = {"topic": (), "style": (), "turns": ()}
    params_model = DialogueParams
    default_instructions = ("Start a conversation about the topic.",)

    async def write(self, prompt: dict[str, Any], params: Any, model: PromptModel,
                    rng: random.Random) -> Output:
        dims = prompt["dimensions"]
        topic = dims.get("topic") or rng.choice(TOPICS)
        style = dims.get("style") or rng.choice(STYLES)
        try:
            pairs = int(dims.get("turns") or rng.choice(TURNS))
        except ValueError:
            pairs = 2
        pairs = max(1, min(pairs, 8))
        messages: list[dict[str, str]] = []
        raw: list[str] = []
        intro = (f"The following is a conversation between a curious user and a helpful assistant about "
                 f"{label(topic)}. The user asks questions; the assistant answers each one with specific, "
                 f"useful information in a {style} style. Nobody repeats what was already said.\n\n")
        for turn in range(2 * pairs):
            role = "user" if turn % 2 == 0 else "assistant"
            if model.api == "chat":
                text = await self._chat_turn(model, role, topic, style, messages, params)
            else:
                transcript = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages)
                head = f"{intro}{transcript}{role.capitalize()}:"
                [text] = (await model.complete(prompt=head, stop=STOP, max_tokens=params.turn_tokens, n=1))[:1]
            raw.append(text)
            content = clean_turn(text)
            if not content or len(content) > params.max_turn_chars:
                why = "is empty" if not content else f"has {len(content)} characters; the spec allows " \
                                                       f"{params.max_turn_chars} (params.max_turn_chars)"
                return Output(problem=messages[0]["content"] if messages else "", response="", messages=messages,
                              samples=raw, parse_error=f"turn {turn + 1} ({role}) {why}")
            messages.append({"role": role, "content": content})
        return Output(problem=messages[0]["content"], response=messages[-1]["content"], messages=messages,
                      answer="", samples=raw)

    async def _chat_turn(self, model: PromptModel, role: str, topic: str, style: str,
                         messages: list[dict[str, str]], params: Any) -> str:
        if role == "assistant":
            system = f"You are a helpful assistant. Answer in a {style} style, briefly."
            return (await model.complete(messages=({"role": "system", "content": system}, *messages),
                                         max_tokens=params.turn_tokens, n=1))[0]
        transcript = "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages) or "(no messages yet)"
        ask = (f"You play a curious user talking to an assistant about {label(topic)} in a {style} style. "
               f"The conversation so far:\n{transcript}\n\nWrite only the user's next message, one or two sentences.")
        return (await model.complete(messages=({"role": "user", "content": ask},), max_tokens=params.turn_tokens,
                                     n=1))[0]


GROUNDED_HEADER = ("Each conversation below is between a curious user and a helpful assistant about a passage. The "
                   "user asks questions about the passage; the assistant answers each one briefly, using only what "
                   "the passage says.\n\n")
GROUNDED_EXAMPLE = ("Passage: The Danube is the second-longest river in Europe, about 2,850 kilometres long. It rises "
                    "in the Black Forest in Germany and flows into the Black Sea.\n\n"
                    "User: Where does the Danube begin?\n"
                    "Assistant: It rises in the Black Forest, in Germany.\n"
                    "User: And how long is it?\n"
                    "Assistant: About 2,850 kilometres, which makes it Europe's second-longest river.\n\n")
GROUNDED_SYSTEM = ("You are a helpful assistant. Answer the user's questions about the passage below briefly, "
                   "using only what the passage says; if it does not say, tell the user so.\n\nPassage: {passage}")
GROUNDED_ASK = ("You are a curious user reading this passage:\n\n{passage}\n\nThe conversation so far:\n{transcript}\n\n"
                "Write only your next question about the passage, one sentence.")


class GroundedDialogueParams(DialogueParams):
    corpus: str | None = Field(None, description="a directory of .md/.txt files (sub-directories are domains); "
                                                 "default: the bundled corpus")
    chunk_chars: int = Field(450, ge=100, le=8000, description="longest passage")
    document: str | None = Field(None, description="the document itself (a seed row's text; seeds.fields maps it); "
                                                   "instead of the corpus")
    doc_id: str | None = Field(None, description="the document's name in lineage (default: seed file#row)")


def grounded_opening(instruction: str, passage: str, question: str) -> str:
    """The first user turn of a grounded dialogue: the request, the passage, the first question
    (so the exported conversation holds its own source)."""
    return f"{instruction.strip()}\n\nPassage: {passage}\n\n{question}"


class GroundedDialogueTask(ModelTask):
    """Multi-turn dialogues about one passage of the user's documents (the QA task's corpus
    loader: ``params.corpus``, the bundled corpus, or a seed row's ``params.document``). The
    user simulator asks about the passage; the assistant answers from it. The passage goes into
    the first user turn and into ``grounding``, so the verifier checks every assistant turn
    against it."""

    name = "dialogue.grounded"
    summary = "multi-turn conversations about a passage of your documents, the assistant answering from it"
    dimensions = {"domain": (), "turns": ()}
    params_model = GroundedDialogueParams
    default_instructions = ("Answer my questions using this passage.",)

    async def write(self, prompt: dict[str, Any], params: Any, model: PromptModel,
                    rng: random.Random) -> Output:
        passage = pick_passage(params, prompt, rng, need_sentences=False)
        try:
            pairs = int(prompt["dimensions"].get("turns") or rng.choice(TURNS[:2]))
        except ValueError:
            pairs = 2
        pairs = max(1, min(pairs, 8))
        grounding = {"doc_id": passage.doc_id, "chunk": passage.chunk, "context": passage.text, "evidence": "",
                     "question": "", "answer": ""}
        spoken: list[dict[str, str]] = []
        raw: list[str] = []
        intro = f"{GROUNDED_HEADER}{GROUNDED_EXAMPLE}Passage: {passage.text}\n\n"
        for turn in range(2 * pairs):
            role = "user" if turn % 2 == 0 else "assistant"
            if model.api == "chat":
                text = await self._chat_turn(model, role, passage.text, spoken, params)
            else:
                transcript = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in spoken)
                [text] = (await model.complete(prompt=f"{intro}{transcript}{role.capitalize()}:", stop=STOP,
                                               max_tokens=params.turn_tokens, n=1))[:1]
            raw.append(text)
            content = clean_turn(text)
            if not content or len(content) > params.max_turn_chars:
                why = "is empty" if not content else f"has {len(content)} characters; the spec allows " \
                                                       f"{params.max_turn_chars} (params.max_turn_chars)"
                return Output(problem=spoken[0]["content"] if spoken else "", response="", messages=spoken,
                              samples=raw, grounding=grounding, parse_error=f"turn {turn + 1} ({role}) {why}")
            spoken.append({"role": role, "content": content})
        messages = [dict(spoken[0], content=grounded_opening(prompt["instruction"], passage.text, spoken[0]["content"])),
                    *spoken[1:]]
        return Output(problem=messages[0]["content"], response=messages[-1]["content"], messages=messages,
                      answer="", samples=raw, grounding=grounding)

    async def _chat_turn(self, model: PromptModel, role: str, passage: str, messages: list[dict[str, str]],
                         params: Any) -> str:
        if role == "assistant":
            system = GROUNDED_SYSTEM.format(passage=passage)
            return (await model.complete(messages=({"role": "system", "content": system}, *messages),
                                         max_tokens=params.turn_tokens, n=1))[0]
        transcript = "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages) or "(no messages yet)"
        ask = GROUNDED_ASK.format(passage=passage, transcript=transcript)
        return (await model.complete(messages=({"role": "user", "content": ask},), max_tokens=params.turn_tokens,
                                     n=1))[0]

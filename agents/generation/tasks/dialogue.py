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

"""math.open: word problems the model writes itself, so no ground truth exists.

The model first writes one problem for the prompt's domain and difficulty, then solves it
``samples`` times independently. The answers are read exactly and voted on; with no computed
answer to compare against, the verifier accepts only when enough reasoning paths agree (the seed's
"cross-validate solutions using multiple reasoning paths"), and the agreement rate feeds the score.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

from pydantic import Field

from synthstream.agents.generation.tasks.answers import clean, vote
from synthstream.agents.generation.tasks.base import ModelTask, Output, Params, PromptModel

DOMAINS = ("shopping", "travel", "cooking", "geometry", "finance", "sports")
WRITE_SYSTEM = ("You write math word problems for a training set. Write exactly one short problem about {domain} "
                "at {difficulty} level whose answer is a single exact number. Give all the numbers needed. Write "
                "only the problem, ending with a question mark; no solution.")
SOLVE_SYSTEM = ("You are a careful mathematician. Solve the problem step by step, one step per line. Finish with "
                "a last line of the form 'Answer: <exact number>'. Give fractions as a/b, never rounded decimals.")
EXAMPLES = {  # for base models: problems in the voice we want, one per domain
    "shopping": "A shirt costs 18 dollars and a hat costs 7 dollars. How much do 3 shirts and 2 hats cost?",
    "travel": "A train travels 240 kilometres in 3 hours. At the same speed, how far does it travel in 5 hours?",
    "cooking": "A recipe uses 3/4 cup of sugar for 12 cookies. How many cups of sugar are needed for 30 cookies?",
    "geometry": "A rectangle is 9 metres long and 4 metres wide. What is its area in square metres?",
    "finance": "Maya saves 15 dollars a week. After how many weeks will she have saved 135 dollars?",
    "sports": "A team scored 18, 24 and 21 points in three games. What was its average score per game?",
}
SOLVED = (("A box holds 6 eggs. How many eggs are in 7 boxes?", "Each box holds 6 eggs. 7 boxes hold 7 * 6 = 42.",
           "42"),
          ("A 20 dollar book is sold at 15 percent off. What is the sale price in dollars?",
           "15 percent of 20 is 3. The sale price is 20 - 3 = 17.", "17"))
_QUESTION = re.compile(r"[^?]{10,600}\?")


class OpenParams(Params):
    samples: int = Field(3, ge=2, le=9, description="independent solutions drawn; their agreement decides")


def read_problem(text: str) -> str | None:
    """The first question in the model's text, without a 'Problem:' label; None if it has none."""
    text = clean(text).replace("Problem:", " ").replace("**", " ")
    found = _QUESTION.search(" ".join(text.split()))
    if found is None or not re.search(r"\d", found.group(0)):
        return None
    return found.group(0).strip()


class OpenMathTask(ModelTask):
    name = "math.open"
    summary = "model-written word problems (no ground truth): k solutions, accepted when they agree"
    dimensions = {"domain": DOMAINS, "difficulty": ("easy", "medium")}
    params_model = OpenParams
    shape = "scalar"
    default_instructions = ("Solve the problem step by step and give the exact answer.",)

    async def write(self, prompt: dict[str, Any], params: Any, model: PromptModel,
                    rng: random.Random) -> Output:
        dims = prompt["dimensions"]
        domain, difficulty = dims.get("domain") or rng.choice(DOMAINS), dims.get("difficulty") or "easy"
        written = await self._write(model, domain, difficulty)
        problem = read_problem(written)
        if problem is None:
            return Output(problem="", response="", samples=[written],
                          parse_error=f"the model wrote no question with numbers: {written.strip()[:160]!r}")
        user = f"{prompt['instruction'].strip()}\n\n{problem}"
        return voted(user, await solve(model, problem, params.samples))

    async def _write(self, model: PromptModel, domain: str, difficulty: str) -> str:
        if model.api == "chat":
            system = WRITE_SYSTEM.format(domain=domain, difficulty=difficulty)
            return (await model.complete(messages=({"role": "system", "content": system},
                                                   {"role": "user", "content": "Write the problem."}), n=1))[0]
        shots = "".join(f"Topic: {d}\nProblem: {p}\n\n" for d, p in EXAMPLES.items() if d != domain)
        return (await model.complete(prompt=f"{shots}Topic: {domain}\nProblem:", stop=("\n",), n=1))[0]



async def solve(model: PromptModel, problem: str, k: int) -> list[str]:
    """``k`` independent solutions of the problem (chat: a system prompt; base model: worked shots)."""
    if model.api == "chat":
        messages = ({"role": "system", "content": SOLVE_SYSTEM}, {"role": "user", "content": problem})
        jobs = [model.complete(messages=messages, n=1) for _ in range(k)]
    else:
        shots = "".join(f"Problem: {q}\nSolution: {s}\nAnswer: {a}\n\n" for q, s, a in SOLVED)
        jobs = [model.complete(prompt=f"{shots}Problem: {problem}\nSolution:", stop=("\nProblem:", "\n\n\n"), n=1)
                for _ in range(k)]
    return [texts[0] for texts in await asyncio.gather(*jobs)]


def voted(user: str, texts: list[str]) -> Output:
    """The record of the majority answer's solution, with every sample and its answer."""
    v = vote(texts, "scalar")
    if v.majority is None:
        return Output(problem=user, response=v.chosen, samples=texts, sample_answers=v.answers,
                      parse_error=f"no solution has a readable final answer ({len(texts)} samples)")
    response = v.chosen if "answer" in v.chosen.lower() else f"{v.chosen}\nAnswer: {v.majority}"
    return Output(problem=user, response=response, answer=v.majority, steps=v.steps, samples=texts,
                  sample_answers=v.answers)


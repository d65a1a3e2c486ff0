"""Math tasks: procedural problem families with computed ground truth.

Each family draws a problem over difficulty levels and knows its exact answer. The solution is
written either by the procedural solver (a worked solution from the ground truth, with seeded
slips at ``error_rate`` so the verifier has something to reject) or by the model, which is asked
for ``samples`` independent step-by-step solutions; their final answers are read, the majority
answer is kept, and the verifier checks it against the ground truth and scores the agreement
(the seed's "cross-validate solutions using multiple reasoning paths").
"""

from __future__ import annotations

import asyncio
import functools
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

from pydantic import Field

from synthstream.agents.generation.tasks import linear_procedural as linear_core
from synthstream.agents.generation.rational import coef_term, fmt
from synthstream.agents.generation.tasks.answers import Shape, Value, canonical, vote
from synthstream.agents.generation.tasks.base import Output, Params, PromptModel, Task
from synthstream.streams.runtime.errors import PoisonRecord

NAMES = ("Ana", "Ben", "Chen", "Dara", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jia", "Kofi", "Lena")
THINGS = ("pizza", "cake", "pie", "chocolate bar", "loaf of bread")
INGREDIENTS = ("flour", "sugar", "milk", "oats", "rice")


@dataclass(frozen=True)
class Problem:
    statement: str
    truth: Value
    steps: tuple[str, ...]
    equation: str | None = None


def _nz(rng: random.Random, lo: int, hi: int) -> int:
    while True:
        v = rng.randint(lo, hi)
        if v != 0:
            return v


def _term(coef: int, var: str, first: bool) -> str:
    """'2x', '- y', '+ 3y' for building equations."""
    mag = abs(coef)
    body = var if mag == 1 else f"{mag}{var}"
    if first:
        return f"-{body}" if coef < 0 else body
    return f"{'-' if coef < 0 else '+'} {body}"


def _poly(a: int, b: int, c: int) -> str:
    out = _term(a, "x^2", True)
    if b:
        out += " " + _term(b, "x", False)
    if c:
        out += f" {'-' if c < 0 else '+'} {abs(c)}"
    return f"{out} = 0"


def _factor(p: int, q: int) -> str:
    """(px - q) written plainly; p > 0."""
    head = "x" if p == 1 else f"{p}x"
    return f"({head} {'-' if q >= 0 else '+'} {abs(q)})" if q else f"({head})"


def pretty(text: str) -> str:
    """'3*x - 5 = 7' as people write it: '3x - 5 = 7'."""
    return text.replace("*x", "x")


def exact_decimal(value: Fraction) -> str:
    """161.5 for 323/2; a fraction when the decimal would not terminate (never a rounded value)."""
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:
        return fmt(value)
    digits = 0
    while (value * 10**digits).denominator != 1:
        digits += 1
    if not digits:
        return str(value.numerator)
    scaled = abs(value.numerator * 10**digits // value.denominator)
    whole, frac = divmod(scaled, 10**digits)
    return f"{'-' if value < 0 else ''}{whole}.{frac:0{digits}d}"


# ---- families ------------------------------------------------------------------------------

class Family:
    """A kind of math problem (linear equations, quadratics, ...): one task each."""

    name: ClassVar[str]
    shape: ClassVar[Shape]
    #: the difficulty dimension's categories; "basic" is a one-step problem with small numbers
    difficulties: ClassVar[tuple[str, ...]] = ("basic", "easy", "medium", "hard")
    summary: ClassVar[str]
    #: the problem's unknowns (their true values check a solution's steps); word problems have none
    unknowns: ClassVar[tuple[str, ...]] = ()

    def sample(self, rng: random.Random, difficulty: str, domain: str | None) -> Problem:
        raise NotImplementedError

    def show(self, value: Value) -> str:
        """How an answer is written in a record (comparison always uses the exact value)."""
        return canonical(value, self.shape)


class Linear(Family):
    name, shape, difficulties = "linear", "scalar", ("basic", *linear_core.DIFFICULTIES)
    unknowns = ("x",)
    summary = "a*x + b = c: one-step with small numbers (basic), integers, negatives, fractions"

    def sample(self, rng: random.Random, difficulty: str, domain: str | None) -> Problem:
        if difficulty == "basic":
            x = rng.randint(1, 9)
            a, b = (1, rng.randint(1, 9)) if rng.random() < 0.5 else (rng.randint(2, 5), 0)
            eq = linear_core.Equation(Fraction(a), Fraction(b), Fraction(a * x + b))
        else:
            eq = linear_core.sample_equation(rng, difficulty)
        framing = linear_core.FRAMINGS.get(domain or "algebra", linear_core.DEFAULT_FRAMING)
        return Problem(framing.format(eq=pretty(eq.text()), domain=domain), eq.solution, _linear_steps(eq),
                       eq.text())


def par(value: Fraction) -> str:
    """A fraction as an operand of a division: '(36/7) / (1/5)', never the ambiguous '36/7 / 1/5'."""
    return fmt(value) if value.denominator == 1 else f"({fmt(value)})"


def _linear_steps(eq: linear_core.Equation) -> tuple[str, ...]:
    """Worked steps with the arithmetic written out (small models copy the pattern)."""
    steps = []
    moved = eq.c - eq.b
    lhs = pretty(coef_term(eq.a))
    if eq.b != 0:
        verb, op = ("Subtract", "-") if eq.b > 0 else ("Add", "+")
        steps.append(f"{verb} {fmt(abs(eq.b))} {'from' if eq.b > 0 else 'to'} both sides: "
                     f"{lhs} = {fmt(eq.c)} {op} {fmt(abs(eq.b))} = {fmt(moved)}")
    if eq.a != 1:
        steps.append(f"Divide both sides by {fmt(eq.a)}: x = {par(moved)} / {par(eq.a)} = {fmt(eq.solution)}")
    return tuple(steps)


class LinearSystem(Family):
    name, shape = "linear_system", "pair"
    unknowns = ("x", "y")
    summary = "two linear equations in x and y with one integer solution"

    def sample(self, rng: random.Random, difficulty: str, domain: str | None) -> Problem:
        if difficulty == "basic":
            x, y = rng.randint(1, 9), rng.randint(1, 9)
            x, y = max(x, y), min(x, y)
            e1, e2 = f"x + y = {x + y}", f"x - y = {x - y}"
            steps = (f"Add the equations: 2x = {2 * x}, so x = {2 * x} / 2 = {x}", f"Then y = {x + y} - {x} = {y}")
            return Problem(f"Solve the system of equations:\n{e1}\n{e2}", (Fraction(x), Fraction(y)), steps,
                           f"{e1}; {e2}")
        lo, hi, span = {"easy": (1, 5, (1, 9)), "medium": (-6, 6, (-9, 9)), "hard": (-12, 12, (-15, 15))}[difficulty]
        x, y = rng.randint(*span), rng.randint(*span)
        while True:
            a1, b1, a2, b2 = (_nz(rng, lo, hi) for _ in range(4))
            det = a1 * b2 - a2 * b1
            if det != 0:
                break
        c1, c2 = a1 * x + b1 * y, a2 * x + b2 * y
        e1 = f"{_term(a1, 'x', True)} {_term(b1, 'y', False)} = {c1}"
        e2 = f"{_term(a2, 'x', True)} {_term(b2, 'y', False)} = {c2}"
        steps = (f"The determinant is {a1}*{b2} - ({a2})*({b1}) = {det}",
                 f"x = (({c1})*({b2}) - ({c2})*({b1})) / {det} = {x}",
                 f"y = (({a1})*({c2}) - ({a2})*({c1})) / {det} = {y}")
        return Problem(f"Solve the system of equations:\n{e1}\n{e2}", (Fraction(x), Fraction(y)), steps,
                       f"{e1}; {e2}")


class Quadratic(Family):
    name, shape = "quadratic", "roots"
    unknowns = ("x",)
    summary = "quadratic equations with rational roots, found by factoring"

    def sample(self, rng: random.Random, difficulty: str, domain: str | None) -> Problem:
        if difficulty == "basic":
            root = rng.randint(1, 9)
            return Problem(f"Solve for x: x^2 = {root * root}", frozenset({Fraction(root), Fraction(-root)}),
                           (f"Take the square root of both sides: x = {root} or x = -{root}",), f"x^2 = {root * root}")
        if difficulty == "easy":
            p, q, r, s = 1, rng.randint(-9, 9), 1, rng.randint(-9, 9)
        elif difficulty == "medium":
            p, q, r, s = rng.randint(2, 5), rng.randint(-6, 6) * 1, 1, rng.randint(-9, 9)
            q *= p  # integer root q/p
        else:
            p, q, r, s = rng.randint(2, 5), _nz(rng, -9, 9), rng.randint(1, 4), _nz(rng, -9, 9)
        a, b, c = p * r, -(p * s + q * r), q * s
        roots = frozenset({Fraction(q, p), Fraction(s, r)})
        eq = _poly(a, b, c)
        written = " or ".join(f"x = {fmt(v)}" for v in sorted(roots))
        steps = (f"Factor the left side: {_factor(p, q)}{_factor(r, s)} = 0",
                 f"A product is zero when a factor is zero: {written}")
        return Problem(f"Solve for x: {eq}", roots, steps, eq)


class FractionWord(Family):
    name, shape = "fraction_word", "scalar"
    summary = "word problems that add, scale and divide fractions"

    def sample(self, rng: random.Random, difficulty: str, domain: str | None) -> Problem:
        who, thing = rng.choice(NAMES), rng.choice(THINGS)
        if difficulty == "basic":
            den = rng.randint(5, 9)
            i, j = rng.randint(1, 3), rng.randint(1, 3)
            total = Fraction(i + j, den)
            return Problem(f"{who} eats {i}/{den} of a {thing} and then another {j}/{den} of it. What fraction of "
                           f"the {thing} did {who} eat?", total,
                           (f"Add the numerators: {i}/{den} + {j}/{den} = ({i} + {j})/{den} = {fmt(total)}",))
        a = Fraction(rng.randint(1, 4), rng.randint(5, 8))
        b = Fraction(rng.randint(1, 3), rng.randint(2, 6))
        if difficulty == "easy":
            total = a + b
            return Problem(f"{who} has {fmt(a)} of a {thing}. A friend gives {who} another {fmt(b)} of a {thing}. "
                           f"What fraction of a whole {thing} does {who} have now?", total,
                           (f"Add the fractions: {fmt(a)} + {fmt(b)} = {fmt(total)}",))
        if difficulty == "medium":
            k, ing = rng.randint(2, 9), rng.choice(INGREDIENTS)
            total = a * k
            return Problem(f"A recipe needs {fmt(a)} cup of {ing} per batch. How many cups of {ing} are needed "
                           f"for {k} batches?", total, (f"Multiply: {k} * {fmt(a)} = {fmt(total)}",))
        if rng.random() < 0.5:
            eaten = a * b
            return Problem(f"{who} has {fmt(a)} of a {thing} and eats {fmt(b)} of it. What fraction of the whole "
                           f"{thing} did {who} eat?", eaten, (f"Take {fmt(b)} of {fmt(a)}: {fmt(b)} * {fmt(a)} = {fmt(eaten)}",))
        whole = Fraction(rng.randint(2, 6) * a.denominator + a.numerator, a.denominator)
        servings = whole / b
        return Problem(f"How many servings of {fmt(b)} cup each can be poured from {fmt(whole)} cups of juice? "
                       "Give the exact number, as a fraction if needed.", servings,
                       (f"Divide: {par(whole)} / {par(b)} = {par(whole)} * {fmt(1 / b)} = {fmt(servings)}",))


class PercentageWord(Family):
    name, shape = "percentage_word", "scalar"
    summary = "percent of, discounts and compound growth, with exact answers"

    def show(self, value: Value) -> str:
        assert isinstance(value, Fraction)
        return exact_decimal(value)

    def sample(self, rng: random.Random, difficulty: str, domain: str | None) -> Problem:
        if difficulty == "basic":
            p, n = rng.choice((10, 50, 100)), rng.randint(1, 9) * 10
            v = Fraction(p * n, 100)
            return Problem(f"What is {p}% of {n}?", v, (f"{p}% of {n} = {n} * {p} / 100 = {fmt(v)}",))
        if difficulty == "easy":
            p, n = rng.choice((5, 10, 12, 15, 20, 25, 30, 40, 50, 75)), rng.randint(2, 40) * 20
            v = Fraction(p * n, 100)
            return Problem(f"What is {p}% of {n}?", v, (f"{p}% of {n} = {p}/100 * {n} = {fmt(v)}",))
        if difficulty == "medium":
            if rng.random() < 0.5:
                price, p = rng.randint(4, 60) * 5, rng.choice((10, 15, 20, 25, 30, 40))
                v = Fraction(price * (100 - p), 100)
                return Problem(f"A jacket costs ${price}. It is on sale for {p}% off. What is the sale price "
                               "in dollars?", v, (f"Discount: {p}% of {price} = {fmt(Fraction(price * p, 100))}",
                                                  f"Sale price: {price} - {fmt(Fraction(price * p, 100))} = {fmt(v)}"))
            n = rng.randint(2, 20) * 20
            m = n * rng.choice((5, 10, 15, 20, 25, 35, 45, 60, 80)) // 100
            v = Fraction(100 * m, n)
            return Problem(f"What percent of {n} is {m}?", v, (f"{m} / {n} * 100 = {fmt(v)}",))
        n, p, q = rng.randint(2, 30) * 400, rng.choice((5, 10, 15, 20, 25)), rng.choice((5, 10, 15, 20))
        after1 = Fraction(n * (100 + p), 100)
        v = after1 * Fraction(100 + q, 100)
        return Problem(f"A town has {n} people. Its population grows by {p}% in one year and by {q}% the next "
                       "year. How many people live there after the two years?", v,
                       (f"After one year: {n} * {100 + p}/100 = {fmt(after1)}",
                        f"After two years: {fmt(after1)} * {100 + q}/100 = {fmt(v)}"))


class ArithmeticSequence(Family):
    name, shape = "arithmetic_sequence", "scalar"
    summary = "nth terms and partial sums of arithmetic sequences"

    def sample(self, rng: random.Random, difficulty: str, domain: str | None) -> Problem:
        if difficulty == "basic":
            a, d = rng.randint(1, 9), rng.randint(1, 5)
            terms = ", ".join(str(a + i * d) for i in range(4))
            return Problem(f"What is the next term of the arithmetic sequence {terms}, ...?", Fraction(a + 4 * d),
                           (f"The common difference is {d}", f"The next term is {a + 3 * d} + {d} = {a + 4 * d}"))
        a, d, n = rng.randint(-20, 30), _nz(rng, -9, 12), rng.randint(8, 60)
        nth = a + (n - 1) * d
        terms = ", ".join(str(a + i * d) for i in range(4))
        if difficulty == "easy":
            return Problem(f"The first term of an arithmetic sequence is {a} and the common difference is {d}. "
                           f"What is term number {n}?", Fraction(nth),
                           (f"Term {n} = {a} + ({n} - 1) * {d} = {nth}",))
        if difficulty == "medium":
            return Problem(f"An arithmetic sequence begins {terms}, ... What is term number {n}?", Fraction(nth),
                           (f"The common difference is {d}", f"Term {n} = {a} + ({n} - 1) * {d} = {nth}"))
        total = Fraction(n * (a + nth), 2)
        return Problem(f"What is the sum of the first {n} terms of the arithmetic sequence {terms}, ...?", total,
                       (f"The common difference is {d} and term {n} is {a} + ({n} - 1) * {d} = {nth}",
                        f"Sum = {n} * ({a} + {nth}) / 2 = {fmt(total)}"))


FAMILIES: dict[str, Family] = {f.name: f for f in (Linear(), LinearSystem(), Quadratic(), FractionWord(),
                                                       PercentageWord(), ArithmeticSequence())}


# ---- the task ------------------------------------------------------------------------------

class MathParams(Params):
    samples: int = Field(3, ge=1, le=9, description="model solutions drawn per problem for cross-validation")
    few_shot: int = Field(4, ge=0, le=8, description="worked examples in a completion prompt")
    error_rate: float = Field(0.0, ge=0.0, le=1.0, description="procedural solver only: share of seeded slips")


SYSTEM = ("You are a careful mathematician. Solve the problem step by step, one step per line. "
          "Finish with a last line of the form 'Answer: <exact answer>'. Give fractions as a/b, never decimals "
          "that are rounded.")
HEADER = ("Solve each problem. Show the steps, then give the exact final answer on its own line starting "
          "with \"Answer:\".\n\n")
STOP = ("\nProblem:", "\n\n\n")


def _slip(rng: random.Random, truth: Value) -> Value:
    if isinstance(truth, Fraction):
        return truth + rng.choice((1, -1, 2))
    if isinstance(truth, tuple):
        return (truth[0], truth[1] + 1)
    roots = sorted(truth)
    return frozenset([roots[0] + 1, *roots[1:]])


class MathTask(Task):
    version = 3  # 2: divisions by a fraction written with parentheses, '(36/7) / (1/5)'; 3: the procedural
    # linear steps say "Subtract 3 from both sides" / "Add 3 to both sides" (they said "on both sides")
    solvers = ("procedural", "model")
    params_model = MathParams
    default_instructions = ("Solve the problem step by step and give the exact answer.",
                            "Work through the problem carefully, showing each step, and state the exact answer.")

    def __init__(self, family: Family) -> None:
        self.family = family
        self.name = f"math.{family.name}"  # type: ignore[misc]
        self.summary = family.summary  # type: ignore[misc]
        dims: dict[str, tuple[str, ...]] = {"difficulty": family.difficulties}
        if family.name == "linear":
            dims["domain"] = ()
        self.dimensions = dims  # type: ignore[misc]
        self.required_dimensions = ("difficulty",)  # type: ignore[misc]

    @property
    def shape(self) -> Shape:
        return self.family.shape

    @property
    def unknowns(self) -> tuple[str, ...]:
        return self.family.unknowns

    def problem(self, prompt: dict[str, Any], rng: random.Random) -> Problem:
        dims = prompt["dimensions"]
        difficulty = dims.get("difficulty", self.family.difficulties[0])
        if difficulty not in self.family.difficulties:
            raise PoisonRecord("invalid_record", f"{self.name}: unknown difficulty {difficulty!r}; "
                                                 f"expected one of {list(self.family.difficulties)}")
        return self.family.sample(rng, difficulty, dims.get("domain"))

    async def run(self, prompt: dict[str, Any], params: Any, model: PromptModel | None,
                  rng: random.Random) -> Output:
        if model is None and self.family.name == "linear" and \
                prompt["dimensions"].get("difficulty", "integer") in linear_core.DIFFICULTIES:
            return self._procedural_linear(prompt)
        problem = self.problem(prompt, rng)
        user = f"{prompt['instruction'].strip()}\n\n{problem.statement}"
        reference = self.family.show(problem.truth)
        if model is None:
            answer = _slip(rng, problem.truth) if rng.random() < params.error_rate else problem.truth
            text = self.family.show(answer)
            response = "\n".join([*problem.steps, f"Answer: {text}"])
            return Output(problem=user, response=response, answer=text, equation=problem.equation,
                          steps=list(problem.steps), reference_answer=reference)
        texts = await self._solve(model, prompt, problem, params)
        return self._vote(user, problem, reference, texts)

    def _procedural_linear(self, prompt: dict[str, Any]) -> Output:
        g = linear_core.generate(prompt)
        return Output(problem=g["problem"], response=g["response"], answer=g["answer"], equation=g["equation"],
                      steps=g["steps"], reference_answer=g["reference_answer"])

    def few_shot(self, prompt: dict[str, Any], k: int) -> str:
        """Worked examples from the same family and difficulty, fixed per (task, difficulty)."""
        dims = prompt["dimensions"]
        return self._few_shot(dims.get("difficulty", self.family.difficulties[0]), dims.get("domain"), k)

    @functools.lru_cache(maxsize=256)  # noqa: B019 - tasks live as long as the process
    def _few_shot(self, difficulty: str, domain: str | None, k: int) -> str:
        blocks = []
        fake = {"dimensions": {"difficulty": difficulty, **({"domain": domain} if domain else {})}}
        for i in range(k):
            ex_rng = random.Random(f"{self.name}:{difficulty}:example:{i}")
            ex = self.problem(fake, ex_rng)
            blocks.append(f"Problem: {ex.statement}\nSolution: {' '.join(s + '.' for s in ex.steps)}\n"
                          f"Answer: {self.family.show(ex.truth)}\n\n")
        return "".join(blocks)

    async def _solve(self, model: PromptModel, prompt: dict[str, Any], problem: Problem, params: Any) -> list[str]:
        k = params.samples
        per_request = max(1, min(k, model.choices_per_request))
        calls = -(-k // per_request)
        if model.api == "chat":
            messages = ({"role": "system", "content": SYSTEM},
                        {"role": "user", "content": f"{prompt['instruction'].strip()}\n\n{problem.statement}"})
            jobs = [model.complete(messages=messages, n=per_request) for _ in range(calls)]
        else:
            text = HEADER + self.few_shot(prompt, params.few_shot) + f"Problem: {problem.statement}\nSolution:"
            jobs = [model.complete(prompt=text, stop=STOP, n=per_request) for _ in range(calls)]
        replies = await asyncio.gather(*jobs)
        return [t for texts in replies for t in texts][:k]

    def _vote(self, user: str, problem: Problem, reference: str, texts: list[str]) -> Output:
        v = vote(texts, self.shape)
        if v.majority is None:
            return Output(problem=user, response=v.chosen, equation=problem.equation, reference_answer=reference,
                          samples=texts, sample_answers=v.answers,
                          parse_error=f"no sample has a readable final answer ({len(texts)} samples): {v.first_error}")
        return Output(problem=user, response=v.chosen, answer=self.family.show(v.values[v.majority]),
                      equation=problem.equation, steps=v.steps, reference_answer=reference, samples=texts,
                      sample_answers=v.answers)


MATH_TASKS = tuple(MathTask(f) for f in FAMILIES.values())

"""An OpenAI-compatible model client: adaptive concurrency, retries, timeouts, token accounting.

Works against anything that speaks the OpenAI HTTP API (vLLM, llama.cpp's server, Ollama,
OpenAI): chat models through ``/v1/chat/completions``, base models through ``/v1/completions``.
The SDK's own retries are off; this module owns them so that every attempt adapts the limit
and is counted. After the last attempt the caller gets a :class:`BackendFailure`, which the
generation agent turns into a dead letter carrying the backend's error.

Requests go through the SDK's generic ``post`` with the JSON body as the API defines it and the
answer as plain JSON (``cast_to=object``), over the SDK's aiohttp transport by default: the
typed ``create`` methods walk every parameter through the SDK's type transform and build
pydantic models of the answer, which with httpx cost about twice the CPU per request
(docs/BENCHMARKS.md, "2026-12-07: the accepted record is the outcome, a lighter model client"). The SDK still builds the URL, authenticates and
raises its own error types, which :func:`classify` reads.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import time
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Literal

import aiohttp
import openai

from synthstream.agents.generation.backends.limiter import AdaptiveLimiter, AimdPolicy, backoff_delay
from synthstream.streams.runtime.errors import PoisonRecord

logger = logging.getLogger(__name__)

Api = Literal["chat", "completion"]


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 256
    seed: int | None = None
    n: int = 1
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelRequest:
    """One call: chat ``messages`` or a completion ``prompt``, never both."""

    task: str
    api: Api
    sampling: Sampling
    model: str | None = None  # None: the client's default model
    messages: tuple[dict[str, str], ...] = ()
    prompt: str = ""
    response_format: dict[str, Any] | None = None  # chat only: e.g. a JSON schema the server enforces


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    attempts: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0

    def add(self, other: "Usage") -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.requests += other.requests
        self.attempts += other.attempts
        self.latency_s += other.latency_s
        self.cost_usd += other.cost_usd


@dataclass
class ModelReply:
    texts: list[str]
    finish_reasons: list[str]
    model: str
    usage: Usage = field(default_factory=Usage)


class BackendFailure(PoisonRecord):
    """The backend could not serve a request; the agent dead-letters the prompt with this."""


@dataclass(frozen=True)
class _Attempt:
    kind: str  # ok | overload | transient | permanent
    detail: str
    retry_after: float | None = None


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    model: str
    api_key: str = "not-needed"
    model_override: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 6
    floor: int = 1
    ceiling: int = 32
    initial: int = 8
    backoff_base_s: float = 0.25
    backoff_max_s: float = 20.0
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0
    http: Literal["aiohttp", "httpx"] = "aiohttp"  # the SDK's HTTP transport


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it, outermost first."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain and len(chain) < 16:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return chain


def _dropped(chain: list[BaseException]) -> BaseException | None:
    """The server hung up (not a timeout): the SDK's aiohttp transport reports that as httpx's
    ConnectTimeout, so the SDK calls it a timeout; the aiohttp error under it says what it was."""
    for link in chain:
        if isinstance(link, aiohttp.ClientConnectionError) and not isinstance(link, TimeoutError):
            return link
    return None


def classify(exc: BaseException) -> _Attempt:
    """Which failures shrink the limit, which are retried, which are final."""
    if isinstance(exc, (openai.APIConnectionError, asyncio.TimeoutError)):  # APITimeoutError is one too
        chain = _causes(exc)
        dropped = _dropped(chain)
        if dropped is not None:
            return _Attempt("transient", f"connection: {type(dropped).__name__}: {_short(str(dropped))}")
        if isinstance(exc, (openai.APITimeoutError, asyncio.TimeoutError)) \
                or any(isinstance(link, TimeoutError) for link in chain):
            return _Attempt("overload", "timeout")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = f"HTTP {status}: {_short(exc.message)}"
        retry_after = parse_retry_after(exc.response.headers if exc.response is not None else None)
        if status in (429, 503):
            return _Attempt("overload", detail, retry_after)
        if status >= 500 or status in (408, 409):
            return _Attempt("transient", detail, retry_after)
        return _Attempt("permanent", detail)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return _Attempt("transient", f"connection: {type(cause).__name__}: {_short(str(cause))}")
    # malformed JSON, a body that is not a completion, ...: the server glitched; try again
    return _Attempt("transient", f"bad response: {type(exc).__name__}: {_short(str(exc))}")


PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _valid_count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class ModelClient:
    """Shared by every generation actor of a worker: one HTTP pool, one adaptive limit."""

    def __init__(self, config: ClientConfig, metrics: Any = None, *, rng: random.Random | None = None,
                 sleep: Any = asyncio.sleep) -> None:
        self.config = config
        self.metrics = metrics
        self._rng = rng or random.Random()
        self._series: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._sleep = sleep
        policy = AimdPolicy(floor=config.floor, ceiling=config.ceiling, initial=config.initial)
        gauge = metrics.llm_concurrency.labels(config.model) if metrics is not None else None
        self.limiter = AdaptiveLimiter(policy, on_change=(gauge.set if gauge is not None else None))
        self._schema_as_json_object = False  # the server refused json_schema: send json_object + schema
        proxies = [v for v in PROXY_VARIABLES if os.environ.get(v)]  # honoured by httpx, not by aiohttp's transport
        self.http = "httpx" if config.http == "httpx" or proxies else "aiohttp"
        if self.http != config.http:
            logger.info("a proxy is set in the environment (%s): the model client uses the SDK's httpx transport, "
                        "which honours it, instead of aiohttp", ", ".join(proxies))
        transport = {"http_client": openai.DefaultAioHttpClient(timeout=config.timeout_s)} \
            if self.http == "aiohttp" else {}
        self._client = openai.AsyncOpenAI(
            base_url=config.base_url, api_key=config.api_key or "not-needed", max_retries=0,
            timeout=config.timeout_s, **transport)

    async def close(self) -> None:
        await self._client.close()

    async def complete(self, request: ModelRequest) -> ModelReply:
        """Serve one request, retrying what can be retried; BackendFailure when it cannot."""
        last: _Attempt | None = None
        for attempt in range(self.config.max_retries + 1):
            async with self.limiter.slot() as slot:
                started = time.perf_counter()
                try:
                    reply = await self._call(request)
                except Exception as exc:  # every failure is classified; none escapes unaccounted
                    last = classify(exc)
                    elapsed = time.perf_counter() - started
                    self._observe_failure(request, last, elapsed)
                    if last.kind == "overload":
                        slot.overload(last.retry_after)
                else:
                    elapsed = time.perf_counter() - started
                    slot.success()
                    reply.usage.attempts = attempt + 1
                    reply.usage.latency_s = elapsed
                    self._observe_success(request, reply, elapsed)
                    return reply
            if last.kind == "permanent":
                raise BackendFailure("backend_rejected", f"{self._model(request)}: {last.detail}")
            if attempt < self.config.max_retries:
                delay = backoff_delay(attempt, self.config.backoff_base_s, self.config.backoff_max_s,
                                      self._rng, last.retry_after)
                if self.metrics is not None:
                    self.metrics.llm_retries.labels(self._model(request), last.kind).inc()
                await self._sleep(delay)
        assert last is not None
        raise BackendFailure("backend_exhausted",
                             f"{self._model(request)}: gave up after {self.config.max_retries + 1} attempts; "
                             f"last error: {last.detail}")

    async def _call(self, request: ModelRequest) -> ModelReply:
        s = request.sampling
        body: dict[str, Any] = {
            "model": self._model(request), "temperature": s.temperature, "top_p": s.top_p,
            "max_tokens": s.max_tokens, "n": s.n,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if s.stop:
            body["stop"] = list(s.stop)
        if request.api == "chat":
            body["messages"] = list(request.messages)
            fmt = request.response_format
            if fmt is not None:
                body["response_format"] = self._format(fmt)
            try:
                resp = await self._post("/chat/completions", body)
            except openai.APIError as exc:
                if fmt is None or fmt.get("type") != "json_schema" or self._schema_as_json_object \
                        or not refuses_json_schema(exc):
                    raise
                self._schema_as_json_object = True  # llama.cpp's form, from now on; its grammar still holds
                logger.warning("the model server at %s does not take response_format json_schema; sending the "
                               "schema as {type: json_object, schema} (llama-cpp-python's form) from now on",
                               self.config.base_url)
                body["response_format"] = self._format(fmt)
                resp = await self._post("/chat/completions", body)
            choices = _choices(resp)
            texts = [_text(c.get("message"), "content") for c in choices]
        else:
            body["prompt"] = request.prompt
            resp = await self._post("/completions", body)
            choices = _choices(resp)
            texts = [_text(c, "text") for c in choices]
        usage = Usage(requests=1)
        raw = resp.get("usage")
        raw = raw if isinstance(raw, dict) else {}
        prompt_tokens = _valid_count(raw.get("prompt_tokens"))
        completion_tokens = _valid_count(raw.get("completion_tokens"))
        if prompt_tokens is None or completion_tokens is None:
            if self.metrics is not None:
                self.metrics.llm_usage_invalid.labels(self._model(request)).inc()
            logger.debug("backend returned no usable usage: %r", raw)
        else:
            usage.prompt_tokens, usage.completion_tokens = prompt_tokens, completion_tokens
        usage.cost_usd = (usage.prompt_tokens * self.config.price_input_per_mtok
                          + usage.completion_tokens * self.config.price_output_per_mtok) / 1_000_000
        return ModelReply(texts=texts, finish_reasons=[str(c.get("finish_reason") or "") for c in choices],
                          model=str(resp.get("model") or self._model(request)), usage=usage)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The answer to one request as plain JSON; the SDK raises its errors for HTTP failures."""
        resp = await self._client.post(path, cast_to=object, body=body)
        if not isinstance(resp, dict):
            raise ValueError(f"response is not a JSON object: {_short(repr(resp), 200)}")
        return resp

    def _format(self, fmt: dict[str, Any]) -> dict[str, Any]:
        """``response_format`` as this server takes it: OpenAI's and vLLM's json_schema, or, for a
        server that refused that, json_object with the schema (llama-cpp-python's)."""
        if self._schema_as_json_object and fmt.get("type") == "json_schema":
            return {"type": "json_object", "schema": (fmt.get("json_schema") or {}).get("schema", {})}
        return fmt

    def _model(self, request: ModelRequest) -> str:
        """The worker's SYNTHSTREAM_LLM_MODEL wins over the spec's model name."""
        return self.config.model_override or request.model or self.config.model

    def _observe_success(self, request: ModelRequest, reply: ModelReply, elapsed: float) -> None:
        if self.metrics is None:
            return
        key = (self._model(request), request.task)
        series = self._series.get(key)
        if series is None:  # label lookups take a lock; do them once per (model, task)
            m, (model, task) = self.metrics, key
            series = self._series[key] = (
                m.llm_requests.labels(model, task, "ok"), m.llm_latency.labels(model, task),
                m.llm_tokens.labels(model, task, "prompt"), m.llm_tokens.labels(model, task, "completion"),
                m.llm_cost.labels(model, task))
        ok, latency, prompt_tokens, completion_tokens, cost = series
        ok.inc()
        latency.observe(elapsed)
        prompt_tokens.inc(reply.usage.prompt_tokens)
        completion_tokens.inc(reply.usage.completion_tokens)
        cost.inc(reply.usage.cost_usd)

    def _observe_failure(self, request: ModelRequest, attempt: _Attempt, elapsed: float) -> None:
        logger.info("model request failed (%s): %s", attempt.kind, attempt.detail)
        if self.metrics is not None:
            model = self._model(request)
            self.metrics.llm_requests.labels(model, request.task, attempt.kind).inc()
            self.metrics.llm_latency.labels(model, request.task).observe(elapsed)


def refuses_json_schema(exc: BaseException) -> bool:
    """The server's error says it does not take response_format json_schema (llama-cpp-python:
    HTTP 500 "Input should be 'text' or 'json_object'")."""
    text = str(getattr(exc, "message", "") or exc)
    return "json_object" in text or ("response_format" in text and "json_schema" in text)


def _choices(resp: dict[str, Any]) -> list[dict[str, Any]]:
    choices = resp.get("choices")
    if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
        raise ValueError(f"response has no choices: {_short(repr(resp), 200)}")
    return choices


def _text(part: Any, key: str) -> str:
    """A choice's text (``text``, or its message's ``content``); "" when the server sent none."""
    value = part.get(key) if isinstance(part, dict) else None
    if value is not None and not isinstance(value, str):
        raise ValueError(f"a choice's {key} is not a string: {_short(repr(value), 200)}")
    return value or ""

"""Real HTTP, scripted faults: latency, 429 storms (with and without Retry-After), 500s,
timeouts, malformed JSON, truncated bodies, dropped connections, wrong ``usage``, and an
overload mode that answers 429 whenever more than ``capacity`` requests are in flight.

Use in-process (a thread with its own event loop) from tests::

    with FakeLLM() as llm:
        llm.add(Fault("429", times=20, retry_after="0.1"))
        ... AsyncOpenAI(base_url=llm.url) ...

or as a process for benchmarks: ``python -m tests.fakellm --latency-ms 50`` prints its URL.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Responder = Callable[[str, dict[str, Any]], str]


@dataclass
class Fault:
    """What the next ``times`` requests get (``times=None``: until cleared)."""

    kind: str  # "429" | "503" | "500" | "400" | "timeout" | "malformed" | "truncated" | "drop" | "bad_usage" | "no_usage"
    times: int | None = 1
    retry_after: str | None = None
    delay_s: float = 0.0


def default_responder(api: str, body: dict[str, Any]) -> str:
    """Deterministic text that depends on the request, so tests can tell replies apart."""
    text = body.get("prompt") if api == "completion" else json.dumps(body.get("messages"))
    return f"Reply to {len(str(text))} chars.\nAnswer: 42"


class FakeLLM:
    def __init__(self, *, latency_s: float = 0.0, capacity: int | None = None,
                 responder: Responder = default_responder, model: str = "fake-model",
                 response_formats: tuple[str, ...] | None = None) -> None:
        self.latency_s = latency_s
        #: the response_format types the chat endpoint takes (None: any); another one is refused as
        #: llama-cpp-python's server refuses json_schema: HTTP 500, a validation message
        self.response_formats = response_formats
        self.capacity = capacity
        self.capacity_retry_after: str | None = None
        self.responder = responder
        self.model = model
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.outcomes: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- control -------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def _next_fault(self) -> Fault | None:
        with self._lock:
            while self.faults:
                fault = self.faults[0]
                if fault.times is None:
                    return fault
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.pop(0)
                    return fault
                self.faults.pop(0)
            return None

    # ---- HTTP ------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completion)
        app.router.add_get("/v1/models", self._models)
        return app

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "chat")

    async def _completion(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "completion")

    async def _serve(self, request: web.Request, api: str) -> web.StreamResponse:
        body = await request.json()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            with self._lock:
                self.requests.append({"api": api, "body": body, "at": time.monotonic()})
            if self.capacity is not None and self.in_flight > self.capacity:
                self.outcomes["429_capacity"] += 1
                headers = {"Retry-After": self.capacity_retry_after} if self.capacity_retry_after else {}
                return web.json_response({"error": {"message": "over capacity", "type": "rate_limit"}},
                                         status=429, headers=headers)
            fmt = (body.get("response_format") or {}).get("type") if api == "chat" else None
            if fmt is not None and self.response_formats is not None and fmt not in self.response_formats:
                self.outcomes["format_refused"] += 1
                allowed = " or ".join(repr(f) for f in self.response_formats)
                return web.json_response({"error": {"message": f"1 validation error: {{'type': 'literal_error', 'loc': "
                                                               f"('body', 'response_format', 'type'), 'msg': \"Input "
                                                               f"should be {allowed}\", 'input': {fmt!r}}}",
                                                    "type": "internal_server_error"}}, status=500)
            fault = self._next_fault()
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            if fault is not None:
                response = await self._fault(request, fault)
                if response is not None:
                    self.outcomes[fault.kind] += 1
                    return response
            self.outcomes["ok"] += 1
            return web.json_response(self._completion_body(api, body, fault))
        finally:
            self.in_flight -= 1

    def _completion_body(self, api: str, body: dict[str, Any], fault: Fault | None) -> dict[str, Any]:
        n = int(body.get("n") or 1)
        choices = []
        for i in range(n):
            text = self.responder(api, body)
            if api == "chat":
                choices.append({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"})
            else:
                choices.append({"index": i, "text": text, "finish_reason": "stop", "logprobs": None})
        prompt_chars = len(json.dumps(body.get("messages") or body.get("prompt") or ""))
        usage: dict[str, Any] | None = {"prompt_tokens": prompt_chars // 4, "completion_tokens": 8 * n,
                                        "total_tokens": prompt_chars // 4 + 8 * n}
        if fault is not None and fault.kind == "bad_usage":
            usage = {"prompt_tokens": -3, "completion_tokens": "many", "total_tokens": None}
        if fault is not None and fault.kind == "no_usage":
            usage = None
        out: dict[str, Any] = {
            "id": f"cmpl-{len(self.requests)}", "object": "chat.completion" if api == "chat" else "text_completion",
            "created": int(time.time()), "model": self.model, "choices": choices,
        }
        if usage is not None:
            out["usage"] = usage
        return out

    async def _fault(self, request: web.Request, fault: Fault) -> web.StreamResponse | None:
        kind = fault.kind
        if kind in ("429", "503", "500", "400"):
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return web.json_response({"error": {"message": f"injected {kind}", "type": "injected"}},
                                     status=int(kind), headers=headers)
        if kind == "timeout":
            await asyncio.sleep(fault.delay_s or 30.0)
            return None  # if the client is still there, it gets a normal answer
        if kind == "malformed":
            return web.Response(text='{"id": "x", "choices": [{"text": ', content_type="application/json")
        if kind in ("truncated", "drop"):
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            if kind == "truncated":
                response.content_length = 4096
                await response.prepare(request)
                await response.write(b'{"id": "cmpl-trunc", "choices": [{"text": "Answer: 4')
            if request.transport is not None:
                request.transport.close()
            return response
        if kind in ("bad_usage", "no_usage"):
            return None  # handled in the body
        raise ValueError(f"unknown fault {kind!r}")

    # ---- lifecycle -------------------------------------------------------------------
    def start(self, port: int = 0) -> "FakeLLM":
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._runner = web.AppRunner(self.app(), access_log=None)
                loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, "127.0.0.1", port)
                loop.run_until_complete(site.start())
                self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            except BaseException as exc:  # surfaced to the caller below
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fakellm", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake LLM server did not start within 10 s")
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> "FakeLLM":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""The model client against a real HTTP server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from synthstream.agents.generation.backends.client import (BackendFailure, ClientConfig, ModelClient, ModelRequest, Sampling,
                                               parse_retry_after)
from synthstream.streams.runtime.metrics import Metrics
from tests.fakellm import FakeLLM, Fault

TASK = "math.linear"


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


TRANSPORT = ["aiohttp"]


@pytest.fixture(autouse=True, params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test runs over both of the SDK's HTTP transports (SYNTHSTREAM_LLM_HTTP_CLIENT): they
    report the same failures differently (aiohttp's dropped connection comes as a timeout)."""
    TRANSPORT[0] = request.param
    yield request.param
    TRANSPORT[0] = "aiohttp"


def make_client(llm: FakeLLM, **overrides: object) -> tuple[ModelClient, Metrics]:
    metrics = Metrics(CollectorRegistry(), tasks=(TASK,))
    metrics.register_model("fake-model")
    config = dict(base_url=llm.url, model="fake-model", timeout_s=2.0, max_retries=8, ceiling=16, initial=8,
                  backoff_base_s=0.01, backoff_max_s=0.2, http=TRANSPORT[0])
    config.update(overrides)
    return ModelClient(ClientConfig(**config), metrics), metrics  # type: ignore[arg-type]


def request(i: int = 0, api: str = "completion") -> ModelRequest:
    return ModelRequest(task=TASK, api=api, sampling=Sampling(seed=i, max_tokens=16),  # type: ignore[arg-type]
                        prompt=f"Q{i}:" if api == "completion" else "",
                        messages=({"role": "user", "content": f"Q{i}"},) if api == "chat" else ())


def run_many(client: ModelClient, n: int, api: str = "completion") -> list[object]:
    async def main() -> list[object]:
        try:
            return await asyncio.gather(*(client.complete(request(i, api)) for i in range(n)), return_exceptions=True)
        finally:
            await client.close()
    return asyncio.run(main())


def value(metrics: Metrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


@pytest.mark.parametrize("api", ["completion", "chat"])
def test_plain_requests_return_text_and_usage(llm: FakeLLM, api: str) -> None:
    client, metrics = make_client(llm)
    replies = run_many(client, 5, api)
    assert all(not isinstance(r, BaseException) for r in replies)
    assert all(r.texts == [r.texts[0]] and r.texts[0].endswith("Answer: 42") for r in replies)  # type: ignore[attr-defined]
    assert value(metrics, "synthstream_llm_tokens_total", model="fake-model", task=TASK, kind="completion") == 40
    assert value(metrics, "synthstream_llm_requests_total", model="fake-model", task=TASK, outcome="ok") == 5
    assert len(llm.requests) == 5
    assert {r["api"] for r in llm.requests} == {api}


@pytest.mark.parametrize("retry_after", ["0.05", None])
def test_429_storm_loses_nothing_and_shrinks_the_limit(llm: FakeLLM, retry_after: str | None) -> None:
    llm.add(Fault("429", times=40, retry_after=retry_after))
    client, metrics = make_client(llm, initial=16)
    replies = run_many(client, 30)
    assert [type(r).__name__ for r in replies] == ["ModelReply"] * 30
    assert llm.outcomes["429"] == 40 and llm.outcomes["ok"] == 30
    assert client.limiter.limit < 16
    assert value(metrics, "synthstream_llm_retries_total", model="fake-model", kind="overload") == 40
    assert value(metrics, "synthstream_llm_concurrency_limit", model="fake-model") == client.limiter.limit


def test_limit_shrinks_under_overload_and_recovers_after(llm: FakeLLM) -> None:
    llm.capacity = 3
    client, _ = make_client(llm, ceiling=32, initial=24)
    llm.latency_s = 0.01

    async def main() -> tuple[float, float, list[object], list[object]]:
        try:
            first = await asyncio.gather(*(client.complete(request(i)) for i in range(150)), return_exceptions=True)
            squeezed = client.limiter.limit
            llm.capacity = None
            second = await asyncio.gather(*(client.complete(request(i)) for i in range(400)), return_exceptions=True)
            return squeezed, client.limiter.limit, first, second
        finally:
            await client.close()

    squeezed, recovered, first, second = asyncio.run(main())
    assert all(not isinstance(r, BaseException) for r in first + second)
    assert squeezed <= 6, squeezed
    assert recovered > squeezed + 5, (squeezed, recovered)


def test_server_errors_are_retried(llm: FakeLLM) -> None:
    llm.add(Fault("500", times=2))
    client, metrics = make_client(llm)
    reply = run_many(client, 1)[0]
    assert reply.usage.attempts == 3  # type: ignore[attr-defined]
    assert value(metrics, "synthstream_llm_retries_total", model="fake-model", kind="transient") == 2


def test_timeouts_are_retried_and_shrink_the_limit(llm: FakeLLM) -> None:
    llm.add(Fault("timeout", times=1, delay_s=3.0))
    client, metrics = make_client(llm, timeout_s=0.3, initial=8)
    reply = run_many(client, 1)[0]
    assert reply.usage.attempts == 2  # type: ignore[attr-defined]
    assert client.limiter.limit < 8
    assert value(metrics, "synthstream_llm_requests_total", model="fake-model", task=TASK, outcome="overload") == 1


@pytest.mark.parametrize("kind", ["malformed", "truncated", "drop"])
def test_broken_responses_are_retried(llm: FakeLLM, kind: str) -> None:
    llm.add(Fault(kind, times=2))
    client, _ = make_client(llm)
    reply = run_many(client, 1)[0]
    assert not isinstance(reply, BaseException), reply
    assert reply.usage.attempts == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind,expect", [("malformed", "bad response"), ("500", "HTTP 500"), ("429", "HTTP 429"),
                                         ("drop", "connection")])
def test_persistent_failure_ends_in_a_backend_failure_with_the_error(llm: FakeLLM, kind: str, expect: str) -> None:
    llm.add(Fault(kind, times=None))
    client, _ = make_client(llm, max_retries=2)
    failure = run_many(client, 1)[0]
    assert isinstance(failure, BackendFailure)
    assert failure.reason == "backend_exhausted"
    assert expect in failure.detail and "3 attempts" in failure.detail
    assert len(llm.requests) == 3


def test_client_errors_are_not_retried(llm: FakeLLM) -> None:
    llm.add(Fault("400", times=None))
    client, _ = make_client(llm)
    failure = run_many(client, 1)[0]
    assert isinstance(failure, BackendFailure) and failure.reason == "backend_rejected"
    assert "HTTP 400" in failure.detail
    assert len(llm.requests) == 1


@pytest.mark.parametrize("kind", ["bad_usage", "no_usage"])
def test_wrong_usage_is_counted_not_trusted(llm: FakeLLM, kind: str) -> None:
    llm.add(Fault(kind, times=1))
    client, metrics = make_client(llm)
    reply = run_many(client, 1)[0]
    assert reply.usage.prompt_tokens == 0 and reply.usage.completion_tokens == 0  # type: ignore[attr-defined]
    assert value(metrics, "synthstream_llm_usage_invalid_total", model="fake-model") == 1


def test_cost_comes_from_usage_and_the_price(llm: FakeLLM) -> None:
    client, metrics = make_client(llm, price_input_per_mtok=2.0, price_output_per_mtok=10.0)
    reply = run_many(client, 1)[0]
    usage = reply.usage  # type: ignore[attr-defined]
    expected = (usage.prompt_tokens * 2.0 + usage.completion_tokens * 10.0) / 1e6
    assert usage.cost_usd == pytest.approx(expected) and expected > 0
    assert value(metrics, "synthstream_llm_cost_usd_total", model="fake-model", task=TASK) == pytest.approx(expected)


def test_api_key_never_reaches_metrics_or_errors(llm: FakeLLM) -> None:
    llm.add(Fault("400", times=None))
    client, metrics = make_client(llm, api_key="sk-canary-123")
    failure = run_many(client, 1)[0]
    from prometheus_client import generate_latest
    assert "sk-canary-123" not in str(failure) and b"sk-canary-123" not in generate_latest(metrics.registry)


def test_retry_after_forms() -> None:
    # the SDK's headers are case-insensitive and are read in lower case
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "150"}) == 0.15
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_a_server_that_refuses_json_schema_gets_the_schema_as_json_object() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    structured = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": False}}

    def ask(i: int) -> ModelRequest:
        return ModelRequest(task=TASK, api="chat", sampling=Sampling(seed=i, max_tokens=16),  # type: ignore[arg-type]
                            messages=({"role": "user", "content": f"Q{i}"},), response_format=structured)

    with FakeLLM(response_formats=("text", "json_object")) as server:  # what llama-cpp-python's server takes
        client, metrics = make_client(server)

        async def main() -> list[object]:
            try:
                return [await client.complete(ask(i)) for i in range(3)]
            finally:
                await client.close()

        replies = asyncio.run(main())
        sent = [r["body"]["response_format"] for r in server.requests]
    assert all(r.texts[0].endswith("Answer: 42") for r in replies)  # type: ignore[attr-defined]
    assert server.outcomes["format_refused"] == 1 and len(sent) == 4  # refused once, then json_object every time
    assert sent[0] == structured and sent[1:] == [{"type": "json_object", "schema": schema}] * 3
    assert value(metrics, "synthstream_llm_retries_total", model="fake-model", kind="transient") == 0
    with FakeLLM(response_formats=("text",)) as server:  # a server that takes no schema at all: the error stands
        client, _ = make_client(server, max_retries=0)

        async def refused() -> None:
            try:
                await client.complete(ask(0))
            finally:
                await client.close()

        with pytest.raises(BackendFailure):
            asyncio.run(refused())


def test_a_proxy_in_the_environment_keeps_the_sdks_httpx_transport(llm: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp's transport would ignore HTTPS_PROXY; httpx honours it (and NO_PROXY, so the local
    test server is still reached directly)."""
    client, _ = make_client(llm, http="aiohttp")
    assert client.http == "aiohttp"
    asyncio.run(client.close())
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    client, _ = make_client(llm, http="aiohttp")
    assert client.http == "httpx"
    reply = run_many(client, 1)[0]
    assert not isinstance(reply, BaseException), reply

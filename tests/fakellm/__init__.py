"""A fault-injecting OpenAI-compatible HTTP server for tests and benchmarks (127.0.0.1 only)."""

from tests.fakellm.server import FakeLLM, Fault

__all__ = ["FakeLLM", "Fault"]

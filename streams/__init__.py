"""synthstream: a streaming factory for verified synthetic LLM training data."""

__version__ = "0.1.0"

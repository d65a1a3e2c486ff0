"""Sentence embeddings on CPU (all-MiniLM-L6-v2, int8 ONNX): the model and the per-worker service."""

from synthstream.agents.semantic.service import EmbeddingService, Unavailable, start

__all__ = ["EmbeddingService", "Unavailable", "start"]

"""One embedding service per worker: batches, a cache by text hash, and an honest "unavailable".

``EmbeddingService.embed(texts)`` returns unit vectors for every text; texts seen before come
from an LRU cache keyed by the xxhash of the text (a dialogue's topic description, a passage's
evidence sentence and repeated turns are embedded once); the rest go to the model in batches of
``batch`` texts. When the model could not be loaded the service is *unavailable*: ``embed``
raises :class:`Unavailable` with the reason, and the semantic validators abstain (never pass).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import xxhash

from synthstream.agents.semantic.model import DIM, ModelUnavailable

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    model_id: str

    def embed(self, texts: list[str]) -> np.ndarray: ...


class Unavailable(RuntimeError):
    """No embedding model in this process; the message is why."""


class EmbeddingService:
    def __init__(self, embedder: Embedder | None, why: str = "", batch: int = 32, cache_size: int = 50_000,
                 on_embed: Callable[[int, int], None] | None = None) -> None:
        self.embedder = embedder
        self.why = why or ("" if embedder is not None else "no embedding model was given")
        self.batch = max(1, batch)
        self.cache_size = cache_size
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()
        self.on_embed = on_embed  # (cache hits, texts the model embedded) per call, for the metrics

    @property
    def available(self) -> bool:
        return self.embedder is not None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, shape (len(texts), 384), in order."""
        if self.embedder is None:
            raise Unavailable(self.why)
        keys = [xxhash.xxh3_64_intdigest(t.encode()) for t in texts]
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        missing: dict[int, list[int]] = {}
        with self.lock:
            for i, key in enumerate(keys):
                vec = self.cache.get(key)
                if vec is None:
                    missing.setdefault(key, []).append(i)
                else:
                    self.cache.move_to_end(key)
                    out[i] = vec
        # batched by length: a batch is padded to its longest text, so like lengths go together
        todo = sorted(missing, key=lambda k: len(texts[missing[k][0]]))
        for start in range(0, len(todo), self.batch):
            chunk = todo[start:start + self.batch]
            vectors = self.embedder.embed([texts[missing[k][0]] for k in chunk])
            with self.lock:
                for key, vec in zip(chunk, vectors):
                    for i in missing[key]:
                        out[i] = vec
                    self.cache[key] = vec
                    if len(self.cache) > self.cache_size:
                        self.cache.popitem(last=False)
        if self.on_embed is not None:
            self.on_embed(len(texts) - len(todo), len(todo))  # from the cache (or a repeat in this call), model
        return out


def start(enabled: bool = True, model_path=None, tokenizer_path=None, threads: int | None = None, batch: int = 32,
          cache_size: int = 50_000, on_embed: Callable[[int, int], None] | None = None) -> EmbeddingService:
    """The service for this process: the model loaded, or unavailable with the reason logged once,
    at start, as a warning that says what to do."""
    if not enabled:
        return EmbeddingService(None, "the semantic model is switched off (SYNTHSTREAM_VERIFY_SEMANTIC=false)",
                                batch, cache_size, on_embed)
    from synthstream.agents.semantic import model

    try:
        embedder = model.load(model_path, tokenizer_path, threads)
    except ModelUnavailable as exc:
        logger.warning("the semantic model is unavailable: %s. The semantic validators will abstain (dialogue and QA "
                       "records are then judged on form only); synthstream_semantic_model_loaded is 0.", exc)
        return EmbeddingService(None, str(exc), batch, cache_size, on_embed)
    return EmbeddingService(embedder, "", batch, cache_size, on_embed)

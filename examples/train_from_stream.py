"""Train from the live stream: accepted records -> datasets.IterableDataset -> a training loop.

    python examples/train_from_stream.py --bootstrap 127.0.0.1:9092 --dataset demo [--follow]
    python examples/train_from_stream.py --dataset demo --since demo@v1 --limit 100

Each row is printed as one JSON line (id, task, the chat text); the "training step" only counts
characters, so nothing beyond ``datasets`` is needed: put your trainer's step where it is. With
``--follow`` the loop keeps training on records as the pipeline accepts them (Ctrl-C stops it);
without, it stops at the records there were when it started. See docs/client.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from typing import Any

from synthstream.streams.app.client import DEFAULT_PREFIX, as_hf_iterable


def chat_text(row: dict[str, Any]) -> dict[str, Any]:
    """The text a causal LM trains on; a real trainer would apply its tokenizer's chat template."""
    return {"text": "\n".join(f"<|{m['role']}|> {m['content']}" for m in row["messages"])}


def train_step(batch: list[dict[str, Any]]) -> float:
    """Stands in for forward/backward/optimizer.step(): returns a made-up 'loss'."""
    return 1.0 / (1 + sum(len(r["text"]) for r in batch))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("SYNTHSTREAM_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--dataset", required=True, help="keep only this data set's records (lineage.dataset)")
    parser.add_argument("--prefix", default=os.environ.get("SYNTHSTREAM_TOPIC_PREFIX", DEFAULT_PREFIX))
    parser.add_argument("--since", default="beginning", help="beginning, end, or a version tag NAME@VERSION")
    parser.add_argument("--follow", action="store_true", help="keep reading new records until stopped")
    parser.add_argument("--idle-timeout", type=float, default=None, help="with --follow: stop after this many "
                        "seconds without a new record")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", type=int, default=None, help="stop after this many rows")
    args = parser.parse_args(argv)

    ds = as_hf_iterable(args.bootstrap, dataset=args.dataset, prefix=args.prefix, since=args.since,
                        follow=args.follow, idle_timeout_s=args.idle_timeout)
    ds = ds.map(chat_text)  # lazy, row by row, as the stream delivers them
    rows = iter(ds) if args.limit is None else itertools.islice(ds, args.limit)
    seen = 0
    try:
        for step in itertools.count(1):
            batch = list(itertools.islice(rows, args.batch_size))
            if not batch:
                break
            for row in batch:
                print(json.dumps({"id": row["id"], "task": row["task"], "text": row["text"]}, ensure_ascii=False),
                      flush=True)
            seen += len(batch)
            print(f"step {step}: {len(batch)} rows, loss {train_step(batch):.6f}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    print(f"{seen} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

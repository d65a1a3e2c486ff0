"""Local snapshots of one partition's dedup index, so a restart replays only the log's tail.

A snapshot holds the kept records, their band keys (so nothing is re-hashed on load), the
embeddings of the records in the semantic tier (float16, so nothing is re-embedded on load) and
the changelog offset it covers: every changelog entry below ``read_to`` is in it. It is a plain
``.npz`` (arrays of numbers and bytes; loaded with ``allow_pickle=False``), written to a
temporary file and renamed, so a crash mid-write leaves the previous snapshot. A snapshot made
with other LSH parameters, or one that claims more of the log than the log holds (the topic was
recreated), is ignored and the partition is replayed from the start. Version 1 snapshots
(before the semantic tier) still load: their records have no embeddings.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np

from synthstream.agents.dedup.core import IndexEntry
from synthstream.agents.dedup.minhash import LshParams

logger = logging.getLogger(__name__)
VERSION = 2
READABLE = (1, 2)
DIM = 384


@dataclass
class Snapshot:
    entries: list[IndexEntry]
    keys: np.ndarray
    read_to: int
    rows: np.ndarray  # indices of the entries with an embedding
    vectors: np.ndarray  # their embeddings, float16, rows x 384


def _bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def write(path: Path, entries: list[IndexEntry], keys: np.ndarray, read_to: int, lsh: LshParams,
          rows: np.ndarray | None = None, vectors: np.ndarray | None = None) -> None:
    meta = {"version": VERSION, "read_to": read_to, "lsh": list(astuple(lsh)), "count": len(entries)}
    table = json.dumps([astuple(e) for e in entries], ensure_ascii=False).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as fh:
        np.savez(fh, meta=_bytes(json.dumps(meta).encode()), entries=_bytes(zlib.compress(table, 1)),
                 keys=np.ascontiguousarray(keys, dtype=np.uint64),
                 rows=np.zeros(0, dtype=np.int64) if rows is None else np.ascontiguousarray(rows, dtype=np.int64),
                 vectors=np.zeros((0, DIM), dtype=np.float16) if vectors is None
                 else np.ascontiguousarray(vectors, dtype=np.float16))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read(path: Path, lsh: LshParams) -> Snapshot | None:
    """The snapshot at ``path``, or None when there is none or it cannot be used (logged)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes())
            if meta.get("version") not in READABLE or meta.get("lsh") != list(astuple(lsh)):
                logger.info("dedup snapshot %s was made with other parameters; replaying the log instead", path)
                return None
            table = json.loads(zlib.decompress(data["entries"].tobytes()))
            keys = data["keys"].copy()
            rows = data["rows"].copy() if "rows" in data else np.zeros(0, dtype=np.int64)
            vectors = data["vectors"].copy() if "vectors" in data else np.zeros((0, DIM), dtype=np.float16)
    except (OSError, ValueError, KeyError, zlib.error) as exc:
        logger.warning("dedup snapshot %s is unreadable (%s); replaying the log instead", path, exc)
        return None
    entries = [IndexEntry(*row) for row in table]
    if (len(entries) != meta["count"] or keys.shape != (len(entries), lsh.bands) or vectors.shape != (len(rows), DIM)
            or (len(rows) and (rows.min() < 0 or rows.max() >= len(entries)))):
        logger.warning("dedup snapshot %s is inconsistent; replaying the log instead", path)
        return None
    return Snapshot(entries, keys, int(meta["read_to"]), rows, vectors)

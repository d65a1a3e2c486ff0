"""Seed data sets as prompt sources: the user's rows, read as a stream, one prompt per row.

``read_rows(path, format)`` yields every row of a JSONL, CSV or Parquet file, or of a Hugging
Face dataset saved with ``save_to_disk`` (or, where the hub is reachable, named by its hub
id), without loading the whole source: JSONL and CSV line by line, Parquet a row group batch
at a time, a saved dataset through its memory-mapped Arrow files. A row the reader cannot
use is yielded as a ``BadRow`` with its number and the reason, and the rows after it follow.

``map_row`` turns a row into prompt params by the spec's field mapping (``question: problem``
puts the row's ``problem`` into the prompt's ``question`` param), and ``row_hash`` is what the
prompt's lineage records of it, with the source and the row number. Rows are numbered from 1
in the order the source gives them (a JSONL file's line number; a CSV file's record after the
header); the prompt id derives from the number, so a re-run with the same run id makes the same
ids and can skip what it already published.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from synthstream.streams.runtime.errors import ConfigError

FORMATS = ("jsonl", "csv", "parquet", "hf")
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet",
            ".pq": "parquet"}


@dataclass(frozen=True)
class Row:
    number: int  # from 1, in source order
    fields: dict[str, Any]


@dataclass(frozen=True)
class BadRow:
    number: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.number}: {self.reason}"


def detect_format(path: str) -> str:
    """``jsonl``, ``csv`` or ``parquet`` by the file's suffix; ``hf`` for a directory holding a
    saved dataset (or a name that is not a local path: a hub id)."""
    p = Path(path)
    if p.is_dir():
        if (p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists() or (p / "state.json").exists():
            return "hf"
        raise ConfigError(f"seed source {path} is a directory but not a saved Hugging Face dataset (no "
                          "dataset_info.json or dataset_dict.json); give a .jsonl, .csv or .parquet file, or a "
                          "directory written by datasets.Dataset.save_to_disk")
    fmt = SUFFIXES.get(p.suffix.lower())
    if fmt is not None:
        return fmt
    if not p.exists() and "/" in path and not path.startswith((".", "/")):
        return "hf"  # owner/name: a hub id
    raise ConfigError(f"cannot tell the format of seed source {path} (suffix {p.suffix or 'none'}); name it "
                      f".jsonl, .csv or .parquet, or set seeds.format to one of {list(FORMATS)}")


def read_rows(path: str, fmt: str = "auto", split: str | None = None) -> Iterator[Row | BadRow]:
    """Every row of the source, streamed; ConfigError when the source cannot be opened at all."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise ConfigError(f"seed format {fmt!r} is not one of {list(FORMATS)}")
    if fmt != "hf" and not Path(path).is_file():
        raise ConfigError(f"seed source {path} does not exist or is not a file")
    return {"jsonl": _jsonl, "csv": _csv, "parquet": _parquet, "hf": _hf}[fmt](path, split)


def _jsonl(path: str, split: str | None) -> Iterator[Row | BadRow]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield BadRow(number, f"not JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(obj, dict):
                yield BadRow(number, f"a JSON {type(obj).__name__}, not an object")
                continue
            yield Row(number, obj)


def _csv(path: str, split: str | None) -> Iterator[Row | BadRow]:
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise ConfigError(f"seed source {path} is an empty CSV file (no header row)")
        width = len(reader.fieldnames)
        for number, record in enumerate(reader, start=1):
            if None in record:  # more cells than the header names
                yield BadRow(number, f"{width + len(record[None])} cells, but the header names {width} "
                                     f"(line {reader.line_num})")
                continue
            if any(v is None for v in record.values()):
                yield BadRow(number, f"{sum(v is not None for v in record.values())} cells, but the header names "
                                     f"{width} (line {reader.line_num})")
                continue
            yield Row(number, dict(record))


def _parquet(path: str, split: str | None, batch: int = 1024) -> Iterator[Row | BadRow]:
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and others for a file that is not Parquet
        raise ConfigError(f"seed source {path} is not a readable Parquet file: {exc}") from exc
    number = 0
    for record_batch in source.iter_batches(batch_size=batch):
        for row in record_batch.to_pylist():
            number += 1
            yield Row(number, row)


def _hf(path: str, split: str | None) -> Iterator[Row | BadRow]:
    import datasets

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    if Path(path).exists():
        try:
            data = datasets.load_from_disk(path)
        except Exception as exc:  # a directory datasets cannot read
            raise ConfigError(f"seed source {path} is not a dataset saved with save_to_disk: {exc}") from exc
    else:
        try:  # a hub id; only where the hub is reachable (it is not in our tests)
            data = datasets.load_dataset(path, split=split, streaming=True)
        except Exception as exc:
            raise ConfigError(f"cannot load the Hugging Face dataset {path!r} from the hub: {exc}") from exc
    if isinstance(data, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        if split is None and len(data) == 1:
            split = next(iter(data))
        if split not in data:
            raise ConfigError(f"seed source {path} has the splits {sorted(data)}; choose one with seeds.split "
                              "(or --split)")
        data = data[split]
    for number, row in enumerate(data, start=1):
        yield Row(number, dict(row))


def resolve(path: str, spec_path: Path | None) -> str:
    """A spec's relative seeds.path is read from the spec's directory (when it is there)."""
    if spec_path is not None and not Path(path).is_absolute() and (spec_path.parent / path).exists():
        return str(spec_path.parent / path)
    return path


def open_seeds(seeds: Any, spec_path: Path | None, source: str | None = None, fmt: str | None = None,
               limit: int | None = None) -> tuple[str, Iterator[Row | BadRow]]:
    """A spec's seed rows, as ``produce`` and ``run`` read them: (the source, its rows streamed).
    ``source`` and ``fmt`` override ``seeds.path`` (read from the spec's directory) and
    ``seeds.format``; at most ``limit`` or ``seeds.limit`` rows, whichever is smaller."""
    from itertools import islice

    path = source or resolve(seeds.path, spec_path)
    rows = read_rows(path, fmt or seeds.format, seeds.split)
    bounds = [n for n in (limit, seeds.limit) if n]
    return path, (islice(rows, min(bounds)) if bounds else rows)


def field(row: dict[str, Any], path: str) -> Any:
    """A (dotted) field of a row; KeyError with the path when absent."""
    node: Any = row
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def map_row(row: Row, fields: dict[str, str]) -> dict[str, str] | BadRow:
    """The prompt params a row gives (param -> the row field's value, text as it is, anything
    else as JSON), or a BadRow naming the missing or empty field and the fields the row has."""
    out = {}
    for param, path in fields.items():
        try:
            value = field(row.fields, path)
        except KeyError:
            return BadRow(row.number, f"no field {path!r} (for {param}); the row has {sorted(row.fields)}")
        if value is None or (isinstance(value, str) and not value.strip()):
            return BadRow(row.number, f"field {path!r} (for {param}) is empty")
        out[param] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True,
                                                                      default=str)
    return out


def row_hash(row: Row) -> str:
    """xxh3-64 of the row's canonical JSON: the lineage says which content a record came from."""
    canonical = json.dumps(row.fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return xxhash.xxh3_64_hexdigest(canonical.encode())

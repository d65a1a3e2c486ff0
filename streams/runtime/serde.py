"""Avro single-object encoding (marker C3 01, CRC-64-AVRO fingerprint, body) with fastavro.

The fingerprint table is built from ``schemas/`` at start-up. Records written with an earlier
version of a schema (``schemas/history/<Name>.<fingerprint>.avsc``, kept whenever a schema
changes) are read with Avro schema resolution into the current shape, so topics that keep data
for ever (accepted-records) stay readable after an upgrade. Anything that is not a record of a
known schema raises :class:`DecodeError`, which agents dead-letter.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.repository.flat_dict import FlatDictRepository
from fastavro.schema import fingerprint, load_schema, parse_schema, to_parsing_canonical_form

from synthstream.streams.runtime.errors import ConfigError, DecodeError

MARKER = b"\xc3\x01"
HEADER_LEN = 10
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"  # the source tree and the wheel alike
RECORD_TYPES = ("Prompt", "Generation", "Verdict", "AcceptedRecord", "BiasReport", "DeadLetter", "Outcome",
                "ReviewLabel", "DedupEntry", "DatasetVersion", "PreferencePair")
# named types that only appear inside the records above
EMBEDDED_TYPES = ("Lineage", "Message", "ModelConfig", "Usage", "CodeSample", "Grounding", "ValidatorScore")


class _ShortNameRepository(FlatDictRepository):
    """Resolves ``io.synthstream.Lineage`` to ``Lineage.avsc``, so files keep short names."""

    def load(self, name: str) -> Any:
        return super().load(name.rsplit(".", 1)[-1])


def _strip_logical(node: Any) -> Any:
    """The same schema without logicalType annotations: timestamps stay epoch-millisecond ints
    in Python, while the files (and other languages' readers) keep timestamp-millis."""
    if isinstance(node, dict):
        return {k: _strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical(v) for v in node]
    return node


@dataclass(frozen=True)
class RegisteredSchema:
    name: str
    parsed: Any
    fingerprint: bytes
    canonical: str
    reader: Any = None  # set for historical writer schemas: the current schema to resolve into


class SchemaRegistry:
    """Fingerprint table of the schemas in one directory."""

    def __init__(self, schema_dir: Path = SCHEMA_DIR) -> None:
        self._by_name: dict[str, RegisteredSchema] = {}
        self._by_fingerprint: dict[bytes, RegisteredSchema] = {}
        self._leading_ok: dict[tuple[bytes, tuple[str, ...]], bool] = {}
        repo = _ShortNameRepository(str(schema_dir))
        for name in RECORD_TYPES:
            path = schema_dir / f"{name}.avsc"
            if not path.exists():
                raise ConfigError(f"schema file {path} is missing; the wire contract needs it")
            try:
                parsed = load_schema(name, repo=repo, _write_hint=False)
            except Exception as exc:  # fastavro raises many types for bad schemas
                raise ConfigError(f"schema file {path} does not parse: {exc}") from exc
            canonical = to_parsing_canonical_form(parsed)
            parsed = parse_schema(_strip_logical(parsed))  # same binary encoding; marked parsed, so never re-parsed
            fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))  # already little-endian
            entry = RegisteredSchema(name, parsed, fp, canonical)
            self._by_name[name] = entry
            self._by_fingerprint[fp] = entry
        self._load_history(schema_dir / "history")

    def _load_history(self, history: Path) -> None:
        for path in sorted(history.glob("*.avsc")):
            name, _, hexfp = path.stem.partition(".")
            current = self._by_name.get(name)
            if current is None:
                raise ConfigError(f"historical schema {path} is for an unknown record type {name!r}")
            try:
                parsed = parse_schema(json.loads(path.read_text()), named_schemas={})
            except Exception as exc:  # fastavro raises many types for bad schemas
                raise ConfigError(f"historical schema {path} does not parse: {exc}") from exc
            canonical = to_parsing_canonical_form(parsed)
            fp_hex = fingerprint(canonical, "CRC-64-AVRO")
            if fp_hex != hexfp:
                raise ConfigError(f"historical schema {path} has fingerprint {fp_hex}, not the {hexfp} its name says")
            self._by_fingerprint[bytes.fromhex(fp_hex)] = RegisteredSchema(name, parsed, bytes.fromhex(fp_hex),
                                                                           canonical, reader=current.parsed)

    def historical(self) -> list[RegisteredSchema]:
        return [e for e in self._by_fingerprint.values() if e.reader is not None]

    def schema(self, name: str) -> RegisteredSchema:
        return self._by_name[name]

    def names(self) -> list[str]:
        return list(self._by_name)

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        entry = self._by_name[name]
        buf = io.BytesIO()
        buf.write(MARKER)
        buf.write(entry.fingerprint)
        schemaless_writer(buf, entry.parsed, record, strict_allow_default=True)
        return buf.getvalue()

    def _writer(self, data: bytes | None, expected: str | None) -> RegisteredSchema:
        """The schema ``data`` was written with, from its header; DecodeError if none is."""
        if not data:
            raise DecodeError("empty", "message has no value")
        if len(data) < HEADER_LEN or data[:2] != MARKER:
            raise DecodeError("not_avro", "value does not start with the Avro single-object marker C3 01")
        entry = self._by_fingerprint.get(bytes(data[2:HEADER_LEN]))
        if entry is None:
            (fp,) = struct.unpack("<Q", data[2:HEADER_LEN])
            raise DecodeError("unknown_schema", f"schema fingerprint {fp:016x} is not in schemas/")
        if expected is not None and entry.name != expected:
            raise DecodeError("wrong_type", f"expected a {expected}, got a {entry.name}")
        return entry

    def leading(self, data: bytes | None, fields: tuple[str, ...],
                expected: str | None = None) -> tuple[str, dict[str, str]]:
        """(schema name, the values of ``fields``) for a reader that needs only those: when the
        writer's schema begins with exactly these fields, all strings (an accepted record's
        record_id, prompt_id, task), they are read off the front of the body and the rest is
        never decoded (a watcher of accepted-records need not decode whole records); otherwise
        the record is decoded whole. DecodeError as ``decode`` for bad bytes."""
        entry = self._writer(data, expected)
        assert data is not None
        key = (entry.fingerprint, fields)
        direct = self._leading_ok.get(key)
        if direct is None:
            head = entry.parsed.get("fields", [])[:len(fields)]
            direct = self._leading_ok[key] = [(f["name"], f["type"]) for f in head] == [(f, "string") for f in fields]
        if not direct:
            name, record = self.decode(data, expected)
            return name, {f: record.get(f) for f in fields}
        out, pos = {}, HEADER_LEN
        for field in fields:
            size, pos = _read_long(data, pos, entry.name)
            end = pos + size
            if size < 0 or end > len(data):
                raise DecodeError("corrupt", f"{entry.name} body ends inside its {field}")
            try:
                out[field] = bytes(data[pos:end]).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DecodeError("corrupt", f"{entry.name} {field} is not UTF-8: {exc}") from exc
            pos = end
        return entry.name, out

    def decode(self, data: bytes | None, expected: str | None = None) -> tuple[str, dict[str, Any]]:
        """Return (schema name, record); raise DecodeError for anything else."""
        entry = self._writer(data, expected)
        assert data is not None
        body = io.BytesIO(data[HEADER_LEN:])
        try:
            record = schemaless_reader(body, entry.parsed, entry.reader)
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeDecodeError, ...
            raise DecodeError("corrupt", f"{entry.name} body does not decode: {type(exc).__name__}: {exc}") from exc
        if body.tell() != len(data) - HEADER_LEN:
            raise DecodeError("corrupt", f"{entry.name} body has {len(data) - HEADER_LEN - body.tell()} trailing bytes")
        return entry.name, record


def _read_long(data: bytes, pos: int, name: str) -> tuple[int, int]:
    """An Avro long (zig-zag varint) at ``pos``: (value, position after it)."""
    shift = result = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise DecodeError("corrupt", f"{name} body has a length that does not end")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


_default: SchemaRegistry | None = None


def registry() -> SchemaRegistry:
    """The process-wide registry built from the bundled schemas/ (read-only after build)."""
    global _default
    if _default is None:
        _default = SchemaRegistry()
    return _default

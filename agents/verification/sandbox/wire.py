"""Frames and values that cross the sandbox boundary.

Frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON. Values: JSON with tags
for the builtin types JSON lacks (tuple, dict with any keys, set, frozenset, bytes, complex,
Fraction, Decimal, range, and iterators, which arrive as an iterator over a list). Decoding builds
only builtin and standard-library values from data, so an object of the candidate's own class (an
``__eq__`` that is always true, say) can never reach a comparison on the judging side.

Standard library only: this module also runs inside the jail under the system Python, where
every task forks two processes from a warm one: what this module does on a frame's way is
what each of them pays to touch for the first time, so it calls json's C encoder and scanner
directly and leaves decimal and fractions unimported until a value needs them.
"""

from __future__ import annotations

import binascii
import json
import os
import struct
import sys
from json import decoder as _decoder, encoder as _encoder, scanner as _scanner
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 16 * 1024 * 1024
MAX_ITEMS = 1_000_000  # an iterator returned by a candidate is read up to this many items


class WireError(Exception):
    """A frame or a value that does not follow the protocol."""


def _c_encoder() -> Any:
    """What ``json.dumps(m, separators=(",", ":"), ensure_ascii=False)`` calls, built once."""
    make = _encoder.c_make_encoder
    if make is None:  # an interpreter without json's C accelerator
        return lambda message, _level: _PY_ENCODER.iterencode(message, _one_shot=True)
    return make(None, _PY_ENCODER.default, _encoder.encode_basestring, None, ":", ",", False, False, True)


_PY_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ENCODE = _c_encoder()
_SCAN = _scanner.make_scanner(_decoder.JSONDecoder())  # json.loads's scanner, C where available


def pack(message: Any) -> bytes:
    try:
        body = "".join(_ENCODE(message, 0)).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise WireError(f"cannot send {type(message).__name__}: {exc}") from exc
    if len(body) > MAX_FRAME:
        raise WireError(f"frame of {len(body)} bytes is over the {MAX_FRAME}-byte cap")
    return HEADER.pack(len(body)) + body


def unpack(body: bytes) -> Any:
    """One JSON value filling the whole frame, as ``json.loads`` reads it (NaN and Infinity
    included), from UTF-8 only."""
    try:
        text = body.decode()
        value, end = _SCAN(text, 0)
    except StopIteration as exc:
        raise WireError(f"frame is not JSON: no value at character {exc.value}") from None
    except (ValueError, RecursionError) as exc:
        raise WireError(f"frame is not JSON: {exc}") from exc
    if end != len(text):
        raise WireError(f"frame is not JSON: extra data at character {end}")
    return value


def take_frames(buf: bytearray, cap: int = MAX_FRAME) -> list[bytes]:
    """The bodies of the whole frames at the start of ``buf``, removed from it (a partial frame
    stays); WireError for a frame announced over ``cap``."""
    bodies = []
    while len(buf) >= HEADER.size:
        (size,) = HEADER.unpack_from(buf)
        if size > cap:
            raise WireError(f"frame of {size} bytes is over the {cap}-byte cap")
        if len(buf) < HEADER.size + size:
            break
        bodies.append(bytes(buf[HEADER.size:HEADER.size + size]))
        del buf[:HEADER.size + size]
    return bodies


def send(fd: int, message: Any) -> None:
    data = memoryview(pack(message))
    while data:
        data = data[os.write(fd, data):]


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(fd: int, cap: int = MAX_FRAME) -> Any:
    """The next message, or None at end of stream; WireError for an oversized or broken frame."""
    head = _read_exact(fd, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > cap:
        raise WireError(f"frame of {size} bytes is over the {cap}-byte cap")
    body = _read_exact(fd, size)
    if body is None:
        raise WireError("stream ended inside a frame")
    return unpack(body)


def encode(value: Any) -> Any:
    """A JSON-ready form of a builtin value; WireError for anything else (exact types only)."""
    t = type(value)
    if value is None or t in (bool, int, str):
        return value
    if t is float:
        return value if value == value and value not in (float("inf"), float("-inf")) else {"F": repr(value)}
    if t is list:
        return [encode(v) for v in value]
    if t is tuple:
        return {"t": [encode(v) for v in value]}
    if t is dict:
        return {"d": [[encode(k), encode(v)] for k, v in value.items()]}
    if t in (set, frozenset):
        return {"s" if t is set else "f": [encode(v) for v in value]}
    if t in (bytes, bytearray):
        return {"b": binascii.b2a_base64(value, newline=False).decode()}
    if t is complex:
        return {"c": [encode(value.real), encode(value.imag)]}
    if t is getattr(sys.modules.get("fractions"), "Fraction", None):  # no Fraction exists until it is imported
        return {"q": [value.numerator, value.denominator]}
    if t is getattr(sys.modules.get("decimal"), "Decimal", None):
        return {"D": str(value)}
    if t is range:
        return {"r": [value.start, value.stop, value.step]}
    if hasattr(value, "__next__") and hasattr(value, "__iter__"):
        items = []
        for item in value:
            items.append(encode(item))
            if len(items) > MAX_ITEMS:
                raise WireError(f"iterator yields more than {MAX_ITEMS} items")
        return {"i": items}
    raise WireError(f"a value of type {t.__name__} cannot cross the sandbox boundary")


def _seq(data: Any) -> list[Any]:
    if type(data) is not list:
        raise WireError(f"expected a list, got {type(data).__name__}")
    return [decode(v) for v in data]


def _pairs(data: Any) -> dict[Any, Any]:
    out = {}
    for pair in _seq_raw(data):
        if type(pair) is not list or len(pair) != 2:
            raise WireError("a dict entry is not a [key, value] pair")
        out[_hashable(decode(pair[0]))] = decode(pair[1])
    return out


def _seq_raw(data: Any) -> list[Any]:
    if type(data) is not list:
        raise WireError(f"expected a list, got {type(data).__name__}")
    return data


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError as exc:
        raise WireError(f"unhashable key or set member: {exc}") from exc
    return value


def _number(data: Any, kind: str) -> Any:
    try:
        if kind == "F":
            return float(data)
        if kind == "D":
            import decimal
            return decimal.Decimal(data)
        import fractions
        num, den = data
        return fractions.Fraction(int(num), int(den))
    except (TypeError, ValueError, ZeroDivisionError, ArithmeticError) as exc:
        raise WireError(f"bad {kind} value {data!r}: {exc}") from exc


_TAGS = {
    "t": lambda d: tuple(_seq(d)),
    "d": _pairs,
    "s": lambda d: {_hashable(v) for v in _seq(d)},
    "f": lambda d: frozenset(_hashable(v) for v in _seq(d)),
    "b": lambda d: _bytes(d) if type(d) is str else _bad("b", d),
    "c": lambda d: complex(*[float(x) for x in _seq(d)[:2]]),
    "q": lambda d: _number(d, "q"),
    "D": lambda d: _number(d, "D") if type(d) is str else _bad("D", d),
    "F": lambda d: _number(d, "F") if type(d) is str else _bad("F", d),
    "r": lambda d: range(*[int(x) for x in _seq(d)[:3]]),
    "i": lambda d: iter(_seq(d)),
}


def _bytes(data: str) -> bytes:
    try:
        return binascii.a2b_base64(data.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise WireError(f"bad payload for tag 'b': {exc}") from exc


def _bad(tag: str, data: Any) -> Any:
    raise WireError(f"bad payload for tag {tag!r}: {type(data).__name__}")


def decode(data: Any) -> Any:
    """Rebuild a value from :func:`encode`'s form, trusting nothing about where it came from."""
    t = type(data)
    if data is None or t in (bool, int, float, str):
        return data
    if t is list:
        return [decode(v) for v in data]
    if t is dict and len(data) == 1:
        (tag, payload), = data.items()
        build = _TAGS.get(tag)
        if build is not None:
            try:
                return build(payload)
            except WireError:
                raise
            except (TypeError, ValueError, RecursionError) as exc:
                raise WireError(f"bad payload for tag {tag!r}: {exc}") from exc
    raise WireError(f"not an encoded value: {str(data)[:80]}")

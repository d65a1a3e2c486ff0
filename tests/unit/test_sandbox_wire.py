"""The values and frames that cross the sandbox boundary: builtins round-trip exactly, anything
else is refused, and bytes from a hostile process decode to builtins or a WireError, never more."""

from __future__ import annotations

import math
import os
from decimal import Decimal
from fractions import Fraction

import pytest

from synthstream.agents.verification.sandbox import same, wire

VALUES = [
    None, True, False, 0, -7, 10**40, 1.5, -0.0, "text", "ünï", [], [1, [2, [3]]], (), (1, "a", None),
    {"a": 1}, {(1, 2): "tuple key", 3: [4]}, {1, 2}, frozenset({"x"}), b"\x00\xff", bytearray(b"ab"),
    complex(1, -2), Fraction(5, 3), Decimal("1.10"), range(2, 10, 3), [(1, 2), {"k": (3,)}],
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_builtin_values_round_trip_with_their_types(value: object) -> None:
    back = wire.decode(wire.unpack(wire.pack(wire.encode(value))[wire.HEADER.size:]))
    expected_type = bytes if type(value) is bytearray else type(value)
    assert back == value and type(back) is expected_type
    if isinstance(value, float):
        assert math.copysign(1, back) == math.copysign(1, value)


def test_special_floats_and_iterators() -> None:
    assert math.isnan(wire.decode(wire.encode(float("nan"))))
    assert wire.decode(wire.encode(float("-inf"))) == float("-inf")
    it = wire.decode(wire.encode(map(str, [1, 2])))
    assert next(it) == "1" and list(it) == ["2"]


class Sneaky(int):
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = int.__hash__


@pytest.mark.parametrize("value", [Sneaky(1), [Sneaky(2)], object(), len, type("C", (), {})(), {1: Sneaky(3)}])
def test_anything_but_exact_builtins_is_refused(value: object) -> None:
    with pytest.raises(wire.WireError, match="cannot cross the sandbox boundary"):
        wire.encode(value)


@pytest.mark.parametrize("data, message", [
    ({"zz": 1}, "not an encoded value"),
    ({"t": 1, "s": 2}, "not an encoded value"),
    ({"t": "abc"}, "expected a list"),
    ({"d": [[[1], 2]]}, "unhashable"),
    ({"d": [[1]]}, "not a \\[key, value\\] pair"),
    ({"s": [[1, 2]]}, "unhashable"),
    ({"b": "!!notbase64"}, "bad payload"),
    ({"q": [1, 0]}, "bad q value"),
    ({"D": 3}, "bad payload"),
    ({"r": ["a"]}, "bad payload"),
])
def test_hostile_encodings_are_wire_errors(data: object, message: str) -> None:
    with pytest.raises(wire.WireError, match=message):
        wire.decode(data)


def test_frames_over_a_pipe_and_their_caps() -> None:
    r, w = os.pipe()
    try:
        wire.send(w, {"a": [1, 2]})
        os.write(w, wire.HEADER.pack(100) + b"{")
        os.close(w)
        assert wire.recv(r) == {"a": [1, 2]}
        with pytest.raises(wire.WireError, match="ended inside a frame"):
            wire.recv(r)
    finally:
        os.close(r)
    r, w = os.pipe()
    os.write(w, wire.HEADER.pack(wire.MAX_FRAME + 1))
    os.close(w)
    with pytest.raises(wire.WireError, match="over the"):
        wire.recv(r)
    os.close(r)
    r, w = os.pipe()
    os.close(w)
    assert wire.recv(r) is None  # a clean end of stream
    os.close(r)


@pytest.mark.parametrize("got, expected, loose, verdict", [
    (0.1 + 0.2, 0.3, False, True),
    (1, 1.0000000001, False, True),
    (1.0, 1.1, False, False),
    ((1, 2), [1, 2], False, False),
    ((1, 2), [1, 2], True, True),
    ([1.0, [2.0000000001]], [1, [2]], False, True),
    ({"a": 0.1 + 0.2}, {"a": 0.3}, False, True),
    ({"a": 1}, {"b": 1}, False, False),
    (float("nan"), float("nan"), False, True),
    ("1", 1, False, False),
    (True, 1, False, True),  # Python's own ==, as an assert statement would judge it
    ({1, 2}, frozenset({1, 2}), False, True),
])
def test_same_compares_like_python_with_float_tolerance(got, expected, loose, verdict) -> None:
    assert same(got, expected, loose) is verdict


@pytest.mark.parametrize("body, message", [
    (b"", "no value at character 0"),
    (b" {}", "no value at character 0"),
    (b"{} ", "extra data at character 2"),
    (b'{"a": 1}{"b": 2}', "extra data at character 8"),
    (b"\xff\xfe{}", "codec can't decode"),
    (b"[" * 100_000, "recursion"),
])
def test_a_frame_is_one_json_value_in_utf8_and_nothing_else(body: bytes, message: str) -> None:
    with pytest.raises(wire.WireError, match=message):
        wire.unpack(body)


def test_frames_are_what_json_dumps_and_loads_make_of_them() -> None:
    import json

    message = {"id": "7", "text": "ünï \u2028 \"quoted\"", "n": [1, -0.0, 1e300, float("nan"), None, True]}
    body = wire.pack(message)[wire.HEADER.size:]
    assert body == json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    assert repr(wire.unpack(body)) == repr(json.loads(body))
    with pytest.raises(wire.WireError, match="cannot send"):
        wire.pack({"x": object()})


def test_whole_frames_are_taken_from_a_buffer_and_a_partial_one_stays() -> None:
    first, second = wire.pack({"a": 1}), wire.pack([2, 3])
    buf = bytearray(first + second[:5])
    assert [wire.unpack(b) for b in wire.take_frames(buf)] == [{"a": 1}]
    assert bytes(buf) == second[:5]
    buf += second[5:]
    assert [wire.unpack(b) for b in wire.take_frames(buf)] == [[2, 3]] and not buf
    with pytest.raises(wire.WireError, match="over the 10-byte cap"):
        wire.take_frames(bytearray(wire.HEADER.pack(11) + b"x" * 11), cap=10)

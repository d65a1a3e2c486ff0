import io
import json

import avro.io
import avro.schema
import pytest

from streams.errors import DecodeError
from streams.serde import MARKER, EMBEDDED_TYPES, RECORD_TYPES, SCHEMA_DIR, SchemaRegistry
from tests.records import SAMPLES


@pytest.fixture(scope="module")
def reg() -> SchemaRegistry:
    return SchemaRegistry()


def avro_schema(reg: SchemaRegistry, name: str) -> avro.schema.Schema:
    return avro.schema.parse(reg.schema(name).canonical)


@pytest.mark.parametrize("name", RECORD_TYPES)
def test_round_trip(reg, name):
    data = reg.encode(name, SAMPLES[name])
    assert data[:2] == MARKER and data[2:10] == reg.schema(name).fingerprint
    assert reg.decode(data) == (name, SAMPLES[name])
    assert reg.decode(data, expected=name)[1] == SAMPLES[name]


@pytest.mark.parametrize("name", RECORD_TYPES)
def test_fingerprint_matches_the_reference_library(reg, name):
    assert avro_schema(reg, name).fingerprint("CRC-64-AVRO") == reg.schema(name).fingerprint


@pytest.mark.parametrize("name", RECORD_TYPES)
def test_reference_avro_reads_what_we_write(reg, name):
    data = reg.encode(name, SAMPLES[name])
    reader = avro.io.DatumReader(avro_schema(reg, name))
    decoded = reader.read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert json.dumps(decoded, sort_keys=True, default=repr) == json.dumps(SAMPLES[name], sort_keys=True, default=repr)


@pytest.mark.parametrize("name", RECORD_TYPES)
def test_we_read_what_reference_avro_writes(reg, name):
    schema = avro_schema(reg, name)
    buf = io.BytesIO()
    buf.write(b"\xc3\x01" + schema.fingerprint("CRC-64-AVRO"))
    avro.io.DatumWriter(schema).write(SAMPLES[name], avro.io.BinaryEncoder(buf))
    assert reg.decode(buf.getvalue()) == (name, SAMPLES[name])


def test_schema_files_are_the_contract():
    assert sorted(p.stem for p in SCHEMA_DIR.glob("*.avsc")) == sorted((*RECORD_TYPES, *EMBEDDED_TYPES))


@pytest.mark.parametrize("data,reason", [
    (b"", "empty"),
    (None, "empty"),
    (b"hello world, not avro", "not_avro"),
    (b"\xc3\x01\x00\x01\x02\x03\x04\x05\x06\x07body", "unknown_schema"),
])
def test_garbage_raises_the_typed_error(reg, data, reason):
    with pytest.raises(DecodeError) as exc:
        reg.decode(data)
    assert exc.value.reason == reason


def test_truncated_and_corrupt_bodies(reg):
    data = reg.encode("Verdict", SAMPLES["Verdict"])
    for cut in (11, len(data) // 2, len(data) - 1):
        with pytest.raises(DecodeError) as exc:
            reg.decode(data[:cut])
        assert exc.value.reason == "corrupt"
    with pytest.raises(DecodeError) as exc:
        reg.decode(data + b"\x00")
    assert exc.value.reason == "corrupt" and "trailing" in exc.value.detail
    header = data[:10]
    with pytest.raises(DecodeError) as exc:
        reg.decode(header + b"\xff" * 40)
    assert exc.value.reason == "corrupt"


def test_wrong_type_is_rejected(reg):
    with pytest.raises(DecodeError) as exc:
        reg.decode(reg.encode("Outcome", SAMPLES["Outcome"]), expected="Prompt")
    assert exc.value.reason == "wrong_type"

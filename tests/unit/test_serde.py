import io
import json

import avro.io
import avro.schema
import pytest

from synthstream.streams.runtime.errors import DecodeError
from synthstream.streams.runtime.serde import MARKER, EMBEDDED_TYPES, RECORD_TYPES, SCHEMA_DIR, SchemaRegistry
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


HEAD = ("record_id", "prompt_id", "task")


def test_leading_fields_read_without_decoding_the_rest_agree_with_a_full_decode(reg):
    for record in (SAMPLES["AcceptedRecord"], dict(SAMPLES["AcceptedRecord"], prompt_id="ünï ✓" * 40, task="")):
        data = reg.encode("AcceptedRecord", record)
        assert reg.leading(data, HEAD, "AcceptedRecord") == ("AcceptedRecord", {k: record[k] for k in HEAD})
    # a schema whose first fields are not these strings is decoded whole, same answer
    outcome = SAMPLES["Outcome"]
    assert reg.leading(reg.encode("Outcome", outcome), ("prompt_id", "outcome")) == (
        "Outcome", {"prompt_id": outcome["prompt_id"], "outcome": outcome["outcome"]})


def test_leading_fields_of_an_earlier_schema_version_and_of_bad_bytes(reg):
    from fastavro import schemaless_writer

    record = SAMPLES["AcceptedRecord"]
    for old in (e for e in reg.historical() if e.name == "AcceptedRecord"):
        fields = {f["name"] for f in old.parsed["fields"]}
        written = {k: v for k, v in record.items() if k in fields}
        lineage = {f["name"] for f in next(f for f in old.parsed["fields"] if f["name"] == "lineage")["type"]["fields"]}
        written["lineage"] = {k: v for k, v in record["lineage"].items() if k in lineage}
        buf = io.BytesIO()
        schemaless_writer(buf, old.parsed, written)
        assert reg.leading(MARKER + old.fingerprint + buf.getvalue(), HEAD)[1] == {k: record[k] for k in HEAD}
    data = reg.encode("AcceptedRecord", record)
    for bad, reason in ((data[:12], "corrupt"), (data[:10] + b"\xff" * 12, "corrupt"), (b"junk", "not_avro"),
                        (data[:10] + b"\x04\xff\xfe" + data[13:], "corrupt")):  # cut; endless varint; not UTF-8
        with pytest.raises(DecodeError) as exc:
            reg.leading(bad, HEAD)
        assert exc.value.reason == reason
    with pytest.raises(DecodeError) as exc:
        reg.leading(reg.encode("Outcome", SAMPLES["Outcome"]), ("prompt_id",), "AcceptedRecord")
    assert exc.value.reason == "wrong_type"


def test_wrong_type_is_rejected(reg):
    with pytest.raises(DecodeError) as exc:
        reg.decode(reg.encode("Outcome", SAMPLES["Outcome"]), expected="Prompt")
    assert exc.value.reason == "wrong_type"


OLD_VERSIONS = ("AcceptedRecord", "Prompt")  # kept since the walking skeleton, as fields were added


@pytest.mark.parametrize("name", OLD_VERSIONS)
def test_records_written_with_an_earlier_schema_still_decode(reg, name):
    import io

    from fastavro import schemaless_writer

    olds = [e for e in reg.historical() if e.name == name]
    assert olds
    for old in olds:  # every earlier version, written with the fields it has
        fields = {f["name"]: f for f in old.parsed["fields"]}
        lineage_fields = {f["name"] for f in fields["lineage"]["type"]["fields"]}
        written = {k: v for k, v in SAMPLES[name].items() if k in fields}
        written["lineage"] = {k: v for k, v in written["lineage"].items() if k in lineage_fields}
        buf = io.BytesIO()
        schemaless_writer(buf, old.parsed, written)
        decoded_name, record = reg.decode(MARKER + old.fingerprint + buf.getvalue(), name)
        assert decoded_name == name
        current_only = (set(record) - set(written)) | {f"lineage.{k}" for k in set(record["lineage"]) - lineage_fields}
        assert current_only  # every earlier version lacks something, which takes its default
        assert all((record["lineage"][f[8:]] if f.startswith("lineage.") else record[f]) in (None, [])
                   for f in current_only)
        assert {k: record[k] for k in written if k != "lineage"} == {k: v for k, v in written.items() if k != "lineage"}
        assert {k: record["lineage"][k] for k in written["lineage"]} == written["lineage"]


GENERATION_ADDED = {"messages": [], "samples": [], "sample_answers": [], "code": None, "grounding": None,
                    "usage": None, "parse_error": None, "checks": None}


def test_old_generations_and_verdicts_decode_with_the_new_fields_defaulted(reg):
    """Every earlier Generation and Verdict: written with only the fields that version had, read back
    in the current shape with the later fields at their defaults."""
    import io

    from fastavro import schemaless_writer

    def has(old, field: str, inner: str | None = None) -> bool:
        fields = {f["name"]: f for f in old.parsed["fields"]}
        if inner is None:
            return field in fields
        return field in {f["name"] for f in fields[inner]["type"]["fields"]}

    checked = set()
    for old in reg.historical():
        if old.name not in ("Generation", "Verdict"):
            continue
        gen_has = (lambda f: has(old, f)) if old.name == "Generation" else (lambda f: has(old, f, "generation"))
        gen_added = {k: v for k, v in GENERATION_ADDED.items() if not gen_has(k)}
        written_gen = {k: v for k, v in SAMPLES["Generation"].items() if k not in gen_added}
        expected_gen = dict(written_gen, **gen_added)
        if old.name == "Generation":
            written, expected = written_gen, expected_gen
        else:
            written = {k: v for k, v in SAMPLES["Verdict"].items() if has(old, k)}
            written["generation"] = written_gen
            expected = dict(written, generation=expected_gen, validators=written.get("validators", []))
        buf = io.BytesIO()
        schemaless_writer(buf, old.parsed, written)
        assert reg.decode(MARKER + old.fingerprint + buf.getvalue(), old.name) == (old.name, expected)
        checked.add(old.fingerprint)
    assert len(checked) == 7  # Generation 6c3b…, 5fe4… and 1042…, Verdict 2277…, e692…, 55d2… and e7a4…


def test_old_bias_reports_decode_with_the_text_statistics_defaulted(reg):
    import io

    from fastavro import schemaless_writer

    from tests.records import BIAS_ADDED, BIAS_RESTART_ADDED

    old = {o.fingerprint.hex(): o for o in reg.historical() if o.name == "BiasReport"}
    assert set(old) == {"3eba1a5b7dc740b9", "e19da4646cccbb49"}
    for fp, added in (("3eba1a5b7dc740b9", BIAS_ADDED), ("e19da4646cccbb49", BIAS_RESTART_ADDED)):
        written = {k: v for k, v in SAMPLES["BiasReport"].items() if k not in added}
        buf = io.BytesIO()
        schemaless_writer(buf, old[fp].parsed, written)
        assert reg.decode(MARKER + old[fp].fingerprint + buf.getvalue(), "BiasReport") == ("BiasReport",
                                                                                            dict(written, **added))


def test_old_dedup_entries_decode_as_not_embedded(reg):
    """Changelog entries written before the semantic tier replay without an embedding."""
    import io

    from fastavro import schemaless_writer

    from tests.records import DEDUP_ENTRY

    old = next(o for o in reg.historical() if o.name == "DedupEntry" and o.fingerprint.hex() == "e66b59a383c11dd6")
    written = {k: v for k, v in DEDUP_ENTRY.items() if k != "embedded"}
    buf = io.BytesIO()
    schemaless_writer(buf, old.parsed, written)
    assert reg.decode(MARKER + old.fingerprint + buf.getvalue(), "DedupEntry") == ("DedupEntry",
                                                                                   dict(written, embedded=False))


def test_a_changed_schema_keeps_its_previous_version():
    """When this fails, a schema changed: copy the previous version's canonical form into
    schemas/history/<Name>.<old fingerprint>.avsc (so data already written stays readable) and
    put the new fingerprint in schemas/history/CURRENT.json."""
    import json

    current = json.loads((SCHEMA_DIR / "history" / "CURRENT.json").read_text())
    reg = SchemaRegistry()
    assert {n: reg.schema(n).fingerprint.hex() for n in RECORD_TYPES} == current

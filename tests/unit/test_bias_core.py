import math

import pytest

from synthstream.agents.bias.core import BiasWindow, jsd, psi, status

TARGET = {"a": 0.5, "b": 0.5}


def test_psi_and_jsd_are_zero_on_target_and_grow_with_drift():
    assert psi(TARGET, TARGET) == 0 and jsd(TARGET, TARGET) == 0
    mild, strong = {"a": 0.6, "b": 0.4}, {"a": 0.9, "b": 0.1}
    assert 0 < psi(mild, TARGET) < psi(strong, TARGET)
    assert psi(mild, TARGET) == pytest.approx(0.1 * math.log(0.6 / 0.5) + (-0.1) * math.log(0.4 / 0.5))
    assert jsd({"a": 1.0}, {"b": 1.0}) == pytest.approx(1.0)
    assert psi({"a": 1.0}, TARGET) > 0.2  # an absent category is smoothed, not a division by zero


@pytest.mark.parametrize("value,expected", [(None, "no_target"), (0.05, "ok"), (0.1, "warn"), (0.25, "critical")])
def test_status(value, expected):
    assert status(value) == expected


def test_count_window_closes_and_reports_shares():
    w = BiasWindow("d", {"difficulty": TARGET}, max_records=4, window_ms=10_000)
    reports = []
    for i, cat in enumerate("aaab"):
        reports += w.add({"difficulty": cat, "domain": "x"}, 1000 + i)
    assert len(reports) == 1 and w.pending == 0
    r = reports[0]
    assert (r.records, r.closed_by, r.window_start) == (4, "count", 1000)
    by_dim = {d["dimension"]: d for d in r.dimensions}
    assert by_dim["difficulty"]["observed"] == {"a": 0.75, "b": 0.25}
    assert by_dim["difficulty"]["psi"] == pytest.approx(psi({"a": 0.75, "b": 0.25}, TARGET))
    assert by_dim["difficulty"]["status"] == "critical"
    assert by_dim["domain"]["status"] == "no_target" and by_dim["domain"]["psi"] is None


def test_time_window_closes_when_a_later_record_arrives():
    w = BiasWindow("d", {}, max_records=100, window_ms=1000)
    assert w.add({"t": "a"}, 0) == []
    assert w.add({"t": "a"}, 999) == []
    reports = w.add({"t": "b"}, 1000)
    assert [(r.records, r.closed_by, r.window_end) for r in reports] == [(2, "time", 1000)]
    assert w.pending == 1


def test_flush_of_empty_window_is_none():
    w = BiasWindow("d", {}, max_records=10)
    assert w.flush("idle", 5) is None
    w.add({"t": "a"}, 1)
    assert w.flush("idle", 5).closed_by == "idle"


# ---- text statistics --------------------------------------------------------------------------
from synthstream.agents.bias.text_stats import TextWindow, length_bin, looks_english  # noqa: E402


def test_length_bins_are_log_spaced_and_cover_everything():
    assert [length_bin(n) for n in (0, 24, 25, 99, 100, 6399, 6400, 10**6)] == [
        "0-25", "0-25", "25-50", "50-100", "100-200", "3200-6400", "6400+", "6400+"]


def test_distinct_n_compression_and_openings():
    w = TextWindow()
    for i in range(10):
        w.add("To solve the equation we subtract five from both sides and divide by three.")
    same = w.close()
    assert same.distinct_1 == pytest.approx(13 / 130) and same.distinct_3 == pytest.approx(11 / 110)
    assert same.top_opening == "to solve the" and same.top_opening_share == 1.0
    varied = TextWindow()
    for i in range(10):
        varied.add(f"Answer {i}: the value is {i * 7919 % 1000} because {['cats', 'rivers', 'trains'][i % 3]} "
                   f"move {['north', 'south', 'fast', 'slowly', 'together'][i % 5]} in case {i}.")
    div = varied.close()
    assert div.distinct_1 > same.distinct_1 and div.distinct_3 > same.distinct_3
    assert same.compression_ratio > div.compression_ratio > 1  # repetition compresses better
    assert div.top_opening_share == pytest.approx(0.1)
    assert TextWindow().close() is None


def test_detectors():
    w = TextWindow()
    w.add("He gave his sister the book, and she thanked him.")  # 3 male, 2 female
    w.add("I'm sorry, but I cannot help with that request.")
    w.add("Great question! I hope this helps with your homework today, friend.")
    w.add("Der Hund läuft über die Straße, während die Kinder im Garten spielen und lachen.")
    w.add("def f(x):\n    return x * 2  # no prose at all here, which is fine", is_code=True)
    d = w.close().detectors
    assert d["gendered_share"] == pytest.approx(1 / 5) and d["male_share"] == pytest.approx(3 / 5)
    assert d["refusal_share"] == pytest.approx(1 / 5) and d["boilerplate_share"] == pytest.approx(1 / 5)
    assert d["non_english_share"] == pytest.approx(1 / 4)  # the code is not judged; the German is caught
    assert looks_english("ok", ["ok"]) is None


def test_length_psi_against_the_first_window():
    w = BiasWindow("d", {}, max_records=50)
    short, long_ = "x = 3. " * 5, "Step: we move every term and check the result again. " * 12
    [first] = [r for i in range(50) for r in w.add({}, i, short if i % 2 else long_)]
    assert first.length_psi is None and first.length_status == "no_target" and first.diversity is not None
    [same] = [r for i in range(50) for r in w.add({}, 100 + i, short if i % 2 else long_)]
    assert same.length_psi == pytest.approx(0.0) and same.length_status == "ok"
    [drifted] = [r for i in range(50) for r in w.add({}, 200 + i, long_ if i % 10 else short)]
    assert drifted.length_psi > 0.2 and drifted.length_status == "critical"
    assert w.reference_bins == first.length_bins


# ---- restart safety: source offsets, coverage and a restored reference ------------------------

def test_reports_carry_the_offsets_they_cover_cumulatively():
    w = BiasWindow("d", {}, max_records=3)
    assert w.add({"t": "a"}, 1, position=(0, 10)) == [] and w.add({"t": "a"}, 2, position=(1, 4)) == []
    [first] = w.add({"t": "a"}, 3, position=(0, 11))
    assert first.source_offsets == {"0": 12, "1": 5}
    w.add({"t": "a"}, 4, position=(1, 5))
    w.add({"t": "a"}, 5, position=(1, 6))
    [second] = w.add({"t": "a"}, 6, position=(2, 0))
    assert second.source_offsets == {"0": 12, "1": 7, "2": 1}  # partition 0 is still covered up to 12


def test_a_covered_record_is_recognised_as_a_redelivery():
    w = BiasWindow("d", {}, max_records=2)
    w.add({"t": "a"}, 1, position=(0, 0))
    w.add({"t": "a"}, 2, position=(0, 1))  # closes: partition 0 covered below offset 2
    assert w.covered(0, 0) and w.covered(0, 1)
    assert not w.covered(0, 2) and not w.covered(1, 0)
    w.add({"t": "a"}, 3, position=(0, 2))
    assert not w.covered(0, 2)  # in the open window, not yet in a report


def test_restore_takes_coverage_and_the_length_reference_from_earlier_reports():
    short, long_ = "x = 3. " * 5, "Step: we move every term and check the result again. " * 12
    before = BiasWindow("d", {}, max_records=10)
    [ref] = [r for i in range(10) for r in before.add({}, i, short if i % 2 else long_, position=(0, i))]
    assert ref.length_reference == ref.length_bins and ref.length_psi is None
    after = BiasWindow("d", {}, max_records=10)  # a restarted worker
    after.restore({0: 10, 3: 7}, ref.length_reference)
    assert after.covered(0, 9) and not after.covered(0, 10) and after.covered(3, 6)
    [same] = [r for i in range(10) for r in after.add({}, 100 + i, short if i % 2 else long_, position=(0, 10 + i))]
    assert same.length_psi == pytest.approx(0.0)  # compared with the restored reference, not made a new one
    assert same.source_offsets == {"0": 20, "3": 7}
    fresh = BiasWindow("d", {})
    fresh.restore({}, {})
    assert fresh.reference_bins is None  # nothing to restore: the next window becomes the reference


def test_restore_keeps_the_higher_offset():
    w = BiasWindow("d", {}, max_records=1)
    w.add({"t": "a"}, 1, position=(0, 50))
    w.restore({0: 20, 1: 3}, {})
    assert w.covered(0, 50) and w.covered(1, 2) and not w.covered(1, 3)

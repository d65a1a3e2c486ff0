import math

import pytest

from agents.bias.core import BiasWindow, jsd, psi, status

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
    by_dim = {d.dimension: d for d in r.dimensions}
    assert by_dim["difficulty"].observed == {"a": 0.75, "b": 0.25}
    assert by_dim["difficulty"].psi == pytest.approx(psi({"a": 0.75, "b": 0.25}, TARGET))
    assert by_dim["difficulty"].status == "critical"
    assert by_dim["domain"].status == "no_target" and by_dim["domain"].psi is None


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

"""What a restarted bias worker takes from the reports already written (the pure part of agents/bias/store.py)."""

from synthstream.agents.bias.store import SLACK_MS, horizon_ms, resume_from


def report(dataset: str, offsets: dict[str, int], bins: dict | None = None, psi: float | None = 0.01,
           reference: dict | None = None) -> dict:
    return {"dataset": dataset, "source_offsets": offsets, "length_bins": bins or {}, "length_psi": psi,
            "length_reference": reference or {}}


def test_offsets_are_the_highest_any_worker_reported_per_dataset_and_partition():
    reports = [report("d", {"0": 10, "1": 4}), report("d", {"2": 9}),  # two workers' reports interleaved
               report("d", {"0": 25, "1": 4}), report("e", {"0": 3}), report("d", {"0": 12, "2": 7})]
    got = resume_from(reports)
    assert got["d"].reported == {0: 25, 1: 4, 2: 9} and got["e"].reported == {0: 3}


def test_the_newest_reference_wins_and_old_reports_fall_back_to_the_first_window():
    ref = {"0-25": 1.0}
    got = resume_from([report("d", {}, bins=ref, psi=None, reference=ref),
                       report("d", {}, bins={"25-50": 1.0}, reference={"50-100": 1.0})])
    assert got["d"].reference == {"50-100": 1.0}
    old = resume_from([report("d", {}, bins={"25-50": 1.0}, psi=None), report("d", {}, bins={"0-25": 1.0})])
    assert old["d"].reference == {"25-50": 1.0}  # the one without a length PSI was the reference
    assert resume_from([report("d", {}, bins={"0-25": 1.0})])["d"].reference == {}


def test_horizon_covers_a_window_two_idle_flushes_and_the_slack():
    assert horizon_ms(60, 3) == 66_000 + SLACK_MS

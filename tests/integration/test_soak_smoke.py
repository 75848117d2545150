"""`make soak`, shortened: the whole system with the ledger striking every few seconds under
random marketsim faults keeps its record whole (no history row lost or duplicated, no strike
missing from the schedule, the chain verifies). Timings (gaps, RSS growth) are the soak's own
report, not asserted here."""

from __future__ import annotations

from benchmarks.soak import SERVICES, soak


def test_a_short_soak_keeps_the_record_whole():
    report = soak(40, toggle_s=8, seed=3, strike_every_s=10, history_interval_s=5)
    rec = report["record"]
    assert "ledger" in SERVICES and report["rss_mb"]["ledger"]["start"] is not None
    assert report["snapshots"] > 0 and rec["history_buckets_published"] >= 4
    assert rec["history_rows_lost"] == 0 and rec["history_rows_duplicated"] == 0, rec
    assert rec["strikes"] >= 3 and rec["strikes_missing"] == [], rec
    assert rec["approvals_refused"] == [] and rec["verify"]["problem"] is None, rec
    assert rec["verify"]["locked_checked"] == rec["strike_states"].get("locked", 0) >= 1, rec

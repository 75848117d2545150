"""One reading of a stream for `navstream status` and the Pipeline page (shared/stream_stats.py)."""

from __future__ import annotations

import io
import time

from services.status import status_command
from shared.keys import Keys
from shared.stream_stats import read_stream

K = Keys()


def test_a_missing_stream_is_reported_not_raised(r):
    info = read_stream(r, K.fills, time.time())
    assert (info.exists, info.length, info.newest_age_s, info.groups) == (False, 0, None, [])


def test_length_age_and_group_lag(r):
    for i in range(4):
        r.xadd(K.prices, {"sym": "BTC", "px": str(97000 + i)})
    r.xgroup_create(K.prices, "nav", id="0")
    r.xreadgroup("nav", "nav-1", {K.prices: ">"}, count=1)
    info = read_stream(r, K.prices, time.time() + 2.0)
    assert info.exists and info.length == 4 and info.entries_added == 4
    assert info.newest_age_s is not None and info.newest_age_s >= 2.0
    (group,) = info.groups
    assert (group["name"], group["pending"], group["lag"], group["consumers"]) == ("nav", 1, 3, 1)
    assert group["last_delivered_ts"] is not None


def test_status_shows_streams_from_the_same_reading(r):
    r.xadd(K.nav, {"seq": "1"})
    out = io.StringIO()
    code = status_command(r, K, ["nav"], out)
    text = out.getvalue()
    assert code == 1 and "no heartbeat" in text
    assert [line.split()[:2] for line in text.splitlines() if line.startswith("hedge:")] == [
        ["hedge:prices", "0"], ["hedge:nav", "1"], ["hedge:fills", "0"], ["hedge:income", "0"]]

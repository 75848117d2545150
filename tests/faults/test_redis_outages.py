"""Redis stopped, frozen, wiped, or its streams deleted: services back off quietly and resume."""

from __future__ import annotations

import re
import time

from tests.support import eventually

SERVICES = ("pricer", "nav", "publisher")


def _log_lines(pipeline) -> dict[str, int]:
    return {name: len(pipeline.procs[name].log_text().splitlines()) for name in SERVICES}


def _assert_bounded_logging(pipeline, before: dict[str, int], limit: int = 12) -> None:
    after = _log_lines(pipeline)
    for name in SERVICES:
        grew = after[name] - before[name]
        assert grew <= limit, f"{name} wrote {grew} log lines during a short outage (hot loop?):\n" \
                              + "\n".join(pipeline.procs[name].log_text().splitlines()[-grew:][:20])


def _assert_resumes(pipeline, seq: int, returned_at: float) -> None:
    pipeline.wait_for_seq_beyond(seq, timeout=10)
    assert time.monotonic() - returned_at < 10
    seq_on_disk = pipeline.nav_json()["seq"]
    eventually(lambda: pipeline.nav_json()["seq"] > seq_on_disk, timeout=10, message="nav.json to move on")
    for name in SERVICES:
        assert pipeline.procs[name].alive(), f"{name} died: {pipeline.procs[name].log_text()[-2000:]}"


def test_redis_stopped_for_5s(pipeline, redis_server):
    seq = pipeline.last_snapshot()["seq"]
    lines = _log_lines(pipeline)
    redis_server.stop()
    time.sleep(5)
    redis_server.start()  # same port, same AOF
    returned = time.monotonic()
    _assert_resumes(pipeline, seq, returned)
    _assert_bounded_logging(pipeline, lines)
    assert pipeline.last_snapshot()["seq"] > seq, "seq continues after the restart (AOF kept it)"


def test_redis_frozen_for_5s(pipeline, redis_server):
    seq = pipeline.last_snapshot()["seq"]
    lines = _log_lines(pipeline)
    redis_server.freeze()
    time.sleep(5)
    redis_server.thaw()
    returned = time.monotonic()
    _assert_resumes(pipeline, seq, returned)
    _assert_bounded_logging(pipeline, lines)


def test_redis_restarted_without_persistence(pipeline, redis_server):
    seq = pipeline.last_snapshot()["seq"]
    redis_server.restart(wipe=True)
    returned = time.monotonic()
    pipeline.r.connection_pool.reset()
    snap = eventually(lambda: pipeline.last_snapshot(), timeout=10, message="a snapshot after the wipe")
    assert time.monotonic() - returned < 10
    # A reader never sees seq go backwards, even though Redis forgot hedge:nav:seq.
    assert snap["seq"] > seq
    assert "aum" in snap
    for name in ("nav", "publisher"):   # each logs it when it next reads, which may be after nav's snapshot
        def recreated(name: str = name) -> int:
            return len(re.findall(r"consumer group .* (was )?missing", pipeline.procs[name].log_text()))
        eventually(lambda: recreated() >= 1, timeout=10, message=f"{name} to log the lost consumer group")
        assert recreated() <= 2, f"{name} should log the lost group once per stream, logged it {recreated()} times"


def test_streams_deleted_or_trimmed_under_blocked_consumers(pipeline):
    r = pipeline.r
    seq = pipeline.last_snapshot()["seq"]
    r.delete("hedge:prices")
    pipeline.wait_for_seq_beyond(seq, timeout=10)
    r.xtrim("hedge:prices", maxlen=0)
    seq = pipeline.last_snapshot()["seq"]
    pipeline.wait_for_seq_beyond(seq, timeout=10)
    disk_seq = pipeline.nav_json()["seq"]
    r.delete("hedge:nav")
    eventually(lambda: pipeline.nav_json()["seq"] > disk_seq, timeout=10,
               message="publisher to recover after hedge:nav was deleted")
    for name in SERVICES:
        assert pipeline.procs[name].alive()

"""A full disk under the state files, and wall-clock jumps under the services."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from tests.faults.conftest import injected_env
from tests.support import eventually


def test_disk_full_keeps_old_files_and_updates_redis(env, r, marketsim, services, tmp_path):
    flag = tmp_path / "disk-full"
    env.update(PRICE_INTERVAL_S="0.3", ACCOUNT_INTERVAL_S="0.5")
    for name in ("pricer", "nav"):
        services(name, env)
    publisher = services("publisher", injected_env(env, NAVSTREAM_INJECT_ENOSPC_FLAG=str(flag),
                                                   NAVSTREAM_INJECT_ENOSPC_DIR=env["STATE_DIR"]))
    nav_path = Path(env["STATE_DIR"]) / "nav.json"
    eventually(lambda: orjson.loads(nav_path.read_bytes())["source"] == "live", timeout=30, message="nav.json")

    flag.touch()
    time.sleep(0.5)
    frozen = nav_path.read_bytes()
    frozen_seq = orjson.loads(frozen)["seq"]
    # Redis keeps moving while the disk is full...
    eventually(lambda: orjson.loads(r.get("hedge:state:nav"))["seq"] > frozen_seq + 3, timeout=10,
               message="hedge:state:nav to keep updating")
    # ...the file on disk stays the last complete one...
    assert orjson.loads(nav_path.read_bytes())["seq"] == frozen_seq
    assert not list(nav_path.parent.glob(".*.tmp")), "no temp files left behind"
    # ...and the error is visible in health.
    health = eventually(lambda: (h := orjson.loads(r.get("hedge:health:publisher")))["last_error"] and h,
                        timeout=5, message="the error in publisher health")
    assert "No space left" in health["last_error"] or "ENOSPC" in health["last_error"]
    assert publisher.alive()

    flag.unlink()
    eventually(lambda: orjson.loads(nav_path.read_bytes())["seq"] > frozen_seq, timeout=10,
               message="files to resume once space is back")


def test_clock_jumps_never_make_ages_negative(env, r, marketsim, services, tmp_path):
    offset = tmp_path / "clock-offset"
    offset.write_text("0")
    env.update(PRICE_INTERVAL_S="0.3", ACCOUNT_INTERVAL_S="0.5")
    jumped = injected_env(env, NAVSTREAM_INJECT_CLOCK_OFFSET_FILE=str(offset))
    services("pricer", env)
    services("nav", jumped)
    services("publisher", env)
    eventually(lambda: r.xlen("hedge:nav") > 3, timeout=30, message="snapshots")

    def snapshots_after(last_id):
        return r.xrange("hedge:nav", min=f"({last_id.decode()}")

    for jump in ("-3600", "7200", "0"):
        last_id = r.xrevrange("hedge:nav", count=1)[0][0]
        offset.write_text(jump)
        eventually(lambda lid=last_id: len(snapshots_after(lid)) >= 4, timeout=10,
                   message=f"snapshots after a {jump} s jump")
        entries = snapshots_after(last_id)
        ids = [tuple(map(int, eid.split(b"-"))) for eid, _ in entries]
        assert ids == sorted(ids), "stream IDs stay monotonic"
        for _eid, fields in entries:
            snap = orjson.loads(fields[b"snapshot"])
            assert snap["nav_age_s"] is None or snap["nav_age_s"] >= 0, (jump, snap["nav_age_s"])
            for asset, h in snap["aum"]["offexchange"].items():
                assert h["price_age_s"] is None or h["price_age_s"] >= 0, (jump, asset, h)

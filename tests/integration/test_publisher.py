"""The publisher as a real process against a real redis-server: files, keys, KPIs, history, bad input.

Snapshots and fills are XADDed here with the shared encoders; no other service runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import orjson
import pytest

from shared.contracts.fills import Fill, encode_fill
from shared.contracts.health import decode_heartbeat
from shared.contracts.kpis import KpisDocument
from shared.contracts.nav import NavDocument, stable_aum
from shared.keys import GROUP_PUBLISHER, Keys
from shared.contracts.history import decode_history_point
from tests.support import eventually, schema_validator
from tests.documents import T0, make_snapshot, nav_entry

K = Keys()


# --- helpers shared by the publisher's integration tests ------------------------------

def dirs(env: dict) -> tuple[Path, Path]:
    return Path(env["STATE_DIR"]), Path(env["DASHBOARD_STATE_DIR"])


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def heartbeat(r) -> dict:
    raw = r.get(K.health("publisher"))
    return decode_heartbeat(raw).model_dump() if raw else {}


def counter(r, name: str) -> int:
    return heartbeat(r).get("counters", {}).get(name, 0)


def pending(r, stream: str = K.nav) -> int:
    return r.xpending(stream, GROUP_PUBLISHER)["pending"]


def publish(r, doc: dict) -> bytes:
    return r.xadd(K.nav, nav_entry(doc))


def published_seq(env: dict) -> int | None:
    doc = read_json(dirs(env)[0] / "nav.json")
    return doc["seq"] if doc else None


def committed_seq(r) -> int | None:
    raw = r.get(K.state_nav)
    return orjson.loads(raw)["seq"] if raw else None


def wait_seq(r, seq: int, timeout: float = 10) -> None:
    """Until the batch holding `seq` is committed: its files are written before the keys are set."""
    eventually(lambda: committed_seq(r) == seq, timeout=timeout, interval=0.02,
               message=f"{K.state_nav} with seq {seq}")


def start(services, env: dict, **publisher_env):
    """`python -m services.publisher` with PUBLISHER_* settings from keyword arguments."""
    return services("publisher", {**env, **{f"PUBLISHER_{k.upper()}": str(v) for k, v in publisher_env.items()}})


def started(services, env: dict, r, **publisher_env):
    """A publisher that is up: its consumer groups exist."""
    proc = start(services, env, **publisher_env)
    eventually(lambda: any(g["name"] == GROUP_PUBLISHER.encode() for g in r.xinfo_groups(K.fills)),
               timeout=15, message="the publisher's consumer groups")
    return proc


def fill(i: int, *, maker: bool, fallback: bool = False, fee: float = 1.0, pnl: float = 0.0,
         slippage: float = 1.0) -> dict:
    return encode_fill(Fill(f"f{i}", "BTCUSDT", "BUY", 0.01, 97_000.0, fee, "maker" if maker else "taker",
                            fallback, pnl, slippage, time.time()))


# --- tests ----------------------------------------------------------------------------

def test_files_keys_kpis_and_history_match_the_injected_snapshot(services, env, r):
    now_ms = int(time.time() * 1000)
    # One fill older than the window (1 h here): it must not count.
    r.xadd(K.fills, fill(0, maker=False, fee=500.0, pnl=-1.0), id=f"{now_ms - 7_200_000}-0")
    for i, (maker, fallback, fee, pnl, slip) in enumerate([(True, False, 1.0, 30.0, 0.5),
                                                           (True, False, 1.0, -10.0, 0.5),
                                                           (False, True, 3.0, 0.0, 4.0),
                                                           (True, False, 1.0, 0.0, 0.5)], 1):
        r.xadd(K.fills, fill(i, maker=maker, fallback=fallback, fee=fee, pnl=pnl, slippage=slip))
    doc = make_snapshot(1)
    publish(r, doc)
    proc = start(services, env, fills_window_s=3600)
    wait_seq(r, 1, timeout=15)
    state, dash = dirs(env)
    eventually(lambda: read_json(dash / "kpis_v7.json"), message="the mirrored kpis")

    for folder in (state, dash):
        nav = read_json(folder / "nav.json")
        assert nav == doc                                      # passed through whole ...
        assert orjson.dumps(nav["aum"]) == orjson.dumps(doc["aum"])   # ... aum byte for byte
        NavDocument.model_validate(nav)
        schema_validator("nav.v7").validate(nav)
        assert read_json(folder / "positions.json") == {"ts": doc["ts"], "positions": doc["positions"]}
        kpis = read_json(folder / "kpis_v7.json")
        KpisDocument.model_validate(kpis)
        schema_validator("kpis.v7").validate(kpis)
    assert read_json(state / "kpis_v7.json") == read_json(dash / "kpis_v7.json")

    # Redis keys: the same documents, compact
    assert orjson.loads(r.get(K.state_nav)) == doc
    assert orjson.loads(r.get(K.state_positions)) == read_json(state / "positions.json")
    assert orjson.loads(r.get(K.state_kpis)) == read_json(state / "kpis_v7.json")
    assert b"\n" not in r.get(K.state_kpis)

    kpis = read_json(state / "kpis_v7.json")
    assert kpis["nav"] == {"nav_total": doc["nav_total"], "nav_age_s": doc["nav_age_s"]}
    assert kpis["aum_total"] == doc["aum"]["total"]
    assert kpis["drawdown"] == {"dd_pct": 0.0, "dd_state": "normal", "peak_nav": doc["nav_total"]}
    # 4 fills in the window: 3 maker, 1 taker fallback; fees 6 over |30 - 10| = 20
    assert kpis["router_stats"] == {"maker_fill_ratio": 0.75, "fallback_ratio": 0.25, "fills": 4,
                                    "window_s": 3600.0, "avg_slippage_bps": pytest.approx(5.5 / 4),
                                    "maker_fills": 3, "fallback_fills": 1}
    assert kpis["router_quality"] == "fair"                    # fallback 0.25 > 0.2
    assert kpis["fee_pnl"] == {"fee_pnl_ratio": pytest.approx(0.3), "fees_usd": 6.0,
                               "realized_pnl_usd": 20.0, "window_s": 3600.0}
    assert kpis["fee_pnl_ratio"] == pytest.approx(0.3)
    assert set(kpis["atr"]["by_symbol"]) == {"BTCUSDT", "ETHUSDT"} and kpis["atr_regime"] is None

    # history: one point, flat fields
    (_, point), = r.xrange(K.nav_history)
    hist = decode_history_point(point)
    assert hist["nav_total"] == doc["nav_total"] and hist["aum_total"] == doc["aum"]["total"]
    assert hist["maker_fill_ratio"] == 0.75 and hist["fee_pnl_ratio"] == pytest.approx(0.3)
    assert r.hget(K.kpi_state, "peak_nav") == repr(doc["nav_total"]).encode()

    # everything acknowledged
    assert pending(r, K.nav) == 0 and pending(r, K.fills) == 0

    # a fill alone refreshes the KPIs; nav.json stays as it is
    r.xadd(K.fills, fill(9, maker=True, pnl=10.0))
    eventually(lambda: read_json(state / "kpis_v7.json")["router_stats"]["fills"] == 5,
               message="KPIs to include the new fill")
    assert read_json(state / "nav.json") == doc
    assert proc.alive()


def test_snapshot_without_aum_is_published_with_the_stable_shape_and_a_warning(services, env, r):
    proc = started(services, env, r)
    doc = make_snapshot(2, with_aum=False)
    entry_id = publish(r, doc).decode()
    wait_seq(r, 2)
    nav = read_json(dirs(env)[0] / "nav.json")
    assert nav["aum"] == stable_aum(doc["nav_total"]) == {"futures": 100_000.0, "offexchange": {},
                                                            "total": 100_000.0}
    assert {k: v for k, v in nav.items() if k != "aum"} == doc
    schema_validator("nav.v7").validate(nav)
    eventually(lambda: f"nav snapshot seq 2 (entry {entry_id}) has no aum block" in proc.log_text(),
               message="the guard's warning")
    assert "WARNING" in next(line for line in proc.log_text().splitlines() if "has no aum block" in line)
    eventually(lambda: counter(r, "aum_guard_repairs") == 1, message="aum_guard_repairs in the heartbeat")


def test_bad_snapshots_are_skipped_acked_and_leave_the_files_alone(services, env, r):
    proc = started(services, env, r)
    publish(r, make_snapshot(1))
    wait_seq(r, 1)
    state, _ = dirs(env)
    before = {name: (state / name).read_bytes() for name in ("nav.json", "positions.json")}

    nan_nav = orjson.dumps(make_snapshot(2)).replace(b'"nav_total":100000.0', b'"nav_total":NaN')
    no_nav = make_snapshot(3)
    del no_nav["nav_total"]
    bad_ids = [r.xadd(K.nav, {"seq": "2", "snapshot": nan_nav}).decode(),
               r.xadd(K.nav, {"seq": "3", "snapshot": orjson.dumps(no_nav)}).decode(),
               r.xadd(K.nav, {"seq": "4", "snapshot": "{truncated"}).decode()]
    eventually(lambda: counter(r, "snapshots_rejected") == 3, message="three rejections in the heartbeat")
    eventually(lambda: pending(r) == 0, message="bad entries acknowledged")
    assert {name: (state / name).read_bytes() for name in before} == before     # untouched
    log = proc.log_text()
    for entry_id, seq in zip(bad_ids, ("2", "3", "4"), strict=True):
        assert f"hedge:nav entry {entry_id} (seq {seq}):" in log
    assert "nav_total: Field required" in log and "not valid JSON" in log
    assert "nav_total" in heartbeat(r)["last_error"] or "not valid JSON" in heartbeat(r)["last_error"]

    publish(r, make_snapshot(5))          # the group is not blocked
    wait_seq(r, 5)


def test_only_the_newest_of_a_batch_is_checked_whole_and_a_bad_one_falls_back_to_the_one_before(
        services, env, r):
    older_bad_side = make_snapshot(1)
    older_bad_side["positions"][0]["side"] = "FLAT"          # a field the bars read: rejected
    newest_bad_aum = make_snapshot(3)
    del newest_bad_aum["aum"]["total"]                       # breaks nav.v7: cannot be published
    ids = [r.xadd(K.nav, {"seq": str(d["seq"]), "snapshot": orjson.dumps(d)}).decode()
           for d in (older_bad_side, make_snapshot(2), newest_bad_aum)]
    proc = start(services, env)                              # all three arrive in its first batch
    wait_seq(r, 2, timeout=15)
    assert published_seq(env) == 2
    eventually(lambda: counter(r, "snapshots_rejected") == 2, message="two rejections in the heartbeat")
    log = proc.log_text()
    assert f"hedge:nav entry {ids[0]} (seq 1): nav snapshot: positions.0.side" in log
    assert f"hedge:nav entry {ids[2]} (seq 3): nav snapshot: aum.total" in log
    assert counter(r, "batches") == 1 and pending(r) == 0


def test_coalescing_writes_the_newest_snapshot_far_fewer_times(services, env, r):
    started(services, env, r)
    pipe = r.pipeline(transaction=False)
    for seq in range(1, 1001):            # ts T0+1 .. T0+1000: 17 minutes of marks
        pipe.xadd(K.nav, nav_entry(make_snapshot(seq, marks={"BTCUSDT": 90_000.0 + seq})))
    pipe.execute()
    wait_seq(r, 1000, timeout=20)
    eventually(lambda: counter(r, "snapshots_received") == 1000, message="all 1000 read")
    hb = heartbeat(r)["counters"]
    assert hb["snapshots_published"] + hb["snapshots_coalesced"] == 1000
    assert hb["snapshots_published"] <= 50, hb
    assert hb["file_writes"] == hb["batches"] <= 50
    assert orjson.loads(r.get(K.state_nav))["seq"] == 1000
    assert pending(r) == 0
    # Coalesced snapshots still fed the bars: minutes T0 .. T0+960 closed, the one of T0+1000 forming.
    assert r.xlen(K.bars("BTCUSDT")) == 16


def test_drawdown_peak_survives_a_restart_between_peak_and_trough(services, env, r):
    proc = started(services, env, r)
    publish(r, make_snapshot(1, nav_total=100_000.0))
    publish(r, make_snapshot(2, nav_total=110_000.0))      # the peak
    wait_seq(r, 2)
    proc.kill()
    start(services, env)
    publish(r, make_snapshot(3, nav_total=99_000.0))       # the trough, after the restart
    wait_seq(r, 3)
    kpis = read_json(dirs(env)[0] / "kpis_v7.json")
    assert kpis["drawdown"]["peak_nav"] == 110_000.0
    assert kpis["drawdown"]["dd_pct"] == pytest.approx(0.1)
    assert kpis["dd_state"] == kpis["drawdown"]["dd_state"] == "critical"


def test_bars_atr_and_history_build_up_across_a_restart(services, env, r):
    proc = started(services, env, r)
    base = T0 + 7                              # one snapshot a minute, 7 s into it
    for i in range(20):
        if i == 10:                            # restart half way: bars and history resume from Redis
            proc.kill()
            proc = start(services, env)
        publish(r, make_snapshot(i + 1, ts=base + 60 * i, marks={"BTCUSDT": 100.0 + i}))
        wait_seq(r, i + 1)
    kpis = read_json(dirs(env)[0] / "kpis_v7.json")
    btc = kpis["atr"]["by_symbol"]["BTCUSDT"]
    # 19 closed one-price bars rising by 1 each: every true range is 1 -> ATR(14) = 1 over close 118
    assert btc == {"atr": 1.0, "atr_pct": pytest.approx(1 / 118), "regime": "extreme", "bars": 15}
    assert kpis["atr_regime"] == "extreme"
    assert r.xlen(K.bars("BTCUSDT")) == 19
    points = [decode_history_point(f) for _, f in r.xrange(K.nav_history)]
    assert [p["ts"] for p in points] == [base + 60 * i for i in range(20)]   # one a minute, none twice


def test_write_failure_keeps_the_old_file_still_updates_redis_and_is_visible(services, env, r):
    import resource

    proc = started(services, env, r)
    publish(r, make_snapshot(1))
    wait_seq(r, 1)
    nav_path = dirs(env)[0] / "nav.json"
    old = nav_path.read_bytes()
    # A real OSError from the kernel: a 64-byte file-size limit (EFBIG) on the running publisher.
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (64, resource.RLIM_INFINITY))
    try:
        publish(r, make_snapshot(2))
        eventually(lambda: orjson.loads(r.get(K.state_nav))["seq"] == 2, message="Redis keys updated")
        eventually(lambda: heartbeat(r)["status"] == "degraded", message="degraded heartbeat")
        hb = heartbeat(r)
        assert hb["counters"]["file_write_errors"] >= 1
        assert "nav.json" in hb["last_error"] or "kpis_v7.json" in hb["last_error"]
        assert "File too large" in hb["last_error"] and "kept the previous file" in hb["last_error"]
        assert nav_path.read_bytes() == old                           # the old file, intact
        assert pending(r) == 0                                        # acked: see the README
    finally:
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    publish(r, make_snapshot(3))
    wait_seq(r, 3)
    eventually(lambda: heartbeat(r)["status"] == "ok", message="heartbeat ok again")
    eventually(lambda: "writing state files: recovered" in proc.log_text(), message="recovery logged")

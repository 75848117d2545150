"""The nav service as a process: real redis-server, real marketsim, `python -m services.nav`.

Prices are injected straight into Redis (as the pricer would write them), so these
tests do not depend on the pricer.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from pathlib import Path

import orjson
import pytest

import services.nav.inputs as nav_inputs_module
import services.nav.loop as nav_loop_module
from services.marketsim.client import clear_faults, set_fault
from services.nav.loop import NavLoop
from services.nav.manual import clear_manual_nav, set_manual_nav
from services.nav.model import AccountSnapshot
from services.nav.valuation import build_nav_snapshot
from shared.contracts.nav import validate_nav_document
from shared.contracts.prices import PriceObservation, encode_latest, encode_price
from shared.exchange import make_usdm
from shared.heartbeat import Heartbeat
from shared.keys import GROUP_NAV, Keys
from shared.redis_io import connect
from shared.settings import Settings
from tests.support import eventually, schema_validator

KEYS = Keys()
VALIDATOR = schema_validator("nav.v7")
ASSET_PRICES = {"BTC": 97000.0, "XAUT": 2650.0, "USDC": 1.0}
FLAT_FIELDS = {b"seq", b"ts", b"nav_total", b"aum_total", b"nav_age_s", b"source", b"snapshot"}


# --- helpers --------------------------------------------------------------------------


@pytest.fixture
def nav_env(env: dict[str, str]) -> dict[str, str]:
    # No accounts file: the one account `main` (the multi-account cases are in test_nav_accounts.py).
    env = dict(env, PRICE_INTERVAL_S="0.2", ACCOUNT_INTERVAL_S="0.5", SOURCE_TIMEOUT_S="1",
               MARKETSIM_FILL_INTERVAL_S="0", ACCOUNTS_FILE=env["STATE_DIR"] + "/no-accounts.json")
    return env


def sim_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['MARKETSIM_PORT']}"


def push_prices(r, observations: list[PriceObservation]) -> None:
    """What the pricer does: XADD each to hedge:prices and keep the latest in the hash, atomically."""
    pipe = r.pipeline(transaction=True)
    for obs in observations:
        pipe.xadd(KEYS.prices, encode_price(obs))
        pipe.hset(KEYS.prices_latest, obs.sym, encode_latest(obs))
    pipe.execute()


def push_asset_prices(r, ts: float | None = None, **overrides: float) -> None:
    ts = time.time() if ts is None else ts
    prices = {**ASSET_PRICES, **overrides}
    push_prices(r, [PriceObservation(sym, px, "coingecko", ts) for sym, px in prices.items()]
                + [PriceObservation("USDZAR", 18.2, "coingecko", ts)])


def snapshots(r, start: str = "-") -> list[dict]:
    return [orjson.loads(fields[b"snapshot"]) for _id, fields in r.xrange(KEYS.nav, start, "+")]


def last(r) -> dict | None:
    entries = r.xrevrange(KEYS.nav, count=1)
    return orjson.loads(entries[0][1][b"snapshot"]) if entries else None


def wait_for(r, predicate, timeout: float = 10.0, message: str = "a matching snapshot") -> dict:
    def check():
        doc = last(r)
        return doc if doc is not None and predicate(doc) else None
    return eventually(check, timeout=timeout, message=message)


def assert_snapshot_ok(doc: dict) -> None:
    errors = [e.message for e in VALIDATOR.iter_errors(doc)]
    assert not errors, errors
    validate_nav_document(doc)
    assert doc["aum"]["futures"] == doc["nav_total"]

    def finite(v):
        if isinstance(v, float):
            assert math.isfinite(v)
        elif isinstance(v, dict):
            [finite(x) for x in v.values()]
        elif isinstance(v, list):
            [finite(x) for x in v]
    finite(doc)


def write_holdings(path: str | Path, doc: dict | bytes) -> None:
    """Replace the file atomically, as an editor that saves safely would."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(doc if isinstance(doc, bytes) else orjson.dumps(doc))
    os.replace(tmp, path)


def account_wallets(env: dict[str, str]) -> dict[str, float]:
    """The account's wallet per margin asset, read raw from marketsim as Binance answers it."""
    settings = Settings(mode="sim", marketsim_port=int(env["MARKETSIM_PORT"]))
    exchange = make_usdm(settings, timeout_s=2, with_keys=True)
    return {a["asset"]: float(a["walletBalance"]) for a in exchange.fapiPrivateV3GetAccount()["assets"]}


# --- paths ----------------------------------------------------------------------------


def test_live_path_values_the_account_and_tracks_its_markets(r, nav_env, marketsim, services):
    push_asset_prices(r)
    nav = services("nav", nav_env)
    doc = wait_for(r, lambda d: d["source"] == "live" and d["fx"], message="a live snapshot")
    assert_snapshot_ok(doc)
    assert doc["status"] == {"degraded": False, "reasons": []}, doc["status"]
    assert {p["symbol"] for p in doc["positions"]} == {"BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDC"}
    assert {p["side"] for p in doc["positions"]} == {"LONG", "SHORT"}
    assert 0 <= doc["nav_age_s"] < 2
    # nav_total is the futures account alone: Σ wallets at their USD price + Σ uPnL (in USD),
    # never the off-exchange holdings. USDT is at par, USDC at the pricer's 1.0.
    wallets = account_wallets(nav_env)
    assert doc["nav_total"] == pytest.approx(wallets["USDT"] + wallets["USDC"] * ASSET_PRICES["USDC"]
                                             + sum(p["upnl"] for p in doc["positions"]), rel=1e-9)
    assert doc["accounts"]["main"]["mode"] == "single_asset"
    off = doc["aum"]["offexchange"]
    assert set(off) == {"BTC", "XAUT", "USDC"} and off["BTC"]["source"] == "coingecko"
    assert off["BTC"]["usd_value"] == pytest.approx(0.035 * 97000.0)
    assert doc["aum"]["total"] == pytest.approx(doc["nav_total"] + sum(h["usd_value"] for h in off.values()))
    assert doc["fx"] == {"USDZAR": 18.2}
    eventually(lambda: r.smembers(KEYS.tracked_markets) == {b"BTCUSDT", b"ETHUSDT", b"SOLUSDT", b"BTCUSDC"},
               message="tracked markets")
    eventually(lambda: r.smembers(KEYS.tracked_assets) == {b"USDC"}, message="tracked margin assets")
    # the [aum-v7] line, exactly as the spec shows it: at start, then at most once a minute ...
    line = r"\[aum-v7\] computed offexchange AUM: keys=\['BTC', 'USDC', 'XAUT'\] totals_usd=\d+\.\d\d\n"
    eventually(lambda: re.findall(line, nav.log_text()), message="the [aum-v7] line")
    assert "totals_usd=7057.46" in nav.log_text()  # 0.035*97000 + 0.59*2650 + 2098.96*1
    wait_for(r, lambda d: d["seq"] >= doc["seq"] + 10, message="ten more snapshots")
    assert len(re.findall(r"\[aum-v7\]", nav.log_text())) == 1, "one line a minute, not one per snapshot"
    # ... and at once when the set of assets changes
    holdings = orjson.loads(Path(nav_env["HOLDINGS_FILE"]).read_bytes())
    write_holdings(nav_env["HOLDINGS_FILE"], {k: v for k, v in holdings.items() if k != "XAUT"})
    eventually(lambda: "keys=['BTC', 'USDC'] totals_usd=" in nav.log_text(), message="a line for the new assets")
    assert len(re.findall(r"\[aum-v7\]", nav.log_text())) == 2


def test_cache_path_when_the_account_is_down(r, nav_env, marketsim, services):
    push_asset_prices(r)
    services("nav", nav_env)
    live = wait_for(r, lambda d: d["source"] == "live", message="a live snapshot")
    set_fault(sim_url(nav_env), "account", "down")
    first = wait_for(r, lambda d: d["source"] == "cache", message="a cache snapshot")
    assert_snapshot_ok(first)
    assert first["status"]["degraded"]
    assert any(r_.startswith("account: ") and "last good account data" in r_ for r_ in first["status"]["reasons"])
    assert first["nav_total"] is not None and first["aum"]["total"] is not None
    later = wait_for(r, lambda d: d["seq"] >= first["seq"] + 3 and d["nav_age_s"] > first["nav_age_s"] + 0.4,
                     message="snapshots continuing with a growing nav_age_s")
    assert later["source"] == "cache" and later["seq"] > live["seq"]
    # between polls, uPnL follows the latest marks from hedge:prices
    btc = next(p for p in later["positions"] if p["symbol"] == "BTCUSDT")
    push_prices(r, [PriceObservation("BTCUSDT", btc["entry_price"] + 10000.0, "mark", time.time())])
    moved = wait_for(r, lambda d: next(p for p in d["positions"] if p["symbol"] == "BTCUSDT")["mark_price"]
                     == btc["entry_price"] + 10000.0, message="position at the new mark")
    moved_btc = next(p for p in moved["positions"] if p["symbol"] == "BTCUSDT")
    assert moved_btc["upnl"] == pytest.approx(10000.0 * moved_btc["qty"])
    assert moved["nav_total"] == pytest.approx(later["nav_total"] + moved_btc["upnl"] - btc["upnl"])
    clear_faults(sim_url(nav_env))
    wait_for(r, lambda d: d["source"] == "live", message="back to live")


def test_startup_without_any_exchange_has_nulls_and_flat_fields(r, nav_env, services):
    push_asset_prices(r)
    services("nav", nav_env)  # no marketsim: the account is unreachable from the start
    doc = wait_for(r, lambda d: d["seq"] >= 5, message="startup snapshots")
    assert_snapshot_ok(doc)
    assert doc["source"] == "startup"
    assert doc["nav_total"] is None and doc["nav_age_s"] is None
    assert "futures" in doc["aum"] and doc["aum"]["futures"] is None
    assert "total" in doc["aum"] and doc["aum"]["total"] is None
    assert set(doc["aum"]["offexchange"]) == {"BTC", "XAUT", "USDC"}
    assert doc["positions"] == [] and doc["status"]["degraded"]
    assert any("no account data yet" in x for x in doc["status"]["reasons"])
    assert any(x.startswith("account: GET /fapi/v3/account: unreachable") for x in doc["status"]["reasons"])
    # what a user sees with redis-cli: XREAD COUNT 5 STREAMS hedge:nav 0
    ((stream, entries),) = r.xread({KEYS.nav: "0"}, count=5)
    assert stream == KEYS.nav.encode() and len(entries) == 5
    for _id, fields in entries:
        assert set(fields) == FLAT_FIELDS
        assert fields[b"source"] == b"startup" and fields[b"nav_total"] == b"" and fields[b"aum_total"] == b""
        assert int(fields[b"seq"]) >= 1 and float(fields[b"ts"]) > 0


def test_manual_nav_set_and_clear(r, nav_env, services):
    push_asset_prices(r)
    services("nav", nav_env)
    wait_for(r, lambda d: d["source"] == "startup", message="startup")
    set_manual_nav(r, KEYS, 123456.0, note="exchange maintenance")
    doc = wait_for(r, lambda d: d["source"] == "manual", message="a manual snapshot")
    assert_snapshot_ok(doc)
    assert doc["nav_total"] == 123456.0 and doc["aum"]["futures"] == 123456.0
    off_total = sum(h["usd_value"] for h in doc["aum"]["offexchange"].values())
    assert doc["aum"]["total"] == pytest.approx(123456.0 + off_total)
    assert any("exchange maintenance" in x for x in doc["status"]["reasons"])
    later = wait_for(r, lambda d: d["nav_age_s"] >= doc["nav_age_s"] + 0.4, message="manual age growing")
    assert later["source"] == "manual"
    r.set(KEYS.nav_manual, b'{"nav_total": "lots"')
    bad = wait_for(r, lambda d: any("hedge:nav:manual: not valid JSON" in x and "ignoring it" in x
                                    for x in d["status"]["reasons"]),
                   message="a bad manual key reported")
    assert bad["source"] == "startup"
    clear_manual_nav(r, KEYS)
    wait_for(r, lambda d: d["source"] == "startup" and not any("manual" in x for x in d["status"]["reasons"]),
             message="manual cleared")


def test_manual_nav_from_the_setting(r, nav_env, services):
    services("nav", dict(nav_env, MANUAL_NAV="5000"))
    doc = wait_for(r, lambda d: d["seq"] >= 2, message="snapshots")
    assert doc["source"] == "manual" and doc["nav_total"] == 5000.0
    assert any("MANUAL_NAV" in x for x in doc["status"]["reasons"])


# --- holdings -----------------------------------------------------------------------


def test_bad_holdings_file_keeps_the_last_good_and_names_the_field(r, nav_env, services):
    push_asset_prices(r)
    nav = services("nav", nav_env)
    wait_for(r, lambda d: "BTC" in d["aum"]["offexchange"], message="holdings in use")
    path = nav_env["HOLDINGS_FILE"]
    write_holdings(path, b'{"BTC": {"qty": "abc", "avg_cost": 61000.0}}')
    doc = wait_for(r, lambda d: any("BTC.qty" in x for x in d["status"]["reasons"]), message="the error reported")
    assert_snapshot_ok(doc)
    assert doc["status"]["degraded"]
    assert set(doc["aum"]["offexchange"]) == {"BTC", "XAUT", "USDC"}
    assert doc["aum"]["offexchange"]["BTC"]["qty"] == 0.035
    (reason,) = [x for x in doc["status"]["reasons"] if "BTC.qty" in x]
    assert path in reason and "not a number" in reason and "keeping the last good holdings" in reason
    wait_for(r, lambda d: d["seq"] >= doc["seq"] + 5, message="more rounds")
    assert nav.log_text().count("BTC.qty is 'abc'") == 1  # logged once, not every round
    write_holdings(path, b'\xef\xbb\xbf{"BTC": {"qty": 1}}')
    wait_for(r, lambda d: any("byte-order mark" in x for x in d["status"]["reasons"]), message="BOM reported")
    write_holdings(path, {"BTC": {"qty": 2.0, "avg_cost": 61000.0}})
    fixed = wait_for(r, lambda d: not any("holdings file" in x for x in d["status"]["reasons"]),
                     message="good file again")
    assert set(fixed["aum"]["offexchange"]) == {"BTC"} and fixed["aum"]["offexchange"]["BTC"]["qty"] == 2.0


def test_holdings_edit_shows_within_two_rounds(r, nav_env, services):
    push_asset_prices(r)
    services("nav", nav_env)
    before = wait_for(r, lambda d: d["aum"]["offexchange"].get("BTC", {}).get("qty") == 0.035, message="holdings")
    write_holdings(nav_env["HOLDINGS_FILE"], {"BTC": {"qty": 1.5, "avg_cost": 61000.0},
                                              "XAUT": {"qty": 0.59, "avg_cost": 2350.0},
                                              "USDC": {"qty": 2098.96, "avg_cost": 1.0}})
    edited_at = last(r)["seq"]
    after = wait_for(r, lambda d: d["seq"] >= edited_at + 2, timeout=5, message="two more rounds")
    assert after["aum"]["offexchange"]["BTC"]["qty"] == 1.5
    assert after["aum"]["offexchange"]["BTC"]["usd_value"] == pytest.approx(1.5 * 97000.0)
    assert after["nav_total"] == before["nav_total"]  # startup: still null; holdings never touch nav_total


# --- the stream ---------------------------------------------------------------------------


def test_a_burst_of_prices_is_one_snapshot_and_duplicates_change_nothing(r, nav_env, services):
    services("nav", nav_env)
    wait_for(r, lambda d: d["seq"] >= 1, message="first snapshot")
    seq0 = last(r)["seq"]
    t0 = time.time()
    burst = [PriceObservation("BTC", 90000.0 + i, "mark", t0 + i * 1e-3) for i in range(500)]
    started = time.monotonic()
    push_prices(r, burst)
    newest = wait_for(r, lambda d: d["aum"]["offexchange"]["BTC"]["mark"] == 90499.0, message="newest price")
    elapsed = time.monotonic() - started
    published = newest["seq"] - seq0
    # one snapshot for the batch, plus the once-per-interval ones while we waited
    assert published <= 3 + elapsed / 0.2, (published, elapsed)
    eventually(lambda: r.xpending(KEYS.prices, GROUP_NAV)["pending"] == 0, message="the batch acked")
    # the same entries again, and older ones: the newest price stays
    seq1 = last(r)["seq"]
    push_prices(r, [burst[-1], burst[10], burst[-1]])
    eventually(lambda: r.xpending(KEYS.prices, GROUP_NAV)["pending"] == 0 and last(r)["seq"] > seq1 + 1,
               message="duplicates read and acked")
    doc = last(r)
    assert doc["aum"]["offexchange"]["BTC"]["mark"] == 90499.0
    assert doc["aum"]["offexchange"]["BTC"]["usd_value"] == pytest.approx(0.035 * 90499.0)


def test_seq_survives_a_restart(r, nav_env, services):
    nav = services("nav", nav_env)
    wait_for(r, lambda d: d["seq"] >= 3, message="some snapshots")
    assert nav.stop() == 0
    stopped_at = last(r)["seq"]
    assert int(r.get(KEYS.nav_seq)) == stopped_at
    r.delete(KEYS.nav_seq)  # the stream alone must be enough to carry on
    services("nav", nav_env)
    wait_for(r, lambda d: d["seq"] >= stopped_at + 2, message="snapshots after the restart")
    seqs = [d["seq"] for d in snapshots(r)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert int(r.get(KEYS.nav_seq)) >= stopped_at + 2


def test_redis_restart_loses_no_snapshot_and_seq_carries_on(r, redis_server, nav_env, services):
    push_asset_prices(r)
    nav = services("nav", nav_env)
    wait_for(r, lambda d: d["seq"] >= 3, message="some snapshots")
    redis_server.restart()  # AOF with fsync always: acknowledged entries survive
    client = redis_server.client()
    before = last(client)["seq"]
    wait_for(client, lambda d: d["seq"] >= before + 3, timeout=15, message="snapshots after Redis came back")
    seqs = [d["seq"] for d in snapshots(client)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert nav.alive() and "redis unreachable" in nav.log_text()
    redis_server.restart(wipe=True)  # everything gone: the group is recreated, seq still goes up
    client = redis_server.client()
    doc = wait_for(client, lambda d: d["seq"] > seqs[-1], timeout=15, message="snapshots after a wiped Redis")
    assert doc["aum"]["offexchange"]["BTC"]["mark"] == ASSET_PRICES["BTC"]  # prices kept in memory
    push_asset_prices(client, BTC=99000.0)
    wait_for(client, lambda d: d["aum"]["offexchange"]["BTC"]["mark"] == 99000.0, message="reading prices again")


# --- the loop in-process: one step at a time, real Redis ----------------------------------


class LoopContext:
    """What NavLoop takes from a ServiceContext, without its process-wide logging setup."""

    def __init__(self, settings: Settings) -> None:
        self.name, self.settings, self.keys = "nav", settings, settings.keys
        self.r = connect(settings.effective_redis_url, name="nav-test")
        self.log = logging.getLogger("nav")
        self.heartbeat = Heartbeat(self.r, self.keys, "nav", 1.0)
        self.stop = threading.Event()


class FixedAccount:
    """An account source that always answers with the same flat account (no exchange needed)."""

    def fetch(self) -> AccountSnapshot:
        return AccountSnapshot(time.time(), 1000.0, 1000.0, ())

    def close(self) -> None:
        pass


@pytest.fixture
def nav_loop(redis_server, tmp_path):
    """A NavLoop on this test's Redis with 3,000 holdings, stepped by the test itself."""
    holdings = tmp_path / "holdings.json"
    write_holdings(holdings, {f"A{i:04d}": {"qty": 1.0, "avg_cost": 1.0} for i in range(3000)})
    settings = Settings(redis_url=redis_server.url, holdings_file=holdings, price_interval_s=60.0,
                        account_interval_s=60.0, metrics_port_base=0, manual_nav=None, key_prefix="hedge")
    loop = NavLoop(LoopContext(settings), account=FixedAccount())
    loop.setup()
    loop.step()   # the first snapshot (startup/live), so later steps publish only for prices
    yield loop
    loop.close()
    loop.r.close()


def push_round(r, n_assets: int, px: float) -> None:
    """A pricer round as one pipeline: two observations per asset, the second newer."""
    now = time.time()
    push_prices(r, [PriceObservation(f"A{i:04d}", px + k, "mark", now) for k in (0, 1) for i in range(n_assets)])


def test_one_step_reads_a_whole_round_of_thousands_of_prices_into_one_snapshot(r, nav_loop):
    seq0 = nav_loop.seq
    push_round(r, 3000, 100.0)    # 6,000 entries: six reads' worth
    nav_loop.step()
    assert nav_loop.seq == seq0 + 1, "one snapshot for the whole round"
    assert r.xpending(KEYS.prices, GROUP_NAV)["pending"] == 0, "every entry acknowledged with it"
    doc = last(r)
    assert doc["seq"] == seq0 + 1
    assert {h["mark"] for h in doc["aum"]["offexchange"].values()} == {101.0}


def test_a_step_reads_at_most_max_batch_entries(r, nav_loop, monkeypatch):
    monkeypatch.setattr(nav_inputs_module, "MAX_BATCH", 2000)
    push_round(r, 3000, 100.0)
    nav_loop.step()
    assert r.xpending(KEYS.prices, GROUP_NAV)["pending"] == 0
    assert r.xinfo_groups(KEYS.prices)[0]["lag"] == 4000, "the rest waits for the next steps"
    for _ in range(2):
        nav_loop.step()
    assert r.xinfo_groups(KEYS.prices)[0]["lag"] == 0
    assert {h["mark"] for h in last(r)["aum"]["offexchange"].values()} == {101.0}


def test_a_snapshot_with_a_non_finite_number_is_not_published_nor_acked(r, nav_loop, monkeypatch):
    def poisoned(**kw):
        doc = build_nav_snapshot(**kw)
        doc["aum"]["offexchange"]["A0001"]["usd_value"] = math.inf
        return doc

    monkeypatch.setattr(nav_loop_module, "build_nav_snapshot", poisoned)
    length, seq0 = r.xlen(KEYS.nav), nav_loop.seq
    push_round(r, 10, 100.0)
    nav_loop.step()
    assert r.xlen(KEYS.nav) == length and nav_loop.seq == seq0, "nothing published"
    assert r.xpending(KEYS.prices, GROUP_NAV)["pending"] == 20, "nothing acked: re-read after a restart"
    error = nav_loop.ctx.heartbeat.last_error
    assert "not published" in error and "aum.offexchange.A0001.usd_value: inf is not a finite number" in error


def test_the_nav_stream_has_its_own_smaller_bound(r, nav_loop):
    assert nav_loop.settings.nav_stream_maxlen < nav_loop.settings.stream_maxlen
    nav_loop.settings = nav_loop.settings.model_copy(update={"nav_stream_maxlen": 100})
    write_holdings(nav_loop.holdings.path, {"A0000": {"qty": 1.0, "avg_cost": 1.0}})   # small snapshots
    for i in range(250):
        push_round(r, 1, 100.0 + i)
        nav_loop.step()
    assert 100 <= r.xlen(KEYS.nav) < 250, "trimmed (approximately) to NAV_STREAM_MAXLEN"

"""marketsim through the real adapters: ccxt binanceusdm / binance (shared.exchange) and requests.

Every check goes over loopback HTTP to a running `python -m services.marketsim`, the way the
pricer and nav services see it, faults included.
"""

from __future__ import annotations

import time

import ccxt
import pytest
import requests

from services.marketsim.client import MarketsimClientError, clear_faults, get_faults, set_fault, transfer
from shared.contracts.fills import decode_fill
from shared.exchange import make_spot, make_usdm
from shared.settings import Settings
from tests.support import eventually

FUTURES = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XAUT/USDT:USDT", "USDC/USDT:USDT"]
SWAPS = [*FUTURES, "BTC/USDC:USDC", "ETH/BTC:BTC", "1000PEPE/USDT:USDT", "SRM/USDT:USDT"]
SPOT = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XAUT/USDT", "USDC/USDT"]
LEVELS = {"BTC": 97_000, "ETH": 3_500, "SOL": 180, "XAUT": 2_650, "USDC": 1.0}


def settings_for(env: dict[str, str]) -> Settings:
    return Settings(marketsim_port=int(env["MARKETSIM_PORT"]))


def base_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['MARKETSIM_PORT']}"


def sim_state(env: dict[str, str]) -> dict:
    return requests.get(f"{base_url(env)}/_sim/state", timeout=2).json()


def usdm(env: dict[str, str], timeout_s: float = 2, api_key: str | None = None) -> ccxt.binanceusdm:
    """A keyed client; the default key is the legacy `sim-key` (account main)."""
    exchange = make_usdm(settings_for(env), timeout_s=timeout_s, with_keys=True)
    if api_key is not None:
        exchange.apiKey = api_key
    return exchange


def spot(env: dict[str, str]) -> ccxt.binance:
    exchange = make_spot(settings_for(env), timeout_s=2)
    # What make_spot must set (see test_make_spot_stays_on_loopback): ccxt `binance` loads spot,
    # linear and inverse markets by default, and the latter two live on fapi/dapi hosts.
    exchange.options["fetchMarkets"] = {"types": ["spot"]}
    return exchange


def coingecko(env: dict[str, str], ids: str, **params: str) -> requests.Response:
    return requests.get(f"{base_url(env)}/api/v3/simple/price", timeout=2, params={
        "ids": ids, "vs_currencies": "usd,zar", "include_last_updated_at": "true", **params})


# --- happy paths ---------------------------------------------------------------------------------

def test_usdm_markets_marks_balance_and_positions(env, marketsim):
    ex = usdm(env)
    markets = ex.load_markets()
    assert sorted(SWAPS) == sorted(m for m in markets if markets[m]["swap"])
    btc = markets["BTC/USDT:USDT"]
    assert (btc["active"], btc["linear"], btc["settle"], btc["id"]) == (True, True, "USDT", "BTCUSDT")
    assert btc["precision"]["price"] == 0.1 and btc["limits"]["amount"]["min"] == 0.001

    marks = ex.fetch_mark_prices(FUTURES)
    assert set(marks) == set(FUTURES)
    for sym, t in marks.items():
        assert t["markPrice"] == pytest.approx(LEVELS[sym.split("/")[0]], rel=0.02)
        assert abs(t["timestamp"] / 1000 - time.time()) < 5

    balance = ex.fetch_balance()
    state = sim_state(env)["account"]
    info = balance["info"]
    total_margin = float(info["totalMarginBalance"])
    assert balance["USDT"]["total"] == pytest.approx(total_margin)
    assert total_margin == pytest.approx(float(info["totalWalletBalance"]) + float(info["totalUnrealizedProfit"]))
    assert total_margin == pytest.approx(state["margin_balance"], rel=1e-3)   # the walk moved on a little
    assert balance["total"]["USDC"] == pytest.approx(state["assets"]["USDC"]["margin_balance"], rel=1e-3)

    positions = {p["symbol"]: p for p in ex.fetch_positions()}
    assert set(positions) == {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "BTC/USDC:USDC"}
    expect = {"BTC/USDT:USDT": ("long", 0.5, 95_000), "ETH/USDT:USDT": ("short", 4, 3_600),
              "SOL/USDT:USDT": ("long", 100, 175)}
    for sym, (side, contracts, entry) in expect.items():
        p = positions[sym]
        assert (p["side"], p["contracts"], p["entryPrice"]) == (side, contracts, entry)
        sign = 1 if side == "long" else -1
        assert p["unrealizedPnl"] == pytest.approx(sign * contracts * (p["markPrice"] - entry), abs=1e-4)
        assert p["markPrice"] == pytest.approx(marks[sym]["markPrice"], rel=1e-3)
    upnl = sum(p["unrealizedPnl"] for sym, p in positions.items() if sym.endswith(":USDT"))  # single-asset: USDT
    # the same account a moment later: prices walked a few 0.2 s steps (~1e-4 each) in between
    assert float(info["totalUnrealizedProfit"]) == pytest.approx(upnl, abs=100)

    # marketsim never echoes the API key, and never logs it
    assert "sim-key" not in (ex.last_http_response or "")
    assert "sim-key" not in marketsim.log_text()


def test_make_spot_stays_on_loopback(env, marketsim):
    """ccxt `binance` must be told to load spot markets only; otherwise it calls fapi/dapi.binance.com."""
    tickers = make_spot(settings_for(env), timeout_s=2).fetch_tickers(["BTC/USDT", "ETH/USDT"])
    assert set(tickers) == {"BTC/USDT", "ETH/USDT"}


def test_spot_tickers_are_close_to_marks_but_not_identical(env, marketsim):
    ex = spot(env)
    tickers = ex.fetch_tickers(SPOT)
    assert set(tickers) == set(SPOT)
    marks = usdm(env).fetch_mark_prices(FUTURES)
    gaps = []
    for sym, t in tickers.items():
        assert ex.markets[sym]["active"] is True
        assert abs(t["timestamp"] / 1000 - time.time()) < 5           # closeTime is now
        assert t["bid"] < t["last"] < t["ask"]
        gap = abs(t["last"] / marks[f"{sym}:USDT"]["markPrice"] - 1)
        assert gap < 20e-4
        gaps.append(gap)
    assert max(gaps) > 0


def test_coingecko_batch_keyed_by_id_with_unknown_ids_left_out(env, marketsim):
    resp = coingecko(env, "bitcoin,not-a-coin,usd-coin,tether-gold,tether")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"bitcoin", "usd-coin", "tether-gold", "tether"}
    btc = body["bitcoin"]
    assert btc["usd"] == pytest.approx(97_000, rel=0.02)
    assert btc["zar"] / btc["usd"] == pytest.approx(18.2, rel=0.02)
    assert abs(btc["last_updated_at"] - time.time()) < 5
    assert body["usd-coin"]["usd"] == pytest.approx(1.0, abs=0.002)
    assert requests.get(f"{base_url(env)}/api/v3/simple/price", params={"vs_currencies": "usd"},
                        timeout=2).status_code == 400


# --- several accounts, modes, income, transfers --------------------------------------------------

def test_api_keys_select_accounts_in_their_modes(env, marketsim):
    main, sub1 = usdm(env, api_key="sim-key-main"), usdm(env, api_key="sim-key-sub1")
    legacy = usdm(env)                                              # "sim-key" is main
    assert legacy.fetch_balance()["USDC"]["total"] == pytest.approx(main.fetch_balance()["USDC"]["total"], rel=1e-3)
    raw_main = main.fapiPrivateV3GetAccount()
    raw_sub1 = sub1.fapiPrivateV2GetAccount()
    assert raw_sub1["multiAssetsMargin"] is True
    usdt = next(a for a in raw_main["assets"] if a["asset"] == "USDT")
    assert raw_main["totalWalletBalance"] == usdt["walletBalance"]          # single-asset: USDT only
    wallets = sum(float(a["walletBalance"]) for a in raw_sub1["assets"])   # USDT + USDC (≈ 1 USD each)
    assert float(raw_sub1["totalWalletBalance"]) == pytest.approx(wallets, rel=1e-3)
    assert main.fapiPrivateGetPositionSideDual() == {"dualSidePosition": False}
    assert sub1.fapiPrivateGetPositionSideDual() == {"dualSidePosition": True}
    assert sub1.fapiPrivateGetMultiAssetsMargin() == {"multiAssetsMargin": True}
    legs = [(p["symbol"], p["side"], p["contracts"]) for p in sub1.fetch_positions() if p["symbol"] == "ETH/USDT:USDT"]
    assert sorted(legs) == [("ETH/USDT:USDT", "long", 3), ("ETH/USDT:USDT", "short", 1.5)]
    assert any(p["symbol"].startswith("BTC/USDT:USDT-") for p in sub1.fetch_positions())   # the dated contract
    stranger = usdm(env, api_key="not-a-sim-key")
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        stranger.fetch_balance()
    assert stranger.last_http_response and '"code":-2015' in stranger.last_http_response.replace(" ", "")


def test_an_account_fault_kills_one_account_only(env, marketsim):
    base = base_url(env)
    main, sub1 = usdm(env, api_key="sim-key-main"), usdm(env, api_key="sim-key-sub1")
    main.load_markets()
    sub1.load_markets()
    set_fault(base, "account", "down", account="sub1")
    with pytest.raises(ccxt.NetworkError):
        sub1.fetch_balance()
    assert main.fetch_balance()["USDT"]["total"] > 0
    clear_faults(base, "account")
    assert sub1.fetch_balance()["USDT"]["total"] > 0


def test_income_pages_through_ccxt_and_transfers_show_up(env, marketsim):
    base = base_url(env)
    main = usdm(env, api_key="sim-key-main")
    main.load_markets()
    before = {r["id"] for r in main.fetch_ledger(since=0, limit=1000)}
    done = transfer(base, "main", -1000, "USDT")
    ledger = main.fetch_ledger(since=0, limit=1000)
    mine = [r for r in ledger if r["id"] == str(done["tran_id"])]
    assert len(mine) == 1 and mine[0]["type"] == "transfer" and mine[0]["amount"] == 1000
    assert mine[0]["direction"] == "out" and mine[0]["info"]["incomeType"] == "TRANSFER"
    assert isinstance(mine[0]["info"]["income"], str) and mine[0]["info"]["income"] == "-1000.00000000"
    raw = main.fapiPrivateGetIncome({"startTime": 0, "limit": 1000})
    times = [r["time"] for r in raw]
    assert times == sorted(times) and set(raw[0]) == {"symbol", "incomeType", "income", "asset", "info", "time",
                                                      "tranId", "tradeId"}
    transfers = [r for r in main.fetch_ledger(since=0, limit=1000) if r["type"] == "transfer"]
    silent = transfer(base, "main", 50, "USDT", recorded=False)
    assert silent["tran_id"] is None and silent["wallet"] == pytest.approx(done["wallet"] + 50, abs=1)
    assert [r for r in main.fetch_ledger(since=0, limit=1000) if r["type"] == "transfer"] == transfers
    assert str(done["tran_id"]) not in before
    with pytest.raises(ccxt.BadRequest):
        main.fapiPrivateGetIncome({"limit": 1001})
    with pytest.raises(MarketsimClientError, match="account is 'nope'"):
        transfer(base, "nope", 1, "USDT")


def test_navstream_sim_transfer_from_the_shell(env, marketsim):
    import subprocess
    import sys

    from tests.support import ROOT

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "services.cli", "sim", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=30)
    before = sim_state(env)["accounts"]["main"]["assets"]["USDT"]["wallet"]
    done = cli("transfer", "main", "-1000", "USDT")
    assert done.returncode == 0 and "main: -1,000 USDT" in done.stdout and "TRANSFER tranId" in done.stdout
    silent = cli("transfer", "main", "50", "USDT", "--unrecorded")
    assert silent.returncode == 0 and "unrecorded" in silent.stdout
    after = sim_state(env)["accounts"]["main"]["assets"]["USDT"]["wallet"]
    assert after - before == pytest.approx(-950, abs=5)                 # funding may land in between
    bad = cli("transfer", "nobody", "5", "USDT")
    assert bad.returncode == 1 and "account is 'nobody'" in bad.stderr and "Traceback" not in bad.stderr
    killed = cli("fault", "account", "down", "--account", "sub1")
    assert killed.returncode == 0 and "'account': 'sub1'" in killed.stdout


def test_contracts_dated_btc_quoted_multiplier_and_settling(env, marketsim):
    ex = usdm(env)
    markets = ex.load_markets()
    dated = [m for m in markets.values() if m["future"] and m["linear"]]
    assert len(dated) == 1 and dated[0]["id"].startswith("BTCUSDT_") and dated[0]["info"]["contractType"] == \
        "CURRENT_QUARTER" and dated[0]["expiry"] > time.time() * 1000
    ethbtc = markets["ETH/BTC:BTC"]
    assert (ethbtc["quote"], ethbtc["settle"], ethbtc["info"]["marginAsset"]) == ("BTC", "BTC", "BTC")
    pepe = markets["1000PEPE/USDT:USDT"]
    assert pepe["base"] == "1000PEPE" and pepe["info"]["baseAsset"] == "1000PEPE"
    assert markets["SRM/USDT:USDT"]["active"] is False and markets["SRM/USDT:USDT"]["info"]["status"] == "SETTLING"
    marks = {r["symbol"]: float(r["markPrice"]) for r in ex.fapiPublicGetPremiumIndex()}
    assert marks["ETHBTC"] == pytest.approx(3_500 / 97_000, rel=0.05)           # in BTC, not USD
    assert marks["1000PEPEUSDT"] == pytest.approx(1000 * 0.00002, rel=0.05)     # 1000 PEPE per contract
    assert marks[dated[0]["id"]] > marks["BTCUSDT"]                               # a dated contract's basis
    one = ex.fapiPublicGetPremiumIndex({"symbol": "BTCUSDC"})
    assert one["symbol"] == "BTCUSDC" and float(one["markPrice"]) == pytest.approx(97_000, rel=0.02)


# --- faults through the real clients ----------------------------------------------------------------

def test_down_closes_the_connection_for_that_source_only(env, marketsim):
    base, ex, sp = base_url(env), usdm(env), spot(env)
    ex.load_markets()
    sp.load_markets()
    set_fault(base, "mark", "down")
    with pytest.raises(ccxt.NetworkError):
        ex.fetch_mark_prices(FUTURES)
    assert ex.fetch_balance()["USDT"]["total"] > 0          # the account API is another source
    set_fault(base, "account", "down")
    with pytest.raises(ccxt.NetworkError):
        ex.fetch_balance()
    set_fault(base, "spot", "down")
    with pytest.raises(ccxt.NetworkError):
        sp.fetch_tickers(["BTC/USDT"])
    set_fault(base, "coingecko", "down")
    with pytest.raises(requests.ConnectionError):
        coingecko(env, "bitcoin")
    clear_faults(base)
    assert len(ex.fetch_mark_prices(FUTURES)) == 5 and len(sp.fetch_tickers(SPOT)) == 5
    assert coingecko(env, "bitcoin").ok


def test_rate_limits_answer_429_and_418_with_retry_after(env, marketsim):
    base, ex, sp = base_url(env), usdm(env), spot(env)
    ex.load_markets()
    sp.load_markets()
    set_fault(base, "mark", "429", retry_after_s=3)
    with pytest.raises(ccxt.DDoSProtection) as info:          # ccxt's class for Binance 429/418
        ex.fetch_mark_prices(FUTURES)
    assert "binanceusdm 429 " in str(info.value) and '"code":-1003' in str(info.value)
    assert ex.last_response_headers["Retry-After"] == "3"

    set_fault(base, "spot", "418")
    with pytest.raises(ccxt.DDoSProtection) as info:
        sp.fetch_tickers(["BTC/USDT"])
    assert "binance 418 " in str(info.value) and "banned until" in str(info.value)
    assert int(sp.last_response_headers["Retry-After"]) > 0

    set_fault(base, "coingecko", "429")
    resp = coingecko(env, "bitcoin")
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert resp.json()["status"]["error_code"] == 429


def test_zero_stale_and_delisted_are_visible_in_the_data(env, marketsim):
    base, ex, sp = base_url(env), usdm(env), spot(env)
    ex.load_markets()
    sp.load_markets()
    set_fault(base, "mark", "zero", "BTC")
    set_fault(base, "mark", "delisted", "XAUTUSDT")
    marks = ex.fetch_mark_prices(FUTURES)
    assert marks["BTC/USDT:USDT"]["markPrice"] == 0
    assert marks["ETH/USDT:USDT"]["markPrice"] > 0
    assert "XAUT/USDT:USDT" not in marks
    assert ex.load_markets(reload=True)["XAUT/USDT:USDT"]["active"] is False

    set_fault(base, "spot", "stale", "ETH")
    set_fault(base, "spot", "delisted", "SOL")
    tickers = sp.fetch_tickers(SPOT)
    assert time.time() - tickers["ETH/USDT"]["timestamp"] / 1000 >= 120
    assert time.time() - tickers["BTC/USDT"]["timestamp"] / 1000 < 5
    assert "SOL/USDT" not in tickers

    set_fault(base, "coingecko", "zero", "usd-coin")
    set_fault(base, "coingecko", "stale", "bitcoin")
    set_fault(base, "coingecko", "delisted", "tether-gold")
    body = coingecko(env, "bitcoin,usd-coin,tether-gold").json()
    assert set(body) == {"bitcoin", "usd-coin"}
    assert body["usd-coin"]["usd"] == 0
    assert time.time() - body["bitcoin"]["last_updated_at"] >= 120

    set_fault(base, "account", "zero", "BTC")
    positions = {p["symbol"]: p for p in ex.fetch_positions()}
    assert positions["BTC/USDT:USDT"]["markPrice"] is None       # ccxt turns Binance's "0" into None
    assert positions["ETH/USDT:USDT"]["markPrice"] > 0


def test_slow_answers_late_and_times_out_a_short_client(env, marketsim):
    base = base_url(env)
    ex = usdm(env, timeout_s=0.5)
    ex.load_markets()
    set_fault(base, "mark", "slow", delay_s=0.3)
    started = time.monotonic()
    assert len(ex.fetch_mark_prices(FUTURES)) == 5
    assert time.monotonic() - started >= 0.3
    set_fault(base, "mark", "slow", delay_s=1.5)
    started = time.monotonic()
    with pytest.raises(ccxt.RequestTimeout):
        ex.fetch_mark_prices(FUTURES)
    assert time.monotonic() - started < 1.2


def test_a_symbol_fault_only_affects_that_symbol(env, marketsim):
    base, ex = base_url(env), usdm(env)
    ex.load_markets()
    set_fault(base, "mark", "down", "BTC")
    marks = ex.fetch_mark_prices(FUTURES)
    assert "BTC/USDT:USDT" not in marks and len(marks) == 4
    with pytest.raises(ccxt.NetworkError):
        ex.fetch_mark_price("BTC/USDT:USDT")                  # a request about BTC alone fails whole
    assert ex.fetch_mark_price("ETH/USDT:USDT")["markPrice"] > 0
    set_fault(base, "coingecko", "429", "BTC")
    assert set(coingecko(env, "bitcoin,ethereum").json()) == {"ethereum"}
    assert coingecko(env, "bitcoin").status_code == 429


def test_fault_api_validates_and_the_client_reports(env, marketsim):
    base = base_url(env)
    answer = set_fault(base, "mark", "slow", "ETHUSDT", delay_s=2)
    assert answer["fault"] == {"source": "mark", "mode": "slow", "symbol": "ETH", "delay_s": 2.0}
    set_fault(base, "spot", "zero")
    assert {(f["source"], f["mode"]) for f in get_faults(base)} == {("mark", "slow"), ("spot", "zero")}
    with pytest.raises(MarketsimClientError, match="mode is 'melt'"):
        set_fault(base, "mark", "melt")
    resp = requests.post(f"{base}/_sim/faults", data=b"{not json", timeout=2)
    assert resp.status_code == 400 and resp.json()["field"] == "body"
    resp = requests.post(f"{base}/_sim/faults", json={"source": "mark", "mode": "down", "symbol": "DOGE"}, timeout=2)
    assert resp.status_code == 400 and resp.json()["field"] == "symbol"
    assert requests.delete(f"{base}/_sim/faults", params={"source": "nope"}, timeout=2).status_code == 400
    assert clear_faults(base, source="spot")["cleared"] == 1
    assert [f["source"] for f in get_faults(base)] == ["mark"]
    assert clear_faults(base)["faults"] == []
    with pytest.raises(MarketsimClientError, match="account is 'nope'"):
        set_fault(base, "account", "down", account="nope")
    with pytest.raises(MarketsimClientError, match="source 'account' only"):
        set_fault(base, "mark", "down", account="main")
    with pytest.raises(MarketsimClientError, match="unreachable"):
        get_faults("http://127.0.0.1:9")


# --- fills, heartbeat, Redis outage, shutdown ------------------------------------------------------------

def test_fills_reach_redis_move_the_wallet_and_survive_a_redis_outage(env, services, redis_server, r):
    env["MARKETSIM_FILL_INTERVAL_S"] = "0.05"
    proc = services("marketsim", env)
    base = base_url(env)
    eventually(lambda: requests.get(f"{base}/_sim/faults", timeout=1).ok, timeout=15, message="marketsim")
    keys = settings_for(env).keys
    eventually(lambda: r.xlen(keys.fills) >= 10, timeout=10, message="10 fills in the stream")

    state = sim_state(env)["account"]
    entries = r.xrange(keys.fills)
    fills = [decode_fill(fields) for _, fields in entries]
    assert {f.sym for f in fills} <= {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert len({f.id for f in fills}) == len(fills)
    booked = fills[: state["fills"]]                            # booked only once written
    assert state["wallet"] == pytest.approx(100_000 + sum(f.realized_pnl_usd - f.fee_usd for f in booked))

    set_fault(base, "mark", "zero")
    usdm(env).fetch_mark_prices(FUTURES)

    def heartbeat() -> dict:
        import orjson
        doc = orjson.loads(r.get(keys.health("marketsim")))
        return doc if doc["counters"].get("requests.mark") and doc["faults_active"] == 1 else {}
    doc = eventually(heartbeat, timeout=5, message="heartbeat with request counters and the active fault")
    assert doc["counters"]["faults_served.mark.zero"] >= 1 and doc["faults"][0]["mode"] == "zero"

    redis_server.kill()
    assert requests.get(f"{base}/fapi/v1/premiumIndex", timeout=2).ok    # HTTP keeps serving
    eventually(lambda: "redis unreachable" in proc.log_text(), timeout=5, message="the outage logged")
    time.sleep(0.6)  # several backoff retries happen in here; none of them may log again
    assert proc.log_text().count("redis unreachable") == 1          # said once for the whole outage
    assert requests.get(f"{base}/api/v3/ticker/24hr", timeout=2).ok
    redis_server.restart()
    r2 = redis_server.client()
    eventually(lambda: r2.xlen(keys.fills) > 0, timeout=10, message="fills after Redis came back")
    eventually(lambda: "recovered" in proc.log_text(), timeout=5, message="the recovery logged")
    assert proc.stop(timeout=3) == 0                                 # SIGTERM: out within a couple of seconds

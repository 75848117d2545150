"""The pricer's real adapters (ccxt, requests) against recorded Binance and CoinGecko answers served on
loopback, and marketsim's answers checked against the same recordings' field sets (so marketsim cannot
drift from the real shapes unnoticed). Sources of the recordings: tests/fixtures/*/README.md."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from services.pricer.assemble import Observed, Policy, assemble_round
from services.pricer.chain import TierLimits
from services.pricer.loop import build_sources
from services.pricer.sources.base import Want
from services.pricer.sources.coingecko import IdMapFile
from shared.holdings import Holding, HoldingsWatcher
from shared.settings import Settings
from tests.support import ROOT

FIXTURES = ROOT / "tests" / "fixtures"
EXCHANGE_INFO = json.loads((FIXTURES / "binance" / "exchangeInfo_usdm.json").read_text())
PREMIUM_ALL = json.loads((FIXTURES / "binance" / "premiumIndex_all.json").read_text())
PREMIUM_ONE = json.loads((FIXTURES / "binance" / "premiumIndex_one.json").read_text())
CG_TIMED = json.loads((FIXTURES / "coingecko" / "simple_price_with_last_updated_at.json").read_text())
CG_UNTIMED = json.loads((FIXTURES / "coingecko" / "simple_price_without_last_updated_at.json").read_text())
RECORDED_AT = PREMIUM_ONE["time"] / 1000


class Recordings(ThreadingHTTPServer):
    daemon_threads = True
    coingecko: dict = CG_TIMED
    seen: list[tuple[str, dict[str, str], dict[str, str]]]


class Handler(BaseHTTPRequestHandler):
    server: Recordings

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.server.seen.append((url.path, params, dict(self.headers)))
        if url.path == "/fapi/v1/exchangeInfo":
            body = EXCHANGE_INFO
        elif url.path == "/fapi/v1/premiumIndex":
            symbol = params.get("symbol")
            body = PREMIUM_ALL if symbol is None else next(r for r in PREMIUM_ALL if r["symbol"] == symbol)
        elif url.path == "/api/v3/simple/price":
            body = self.server.coingecko
        else:
            self.send_error(404)
            return
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-MBX-USED-WEIGHT-1M", "42")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def recorded() -> Iterator[Recordings]:
    server = Recordings(("127.0.0.1", 0), Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def sources_for(base: str, tmp_path: Path) -> dict:
    settings = Settings(mode="live", binance_futures_url=base, binance_spot_url=base, coingecko_url=base,
                        coingecko_api_key="cg-demo-key-0123", source_timeout_s=2.0, display_currency="USD")
    ids = IdMapFile(ROOT / "config" / "coingecko_ids.json")
    ids.poll()
    made = {s.name: s for s in build_sources(settings, HoldingsWatcher(tmp_path / "none.json"), ids)}
    made["mark"].budget = False
    return made


HOLDINGS = {"BTC": Holding("BTC", 1.0, 60_000.0, "BTCUSDT"), "ETH": Holding("ETH", 2.0, 3_000.0, "ETHBTC"),
            "PEPE": Holding("PEPE", 1e6, 0.00001, "1000PEPEUSDT"), "SRM": Holding("SRM", 10.0, 0.5, "SRMUSDT")}


def test_recorded_listing_and_marks_dated_btc_quoted_multiplier_and_settling(recorded, tmp_path):
    base = f"http://127.0.0.1:{recorded.server_port}"
    mark = sources_for(base, tmp_path)["mark"]
    want = Want(HOLDINGS, frozenset({"BTCUSDT_250926"}))
    answer = mark.fetch(want, RECORDED_AT + 1)
    assert set(answer.quotes) == {"BTCUSDT", "ETHBTC", "1000PEPEUSDT", "BTCUSDT_250926"}
    assert answer.problems == {"SRMUSDT": "SRMUSDT is not trading (status SETTLING)"}
    assert answer.quotes["BTCUSDT_250926"].px == 12077.0134375          # a dated contract is markable
    dated, ethbtc = answer.contracts["BTCUSDT_250926"], answer.contracts["ETHBTC"]
    assert (dated.perpetual, dated.contract_type) == (False, "CURRENT_QUARTER")
    assert (ethbtc.quote, ethbtc.settle) == ("BTC", "BTC") and answer.contracts["1000PEPEUSDT"].base == "1000PEPE"
    # 4 markets: four weight-1 calls with symbol=, not one weight-10 call; Binance's used weight is kept
    calls = [(path, params.get("symbol")) for path, params, _ in recorded.seen if path.endswith("premiumIndex")]
    assert sorted(s for _, s in calls) == ["1000PEPEUSDT", "BTCUSDT", "BTCUSDT_250926", "ETHBTC"]
    assert mark.used_weight == 42

    policy = Policy(TierLimits(mark=30.0, spot_cache=60.0, coingecko=150.0), 0.02, 0.005, "USD", None)
    result = assemble_round(HOLDINGS, {"BTCUSDT_250926"}, Observed(quotes={"mark": answer.quotes},
                            problems={"mark": answer.problems}, contracts=answer.contracts), RECORDED_AT + 1, policy)
    by = result.assets
    assert (by["BTC"].chosen.source, by["BTC"].chosen.price) == ("mark", 11793.63104562)
    assert by["ETH"].chosen is None and "quoted in BTC" in by["ETH"].errors["mark"]
    assert by["PEPE"].chosen.price == pytest.approx(0.0099870 / 1000)          # 1000PEPE ÷ 1000
    assert "SETTLING" in by["SRM"].errors["mark"]
    assert {p.sym for p in result.prices} >= {"BTCUSDT_250926", "BTC", "PEPE"}


@pytest.mark.parametrize(("answer", "priced"), [(CG_TIMED, True), (CG_UNTIMED, False)])
def test_recorded_coingecko_with_and_without_last_updated_at(recorded, tmp_path, answer, priced):
    recorded.coingecko = answer
    base = f"http://127.0.0.1:{recorded.server_port}"
    cg = sources_for(base, tmp_path)["coingecko"]
    holdings = {"BTC": Holding("BTC", 1.0, None, "BTCUSDT")}
    got = cg.fetch(Want(holdings, frozenset()), CG_TIMED["bitcoin"]["last_updated_at"] + 5)
    path, _params, headers = recorded.seen[-1]
    assert path == "/api/v3/simple/price" and headers.get("x-cg-demo-api-key") == "cg-demo-key-0123"
    policy = Policy(TierLimits(mark=30.0, spot_cache=60.0, coingecko=150.0), 0.02, 0.005, "USD", None)
    result = assemble_round(holdings, (), Observed(quotes={"coingecko": got.quotes},
                            problems={"coingecko": got.problems}), CG_TIMED["bitcoin"]["last_updated_at"] + 5, policy)
    outcome = result.assets["BTC"]
    if priced:
        assert (outcome.chosen.source, outcome.chosen.price) == ("coingecko", 67187.3358)
    else:
        assert math.isnan(got.quotes["BTC"].ts), "never stamped now"
        assert outcome.chosen is None and "no last_updated_at" in outcome.errors["coingecko"]


# --- marketsim speaks the recorded shapes --------------------------------------------------------

def test_marketsim_answers_have_the_recorded_field_sets(env, marketsim):
    base = f"http://127.0.0.1:{env['MARKETSIM_PORT']}"
    info = requests.get(f"{base}/fapi/v1/exchangeInfo", timeout=2).json()
    assert set(info) == set(EXCHANGE_INFO)
    recorded_symbol = set(EXCHANGE_INFO["symbols"][0])
    for symbol in info["symbols"]:
        assert set(symbol) == recorded_symbol, symbol["symbol"]
    by_type = {f["filterType"]: set(f) for f in EXCHANGE_INFO["symbols"][0]["filters"]}
    for f in info["symbols"][0]["filters"]:
        assert set(f) == by_type[f["filterType"]]
    kinds = {(s["contractType"], s["quoteAsset"], s["status"]) for s in info["symbols"]}
    assert {("CURRENT_QUARTER", "USDT", "TRADING"), ("PERPETUAL", "BTC", "TRADING"),
            ("PERPETUAL", "USDT", "SETTLING")} <= kinds
    assert set(requests.get(f"{base}/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"}, timeout=2).json()) \
        == set(PREMIUM_ONE)
    rows = requests.get(f"{base}/fapi/v1/premiumIndex", timeout=2).json()
    assert all(set(r) == set(PREMIUM_ONE) for r in rows)
    dated = next(r for r in rows if "_" in r["symbol"])
    recorded_dated = next(r for r in PREMIUM_ALL if "_" in r["symbol"])
    assert (dated["lastFundingRate"], dated["nextFundingTime"]) == (recorded_dated["lastFundingRate"],
                                                                     recorded_dated["nextFundingTime"])
    cg = requests.get(f"{base}/api/v3/simple/price", params={"ids": "bitcoin", "vs_currencies": "usd",
                                                             "include_last_updated_at": "true"}, timeout=2).json()
    assert set(cg["bitcoin"]) == {"usd", "last_updated_at"} <= set(CG_TIMED["bitcoin"])
    requests.post(f"{base}/_sim/faults", json={"source": "coingecko", "mode": "untimed"}, timeout=2).raise_for_status()
    cg = requests.get(f"{base}/api/v3/simple/price", params={"ids": "bitcoin", "vs_currencies": "usd",
                                                             "include_last_updated_at": "true"}, timeout=2).json()
    assert set(cg["bitcoin"]) == set(CG_UNTIMED["bitcoin"])

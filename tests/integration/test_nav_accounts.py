"""Several accounts, the income ledger and reconciliation, as a user sees them: real redis-server, real
marketsim (accounts selected by API key), `python -m services.nav` with the demo config/accounts.json.

marketsim's `main` is single-asset one-way (USDT + USDC + BNFCR wallets, a USDC-margined BTCUSDC),
`sub1` multi-assets in hedge mode (a LONG and a SHORT ETHUSDT leg).
"""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from services.marketsim.client import clear_faults, set_fault, transfer
from shared.contracts.income import decode_income
from shared.keys import Keys
from tests.integration.test_nav_service import ASSET_PRICES, last, push_asset_prices, sim_url, wait_for
from tests.nav_schema import nav_validator
from tests.support import ROOT, eventually

KEYS = Keys()
VALIDATOR = nav_validator()


@pytest.fixture
def accounts_env(env: dict[str, str]) -> dict[str, str]:
    return dict(env, PRICE_INTERVAL_S="0.2", ACCOUNT_INTERVAL_S="0.5", SOURCE_TIMEOUT_S="1",
                MARKETSIM_FILL_INTERVAL_S="0", ACCOUNTS_FILE=str(ROOT / "config" / "accounts.json"))


def valid(doc: dict) -> dict:
    errors = [e.message for e in VALIDATOR.iter_errors(doc)]
    assert not errors, errors
    return doc


def income(r) -> list:
    return [decode_income(fields) for _id, fields in r.xrange(KEYS.income)]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def both_live(doc: dict) -> bool:
    return doc["source"] == "live" and {a["source"] for a in doc["accounts"].values()} == {"live"}


def test_two_accounts_one_in_each_mode_sum_to_nav_total(r, accounts_env, marketsim, services):
    push_asset_prices(r)
    services("nav", accounts_env)
    doc = valid(wait_for(r, lambda d: both_live(d) and not d["status"]["reasons"], timeout=15,
                         message="a clean live snapshot of both accounts"))
    main, sub1 = doc["accounts"]["main"], doc["accounts"]["sub1"]
    assert (main["mode"], sub1["mode"]) == ("single_asset", "multi_assets")
    assert doc["nav_total"] == pytest.approx(main["nav_usd"] + sub1["nav_usd"])
    assert main["assets"]["USDC"]["wallet"] > 0 and main["assets"]["USDC"]["price_src"] == "coingecko"
    assert main["assets"]["USDC"]["usd_value"] == pytest.approx(
        (main["assets"]["USDC"]["wallet"] + main["assets"]["USDC"]["upnl"]) * ASSET_PRICES["USDC"])
    legs = {(p["account"], p["symbol"], p["side"]) for p in doc["positions"]}
    assert {("sub1", "ETHUSDT", "LONG"), ("sub1", "ETHUSDT", "SHORT"), ("main", "BTCUSDC", "LONG")} <= legs
    btcusdc = next(p for p in doc["positions"] if p["symbol"] == "BTCUSDC")
    assert btcusdc["margin_asset"] == "USDC"
    assert r.smembers(KEYS.tracked_assets) == {b"USDC"}
    # nav.json's shape, as the publisher will write it: the accounts block is in the stream entry
    assert orjson.loads(r.xrevrange(KEYS.nav, count=1)[0][1][b"snapshot"])["accounts"].keys() == {"main", "sub1"}


def test_one_account_down_is_cache_and_still_counted(r, accounts_env, marketsim, services):
    push_asset_prices(r)
    services("nav", accounts_env)
    live = wait_for(r, both_live, timeout=15, message="both accounts live")
    set_fault(sim_url(accounts_env), "account", "down", account="sub1")
    doc = valid(wait_for(r, lambda d: d["accounts"]["sub1"]["source"] == "cache", message="sub1 on cache"))
    assert doc["source"] == "cache" and doc["accounts"]["main"]["source"] == "live"
    assert doc["accounts"]["sub1"]["nav_usd"] is not None, "its last good data still counts"
    assert doc["nav_total"] == pytest.approx(doc["accounts"]["main"]["nav_usd"] + doc["accounts"]["sub1"]["nav_usd"])
    assert any(x.startswith("account sub1: ") and "last good account data" in x for x in doc["status"]["reasons"])
    older = wait_for(r, lambda d: d["accounts"]["sub1"]["age_s"] > doc["accounts"]["sub1"]["age_s"] + 0.5,
                     message="sub1's age growing")
    assert older["seq"] > live["seq"]
    clear_faults(sim_url(accounts_env))
    wait_for(r, both_live, message="both live again")


def test_an_account_without_a_key_makes_the_snapshot_partial_and_names_it(r, accounts_env, marketsim, services):
    push_asset_prices(r)
    services("nav", dict(accounts_env, BINANCE_SUB1_API_KEY="", BINANCE_SUB1_API_SECRET=""))
    doc = valid(wait_for(r, lambda d: d["accounts"]["main"]["source"] == "live", timeout=15, message="main live"))
    assert doc["source"] == "partial"
    assert doc["accounts"]["sub1"]["nav_usd"] is None and doc["accounts"]["sub1"]["source"] == "startup"
    assert doc["nav_total"] == pytest.approx(doc["accounts"]["main"]["nav_usd"])
    reasons = " | ".join(doc["status"]["reasons"])
    assert "BINANCE_SUB1_API_KEY" in reasons and "set to the empty string" in reasons
    assert "partial: nav_total leaves out account(s) sub1" in reasons


def test_transfers_recorded_and_unrecorded_within_one_poll(r, env, services):
    # exact wallet figures: no funding and no fills (their commissions) in between
    env = dict(env, MARKETSIM_FUNDING_INTERVAL_S="0", MARKETSIM_FILL_INTERVAL_S="0")
    services("marketsim", env)
    accounts_env = dict(env, PRICE_INTERVAL_S="0.2", ACCOUNT_INTERVAL_S="0.5", SOURCE_TIMEOUT_S="1",
                        MARKETSIM_FILL_INTERVAL_S="0", ACCOUNTS_FILE=str(ROOT / "config" / "accounts.json"))
    push_asset_prices(r)
    nav = services("nav", accounts_env)
    before = wait_for(r, lambda d: both_live(d) and not d["status"]["reasons"], timeout=20, message="clean start")
    usdt = before["accounts"]["main"]["assets"]["USDT"]["wallet"]

    # A recorded withdrawal: the first snapshot whose wallet shows it has its TRANSFER on hedge:income, no break.
    done = transfer(sim_url(accounts_env), "main", -1000.0, "USDT")
    moved = wait_for(r, lambda d: d["accounts"]["main"]["assets"]["USDT"]["wallet"] == pytest.approx(usdt - 1000.0),
                     message="the withdrawal in the wallet")
    assert moved["accounts"]["main"]["recon_breaks"] == [], moved["status"]["reasons"]
    records = [x for x in income(r) if x.type == "TRANSFER" and x.account == "main"]
    assert [(x.tran_id, x.amount, x.asset) for x in records] == [(str(done["tran_id"]), -1000.0, "USDT")]

    # An unrecorded deposit: a break on the first snapshot that shows the wallet change.
    transfer(sim_url(accounts_env), "main", 50.0, "USDT", recorded=False)
    broke = wait_for(r, lambda d: d["accounts"]["main"]["assets"]["USDT"]["wallet"] == pytest.approx(usdt - 950.0),
                     timeout=30, message="the unrecorded deposit in the wallet")
    assert broke["accounts"]["main"]["recon_breaks"] == ["USDT"]
    assert any("reconciliation break on USDT" in x and "+50.00000000 USDT" in x for x in broke["status"]["reasons"])
    eventually(lambda: orjson.loads(r.get(KEYS.health("nav")))["counters"].get("recon_breaks") == 1,
               message="the break counted in health")

    # Explained by the operator: cleared at the next poll, the note kept with the reconciliation state.
    out = cli(accounts_env, "nav", "explain", "main", "USDT", "--note", "deposit from cold wallet, tx 0xabc")
    assert out.returncode == 0, out.stderr
    cleared = wait_for(r, lambda d: d["accounts"]["main"]["recon_breaks"] == [], message="the break cleared")
    assert not any("reconciliation break" in x for x in cleared["status"]["reasons"])
    state = orjson.loads(r.hget(KEYS.recon_state, "main"))
    assert state["explained"][-1][:3] == ["USDT", pytest.approx(50.0), "deposit from cold wallet, tx 0xabc"]
    assert "explained by the operator" in nav.log_text()


def test_funding_fees_are_recorded_and_explain_the_wallet(r, env, services):
    env = dict(env, MARKETSIM_FUNDING_INTERVAL_S="1")
    services("marketsim", env)
    push_asset_prices(r)
    services("nav", dict(env, PRICE_INTERVAL_S="0.2", ACCOUNT_INTERVAL_S="0.5", SOURCE_TIMEOUT_S="1",
                         MARKETSIM_FILL_INTERVAL_S="0", ACCOUNTS_FILE=str(ROOT / "config" / "accounts.json")))
    eventually(lambda: len([x for x in income(r) if x.type == "FUNDING_FEE"]) >= 6, timeout=20,
               message="funding fees on hedge:income")
    docs = [orjson.loads(f[b"snapshot"]) for _id, f in r.xrevrange(KEYS.nav, count=30)]
    assert all(d["accounts"]["main"]["recon_breaks"] == [] == d["accounts"]["sub1"]["recon_breaks"] for d in docs), \
        [d["status"]["reasons"] for d in docs if d["status"]["reasons"]][:2]


def test_income_is_written_once_across_restarts(r, accounts_env, marketsim, services):
    push_asset_prices(r)
    transfer(sim_url(accounts_env), "sub1", 250.0, "USDC")
    nav = services("nav", accounts_env)
    eventually(lambda: any(x.account == "sub1" and x.type == "TRANSFER" for x in income(r)), timeout=15,
               message="sub1's transfer on hedge:income")
    first = income(r)
    nav.stop()
    transfer(sim_url(accounts_env), "sub1", -100.0, "USDC")
    services("nav", accounts_env)
    eventually(lambda: len([x for x in income(r) if x.type == "TRANSFER"]) == 2, timeout=15,
               message="the second transfer")
    keys = [x.key for x in income(r)]
    assert len(keys) == len(set(keys)), "no record twice"
    assert [x.key for x in income(r)][: len(first)] == [x.key for x in first]
    assert last(r)["accounts"]["sub1"]["recon_breaks"] == []

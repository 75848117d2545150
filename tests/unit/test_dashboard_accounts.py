"""The Overview's per-account rows: one collapsed row per exchange account, what a user reads in it."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest

from tests.unit.test_dashboard_app import app, find  # noqa: F401 - the app fixture registers the pages


@pytest.fixture
def overview(app):  # noqa: F811 - the fixture of test_dashboard_app
    return importlib.import_module("services.dashboard.pages.overview")


def text(component) -> str:
    if hasattr(component, "to_plotly_json"):
        return text(getattr(component, "children", None))
    if isinstance(component, list | tuple):
        return " ".join(text(c) for c in component if c is not None)
    return "" if component is None else str(component)


NAV = {"accounts": {
    "main": {"mode": "single_asset", "source": "live", "age_s": 0.8, "nav_usd": 126.85,
             "assets": {"USDT": {"wallet": 23.72469206, "upnl": 0.0, "usd_price": 1.0, "price_src": "par",
                                 "usd_value": 23.72469206},
                        "USDC": {"wallet": 103.12345678, "upnl": 0.0, "usd_price": 1.0, "price_src": "coingecko",
                                 "usd_value": 103.12345678}},
             "reasons": ["account main: reconciliation break on USDT: ..."], "recon_breaks": ["USDT"]},
    "sub1": {"mode": None, "source": "startup", "age_s": None, "nav_usd": None, "assets": {},
             "reasons": ["account sub1: no data yet; its value is unknown"], "recon_breaks": []}}}


def card(overview, nav: dict):
    return overview.accounts_card(SimpleNamespace(nav=nav, snap_fresh=SimpleNamespace(label=None)))


def test_one_collapsed_row_per_account_with_mode_source_nav_and_breaks(overview):
    tree = card(overview, NAV)
    main, sub1 = find(tree, "overview-account-main"), find(tree, "overview-account-sub1")
    assert main is not None and sub1 is not None and not getattr(main, "open", False), "collapsed by default"
    summary = text(main.children[0])
    assert "main" in summary and "single-asset" in summary and "$126.85" in summary
    assert "reconciliation break: USDT" in summary
    assets = text(find(tree, "overview-account-main-assets"))
    assert "USDC" in assets and "coingecko" in assets and "par" in assets
    assert text(find(tree, "overview-account-sub1-nav")) == "–" and "$0.00" not in text(sub1), "unknown is never $0"
    assert "no data yet" in text(sub1)


def test_no_accounts_block_says_no_data(overview):
    assert "no data" in text(card(overview, {})).lower()


def positions_table(overview, positions):
    tree = overview.positions_card(SimpleNamespace(positions=positions, snap_fresh=SimpleNamespace(label=None)))
    return find(tree, "overview-positions-table")


def test_positions_name_their_account_so_a_hedge_pair_reads_as_one(overview):
    pair = [{"symbol": "ETHUSDT", "side": side, "qty": 0.5, "entry_price": 3000.0, "mark_price": 3010.0,
             "upnl": pnl, "notional": 1505.0, "account": "sub1"} for side, pnl in (("LONG", 5.0), ("SHORT", -5.0))]
    shown = text(positions_table(overview, pair))
    assert shown.startswith("account symbol side") and shown.count("sub1 ETHUSDT") == 2, shown
    legacy = [{k: v for k, v in p.items() if k != "account"} for p in pair]   # one unnamed account: no column
    assert text(positions_table(overview, legacy)).startswith("symbol side"), text(positions_table(overview, legacy))

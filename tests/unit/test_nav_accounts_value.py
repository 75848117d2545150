"""Properties of the accounts' valuation: nav_total is the sum of the known accounts, never silently short."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.nav.model import AccountPosition, AccountSnapshot, AccountState, AssetBalance, Limits
from services.nav.valuation import build_nav_snapshot
from shared.contracts.nav import validate_nav_document
from shared.contracts.prices import PriceObservation
from tests.nav_schema import nav_validator

NOW = 1_763_726_400.0
VALIDATOR = nav_validator()
money = st.floats(min_value=-1e7, max_value=1e7, allow_nan=False)


@st.composite
def account_state(draw):
    kind = draw(st.sampled_from(["never", "live", "cache", "error"]))
    if kind == "never":
        return AccountState(None, draw(st.none() | st.just("GET /fapi/v3/account: unreachable")), 1)
    assets = tuple(AssetBalance(a, draw(money), draw(money), 1) for a in
                   draw(st.lists(st.sampled_from(["USDT", "USDC", "BTC", "BNFCR"]), unique=True, min_size=1)))
    positions = tuple(AccountPosition(m, draw(st.sampled_from(["LONG", "SHORT"])), draw(st.floats(0.001, 100)),
                                      draw(st.floats(1, 1e5)), draw(st.none() | st.floats(1, 1e5)),
                                      draw(st.none() | money), draw(st.sampled_from([a.asset for a in assets])))
                      for m in draw(st.lists(st.sampled_from(["BTCUSDT", "ETHUSDT", "BTCUSDC"]), unique=True,
                                             max_size=2)))
    age = 100.0 if kind == "cache" else 0.5
    snap = AccountSnapshot(NOW - age, 0.0, None, positions, assets, draw(st.sampled_from(["single_asset",
                                                                                          "multi_assets"])))
    return AccountState(snap, "down" if kind == "error" else None, 2,
                        draw(st.dictionaries(st.sampled_from(["USDT", "USDC"]), money, max_size=2)))


prices_st = st.dictionaries(st.sampled_from(["USDC", "BTC", "BNFCR", "BTCUSDT", "ETHUSDT", "BTCUSDC"]),
                            st.floats(0.5, 1e5), max_size=6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["main", "sub1", "sub2"]), account_state(), min_size=1), prices_st)
def test_nav_total_is_the_sum_of_known_accounts_and_every_unknown_one_is_named(accounts, pxs):
    prices = {s: PriceObservation(s, px, "mark", NOW - 0.2) for s, px in pxs.items()}
    doc = build_nav_snapshot(accounts=accounts, prices=prices, holdings={}, now=NOW, seq=1, limits=Limits())
    assert not list(VALIDATOR.iter_errors(doc))
    validate_nav_document(doc)
    block = doc["accounts"]
    assert set(block) == set(accounts)
    known = [a["nav_usd"] for a in block.values() if a["nav_usd"] is not None]
    unknown = [n for n, a in block.items() if a["nav_usd"] is None]
    if known:
        assert doc["nav_total"] == pytest.approx(sum(known), rel=1e-9, abs=1e-6)
    else:
        assert doc["nav_total"] is None
    if unknown and known:
        assert doc["source"] == "partial"
        assert any(r.startswith("partial:") and all(n in r for n in unknown) for r in doc["status"]["reasons"])
    if doc["source"] == "live":
        assert not unknown and all(a["source"] == "live" for a in block.values())
    for acc in block.values():
        for reason in acc["reasons"]:
            assert reason in doc["status"]["reasons"]
        for asset in acc["recon_breaks"]:
            assert any(f"reconciliation break on {asset}" in r for r in acc["reasons"])

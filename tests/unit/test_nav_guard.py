"""The nav loop's last check before publishing: a whole aum block and no NaN or infinity anywhere."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.nav.guard import publish_problem
from services.nav.model import AccountPosition
from shared.contracts.nav import validate_nav_document
from shared.errors import ContractError
from tests.unit.test_nav_valuation import (ASSETS, MARKETS, account_st, build, holding, holdings_st,
                                           live_account, manual_st, price, prices_st)


def full_doc() -> dict:
    """A valid snapshot with every kind of number: positions, holdings, fx, aum."""
    pos = AccountPosition("BTCUSDT", "LONG", 0.5, 95000.0, 96000.0, 500.0)
    return build(account=live_account(positions=[pos]),
                 holdings={"BTC": holding("BTC", 0.035, 61000.0), "XAUT": holding("XAUT", 1.0)},
                 prices={"BTC": price("BTC", 97000.1), "USDZAR": price("USDZAR", 18.21, "coingecko")},
                 fx_pairs=["USDZAR"])


def test_a_valid_snapshot_passes():
    doc = full_doc()
    validate_nav_document(doc)
    assert doc["aum"]["offexchange"]["XAUT"]["usd_value"] is None, "nulls are part of the test"
    assert publish_problem(doc) is None


PLACES = [
    (("ts",), "ts"),
    (("nav_total",), "nav_total"),
    (("nav_age_s",), "nav_age_s"),
    (("aum", "futures"), "aum.futures"),
    (("aum", "total"), "aum.total"),
    (("fx", "USDZAR"), "fx.USDZAR"),
    (("positions", 0, "upnl"), "positions[0].upnl"),
    (("positions", 0, "entry_price"), "positions[0].entry_price"),
    (("aum", "offexchange", "BTC", "usd_value"), "aum.offexchange.BTC.usd_value"),
    (("aum", "offexchange", "BTC", "avg_cost"), "aum.offexchange.BTC.avg_cost"),
    (("aum", "offexchange", "XAUT", "mark"), "aum.offexchange.XAUT.mark"),
]


def poisoned(path: tuple, value: object) -> dict:
    doc = copy.deepcopy(full_doc())
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("path, name", PLACES)
def test_a_non_finite_number_anywhere_is_refused_and_named(path, name, bad):
    doc = poisoned(path, bad)
    problem = publish_problem(doc)
    assert problem is not None and problem.startswith(f"{name}: "), problem
    assert "not a finite number" in problem
    with pytest.raises(ContractError):   # the full contract agrees
        validate_nav_document(doc)


@pytest.mark.parametrize("path, name", PLACES)
def test_text_where_a_number_belongs_is_refused(path, name):
    problem = publish_problem(poisoned(path, "12.5"))
    assert problem == f"{name}: '12.5' is not a finite number"


@pytest.mark.parametrize("aum", [None, [], {"futures": 1.0, "total": 1.0},
                                 {"futures": 1.0, "offexchange": {}},
                                 {"futures": 1.0, "offexchange": [], "total": 1.0}])
def test_a_missing_or_incomplete_aum_block_is_refused(aum):
    doc = full_doc()
    if aum is None:
        del doc["aum"]
    else:
        doc["aum"] = aum
    problem = publish_problem(doc)
    assert problem is not None and problem.startswith("aum: "), problem


def test_a_missing_holding_field_is_refused():
    doc = copy.deepcopy(full_doc())
    del doc["aum"]["offexchange"]["BTC"]["price_age_s"]
    assert publish_problem(doc).startswith("aum.offexchange.BTC.price_age_s: '(missing)'")


def test_huge_finite_numbers_whose_sum_overflows_are_published():
    doc = copy.deepcopy(full_doc())
    doc["aum"]["offexchange"]["BTC"].update(qty=1e300, mark=1e8, usd_value=1.7e308)
    doc["aum"]["offexchange"]["XAUT"].update(qty=1e300, mark=1e8, usd_value=1.7e308, source="mark",
                                             price_age_s=0.0)
    validate_nav_document(doc)
    assert publish_problem(doc) is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(account=account_st(), holdings=holdings_st(), prices=prices_st(ASSETS + MARKETS + ["USDZAR"]),
       manual=manual_st, poison=st.none() | st.sampled_from([math.nan, math.inf, -math.inf]), at=st.integers(0, 99))
def test_the_guard_agrees_with_the_contract_on_finiteness(account, holdings, prices, manual, poison, at):
    """Every core document passes; the same document with one number made non-finite fails both checks."""
    doc = build(account=account, holdings=holdings, prices=prices, manual=manual, fx_pairs=["USDZAR"])
    assert publish_problem(doc) is None
    if poison is None:
        return
    slots = [(doc, "ts"), (doc["aum"], "futures"), (doc["aum"], "total")]
    slots += [(h, k) for h in doc["aum"]["offexchange"].values() for k in ("qty", "mark", "usd_value")]
    slots += [(p, k) for p in doc["positions"] for k in ("qty", "upnl", "notional")]
    where, key = slots[at % len(slots)]
    where[key] = poison
    assert publish_problem(doc) is not None
    with pytest.raises(ContractError):
        validate_nav_document(doc)


def test_a_non_finite_number_in_the_accounts_block_is_named():
    from services.nav.guard import publish_problem
    from services.nav.model import AccountSnapshot, AccountState, AssetBalance, Limits
    from services.nav.valuation import build_nav_snapshot

    snap = AccountSnapshot(1.0, 10.0, 10.0, (), assets=(AssetBalance("USDT", 10.0, 0.0, 1),))
    doc = build_nav_snapshot(account=AccountState(snap, None, 1), prices={}, holdings={}, now=1.5, seq=1,
                             limits=Limits())
    assert publish_problem(doc) is None
    doc["accounts"]["main"]["assets"]["USDT"]["usd_value"] = float("nan")
    assert publish_problem(doc) == "accounts.main.assets.USDT.usd_value: nan is not a finite number"

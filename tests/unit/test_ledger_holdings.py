"""The pure core of holding changes: which assets moved, what each is worth, when two amounts match."""

from __future__ import annotations

from services.ledger.holdings import Change, Holding, amounts_match, holding_changes


def test_changes_are_by_asset_from_and_to_zero_and_an_asset_that_left_keeps_its_last_mark():
    last = {"USDC": Holding("USDC", 2_000.0, 1.0), "BTC": Holding("BTC", 0.1, 90_000.0)}
    now = [Holding("USDC", 2_000.0, 1.0001), Holding("XAUT", 1.0, None)]
    assert holding_changes(last, now) == [Change("BTC", 0.1, 0.0, 90_000.0), Change("XAUT", 0.0, 1.0, None)]
    btc, xaut = holding_changes(last, now)
    assert btc.amount_usd == -9_000.0
    assert xaut.amount_usd is None                     # no price: unknown, never 0 USD


def test_the_same_quantity_is_no_change():
    assert holding_changes({"USDC": Holding("USDC", 0.1 + 0.2, 1.0)}, [Holding("USDC", 0.3, 1.0)]) == []


def test_amounts_match_in_the_same_direction_within_the_tolerance():
    assert amounts_match(5_000.0, 4_990.0, 0.02)
    assert not amounts_match(5_000.0, -5_000.0, 0.02)
    assert not amounts_match(5_000.0, 4_000.0, 0.02)
    assert not amounts_match(0.0, 0.0, 0.02)

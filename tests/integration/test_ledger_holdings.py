"""Changes of an off-exchange holding's qty on SQLite and on a real PostgreSQL server: matched with a
transfer (internal), explained by an operator flow (one flow), else unclassified without moving the
unit price; replays add nothing; the last quantities survive a new engine."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command

from services.ledger import record, store
from services.ledger.config import LedgerSettings
from services.ledger.db import alembic_config, current_revision, head_revision, open_database, upgrade
from services.ledger.strikes import propose_strike

from tests.ledger_support import snapshot, transfer

T0 = 1_764_633_600.0   # 2025-12-02T00:00:00Z
NAV = 98_000.0


class Ledger:
    """The ledger loop's order of work on one engine: income and snapshots in time order, one
    transaction each, `recent` as the loop keeps it."""

    def __init__(self, engine, cfg: LedgerSettings) -> None:
        self.engine, self.cfg, self.recent = engine, cfg, []

    def snap(self, doc: dict, entry_id: str) -> int:
        val = record.valuation_of(doc)
        with self.engine.begin() as conn:
            record.ensure_inception(conn, self.cfg, val)
            store.lock_fund(conn, self.cfg.fund_id)
            changes = record.record_holdings(conn, self.cfg, val, entry_id, self.recent)
            self.recent.append((val.ts, val.aum_total))
            record.record_history(conn, self.cfg, val, entry_id)
        return changes

    def income(self, entry_id: str, rec) -> None:
        with self.engine.begin() as conn:
            store.lock_fund(conn, self.cfg.fund_id)
            record.record_income(conn, self.cfg, [(entry_id, rec)], {"USDT": 1.0}, recent=self.recent)

    def subscribe(self, amount: float, at: float, investor: str = "alice") -> dict:
        with self.engine.begin() as conn:
            return record.record_operator_flow(conn, self.cfg, amount_usd=amount, investor=investor, at=at,
                                               note="wire", recent=self.recent, now=at + 30)

    def flows(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(f) for f in store.list_flows(conn, self.cfg.fund_id) if f["kind"] != "inception"]

    def moves(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(m) for m in store.list_moves(conn, self.cfg.fund_id)]

    def unit_prices(self) -> list[float]:
        with self.engine.connect() as conn:
            return [p for _, p in store.unit_price_points(conn, self.cfg.fund_id)]

    def units(self) -> Decimal:
        with self.engine.connect() as conn:
            return store.units_outstanding(conn, self.cfg.fund_id)


@pytest.fixture
def ledger(engine, cfg) -> Ledger:
    led = Ledger(engine, cfg)
    led.snap(snapshot(1, T0 - 3600, NAV, usdc=2_000.0), "1-0")        # inception: 100,000 units at 1.0
    return led


def deposit(seq: int, ts: float, usdc: float = 7_000.0) -> dict:
    """The cold wallet's USDC went from 2,000 to `usdc`; futures NAV unchanged."""
    return snapshot(seq, ts, NAV, usdc=usdc)


def test_an_unexplained_cold_wallet_deposit_is_unclassified_keeps_the_unit_price_and_holds_the_strike(
        ledger, engine, cfg):
    assert ledger.snap(deposit(2, T0 + 70), "2-0") == 1
    [flow] = ledger.flows()
    assert flow["kind"] == "holding" and flow["classification"] == "unclassified"
    assert flow["amount_usd"] == 5_000.0 and flow["asset"] == "USDC" and flow["amount"] == 5_000.0
    assert flow["units"] == Decimal("5000") and flow["investor"] == "unallocated"
    assert all(abs(p - 1.0) < 1e-9 for p in ledger.unit_prices())          # a deposit is not a gain
    [move] = ledger.moves()
    assert (move["qty_before"], move["qty_after"], move["flow_id"]) == (2_000.0, 7_000.0, flow["id"])
    with engine.begin() as conn:
        row = propose_strike(conn, cfg, "2025-12-02", deposit(3, T0 + 130), now=T0 + 131)
    assert row["state"] == "held"
    assert any(f"unclassified flow(s) (ids {flow['id']})" in r for r in json.loads(row["reasons"])), row["reasons"]

    with engine.begin() as conn:     # the operator says: our own money from another wallet
        settled = record.classify_flow(conn, cfg, flow["id"], "internal")
    assert settled["classification"] == "internal" and settled["units"] == 0
    assert ledger.units() == Decimal("100000")
    ledger.snap(deposit(4, T0 + 190), "4-0")
    assert math.isclose(ledger.unit_prices()[-1], 105_000.0 / 100_000.0, rel_tol=1e-12)   # now it counts as value


def test_a_transfer_out_of_an_account_into_the_cold_wallet_is_internal_in_either_order(ledger, database_url):
    # the transfer first, then the snapshot showing the USDC in the wallet (the account's NAV fell by 5,000)
    ledger.income("i-1", transfer("main", "w1", -5_000.0, T0 + 40))
    assert ledger.flows()[0]["classification"] == "unclassified"          # until the money shows up
    ledger.snap(snapshot(2, T0 + 70, NAV - 5_000.0, usdc=7_000.0), "2-0")
    # ...and the reverse: a second deposit seen first, its transfer (4,990 after a 10 USDT fee) polled after
    ledger.snap(snapshot(3, T0 + 130, NAV - 9_990.0, usdc=11_990.0), "3-0")
    ledger.income("i-2", transfer("main", "w2", -4_990.0, T0 + 100))
    flows = ledger.flows()
    assert [(f["kind"], f["classification"], f["units"]) for f in flows] == [
        ("transfer", "internal", 0), ("holding", "internal", 0), ("transfer", "internal", 0),
        ("holding", "internal", 0)]
    assert ledger.units() == Decimal("100000")
    assert all(abs(p - 1.0) < 1e-9 for p in ledger.unit_prices())


@pytest.mark.parametrize("operator_first", [True, False], ids=["operator-first", "snapshot-first"])
def test_an_operator_subscription_for_the_deposit_is_the_only_flow(ledger, operator_first):
    if operator_first:
        ledger.snap(snapshot(2, T0 + 40, NAV, usdc=2_000.0), "2-1")   # a snapshot between --at and the money
        sub = ledger.subscribe(5_000.0, at=T0 + 30)
        ledger.snap(deposit(2, T0 + 70), "2-0")
    else:
        ledger.snap(deposit(2, T0 + 70), "2-0")
        sub = ledger.subscribe(5_000.0, at=T0 + 75)      # what the CLI prints: the flow as settled
    [flow] = ledger.flows()
    assert flow["kind"] == "subscription" and flow["classification"] == "external"
    assert flow["units"] == sub["units"] == Decimal("5000") and flow["investor"] == "alice"
    assert flow["ts"] == T0 + 70                  # dated at the snapshot the money showed in, whatever --at said
    assert "explains the change of the off-exchange USDC holding (+5000)" in flow["note"]
    [move] = ledger.moves()
    assert move["flow_id"] == flow["id"] and move["amount_usd"] == 5_000.0
    assert ledger.units() == Decimal("105000")
    assert all(abs(p - 1.0) < 1e-9 for p in ledger.unit_prices()), ledger.unit_prices()


def test_a_withdrawal_from_the_wallet_without_a_mark_is_recorded_with_an_unknown_amount(ledger):
    doc = snapshot(2, T0 + 70, NAV, usdc=500.0)
    doc["aum"]["offexchange"]["USDC"].update(mark=None, usd_value=None, source="none", price_age_s=None)
    doc["aum"]["total"] = NAV
    ledger.snap(doc, "2-0")
    [flow] = ledger.flows()
    assert flow["classification"] == "unclassified" and flow["amount_usd"] is None and flow["units"] == 0
    assert "no USD price" in flow["note"] and flow["amount"] == -1_500.0


def test_an_asset_appearing_and_leaving_moves_from_and_to_zero(ledger):
    doc = deposit(2, T0 + 70, usdc=2_000.0)
    doc["aum"]["offexchange"]["BTC"] = {"qty": 0.1, "avg_cost": 61_000.0, "mark": 90_000.0, "usd_value": 9_000.0,
                                        "source": "mark", "price_age_s": 0.5}
    doc["aum"]["total"] += 9_000.0
    ledger.snap(doc, "2-0")
    ledger.snap(deposit(3, T0 + 130, usdc=2_000.0), "3-0")                  # gone again, at its last mark
    assert [(m["asset"], m["qty_before"], m["qty_after"], m["amount_usd"]) for m in ledger.moves()] == [
        ("BTC", 0.0, 0.1, 9_000.0), ("BTC", 0.1, 0.0, -9_000.0)]
    assert all(abs(p - 1.0) < 1e-9 for p in ledger.unit_prices())


def test_replays_add_nothing_and_a_new_engine_remembers_the_last_quantities(ledger, engine, cfg):
    first = deposit(2, T0 + 70)
    ledger.snap(first, "2-0")
    assert ledger.snap(first, "2-0") == 0                        # the same entry again
    assert ledger.snap(snapshot(1, T0 - 3600, NAV, usdc=2_000.0), "1-0") == 0  # an older one
    assert len(ledger.flows()) == len(ledger.moves()) == 1
    engine.dispose()
    restarted = Ledger(open_database(cfg.database_url), cfg)     # a restarted ledger, Redis wiped: new ids and seq
    try:
        assert restarted.snap(snapshot(1, T0 + 130, NAV, usdc=7_000.0), "9-0") == 0   # same qty: no change
        assert restarted.snap(snapshot(2, T0 + 190, NAV, usdc=6_000.0), "10-0") == 1
        assert [f["amount_usd"] for f in restarted.flows()] == [5_000.0, -1_000.0]
    finally:
        restarted.engine.dispose()


def test_migration_0003_keeps_an_existing_record_and_runs_both_ways(cfg):
    eng = open_database(cfg.database_url)
    try:
        assert upgrade(eng, "0002") == "0002"
        with eng.begin() as conn:           # a record from before 0003: the fund, without holdings_ts
            conn.execute(sa.text("INSERT INTO funds (fund_id, inception_ts, inception_price, created_at) "
                                 "VALUES ('main', 1.0, 1.0, 1.0)"))
        assert upgrade(eng) == head_revision() == "0003"
        with eng.connect() as conn:
            assert store.get_fund(conn, "main")["holdings_ts"] is None      # its next snapshot seeds the quantities
        assert {"holdings", "holding_moves"} <= set(sa.inspect(eng).get_table_names())
        cfg_alembic = alembic_config()
        with eng.begin() as conn:
            cfg_alembic.attributes["connection"] = conn
            command.downgrade(cfg_alembic, "0002")
        assert current_revision(eng) == "0002" and "holdings" not in sa.inspect(eng).get_table_names()
        assert upgrade(eng) == "0003"
    finally:
        eng.dispose()

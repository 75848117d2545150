"""The fund's record on SQLite and on a real PostgreSQL server: units, flows, transfers, strikes, verify."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest
import sqlalchemy as sa

from services.ledger import record, store
from services.ledger.db import head_revision, upgrade
from services.ledger.schema import flows, nav_history, strikes
from services.ledger.strikes import StrikeRefused, approve_strike, propose_due_strikes, propose_strike, verify
from services.ledger.units import FlowRefused

from tests.ledger_support import snapshot, transfer

T0 = 1_764_633_600.0   # 2025-12-02T00:00:00Z


def record_snapshot(engine, cfg, doc, entry_id=None):
    val = record.valuation_of(doc)
    with engine.begin() as conn:
        record.ensure_inception(conn, cfg, val)
        store.lock_fund(conn, cfg.fund_id)
        return record.record_history(conn, cfg, val, entry_id)


def recent_of(*docs):
    return [(d["ts"], d["aum"]["total"]) for d in docs]


def test_migrations_are_idempotent_and_name_the_contract_tables(engine):
    assert upgrade(engine) == head_revision()
    names = set(sa.inspect(engine).get_table_names())
    assert {"nav_history", "income", "flows", "strikes"} <= names
    for table in ("nav_history", "income", "flows", "strikes"):
        assert "fund_id" in {c["name"] for c in sa.inspect(engine).get_columns(table)}


def test_inception_unitises_on_aum_and_a_replayed_snapshot_adds_no_row(engine, cfg):
    doc = snapshot(1, T0 + 10, 98_000.0)
    assert record_snapshot(engine, cfg, doc, "1-0")
    assert not record_snapshot(engine, cfg, doc, "1-0")            # replay: same bucket
    assert not record_snapshot(engine, cfg, snapshot(2, T0 + 20, 98_100.0))   # same minute
    with engine.connect() as conn:
        rows = conn.execute(sa.select(nav_history)).mappings().all()
        assert len(rows) == 1 and rows[0]["unit_price"] == 1.0
        assert store.units_outstanding(conn, cfg.fund_id) == Decimal("100000.000000000")


def test_subscribe_and_redeem_keep_the_unit_price_and_units_exact(engine, cfg):
    d1 = snapshot(1, T0 + 10, 98_000.0)
    record_snapshot(engine, cfg, d1)
    d2 = snapshot(2, T0 + 70, 103_000.0)       # market +5 %
    record_snapshot(engine, cfg, d2)
    with engine.begin() as conn:
        sub = record.record_operator_flow(conn, cfg, amount_usd=12_345.67, investor="alice", at=T0 + 80,
                                          note="first", recent=recent_of(d1, d2), now=T0 + 90)
    p_before = sub["aum_before"] / float(sub["units_before"])
    p_after = (sub["aum_before"] + 12_345.67) / float(sub["units_before"] + sub["units"])
    assert abs(p_after / p_before - 1) < 1e-9 and math.isclose(p_before, 1.05)
    with engine.begin() as conn:
        red = record.record_operator_flow(conn, cfg, amount_usd=-2_000.0, investor="alice", at=T0 + 85,
                                          note="", recent=recent_of(d1, d2), now=T0 + 90)
        assert red["units"] < 0
        per_investor = store.units_by_investor(conn, cfg.fund_id)
        assert sum(per_investor.values()) == store.units_outstanding(conn, cfg.fund_id)
        assert set(per_investor) == {"inception", "alice"}


@pytest.mark.parametrize(("amount", "at_offset", "investor", "why"), [
    (-500_000.0, 80, "inception", "larger than the fund"),
    (1000.0, 3600, "alice", "in the future"),
    (-10.0, 80, "nobody", "holds 0"),
])
def test_bad_flows_are_refused_and_write_nothing(engine, cfg, amount, at_offset, investor, why):
    d1 = snapshot(1, T0 + 10, 98_000.0)
    record_snapshot(engine, cfg, d1)
    with engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(flows)).scalar_one()
    with pytest.raises(FlowRefused, match=why), engine.begin() as conn:
        record.record_operator_flow(conn, cfg, amount_usd=amount, investor=investor, at=T0 + at_offset,
                                    note="", recent=recent_of(d1), now=T0 + 90)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(flows)).scalar_one() == before


def test_a_back_dated_flow_reprices_the_history_rows_after_it(engine, cfg):
    d1 = snapshot(1, T0 + 10, 98_000.0)
    record_snapshot(engine, cfg, d1)
    d2 = snapshot(2, T0 + 70, 106_000.0)     # the 8,000 USD subscription had already arrived (aum 108,000)
    record_snapshot(engine, cfg, d2)
    with engine.begin() as conn:
        record.record_operator_flow(conn, cfg, amount_usd=8_000.0, investor="bob", at=T0 + 60, note="",
                                    recent=recent_of(d1), now=T0 + 75)
    with engine.connect() as conn:
        prices = [r.unit_price for r in conn.execute(sa.select(nav_history).order_by(nav_history.c.ts))]
    assert prices[0] == 1.0 and math.isclose(prices[1], 1.0, rel_tol=1e-9)


def test_transfers_pair_internal_across_accounts_else_unclassified_without_moving_the_price(engine, cfg):
    d1 = snapshot(1, T0 + 10, 98_000.0)
    record_snapshot(engine, cfg, d1)
    recs = [("1-0", transfer("main", "t1", -5_000.0, T0 + 20)), ("2-0", transfer("sub1", "t2", 5_000.0, T0 + 21)),
            ("3-0", transfer("main", "t3", -10_000.0, T0 + 30))]
    with engine.begin() as conn:
        store.lock_fund(conn, cfg.fund_id)
        assert record.record_income(conn, cfg, recs, {"USDT": 1.0}, recent=recent_of(d1)) == (3, 3)
        assert record.record_income(conn, cfg, recs, {"USDT": 1.0}, recent=recent_of(d1)) == (0, 0)   # replay
    with engine.connect() as conn:
        rows = {f["account"] + f["flow_key"][-2:]: f for f in store.list_flows(conn, cfg.fund_id)
                if f["kind"] == "transfer"}
    assert rows["maint1"]["classification"] == rows["sub1t2"]["classification"] == "internal"
    assert rows["maint1"]["units"] == rows["sub1t2"]["units"] == 0
    assert rows["maint3"]["classification"] == "unclassified" and rows["maint3"]["units"] == Decimal("-10000")
    record_snapshot(engine, cfg, snapshot(2, T0 + 70, 88_000.0))        # the withdrawal has left
    with engine.connect() as conn:
        last = store.last_history(conn, cfg.fund_id)
        assert math.isclose(last["unit_price"], 1.0, rel_tol=1e-12)      # a withdrawal is not a loss
        assert store.net_transfers_usd(conn, cfg.fund_id) == -10_000.0
    with engine.begin() as conn:
        flow = record.classify_flow(conn, cfg, rows["maint3"]["id"], "external", investor="inception")
        assert flow["classification"] == "external" and flow["investor"] == "inception"
        assert store.unclassified_flow_ids(conn, cfg.fund_id) == ()


def test_a_strike_locks_on_a_quiet_day_and_chains(engine, cfg):
    record_snapshot(engine, cfg, snapshot(1, T0 - 3600, 98_000.0))
    with engine.begin() as conn:
        s1 = propose_strike(conn, cfg, "2025-12-02", snapshot(2, T0 + 5, 98_500.0), now=T0 + 6)
    assert s1["state"] == "locked" and s1["prev_hash"] is None and len(s1["hash"]) == 64
    assert s1["late"] is False
    with engine.begin() as conn:
        s2 = propose_strike(conn, cfg, "2025-12-03", snapshot(3, T0 + 86_405, 99_000.0), now=T0 + 90_000)
    assert s2["state"] == "locked" and s2["prev_hash"] == s1["hash"] and s2["late"] is True
    with engine.connect() as conn:
        assert verify(conn, cfg) == (2, None)
    with pytest.raises(StrikeRefused, match="locked"), engine.begin() as conn:
        propose_strike(conn, cfg, "2025-12-02", snapshot(4, T0 + 5, 1.0), now=T0 + 7)
    # a date between or before the chain's, or one not due yet, would break or pre-empt it: refused
    with pytest.raises(StrikeRefused, match="2025-12-03 exists already"), engine.begin() as conn:
        propose_strike(conn, cfg, "2025-12-01", snapshot(5, T0 + 90_001, 99_000.0), now=T0 + 90_002)
    with pytest.raises(StrikeRefused, match="not due yet"), engine.begin() as conn:
        propose_strike(conn, cfg, "2025-12-09", snapshot(6, T0 + 90_001, 99_000.0), now=T0 + 90_002)
    with engine.connect() as conn:
        assert verify(conn, cfg) == (2, None)


def test_a_replayed_backlog_strikes_each_day_from_its_own_snapshot(engine, cfg):
    record_snapshot(engine, cfg, snapshot(1, T0 - 3600, 98_000.0))
    backlog = [snapshot(2 + h, T0 + h * 3600 + 5, 98_000.0 + 10 * h) for h in range(3 * 24)]  # hourly, 3 days
    with engine.begin() as conn:
        first_half = propose_due_strikes(conn, cfg, backlog[:30], T0 + 3 * 86_400)
        rest = propose_due_strikes(conn, cfg, backlog[30:], T0 + 3 * 86_400)
    made = first_half + rest
    assert [s["strike_date"] for s in made] == ["2025-12-02", "2025-12-03", "2025-12-04"]
    assert [s["ts"] for s in made] == [T0 + 5, T0 + 86_405, T0 + 2 * 86_400 + 5]   # the 00:00:05 snapshot of each day
    assert all(s["state"] == "locked" and s["late"] for s in made), [json.loads(s["reasons"]) for s in made]
    with engine.connect() as conn:
        assert verify(conn, cfg) == (3, None)


def test_a_day_that_fell_due_before_inception_has_no_strike(engine, cfg):
    record_snapshot(engine, cfg, snapshot(1, T0 + 3600, 98_000.0))          # incepted 01:00 on Dec 2
    with pytest.raises(StrikeRefused, match="fell due before the fund's inception"), engine.begin() as conn:
        propose_strike(conn, cfg, "2025-12-02", snapshot(2, T0 + 3700, 98_000.0), now=T0 + 3800)
    with engine.begin() as conn:
        assert propose_due_strikes(conn, cfg, [snapshot(2, T0 + 3700, 98_000.0)], T0 + 3800) == []
        assert [s["strike_date"] for s in propose_due_strikes(conn, cfg, [snapshot(3, T0 + 86_410, 98_000.0)],
                                                                T0 + 86_420)] == ["2025-12-03"]


def test_days_missed_while_down_get_their_strikes_held_as_missed_and_approval_chains_them(engine, cfg):
    record_snapshot(engine, cfg, snapshot(1, T0 - 3600, 98_000.0))
    with engine.begin() as conn:
        assert [s["state"] for s in propose_due_strikes(conn, cfg, [snapshot(2, T0 + 5, 98_000.0)], T0 + 6)] == [
            "locked"]
        assert propose_due_strikes(conn, cfg, [snapshot(2, T0 + 5, 98_000.0)], T0 + 7) == []   # nothing new due
    back = T0 + 3 * 86_400 + 600          # down from Dec 2 until 2025-12-05T00:10Z
    with engine.begin() as conn:
        rows = propose_due_strikes(conn, cfg, [snapshot(3, back - 5, 98_100.0)], back)
    assert [(s["strike_date"], s["state"], s["late"]) for s in rows] == [
        ("2025-12-03", "held", True), ("2025-12-04", "held", True), ("2025-12-05", "held", False)]
    assert json.loads(rows[0]["reasons"])[0].startswith("missed: the system was down when it fell due")
    assert json.loads(rows[2]["reasons"]) == ["previous strike 2025-12-04 is held: approve it first"]
    with engine.begin() as conn:
        for label in ("2025-12-03", "2025-12-04", "2025-12-05"):
            approve_strike(conn, cfg, label, "valued on the morning of Dec 5; nothing moved", by="ops")
    with engine.connect() as conn:
        assert verify(conn, cfg) == (4, None)
        assert [s["strike_date"] for s in store.list_strikes(conn, cfg.fund_id)] == [
            "2025-12-02", "2025-12-03", "2025-12-04", "2025-12-05"]


def test_a_30_percent_jump_holds_the_strike_and_approval_locks_it_with_the_note(engine, cfg):
    record_snapshot(engine, cfg, snapshot(1, T0 - 3600, 98_000.0))
    with engine.begin() as conn:
        propose_strike(conn, cfg, "2025-12-02", snapshot(2, T0 + 5, 98_000.0), now=T0 + 6)
        held = propose_strike(conn, cfg, "2025-12-03", snapshot(3, T0 + 86_405, 128_000.0), now=T0 + 86_406)
    assert held["state"] == "held" and held["hash"] is None
    reasons = json.loads(held["reasons"])
    assert any("unit price moved +30.00%" in r and "STRIKE_MAX_MOVE" in r for r in reasons)
    with pytest.raises(StrikeRefused, match="--note"), engine.begin() as conn:
        approve_strike(conn, cfg, "2025-12-03", "  ", by="ops")
    with engine.begin() as conn:
        locked = approve_strike(conn, cfg, "2025-12-03", "BTC rallied; checked against Binance", by="ops")
    assert locked["state"] == "locked" and locked["note"].startswith("BTC rallied")
    with engine.connect() as conn:
        assert verify(conn, cfg) == (2, None)


@pytest.mark.parametrize(("reasons", "usdc_source", "degraded", "age", "gate"), [
    (["account sub1: reconciliation break: USDT residual 12.00"], "mark", False, 0.5, "reconciliation break"),
    ([], "avg_cost", False, 0.5, "fallback tier"),
    ([], "mark", True, 0.5, "degraded snapshot"),
    ([], "mark", False, 900.0, "USDC price is 900 s old"),
])
def test_each_gate_holds_the_strike_and_is_named(engine, cfg, reasons, usdc_source, degraded, age, gate):
    record_snapshot(engine, cfg, snapshot(1, T0 - 3600, 98_000.0))
    doc = snapshot(2, T0 + 5, 80_000.0, usdc=20_000.0, usdc_source=usdc_source, degraded=degraded,
                   reasons=reasons, price_age_s=age)
    with engine.begin() as conn:
        row = propose_strike(conn, cfg, "2025-12-02", doc, now=T0 + 6)
    assert row["state"] == "held"
    assert any(gate in r for r in json.loads(row["reasons"])), row["reasons"]


def test_an_unclassified_flow_holds_the_strike(engine, cfg):
    d1 = snapshot(1, T0 - 3600, 98_000.0)
    record_snapshot(engine, cfg, d1)
    with engine.begin() as conn:
        store.lock_fund(conn, cfg.fund_id)
        record.record_income(conn, cfg, [("1-0", transfer("main", "x", 500.0, T0 - 60))], {"USDT": 1.0},
                             recent=recent_of(d1))
        row = propose_strike(conn, cfg, "2025-12-02", snapshot(2, T0 + 5, 98_500.0), now=T0 + 6)
    assert row["state"] == "held" and "unclassified flow" in row["reasons"]


def test_a_partial_snapshot_moves_no_units_history_or_strike(engine, cfg):
    record_snapshot(engine, cfg, snapshot(1, T0 - 3600, 98_000.0))
    partial = snapshot(2, T0 + 5, 50_000.0, source="partial", reasons=["account sub1 never answered"])
    assert record.valuation_of(partial) is None
    with pytest.raises(StrikeRefused, match="not a usable valuation"), engine.begin() as conn:
        propose_strike(conn, cfg, "2025-12-02", partial, now=T0 + 6)


@pytest.mark.parametrize(("column", "value"), [
    ("nav_total", 98_500.01), ("note", "edited"), ("inputs", None), ("state", "held"), ("units", Decimal("1")),
])
def test_verify_names_the_first_edited_strike(engine, cfg, column, value):
    record_snapshot(engine, cfg, snapshot(1, T0 - 3600, 98_000.0))
    with engine.begin() as conn:
        for day in range(3):
            propose_strike(conn, cfg, f"2025-12-0{2 + day}", snapshot(2 + day, T0 + 5 + day * 86_400, 98_500.0),
                           now=T0 + 6 + day * 86_400)
    with engine.begin() as conn:
        target = store.get_strike(conn, cfg.fund_id, "2025-12-03")
        if column == "inputs":   # one byte of the stored inputs
            raw = target["inputs"]
            i = raw.index("98500.0")
            value = raw[:i] + "98501.0" + raw[i + 7:]
        conn.execute(sa.update(strikes).where(strikes.c.id == target["id"]).values({column: value}))
    with engine.connect() as conn:
        checked, problem = verify(conn, cfg)
    assert checked == 1 and problem is not None and problem.startswith("strike 2025-12-03"), problem

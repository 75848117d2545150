"""Operations on the fund's record: inception, history rows, income and transfer flows,
operator flows and their classification. Each takes a Connection inside a transaction
the caller holds (with `lock_fund` taken) and the ledger settings; the arithmetic is
services.ledger.units, the SQL services.ledger.store.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeGuard

from sqlalchemy.engine import Connection

from shared.contracts.income import IncomeRecord
from shared.contracts.vocabulary import UNCOUNTED_SOURCES, USD_PAR_ASSET

from services.ledger import store
from services.ledger.config import LedgerSettings
from services.ledger.schema import flows, income, nav_history
from services.ledger.strike import LOCKED, iso_utc
from services.ledger.store import EXTERNAL, INTERNAL, MINUTE, UNCLASSIFIED
from services.ledger.units import FlowRefused, Pricing, flow_units, inception_units, unit_price

UNALLOCATED = "unallocated"
"""Investor of an external transfer nobody has claimed yet (`navstream flow classify ID external --investor`)."""

FUTURE_SKEW_S = 5.0


@dataclass(frozen=True, slots=True)
class Valuation:
    """What the ledger takes from one snapshot."""

    ts: float
    seq: int | None
    nav_total: float | None
    aum_total: float
    source: str
    degraded: bool


def valuation_of(snapshot: Mapping[str, Any]) -> Valuation | None:
    """The snapshot's valuation, or None when it must not move units, history or strikes
    (partial, startup, or without a positive finite aum.total)."""
    aum = (snapshot.get("aum") or {}).get("total")
    ts = snapshot.get("ts")
    if snapshot.get("source") in UNCOUNTED_SOURCES or not _positive(aum) or not _positive(ts):
        return None
    status = snapshot.get("status") or {}
    return Valuation(ts=float(ts), seq=snapshot.get("seq"), nav_total=snapshot.get("nav_total"),
                     aum_total=float(aum), source=str(snapshot.get("source")),
                     degraded=bool(status.get("degraded")))


def _positive(x: Any) -> TypeGuard[float]:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


# --- inception and history -------------------------------------------------------------------

def ensure_inception(conn: Connection, cfg: LedgerSettings, val: Valuation) -> bool:
    """Unitise the fund on its first usable snapshot; True if this call did it."""
    if not store.create_fund(conn, cfg.fund_id, val.ts, cfg.unit_inception_price):
        return False
    units = inception_units(val.aum_total, cfg.unit_inception_price)
    store.insert_ignoring_duplicates(conn, flows, [{
        "fund_id": cfg.fund_id, "flow_key": "inception", "ts": val.ts, "kind": "inception",
        "classification": EXTERNAL, "amount_usd": val.aum_total, "investor": cfg.inception_investor,
        "units": units, "unit_price": cfg.unit_inception_price, "aum_before": 0.0, "units_before": Decimal(0),
        "note": f"units at inception: aum.total / UNIT_INCEPTION_PRICE {cfg.unit_inception_price}",
        "created_at": time.time()}])
    return True


def history_row(cfg: LedgerSettings, val: Valuation, units: Decimal, *, kind: str, bucket: int,
                entry_id: str | None) -> dict[str, Any]:
    return {"fund_id": cfg.fund_id, "kind": kind, "bucket": bucket, "minute": int(val.ts // 60), "ts": val.ts,
            "nav_total": val.nav_total, "aum_total": val.aum_total, "unit_price": unit_price(val.aum_total, units),
            "units": units, "source": val.source, "degraded": val.degraded, "seq": val.seq, "entry_id": entry_id}


def record_history(conn: Connection, cfg: LedgerSettings, val: Valuation, entry_id: str | None) -> bool:
    """One minute row (bucket = ts // LEDGER_HISTORY_INTERVAL_S); False if the bucket has one already."""
    units = store.units_outstanding(conn, cfg.fund_id, at=val.ts)
    bucket = int(val.ts // cfg.history_interval_s)
    row = history_row(cfg, val, units, kind=MINUTE, bucket=bucket, entry_id=entry_id)
    return store.insert_ignoring_duplicates(conn, nav_history, [row]) == 1


# --- pricing a flow --------------------------------------------------------------------------

def pricing_at(conn: Connection, cfg: LedgerSettings, ts: float,
               recent: Iterable[tuple[float, float]] = ()) -> Pricing:
    """The unit price just before `ts`: the last snapshot before it among `recent` (ts, aum_total),
    else the last history row before it. FlowRefused when there is neither."""
    before = [(t, a) for t, a in recent if t < ts]
    if before:
        snap_ts, aum = max(before)
        return Pricing(aum, store.units_outstanding(conn, cfg.fund_id, at=snap_ts))
    row = store.last_history(conn, cfg.fund_id, before=ts)
    if row is None:
        raise FlowRefused("there is no valuation of the fund before that time to price the flow at "
                          "(the ledger records one once the first snapshot arrives)")
    return Pricing(row["aum_total"], store.units_outstanding(conn, cfg.fund_id, at=row["ts"]))


def apply_units(conn: Connection, cfg: LedgerSettings, ts: float, units: Decimal) -> None:
    """History rows at or after `ts` were written without these units: reprice them."""
    store.reprice_history(conn, cfg.fund_id, ts, units)


def locked_until(conn: Connection, cfg: LedgerSettings) -> float | None:
    """The time of the last locked strike: the record up to it never changes."""
    locked = [s["ts"] for s in store.list_strikes(conn, cfg.fund_id) if s["state"] == LOCKED]
    return max(locked) if locked else None


# --- operator flows --------------------------------------------------------------------------

def record_operator_flow(conn: Connection, cfg: LedgerSettings, *, amount_usd: float, investor: str,
                         at: float, note: str, recent: Sequence[tuple[float, float]] = (),
                         now: float | None = None) -> dict[str, Any]:
    """A subscription (amount > 0) or redemption (< 0); FlowRefused (nothing written) when it cannot be."""
    now = time.time() if now is None else now
    if at > now + FUTURE_SKEW_S:
        raise FlowRefused(f"--at {iso_utc(at)} is in the future (now {iso_utc(now)})")
    if not store.lock_fund(conn, cfg.fund_id):
        raise FlowRefused(f"fund {cfg.fund_id!r} has no inception yet: the ledger unitises it on its first "
                          "snapshot (is `navstream up` running?)")
    locked = locked_until(conn, cfg)
    if locked is not None and at <= locked:
        raise FlowRefused(f"--at {iso_utc(at)} is before the last locked strike ({iso_utc(locked)}), "
                          "which never changes")
    pricing = pricing_at(conn, cfg, at, recent)
    units = flow_units(amount_usd, pricing)
    if units < 0:
        held = store.units_by_investor(conn, cfg.fund_id).get(investor, Decimal(0))
        if -units > held:
            raise FlowRefused(f"investor {investor!r} holds {held} units; a redemption of {-amount_usd:,.2f} USD "
                              f"needs {-units}")
    row = {"fund_id": cfg.fund_id, "flow_key": f"operator:{uuid.uuid4()}", "ts": at,
           "kind": "subscription" if amount_usd > 0 else "redemption", "classification": EXTERNAL,
           "amount_usd": amount_usd, "investor": investor, "units": units, "unit_price": pricing.unit_price,
           "aum_before": pricing.aum_before, "units_before": pricing.units_before, "note": note,
           "created_at": now}
    store.insert_ignoring_duplicates(conn, flows, [row])
    apply_units(conn, cfg, at, units)
    return row


# --- income and transfers --------------------------------------------------------------------

def record_income(conn: Connection, cfg: LedgerSettings, records: Sequence[tuple[str, IncomeRecord]],
                  usd_price: Mapping[str, float], *, recent: Sequence[tuple[float, float]] = (),
                  make_flows: bool = True) -> tuple[int, int]:
    """Store income records (a replay adds nothing) and turn each new TRANSFER into a flow
    (unless `make_flows` is False: a transfer before inception is already in its AUM).
    Returns (records inserted, transfer flows made)."""
    inserted = made = 0
    for entry_id, rec in records:
        row = {"fund_id": cfg.fund_id, "account": rec.account, "type": rec.type, "tran_id": rec.tran_id,
               "asset": rec.asset, "amount": rec.amount, "symbol": rec.symbol, "ts": rec.ts, "entry_id": entry_id}
        if store.insert_ignoring_duplicates(conn, income, [row]) == 0:
            continue
        inserted += 1
        if rec.type == "TRANSFER" and make_flows:
            record_transfer(conn, cfg, rec, usd_price.get(rec.asset), recent)
            made += 1
    return inserted, made


def transfer_usd_price(asset: str, snapshot: Mapping[str, Any] | None) -> float | None:
    """The USD price of a transferred asset: par for USDT, else what the latest snapshot used."""
    if asset == USD_PAR_ASSET:
        return 1.0
    if not snapshot:
        return None
    for acct in (snapshot.get("accounts") or {}).values():
        px = ((acct.get("assets") or {}).get(asset) or {}).get("usd_price")
        if _positive(px):
            return float(px)
    px = (((snapshot.get("aum") or {}).get("offexchange") or {}).get(asset) or {}).get("mark")
    return float(px) if _positive(px) else None


def record_transfer(conn: Connection, cfg: LedgerSettings, rec: IncomeRecord, px: float | None,
                    recent: Sequence[tuple[float, float]]) -> None:
    """A TRANSFER record as a flow: internal when it pairs with an opposite transfer of another of
    the fund's accounts, else unclassified, with units issued or cancelled provisionally (to
    'unallocated') so the unit price does not move while the operator reviews it."""
    base = {"fund_id": cfg.fund_id, "flow_key": f"income:{rec.account}:{rec.type}:{rec.tran_id}", "ts": rec.ts,
            "kind": "transfer", "account": rec.account, "asset": rec.asset, "amount": rec.amount,
            "amount_usd": rec.amount * px if px is not None else None, "investor": UNALLOCATED,
            "created_at": time.time()}
    partner = _matching_transfer(conn, cfg, rec)
    if partner is not None:
        _make_internal(conn, cfg, partner)
        store.insert_ignoring_duplicates(conn, flows, [{**base, "classification": INTERNAL, "units": Decimal(0),
                                                         "note": f"internal: pairs with flow {partner['id']}"}])
        return
    if px is None:
        store.insert_ignoring_duplicates(conn, flows, [{**base, "classification": UNCLASSIFIED, "units": Decimal(0),
                                                         "note": f"no USD price for {rec.asset}: units not issued"}])
        return
    try:
        pricing = pricing_at(conn, cfg, rec.ts, recent)
        units = flow_units(rec.amount * px, pricing)
    except FlowRefused as exc:
        store.insert_ignoring_duplicates(conn, flows, [{**base, "classification": UNCLASSIFIED, "units": Decimal(0),
                                                         "note": f"units not issued: {exc}"}])
        return
    store.insert_ignoring_duplicates(conn, flows, [{
        **base, "classification": UNCLASSIFIED, "units": units, "unit_price": pricing.unit_price,
        "aum_before": pricing.aum_before, "units_before": pricing.units_before,
        "note": "unexplained transfer: units issued/cancelled provisionally; review it"}])
    apply_units(conn, cfg, rec.ts, units)


def _matching_transfer(conn: Connection, cfg: LedgerSettings, rec: IncomeRecord) -> Mapping[str, Any] | None:
    for f in store.list_flows(conn, cfg.fund_id):
        if (f["kind"] == "transfer" and f["classification"] == UNCLASSIFIED and f["account"] != rec.account
                and f["asset"] == rec.asset and f["amount"] is not None
                and math.isclose(f["amount"], -rec.amount, rel_tol=1e-9, abs_tol=1e-12)
                and abs(f["ts"] - rec.ts) <= cfg.transfer_match_s):
            return f
    return None


def _make_internal(conn: Connection, cfg: LedgerSettings, flow: Mapping[str, Any]) -> None:
    if flow["units"]:
        apply_units(conn, cfg, flow["ts"], -flow["units"])
    store.set_flow(conn, flow["id"], classification=INTERNAL, units=Decimal(0),
                   note=(flow["note"] + "; " if flow["note"] else "") + "internal: between the fund's own accounts")


def classify_flow(conn: Connection, cfg: LedgerSettings, flow_id: int, classification: str, *,
                  investor: str | None = None, note: str = "") -> Mapping[str, Any]:
    """The operator's verdict on a transfer: internal (no units) or external (units at the price before it)."""
    if not store.lock_fund(conn, cfg.fund_id):
        raise FlowRefused(f"fund {cfg.fund_id!r} has no inception yet")
    flow = store.get_flow(conn, cfg.fund_id, flow_id)
    if flow is None:
        raise FlowRefused(f"no flow with id {flow_id} in fund {cfg.fund_id!r} (`navstream flow list`)")
    if flow["kind"] != "transfer":
        raise FlowRefused(f"flow {flow_id} is a {flow['kind']}, not a transfer: only transfers are classified")
    locked = locked_until(conn, cfg)
    if locked is not None and flow["ts"] <= locked:
        raise FlowRefused(f"flow {flow_id} is before the last locked strike ({iso_utc(locked)}), which never changes")
    if classification == INTERNAL:
        _make_internal(conn, cfg, flow)
    elif classification == EXTERNAL:
        _make_external(conn, cfg, flow, investor)
    else:
        raise FlowRefused(f"classification {classification!r} is not internal or external")
    if note:
        store.set_flow(conn, flow_id, note=note)
    updated = store.get_flow(conn, cfg.fund_id, flow_id)
    assert updated is not None
    return updated


def _make_external(conn: Connection, cfg: LedgerSettings, flow: Mapping[str, Any], investor: str | None) -> None:
    values: dict[str, Any] = {"classification": EXTERNAL, "investor": investor or flow["investor"]}
    if flow["units"] == 0:
        if flow["amount_usd"] is None:
            raise FlowRefused(f"flow {flow['id']}: no USD price for {flow['asset']} to issue units at")
        pricing = pricing_at(conn, cfg, flow["ts"])
        units = flow_units(flow["amount_usd"], pricing)
        values.update(units=units, unit_price=pricing.unit_price, aum_before=pricing.aum_before,
                      units_before=pricing.units_before)
        apply_units(conn, cfg, flow["ts"], units)
    store.set_flow(conn, flow["id"], **values)

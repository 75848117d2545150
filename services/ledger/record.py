"""Operations on the fund's record: inception, history rows, income and transfer flows,
changes of off-exchange holdings, operator flows and their classification. Each takes a Connection inside a transaction
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
from services.ledger.holdings import Change, Holding, amounts_match, holding_changes
from services.ledger.schema import flows, income, nav_history
from services.ledger.strike import LOCKED, iso_utc
from services.ledger.store import EXTERNAL, INTERNAL, MINUTE, UNCLASSIFIED
from services.ledger.units import FlowRefused, Pricing, flow_units, inception_units, unit_price

UNALLOCATED = "unallocated"
"""Investor of an external transfer nobody has claimed yet (`navstream flow classify ID external --investor`)."""

FUTURE_SKEW_S = 5.0
HOLDING = "holding"
CLASSIFIED_KINDS = ("transfer", HOLDING)
OPERATOR_KINDS = ("subscription", "redemption")


@dataclass(frozen=True, slots=True)
class Valuation:
    """What the ledger takes from one snapshot."""

    ts: float
    seq: int | None
    nav_total: float | None
    aum_total: float
    source: str
    degraded: bool
    holdings: tuple[Holding, ...] = ()


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
                     degraded=bool(status.get("degraded")), holdings=_holdings_of(snapshot))


def _holdings_of(snapshot: Mapping[str, Any]) -> tuple[Holding, ...]:
    held = (snapshot.get("aum") or {}).get("offexchange") or {}
    return tuple(Holding(str(asset), float(h["qty"]), float(h["mark"]) if _positive(h.get("mark")) else None)
                 for asset, h in sorted(held.items())
                 if isinstance(h.get("qty"), (int, float)) and math.isfinite(h["qty"]))


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
    flow_key = f"operator:{uuid.uuid4()}"
    row = {"fund_id": cfg.fund_id, "flow_key": flow_key, "ts": at,
           "kind": "subscription" if amount_usd > 0 else "redemption", "classification": EXTERNAL,
           "amount_usd": amount_usd, "investor": investor, "units": units, "unit_price": pricing.unit_price,
           "aum_before": pricing.aum_before, "units_before": pricing.units_before, "note": note,
           "created_at": now}
    store.insert_ignoring_duplicates(conn, flows, [row])
    apply_units(conn, cfg, at, units)
    change = _open_flow(conn, cfg, HOLDING, amount_usd, at)
    if change is not None:
        return _explained_by_operator(conn, cfg, change, flow_key, recent)
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
    amount_usd = rec.amount * px if px is not None else None
    base = {"fund_id": cfg.fund_id, "flow_key": f"income:{rec.account}:{rec.type}:{rec.tran_id}", "ts": rec.ts,
            "kind": "transfer", "account": rec.account, "asset": rec.asset, "amount": rec.amount,
            "amount_usd": amount_usd, "investor": UNALLOCATED,
            "created_at": time.time()}
    partner = _matching_transfer(conn, cfg, rec)
    if partner is not None:
        _make_internal(conn, cfg, partner)
        store.insert_ignoring_duplicates(conn, flows, [{**base, "classification": INTERNAL, "units": Decimal(0),
                                                         "note": f"internal: pairs with flow {partner['id']}"}])
        return
    holding = _open_flow(conn, cfg, HOLDING, -amount_usd, rec.ts) if amount_usd else None
    if holding is not None:      # out of an account into an off-exchange holding, or back
        _make_internal(conn, cfg, holding, why=f"internal: matches transfer {rec.account}:{rec.tran_id}")
        store.insert_ignoring_duplicates(conn, flows, [{
            **base, "classification": INTERNAL, "units": Decimal(0),
            "note": f"internal: matches the change of the off-exchange {holding['asset']} holding, "
                    f"flow {holding['id']}"}])
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
    near = store.flows_near(conn, cfg.fund_id, ("transfer",), rec.ts, window_s=cfg.transfer_match_s,
                            classification=UNCLASSIFIED)
    for f in sorted(near, key=lambda f: (f["ts"], f["id"])):          # the earliest, as before
        if (f["account"] != rec.account and f["asset"] == rec.asset and f["amount"] is not None
                and math.isclose(f["amount"], -rec.amount, rel_tol=1e-9, abs_tol=1e-12)):
            return f
    return None


def _make_internal(conn: Connection, cfg: LedgerSettings, flow: Mapping[str, Any],
                   why: str = "internal: between the fund's own accounts") -> None:
    if flow["units"]:
        apply_units(conn, cfg, flow["ts"], -flow["units"])
    store.set_flow(conn, flow["id"], classification=INTERNAL, units=Decimal(0),
                   note=(flow["note"] + "; " if flow["note"] else "") + why)


def classify_flow(conn: Connection, cfg: LedgerSettings, flow_id: int, classification: str, *,
                  investor: str | None = None, note: str = "") -> Mapping[str, Any]:
    """The operator's verdict on a transfer or a holding change: internal (no units; provisional ones are
    taken back) or external (units at the price before it, for `investor`)."""
    if not store.lock_fund(conn, cfg.fund_id):
        raise FlowRefused(f"fund {cfg.fund_id!r} has no inception yet")
    flow = store.get_flow(conn, cfg.fund_id, flow_id)
    if flow is None:
        raise FlowRefused(f"no flow with id {flow_id} in fund {cfg.fund_id!r} (`navstream flow list`)")
    if flow["kind"] not in CLASSIFIED_KINDS:
        raise FlowRefused(f"flow {flow_id} is a {flow['kind']}, not a transfer or a holding change: only those "
                          "are classified")
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


# --- off-exchange holdings -------------------------------------------------------------------

def record_holdings(conn: Connection, cfg: LedgerSettings, val: Valuation, entry_id: str,
                    recent: Sequence[tuple[float, float]] = (), *, refresh_marks: bool = True) -> int:
    """Compare the snapshot's off-exchange quantities with the last ones seen (kept in `holdings`) and
    record each change; returns how many. A snapshot not newer than the last one saved (a replay)
    changes nothing; the first one after inception (or after migration 0003) only seeds them.

    The quantities are saved when they changed; with `refresh_marks` (the loop: when the snapshot
    also writes a history row) they are saved anyway, so an asset that leaves is valued at a mark
    at most one history interval old. A snapshot with the same quantities and no refresh writes
    nothing: a replay of it compares equal to what is saved."""
    fund = store.get_fund(conn, cfg.fund_id)
    if fund is None:
        return 0
    seen_ts = fund["holdings_ts"]
    if seen_ts is not None and val.ts <= seen_ts:
        return 0
    changes = [] if seen_ts is None else holding_changes(store.last_holdings(conn, cfg.fund_id), val.holdings)
    for change in changes:
        record_holding_change(conn, cfg, change, ts=val.ts, entry_id=entry_id, recent=recent)
    if changes or seen_ts is None or refresh_marks:
        store.save_holdings(conn, cfg.fund_id, val.holdings, val.ts)
    return len(changes)


def quantities_unchanged(saved: Mapping[str, Holding] | None, val: Valuation) -> bool:
    """True when `val` holds exactly the saved off-exchange quantities (None: nothing saved yet)."""
    return saved is not None and not holding_changes(saved, val.holdings)


def record_holding_change(conn: Connection, cfg: LedgerSettings, change: Change, *, ts: float, entry_id: str,
                          recent: Sequence[tuple[float, float]]) -> None:
    """One change of an off-exchange asset's `qty`, as of the first snapshot showing it (at `ts`): money
    arriving in or leaving a wallet outside the exchange, a movement like a TRANSFER. It matches,
    within LEDGER_TRANSFER_MATCH_S of `ts` (before or after) and LEDGER_HOLDING_MATCH_TOLERANCE of
    its USD amount (the nearest in time, if several),

    (a) an unclassified TRANSFER flow of the opposite direction (out of an account into the wallet,
        or back): both become internal, no units; else
    (b) an operator subscription/redemption of the same direction that explains no other change:
        that flow is the change's record (dated at `ts`, priced just before it); the change gets
        no flow of its own.

    Otherwise it is an unclassified `holding` flow with units issued or cancelled provisionally to
    'unallocated' (the unit price does not move), which holds the strike.

    Why the order of arrival does not matter: each of the three (a TRANSFER in `record_transfer`,
    an operator flow in `record_operator_flow`, a change here), when recorded, looks among those
    already recorded for a partner still open and settles the pair at once, to the same end state:
    a TRANSFER arriving after the change makes the change's flow internal and takes its provisional
    units back; an operator flow arriving after it removes the provisional flow (units taken back)
    and takes its place. The one case that does depend on order is a change claimed by both a
    TRANSFER and an operator flow: whichever pairs with it first keeps it, the other stays alone.
    """
    amount = change.amount_usd
    move = {"fund_id": cfg.fund_id, "asset": change.asset, "ts": ts, "qty_before": change.qty_before,
            "qty_after": change.qty_after, "mark": change.mark, "amount_usd": amount, "entry_id": entry_id}
    operator = _open_operator_flow(conn, cfg, amount, ts) if amount is not None else None
    transfer_flow = _open_flow(conn, cfg, "transfer", -amount, ts) if amount is not None else None
    if transfer_flow is None and operator is not None:
        if store.insert_move(conn, {**move, "flow_id": operator["id"]}):
            _date_at_change(conn, cfg, operator, change, ts=ts, recent=recent)
        return
    flow_key = f"holding:{change.asset}:{entry_id}"
    base = {"fund_id": cfg.fund_id, "flow_key": flow_key, "ts": ts, "kind": HOLDING,
            "asset": change.asset, "amount": change.delta, "amount_usd": amount, "investor": UNALLOCATED,
            "created_at": time.time()}
    what = f"{change.asset} holding {change.qty_before:g} -> {change.qty_after:g}"
    if transfer_flow is not None:
        _make_internal(conn, cfg, transfer_flow, why=f"internal: matches the change of the off-exchange {what}")
        row = {**base, "classification": INTERNAL, "units": Decimal(0),
               "note": f"internal: {what}, matches transfer flow {transfer_flow['id']}"}
    else:
        row = {**base, **_provisional(conn, cfg, amount, ts=ts, recent=recent, what=what)}
    if store.insert_ignoring_duplicates(conn, flows, [row]) == 0:
        return                                                 # recorded already (a replay)
    flow = store.flow_by_key(conn, cfg.fund_id, flow_key)
    assert flow is not None
    store.insert_move(conn, {**move, "flow_id": flow["id"]})
    if flow["units"]:
        apply_units(conn, cfg, ts, flow["units"])


def _provisional(conn: Connection, cfg: LedgerSettings, amount: float | None, *, ts: float,
                 recent: Sequence[tuple[float, float]], what: str) -> dict[str, Any]:
    """An unexplained change: units issued or cancelled provisionally to 'unallocated', or none (and why)."""
    if amount is None:
        return {"classification": UNCLASSIFIED, "units": Decimal(0),
                "note": f"unexplained change of the off-exchange {what}: no USD price for it in the snapshot, "
                        "so its amount is unknown and no units were issued; review it"}
    try:
        pricing = pricing_at(conn, cfg, ts, recent)
        units = flow_units(amount, pricing)
    except FlowRefused as exc:
        return {"classification": UNCLASSIFIED, "units": Decimal(0),
                "note": f"unexplained change of the off-exchange {what}: units not issued: {exc}"}
    return {"classification": UNCLASSIFIED, "units": units, "unit_price": pricing.unit_price,
            "aum_before": pricing.aum_before, "units_before": pricing.units_before,
            "note": f"unexplained change of the off-exchange {what}: units issued/cancelled provisionally; "
                    "review it"}


def _open_operator_flow(conn: Connection, cfg: LedgerSettings, amount_usd: float,
                        ts: float) -> Mapping[str, Any] | None:
    """An operator flow of about `amount_usd` near `ts` that explains no other holding change yet."""
    for f in store.flows_near(conn, cfg.fund_id, OPERATOR_KINDS, ts, window_s=cfg.transfer_match_s):
        if amounts_match(f["amount_usd"], amount_usd, cfg.holding_match_tolerance) \
                and not store.explains_a_move(conn, cfg.fund_id, f["id"]):
            return f
    return None


def _open_flow(conn: Connection, cfg: LedgerSettings, kind: str, amount_usd: float,
               ts: float) -> Mapping[str, Any] | None:
    """An unclassified flow of `kind` (transfer, holding) of about `amount_usd` near `ts`."""
    for f in store.flows_near(conn, cfg.fund_id, (kind,), ts, window_s=cfg.transfer_match_s,
                              classification=UNCLASSIFIED):
        if f["amount_usd"] is not None and amounts_match(f["amount_usd"], amount_usd, cfg.holding_match_tolerance):
            return f
    return None


def _explained_by_operator(conn: Connection, cfg: LedgerSettings, held: Mapping[str, Any], operator_key: str,
                           recent: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """An operator flow recorded after the holding change it explains: the change's provisional flow goes
    (its units taken back), and the change points at the operator flow, as if that had come first.
    Returns the operator flow as it now stands."""
    operator = store.flow_by_key(conn, cfg.fund_id, operator_key)
    assert operator is not None
    if held["units"]:
        apply_units(conn, cfg, held["ts"], -held["units"])
    store.link_moves(conn, cfg.fund_id, held["id"], operator["id"])
    store.delete_flow(conn, held["id"])
    _date_at_change(conn, cfg, operator, Change(held["asset"], 0.0, held["amount"], None), ts=held["ts"],
                    recent=recent)
    updated = store.flow_by_key(conn, cfg.fund_id, operator_key)
    assert updated is not None
    return dict(updated)


def _date_at_change(conn: Connection, cfg: LedgerSettings, operator: Mapping[str, Any], change: Change, *,
                    ts: float, recent: Sequence[tuple[float, float]]) -> None:
    """The operator flow explaining a change takes the change's time, the first snapshot whose aum.total
    holds the money, and is priced just before it: so no history row has the money without its units,
    or the units without the money, whichever `--at` the operator gave."""
    note = (operator["note"] + "; " if operator["note"] else "") + (
        f"explains the change of the off-exchange {change.asset} holding ({change.delta:+g}) at {iso_utc(ts)}")
    if operator["ts"] == ts:
        store.set_flow(conn, operator["id"], note=note)
        return
    apply_units(conn, cfg, operator["ts"], -operator["units"])
    store.set_flow(conn, operator["id"], units=Decimal(0))        # out of the units it is priced on
    try:
        pricing = pricing_at(conn, cfg, ts, recent)
        units = flow_units(operator["amount_usd"], pricing)
    except FlowRefused as exc:      # kept at the operator's time and units
        store.set_flow(conn, operator["id"], units=operator["units"], note=note + f" (kept at --at: {exc})")
        apply_units(conn, cfg, operator["ts"], operator["units"])
        return
    store.set_flow(conn, operator["id"], ts=ts, units=units, unit_price=pricing.unit_price,
                   aum_before=pricing.aum_before, units_before=pricing.units_before,
                   note=note + f", so dated then (--at was {iso_utc(operator['ts'])})")
    apply_units(conn, cfg, ts, units)

"""Proposing, holding, approving and verifying daily strikes in the record (pure rules in strike.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shared.errors import NavstreamError

from services.ledger import store
from services.ledger.config import LedgerSettings
from services.ledger.record import Valuation, history_row, valuation_of
from services.ledger.schema import nav_history, strikes
from services.ledger.store import STRIKE
from services.ledger.strike import (
    HELD,
    LATE_AFTER_S,
    LOCKED,
    GateContext,
    GateLimits,
    canonical_json,
    due_ts,
    iso_utc,
    labels_due,
    next_due_after,
    strike_gates,
    strike_hash,
    strike_inputs,
    verify_chain,
)
from services.ledger.units import unit_price


BACKFILL_PER_CALL = 100
"""Missed strikes proposed in one transaction; the loop proposes the rest on its next turns."""


class StrikeRefused(NavstreamError):
    """A strike operation that must not happen; nothing was written."""


def gate_limits(cfg: LedgerSettings) -> GateLimits:
    return GateLimits(cfg.strike_max_move, cfg.strike_max_fallback_share, cfg.strike_max_price_age_s)


def propose_strike(conn: Connection, cfg: LedgerSettings, label: str, snapshot: Mapping[str, Any],
                   now: float | None = None) -> dict[str, Any]:
    """Strike `label` from `snapshot`: locked if no gate holds it, else held with the gates named.
    A strike not yet locked is proposed again (new inputs); a locked one is refused."""
    now = time.time() if now is None else now
    val = valuation_of(snapshot)
    if val is None:
        raise StrikeRefused(f"strike {label}: the snapshot (seq {snapshot.get('seq')}, source "
                            f"{snapshot.get('source')!r}) is not a usable valuation; waiting for one")
    if not store.lock_fund(conn, cfg.fund_id):
        raise StrikeRefused(f"strike {label}: fund {cfg.fund_id!r} has no inception yet")
    if due_ts(label, cfg.strike_time) > now:
        raise StrikeRefused(f"strike {label} is not due yet (due {iso_utc(due_ts(label, cfg.strike_time))})")
    existing = store.get_strike(conn, cfg.fund_id, label)
    if existing is not None and existing["state"] == LOCKED:
        raise StrikeRefused(f"strike {label} is locked (hash {existing['hash'][:12]}…): a locked strike never changes")
    newest = store.last_strike(conn, cfg.fund_id)
    if newest is not None and newest["strike_date"] > label:
        raise StrikeRefused(f"strike {label}: strike {newest['strike_date']} exists already; strikes are made "
                            "in date order, each chained to the one before")
    fund = store.get_fund(conn, cfg.fund_id)
    if fund is not None and due_ts(label, cfg.strike_time) < fund["inception_ts"]:
        raise StrikeRefused(f"strike {label} fell due before the fund's inception "
                            f"({iso_utc(fund['inception_ts'])}): there is nothing to strike")
    row = _strike_row(conn, cfg, label, snapshot, val=val, now=now)
    if existing is not None:
        conn.execute(sa.update(strikes).where(strikes.c.id == existing["id"]).values(**row))
    else:
        conn.execute(sa.insert(strikes).values(**row))
    _history_row(conn, cfg, label, val, row["units"])
    return row


def propose_due_strikes(conn: Connection, cfg: LedgerSettings, snapshots: Sequence[Mapping[str, Any]],
                        now: float, limit: int = BACKFILL_PER_CALL) -> list[dict[str, Any]]:
    """Propose every strike due and not made yet, oldest first (at most `limit`), each valued from
    the first of `snapshots` (usable ones, in time order) taken at or after its due time: a strike
    waits for a valuation of its own time, so a backlog replayed from hedge:nav strikes each day
    from that day's snapshot, and a day the whole system missed is valued from the first snapshot
    after it (late, and held by the missed gate when that came after the next one fell due).
    [] when none is due or the fund has no inception."""
    fund = store.get_fund(conn, cfg.fund_id) if snapshots and store.lock_fund(conn, cfg.fund_id) else None
    if fund is None:
        return []
    newest = store.last_strike(conn, cfg.fund_id)
    after = due_ts(newest["strike_date"], cfg.strike_time) if newest else None
    horizon = min(now, float(snapshots[-1]["ts"]))
    labels = labels_due(after, fund["inception_ts"], horizon, cfg.strike_time, every_s=cfg.strike_every_s,
                        limit=limit)
    return [propose_strike(conn, cfg, label, _first_at_or_after(snapshots, due_ts(label, cfg.strike_time)), now)
            for label in labels]


def _first_at_or_after(snapshots: Sequence[Mapping[str, Any]], ts: float) -> Mapping[str, Any]:
    return next((doc for doc in snapshots if doc["ts"] >= ts), snapshots[-1])


def _strike_row(conn: Connection, cfg: LedgerSettings, label: str, snapshot: Mapping[str, Any], *,
                val: Valuation, now: float) -> dict[str, Any]:
    units = store.units_outstanding(conn, cfg.fund_id, at=val.ts)
    price = unit_price(val.aum_total, units)
    prev = store.previous_strike(conn, cfg.fund_id, label)
    start = prev["ts"] if prev else None
    inputs = strike_inputs(snapshot, store.income_between(conn, cfg.fund_id, start, val.ts),
                           store.flows_between(conn, cfg.fund_id, start, val.ts), (start, val.ts), units)
    ctx = GateContext(snapshot=snapshot, unit_price=price, prev_label=prev["strike_date"] if prev else None,
                      prev_unit_price=prev["unit_price"] if prev else None,
                      prev_state=prev["state"] if prev else None,
                      unclassified_flows=store.unclassified_flow_ids(conn, cfg.fund_id),
                      due_ts=due_ts(label, cfg.strike_time),
                      next_due_ts=due_ts(next_due_after(due_ts(label, cfg.strike_time), cfg.strike_time,
                                                        cfg.strike_every_s), cfg.strike_time))
    reasons = strike_gates(ctx, gate_limits(cfg))
    row: dict[str, Any] = {
        "fund_id": cfg.fund_id, "strike_date": label, "state": HELD, "ts": val.ts, "nav_total": val.nav_total,
        "aum_total": val.aum_total, "unit_price": price, "units": units, "inputs": canonical_json(inputs),
        "reasons": canonical_json(reasons), "note": "", "approved_by": None,
        "late": now - due_ts(label, cfg.strike_time) > max(LATE_AFTER_S, cfg.strike_every_s),
        "proposed_at": now, "locked_at": None, "prev_hash": None, "hash": None}
    if not reasons:
        row.update(_lock_values(row, prev, now, note="locked automatically: no gate held it", by="ledger"))
    return row


def _lock_values(row: Mapping[str, Any], prev: Mapping[str, Any] | None, now: float, *, note: str,
                 by: str) -> dict[str, Any]:
    locked = {**row, "state": LOCKED, "note": note, "approved_by": by, "locked_at": now,
              "prev_hash": prev["hash"] if prev else None}
    locked["hash"] = strike_hash(locked)
    return {k: locked[k] for k in ("state", "note", "approved_by", "locked_at", "prev_hash", "hash")}


def _history_row(conn: Connection, cfg: LedgerSettings, label: str, val: Valuation, units) -> None:
    bucket = _label_bucket(label, cfg)
    conn.execute(sa.delete(nav_history).where(nav_history.c.fund_id == cfg.fund_id,
                                              nav_history.c.kind == STRIKE, nav_history.c.bucket == bucket))
    row = history_row(cfg, val, units, kind=STRIKE, bucket=bucket, entry_id=None)
    conn.execute(sa.insert(nav_history).values(**row))


def _label_bucket(label: str, cfg: LedgerSettings) -> int:
    if "T" in label:
        return int(due_ts(label, cfg.strike_time))
    return date.fromisoformat(label).toordinal()


def approve_strike(conn: Connection, cfg: LedgerSettings, label: str, note: str, *, by: str,
                   now: float | None = None) -> dict[str, Any]:
    """Lock a held strike with the operator's note; the strike before it must be locked."""
    now = time.time() if now is None else now
    if not note.strip():
        raise StrikeRefused("approving a held strike needs --note saying why it is right")
    if not store.lock_fund(conn, cfg.fund_id):
        raise StrikeRefused(f"fund {cfg.fund_id!r} has no inception yet")
    row = store.get_strike(conn, cfg.fund_id, label)
    if row is None:
        raise StrikeRefused(f"there is no strike {label} (`navstream strike list`)")
    if row["state"] == LOCKED:
        raise StrikeRefused(f"strike {label} is locked already (hash {row['hash'][:12]}…)")
    prev = store.previous_strike(conn, cfg.fund_id, label)
    if prev is not None and prev["state"] != LOCKED:
        raise StrikeRefused(f"strike {prev['strike_date']} before it is {prev['state']}: approve that first")
    values = _lock_values(dict(row), prev, now, note=note.strip(), by=by)
    conn.execute(sa.update(strikes).where(strikes.c.id == row["id"]).values(**values))
    return {**row, **values}


def verify(conn: Connection, cfg: LedgerSettings) -> tuple[int, str | None]:
    """(locked strikes checked, the first problem or None)."""
    return verify_chain(store.list_strikes(conn, cfg.fund_id))


def reasons_of(row: Mapping[str, Any]) -> list[str]:
    try:
        out = json.loads(row["reasons"])
    except ValueError:
        return [f"(unreadable reasons: {row['reasons']!r:.60})"]
    return [str(r) for r in out] if isinstance(out, list) else [str(out)]

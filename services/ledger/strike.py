"""The daily NAV strike, the pure core: when one is due, what goes into it, the gates that
hold it, and the hash chain that makes a locked strike immutable.

`hash = sha256(canonical JSON of the record, prev_hash included)`; canonical JSON is sorted
keys, no whitespace, floats in their shortest round-trip form, `units` as its exact decimal
text, `inputs` as the exact text stored. So any changed byte of a stored strike or of its
inputs changes the hash, and `verify_chain` names the first strike that no longer matches.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from shared.contracts.vocabulary import MARK, NO_PRICE, PAR_SOURCE, STRIKE_STATES

PROPOSED, HELD, LOCKED = STRIKE_STATES
LATE_AFTER_S = 900.0
"""A strike proposed more than this after its due time is marked late (it was missed while down)."""

HASHED_FIELDS = ("fund_id", "strike_date", "state", "ts", "nav_total", "aum_total", "unit_price", "units",
                 "inputs", "reasons", "note", "approved_by", "late", "proposed_at", "locked_at", "prev_hash")


@dataclass(frozen=True, slots=True)
class GateLimits:
    max_move: float = 0.10
    max_fallback_share: float = 0.05
    max_price_age_s: float = 300.0


# --- when -----------------------------------------------------------------------------------

def due_label(now: float, strike_time: dtime, every_s: float = 0.0) -> str:
    """The label of the latest strike due at `now`: the UTC date whose STRIKE_TIME_UTC has passed,
    or (every_s > 0, for soak tests and demos) the start of the current period, to the second."""
    if every_s > 0:
        return _period_label(math.floor(now / every_s) * every_s)
    d = datetime.fromtimestamp(now, UTC)
    if d.time() < strike_time:
        d -= timedelta(days=1)
    return d.date().isoformat()


def _period_label(start: float) -> str:
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def iso_utc(ts: float) -> str:
    """`ts` as 2026-12-02T00:00:00Z."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_due_after(ts: float, strike_time: dtime, every_s: float = 0.0) -> str:
    """The label of the first strike that falls due strictly after `ts`."""
    if every_s > 0:
        return _period_label(math.floor(ts / every_s) * every_s + every_s)
    return (date.fromisoformat(due_label(ts, strike_time)) + timedelta(days=1)).isoformat()


def labels_due(after_ts: float | None, inception_ts: float, now: float, strike_time: dtime, *,
               every_s: float = 0.0, limit: int = 1000) -> list[str]:
    """The strikes due by `now` that are not made yet, oldest first, at most `limit`: those after
    the newest strike (due at `after_ts`), or, for a fund with none, from the first due at or after
    its inception. A day missed while the system was down is in the list: it gets its strike too."""
    if after_ts is not None:
        label = next_due_after(after_ts, strike_time, every_s)
    else:
        label = due_label(inception_ts, strike_time, every_s)
        if due_ts(label, strike_time) < inception_ts:
            label = next_due_after(inception_ts, strike_time, every_s)
    out: list[str] = []
    while len(out) < limit and due_ts(label, strike_time) <= now:
        out.append(label)
        label = next_due_after(due_ts(label, strike_time), strike_time, every_s)
    return out


def due_ts(label: str, strike_time: dtime) -> float:
    """Epoch seconds at which the strike `label` fell due."""
    if "T" in label:
        return datetime.fromisoformat(label).replace(tzinfo=UTC).timestamp()
    day = datetime.fromisoformat(label).date()
    return datetime.combine(day, strike_time, UTC).timestamp()


def parse_label(raw: str) -> str:
    """A strike date typed by the operator (YYYY-MM-DD, or a timestamp label); ValueError otherwise."""
    raw = raw.strip()
    try:
        if "T" in raw:
            return datetime.fromisoformat(raw).strftime("%Y-%m-%dT%H:%M:%S")
        return datetime.fromisoformat(raw).date().isoformat()
    except ValueError:
        raise ValueError(f"{raw!r} is not a strike date (YYYY-MM-DD)") from None


# --- what -----------------------------------------------------------------------------------

def strike_inputs(snapshot: Mapping[str, Any], income: Sequence[Mapping[str, Any]],
                  flows: Sequence[Mapping[str, Any]], window: tuple[float | None, float],
                  units: Decimal) -> dict[str, Any]:
    """Everything the strike's NAV came from: the whole snapshot (per-account balances, positions,
    every price with tier and age, holdings, status) and the income and flows of the window."""
    return {"snapshot": dict(snapshot), "income": list(income), "flows": list(flows),
            "window": {"from": window[0], "to": window[1]}, "units": str(units)}


# --- gates ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class GateContext:
    snapshot: Mapping[str, Any]
    unit_price: float
    prev_label: str | None = None
    prev_unit_price: float | None = None
    prev_state: str | None = None
    unclassified_flows: tuple[int, ...] = ()
    due_ts: float | None = None        # when this strike fell due
    next_due_ts: float | None = None   # when the strike after it fell (or falls) due


def strike_gates(ctx: GateContext, limits: GateLimits) -> list[str]:
    """Why the strike must be held for approval; [] means it may lock."""
    return [*_chain_gate(ctx), *_missed_gate(ctx), *_move_gate(ctx, limits), *_snapshot_gates(ctx.snapshot),
            *_fallback_gate(ctx.snapshot, limits), *_age_gates(ctx.snapshot, limits), *_flow_gate(ctx)]


def _chain_gate(ctx: GateContext) -> list[str]:
    if ctx.prev_state is not None and ctx.prev_state != LOCKED:
        return [f"previous strike {ctx.prev_label} is {ctx.prev_state}: approve it first"]
    return []


def _missed_gate(ctx: GateContext) -> list[str]:
    """A valuation taken after the next strike fell due cannot stand for this one unseen: the
    system was down over its due time (a day missed entirely)."""
    ts = ctx.snapshot.get("ts")
    if ctx.next_due_ts is None or ctx.due_ts is None or not isinstance(ts, (int, float)) or ts < ctx.next_due_ts:
        return []
    return [f"missed: the system was down when it fell due ({iso_utc(ctx.due_ts)}); valued at {iso_utc(ts)}, "
            f"after the next strike fell due ({iso_utc(ctx.next_due_ts)}): approve it with a note saying why "
            "this NAV stands for that day"]


def _move_gate(ctx: GateContext, limits: GateLimits) -> list[str]:
    if not ctx.prev_unit_price:
        return []
    move = ctx.unit_price / ctx.prev_unit_price - 1.0
    if abs(move) > limits.max_move:
        return [f"unit price moved {move:+.2%} since the {ctx.prev_label} strike "
                f"(STRIKE_MAX_MOVE {limits.max_move:.2%})"]
    return []


def _snapshot_gates(snap: Mapping[str, Any]) -> list[str]:
    out = []
    status = snap.get("status") or {}
    reasons = [str(r) for r in status.get("reasons") or ()]
    if snap.get("source") == "partial":
        out.append("partial snapshot: " + ("; ".join(reasons) or "an account could not be read"))
    elif status.get("degraded"):
        out.append("degraded snapshot: " + ("; ".join(reasons) or "no reason given"))
    if snap.get("source") not in ("live", "partial"):
        out.append(f"snapshot source is {snap.get('source')!r}, not live account data")
    out.extend(f"reconciliation break: {r}" for r in reasons if "reconcil" in r.lower())
    return out


def fallback_value(snap: Mapping[str, Any]) -> float:
    """USD of AUM priced by a tier below the primary one (holdings and margin assets)."""
    total = 0.0
    for h in ((snap.get("aum") or {}).get("offexchange") or {}).values():
        if h.get("source") not in (MARK, NO_PRICE) and h.get("usd_value") is not None:
            total += abs(float(h["usd_value"]))
    for acct in (snap.get("accounts") or {}).values():
        for asset in (acct.get("assets") or {}).values():
            if asset.get("price_src") not in (MARK, PAR_SOURCE) and asset.get("usd_value") is not None:
                total += abs(float(asset["usd_value"]))
    return total


def _fallback_gate(snap: Mapping[str, Any], limits: GateLimits) -> list[str]:
    aum = (snap.get("aum") or {}).get("total")
    if not aum:
        return ["aum.total is unknown"]
    share = fallback_value(snap) / abs(aum)
    if share > limits.max_fallback_share:
        return [f"{share:.2%} of AUM is priced by a fallback tier (STRIKE_MAX_FALLBACK_SHARE "
                f"{limits.max_fallback_share:.2%})"]
    return []


def _age_gates(snap: Mapping[str, Any], limits: GateLimits) -> list[str]:
    out = []
    for asset, h in sorted(((snap.get("aum") or {}).get("offexchange") or {}).items()):
        age = h.get("price_age_s")
        if h.get("source") == NO_PRICE:
            out.append(f"{asset} has no price")
        elif age is not None and age > limits.max_price_age_s:
            out.append(f"{asset} price is {age:.0f} s old (STRIKE_MAX_PRICE_AGE_S {limits.max_price_age_s:.0f})")
    nav_age = snap.get("nav_age_s")
    if nav_age is not None and nav_age > limits.max_price_age_s:
        out.append(f"account data is {nav_age:.0f} s old (STRIKE_MAX_PRICE_AGE_S {limits.max_price_age_s:.0f})")
    return out


def _flow_gate(ctx: GateContext) -> list[str]:
    if not ctx.unclassified_flows:
        return []
    ids = ", ".join(str(i) for i in ctx.unclassified_flows)
    return [f"{len(ctx.unclassified_flows)} unclassified flow(s) (ids {ids}): `navstream flow classify ID "
            "internal|external`"]


# --- the chain ------------------------------------------------------------------------------

def canonical_json(doc: Any) -> str:
    """Sorted keys, no whitespace, no NaN: the same document always gives the same text."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def hashed_record(row: Mapping[str, Any]) -> dict[str, Any]:
    rec = {name: row.get(name) for name in HASHED_FIELDS}
    rec["units"] = None if rec["units"] is None else str(rec["units"])
    rec["late"] = bool(rec["late"])
    return rec


def strike_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(hashed_record(row)).encode()).hexdigest()


def recompute_problem(row: Mapping[str, Any]) -> str | None:
    """Recompute the NAV from the stored inputs; a message if it does not match the stored figures."""
    try:
        inputs = json.loads(row["inputs"])
        snap = inputs["snapshot"]
        holdings = snap["aum"]["offexchange"].values()
        nav = snap["nav_total"]
        aum = nav + sum(h["usd_value"] for h in holdings if h.get("usd_value") is not None)
        units = Decimal(inputs["units"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"its inputs cannot be read ({type(exc).__name__}: {exc})"
    if units != row["units"]:
        return f"units {row['units']} differ from its inputs ({units})"
    if row["nav_total"] != nav:
        return f"nav_total {row['nav_total']!r} differs from its inputs ({nav!r})"
    if not math.isclose(aum, row["aum_total"], rel_tol=1e-9, abs_tol=1e-6):
        return f"aum_total {row['aum_total']!r} differs from the one recomputed from its inputs ({aum!r})"
    price = float(Decimal(repr(row["aum_total"])) / units)
    if not math.isclose(price, row["unit_price"], rel_tol=1e-12):
        return f"unit_price {row['unit_price']!r} differs from aum_total / units ({price!r})"
    return None


def verify_chain(rows: Iterable[Mapping[str, Any]]) -> tuple[int, str | None]:
    """Check every hashed strike in date order: (strikes checked, the first problem or None)."""
    prev_hash: str | None = None
    checked = 0
    for row in rows:
        if row["hash"] is None and row["state"] != LOCKED:
            continue
        label = row["strike_date"]
        if row["state"] != LOCKED:
            return checked, f"strike {label}: state is {row['state']!r} but it carries a hash (was locked)"
        if row["prev_hash"] != prev_hash:
            return checked, f"strike {label}: prev_hash does not match the hash of the strike before it"
        if row["hash"] != strike_hash(row):
            return checked, f"strike {label}: stored hash does not match its contents (edited after it was locked)"
        problem = recompute_problem(row)
        if problem:
            return checked, f"strike {label}: {problem}"
        prev_hash = row["hash"]
        checked += 1
    return checked, None

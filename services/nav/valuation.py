"""The pure valuation core: account data, prices, holdings and a clock reading in, one nav.v7 document out.

`build_nav_snapshot` is the only place a NAV snapshot is made, so every path (live,
cache, manual, startup) carries the `aum` block. No I/O, no clock, no logging: the
loop passes `now` and publishes what comes back.

Two numbers, never mixed: `nav_total` is the futures account alone (wallet balance
plus the positions' unrealised PnL at the latest marks); `aum.total` adds the
off-exchange holdings on top and is never read back into `nav_total`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from shared.contracts.nav import NAV_SCHEMA
from shared.contracts.prices import PriceObservation
from shared.holdings import Holding

from services.nav.model import AccountPosition, AccountSnapshot, AccountState, Limits, ManualNav

ASSET_TIERS = ("mark", "spot_cache", "coingecko", "avg_cost")
PLAIN_TIERS = ASSET_TIERS[:3]   # a fresh price from these needs no reason (avg_cost always gets one)


def finite_or_none(value: float | None) -> float | None:
    """`value` if it is a finite number, else None: the only way numbers leave this module."""
    if type(value) is float:   # the common case, on every price of every snapshot
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _usable_price(obs: PriceObservation | None) -> bool:
    return (obs is not None and finite_or_none(obs.px) is not None and obs.px > 0
            and finite_or_none(obs.ts) is not None)


# --- futures side ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Basis:
    """Where nav_total comes from this round."""

    source: str                      # live | cache | manual | startup
    account: AccountSnapshot | None  # whose positions we show
    manual: ManualNav | None
    age_s: float | None              # nav_age_s
    reasons: tuple[str, ...]


def choose_basis(state: AccountState, manual: ManualNav | None, now: float, limits: Limits) -> _Basis:
    """Decide the path: manual beats account data; account data is live while fresh, else cache."""
    account = state.last_good
    if manual is not None:
        where = "hedge:nav:manual" if manual.origin == "redis" else "the MANUAL_NAV setting"
        note = f" ({manual.note})" if manual.note else ""
        reasons = [f"NAV is operator-set from {where}{note}, not measured from the exchange"]
        return _Basis("manual", account, manual, max(0.0, now - manual.ts), tuple(reasons))
    if account is None:
        reasons = ["no account data yet; NAV unknown"]
        if state.error:
            reasons.append(f"account: {state.error}")
        return _Basis("startup", None, None, None, tuple(reasons))
    age = max(0.0, now - account.ts)
    if state.error:
        return _Basis("cache", account, None, age, (
            f"account: {state.error}; serving the last good account data ({age:.1f} s old)",))
    if age > limits.account_stale_after_s:
        return _Basis("cache", account, None, age, (
            f"account data is {age:.1f} s old (no poll answered within "
            f"{limits.account_stale_after_s:g} s); serving it as cache",))
    return _Basis("live", account, None, age, ())


def value_position(pos: AccountPosition, prices: Mapping[str, PriceObservation], account_ts: float,
                   now: float, limits: Limits) -> tuple[dict, list[str]]:
    """A position at the newer of the exchange's poll-time mark and the pricer's latest mark."""
    reasons: list[str] = []
    obs = prices.get(pos.symbol)
    mark, mark_ts = finite_or_none(pos.mark_price), account_ts
    if mark is not None and mark <= 0:
        mark = None
    if _usable_price(obs) and (mark is None or obs.ts >= account_ts):
        mark, mark_ts = obs.px, obs.ts
    sign = 1.0 if pos.side == "LONG" else -1.0
    if mark is not None:
        upnl = finite_or_none((mark - pos.entry_price) * pos.qty * sign)
        notional = finite_or_none(abs(pos.qty) * mark)
        if upnl is None or notional is None:
            reasons.append(f"position {pos.symbol}: qty {pos.qty:g} at mark {mark:g} gives a "
                           "non-finite value; its uPnL is unknown")
        stale_after = limits.stale_after("mark")
        age = now - mark_ts
        if stale_after is not None and age > stale_after:
            reasons.append(f"position {pos.symbol}: mark price is {age:.1f} s old "
                           f"(older than {stale_after:g} s)")
    else:
        upnl, notional = finite_or_none(pos.upnl), None
        reasons.append(f"position {pos.symbol}: no mark price"
                       + ("; using the exchange's uPnL from the last poll" if upnl is not None
                          else "; its uPnL is unknown"))
    return ({"symbol": pos.symbol, "side": pos.side, "qty": pos.qty, "entry_price": pos.entry_price,
             "mark_price": mark, "upnl": upnl, "notional": notional}, reasons)


def futures_nav(account: AccountSnapshot, positions: Sequence[dict]) -> tuple[float | None, list[str]]:
    """Wallet balance + Σ uPnL; if a uPnL is unknown, the exchange's margin balance at the poll."""
    upnls = [p["upnl"] for p in positions]
    if all(u is not None for u in upnls):
        nav = finite_or_none(account.wallet_balance + sum(upnls))
        if nav is not None:
            return nav, []
        reason = "wallet balance + uPnL is not a finite number"
    else:
        reason = "a position's uPnL is unknown"
    fallback = finite_or_none(account.margin_balance)
    if fallback is not None:
        return fallback, [f"{reason}; NAV is the exchange's margin balance from the last poll"]
    return None, [f"{reason} and the exchange gave no margin balance; NAV unknown"]


# --- off-exchange side -------------------------------------------------------------


def _unpriced(holding: Holding) -> dict:
    return {"qty": holding.qty, "avg_cost": holding.avg_cost, "mark": None, "usd_value": None,
            "source": "none", "price_age_s": None}


def value_holding(holding: Holding, obs: PriceObservation | None, now: float,
                  limits: Limits) -> tuple[dict, list[str]]:
    """One off-exchange holding at its resolved price; unknown is null plus a reason, never 0."""
    sym = holding.symbol
    if obs is None:
        return _unpriced(holding), [f"{sym}: no price from any source; usd_value unknown "
                                    "(counted as 0 in aum.total)"]
    if obs.src not in ASSET_TIERS:
        return _unpriced(holding), [f"{sym}: price source {obs.src!r} is not an asset pricing tier; "
                                    "usd_value unknown (counted as 0 in aum.total)"]
    if not _usable_price(obs):
        return _unpriced(holding), [f"{sym}: price {obs.px!r} at ts {obs.ts!r} is not usable; "
                                    "usd_value unknown (counted as 0 in aum.total)"]
    reasons: list[str] = []
    age = max(0.0, now - obs.ts)
    usd_value = finite_or_none(holding.qty * obs.px)
    if usd_value is None:
        reasons.append(f"{sym}: qty {holding.qty:g} × price {obs.px:g} is not a finite number; "
                       "usd_value unknown (counted as 0 in aum.total)")
    stale_after = limits.stale_after(obs.src)
    if stale_after is not None and age > stale_after:
        reasons.append(f"{sym}: price from {obs.src} is {age:.1f} s old (older than {stale_after:g} s); "
                       "still used")
    if obs.src == "avg_cost":
        reasons.append(f"{sym}: no market price; valued at avg_cost {obs.px:g} from the holdings file")
    return ({"qty": holding.qty, "avg_cost": holding.avg_cost, "mark": obs.px, "usd_value": usd_value,
             "source": obs.src, "price_age_s": age}, reasons)


def value_offexchange(holdings: Mapping[str, Holding], prices: Mapping[str, PriceObservation],
                      now: float, limits: Limits) -> tuple[dict[str, dict], list[str]]:
    """Every holding at its resolved price, in symbol order, and the reasons to report.

    This runs for each of up to thousands of holdings on every snapshot, so the plain case
    (float qty ≥ 0, a market-tier price > 0 within its staleness limit, a finite value:
    nothing to report) is valued inline with one check per condition. Anything else goes
    through `value_holding`, which says what is wrong; both give the same entry.
    """
    fresh_for = {src: limit for src in PLAIN_TIERS if (limit := limits.stale_after(src)) is not None}
    out: dict[str, dict] = {}
    reasons: list[str] = []
    for sym in sorted(holdings):
        holding = holdings[sym]
        obs = prices.get(sym)
        if obs is not None and obs.src in fresh_for \
                and type(holding.qty) is float and type(obs.px) is float and type(obs.ts) is float:
            qty, px, age = holding.qty, obs.px, now - obs.ts
            usd_value = qty * px
            # NaN fails every comparison; with px > 0, a finite product means qty and px are finite too.
            if qty >= 0.0 and px > 0.0 and 0.0 <= age <= fresh_for[obs.src] and math.isfinite(usd_value):
                out[sym] = {"qty": qty, "avg_cost": holding.avg_cost, "mark": px, "usd_value": usd_value,
                            "source": obs.src, "price_age_s": age}
                continue
        if finite_or_none(holding.qty) is None or holding.qty < 0:
            reasons.append(f"{sym}: qty {holding.qty!r} is not a non-negative number; holding left out")
            continue
        out[sym], why = value_holding(holding, obs, now, limits)
        reasons.extend(why)
    return out, reasons


def offexchange_total_usd(offexchange: Mapping[str, Mapping]) -> float:
    """Σ of the known usd_values (unknown ones count 0), in key order."""
    return sum(v["usd_value"] for v in offexchange.values() if v.get("usd_value") is not None)


def aum_block(nav_total: float | None, offexchange: dict[str, dict]) -> tuple[dict, list[str]]:
    """`{futures, offexchange, total}`: futures is nav_total, total adds the known holding values."""
    if nav_total is None:
        return {"futures": None, "offexchange": offexchange, "total": None}, []
    total = finite_or_none(nav_total + offexchange_total_usd(offexchange))
    reasons = [] if total is not None else ["aum.total is not a finite number; left unknown"]
    return {"futures": nav_total, "offexchange": offexchange, "total": total}, reasons


def fx_rates(pairs: Iterable[str], prices: Mapping[str, PriceObservation]) -> tuple[dict[str, float], list[str]]:
    out: dict[str, float] = {}
    reasons: list[str] = []
    for pair in pairs:
        obs = prices.get(pair)
        if _usable_price(obs):
            out[pair] = obs.px
        else:
            reasons.append(f"fx {pair}: no rate yet")
    return out, reasons


# --- the snapshot -------------------------------------------------------------------


def build_nav_snapshot(*, account: AccountState, prices: Mapping[str, PriceObservation],
                       holdings: Mapping[str, Holding], now: float, seq: int, limits: Limits,
                       manual: ManualNav | None = None, fx_pairs: Sequence[str] = (),
                       holdings_error: str | None = None, notes: Sequence[str] = ()) -> dict:
    """The nav.v7 document for this instant.

    `account` is the poller's state (last good data + last error), `prices` the latest
    observation per `sym` (assets, futures markets, FX pairs), `holdings` the last good
    holdings file, `manual` an operator-set NAV if one is active. `holdings_error` and
    `notes` are adapter problems to report in `status.reasons`.
    """
    basis = choose_basis(account, manual, now, limits)
    reasons: list[str] = list(basis.reasons)

    positions: list[dict] = []
    if basis.account is not None:
        for pos in sorted(basis.account.positions, key=lambda p: (p.symbol, p.side)):
            valued, why = value_position(pos, prices, basis.account.ts, now, limits)
            positions.append(valued)
            reasons.extend(why)

    if basis.source == "manual":
        nav_total = finite_or_none(basis.manual.nav_total)
    elif basis.account is not None:
        nav_total, why = futures_nav(basis.account, positions)
        reasons.extend(why)
    else:
        nav_total = None
    nav_age_s = finite_or_none(basis.age_s) if nav_total is not None else None

    offexchange, why = value_offexchange(holdings, prices, now, limits)
    reasons.extend(why)
    aum, why = aum_block(nav_total, offexchange)
    reasons.extend(why)
    fx, why = fx_rates(fx_pairs, prices)
    reasons.extend(why)
    if holdings_error:
        reasons.append(holdings_error)
    reasons.extend(notes)

    return {
        "schema": NAV_SCHEMA,
        "seq": seq,
        "ts": now,
        "nav_total": nav_total,
        "nav_age_s": nav_age_s,
        "source": basis.source,
        "positions": positions,
        "aum": aum,
        "fx": fx,
        "status": {"degraded": bool(reasons), "reasons": reasons},
    }


def aum_log_line(snapshot: Mapping) -> str:
    """The per-round INFO line: `[aum-v7] computed offexchange AUM: keys=[...] totals_usd=1234.56`."""
    offexchange = snapshot["aum"]["offexchange"]
    return (f"[aum-v7] computed offexchange AUM: keys={sorted(offexchange)!r} "
            f"totals_usd={offexchange_total_usd(offexchange):.2f}")

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
from functools import partial
from operator import is_not, itemgetter

from shared.contracts.nav import NAV_SCHEMA
from shared.contracts.prices import PriceObservation
from shared.contracts.vocabulary import LIVE_TIERS, OPERATOR_TIERS, TIERS
from shared.holdings import Holding

from services.nav.account_value import AccountValue, value_account
from services.nav.model import DEFAULT_ACCOUNT, AccountState, Limits, ManualNav
from services.nav.numbers import finite_or_none, usable_price

PLAIN_TIERS = LIVE_TIERS   # a fresh price from these needs no reason (avg_cost always gets one)
__all__ = ["aum_log_line", "build_nav_snapshot", "finite_or_none", "offexchange_total_usd"]


# --- futures side ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FuturesSide:
    """Where nav_total comes from this round, across every account."""

    source: str                      # live | cache | manual | startup | partial
    nav_total: float | None
    age_s: float | None              # nav_age_s
    positions: list[dict]
    accounts: dict[str, dict]
    reasons: list[str]
    breaks: int = 0                  # assets with a reconciliation break, over all accounts


def _combined_source(values: Sequence[AccountValue]) -> str:
    """live when every account is live; cache when one serves its last good data; partial when one
    is missing or unknown while another is known; startup when none is known yet."""
    known = [v for v in values if v.nav_usd is not None]
    if not known:
        return "partial" if any(v.source != "startup" for v in values) else "startup"
    if len(known) < len(values):
        return "partial"
    return "cache" if any(v.source == "cache" for v in values) else "live"


def _partial_reasons(values: Sequence[AccountValue], source: str) -> list[str]:
    if source != "partial":
        return []
    missing = [v.name for v in values if v.nav_usd is None]
    return [f"partial: nav_total leaves out account(s) {', '.join(missing)} (value unknown); "
            "it is the sum of the other accounts only"]


_POSITION_ORDER = itemgetter("symbol", "side", "account")


def futures_side(accounts: Mapping[str, AccountState], prices: Mapping[str, PriceObservation], now: float,
                 limits: Limits, manual: ManualNav | None) -> FuturesSide:
    """Value every account; nav_total is their sum, or the operator's manual NAV."""
    single = list(accounts) == [DEFAULT_ACCOUNT]
    values = [value_account(name, accounts[name], prices, now, limits, single=single) for name in sorted(accounts)]
    positions = sorted((p for v in values for p in v.positions), key=_POSITION_ORDER)
    reasons = [r for v in values for r in v.reasons]
    block = {v.name: v.entry for v in values}
    breaks = sum(len(v.breaks) for v in values)
    if manual is not None:
        where = "hedge:nav:manual" if manual.origin == "redis" else "the MANUAL_NAV setting"
        note = f" ({manual.note})" if manual.note else ""
        reasons.insert(0, f"NAV is operator-set from {where}{note}, not measured from the exchange")
        return FuturesSide("manual", finite_or_none(manual.nav_total), max(0.0, now - manual.ts), positions, block,
                           reasons, breaks)
    source = _combined_source(values)
    known = [v for v in values if v.nav_usd is not None]
    nav_total = finite_or_none(sum(v.nav_usd for v in known)) if known else None   # type: ignore[misc]
    ages = [v.age_s for v in known if v.age_s is not None]
    reasons.extend(_partial_reasons(values, source))
    return FuturesSide(source, nav_total, max(ages) if ages else None, positions, block, reasons, breaks)


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
    if obs.src not in TIERS:
        return _unpriced(holding), [f"{sym}: price source {obs.src!r} is not an asset pricing tier; "
                                    "usd_value unknown (counted as 0 in aum.total)"]
    if not usable_price(obs):
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
    if obs.src in OPERATOR_TIERS:
        reasons.append(f"{sym}: no market price; valued at {obs.src} {obs.px:g} from the holdings file")
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


_USD_VALUE = itemgetter("usd_value")   # every entry has it (null when unknown): nav.v7
_is_known = partial(is_not, None)


def priced_flags(offexchange: Mapping[str, Mapping]) -> tuple[bool, ...]:
    """For each off-exchange entry, in key order: has it a usd_value? (C-level maps: every snapshot.)"""
    return tuple(map(_is_known, map(_USD_VALUE, offexchange.values())))


def offexchange_total_usd(offexchange: Mapping[str, Mapping]) -> float:
    """Σ of the known usd_values (unknown ones count 0), in key order.

    The same additions, in the same order, as a generator over the entries would make, but in C:
    it runs on every snapshot. Every entry carries `usd_value` (null when unknown), as nav.v7 says.
    """
    return sum(filter(_is_known, map(_USD_VALUE, offexchange.values())))


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
        if usable_price(obs):
            out[pair] = obs.px
        else:
            reasons.append(f"fx {pair}: no rate yet")
    return out, reasons


# --- the snapshot -------------------------------------------------------------------


def build_nav_snapshot(*, account: AccountState | None = None, prices: Mapping[str, PriceObservation],
                       holdings: Mapping[str, Holding], now: float, seq: int, limits: Limits,
                       manual: ManualNav | None = None, fx_pairs: Sequence[str] = (),
                       holdings_error: str | None = None, notes: Sequence[str] = (),
                       accounts: Mapping[str, AccountState] | None = None) -> dict:
    """The nav.v7 document for this instant.

    `accounts` is each account's poller state (last good data + last error; `account` is the
    one-account shorthand for `{"main": account}`), `prices` the latest observation per `sym`
    (assets, futures markets, FX pairs), `holdings` the last good holdings file, `manual` an
    operator-set NAV if one is active. `holdings_error` and `notes` are adapter problems to
    report in `status.reasons`.
    """
    if accounts is None:
        accounts = {DEFAULT_ACCOUNT: account if account is not None else AccountState()}
    futures = futures_side(accounts, prices, now, limits, manual)
    reasons: list[str] = list(futures.reasons)
    nav_total = futures.nav_total
    nav_age_s = finite_or_none(futures.age_s) if nav_total is not None else None

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
        "source": futures.source,
        "positions": futures.positions,
        "aum": aum,
        "fx": fx,
        "status": {"degraded": bool(reasons), "reasons": reasons},
        "accounts": futures.accounts,
    }


def aum_log_line(snapshot: Mapping) -> str:
    """The per-round INFO line: `[aum-v7] computed offexchange AUM: keys=[...] totals_usd=1234.56`."""
    offexchange = snapshot["aum"]["offexchange"]
    return (f"[aum-v7] computed offexchange AUM: keys={sorted(offexchange)!r} "
            f"totals_usd={offexchange_total_usd(offexchange):.2f}")

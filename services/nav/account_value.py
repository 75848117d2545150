"""Pure valuation of the futures accounts, by Binance's definitions (README "Exchange accounts").

An account's NAV is Σ over its `assets[]` of (walletBalance + unrealizedProfit) × the asset's
USD price: USDT at par (`price_src: par`), every other margin asset at the pricer's price. Between
polls each asset's uPnL follows the latest marks: the exchange's figure plus how much its positions
moved since the poll. No I/O, no clock: `now` is passed in.

An asset that holds value but has no price leaves the account's `nav_usd` unknown (null and a
reason, never 0); an account that never answered is `startup` with a null `nav_usd`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from shared.contracts.prices import PriceObservation
from shared.contracts.vocabulary import MARK, PAR_SOURCE, TIERS, USD_PAR_ASSET

from services.nav.model import AccountPosition, AccountSnapshot, AccountState, AssetBalance, Limits
from services.nav.numbers import finite_or_none, usable_price

MULTI_ASSETS_REL_TOLERANCE = 0.02
"""Multi-assets totals are USD at Binance's index rates with haircuts on collateral (BNB, BTC...):
our market-value NAV may differ from them by this share before it is a reason."""


@dataclass(frozen=True, slots=True)
class AccountValue:
    """One account valued for one snapshot: its `accounts` entry, its positions and its reasons."""

    name: str
    source: str                       # live | cache | startup
    age_s: float | None
    nav_usd: float | None
    entry: dict
    positions: list[dict] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    breaks: list[str] = field(default_factory=list)   # assets with a reconciliation break


@dataclass(frozen=True, slots=True)
class UsdPrice:
    px: float | None
    src: str | None
    reasons: tuple[str, ...] = ()


AT_PAR = UsdPrice(1.0, PAR_SOURCE)


def asset_usd_price(asset: str, prices: Mapping[str, PriceObservation], now: float, limits: Limits) -> UsdPrice:
    """The USD price of a margin asset: USDT at par, others from the pricer (stale is used, with a reason)."""
    if asset == USD_PAR_ASSET:
        return AT_PAR
    obs = prices.get(asset)
    if obs is None or obs.src not in TIERS or not usable_price(obs):
        return UsdPrice(None, None)
    stale_after = limits.stale_after(obs.src)
    age = now - obs.ts
    if stale_after is not None and age > stale_after:
        return UsdPrice(obs.px, obs.src, (f"{asset}: USD price from {obs.src} is {age:.1f} s old "
                                          f"(older than {stale_after:g} s); still used",))
    return UsdPrice(obs.px, obs.src)


# --- which data, how old ------------------------------------------------------------------


def label_for(name: str, single: bool) -> str:
    """How reasons name an account: plain "account" when the fund has just the default one."""
    return "account" if single else f"account {name}"


def account_basis(state: AccountState, label: str, now: float,
                  limits: Limits) -> tuple[str, float | None, list[str]]:
    """(source, age, reasons) of one account: live while fresh, cache after an error or when old."""
    account = state.last_good
    if account is None:
        first = ("no account data yet; NAV unknown" if label == "account"
                 else f"{label}: no data yet; its value is unknown")
        return "startup", None, [first] + ([f"{label}: {state.error}"] if state.error else [])
    age = max(0.0, now - account.ts)
    if state.error:
        return "cache", age, [f"{label}: {state.error}; serving the last good account data ({age:.1f} s old)"]
    if age > limits.account_stale_after_s:
        return "cache", age, [f"{label}: data is {age:.1f} s old (no poll answered within "
                              f"{limits.account_stale_after_s:g} s); serving it as cache"]
    return "live", age, []


# --- positions ---------------------------------------------------------------------------------


def value_position(pos: AccountPosition, obs: PriceObservation | None, account_ts: float, now: float, *,
                   mark_stale_after: float | None, account: str) -> tuple[dict, list[str]]:
    """A position at the newer of the exchange's poll-time mark and the pricer's latest mark (`obs`).

    `upnl` and `notional` are in the contract's quote units here (the margin asset's); the
    caller turns them into USD. `mark_stale_after` is the limit for a mark's age (None: any age).
    """
    reasons: list[str] = []
    mark, mark_ts = finite_or_none(pos.mark_price), account_ts
    if mark is not None and mark <= 0:
        mark = None
    if obs is not None and usable_price(obs) and (mark is None or obs.ts >= account_ts):
        mark, mark_ts = obs.px, obs.ts
    if mark is not None:
        move = mark - pos.entry_price if pos.side == "LONG" else pos.entry_price - mark
        upnl = finite_or_none(move * pos.qty)
        notional = finite_or_none(abs(pos.qty) * mark)
        if upnl is None or notional is None:
            reasons.append(f"position {pos.symbol}: qty {pos.qty:g} at mark {mark:g} gives a "
                           "non-finite value; its uPnL is unknown")
        age = now - mark_ts
        if mark_stale_after is not None and age > mark_stale_after:
            reasons.append(f"position {pos.symbol}: mark price is {age:.1f} s old "
                           f"(older than {mark_stale_after:g} s)")
    else:
        upnl, notional = finite_or_none(pos.upnl), None
        reasons.append(f"position {pos.symbol}: no mark price"
                       + ("; using the exchange's uPnL from the last poll" if upnl is not None
                          else "; its uPnL is unknown"))
    return ({"symbol": pos.symbol, "side": pos.side, "qty": pos.qty, "entry_price": pos.entry_price,
             "mark_price": mark, "upnl": upnl, "notional": notional, "account": account,
             "margin_asset": pos.margin_asset}, reasons)


def _in_usd(entry: dict, price: UsdPrice, asset: str, label: str) -> list[str]:
    """Turn a position's uPnL and notional from its margin asset into USD (unknown without a price)."""
    if price.px is None:
        entry["upnl"] = entry["notional"] = None
        return [f"{label}: position {entry['symbol']} settles in {asset}, which has no USD price; "
                "its uPnL is unknown in USD (never taken as USD)"]
    if price.px != 1.0:
        entry["upnl"] = finite_or_none(entry["upnl"] * price.px) if entry["upnl"] is not None else None
        entry["notional"] = finite_or_none(entry["notional"] * price.px) if entry["notional"] is not None else None
    return []


_position_order = attrgetter("symbol", "side")


def value_positions(name: str, label: str, snap: AccountSnapshot, prices: Mapping[str, PriceObservation],
                    usd: Mapping[str, UsdPrice], *, now: float, limits: Limits
                    ) -> tuple[list[dict], dict[str, float], list[str]]:
    """(position entries in USD, per margin asset the uPnL moved since the poll, reasons)."""
    entries: list[dict] = []
    moved: dict[str, float] = {}
    reasons: list[str] = []
    mark_stale_after = limits.stale_after(MARK)
    for pos in sorted(snap.positions, key=_position_order):
        entry, why = value_position(pos, prices.get(pos.symbol), snap.ts, now, mark_stale_after=mark_stale_after,
                                     account=name)
        if why:
            reasons.extend(why)
        if entry["upnl"] is not None and pos.upnl is not None:
            moved[pos.margin_asset] = moved.get(pos.margin_asset, 0.0) + (entry["upnl"] - pos.upnl)
        price = usd[pos.margin_asset]
        if price.px != 1.0:
            reasons.extend(_in_usd(entry, price, pos.margin_asset, label))
        entries.append(entry)
    return entries, moved, reasons


# --- assets -------------------------------------------------------------------------------------


def _asset_entry(row: AssetBalance, upnl: float, price: UsdPrice) -> dict:
    held = row.wallet + upnl
    value = None if price.px is None else finite_or_none(held * price.px)
    if held == 0:
        value = 0.0   # nothing held: worth 0 whatever the price (no price needed)
    return {"wallet": row.wallet, "upnl": upnl, "usd_price": price.px, "price_src": price.src, "usd_value": value}


def value_assets(label: str, rows: Sequence[AssetBalance], moved: Mapping[str, float],
                 usd: Mapping[str, UsdPrice]) -> tuple[dict[str, dict], list[str]]:
    """Each asset row at its USD price, with its uPnL moved to the latest marks."""
    out: dict[str, dict] = {}
    reasons: list[str] = []
    for row in sorted(rows, key=lambda a: a.asset):
        upnl = finite_or_none(row.upnl + moved.get(row.asset, 0.0))
        if upnl is None:   # the marks moved it out of range: the exchange's own figure, said so
            upnl = row.upnl
            reasons.append(f"{label}: {row.asset} uPnL at the latest marks is not a finite number; "
                           "using the exchange's uPnL from the last poll")
        entry = _asset_entry(row, upnl, usd[row.asset])
        out[row.asset] = entry
        if entry["usd_value"] is None:
            reasons.append(f"{label}: no USD price for {row.asset} (wallet {row.wallet:g}, uPnL {entry['upnl']:g}); "
                           "the account's value is unknown, not counted as 0")
    for asset in sorted(set(moved) - {r.asset for r in rows}):
        reasons.append(f"{label}: positions settle in {asset} but the account answer has no {asset} row; "
                       "their uPnL is not in its value")
    return out, reasons


def multi_assets_check(label: str, snap: AccountSnapshot, usd: Mapping[str, UsdPrice], limits: Limits) -> list[str]:
    """Multi-assets mode: Σ assets at our prices (at the poll) against the account's USD totalMarginBalance."""
    total = snap.margin_balance
    if snap.mode != "multi_assets" or total is None:
        return []
    values = [(a.wallet + a.upnl) * px for a in snap.assets if (px := usd[a.asset].px) is not None]
    if len(values) != len(snap.assets):
        return []   # an unpriced asset is reported already
    ours = sum(values)
    allowed = max(limits.recon_tolerance_usd, MULTI_ASSETS_REL_TOLERANCE * abs(total))
    if abs(ours - total) <= allowed:
        return []
    return [f"{label}: multi-assets totalMarginBalance {total:.2f} USD differs from Σ assets at our prices "
            f"{ours:.2f} USD by more than {allowed:.2f} (Binance's rates and haircuts, or a missing asset?)"]


def recon_breaks(label: str, residuals: Mapping[str, float], usd: Mapping[str, UsdPrice],
                 limits: Limits) -> tuple[list[str], list[str]]:
    """(reasons, assets) for each asset whose unexplained wallet movement exceeds RECON_TOLERANCE_USD."""
    reasons: list[str] = []
    assets: list[str] = []
    for asset in sorted(residuals):
        amount = residuals[asset]
        px = usd[asset].px if asset in usd else (1.0 if asset == USD_PAR_ASSET else None)
        in_usd = abs(amount) * px if px is not None else None
        if in_usd is not None and in_usd <= limits.recon_tolerance_usd:
            continue
        what = f"{in_usd:.2f} USD" if in_usd is not None else "an amount with no USD price"
        reasons.append(f"{label}: reconciliation break on {asset}: the wallet moved {amount:+.8f} {asset} more than "
                       f"its income records explain ({what} > RECON_TOLERANCE_USD {limits.recon_tolerance_usd:g})")
        assets.append(asset)
    return reasons, assets


# --- one account ---------------------------------------------------------------------------------


def _legacy_assets(snap: AccountSnapshot, positions: Sequence[dict]) -> tuple[dict[str, dict], list[str]]:
    """An answer without `assets[]`: one USDT wallet; wallet + Σ uPnL, else the margin balance."""
    upnls = [p["upnl"] for p in positions]
    if all(u is not None for u in upnls):
        nav = finite_or_none(snap.wallet_balance + sum(upnls))
        reason = "wallet balance + uPnL is not a finite number"
    else:
        nav, reason = None, "a position's uPnL is unknown"
    reasons: list[str] = []
    if nav is None:
        nav = finite_or_none(snap.margin_balance)
        reasons.append(f"{reason}; NAV is the exchange's margin balance from the last poll" if nav is not None
                       else f"{reason} and the exchange gave no margin balance; NAV unknown")
    upnl = finite_or_none(nav - snap.wallet_balance) if nav is not None else None
    entry = {"wallet": snap.wallet_balance, "upnl": upnl if upnl is not None else 0.0, "usd_price": 1.0,
             "price_src": PAR_SOURCE, "usd_value": nav}
    return {USD_PAR_ASSET: entry}, reasons


def value_account(name: str, state: AccountState, prices: Mapping[str, PriceObservation], now: float,
                  limits: Limits, *, single: bool = False) -> AccountValue:
    """One account's `accounts` entry, positions and reasons for this instant."""
    label = label_for(name, single)
    source, age, reasons = account_basis(state, label, now, limits)
    snap = state.last_good
    if snap is None:
        entry: dict[str, Any] = {"mode": None, "source": source, "age_s": None, "nav_usd": None, "assets": {},
                                 "reasons": reasons, "recon_breaks": []}
        return AccountValue(name, source, None, None, entry, [], reasons)
    needed = {a.asset for a in snap.asset_rows()} | {p.margin_asset for p in snap.positions} | set(state.residuals)
    usd = {asset: asset_usd_price(asset, prices, now, limits) for asset in needed}
    for asset in sorted(a for a, price in usd.items() if price.reasons):
        reasons.extend(f"{label}: {r}" for r in usd[asset].reasons)
    positions, moved, why = value_positions(name, label, snap, prices, usd, now=now, limits=limits)
    reasons.extend(why)
    if snap.assets:
        assets, why = value_assets(label, snap.assets, moved, usd)
    else:
        assets, why = _legacy_assets(snap, positions)
    reasons.extend(why)
    reasons.extend(f"{label}: {note}" for note in snap.notes)
    reasons.extend(multi_assets_check(label, snap, usd, limits))
    if state.income_error:
        reasons.append(f"{label}: income history: {state.income_error}")
    breaks, broken = recon_breaks(label, state.residuals, usd, limits)
    reasons.extend(breaks)
    values = [a["usd_value"] for a in assets.values()]
    nav = finite_or_none(sum(values)) if all(v is not None for v in values) else None
    entry = {"mode": snap.mode, "source": source, "age_s": age, "nav_usd": nav, "assets": assets, "reasons": reasons,
             "recon_breaks": broken}
    return AccountValue(name, source, age, nav, entry, positions, reasons, broken)

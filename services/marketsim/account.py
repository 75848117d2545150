"""The simulated futures account, as pure maths: positions valued at marks, fills booked into the wallet.

Binance's definitions (one-way mode, cross margin, USDT-margined):
  unrealised PnL      = positionAmt × (mark − entry)          (positionAmt < 0 for shorts)
  notional            = positionAmt × mark                     (signed)
  margin balance      = wallet balance + Σ unrealised PnL      (`totalMarginBalance`; the fund's NAV)
  initial margin      = |notional| / leverage
  maintenance margin  = |notional| × bracket ratio − bracket cum
  available balance   = margin balance − Σ initial margin      (floored at 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from services.marketsim.specs import BY_MARKET, AccountSpec, Bracket
from shared.contracts.fills import Fill


@dataclass(frozen=True, slots=True)
class Position:
    market: str
    amount: float          # signed
    entry_price: float
    leverage: int


@dataclass(frozen=True, slots=True)
class AccountState:
    wallet: float
    positions: tuple[Position, ...]
    realized_pnl: float = 0.0
    fees: float = 0.0
    fills: int = 0
    update_ms: int = 0

    @classmethod
    def from_spec(cls, spec: AccountSpec, now_ms: int) -> AccountState:
        return cls(wallet=spec.wallet_usdt, update_ms=now_ms, positions=tuple(
            Position(p.market, p.amount, p.entry_price, p.leverage) for p in spec.positions))


@dataclass(frozen=True, slots=True)
class PositionView:
    position: Position
    mark: float
    upnl: float
    notional: float
    initial_margin: float
    maint_margin: float
    liquidation_price: float   # 0 when there is none (Binance reports "0")


@dataclass(frozen=True, slots=True)
class AccountView:
    wallet: float
    upnl: float
    margin_balance: float
    initial_margin: float
    maint_margin: float
    available: float
    positions: tuple[PositionView, ...]
    update_ms: int


def bracket_for(brackets: tuple[Bracket, ...], notional_abs: float) -> Bracket:
    for bracket in brackets:
        if notional_abs < bracket.cap:
            return bracket
    return brackets[-1]


def maintenance_margin(market: str, notional_abs: float) -> float:
    spec = BY_MARKET[market].futures
    assert spec is not None, f"{market} has no futures market"
    bracket = bracket_for(spec.brackets, notional_abs)
    return max(0.0, notional_abs * bracket.maint_ratio - bracket.cum)


def value_account(state: AccountState, marks: Mapping[str, float]) -> AccountView:
    """Value every position at `marks` (market -> mark price) and total the account."""
    rows = []
    for pos in state.positions:
        mark = marks[pos.market]
        notional = pos.amount * mark
        rows.append((pos, mark, pos.amount * (mark - pos.entry_price), notional,
                     abs(notional) / pos.leverage, maintenance_margin(pos.market, abs(notional))))
    upnl = sum(r[2] for r in rows)
    margin_balance = state.wallet + upnl
    initial = sum(r[4] for r in rows)
    maint = sum(r[5] for r in rows)
    views = tuple(
        PositionView(pos, mark, pnl, notional, im, mm,
                     _liquidation_price(pos, mark, margin_balance - maint))
        for pos, mark, pnl, notional, im, mm in rows)
    return AccountView(wallet=state.wallet, upnl=upnl, margin_balance=margin_balance,
                       initial_margin=initial, maint_margin=maint,
                       available=max(0.0, margin_balance - initial), positions=views,
                       update_ms=state.update_ms)


def _liquidation_price(pos: Position, mark: float, cushion: float) -> float:
    """Where this position alone would eat the account's cushion above maintenance margin.

    A cross-margin approximation (other positions held at their marks); 0 means "none".
    """
    if pos.amount == 0:
        return 0.0
    liq = mark - cushion / pos.amount
    return liq if liq > 0 else 0.0


def book_fill(state: AccountState, fill: Fill) -> AccountState:
    """A router fill's realised PnL and fee flow into the wallet; positions are left as they are.

    The simulated router trades around the book (in and out), so the net position is kept and
    only the cash effect is booked: wallet += realised PnL − fee.
    """
    return replace(state, wallet=state.wallet + fill.realized_pnl_usd - fill.fee_usd,
                   realized_pnl=state.realized_pnl + fill.realized_pnl_usd,
                   fees=state.fees + fill.fee_usd, fills=state.fills + 1,
                   update_ms=int(fill.ts * 1000))

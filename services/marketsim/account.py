"""The simulated futures accounts, as pure maths: positions valued at marks, wallets per margin asset.

Binance's definitions (cross margin), per margin asset A (USDT, USDC, BTC, ...):
  unrealised PnL      = positionAmt × (mark − entry), in the contract's margin asset
                        (positionAmt < 0 for shorts; a hedge-mode SHORT leg is negative too)
  notional            = positionAmt × mark                     (signed)
  margin balance(A)   = wallet(A) + Σ uPnL of A-margined positions
  initial margin      = |notional| / leverage
  maintenance margin  = |notional| × bracket ratio − bracket cum
  available(A)        = margin balance(A) − Σ initial margin(A)  (floored at 0)

The account's `total*` fields depend on the margin mode:
  single-asset mode (Binance's default)  USDT only; every other asset is only in `assets[]`
  multi-assets mode                      USD across assets (each asset × its USD index price)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from services.marketsim.specs import CONTRACT_BY_SYMBOL, AccountSpec, Bracket
from shared.contracts.fills import Fill
from shared.contracts.vocabulary import USD_PAR_ASSET


@dataclass(frozen=True, slots=True)
class Position:
    market: str
    amount: float          # signed
    entry_price: float
    leverage: int
    side: str = "BOTH"     # BOTH (one-way) or LONG / SHORT (hedge mode)

    @property
    def margin_asset(self) -> str:
        return CONTRACT_BY_SYMBOL[self.market].margin


@dataclass(frozen=True, slots=True)
class AccountState:
    wallets: Mapping[str, float]
    positions: tuple[Position, ...]
    name: str = "main"
    multi_assets: bool = False
    hedge: bool = False
    realized_pnl: float = 0.0
    fees: float = 0.0
    fills: int = 0
    update_ms: int = 0

    @classmethod
    def from_spec(cls, spec: AccountSpec, now_ms: int) -> AccountState:
        return cls(wallets=dict(spec.wallets), update_ms=now_ms, name=spec.name,
                   multi_assets=spec.multi_assets, hedge=spec.hedge, positions=tuple(
                       Position(p.market, p.amount, p.entry_price, p.leverage, p.side) for p in spec.positions))

    @property
    def wallet(self) -> float:
        """The USDT wallet (what older callers and single-asset totals mean by "the wallet")."""
        return self.wallets.get(USD_PAR_ASSET, 0.0)

    def move(self, asset: str, amount: float, ts_ms: int) -> AccountState:
        """The wallet of `asset` changed by `amount` (an income record or an unrecorded transfer)."""
        wallets = dict(self.wallets)
        wallets[asset] = wallets.get(asset, 0.0) + amount
        return replace(self, wallets=wallets, update_ms=max(self.update_ms, ts_ms))


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
class Totals:
    """Wallet, uPnL and margins: of one margin asset, or the account's `total*` figures by its mode."""

    wallet: float
    upnl: float
    initial_margin: float
    maint_margin: float

    @property
    def margin_balance(self) -> float:
        return self.wallet + self.upnl

    @property
    def available(self) -> float:
        return max(0.0, self.margin_balance - self.initial_margin)


@dataclass(frozen=True, slots=True)
class AssetView(Totals):
    """One row of `assets[]`: a margin asset's wallet and the positions margined in it."""

    asset: str = ""


@dataclass(frozen=True, slots=True)
class AccountView:
    name: str
    multi_assets: bool
    hedge: bool
    assets: tuple[AssetView, ...]
    totals: Totals
    positions: tuple[PositionView, ...]
    update_ms: int
    usd: Mapping[str, float] = field(default_factory=dict)   # USD index price per asset used for the totals

    # The totals under their older names.
    @property
    def wallet(self) -> float:
        return self.totals.wallet

    @property
    def upnl(self) -> float:
        return self.totals.upnl

    @property
    def margin_balance(self) -> float:
        return self.totals.margin_balance

    @property
    def initial_margin(self) -> float:
        return self.totals.initial_margin

    @property
    def maint_margin(self) -> float:
        return self.totals.maint_margin

    @property
    def available(self) -> float:
        return self.totals.available

    def asset(self, name: str) -> AssetView | None:
        return next((a for a in self.assets if a.asset == name), None)


def bracket_for(brackets: tuple[Bracket, ...], notional_abs: float) -> Bracket:
    for bracket in brackets:
        if notional_abs < bracket.cap:
            return bracket
    return brackets[-1]


def maintenance_margin(market: str, notional_abs: float) -> float:
    bracket = bracket_for(CONTRACT_BY_SYMBOL[market].futures.brackets, notional_abs)
    return max(0.0, notional_abs * bracket.maint_ratio - bracket.cum)


def _rows(state: AccountState, marks: Mapping[str, float]) -> list[tuple[Position, float, float, float, float, float]]:
    rows = []
    for pos in state.positions:
        mark = marks[pos.market]
        notional = pos.amount * mark
        rows.append((pos, mark, pos.amount * (mark - pos.entry_price), notional,
                     abs(notional) / pos.leverage, maintenance_margin(pos.market, abs(notional))))
    return rows


def _asset_views(state: AccountState, rows: list) -> tuple[AssetView, ...]:
    names = list(state.wallets) + [p.margin_asset for p in state.positions if p.margin_asset not in state.wallets]
    out = []
    for name in names:
        mine = [r for r in rows if r[0].margin_asset == name]
        out.append(AssetView(state.wallets.get(name, 0.0), sum(r[2] for r in mine),
                             sum(r[4] for r in mine), sum(r[5] for r in mine), asset=name))
    return tuple(out)


def _totals(assets: tuple[AssetView, ...], multi_assets: bool, usd: Mapping[str, float]) -> Totals:
    if not multi_assets:
        usdt = next((a for a in assets if a.asset == USD_PAR_ASSET), AssetView(0.0, 0.0, 0.0, 0.0, asset=USD_PAR_ASSET))
        return Totals(usdt.wallet, usdt.upnl, usdt.initial_margin, usdt.maint_margin)

    def in_usd(value: float, asset: str) -> float:
        return value * (1.0 if asset == USD_PAR_ASSET else usd[asset])
    return Totals(sum(in_usd(a.wallet, a.asset) for a in assets), sum(in_usd(a.upnl, a.asset) for a in assets),
                  sum(in_usd(a.initial_margin, a.asset) for a in assets),
                  sum(in_usd(a.maint_margin, a.asset) for a in assets))


def value_account(state: AccountState, marks: Mapping[str, float],
                  usd: Mapping[str, float] | None = None) -> AccountView:
    """Value every position at `marks` (contract -> mark) and total the account as its mode defines.

    `usd` (asset -> USD index price) is needed for the totals of a multi-assets account.
    """
    usd = dict(usd or {})
    rows = _rows(state, marks)
    assets = _asset_views(state, rows)
    views = []
    for pos, mark, pnl, notional, im, mm in rows:
        cushion = next(a for a in assets if a.asset == pos.margin_asset)
        views.append(PositionView(pos, mark, pnl, notional, im, mm,
                                  _liquidation_price(pos, mark, cushion.margin_balance - cushion.maint_margin)))
    return AccountView(name=state.name, multi_assets=state.multi_assets, hedge=state.hedge, assets=assets,
                       totals=_totals(assets, state.multi_assets, usd), positions=tuple(views),
                       update_ms=state.update_ms, usd=usd)


def _liquidation_price(pos: Position, mark: float, cushion: float) -> float:
    """Where this position alone would eat its margin asset's cushion above maintenance margin.

    A cross-margin approximation (other positions held at their marks); 0 means "none".
    """
    if pos.amount == 0:
        return 0.0
    liq = mark - cushion / pos.amount
    return liq if liq > 0 else 0.0


def book_fill(state: AccountState, fill: Fill) -> AccountState:
    """A router fill's realised PnL and fee flow into its margin asset's wallet; positions stay.

    The simulated router trades around the book (in and out), so the net position is kept and
    only the cash effect is booked: wallet += realised PnL − fee.
    """
    asset = CONTRACT_BY_SYMBOL[fill.sym].margin
    moved = state.move(asset, fill.realized_pnl_usd - fill.fee_usd, int(fill.ts * 1000))
    return replace(moved, realized_pnl=state.realized_pnl + fill.realized_pnl_usd,
                   fees=state.fees + fill.fee_usd, fills=state.fills + 1)

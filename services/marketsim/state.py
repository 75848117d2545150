"""The simulated world shared by the HTTP threads and the fills thread, behind one lock.

It owns the price walk, the accounts (with their income logs) and the active faults; what it
hands out is an immutable snapshot, so a request computes its answer from one consistent moment.
Funding is accrued lazily: every snapshot first books the funding events that fell due.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.marketsim.account import AccountState, AccountView, book_fill, value_account
from services.marketsim.faults import Fault, FaultSet
from services.marketsim.income import IncomeLog, IncomeQuery, IncomeRecord, funding_fee, funding_times, select
from services.marketsim.prices import PriceWalk, Session
from services.marketsim.specs import (
    ASSETS, BY_ASSET, CONTRACT_BY_SYMBOL, CONTRACTS, DEFAULT_ACCOUNTS, FX_ZAR, LEGACY_KEYS, AccountSpec, ContractSpec,
)
from shared.contracts.fills import Fill
from shared.contracts.vocabulary import USD_PAR_ASSET

DEFAULT_FUNDING_INTERVAL_S = 60.0


class SimError(ValueError):
    """A control request names something that does not exist or is not allowed; `field` says which."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Prices of every asset from every source at `now`, marks of every contract, every account valued."""

    now: float
    prices: dict[tuple[str, str], float]    # (asset, source) -> price; source "index" is the true price
    sessions: dict[str, Session]
    usd_zar: float
    accounts: dict[str, AccountView]
    start: float
    marks: dict[str, float] = field(default_factory=dict)   # contract symbol -> mark

    def price(self, asset: str, source: str) -> float:
        return self.prices[(asset, source)]

    @property
    def account(self) -> AccountView:
        """The `main` account (the one the legacy key and the fills stream belong to)."""
        return self.accounts["main"]


def usd_price(prices: dict[tuple[str, str], float], asset: str) -> float:
    """An asset's USD price for valuations: USDT at par, otherwise its index (true) price."""
    return 1.0 if asset == USD_PAR_ASSET else prices[(asset, "index")]


def contract_mark(contract: ContractSpec, prices: dict[tuple[str, str], float]) -> float:
    """mark(asset in USD) × multiplier ÷ USD price of the quote asset, with a dated contract's basis."""
    quote = 1.0 if contract.quote == USD_PAR_ASSET else prices[(contract.quote, "mark")]
    return prices[(contract.asset, "mark")] * contract.multiplier * (1.0 + contract.dated_basis) / quote


class SimState:
    def __init__(self, *, seed: int, accounts: Sequence[AccountSpec] | None = None,
                 clock: Callable[[], float] = time.time,
                 funding_interval_s: float = DEFAULT_FUNDING_INTERVAL_S) -> None:
        self.clock = clock
        self.start = clock()
        self.funding_interval_s = funding_interval_s
        self._lock = threading.Lock()
        self._walk = PriceWalk((*ASSETS, FX_ZAR), seed=seed, start=self.start)
        specs = tuple(accounts or DEFAULT_ACCOUNTS)
        start_ms = int(self.start * 1000)
        self._accounts = {s.name: AccountState.from_spec(s, start_ms) for s in specs}
        self._income = {s.name: IncomeLog() for s in specs}
        self.keys = {s.api_key: s.name for s in specs} | {k: v for k, v in LEGACY_KEYS.items() if v in self._accounts}
        self._funding_done = 0
        self._trades = 0
        self._faults = FaultSet()
        self.requests: Counter[str] = Counter()
        self.faults_served: Counter[str] = Counter()
        self._weight: dict[str, tuple[int, int]] = {}   # api -> (minute, weight used in it)

    # --- prices and accounts ---------------------------------------------------------------------
    def snapshot(self, now: float | None = None) -> Snapshot:
        now = self.clock() if now is None else now
        with self._lock:
            self._walk.advance(now)
            prices = {}
            for spec in ASSETS:
                prices[(spec.asset, "index")] = self._walk.true_price(spec.asset)
                for src in ("mark", "spot", "coingecko"):
                    prices[(spec.asset, src)] = self._walk.price(spec.asset, src)
            sessions = {spec.asset: self._walk.session(spec.asset) for spec in ASSETS}
            usd_zar = self._walk.true_price(FX_ZAR.asset)
            marks = {c.symbol: contract_mark(c, prices) for c in CONTRACTS}
            self._accrue_funding(now, marks)
            accounts = dict(self._accounts)
        usd = {a.asset: usd_price(prices, a.asset) for a in ASSETS}
        views = {name: value_account(state, marks, usd) for name, state in accounts.items()}
        return Snapshot(now, prices, sessions, usd_zar, views, self.start, marks)

    def _accrue_funding(self, now: float, marks: dict[str, float]) -> None:
        """Book every funding event due by `now` (lock held): one FUNDING_FEE per open position."""
        for ts_ms in funding_times(self.start, self.funding_interval_s, self._funding_done, now):
            self._funding_done += 1
            for name, state in self._accounts.items():
                for pos in state.positions:
                    if pos.amount == 0 or CONTRACT_BY_SYMBOL[pos.market].contract_type != "PERPETUAL":
                        continue   # dated contracts pay no funding
                    fee = round(funding_fee(pos.amount, marks[pos.market]), 8)
                    self._income[name].add(ts_ms, "FUNDING_FEE", pos.margin_asset, fee, symbol=pos.market)
                    state = state.move(pos.margin_asset, fee, ts_ms)
                self._accounts[name] = state

    def account_name(self, api_key: str | None) -> str | None:
        """The account an X-MBX-APIKEY belongs to; None for an unknown key."""
        return self.keys.get(api_key or "")

    def book(self, fill: Fill, account: str = "main") -> None:
        """A router fill: its fee and realised PnL move the wallet, each as an income record."""
        ts_ms = int(fill.ts * 1000)
        with self._lock:
            self._trades += 1
            trade_id = str(self._trades)
            state = self._accounts[account]
            asset = CONTRACT_BY_SYMBOL[fill.sym].margin
            log = self._income[account]
            log.add(ts_ms, "COMMISSION", asset, -fill.fee_usd, symbol=fill.sym, trade_id=trade_id)
            if fill.realized_pnl_usd:
                log.add(ts_ms, "REALIZED_PNL", asset, fill.realized_pnl_usd, symbol=fill.sym, trade_id=trade_id)
            self._accounts[account] = book_fill(state, fill)

    def transfer(self, account: str, amount: float, asset: str, *, recorded: bool = True) -> dict:
        """Move `amount` of `asset` into (> 0) or out of (< 0) an account's wallet, with a TRANSFER record
        unless `recorded` is False (a wallet change the income history cannot explain)."""
        if not isinstance(amount, (int, float)) or isinstance(amount, bool) or not math.isfinite(amount) \
                or amount == 0:
            raise SimError("amount", f"amount is {amount!r}; expected a non-zero finite number")
        asset = asset.strip().upper() if isinstance(asset, str) else asset
        if asset != USD_PAR_ASSET and asset not in BY_ASSET:
            raise SimError("asset", f"asset is {asset!r}; expected a simulated asset such as USDT or USDC")
        ts_ms = int(self.clock() * 1000)
        with self._lock:
            if account not in self._accounts:
                raise SimError("account", f"account is {account!r}; expected one of {', '.join(self._accounts)}")
            record: IncomeRecord | None = None
            if recorded:
                record = self._income[account].add(ts_ms, "TRANSFER", asset, float(amount))
            state = self._accounts[account].move(asset, float(amount), ts_ms)
            self._accounts[account] = state
        return {"account": account, "asset": asset, "amount": float(amount), "recorded": recorded,
                "tran_id": record.tran_id if record else None, "wallet": state.wallets[asset], "time": ts_ms}

    def income(self, account: str, query: IncomeQuery) -> list[dict]:
        with self._lock:
            return select(self._income[account], query)

    def income_count(self, account: str) -> int:
        with self._lock:
            return len(self._income[account].records)

    def account_state(self, name: str = "main") -> AccountState:
        with self._lock:
            return self._accounts[name]

    @property
    def account_names(self) -> tuple[str, ...]:
        return tuple(self._accounts)

    # --- faults --------------------------------------------------------------------------------
    @property
    def faults(self) -> FaultSet:
        with self._lock:
            return self._faults

    def add_fault(self, fault: Fault) -> FaultSet:
        with self._lock:
            self._faults = self._faults.add(fault)
            return self._faults

    def clear_faults(self, source: str | None = None) -> FaultSet:
        with self._lock:
            self._faults = self._faults.clear(source)
            return self._faults

    # --- request weight (Binance counts it per IP per minute; every client here is one IP) -------------
    def spend_weight(self, api: str, weight: int, now: float | None = None) -> int:
        """Add a request's weight to this minute's tally of `api` (fapi, api); returns the minute's total,
        what Binance sends as X-MBX-USED-WEIGHT-1M."""
        minute = int((self.clock() if now is None else now) // 60)
        with self._lock:
            last, used = self._weight.get(api, (minute, 0))
            used = (used if last == minute else 0) + weight
            self._weight[api] = (minute, used)
            return used

    # --- counters ------------------------------------------------------------------------------
    def count_request(self, source: str) -> None:
        with self._lock:
            self.requests[source] += 1

    def count_fault(self, source: str, mode: str) -> None:
        with self._lock:
            self.faults_served[f"{source}.{mode}"] += 1

    def counters(self) -> dict[str, int]:
        with self._lock:
            out = {f"requests.{k}": v for k, v in self.requests.items()}
            out.update({f"faults_served.{k}": v for k, v in self.faults_served.items()})
            out["fills_booked"] = sum(a.fills for a in self._accounts.values())
            out["income_records"] = sum(len(log.records) for log in self._income.values())
            return out

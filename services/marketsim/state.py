"""The simulated world shared by the HTTP threads and the fills thread, behind one lock.

It owns the price walk, the account and the active faults; everything it hands out is an
immutable snapshot, so a request computes its answer from one consistent moment.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from services.marketsim.account import AccountState, AccountView, book_fill, value_account
from services.marketsim.faults import Fault, FaultSet
from services.marketsim.prices import PriceWalk, Session
from services.marketsim.specs import ASSETS, FX_ZAR, AccountSpec
from shared.contracts.fills import Fill


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Prices of every asset from every source at `now`, plus the account valued at the marks."""

    now: float
    prices: dict[tuple[str, str], float]    # (asset, source) -> price; source "index" is the true price
    sessions: dict[str, Session]
    usd_zar: float
    account: AccountView
    start: float

    def price(self, asset: str, source: str) -> float:
        return self.prices[(asset, source)]


class SimState:
    def __init__(self, *, seed: int, account: AccountSpec | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.start = clock()
        self._lock = threading.Lock()
        self._walk = PriceWalk((*ASSETS, FX_ZAR), seed=seed, start=self.start)
        self._account = AccountState.from_spec(account or AccountSpec(), int(self.start * 1000))
        self._faults = FaultSet()
        self.requests: Counter[str] = Counter()
        self.faults_served: Counter[str] = Counter()

    # --- prices and account ------------------------------------------------------------------
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
            account = self._account
        marks = {f"{a}USDT": px for (a, src), px in prices.items() if src == "mark"}
        return Snapshot(now, prices, sessions, usd_zar, value_account(account, marks), self.start)

    def book(self, fill: Fill) -> None:
        with self._lock:
            self._account = book_fill(self._account, fill)

    @property
    def account_state(self) -> AccountState:
        with self._lock:
            return self._account

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
            out["fills_booked"] = self._account.fills
            return out

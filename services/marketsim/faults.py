"""Injected faults: parsing and validating them, and deciding what a request suffers (pure).

A fault is (source, mode, symbol?). Request-level modes break the whole answer:
  down     the connection is closed without an HTTP response
  slow     the answer waits `delay_s` (default 10 s)
  429/418  that status, a Retry-After header and the source's own error body
Data-level modes change what is in an answer:
  zero     the price is 0          stale     timestamps 180 s in the past
  delisted the market is not TRADING / left out of the answer (the CoinGecko id is left out)
  untimed  (coingecko) the answer carries no `last_updated_at`, even when asked for it

An `account` fault may name one account (`"account": "sub1"`): it then hits only requests
signed with that account's API key, so one account can be killed while the others answer.

Without a symbol a fault hits every request of its source. With a symbol it hits only that
asset: a request that names only faulted assets (symbol=BTCUSDT, ids=bitcoin) fails as a
whole; a batch or list answer leaves the faulted assets out instead and serves the rest
(`slow` delays any answer that would include the asset).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.marketsim.specs import resolve_asset

SOURCES = ("mark", "spot", "coingecko", "account")
MODES = ("down", "slow", "429", "418", "zero", "stale", "delisted", "untimed")
REQUEST_MODES = ("down", "slow", "429", "418")
DATA_MODES = ("zero", "stale", "delisted", "untimed")
_BINANCE_MODES = ("down", "slow", "429", "418", "zero", "stale", "delisted")
MODES_BY_SOURCE = {
    "mark": _BINANCE_MODES, "spot": _BINANCE_MODES, "coingecko": MODES,
    "account": ("down", "slow", "429", "418", "zero", "stale"),
}
DEFAULT_DELAY_S = 10.0
DEFAULT_RETRY_AFTER_S = {"429": 2, "418": 5}
MAX_DELAY_S = 600.0
STALE_AGE_S = 180.0


class FaultError(ValueError):
    """A fault request is invalid; `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Fault:
    source: str
    mode: str
    symbol: str | None = None      # a base asset ("BTC"), already normalised
    delay_s: float | None = None   # slow only
    retry_after_s: int | None = None   # 429/418 only: the Retry-After header
    account: str | None = None     # source account only: just this account's requests

    @property
    def key(self) -> tuple[str, str, str | None, str | None]:
        return (self.source, self.mode, self.symbol, self.account)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "mode": self.mode, "symbol": self.symbol}
        if self.account is not None:
            out["account"] = self.account
        if self.mode == "slow":
            out["delay_s"] = self.delay_s
        if self.mode in ("429", "418"):
            out["retry_after_s"] = self.retry_after_s
        return out


def parse_fault(body: Any, accounts: Collection[str] | None = None) -> Fault:
    """A Fault from a POST body; FaultError names the bad field and what is allowed.

    `accounts` are the simulated accounts' names an `account` field may name (None: any).
    """
    if not isinstance(body, Mapping):
        raise FaultError("body", f"body must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - {"source", "mode", "symbol", "delay_s", "retry_after_s", "account"})
    if unknown:
        raise FaultError(unknown[0], f"unknown field {unknown[0]!r}; "
                                     "allowed: source, mode, symbol, delay_s, retry_after_s, account")
    source = body.get("source")
    if source not in SOURCES:
        raise FaultError("source", f"source is {source!r}; expected one of {', '.join(SOURCES)}")
    mode = body.get("mode")
    if isinstance(mode, int) and not isinstance(mode, bool):
        mode = str(mode)
    if mode not in MODES:
        raise FaultError("mode", f"mode is {mode!r}; expected one of {', '.join(MODES)}")
    if mode not in MODES_BY_SOURCE[source]:
        raise FaultError("mode", f"mode {mode!r} does not apply to source {source!r}; "
                                 f"expected one of {', '.join(MODES_BY_SOURCE[source])}")
    symbol = _parse_symbol(body.get("symbol"))
    if source == "account" and symbol is not None and mode in REQUEST_MODES:
        raise FaultError("symbol", f"account fault {mode!r} hits the whole account; leave symbol out "
                                   "(symbol applies to account modes zero and stale)")
    return Fault(source, mode, symbol, _parse_delay(mode, body.get("delay_s")),
                 _parse_retry_after(mode, body.get("retry_after_s")),
                 _parse_account(source, body.get("account"), accounts))


def _parse_account(source: str, raw: Any, accounts: Collection[str] | None) -> str | None:
    if raw is None or raw == "":
        return None
    if source != "account":
        raise FaultError("account", f"account applies to source 'account' only, not {source!r}")
    if not isinstance(raw, str):
        raise FaultError("account", f"account is {raw!r}; expected an account name such as 'main'")
    if accounts is not None and raw not in accounts:
        raise FaultError("account", f"account is {raw!r}; marketsim has {', '.join(accounts)}")
    return raw


def _parse_symbol(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise FaultError("symbol", f"symbol is {raw!r}; expected a string such as 'BTC' or 'BTCUSDT'")
    spec = resolve_asset(raw)
    if spec is None:
        raise FaultError("symbol", f"symbol {raw!r} is not a simulated asset or market "
                                   "(e.g. 'BTC', 'BTCUSDT', 'BTC/USDT:USDT' or 'bitcoin')")
    return spec.asset


def _parse_delay(mode: str, raw: Any) -> float | None:
    if raw is None:
        return DEFAULT_DELAY_S if mode == "slow" else None
    if mode != "slow":
        raise FaultError("delay_s", f"delay_s applies to mode 'slow' only, not {mode!r}")
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise FaultError("delay_s", f"delay_s is {raw!r}; expected a number of seconds")
    if not 0 <= raw <= MAX_DELAY_S:
        raise FaultError("delay_s", f"delay_s is {raw!r}; expected 0 to {MAX_DELAY_S:g} seconds")
    return float(raw)


def _parse_retry_after(mode: str, raw: Any) -> int | None:
    if raw is None:
        return DEFAULT_RETRY_AFTER_S.get(mode)
    if mode not in DEFAULT_RETRY_AFTER_S:
        raise FaultError("retry_after_s", f"retry_after_s applies to modes '429' and '418' only, not {mode!r}")
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 86_400:
        raise FaultError("retry_after_s", f"retry_after_s is {raw!r}; expected whole seconds from 0 to 86400")
    return raw


@dataclass(frozen=True, slots=True)
class RequestFaults:
    """What one request suffers: a failure, a delay, assets left out, per-asset data modes."""

    failure: str | None = None                   # down / 418 / 429
    retry_after_s: int = 0                       # with 418 / 429
    delay_s: float = 0.0
    omit: frozenset[str] = frozenset()
    data: Mapping[str, frozenset[str]] | None = None   # asset -> {zero, stale, delisted}
    data_all: frozenset[str] = frozenset()       # data modes without a symbol

    def modes_for(self, asset: str) -> frozenset[str]:
        per_asset = self.data.get(asset, frozenset()) if self.data else frozenset()
        return self.data_all | per_asset


@dataclass(frozen=True, slots=True)
class FaultSet:
    """The active faults; immutable, so a request sees one consistent set."""

    faults: tuple[Fault, ...] = ()

    def add(self, fault: Fault) -> FaultSet:
        return FaultSet(tuple(f for f in self.faults if f.key != fault.key) + (fault,))

    def clear(self, source: str | None = None) -> FaultSet:
        if source is None:
            return FaultSet()
        return FaultSet(tuple(f for f in self.faults if f.source != source))

    def for_request(self, source: str, named: Collection[str] | None, covered: Iterable[str],
                    account: str | None = None) -> RequestFaults:
        """Faults for a request of `source` that names assets `named` (None: a list of all `covered`),
        signed for `account` (faults naming another account do not apply)."""
        mine = [f for f in self.faults if f.source == source and f.account in (None, account)]
        if not mine:
            return RequestFaults()
        answer = set(named) if named is not None else set(covered)
        delay = max((f.delay_s or 0.0 for f in mine
                     if f.mode == "slow" and (f.symbol is None or f.symbol in answer)), default=0.0)
        failure: Fault | None = None
        omit: set[str] = set()
        for mode in ("down", "418", "429"):
            faults = [f for f in mine if f.mode == mode]
            hit_all = {f.symbol for f in faults}
            for fault in faults:
                # One asset's failure fails a request only when that request is about nothing else.
                if fault.symbol is None or (named and set(named) <= hit_all):
                    failure = failure or fault
                else:
                    omit.add(fault.symbol)
        data: dict[str, frozenset[str]] = {}
        for fault in (f for f in mine if f.mode in DATA_MODES and f.symbol is not None):
            data[fault.symbol] = data.get(fault.symbol, frozenset()) | {fault.mode}
        return RequestFaults(
            failure=failure.mode if failure else None,
            retry_after_s=(failure.retry_after_s or 0) if failure else 0,
            delay_s=delay, omit=frozenset(omit), data=data,
            data_all=frozenset(f.mode for f in mine if f.mode in DATA_MODES and f.symbol is None))


@dataclass(frozen=True, slots=True)
class Observed:
    """A price as a source reports it after data faults: maybe 0, maybe old, maybe not listed."""

    px: float
    ts: float
    listed: bool


def observe(px: float, now: float, modes: Collection[str]) -> Observed:
    return Observed(px=0.0 if "zero" in modes else px,
                    ts=now - STALE_AGE_S if "stale" in modes else now,
                    listed="delisted" not in modes)

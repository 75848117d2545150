"""The futures account adapter: ccxt binanceusdm -> AccountSnapshot.

`CcxtAccount.fetch()` reads the wallet/margin balance (fetch_balance, raw `info`
fields totalWalletBalance / totalMarginBalance, USD) and open positions
(fetch_positions). ccxt exceptions become shared.errors through the one map in
shared/exchange_errors.py (`ccxt_errors` here is a thin call to it); payload parsing (`parse_balance`, `parse_positions`) is pure.

Modes: sim talks to marketsim, testnet to Binance's futures testnet (ccxt sandbox),
live to Binance with keys from the environment. Read-only API keys are enough: only
GET /fapi/v3/account, /fapi/v3/positionRisk and /fapi/v1/exchangeInfo are called.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import ccxt

from shared.errors import SourceBadData, SourceUnavailable
from shared.exchange import make_usdm
from shared.exchange_errors import exchange_errors, header, parse_retry_after
from shared.logs import RedactingFilter
from shared.settings import Mode, Settings

from services.nav.model import AccountPosition, AccountSnapshot

SOURCE = "account"


class AccountSource(Protocol):
    """Anything that can read the futures account (ccxt, or a test double)."""

    def fetch(self) -> AccountSnapshot: ...

    def close(self) -> None: ...


def retry_after_s(headers: Mapping[str, Any] | None, default: float) -> float:
    """The answer's Retry-After header in seconds (at least 1 s), else `default` (shared/exchange_errors.py)."""
    seconds = parse_retry_after(header(headers, "Retry-After"))
    return default if seconds is None else max(1.0, seconds)


@contextmanager
def ccxt_errors(what: str, timeout_s: float, redactor: RedactingFilter | None = None,
                exchange: ccxt.Exchange | None = None) -> Iterator[None]:
    """ccxt's exceptions as navstream's error tree, by the one table in shared/exchange_errors.py.

    `exchange`, when given, supplies the failed answer's headers (Retry-After on 429/418).
    """
    with exchange_errors(SOURCE, what, timeout_s=timeout_s, exchange=exchange,
                         secrets=redactor.redact if redactor is not None else None,
                         auth_hint="check BINANCE_API_KEY / BINANCE_API_SECRET (read-only keys suffice)"):
        yield


# --- pure payload parsing -----------------------------------------------------------


def _number(raw: Any, where: str, *, required: bool = True) -> float | None:
    if raw is None or raw == "":
        if required:
            raise SourceBadData(SOURCE, f"{where} is missing")
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SourceBadData(SOURCE, f"{where} is {raw!r}, not a number") from None
    if not math.isfinite(value):
        raise SourceBadData(SOURCE, f"{where} is {raw!r}, not a finite number")
    return value


def parse_balance(balance: Mapping[str, Any]) -> tuple[float, float | None]:
    """(wallet balance, margin balance) in USD from ccxt's fetch_balance result.

    Binance's /fapi/v3/account reports both across all margin assets in USD
    (`totalWalletBalance`, `totalMarginBalance` = wallet + unrealised PnL); ccxt keeps
    them in `info`.
    """
    info = balance.get("info") if isinstance(balance, Mapping) else None
    if not isinstance(info, Mapping):
        raise SourceBadData(SOURCE, "fetch_balance: no raw 'info' object in the answer")
    wallet = _number(info.get("totalWalletBalance"), "fetch_balance: info.totalWalletBalance")
    margin = _number(info.get("totalMarginBalance"), "fetch_balance: info.totalMarginBalance", required=False)
    return wallet, margin


def _exchange_id(pos: Mapping[str, Any], info: Mapping[str, Any]) -> str:
    symbol = info.get("symbol")
    if isinstance(symbol, str) and symbol:
        return symbol
    unified = pos.get("symbol")
    if isinstance(unified, str) and unified:
        # "BTC/USDT:USDT" -> "BTCUSDT" (perpetuals only; dated futures carry info.symbol)
        return unified.split(":")[0].replace("/", "")
    raise SourceBadData(SOURCE, "fetch_positions: a position has no symbol")


def _either(pos: Mapping[str, Any], key: str, info: Mapping[str, Any], raw_key: str) -> Any:
    """ccxt's unified value, or the raw field when ccxt left it None."""
    value = pos.get(key)
    return info.get(raw_key) if value is None else value


def parse_position(pos: Mapping[str, Any]) -> AccountPosition | None:
    """One ccxt position -> AccountPosition; None for a flat (zero-size) entry."""
    info = pos.get("info") if isinstance(pos.get("info"), Mapping) else {}
    symbol = _exchange_id(pos, info)
    where = f"fetch_positions {symbol}"
    contracts = _number(pos.get("contracts"), f"{where}: contracts", required=False)
    if contracts is None:
        contracts = _number(info.get("positionAmt"), f"{where}: info.positionAmt")
    size = _number(pos.get("contractSize"), f"{where}: contractSize", required=False) or 1.0
    qty = abs(contracts * size)
    if qty == 0:
        return None
    side = pos.get("side")
    if side not in ("long", "short"):
        amt = _number(info.get("positionAmt"), f"{where}: side is {side!r} and info.positionAmt")
        side = "long" if amt > 0 else "short"
    mark = _number(_either(pos, "markPrice", info, "markPrice"), f"{where}: markPrice", required=False)
    return AccountPosition(
        symbol=symbol,
        side=side.upper(),
        qty=qty,
        entry_price=_number(_either(pos, "entryPrice", info, "entryPrice"), f"{where}: entryPrice"),
        mark_price=mark if mark and mark > 0 else None,
        upnl=_number(_either(pos, "unrealizedPnl", info, "unRealizedProfit"), f"{where}: unrealizedPnl",
                     required=False),
    )


def parse_positions(positions: Sequence[Mapping[str, Any]]) -> tuple[AccountPosition, ...]:
    if not isinstance(positions, Sequence):
        raise SourceBadData(SOURCE, f"fetch_positions: expected a list, got {type(positions).__name__}")
    parsed = (parse_position(p) for p in positions)
    return tuple(p for p in parsed if p is not None)


def parse_account(balance: Mapping[str, Any], positions: Sequence[Mapping[str, Any]], ts: float) -> AccountSnapshot:
    wallet, margin = parse_balance(balance)
    return AccountSnapshot(ts=ts, wallet_balance=wallet, margin_balance=margin,
                           positions=parse_positions(positions))


# --- the ccxt adapter ----------------------------------------------------------------


def make_account_client(settings: Settings) -> ccxt.binanceusdm:
    """The keyed binanceusdm client for this mode, pointed at the configured futures URL."""
    exchange = make_usdm(settings, timeout_s=settings.source_timeout_s, with_keys=True)
    if settings.mode is Mode.TESTNET:
        # ccxt's sandbox switch swaps in its testnet URLs and, for futures, refuses to sign
        # unless `disableFuturesSandboxWarning` is set (make_usdm sets it; we say so here too).
        # Keep the configured futures base URL (BINANCE_FUTURES_URL may override the default).
        rebased = {k: v for k, v in exchange.urls["api"].items() if k.startswith("fapi")}
        exchange.options["disableFuturesSandboxWarning"] = True
        exchange.set_sandbox_mode(True)
        exchange.urls["api"] = {**exchange.urls["api"], **rebased}
    return exchange


class CcxtAccount:
    """Reads the USD-M account through ccxt; every failure is a shared.errors.SourceError."""

    def __init__(self, settings: Settings, exchange: ccxt.binanceusdm | None = None) -> None:
        self.settings = settings
        self.timeout_s = settings.source_timeout_s
        self.exchange = exchange or make_account_client(settings)
        self.redactor = RedactingFilter(settings.secret_values())
        self.has_keys = bool(settings.binance_api_key and settings.binance_api_secret) \
            or settings.mode is Mode.SIM

    def fetch(self) -> AccountSnapshot:
        if not self.has_keys:
            raise SourceUnavailable(SOURCE, f"MODE={self.settings.mode.value} needs BINANCE_API_KEY and "
                                    "BINANCE_API_SECRET (read-only keys suffice); none are set")
        with ccxt_errors("fetch_balance", self.timeout_s, self.redactor, self.exchange):
            balance = self.exchange.fetch_balance()
        with ccxt_errors("fetch_positions", self.timeout_s, self.redactor, self.exchange):
            positions = self.exchange.fetch_positions()
        return parse_account(balance, positions, time.time())

    def close(self) -> None:
        session = getattr(self.exchange, "session", None)
        if session is not None:
            session.close()

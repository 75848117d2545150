"""The futures account adapter: one Binance USD-M account through ccxt -> AccountSnapshot.

`CcxtAccount.fetch()` makes three signed raw calls through ccxt's binanceusdm client
(signing, rate-limit headers and error mapping stay ccxt's; the payloads are parsed here):

- `GET /fapi/v3/account` (weight 5): `assets[]` (wallet and uPnL per margin asset: the NAV
  is built from these) and the `total*` figures the mode defines, plus `positions[]`.
- `GET /fapi/v3/positionRisk` (weight 5): every open position with entry price, mark and
  `marginAsset`; both legs in hedge mode. Raw, because ccxt's `fetch_positions` drops rows
  whose `entryPrice` is 0 and first loads every market (`/fapi/v1/exchangeInfo`) and the
  leverage brackets (`/fapi/v1/leverageBracket`), which the NAV does not need.
- `GET /fapi/v1/accountConfig` (weight 5, at most once a minute): `multiAssetsMargin` and
  `dualSidePosition`. The v3 account no longer carries the mode; `/fapi/v1/multiAssetsMargin`
  would cost 30.

So a read-only API key is enough. ccxt exceptions become shared.errors through the one map
in shared/exchange_errors.py (`ccxt_errors` here is a thin call to it); payload parsing
(`parse_*`, `cross_check`) is pure.

Modes: sim talks to marketsim, testnet to Binance's futures testnet (ccxt sandbox),
live to Binance with keys from the environment.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from shared.ccxt_lite import ccxt

from shared.contracts.vocabulary import BINANCE_POSITION_SIDES, USD_PAR_ASSET, AccountMode
from shared.errors import SourceBadData, SourceUnavailable
from shared.exchange import make_usdm
from shared.exchange_errors import exchange_errors, header, parse_retry_after
from shared.logs import RedactingFilter
from shared.settings import Mode, Settings

from services.nav.accounts import AccountConfig
from services.nav.model import AccountPosition, AccountSnapshot, AssetBalance

SOURCE = "account"
CONFIG_EVERY_S = 60.0       # the account mode changes rarely (Binance refuses it with open positions)
SAME_UNITS_TOLERANCE = 0.01  # two figures of one answer in one asset must agree to a cent


class AccountSource(Protocol):
    """Anything that can read one futures account (ccxt, or a test double)."""

    def fetch(self) -> AccountSnapshot: ...

    def close(self) -> None: ...


def retry_after_s(headers: Mapping[str, Any] | None, default: float) -> float:
    """The answer's Retry-After header in seconds (at least 1 s), else `default` (shared/exchange_errors.py)."""
    seconds = parse_retry_after(header(headers, "Retry-After"))
    return default if seconds is None else max(1.0, seconds)


@contextmanager
def ccxt_errors(what: str, timeout_s: float, redactor: RedactingFilter | None = None,
                exchange: ccxt.Exchange | None = None, keys_hint: str = "BINANCE_API_KEY / BINANCE_API_SECRET"
                ) -> Iterator[None]:
    """ccxt's exceptions as navstream's error tree, by the one table in shared/exchange_errors.py.

    `exchange`, when given, supplies the failed answer's headers (Retry-After on 429/418);
    `keys_hint` names the account's key variables in an authentication error.
    """
    with exchange_errors(SOURCE, what, timeout_s=timeout_s, exchange=exchange,
                         secrets=redactor.redact if redactor is not None else None,
                         auth_hint=f"check {keys_hint} (read-only keys suffice)"):
        yield


# --- pure payload parsing -----------------------------------------------------------

ACCOUNT_CALL = "GET /fapi/v3/account"
POSITIONS_CALL = "GET /fapi/v3/positionRisk"
CONFIG_CALL = "GET /fapi/v1/accountConfig"


def _number(raw: Any, where: str, *, required: bool = True) -> float | None:
    if raw is None or raw == "":
        if required:
            raise SourceBadData(SOURCE, f"{where} is missing")
        return None
    if isinstance(raw, bool):
        raise SourceBadData(SOURCE, f"{where} is {raw!r}, not a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SourceBadData(SOURCE, f"{where} is {raw!r}, not a number") from None
    if not math.isfinite(value):
        raise SourceBadData(SOURCE, f"{where} is {raw!r}, not a finite number")
    return value


def _req(raw: Any, where: str) -> float:
    value = _number(raw, where)
    assert value is not None   # required=True raised otherwise
    return value


def _flag(raw: Any, where: str) -> bool:
    """A Binance boolean (JSON true/false; some SDKs pass "true"/"false")."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise SourceBadData(SOURCE, f"{where} is {raw!r}, not true or false; the account mode is unknown")


def parse_account_config(raw: Any) -> tuple[AccountMode, bool]:
    """(mode, hedge mode) from `/fapi/v1/accountConfig` (`multiAssetsMargin`, `dualSidePosition`)."""
    if not isinstance(raw, Mapping):
        raise SourceBadData(SOURCE, f"{CONFIG_CALL}: expected an object, got {type(raw).__name__}")
    multi = _flag(raw.get("multiAssetsMargin"), f"{CONFIG_CALL}: multiAssetsMargin")
    hedge = _flag(raw.get("dualSidePosition"), f"{CONFIG_CALL}: dualSidePosition")
    return ("multi_assets" if multi else "single_asset"), hedge


def parse_assets(raw: Mapping[str, Any]) -> tuple[AssetBalance, ...]:
    """The `assets[]` rows of the v3 account, each field checked (the message names asset and field)."""
    rows = raw.get("assets")
    if not isinstance(rows, list):
        raise SourceBadData(SOURCE, f"{ACCOUNT_CALL}: 'assets' is {type(rows).__name__}, not a list")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or not isinstance(row.get("asset"), str) or not row["asset"]:
            raise SourceBadData(SOURCE, f"{ACCOUNT_CALL}: assets[{i}] has no asset name")
        where = f"{ACCOUNT_CALL}: assets {row['asset']}"
        update = row.get("updateTime", 0)
        out.append(AssetBalance(asset=row["asset"], wallet=_req(row.get("walletBalance"), f"{where}.walletBalance"),
                                upnl=_req(row.get("unrealizedProfit"), f"{where}.unrealizedProfit"),
                                update_ms=int(_req(update, f"{where}.updateTime"))))
    names = [a.asset for a in out]
    if len(set(names)) != len(names):
        raise SourceBadData(SOURCE, f"{ACCOUNT_CALL}: an asset appears twice in assets[] ({sorted(names)})")
    return tuple(out)


def _side(row: Mapping[str, Any], amount: float, where: str) -> str:
    raw = row.get("positionSide", "BOTH")
    if raw not in BINANCE_POSITION_SIDES:
        raise SourceBadData(SOURCE, f"{where}: positionSide is {raw!r}, not one of {', '.join(BINANCE_POSITION_SIDES)}")
    if raw == "BOTH":
        return "LONG" if amount > 0 else "SHORT"
    return str(raw)


def parse_position_row(row: Mapping[str, Any]) -> AccountPosition | None:
    """One positionRisk row -> AccountPosition; None for a flat leg (a zero leg is not a position)."""
    symbol = row.get("symbol") if isinstance(row, Mapping) else None
    if not isinstance(symbol, str) or not symbol:
        raise SourceBadData(SOURCE, f"{POSITIONS_CALL}: a position has no symbol")
    where = f"{POSITIONS_CALL} {symbol}"
    amount = _req(row.get("positionAmt"), f"{where}: positionAmt")
    if amount == 0:
        return None
    side = _side(row, amount, f"{where} {row.get('positionSide')}")
    mark = _number(row.get("markPrice"), f"{where}: markPrice", required=False)
    margin_asset = row.get("marginAsset") or USD_PAR_ASSET
    if not isinstance(margin_asset, str):
        raise SourceBadData(SOURCE, f"{where}: marginAsset is {margin_asset!r}, not an asset name")
    return AccountPosition(
        symbol=symbol, side=side, qty=abs(amount),   # type: ignore[arg-type]
        entry_price=_req(row.get("entryPrice"), f"{where}: entryPrice"),
        mark_price=mark if mark and mark > 0 else None,
        upnl=_number(row.get("unRealizedProfit"), f"{where}: unRealizedProfit", required=False),
        margin_asset=margin_asset)


def parse_position_risk(rows: Any) -> tuple[AccountPosition, ...]:
    if not isinstance(rows, list):
        raise SourceBadData(SOURCE, f"{POSITIONS_CALL}: expected a list, got {type(rows).__name__}")
    parsed = (parse_position_row(r) for r in rows)
    return tuple(p for p in parsed if p is not None)


def _account_legs(raw: Mapping[str, Any]) -> dict[tuple[str, str], float]:
    """(symbol, side) -> uPnL of every non-zero leg in the v3 account's own `positions[]`."""
    legs: dict[tuple[str, str], float] = {}
    rows = raw.get("positions") or []
    if not isinstance(rows, list):
        raise SourceBadData(SOURCE, f"{ACCOUNT_CALL}: 'positions' is {type(rows).__name__}, not a list")
    for row in rows:
        symbol = row.get("symbol") if isinstance(row, Mapping) else None
        where = f"{ACCOUNT_CALL}: positions {symbol}"
        amount = _req(row.get("positionAmt") if isinstance(row, Mapping) else None, f"{where}.positionAmt")
        if amount == 0:
            continue
        legs[(str(symbol), _side(row, amount, where))] = _req(row.get("unrealizedProfit"),
                                                              f"{where}.unrealizedProfit")
    return legs


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= max(SAME_UNITS_TOLERANCE, 1e-9 * max(abs(a), abs(b)))


def cross_check(mode: AccountMode, totals: tuple[float, float], assets: Sequence[AssetBalance],
                positions: Sequence[AccountPosition], legs: Mapping[tuple[str, str], float]) -> list[str]:
    """What does not add up in one account answer (pure); each line names the figures.

    - single-asset mode: the `total*` figures count USDT only, so they must equal the USDT row;
    - every leg in the account's `positions[]` must be in positionRisk, and back;
    - per margin asset, the legs' uPnL (same answer as `assets[]`) must sum to the row's uPnL.
    Multi-assets totals are in USD at Binance's own rates and haircuts: checked in valuation.
    """
    notes: list[str] = []
    by_asset = {a.asset: a for a in assets}
    usdt = by_asset.get(USD_PAR_ASSET)
    if mode == "single_asset":
        wallet, upnl = totals
        row_wallet, row_upnl = (usdt.wallet, usdt.upnl) if usdt else (0.0, 0.0)
        if not (_close(wallet, row_wallet) and _close(upnl, row_upnl)):
            notes.append(f"single-asset mode: totalWalletBalance {wallet:.8f} / totalUnrealizedProfit {upnl:.8f} "
                         f"should be the USDT row's {row_wallet:.8f} / {row_upnl:.8f}; NAV is built from assets[]")
    risk = {(p.symbol, p.side): p for p in positions}
    for leg in sorted(set(legs) - set(risk)):
        notes.append(f"position {leg[0]} {leg[1]} is in the account answer but not in positionRisk; "
                     "its uPnL stays in its asset's row but it is not revalued between polls")
    for leg in sorted(set(risk) - set(legs)):
        notes.append(f"position {leg[0]} {leg[1]} is in positionRisk but not in the account answer")
    sums: dict[str, float] = {}
    for leg, upnl in legs.items():
        asset = risk[leg].margin_asset if leg in risk else USD_PAR_ASSET
        sums[asset] = sums.get(asset, 0.0) + upnl
    for asset in sorted(set(sums) | {a.asset for a in assets if a.upnl}):
        row = by_asset.get(asset)
        row_upnl = row.upnl if row else 0.0
        if not _close(sums.get(asset, 0.0), row_upnl):
            notes.append(f"{asset}: positions' uPnL {sums.get(asset, 0.0):.8f} does not add up to the asset row's "
                         f"unrealizedProfit {row_upnl:.8f} (a position missing or unreadable?)")
    return notes


def parse_account(raw: Any, risk_rows: Any, config: tuple[AccountMode, bool], ts: float) -> AccountSnapshot:
    """One account from its raw v3 account and positionRisk answers and its mode (pure)."""
    if not isinstance(raw, Mapping):
        raise SourceBadData(SOURCE, f"{ACCOUNT_CALL}: expected an object, got {type(raw).__name__}")
    mode, hedge = config
    wallet = _req(raw.get("totalWalletBalance"), f"{ACCOUNT_CALL}: totalWalletBalance")
    upnl = _req(raw.get("totalUnrealizedProfit"), f"{ACCOUNT_CALL}: totalUnrealizedProfit")
    margin = _number(raw.get("totalMarginBalance"), f"{ACCOUNT_CALL}: totalMarginBalance", required=False)
    assets = parse_assets(raw)
    positions = parse_position_risk(risk_rows)
    notes = cross_check(mode, (wallet, upnl), assets, positions, _account_legs(raw))
    return AccountSnapshot(ts=ts, wallet_balance=wallet, margin_balance=margin, positions=positions,
                           assets=assets, mode=mode, hedge_mode=hedge, notes=tuple(notes))


# --- the ccxt adapter ----------------------------------------------------------------


def make_account_client(settings: Settings, account: AccountConfig | None = None) -> ccxt.binanceusdm:
    """The keyed binanceusdm client for this mode and account, pointed at the configured futures URL."""
    keys = account.keys if account is not None else None
    exchange = make_usdm(settings, timeout_s=settings.source_timeout_s, with_keys=True, keys=keys)
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
    """Reads one USD-M account through ccxt; every failure is a shared.errors.SourceError."""

    def __init__(self, settings: Settings, exchange: ccxt.binanceusdm | None = None,
                 account: AccountConfig | None = None) -> None:
        self.settings = settings
        self.account = account or AccountConfig.default(settings)
        self.timeout_s = settings.source_timeout_s
        self.exchange = exchange or make_account_client(settings, self.account)
        self.redactor = RedactingFilter([*settings.secret_values(), *self.account.secret_values()])
        self.has_keys = self.account.keys is not None
        self._config: tuple[AccountMode, bool] | None = None
        self._config_at = -math.inf   # monotonic

    def call(self, what: str, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """One raw signed call (`method` is ccxt's implicit API name), errors mapped."""
        with ccxt_errors(what, self.timeout_s, self.redactor, self.exchange, self.account.keys_hint):
            return getattr(self.exchange, method)(dict(params or {}))

    def fetch(self) -> AccountSnapshot:
        if not self.has_keys:
            raise SourceUnavailable(SOURCE, self.account.missing_keys_reason(self.settings.mode))
        raw = self.call(ACCOUNT_CALL, "fapiPrivateV3GetAccount")
        ts = time.time()
        risk = self.call(POSITIONS_CALL, "fapiPrivateV3GetPositionRisk")
        return parse_account(raw, risk, self._mode(), ts)

    def _mode(self) -> tuple[AccountMode, bool]:
        now = time.monotonic()
        if self._config is None or now - self._config_at >= CONFIG_EVERY_S:
            self._config = parse_account_config(self.call(CONFIG_CALL, "fapiPrivateGetAccountConfig"))
            self._config_at = now
        return self._config

    def close(self) -> None:
        session = getattr(self.exchange, "session", None)
        if session is not None:
            session.close()

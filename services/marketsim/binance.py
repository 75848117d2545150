"""Binance REST payloads (USD-M futures and spot), shaped as Binance sends them and ccxt parses them.

Pure builders: they take specs, observed prices and account views and return JSON-ready
objects. Numbers are strings with Binance's fixed decimals, times are epoch milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping

from services.marketsim.account import AccountView, AssetView, PositionView
from services.marketsim.faults import STALE_AGE_S, Observed
from services.marketsim.income import FUNDING_RATE
from services.marketsim.prices import Session
from services.marketsim.specs import CONTRACT_BY_SYMBOL, CONTRACTS, QUOTE, SPOT, AssetSpec, ContractSpec, delivery_ms
from shared.contracts.vocabulary import USD_PAR_ASSET

ONBOARD_MS = 1_569_398_400_000
FUNDING_INTERVAL_MS = 8 * 3600 * 1000

ModesFor = Callable[[str], Collection[str]]


def num(value: float, decimals: int = 8) -> str:
    return f"{value:.{decimals}f}"


def error_body(code: int, msg: str) -> dict:
    return {"code": code, "msg": msg}


def _rate_limits() -> list[dict]:
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
    ]


# --- USD-M futures -----------------------------------------------------------------------------

def futures_symbol(contract: ContractSpec, *, listed: bool) -> dict:
    f = contract.futures
    status = contract.status if listed else "SETTLING"
    return {
        "symbol": contract.symbol, "pair": contract.pair, "contractType": contract.contract_type,
        "deliveryDate": delivery_ms(contract), "onboardDate": ONBOARD_MS,
        "status": status,
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": contract.base_asset, "quoteAsset": contract.quote, "marginAsset": contract.margin,
        "pricePrecision": f.price_precision, "quantityPrecision": f.quantity_precision,
        "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "underlyingSubType": [], "settlePlan": 0,
        "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": f.tick_size, "maxPrice": "4529764", "tickSize": f.tick_size},
            {"filterType": "LOT_SIZE", "minQty": f.min_qty, "maxQty": f.max_qty, "stepSize": f.step_size},
            {"filterType": "MARKET_LOT_SIZE", "minQty": f.min_qty, "maxQty": f.market_max_qty,
             "stepSize": f.step_size},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": f.min_notional},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                       "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


MARGIN_ASSETS = (("USDT", "-10000"), ("BTC", "-0.10000000"), ("USDC", "-5000"), ("BNFCR", "-10000"))
"""exchangeInfo `assets`: the margin assets and their auto-exchange thresholds."""


def futures_exchange_info(now_ms: int, modes_for: ModesFor) -> dict:
    return {
        "timezone": "UTC", "serverTime": now_ms, "futuresType": "U_MARGINED",
        "rateLimits": _rate_limits(), "exchangeFilters": [],
        "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": x} for a, x in MARGIN_ASSETS],
        "symbols": [futures_symbol(c, listed="delisted" not in modes_for(c.asset)) for c in CONTRACTS],
    }


def premium_index(contract: ContractSpec, obs: Observed, index_px: float, now_ms: int) -> dict:
    decimals = 8
    next_funding = (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
    index = 0.0 if obs.px == 0 else index_px
    dated = contract.contract_type != "PERPETUAL"
    return {
        "symbol": contract.symbol, "markPrice": num(obs.px, decimals),
        "indexPrice": num(index, decimals),
        "estimatedSettlePrice": num(index, decimals),
        # Dated contracts pay no funding: Binance answers an empty rate and a zero next funding time.
        "lastFundingRate": "" if dated else num(FUNDING_RATE, 8),
        "interestRate": "" if dated else "0.00010000",
        "nextFundingTime": 0 if dated else next_funding, "time": int(obs.ts * 1000),
    }


def leverage_brackets() -> list[dict]:
    out = []
    for contract in CONTRACTS:
        out.append({"symbol": contract.symbol, "notionalCoef": 1.0, "brackets": [
            {"bracket": i + 1, "initialLeverage": b.leverage, "notionalCap": int(b.cap),
             "notionalFloor": int(b.floor), "maintMarginRatio": b.maint_ratio, "cum": b.cum}
            for i, b in enumerate(contract.futures.brackets)]})
    return out


def _position_mark(row: PositionView, modes: Collection[str]) -> float:
    return 0.0 if "zero" in modes else row.mark


def _update_ms(view: AccountView, now_ms: int, modes: Collection[str]) -> int:
    """Binance's updateTime: the last change; under a `stale` fault, well in the past."""
    if "stale" in modes:
        return now_ms - int(STALE_AGE_S * 1000)
    return view.update_ms


def position_risk(view: AccountView, now_ms: int, modes_for: ModesFor, *, v2: bool = False) -> list[dict]:
    out = []
    for row in view.positions:
        pos = row.position
        modes = modes_for(CONTRACT_BY_SYMBOL[pos.market].asset)
        entry = {
            "symbol": pos.market, "positionSide": pos.side, "positionAmt": num(pos.amount, 3),
            "entryPrice": num(pos.entry_price, 8),
            "breakEvenPrice": num(pos.entry_price * (1 + 0.0004 * _sign(pos.amount)), 8),
            "markPrice": num(_position_mark(row, modes), 8), "unRealizedProfit": num(row.upnl, 8),
            "liquidationPrice": num(row.liquidation_price, 8), "isolatedMargin": "0", "notional": num(row.notional, 8),
            "marginAsset": pos.margin_asset, "isolatedWallet": "0", "initialMargin": num(row.initial_margin, 8),
            "maintMargin": num(row.maint_margin, 8), "positionInitialMargin": num(row.initial_margin, 8),
            "openOrderInitialMargin": "0", "adl": 2, "bidNotional": "0", "askNotional": "0",
            "updateTime": _update_ms(view, now_ms, modes),
        }
        if v2:
            entry.update({"leverage": str(pos.leverage), "maxNotionalValue": "5000000", "marginType": "cross",
                          "isAutoAddMargin": "false", "isolated": False, "adlQuantile": 2})
        out.append(entry)
    return out


def _sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0


def _asset_row(view: AccountView, a: AssetView, update_ms: int) -> dict:
    # In multi-assets mode every asset can draw on the account's USD availability (Binance shows it
    # per asset in that asset's units); in single-asset mode each asset stands alone.
    if view.multi_assets:
        price = 1.0 if a.asset == USD_PAR_ASSET else view.usd.get(a.asset, 1.0)
        available = view.totals.available / price
    else:
        available = a.available
    return {
        "asset": a.asset, "walletBalance": num(a.wallet), "unrealizedProfit": num(a.upnl),
        "marginBalance": num(a.margin_balance), "maintMargin": num(a.maint_margin),
        "initialMargin": num(a.initial_margin), "positionInitialMargin": num(a.initial_margin),
        "openOrderInitialMargin": "0.00000000", "crossWalletBalance": num(a.wallet),
        "crossUnPnl": num(a.upnl), "availableBalance": num(available),
        "maxWithdrawAmount": num(max(0.0, min(available, a.wallet))), "marginAvailable": True,
        # An asset never used shows updateTime 0 on Binance (and ccxt skips it).
        "updateTime": update_ms if (a.wallet or a.upnl) else 0,
    }


def balance_assets(view: AccountView, now_ms: int, stale: bool) -> list[dict]:
    update = now_ms - int(STALE_AGE_S * 1000) if stale else view.update_ms
    return [_asset_row(view, a, update) for a in view.assets]


def account(view: AccountView, now_ms: int, modes_for: ModesFor, *, v2: bool = False) -> dict:
    """`/fapi/v3/account` (or v2): the `total*` fields as the margin mode defines them (see account.py)."""
    stale = "stale" in modes_for("")
    t = view.totals
    out = {
        "totalInitialMargin": num(t.initial_margin), "totalMaintMargin": num(t.maint_margin),
        "totalWalletBalance": num(t.wallet), "totalUnrealizedProfit": num(t.upnl),
        "totalMarginBalance": num(t.margin_balance), "totalPositionInitialMargin": num(t.initial_margin),
        "totalOpenOrderInitialMargin": "0.00000000", "totalCrossWalletBalance": num(t.wallet),
        "totalCrossUnPnl": num(t.upnl), "availableBalance": num(t.available),
        "maxWithdrawAmount": num(max(0.0, min(t.available, t.wallet))),
        "assets": balance_assets(view, now_ms, stale),
        "positions": [
            {"symbol": p["symbol"], "positionSide": p["positionSide"], "positionAmt": p["positionAmt"],
             "unrealizedProfit": p["unRealizedProfit"], "isolatedMargin": "0", "notional": p["notional"],
             "isolatedWallet": "0", "initialMargin": p["initialMargin"], "maintMargin": p["maintMargin"],
             "updateTime": p["updateTime"]}
            | ({"leverage": str(row.position.leverage), "entryPrice": p["entryPrice"],
                "positionInitialMargin": p["initialMargin"], "openOrderInitialMargin": "0",
                "isolated": False, "breakEvenPrice": p["breakEvenPrice"], "maxNotional": "5000000",
                "bidNotional": "0", "askNotional": "0"} if v2 else {})
            for p, row in zip(position_risk(view, now_ms, modes_for), view.positions, strict=True)
        ],
    }
    if v2:
        out.update({"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                    "feeBurn": False, "tradeGroupId": -1, "updateTime": 0, "multiAssetsMargin": view.multi_assets})
    return out


def futures_balance(view: AccountView, now_ms: int, modes_for: ModesFor) -> list[dict]:
    out = []
    for a in balance_assets(view, now_ms, "stale" in modes_for("")):
        out.append({"accountAlias": "SgsR", "asset": a["asset"], "balance": a["walletBalance"],
                    "crossWalletBalance": a["crossWalletBalance"], "crossUnPnl": a["crossUnPnl"],
                    "availableBalance": a["availableBalance"], "maxWithdrawAmount": a["maxWithdrawAmount"],
                    "marginAvailable": True, "updateTime": a["updateTime"]})
    return out


def position_mode(view: AccountView) -> dict:
    """`/fapi/v1/positionSide/dual`: true in hedge mode."""
    return {"dualSidePosition": view.hedge}


def multi_assets_mode(view: AccountView) -> dict:
    """`/fapi/v1/multiAssetsMargin`: true in multi-assets mode."""
    return {"multiAssetsMargin": view.multi_assets}


# --- spot ----------------------------------------------------------------------------------------

def spot_symbol(spec: AssetSpec, *, listed: bool) -> dict:
    s = spec.spot
    assert s is not None
    return {
        "symbol": spec.market, "status": "TRADING" if listed else "BREAK",
        "baseAsset": spec.asset, "baseAssetPrecision": s.base_precision,
        "quoteAsset": QUOTE, "quotePrecision": s.quote_precision, "quoteAssetPrecision": s.quote_precision,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True, "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": True,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": s.tick_size, "maxPrice": "1000000.00000000",
             "tickSize": s.tick_size},
            {"filterType": "LOT_SIZE", "minQty": s.min_qty, "maxQty": "9000.00000000", "stepSize": s.step_size},
            {"filterType": "NOTIONAL", "minNotional": s.min_notional, "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def spot_exchange_info(now_ms: int, modes_for: ModesFor) -> dict:
    return {
        "timezone": "UTC", "serverTime": now_ms, "rateLimits": _rate_limits(), "exchangeFilters": [],
        "symbols": [spot_symbol(s, listed="delisted" not in modes_for(s.asset)) for s in SPOT],
    }


def ticker_24hr(spec: AssetSpec, obs: Observed, session: Session, start_ms: int) -> dict:
    px = obs.px
    spread = px * 0.5e-4
    close_ms = int(obs.ts * 1000)
    change = px - session.open if px else 0.0
    return {
        "symbol": spec.market, "priceChange": num(change),
        "priceChangePercent": num(100 * change / session.open if px else 0.0, 3),
        "weightedAvgPrice": num((session.high + session.low) / 2 if px else 0.0),
        "prevClosePrice": num(session.open), "lastPrice": num(px), "lastQty": "0.01000000",
        "bidPrice": num(max(0.0, px - spread)), "bidQty": "3.21000000",
        "askPrice": num(px + spread if px else 0.0), "askQty": "2.54000000",
        "openPrice": num(session.open), "highPrice": num(max(session.high, px)),
        "lowPrice": num(min(session.low, px) if px else session.low),
        "volume": "12345.67800000", "quoteVolume": num(12345.678 * (px or session.open), 2),
        "openTime": max(start_ms, close_ms - 86_400_000), "closeTime": close_ms,
        "firstId": 1, "lastId": 1000, "count": 1000,
    }


def unknown_symbol_error() -> dict:
    return error_body(-1121, "Invalid symbol.")


def rate_limit_body(status: int, banned_until_ms: int) -> dict:
    if status == 418:
        return error_body(-1003, f"Way too many requests; IP(127.0.0.1) banned until {banned_until_ms}. "
                                 "Please use the websocket for live updates to avoid bans.")
    return error_body(-1003, "Too many requests; current limit of IP(127.0.0.1) request weight is 2400 per "
                             "minute. Please use the websocket for live updates to avoid polling the API.")


def named_markets(params: Mapping[str, str]) -> list[str] | None:
    """Market ids a request names through `symbol=` or `symbols=["A","B"]`; None for "all"."""
    if params.get("symbol"):
        return [params["symbol"].upper()]
    raw = params.get("symbols")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError(f"symbols is {raw!r}, not a JSON array of symbols") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"symbols is {raw!r}, not a JSON array of symbols")
    return [v.upper() for v in value]

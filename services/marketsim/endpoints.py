"""marketsim's REST endpoints: which source each belongs to, what it names, and its answer.

Each endpoint is a pure function of (snapshot, query params, request faults) -> Reply; the
HTTP handler (server.py) applies request-level faults (down, slow, 429/418) before calling it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from services.marketsim import binance, coingecko
from services.marketsim.faults import Observed, RequestFaults, observe
from services.marketsim.specs import BY_COINGECKO_ID, FUTURES, SPOT, AssetSpec
from services.marketsim.state import Snapshot


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: object
    headers: dict[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    """The request itself is wrong (unknown symbol, bad parameter): answer with `reply`."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply.body))
        self.reply = reply


Params = Mapping[str, str]
Build = Callable[[Snapshot, Params, RequestFaults], Reply]
Named = Callable[[Params], list[str] | None]


@dataclass(frozen=True, slots=True)
class Endpoint:
    source: str                       # mark / spot / coingecko / account
    covers: tuple[str, ...]           # assets an unfiltered answer includes
    named: Named                      # assets the request names (None: all of `covers`)
    build: Build
    private: bool = False             # needs an X-MBX-APIKEY header (any value)


def _ms(t: float) -> int:
    return int(t * 1000)


def _none(_params: Params) -> list[str] | None:
    return None


def _binance_named(markets: Mapping[str, AssetSpec]) -> Named:
    def named(params: Params) -> list[str] | None:
        try:
            ids = binance.named_markets(params)
        except ValueError as exc:
            raise BadRequest(Reply(400, binance.error_body(-1100, f"Illegal characters found in parameter "
                                                                  f"'symbols'; {exc}."))) from None
        if ids is None:
            return None
        unknown = [i for i in ids if i not in markets]
        if unknown:
            raise BadRequest(Reply(400, binance.unknown_symbol_error()))
        return [markets[i].asset for i in ids]
    return named


_FUTURES_BY_MARKET = {s.market: s for s in FUTURES}
_SPOT_BY_MARKET = {s.market: s for s in SPOT}


def _observed(snap: Snapshot, spec: AssetSpec, source: str, rf: RequestFaults) -> Observed:
    return observe(snap.price(spec.asset, source), snap.now, rf.modes_for(spec.asset))


def _list_or_single(params: Params, items: list[dict]) -> Reply:
    """Binance answers `symbol=X` with an object, otherwise with a list."""
    if params.get("symbol"):
        if not items:  # asked for one market that is not (or no longer) listed
            return Reply(400, binance.unknown_symbol_error())
        return Reply(200, items[0])
    return Reply(200, items)


def _selected(specs: tuple[AssetSpec, ...], snap_named: list[str] | None, rf: RequestFaults) -> list[AssetSpec]:
    wanted = set(snap_named) if snap_named is not None else None
    return [s for s in specs if (wanted is None or s.asset in wanted) and s.asset not in rf.omit]


# --- futures ----------------------------------------------------------------------------------------

def premium_index(snap: Snapshot, params: Params, rf: RequestFaults) -> Reply:
    named = _binance_named(_FUTURES_BY_MARKET)(params)
    items = []
    for spec in _selected(FUTURES, named, rf):
        obs = _observed(snap, spec, "mark", rf)
        if obs.listed:
            items.append(binance.premium_index(spec, obs, snap.price(spec.asset, "index"), _ms(snap.now)))
    return _list_or_single(params, items)


def futures_exchange_info(snap: Snapshot, _params: Params, rf: RequestFaults) -> Reply:
    return Reply(200, binance.futures_exchange_info(_ms(snap.now), rf.modes_for))


def server_time(snap: Snapshot, _params: Params, _rf: RequestFaults) -> Reply:
    return Reply(200, {"serverTime": _ms(snap.now)})


def ping(_snap: Snapshot, _params: Params, _rf: RequestFaults) -> Reply:
    return Reply(200, {})


def account_v3(snap: Snapshot, _params: Params, rf: RequestFaults) -> Reply:
    return Reply(200, binance.account(snap.account, _ms(snap.now), rf.modes_for))


def account_v2(snap: Snapshot, _params: Params, rf: RequestFaults) -> Reply:
    return Reply(200, binance.account(snap.account, _ms(snap.now), rf.modes_for, v2=True))


def account_config(_snap: Snapshot, _params: Params, _rf: RequestFaults) -> Reply:
    """GET /fapi/v1/accountConfig: the simulated account is single-asset, one-way (nav reads its mode here)."""
    return Reply(200, {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                       "dualSidePosition": False, "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1})


def _positions(snap: Snapshot, params: Params, rf: RequestFaults, *, v2: bool) -> Reply:
    rows = binance.position_risk(snap.account, _ms(snap.now), rf.modes_for, v2=v2)
    if params.get("symbol"):
        wanted = params["symbol"].upper()
        if wanted not in _FUTURES_BY_MARKET:
            return Reply(400, binance.unknown_symbol_error())
        rows = [r for r in rows if r["symbol"] == wanted]
    return Reply(200, rows)


def position_risk_v3(snap: Snapshot, params: Params, rf: RequestFaults) -> Reply:
    return _positions(snap, params, rf, v2=False)


def position_risk_v2(snap: Snapshot, params: Params, rf: RequestFaults) -> Reply:
    return _positions(snap, params, rf, v2=True)


def futures_balance(snap: Snapshot, _params: Params, rf: RequestFaults) -> Reply:
    return Reply(200, binance.futures_balance(snap.account, _ms(snap.now), rf.modes_for))


def leverage_bracket(_snap: Snapshot, params: Params, _rf: RequestFaults) -> Reply:
    rows = binance.leverage_brackets()
    if params.get("symbol"):
        rows = [r for r in rows if r["symbol"] == params["symbol"].upper()]
        if not rows:
            return Reply(400, binance.unknown_symbol_error())
        return Reply(200, rows[0])
    return Reply(200, rows)


# --- spot -----------------------------------------------------------------------------------------

def spot_exchange_info(snap: Snapshot, _params: Params, rf: RequestFaults) -> Reply:
    return Reply(200, binance.spot_exchange_info(_ms(snap.now), rf.modes_for))


def spot_ticker_24hr(snap: Snapshot, params: Params, rf: RequestFaults) -> Reply:
    named = _binance_named(_SPOT_BY_MARKET)(params)
    items = []
    for spec in _selected(SPOT, named, rf):
        obs = _observed(snap, spec, "spot", rf)
        if obs.listed:
            items.append(binance.ticker_24hr(spec, obs, snap.sessions[spec.asset], _ms(snap.start)))
    return _list_or_single(params, items)


def spot_ticker_price(snap: Snapshot, params: Params, rf: RequestFaults) -> Reply:
    named = _binance_named(_SPOT_BY_MARKET)(params)
    items = []
    for spec in _selected(SPOT, named, rf):
        obs = _observed(snap, spec, "spot", rf)
        if obs.listed:
            items.append({"symbol": spec.market, "price": binance.num(obs.px)})
    return _list_or_single(params, items)


# --- CoinGecko --------------------------------------------------------------------------------------

def _coingecko_named(params: Params) -> list[str] | None:
    ids = coingecko.parse_list(params.get("ids"))
    if not ids:
        raise BadRequest(Reply(400, coingecko.error_body("Missing parameter ids")))
    if not coingecko.parse_list(params.get("vs_currencies")):
        raise BadRequest(Reply(400, coingecko.error_body("Missing parameter vs_currencies")))
    # Unknown ids are not an error on CoinGecko: they are simply absent from the answer.
    return [BY_COINGECKO_ID[i].asset for i in ids if i in BY_COINGECKO_ID]


def simple_price(snap: Snapshot, params: Params, rf: RequestFaults) -> Reply:
    ids = coingecko.parse_list(params.get("ids"))
    vs = coingecko.parse_list(params.get("vs_currencies"))
    with_updated = coingecko.is_truthy(params, "include_last_updated_at")
    out = {}
    for cg_id in ids:
        spec = BY_COINGECKO_ID.get(cg_id)
        if spec is None or spec.asset in rf.omit:
            continue
        obs = _observed(snap, spec, "coingecko", rf)
        if obs.listed:
            out[cg_id] = coingecko.simple_price_entry(obs, snap.usd_zar, vs, with_updated)
    return Reply(200, out)


# --- the table -------------------------------------------------------------------------------------

_F = tuple(s.asset for s in FUTURES)
_S = tuple(s.asset for s in SPOT)
_CG = tuple(s.asset for s in BY_COINGECKO_ID.values())

ROUTES: dict[str, Endpoint] = {
    "/fapi/v1/ping": Endpoint("mark", (), _none, ping),
    "/fapi/v1/time": Endpoint("mark", (), _none, server_time),
    "/fapi/v1/exchangeInfo": Endpoint("mark", _F, _none, futures_exchange_info),
    "/fapi/v1/premiumIndex": Endpoint("mark", _F, _binance_named(_FUTURES_BY_MARKET), premium_index),
    "/fapi/v3/account": Endpoint("account", _F, _none, account_v3, private=True),
    "/fapi/v2/account": Endpoint("account", _F, _none, account_v2, private=True),
    "/fapi/v1/accountConfig": Endpoint("account", (), _none, account_config, private=True),
    "/fapi/v3/positionRisk": Endpoint("account", _F, _none, position_risk_v3, private=True),
    "/fapi/v2/positionRisk": Endpoint("account", _F, _none, position_risk_v2, private=True),
    "/fapi/v3/balance": Endpoint("account", (), _none, futures_balance, private=True),
    "/fapi/v2/balance": Endpoint("account", (), _none, futures_balance, private=True),
    "/fapi/v1/leverageBracket": Endpoint("account", _F, _none, leverage_bracket, private=True),
    "/api/v3/ping": Endpoint("spot", (), _none, ping),
    "/api/v3/time": Endpoint("spot", (), _none, server_time),
    "/api/v3/exchangeInfo": Endpoint("spot", _S, _none, spot_exchange_info),
    "/api/v3/ticker/24hr": Endpoint("spot", _S, _binance_named(_SPOT_BY_MARKET), spot_ticker_24hr),
    "/api/v3/ticker/price": Endpoint("spot", _S, _binance_named(_SPOT_BY_MARKET), spot_ticker_price),
    "/api/v3/simple/price": Endpoint("coingecko", _CG, _coingecko_named, simple_price),
}
"""Path -> endpoint. All are GET. Spot and CoinGecko share the `/api/v3` prefix without clashing."""

"""marketsim's REST endpoints: which source each belongs to, what it names, and its answer.

Each endpoint is a pure function of (snapshot, call) -> Reply, where the call carries the query
params, the request's faults and the account its API key selects; the HTTP handler (server.py)
applies request-level faults (down, slow, 429/418) and the API-key check before calling it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from services.marketsim import binance, coingecko
from services.marketsim.account import AccountView
from services.marketsim.faults import Observed, RequestFaults, observe
from services.marketsim.income import IncomeQueryError, parse_income_query
from services.marketsim.specs import BY_COINGECKO_ID, CONTRACT_BY_SYMBOL, CONTRACTS, SPOT, AssetSpec, ContractSpec
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


@dataclass(frozen=True, slots=True)
class Call:
    """One request as an endpoint sees it: query params, the faults it suffers, the account of its key."""

    params: Params
    rf: RequestFaults = field(default_factory=RequestFaults)
    account: str = "main"
    income: Callable[..., list[dict]] | None = None   # SimState.income, for /fapi/v1/income

    def view(self, snap: Snapshot) -> AccountView:
        return snap.accounts[self.account]


Build = Callable[[Snapshot, Call], Reply]
Named = Callable[[Params], list[str] | None]


@dataclass(frozen=True, slots=True)
class Endpoint:
    source: str                       # mark / spot / coingecko / account
    covers: tuple[str, ...]           # assets an unfiltered answer includes
    named: Named                      # assets the request names (None: all of `covers`)
    build: Build
    private: bool = False             # needs the X-MBX-APIKEY of a simulated account
    weight: int | Callable[[Params], int] = 1   # Binance's documented request weight

    def weight_of(self, params: Params) -> int:
        return self.weight(params) if callable(self.weight) else self.weight

    @property
    def api(self) -> str | None:
        """Which Binance weight counter the endpoint spends from (None: not Binance)."""
        return {"mark": "fapi", "account": "fapi", "spot": "api"}.get(self.source)


def _ms(t: float) -> int:
    return int(t * 1000)


def _none(_params: Params) -> list[str] | None:
    return None


def _binance_named(markets: Mapping[str, AssetSpec | ContractSpec]) -> Named:
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


def _contracts(params: Params, rf: RequestFaults) -> list[ContractSpec]:
    ids = binance.named_markets(params)
    wanted = set(ids) if ids is not None else None
    return [c for c in CONTRACTS if (wanted is None or c.symbol in wanted) and c.asset not in rf.omit]


# --- futures ----------------------------------------------------------------------------------------

def premium_index(snap: Snapshot, call: Call) -> Reply:
    items = []
    for contract in _contracts(call.params, call.rf):
        obs = observe(snap.marks[contract.symbol], snap.now, call.rf.modes_for(contract.asset))
        if obs.listed:
            index = snap.price(contract.asset, "index") * snap.marks[contract.symbol] \
                / snap.price(contract.asset, "mark")
            items.append(binance.premium_index(contract, obs, index, _ms(snap.now)))
    return _list_or_single(call.params, items)


def futures_exchange_info(snap: Snapshot, call: Call) -> Reply:
    return Reply(200, binance.futures_exchange_info(_ms(snap.now), call.rf.modes_for))


def server_time(snap: Snapshot, _call: Call) -> Reply:
    return Reply(200, {"serverTime": _ms(snap.now)})


def ping(_snap: Snapshot, _call: Call) -> Reply:
    return Reply(200, {})


def account_v3(snap: Snapshot, call: Call) -> Reply:
    return Reply(200, binance.account(call.view(snap), _ms(snap.now), call.rf.modes_for))


def account_v2(snap: Snapshot, call: Call) -> Reply:
    return Reply(200, binance.account(call.view(snap), _ms(snap.now), call.rf.modes_for, v2=True))


def _positions(snap: Snapshot, call: Call, *, v2: bool) -> Reply:
    rows = binance.position_risk(call.view(snap), _ms(snap.now), call.rf.modes_for, v2=v2)
    if call.params.get("symbol"):
        wanted = call.params["symbol"].upper()
        if wanted not in CONTRACT_BY_SYMBOL:
            return Reply(400, binance.unknown_symbol_error())
        rows = [r for r in rows if r["symbol"] == wanted]
    return Reply(200, rows)


def position_risk_v3(snap: Snapshot, call: Call) -> Reply:
    return _positions(snap, call, v2=False)


def position_risk_v2(snap: Snapshot, call: Call) -> Reply:
    return _positions(snap, call, v2=True)


def futures_balance(snap: Snapshot, call: Call) -> Reply:
    return Reply(200, binance.futures_balance(call.view(snap), _ms(snap.now), call.rf.modes_for))


def position_mode(snap: Snapshot, call: Call) -> Reply:
    return Reply(200, binance.position_mode(call.view(snap)))


def multi_assets_mode(snap: Snapshot, call: Call) -> Reply:
    return Reply(200, binance.multi_assets_mode(call.view(snap)))


def account_config(snap: Snapshot, call: Call) -> Reply:
    """`/fapi/v1/accountConfig` (weight 5): both mode flags in one answer; the nav service reads the mode here."""
    view = call.view(snap)
    return Reply(200, {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                       **binance.position_mode(view), "updateTime": 0, **binance.multi_assets_mode(view),
                       "tradeGroupId": -1})


def income_history(snap: Snapshot, call: Call) -> Reply:
    try:
        query = parse_income_query(call.params, _ms(snap.now))
    except IncomeQueryError as exc:
        return Reply(400, binance.error_body(exc.code, str(exc)))
    assert call.income is not None, "the server passes SimState.income"
    return Reply(200, call.income(call.account, query))


def leverage_bracket(_snap: Snapshot, call: Call) -> Reply:
    rows = binance.leverage_brackets()
    if call.params.get("symbol"):
        rows = [r for r in rows if r["symbol"] == call.params["symbol"].upper()]
        if not rows:
            return Reply(400, binance.unknown_symbol_error())
        return Reply(200, rows[0])
    return Reply(200, rows)


# --- spot -----------------------------------------------------------------------------------------

def spot_exchange_info(snap: Snapshot, call: Call) -> Reply:
    return Reply(200, binance.spot_exchange_info(_ms(snap.now), call.rf.modes_for))


def spot_ticker_24hr(snap: Snapshot, call: Call) -> Reply:
    named = _binance_named(_SPOT_BY_MARKET)(call.params)
    items = []
    for spec in _selected(SPOT, named, call.rf):
        obs = _observed(snap, spec, "spot", call.rf)
        if obs.listed:
            items.append(binance.ticker_24hr(spec, obs, snap.sessions[spec.asset], _ms(snap.start)))
    return _list_or_single(call.params, items)


def spot_ticker_price(snap: Snapshot, call: Call) -> Reply:
    named = _binance_named(_SPOT_BY_MARKET)(call.params)
    items = []
    for spec in _selected(SPOT, named, call.rf):
        obs = _observed(snap, spec, "spot", call.rf)
        if obs.listed:
            items.append({"symbol": spec.market, "price": binance.num(obs.px)})
    return _list_or_single(call.params, items)


# --- CoinGecko --------------------------------------------------------------------------------------

def _coingecko_named(params: Params) -> list[str] | None:
    ids = coingecko.parse_list(params.get("ids"))
    if not ids:
        raise BadRequest(Reply(400, coingecko.error_body("Missing parameter ids")))
    if not coingecko.parse_list(params.get("vs_currencies")):
        raise BadRequest(Reply(400, coingecko.error_body("Missing parameter vs_currencies")))
    # Unknown ids are not an error on CoinGecko: they are simply absent from the answer.
    return [BY_COINGECKO_ID[i].asset for i in ids if i in BY_COINGECKO_ID]


def simple_price(snap: Snapshot, call: Call) -> Reply:
    params, rf = call.params, call.rf
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
            # The `untimed` fault: CoinGecko's answer carries no last_updated_at even when asked for.
            timed = with_updated and "untimed" not in rf.modes_for(spec.asset)
            out[cg_id] = coingecko.simple_price_entry(obs, snap.usd_zar, vs, timed)
    return Reply(200, out)


# --- the table -------------------------------------------------------------------------------------

def _one_or_all(one: int, every: int) -> Callable[[Params], int]:
    return lambda params: one if params.get("symbol") else every


def _ticker_weight(params: Params) -> int:
    """Spot /ticker/24hr: 2 for one symbol or up to 20, 40 up to 100, 80 for all."""
    if params.get("symbol"):
        return 2
    named = binance.named_markets(params) if params.get("symbols") else None
    if named is None:
        return 80
    return 2 if len(named) <= 20 else 40 if len(named) <= 100 else 80


_F = tuple(sorted({c.asset for c in CONTRACTS}))
_S = tuple(s.asset for s in SPOT)
_CG = tuple(s.asset for s in BY_COINGECKO_ID.values())

ROUTES: dict[str, Endpoint] = {
    "/fapi/v1/ping": Endpoint("mark", (), _none, ping),
    "/fapi/v1/time": Endpoint("mark", (), _none, server_time),
    "/fapi/v1/exchangeInfo": Endpoint("mark", _F, _none, futures_exchange_info),
    "/fapi/v1/premiumIndex": Endpoint("mark", _F, _binance_named(CONTRACT_BY_SYMBOL), premium_index,
                                      weight=_one_or_all(1, 10)),
    "/fapi/v3/account": Endpoint("account", _F, _none, account_v3, private=True, weight=5),
    "/fapi/v2/account": Endpoint("account", _F, _none, account_v2, private=True, weight=5),
    "/fapi/v1/accountConfig": Endpoint("account", (), _none, account_config, private=True, weight=5),
    "/fapi/v3/positionRisk": Endpoint("account", _F, _none, position_risk_v3, private=True, weight=5),
    "/fapi/v2/positionRisk": Endpoint("account", _F, _none, position_risk_v2, private=True, weight=5),
    "/fapi/v3/balance": Endpoint("account", (), _none, futures_balance, private=True, weight=5),
    "/fapi/v2/balance": Endpoint("account", (), _none, futures_balance, private=True, weight=5),
    "/fapi/v1/leverageBracket": Endpoint("account", _F, _none, leverage_bracket, private=True, weight=1),
    "/fapi/v1/positionSide/dual": Endpoint("account", (), _none, position_mode, private=True, weight=30),
    "/fapi/v1/multiAssetsMargin": Endpoint("account", (), _none, multi_assets_mode, private=True, weight=30),
    "/fapi/v1/income": Endpoint("account", (), _none, income_history, private=True, weight=30),
    "/api/v3/ping": Endpoint("spot", (), _none, ping),
    "/api/v3/time": Endpoint("spot", (), _none, server_time),
    "/api/v3/exchangeInfo": Endpoint("spot", _S, _none, spot_exchange_info, weight=20),
    "/api/v3/ticker/24hr": Endpoint("spot", _S, _binance_named(_SPOT_BY_MARKET), spot_ticker_24hr,
                                    weight=_ticker_weight),
    "/api/v3/ticker/price": Endpoint("spot", _S, _binance_named(_SPOT_BY_MARKET), spot_ticker_price,
                                     weight=_one_or_all(2, 4)),
    "/api/v3/simple/price": Endpoint("coingecko", _CG, _coingecko_named, simple_price),
}
"""Path -> endpoint. All are GET. Spot and CoinGecko share the `/api/v3` prefix without clashing.
Weights are Binance's documented request weights (USD-M and spot API docs)."""

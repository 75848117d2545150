"""The HTTP side of marketsim: a threaded stdlib server, request-level faults, the /_sim control API.

Routes come from endpoints.ROUTES; this module only turns HTTP into (path, params) and a
Reply back into bytes, applies down/slow/429/418 first, and serves the /_sim control API:
/_sim/faults (GET/POST/DELETE), /_sim/state, /_sim/accounts and POST /_sim/transfer.
The X-MBX-APIKEY header selects the simulated account (specs.DEFAULT_ACCOUNTS); an unknown key
gets Binance's -2015 with HTTP 401. API keys are never logged or echoed.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson

from services.marketsim import binance, coingecko
from services.marketsim.endpoints import ROUTES, BadRequest, Call, Endpoint, Reply
from services.marketsim.faults import SOURCES, FaultError, RequestFaults, parse_fault
from services.marketsim.state import SimError, SimState

log = logging.getLogger("marketsim.http")

FAULTS_PATH = "/_sim/faults"
STATE_PATH = "/_sim/state"
ACCOUNTS_PATH = "/_sim/accounts"
TRANSFER_PATH = "/_sim/transfer"
MAX_BODY = 64 * 1024


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: SimState, stop: threading.Event) -> None:
        super().__init__(address, SimHandler)
        self.sim = sim
        self.stop = stop


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "marketsim/1"
    timeout = 30  # an idle keep-alive connection gives its thread back after this
    server: SimServer

    # --- verbs -----------------------------------------------------------------------------------
    def do_GET(self) -> None:  # http.server's naming
        path, params = self._target()
        if path == FAULTS_PATH:
            self._send(Reply(200, {"faults": [f.to_dict() for f in self.server.sim.faults.faults]}))
        elif path == STATE_PATH:
            self._send(Reply(200, sim_state_doc(self.server.sim)))
        elif path == ACCOUNTS_PATH:
            self._send(Reply(200, accounts_doc(self.server.sim)))
        elif path in ROUTES:
            self._serve(ROUTES[path], params)
        else:
            self._send(Reply(404, binance.error_body(-5000, f"Path {path}, Method GET is invalid")))

    def do_POST(self) -> None:
        path, _ = self._target()
        if path == FAULTS_PATH:
            self._send(self._post_fault())
        elif path == TRANSFER_PATH:
            self._send(self._post_transfer())
        else:
            self._send(Reply(404, binance.error_body(-5000, f"Path {path}, Method POST is invalid")))

    def do_DELETE(self) -> None:
        path, params = self._target()
        if path != FAULTS_PATH:
            self._send(Reply(404, binance.error_body(-5000, f"Path {path}, Method DELETE is invalid")))
            return
        source = params.get("source") or None
        if source is not None and source not in SOURCES:
            self._send(Reply(400, {"error": f"source is {source!r}; expected one of {', '.join(SOURCES)}",
                                   "field": "source"}))
            return
        before = len(self.server.sim.faults.faults)
        after = self.server.sim.clear_faults(source)
        cleared = before - len(after.faults)
        log.warning("faults cleared (%s): %d removed, %d still active",
                    source or "all sources", cleared, len(after.faults))
        self._send(Reply(200, {"cleared": cleared, "faults": [f.to_dict() for f in after.faults]}))

    # --- the simulated APIs ---------------------------------------------------------------------
    def _serve(self, endpoint: Endpoint, params: dict[str, str]) -> None:
        sim = self.server.sim
        sim.count_request(endpoint.source)
        try:
            named = endpoint.named(params)
        except BadRequest as exc:
            self._send(exc.reply)
            return
        account = sim.account_name(self.headers.get("X-MBX-APIKEY")) if endpoint.private else None
        rf = sim.faults.for_request(endpoint.source, named, endpoint.covers, account)
        weight_headers = self._spend_weight(endpoint, params)
        self._count_coingecko_key(endpoint)
        if rf.delay_s > 0:
            sim.count_fault(endpoint.source, "slow")
            if self.server.stop.wait(rf.delay_s):
                self._drop()  # shutting down: do not hold the process for a slow answer
                return
        if rf.failure == "down":
            sim.count_fault(endpoint.source, "down")
            self._drop()
            return
        if rf.failure in ("429", "418"):
            sim.count_fault(endpoint.source, rf.failure)
            self._send(rate_limited(endpoint.source, int(rf.failure), rf.retry_after_s, sim.clock()), weight_headers)
            return
        if endpoint.private and account is None:
            sim.count_request("account.unknown_key")
            self._send(Reply(401, binance.error_body(-2015, "Invalid API-key, IP, or permissions for action.")),
                       weight_headers)
            return
        _count_data_faults(sim, endpoint.source, rf)
        call = Call(params, rf, account or "main", sim.income)
        try:
            reply = endpoint.build(sim.snapshot(), call)
        except Exception as exc:  # a bug answers 500 and is logged, the server keeps serving
            log.exception("GET %s failed inside marketsim; answered 500", self.path.split("?", 1)[0])
            reply = Reply(500, binance.error_body(-1000, f"marketsim internal error: {exc}"))
        self._send(reply, weight_headers)

    def _spend_weight(self, endpoint: Endpoint, params: dict[str, str]) -> dict[str, str]:
        """Binance's X-MBX-USED-WEIGHT-1M for this answer (Binance endpoints only)."""
        if endpoint.api is None:
            return {}
        try:
            weight = endpoint.weight_of(params)
        except ValueError:
            weight = 1   # a malformed `symbols`: the endpoint answers 400 itself
        return {"X-MBX-USED-WEIGHT-1M": str(self.server.sim.spend_weight(endpoint.api, weight))}

    def _count_coingecko_key(self, endpoint: Endpoint) -> None:
        """Count CoinGecko requests by the key header they carry (the key itself is never kept or logged)."""
        if endpoint.source != "coingecko":
            return
        for plan in ("demo", "pro"):
            if self.headers.get(f"x-cg-{plan}-api-key"):
                self.server.sim.count_request(f"coingecko.key.{plan}")

    def _read_body(self) -> tuple[object, Reply | None]:
        """The request's JSON body, or the 4xx reply that says why there is none."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True  # the unread body would poison the next request
            return None, Reply(413, {"error": f"body is {length} bytes; at most {MAX_BODY}", "field": "body"})
        raw = self.rfile.read(length) if length else b""
        try:
            return (orjson.loads(raw) if raw else None), None
        except orjson.JSONDecodeError as exc:
            return None, Reply(400, {"error": f"body is not valid JSON: {exc}", "field": "body"})

    def _post_transfer(self) -> Reply:
        body, refused = self._read_body()
        if refused is not None:
            return refused
        try:
            request = parse_transfer(body)
            done = self.server.sim.transfer(request["account"], request["amount"], request["asset"],
                                            recorded=request["recorded"])
        except SimError as exc:
            return Reply(400, {"error": str(exc), "field": exc.field})
        log.warning("transfer: %s %+g %s%s", done["account"], done["amount"], done["asset"],
                    "" if done["recorded"] else " (unrecorded: no income record)")
        return Reply(200, done)

    def _post_fault(self) -> Reply:
        body, refused = self._read_body()
        if refused is not None:
            return refused
        try:
            fault = parse_fault(body, self.server.sim.account_names)
        except FaultError as exc:
            return Reply(400, {"error": str(exc), "field": exc.field})
        active = self.server.sim.add_fault(fault)
        log.warning("fault injected: %s", _describe(fault.to_dict()))
        return Reply(200, {"fault": fault.to_dict(), "faults": [f.to_dict() for f in active.faults]})

    # --- plumbing ---------------------------------------------------------------------------------
    def _target(self) -> tuple[str, dict[str, str]]:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        return url.path, params

    def _send(self, reply: Reply, extra_headers: dict[str, str] | None = None) -> None:
        payload = orjson.dumps(reply.body)
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in {**reply.headers, **(extra_headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _drop(self) -> None:
        """Close the connection without an HTTP response: what a dead upstream looks like."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the client went first; nothing left to close

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        # The path carries the signature; headers (with the API key) are never logged.
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", self.address_string(), format % args)


def rate_limited(source: str, status: int, retry_after_s: int, now: float) -> Reply:
    if source == "coingecko":
        body = coingecko.rate_limit_body(status)
    else:
        body = binance.rate_limit_body(status, int((now + retry_after_s) * 1000))
    return Reply(status, body, {"Retry-After": str(retry_after_s)})


def _count_data_faults(sim: SimState, source: str, rf: RequestFaults) -> None:
    modes = set(rf.data_all)
    for per_asset in (rf.data or {}).values():
        modes |= per_asset
    for mode in modes:
        sim.count_fault(source, mode)


def _describe(fault: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in fault.items() if v is not None)


def parse_transfer(body: object) -> dict:
    """`{"account", "amount", "asset", "recorded"?}` from a POST /_sim/transfer body; SimError names the field."""
    if not isinstance(body, dict):
        raise SimError("body", f"body must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - {"account", "amount", "asset", "recorded"})
    if unknown:
        raise SimError(unknown[0], f"unknown field {unknown[0]!r}; allowed: account, amount, asset, recorded")
    for name in ("account", "amount", "asset"):
        if name not in body:
            raise SimError(name, f"{name} is missing")
    if not isinstance(body["account"], str) or not isinstance(body["asset"], str):
        raise SimError("account" if not isinstance(body["account"], str) else "asset", "expected a string")
    recorded = body.get("recorded", True)
    if not isinstance(recorded, bool):
        raise SimError("recorded", f"recorded is {recorded!r}; expected true or false")
    return {"account": body["account"], "amount": body["amount"], "asset": body["asset"], "recorded": recorded}


def _account_doc(sim: SimState, name: str, view) -> dict:
    state = sim.account_state(name)
    return {
        "mode": "multi_assets" if view.multi_assets else "single_asset", "hedge": view.hedge,
        "wallet": view.wallet, "upnl": view.upnl, "margin_balance": view.margin_balance,
        "available": view.available, "initial_margin": view.initial_margin,
        "assets": {a.asset: {"wallet": a.wallet, "upnl": a.upnl, "margin_balance": a.margin_balance}
                   for a in view.assets},
        "positions": [{"symbol": r.position.market, "side": r.position.side, "amount": r.position.amount,
                       "entry_price": r.position.entry_price, "mark": r.mark, "upnl": r.upnl,
                       "notional": r.notional, "margin_asset": r.position.margin_asset} for r in view.positions],
        "fills": state.fills, "realized_pnl": state.realized_pnl, "fees": state.fees,
        "income_records": sim.income_count(name),
    }


def accounts_doc(sim: SimState) -> dict:
    """GET /_sim/accounts: each account's name, mode and the API key that selects it (sim keys only)."""
    snap = sim.snapshot()
    keys: dict[str, list[str]] = {}
    for key, name in sim.keys.items():
        keys.setdefault(name, []).append(key)
    return {"accounts": {name: {"api_keys": keys.get(name, []),
                                "mode": "multi_assets" if view.multi_assets else "single_asset",
                                "hedge": view.hedge} for name, view in snap.accounts.items()},
            "funding_interval_s": sim.funding_interval_s}


def sim_state_doc(sim: SimState) -> dict:
    """GET /_sim/state: the truth behind the APIs (prices per source, accounts), for tests and debugging.

    `account` is the `main` account (kept for older readers); `accounts` has every account.
    """
    snap = sim.snapshot()
    accounts = {name: _account_doc(sim, name, view) for name, view in snap.accounts.items()}
    return {
        "ts": snap.now,
        "prices": {asset: {src: px for (a, src), px in snap.prices.items() if a == asset}
                   for asset in sorted({a for a, _ in snap.prices})},
        "marks": snap.marks,
        "usd_zar": snap.usd_zar,
        "account": accounts["main"],
        "accounts": accounts,
        "faults": [f.to_dict() for f in sim.faults.faults],
        "counters": sim.counters(),
    }

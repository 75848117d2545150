"""Set and clear marketsim faults over HTTP (used by `navstream sim fault|clear` and by tests).

    set_fault("http://127.0.0.1:8765", "mark", "down", symbol="BTC")
    set_fault(base, "coingecko", "slow", delay_s=3)
    set_fault(base, "account", "down", account="sub1")   # only sub1's API key
    transfer(base, "main", -1000, "USDT")                # with a TRANSFER income record
    transfer(base, "main", 50, "USDT", recorded=False)   # the wallet moves, no record
    clear_faults(base)                 # all
    clear_faults(base, source="spot")

Each raises MarketsimClientError with what failed and where (unreachable, or marketsim's
own 400 message naming the bad field).
"""

from __future__ import annotations

from typing import Any

import requests

from shared.errors import NavstreamError

TIMEOUT_S = 5.0


class MarketsimClientError(NavstreamError):
    """marketsim could not be reached, or refused the request (the message says why)."""


def _call(method: str, url: str, **kw: Any) -> dict:
    try:
        resp = requests.request(method, url, timeout=TIMEOUT_S, **kw)
    except requests.RequestException as exc:
        raise MarketsimClientError(f"marketsim at {url} is unreachable: {exc}") from None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not resp.ok:
        detail = body.get("error") if isinstance(body, dict) else None
        raise MarketsimClientError(f"marketsim refused {method} {url}: HTTP {resp.status_code}: "
                                   f"{detail or resp.text[:200]}")
    if not isinstance(body, dict):
        raise MarketsimClientError(f"marketsim answered {method} {url} with something that is not a JSON object")
    return body


def _faults_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/_sim/faults"


def set_fault(base_url: str, source: str, mode: str, symbol: str | None = None, *,
              delay_s: float | None = None, retry_after_s: int | None = None, account: str | None = None) -> dict:
    """Activate a fault; returns marketsim's answer `{"fault": {...}, "faults": [...]}`."""
    body: dict[str, Any] = {"source": source, "mode": mode}
    if account:
        body["account"] = account
    if symbol:
        body["symbol"] = symbol
    if delay_s is not None:
        body["delay_s"] = delay_s
    if retry_after_s is not None:
        body["retry_after_s"] = retry_after_s
    return _call("POST", _faults_url(base_url), json=body)


def clear_faults(base_url: str, source: str | None = None) -> dict:
    """Clear all faults, or those of one source; returns `{"cleared": n, "faults": [...]}`."""
    return _call("DELETE", _faults_url(base_url), params={"source": source} if source else None)


def get_faults(base_url: str) -> list[dict]:
    """The active faults, as `[{"source", "mode", "symbol", ...}, ...]`."""
    return list(_call("GET", _faults_url(base_url)).get("faults", []))


def transfer(base_url: str, account: str, amount: float, asset: str, *, recorded: bool = True) -> dict:
    """Move `amount` of `asset` into (> 0) or out of (< 0) a simulated account's wallet.

    Recorded transfers appear in that account's /fapi/v1/income as TRANSFER; an unrecorded one
    changes the wallet only. Returns `{"account", "asset", "amount", "recorded", "tran_id", "wallet", "time"}`.
    """
    body = {"account": account, "amount": amount, "asset": asset, "recorded": recorded}
    return _call("POST", f"{base_url.rstrip('/')}/_sim/transfer", json=body)

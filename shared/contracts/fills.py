"""Wire contract of router fills: the `hedge:fills` stream (the executor writes it; marketsim in sim)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.contracts._fields import finite, flat, text
from shared.errors import ContractError

_CONTRACT = "fill"


@dataclass(frozen=True, slots=True)
class Fill:
    id: str
    sym: str
    side: str            # BUY / SELL
    qty: float
    px: float
    fee_usd: float
    liquidity: str       # maker / taker
    fallback: bool       # the router fell back from its preferred (maker) route
    realized_pnl_usd: float
    slippage_bps: float
    ts: float


def encode_fill(fill: Fill) -> dict[str, str]:
    return {
        "id": fill.id, "sym": fill.sym, "side": fill.side, "qty": flat(fill.qty),
        "px": flat(fill.px), "fee_usd": flat(fill.fee_usd), "liquidity": fill.liquidity,
        "fallback": "1" if fill.fallback else "0", "realized_pnl_usd": flat(fill.realized_pnl_usd),
        "slippage_bps": flat(fill.slippage_bps), "ts": flat(fill.ts),
    }


def decode_fill(fields: Mapping[Any, Any]) -> Fill:
    fid = text(fields, "id", contract=_CONTRACT)
    where = f"{_CONTRACT} {fid}"
    side = text(fields, "side", contract=where).upper()
    if side not in ("BUY", "SELL"):
        raise ContractError(f"{where}: field 'side' is {side!r}, not BUY or SELL")
    liquidity = text(fields, "liquidity", contract=where).lower()
    if liquidity not in ("maker", "taker"):
        raise ContractError(f"{where}: field 'liquidity' is {liquidity!r}, not maker or taker")
    fallback = text(fields, "fallback", contract=where)
    if fallback not in ("0", "1"):
        raise ContractError(f"{where}: field 'fallback' is {fallback!r}, not 0 or 1")
    return Fill(
        id=fid, sym=text(fields, "sym", contract=where), side=side,
        qty=finite(fields, "qty", contract=where, positive=True),
        px=finite(fields, "px", contract=where, positive=True),
        fee_usd=finite(fields, "fee_usd", contract=where),
        liquidity=liquidity, fallback=fallback == "1",
        realized_pnl_usd=finite(fields, "realized_pnl_usd", contract=where),
        slippage_bps=finite(fields, "slippage_bps", contract=where),
        ts=finite(fields, "ts", contract=where, positive=True),
    )

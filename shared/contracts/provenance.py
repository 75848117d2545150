"""Wire contract of price provenance: the hash `hedge:prices:sources` (the pricer writes it
every round, the dashboard's Intel page reads it).

Field = asset; value = JSON, one document per asset:

    {"asset": "BTC", "market": "BTCUSDT",
     "chosen": {"px": 97000.1, "src": "mark", "ts": 1763726400.1} | null,
     "sources": {"mark": {"px": ..., "ts": ...} | null, "spot_cache": ..., ...},
     "errors": {"<tier>": "why that tier gave no usable price"},
     "diverged": false, "spread_pct": 0.02 | null, "depeg": false}

`chosen` is the price the chain picked (null: no tier priced the asset); `sources` is
every tier's last observation, so an operator sees what the others said.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypedDict

import orjson

from shared.contracts._fields import json_object
from shared.contracts.vocabulary import PRICE_SOURCES
from shared.errors import ContractError


class Quote(TypedDict):
    px: float
    ts: float


class Chosen(TypedDict):
    px: float
    src: str
    ts: float


class Provenance(TypedDict):
    asset: str
    market: str | None
    chosen: Chosen | None
    sources: dict[str, Quote | None]
    errors: dict[str, str]
    diverged: bool
    spread_pct: float | None
    depeg: bool


def encode_provenance(doc: Mapping[str, Any]) -> bytes:
    """The hash value of one asset's provenance (kept cheap: the pricer writes one per asset per round)."""
    return orjson.dumps(doc)


def decode_provenance(raw: bytes | str, where: str = "hedge:prices:sources") -> Provenance:
    """One asset's provenance; a bad value raises ContractError naming `where` and the field."""
    doc = json_object(raw, where, what="a JSON object {asset, market, chosen, sources, errors, ...}")
    if not isinstance(doc.get("asset"), str) or not doc["asset"]:
        raise ContractError(f"{where}: asset is {doc.get('asset')!r}, not a symbol")
    if doc.get("market") is not None and not isinstance(doc["market"], str):
        raise ContractError(f"{where}: market is {doc['market']!r}, not a string")
    _check_chosen(doc.get("chosen"), where)
    _check_quotes(doc.get("sources", {}), where)
    errors = doc.get("errors", {})
    if not isinstance(errors, dict) or not all(isinstance(v, str) for v in errors.values()):
        raise ContractError(f"{where}: errors must map a tier to a message, got {errors!r:.80}")
    for flag in ("diverged", "depeg"):
        if not isinstance(doc.get(flag, False), bool):
            raise ContractError(f"{where}: {flag} is {doc[flag]!r}, not true/false")
    spread = doc.get("spread_pct")
    if spread is not None and not _finite(spread):
        raise ContractError(f"{where}: spread_pct is {spread!r}, not a finite number")
    return {"asset": doc["asset"], "market": doc.get("market"), "chosen": doc.get("chosen"),
            "sources": doc.get("sources", {}), "errors": errors, "diverged": doc.get("diverged", False),
            "spread_pct": spread, "depeg": doc.get("depeg", False)}


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _check_quote(quote: Any, where: str) -> None:
    if not isinstance(quote, dict):
        raise ContractError(f"{where}: must be an object {{px, ts}}, not {quote!r:.60}")
    for name in ("px", "ts"):
        if not _finite(quote.get(name)):
            raise ContractError(f"{where}.{name} is {quote.get(name)!r}, not a finite number")
    if quote["px"] <= 0:
        raise ContractError(f"{where}.px is {quote['px']!r}, not a positive price")


def _check_chosen(chosen: Any, where: str) -> None:
    if chosen is None:
        return
    _check_quote(chosen, f"{where}: chosen")
    if chosen.get("src") not in PRICE_SOURCES:
        raise ContractError(f"{where}: chosen.src is {chosen.get('src')!r}, not one of {PRICE_SOURCES}")


def _check_quotes(sources: Any, where: str) -> None:
    if not isinstance(sources, dict):
        raise ContractError(f"{where}: sources must map a tier to {{px, ts}} or null, got {sources!r:.80}")
    for tier, quote in sources.items():
        if quote is not None:
            _check_quote(quote, f"{where}: sources.{tier}")

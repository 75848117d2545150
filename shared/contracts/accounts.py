"""Wire contract of the per-account breakdown on every nav.v7 snapshot: the `accounts` block.

Additive to nav.v7 (README "Exchange accounts", "Several accounts"):

    "accounts": {"main": {"mode": "single_asset", "source": "live", "age_s": 0.8, "nav_usd": 100234.55,
                          "assets": {"USDT": {"wallet": 98000.0, "upnl": 1234.5, "usd_price": 1.0,
                                              "price_src": "par", "usd_value": 99234.5}},
                          "reasons": [], "recon_breaks": []}}

`mode` is null until the account first answered; `source` is `live`, `cache` (its last good
data, `age_s` growing) or `startup` (never answered, or no key: `nav_usd` null). An asset
without a USD price has `usd_price`, `price_src` and `usd_value` null, and then the account's
`nav_usd` is null too (unknown, never 0). `reasons` says what is wrong with this account alone;
every one of them is also in the snapshot's `status.reasons`. `recon_breaks` lists the assets
whose wallet moved more than their income records explain (beyond RECON_TOLERANCE_USD).

`ACCOUNTS_SCHEMA` is the JSON Schema of the block, and `extend_nav_schema` adds it (and the
`partial` snapshot source) to a copy of the nav.v7 schema, so readers and tests validate the
block from this one definition.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import Field

from shared.contracts._models import Strict
from shared.contracts.vocabulary import (
    ACCOUNT_MODES,
    PAR_SOURCE,
    SNAPSHOT_SOURCES,
    TIERS,
    AccountMode,
    AssetPriceSource,
)

AccountSource = Literal["live", "cache", "startup"]
ACCOUNT_SOURCES: tuple[str, ...] = ("live", "cache", "startup")
PRICE_SRCS: tuple[str, ...] = (*TIERS, PAR_SOURCE)


class AccountAsset(Strict):
    wallet: float
    upnl: float
    usd_price: float | None = Field(gt=0)
    price_src: AssetPriceSource | None
    usd_value: float | None


class AccountEntry(Strict):
    mode: AccountMode | None
    source: AccountSource
    age_s: float | None = Field(ge=0)
    nav_usd: float | None
    assets: dict[str, AccountAsset]
    reasons: list[str]
    recon_breaks: list[str]


_NUMBER_OR_NULL = {"type": ["number", "null"]}

ACCOUNTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "required": ["mode", "source", "age_s", "nav_usd", "assets", "reasons", "recon_breaks"],
        "additionalProperties": False,
        "properties": {
            "mode": {"enum": [*ACCOUNT_MODES, None]},
            "source": {"enum": list(ACCOUNT_SOURCES)},
            "age_s": {"type": ["number", "null"], "minimum": 0},
            "nav_usd": _NUMBER_OR_NULL,
            "reasons": {"type": "array", "items": {"type": "string"}},
            "recon_breaks": {"type": "array", "items": {"type": "string"}},
            "assets": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["wallet", "upnl", "usd_price", "price_src", "usd_value"],
                    "additionalProperties": False,
                    "properties": {
                        "wallet": {"type": "number"},
                        "upnl": {"type": "number"},
                        "usd_price": {"type": ["number", "null"], "exclusiveMinimum": 0},
                        "price_src": {"enum": [*PRICE_SRCS, None]},
                        "usd_value": _NUMBER_OR_NULL,
                    },
                },
            },
        },
    },
}

POSITION_ADDITIONS: dict[str, Any] = {
    "account": {"type": "string", "minLength": 1},
    "margin_asset": {"type": "string", "minLength": 1},
}
"""Optional keys of each `positions[]` entry: the account holding it and the asset its uPnL is
settled in (`upnl` and `notional` are in USD at that asset's price)."""


def extend_nav_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of the nav.v7 JSON Schema with the `accounts` block, position keys and `partial` source."""
    out = copy.deepcopy(schema)
    props = out.setdefault("properties", {})
    props["accounts"] = ACCOUNTS_SCHEMA
    props["source"] = {"enum": list(SNAPSHOT_SOURCES)}
    position = out.get("$defs", {}).get("position")
    if isinstance(position, dict):
        position.setdefault("properties", {}).update(POSITION_ADDITIONS)
    return out

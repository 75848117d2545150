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

Positions carry `account` (the account holding it) and `margin_asset` (the asset its uPnL is
settled in; `upnl` and `notional` are in USD at that asset's price). The JSON Schema of all of
it is shared/contracts/schemas/nav.v7.schema.json; tests/unit/test_contracts.py holds the two
forms to the vocabulary.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from shared.contracts._models import Strict
from shared.contracts.vocabulary import AccountMode, AssetPriceSource

AccountSource = Literal["live", "cache", "startup"]
ACCOUNT_SOURCES: tuple[str, ...] = get_args(AccountSource)


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



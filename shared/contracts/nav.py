"""Wire contract of NAV snapshots: the nav.v7 document and its `hedge:nav` stream entry.

The document (nav.json, `hedge:state:nav`, the `snapshot` field) is modelled by
`NavDocument`; the stream entry carries a few flat fields beside it so a user can
read NAV with nothing but redis-cli.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import orjson
from pydantic import Field

from shared.contracts._fields import flat, json_object, text
from shared.contracts._models import Open, Strict, check_document
from shared.contracts.accounts import AccountEntry
from shared.contracts.vocabulary import HoldingSource, PositionSide, SnapshotSource

NAV_SCHEMA = "nav.v7"


class Position(Strict):
    symbol: str = Field(min_length=1)
    side: PositionSide
    qty: float
    entry_price: float
    mark_price: float | None
    upnl: float | None
    notional: float | None
    account: str | None = Field(default=None, min_length=1)
    margin_asset: str | None = Field(default=None, min_length=1)


class Holding(Strict):
    qty: float = Field(ge=0)
    avg_cost: float | None = Field(ge=0)
    mark: float | None = Field(gt=0)
    usd_value: float | None
    source: HoldingSource
    price_age_s: float | None = Field(ge=0)


class Aum(Strict):
    futures: float | None
    offexchange: dict[str, Holding]
    total: float | None


class Status(Strict):
    degraded: bool
    reasons: list[str]


class NavDocument(Open):
    """nav.v7; extra top-level keys are allowed (names may grow), the contract's are checked."""

    schema_: Literal["nav.v7"] = Field(alias="schema")
    seq: int = Field(ge=0)
    ts: float = Field(gt=0)
    nav_total: float | None
    nav_age_s: float | None = Field(ge=0)
    source: SnapshotSource
    positions: list[Position]
    aum: Aum
    fx: dict[str, float]
    status: Status
    accounts: dict[str, AccountEntry] | None = None   # additive to nav.v7 (shared/contracts/accounts.py)


def validate_nav_document(doc: Any) -> dict:
    """Check a nav.v7 document; raise ContractError naming the first bad field."""
    return check_document(NavDocument, doc, "nav snapshot")


def stable_aum(nav_total: float | None) -> dict:
    """The aum shape to use when a snapshot somehow lacks one (publisher's guard)."""
    return {"futures": nav_total, "offexchange": {}, "total": nav_total}


def encode_nav_entry(snapshot: Mapping[str, Any]) -> dict[str, str | bytes]:
    """Flat fields of one `hedge:nav` entry, with the whole document in `snapshot`."""
    aum = snapshot.get("aum") or {}
    return {
        "seq": flat(snapshot["seq"]),
        "ts": flat(snapshot["ts"]),
        "nav_total": flat(snapshot["nav_total"]),
        "aum_total": flat(aum.get("total")),
        "nav_age_s": flat(snapshot["nav_age_s"]),
        "source": snapshot["source"],
        "snapshot": orjson.dumps(snapshot),
    }


def decode_nav_entry(fields: Mapping[Any, Any]) -> dict:
    """The snapshot document of one `hedge:nav` entry.

    Only JSON-ness and the object type are checked here: a document that lacks
    `aum` must still reach the publisher, whose guard repairs and reports it.
    """
    return json_object(text(fields, "snapshot", contract="nav entry"), "nav entry: field 'snapshot'")

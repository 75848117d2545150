"""Incoming NAV snapshots: decode, the `aum` guard, contract check, and the parts the KPIs read.

The publisher passes `aum` through untouched and never recomputes it. Only a snapshot
that lacks the block altogether gets the stable shape (spec 01's defensive guard);
the caller logs and counts that. Anything else that breaks the nav.v7 contract is
rejected whole.

Of a batch's snapshots only the newest is published, so only it needs the whole
contract check (`accept_snapshot`, a few milliseconds for a thousand holdings). The
older ones feed nothing but the bars: `read_snapshot` checks just the fields the bars
read (seq, ts, positions), by the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.contracts.nav import Position, decode_nav_entry, stable_aum, validate_nav_document
from shared.errors import ContractError


@dataclass(frozen=True, slots=True)
class AcceptedSnapshot:
    entry_id: str
    doc: dict
    repaired: bool      # the aum guard supplied the stable shape

    @property
    def seq(self) -> int:
        return self.doc["seq"]

    @property
    def ts(self) -> float:
        return self.doc["ts"]


class _BarFields(BaseModel):
    """The fields of a nav.v7 document that the bars read, with the contract's rules."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    seq: int = Field(ge=0)
    ts: float = Field(gt=0)
    positions: list[Position]


def accept_snapshot(entry_id: str, fields: Mapping[Any, Any]) -> AcceptedSnapshot:
    """The snapshot of one `hedge:nav` entry, ready to publish; ContractError if unusable."""
    snap = _decode(entry_id, fields)
    validate_nav_document(snap.doc)
    return snap


def read_snapshot(entry_id: str, fields: Mapping[Any, Any]) -> AcceptedSnapshot:
    """As accept_snapshot, but only the fields the bars read are checked: publish it only after
    `validate_nav_document(snap.doc)`. ContractError if unusable."""
    snap = _decode(entry_id, fields)
    try:
        _BarFields.model_validate(snap.doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "document"
        raise ContractError(f"nav snapshot: {where}: {err['msg']} (got {err.get('input')!r:.80})") from None
    return snap


def _decode(entry_id: str, fields: Mapping[Any, Any]) -> AcceptedSnapshot:
    doc = decode_nav_entry(fields)
    repaired = doc.get("aum") is None
    if repaired:
        doc = {**doc, "aum": stable_aum(doc.get("nav_total"))}
    return AcceptedSnapshot(entry_id, doc, repaired)


def entry_seq(fields: Mapping[Any, Any]) -> str:
    """The flat `seq` field of an entry for messages, or '?' when it has none."""
    raw = fields.get("seq", fields.get(b"seq"))
    if raw is None:
        return "?"
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def position_marks(doc: Mapping[str, Any]) -> dict[str, float]:
    """Market -> mark price of the snapshot's positions (unknown or non-positive marks left out)."""
    marks: dict[str, float] = {}
    for pos in doc.get("positions", ()):
        px = pos.get("mark_price")
        if px is not None and px > 0:
            marks[pos["symbol"]] = px
    return marks


def position_weights(doc: Mapping[str, Any]) -> dict[str, float | None]:
    """Market -> |notional| of its positions (|qty x mark| when notional is null; None if neither)."""
    weights: dict[str, float | None] = {}
    for pos in doc.get("positions", ()):
        notional = pos.get("notional")
        if notional is None and pos.get("mark_price") is not None:
            notional = pos["qty"] * pos["mark_price"]
        sym = pos["symbol"]
        if notional is None:
            weights.setdefault(sym, None)
        else:
            weights[sym] = (weights.get(sym) or 0.0) + abs(notional)
    return weights



"""Wire contract of the positions document: positions.json and `hedge:state:positions`
(the publisher writes both, the dashboard reads them when it has no snapshot).

`{"ts": <the snapshot's ts>, "positions": [...]}`: the same position objects as nav.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def positions_document(snapshot: Mapping[str, Any]) -> dict:
    """The positions document of a nav.v7 snapshot."""
    return {"ts": snapshot["ts"], "positions": snapshot["positions"]}


def positions_of(doc: Mapping[str, Any]) -> list[dict]:
    """The position objects of a positions document; [] when it has none (or is not one)."""
    positions = doc.get("positions")
    return [p for p in positions if isinstance(p, dict)] if isinstance(positions, list) else []

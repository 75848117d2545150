"""Which fills fall inside the KPI window, by stream-entry time (entry ids are ms timestamps)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.fills import Fill
from shared.errors import ContractError


@dataclass(frozen=True, slots=True)
class TimedFill:
    ms: int         # the stream entry's time: the first part of its id
    fill: Fill


def entry_ms(entry_id: bytes | str) -> int:
    """`1763726400125-0` -> 1763726400125."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    head = text.split("-", 1)[0]
    if not head.isdigit():
        raise ContractError(f"stream entry id {text!r} does not start with a millisecond time")
    return int(head)


def window_start_ms(now: float, window_s: float) -> int:
    return int((now - window_s) * 1000)


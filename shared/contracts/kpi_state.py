"""Wire contract of the publisher's KPI state: the Redis hash `hedge:kpi:state`, so a restart resumes it.

Fields: `peak_nav`, `peak_ts` (snapshot time the peak was set), `history_minute` (the
last minute with a point in `hedge:nav:1m`), `bar:<market>` (JSON of the forming
one-minute bar), `transfers_seen` (the ledger's Σ TRANSFER USD the peak was last shifted to).
`HDEL hedge:kpi:state peak_nav peak_ts` resets the drawdown peak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.contracts._fields import finite_or_problem
from shared.contracts.bars import Bar, bar_from_json, bar_to_json
from shared.errors import ContractError

_BAR = "bar:"


@dataclass(frozen=True, slots=True)
class KpiState:
    peak_nav: float | None = None
    peak_ts: float | None = None
    history_minute: int | None = None
    forming: Mapping[str, Bar] = field(default_factory=dict)
    transfers_seen: float | None = None


def decode_kpi_state(fields: Mapping[Any, Any]) -> tuple[KpiState, list[str]]:
    """The state from HGETALL, and a message per field that could not be read (left out)."""
    problems: list[str] = []
    values = {(k.decode() if isinstance(k, bytes) else k): v for k, v in fields.items()}

    def number(name: str) -> float | None:
        return finite_or_problem(values.get(name), name, problems)

    forming: dict[str, Bar] = {}
    for name, raw in values.items():
        if name.startswith(_BAR):
            try:
                forming[name[len(_BAR):]] = bar_from_json(raw)
            except ContractError as exc:
                problems.append(f"{name}: {exc}")
    minute = number("history_minute")
    return KpiState(number("peak_nav"), number("peak_ts"),
                    int(minute) if minute is not None else None, forming, number("transfers_seen")), problems


def encode_kpi_state(state: KpiState) -> dict[str, str | bytes]:
    """HSET mapping of the known fields (unknown ones are not written, so not cleared either)."""
    out: dict[str, str | bytes] = {}
    if state.peak_nav is not None:
        out["peak_nav"] = repr(state.peak_nav)
    if state.peak_ts is not None:
        out["peak_ts"] = repr(state.peak_ts)
    if state.history_minute is not None:
        out["history_minute"] = str(state.history_minute)
    if state.transfers_seen is not None:
        out["transfers_seen"] = repr(state.transfers_seen)
    for market, bar in state.forming.items():
        out[_BAR + market] = bar_to_json(bar)
    return out

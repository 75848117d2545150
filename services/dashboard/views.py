"""Pure helpers that turn published documents into what a page shows: numbers, ages, labels.

No I/O and no clock: callers pass `now`. A value that is missing, not a number or
not finite is None here and renders as "–", never as 0.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from shared.contracts.vocabulary import NO_PRICE, SNAPSHOT_SOURCES, TIER_LABELS, TIERS, fx_pair

T = TypeVar("T")
DASH = "–"
NO_DATA = "no data yet"

# Staleness rules (README, "Staleness rules"): past these ages a card greys out and says how old it is.
SNAPSHOT_STALE_S = 15.0    # now - snapshot ts
NAV_AGE_STALE_S = 30.0     # the snapshot's own nav_age_s (account data age)
KPIS_STALE_S = 30.0        # now - kpis ts
PRICE_AGE_STALE_S = 120.0  # a holding's price_age_s
HEARTBEAT_LATE_S = 10.0    # now - heartbeat ts

SOURCE_NOTES: dict[str, str] = {
    "live": "live account data",
    "cache": "cache: exchange unreachable, last good account data",
    "manual": "manual: operator-set NAV",
    "startup": "startup: no account data yet",
    "partial": "partial: an account's value is unknown; NAV counts the others only",
}
SOURCE_COLORS: dict[str, str] = {
    "live": "success", "cache": "warning", "manual": "info", "startup": "secondary", "partial": "danger"}
if set(SOURCE_NOTES) != set(SNAPSHOT_SOURCES) or set(SOURCE_COLORS) != set(SNAPSHOT_SOURCES):
    raise RuntimeError(f"views: SOURCE_NOTES/SOURCE_COLORS must cover every snapshot source {SNAPSHOT_SOURCES}")
# The best tier is the norm; every other one is a visible fallback.
TIER_NOTES: dict[str, str] = {
    **{t: TIER_LABELS[t] if t == TIERS[0] else f"fallback: {TIER_LABELS[t]}" for t in TIERS},
    NO_PRICE: "no price",
}


def num(value: Any) -> float | None:
    """`value` as a finite float, or None (bools, strings, NaN and infinities are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def as_mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one (published documents may be partial or wrong)."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def sub(doc: Any, *path: str) -> Any:
    """doc[path[0]][path[1]]..., or None as soon as a level is missing or not a mapping."""
    for name in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(name)
    return doc


# --- formatting -----------------------------------------------------------------

def fmt_usd(value: Any, digits: int = 2) -> str:
    v = num(value)
    if v is None:
        return DASH
    sign = "-" if v < 0 else ""
    return f"{sign}${abs(v):,.{digits}f}"


def fmt_ccy(value: Any, ccy: str, digits: int = 2) -> str:
    v = num(value)
    if v is None:
        return DASH
    return f"{ccy} {v:,.{digits}f}"


def fmt_num(value: Any, digits: int = 2) -> str:
    v = num(value)
    return DASH if v is None else f"{v:,.{digits}f}"


def fmt_qty(value: Any) -> str:
    v = num(value)
    if v is None:
        return DASH
    return f"{v:,.8f}".rstrip("0").rstrip(".") if v != int(v) else f"{v:,.0f}"


def scaled(value: Any, factor: float) -> float | None:
    """value * factor, or None when either is unknown or the product is not finite."""
    v = num(value)
    return None if v is None else num(v * factor)


def fmt_pct(ratio: Any, digits: int = 1) -> str:
    v = scaled(ratio, 100)
    return DASH if v is None else f"{v:.{digits}f} %"


def fmt_text(value: Any) -> str:
    return text_or_none(value) or DASH


def fmt_age(seconds: Any) -> str:
    """A short human age: "0.8 s", "12 s", "2 min", "3 h", "2 d"."""
    s = num(seconds)
    if s is None:
        return DASH
    s = max(0.0, s)
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86400:
        return f"{s / 3600:.0f} h"
    return f"{s / 86400:.0f} d"


# --- staleness ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Freshness:
    age_s: float | None
    stale: bool
    label: str | None   # "stale: 2 min old" when stale, else None

    @property
    def key(self) -> str:
        """Changes only when what the page shows about this age changes."""
        return self.label or ("fresh" if self.age_s is not None else "unknown")


def freshness(ts: Any, now: float, threshold_s: float) -> Freshness:
    """How old a document with timestamp `ts` is, and whether it is past `threshold_s`."""
    t = num(ts)
    if t is None:
        return Freshness(None, False, None)
    age = max(0.0, now - t)
    if age > threshold_s:
        return Freshness(age, True, f"stale: {fmt_age(age)} old")
    return Freshness(age, False, None)


def nav_age_freshness(nav_age_s: Any) -> Freshness:
    age = num(nav_age_s)
    if age is not None and age > NAV_AGE_STALE_S:
        return Freshness(age, True, f"stale: account data {fmt_age(age)} old")
    return Freshness(age, False, None)


# --- documents ------------------------------------------------------------------

def fx_rate(nav: Mapping[str, Any], ccy: str) -> float | None:
    """The snapshot's USD->`ccy` rate, or None (never invented; USD itself is 1)."""
    if ccy == "USD":
        return 1.0
    rate = num(sub(nav, "fx", fx_pair(ccy)))
    return rate if rate is not None and rate > 0 else None


def _first(convert: Callable[[Any], T | None], values: tuple[Any, ...]) -> T | None:
    return next((v for v in map(convert, values) if v is not None), None)


def first_number(*values: Any) -> float | None:
    """The first of `values` that is a finite number."""
    return _first(num, values)


def first_text(*values: Any) -> str | None:
    """The first of `values` that is a non-empty string."""
    return _first(text_or_none, values)


def kpi_fields(kpis: Mapping[str, Any]) -> dict[str, Any]:
    """The KPIs a page shows, from the flat form first, the nested form second; None when missing."""
    k = as_mapping(kpis)
    return {
        "nav_total": first_number(sub(k, "nav", "nav_total")),
        "aum_total": first_number(k.get("aum_total")),
        "dd_state": first_text(k.get("dd_state"), sub(k, "drawdown", "dd_state")),
        "dd_pct": first_number(sub(k, "drawdown", "dd_pct"), k.get("dd_pct")),
        "peak_nav": first_number(sub(k, "drawdown", "peak_nav")),
        "atr_regime": first_text(k.get("atr_regime"), sub(k, "atr", "atr_regime")),
        "router_quality": first_text(k.get("router_quality")),
        "fee_pnl_ratio": first_number(k.get("fee_pnl_ratio"), sub(k, "fee_pnl", "fee_pnl_ratio")),
        "fees_usd": first_number(sub(k, "fee_pnl", "fees_usd")),
        "realized_pnl_usd": first_number(sub(k, "fee_pnl", "realized_pnl_usd")),
        "maker_fill_ratio": first_number(sub(k, "router_stats", "maker_fill_ratio"), k.get("maker_fill_ratio")),
        "fallback_ratio": first_number(sub(k, "router_stats", "fallback_ratio"), k.get("fallback_ratio")),
        "fills": first_number(sub(k, "router_stats", "fills")),
        "window_s": first_number(sub(k, "router_stats", "window_s")),
        "avg_slippage_bps": first_number(sub(k, "router_stats", "avg_slippage_bps")),
        "maker_fills": first_number(sub(k, "router_stats", "maker_fills")),
        "fallback_fills": first_number(sub(k, "router_stats", "fallback_fills")),
    }


def status_reasons(nav: Mapping[str, Any]) -> list[str]:
    reasons = sub(nav, "status", "reasons")
    if not isinstance(reasons, list):
        return []
    return [str(r) for r in reasons if r is not None]


def is_degraded(nav: Mapping[str, Any]) -> bool:
    return sub(nav, "status", "degraded") is True or bool(status_reasons(nav))


def position_rows(positions: Any) -> list[dict[str, str]]:
    """Positions table rows (account, symbol, side, qty, entry, mark, uPnL), formatted; junk entries skipped."""
    if not isinstance(positions, list):
        return []
    rows = []
    for p in positions:
        if not isinstance(p, Mapping):
            continue
        rows.append({
            "account": fmt_text(p.get("account")), "symbol": fmt_text(p.get("symbol")), "side": fmt_text(p.get("side")),
            "qty": fmt_qty(p.get("qty")), "entry": fmt_num(p.get("entry_price")),
            "mark": fmt_num(p.get("mark_price")), "upnl": fmt_usd(p.get("upnl")),
        })
    return rows


def digest(*parts: Any) -> str:
    """A short stable key of JSON-able data: equal data, equal key (used to skip unchanged redraws)."""
    raw = orjson.dumps(parts, option=orjson.OPT_NON_STR_KEYS, default=str)
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


def dd_color(state: str | None) -> str:
    s = (state or "").lower()
    if not s:
        return "secondary"
    if s in ("normal", "ok", "none", "flat"):
        return "success"
    if any(w in s for w in ("warn", "caution", "watch", "elevated", "soft")):
        return "warning"
    if any(w in s for w in ("halt", "stop", "critical", "breach", "hard", "kill", "max", "danger")):
        return "danger"
    return "secondary"


def regime_color(regime: str | None) -> str:
    s = (regime or "").lower()
    if not s:
        return "secondary"
    if any(w in s for w in ("extreme", "high")):
        return "warning"
    return "info"


# --- snapshots and the AUM donut -------------------------------------------------------

def fingerprint(doc: Mapping[str, Any]) -> list:
    """What identifies a snapshot for "has it changed?" checks: [seq, ts]."""
    return [doc.get("seq"), doc.get("ts")]


def build_aum_slices(nav: Mapping[str, Any]) -> list[dict]:
    """Donut slices from nav["aum"]: "Futures" first, then one per off-exchange asset, in file order.

    Each slice: {label, value, qty, usd_value, source, mark, price_age_s, kind, note}.
    `value` (what the donut draws) is always a finite number >= 0; a negative or
    missing value is drawn as 0 and its label says so ("BTC (no price)",
    "Futures (negative: -1,234)"). `usd_value` keeps the published number (or None).
    An empty list when the snapshot has no aum block.
    """
    aum = nav.get("aum") if isinstance(nav, Mapping) else None
    if not isinstance(aum, Mapping):
        return []
    slices = [_slice("Futures", num(aum.get("futures")), kind="futures", missing="no data")]
    offexchange = aum.get("offexchange")
    if isinstance(offexchange, Mapping):
        for asset, holding in offexchange.items():
            h = as_mapping(holding)
            slices.append(_slice(str(asset), num(h.get("usd_value")), kind="holding",
                                 missing="no price" if h else "no data", holding=h))
    return slices


def _slice(name: str, usd: float | None, *, kind: str, missing: str,
           holding: Mapping[str, Any] | None = None) -> dict:
    h = holding or {}
    if usd is None:
        label, value, note = f"{name} ({missing})", 0.0, missing
    elif usd < 0:
        label, value, note = f"{name} (negative: {usd:,.0f})", 0.0, "negative"
    else:
        label, value, note = name, usd, None
    return {
        "label": label, "name": name, "value": value, "usd_value": usd, "kind": kind, "note": note,
        "qty": num(h.get("qty")) if kind == "holding" else None,
        "source": text_or_none(h.get("source")) if kind == "holding" else None,
        "mark": num(h.get("mark")), "price_age_s": num(h.get("price_age_s")),
    }

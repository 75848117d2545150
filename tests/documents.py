"""The one factory of test documents: nav.v7 snapshots and kpis.v7 documents shaped exactly as
the pipeline writes them, checked against the contract models before a test uses them.

`nav_document` builds any snapshot from its parts; `make_snapshot` (the publisher's tests:
0.5 BTC and 10 ETH long, BTC and USDC off the exchange, ts T0 + seq) and `nav_doc` (the
dashboard's: a realistic fund of three positions and three holdings) are its two presets.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from shared.contracts.kpis import validate_kpis_document
from shared.contracts.nav import encode_nav_entry, validate_nav_document
from shared.contracts.vocabulary import NO_PRICE, fx_pair

T0 = 1_763_726_400.0   # a minute boundary
USDZAR = 18.21
# asset -> (qty, avg_cost, price, tier, price age s)
HOLDINGS: dict[str, tuple[float, float, float, str, float]] = {
    "BTC": (0.035, 61000.0, 97000.1, "mark", 0.4),
    "XAUT": (0.59, 2350.0, 2650.4, "coingecko", 12.0),
    "USDC": (2098.96, 1.0, 0.9998, "spot_cache", 20.0),
}
POSITIONS = [
    {"symbol": "BTCUSDT", "side": "LONG", "qty": 0.5, "entry_price": 95000.0, "mark_price": 97000.1},
    {"symbol": "ETHUSDT", "side": "SHORT", "qty": 4.0, "entry_price": 3650.0, "mark_price": 3588.2},
    {"symbol": "SOLUSDT", "side": "LONG", "qty": 120.0, "entry_price": 182.5, "mark_price": 179.9},
]


def nav_document(*, seq: int, ts: float, nav_total: float | None, nav_age_s: float | None, source: str,
                 positions: list[dict], holdings: Mapping[str, dict], fx: dict[str, float],
                 reasons: list[str], round_total: bool = False) -> dict:
    """A nav.v7 snapshot from its parts: aum.total = nav_total + the holdings' usd_value (missing count 0)."""
    off = sum(h["usd_value"] for h in holdings.values() if h["usd_value"] is not None)
    total = None if nav_total is None else nav_total + off
    return {
        "schema": "nav.v7", "seq": seq, "ts": ts,
        "nav_total": nav_total, "nav_age_s": nav_age_s if nav_total is not None else None, "source": source,
        "positions": positions,
        "aum": {"futures": nav_total, "offexchange": dict(holdings),
                "total": round(total, 2) if round_total and total is not None else total},
        "fx": fx,
        "status": {"degraded": bool(reasons), "reasons": reasons},
    }


# --- the publisher's preset ------------------------------------------------------------

def make_snapshot(seq: int, *, ts: float | None = None, nav_total: float | None = 100_000.0,
                  marks: dict[str, float] | None = None, with_aum: bool = True) -> dict:
    """A nav.v7 document as the nav service writes it (positions of 0.5 BTC and 10 ETH long)."""
    marks = {"BTCUSDT": 97_000.1, "ETHUSDT": 3_500.25} if marks is None else marks
    qty = {"BTCUSDT": 0.5, "ETHUSDT": 10.0}
    positions = [{"symbol": sym, "side": "LONG", "qty": qty.get(sym, 1.0), "entry_price": px * 0.98,
                  "mark_price": px, "upnl": qty.get(sym, 1.0) * px * 0.02,
                  "notional": qty.get(sym, 1.0) * px} for sym, px in marks.items()]
    holdings = {
        "BTC": {"qty": 0.035, "avg_cost": 61_000.0, "mark": 97_000.1, "usd_value": 3_395.0035,
                "source": "mark", "price_age_s": 0.4},
        "USDC": {"qty": 2_098.96, "avg_cost": 1.0, "mark": 0.9998, "usd_value": 2_098.540208,
                 "source": "coingecko", "price_age_s": 12.5},
    }
    doc = nav_document(seq=seq, ts=T0 + seq if ts is None else ts, nav_total=nav_total, nav_age_s=0.8,
                       source="live" if nav_total is not None else "startup", positions=positions,
                       holdings=holdings, fx={fx_pair("ZAR"): USDZAR}, reasons=[])
    if not with_aum:
        del doc["aum"]
    return doc


def nav_entry(doc: dict) -> dict:
    """The hedge:nav stream fields of `doc` (encode_nav_entry tolerates a missing aum)."""
    return encode_nav_entry(doc)


# --- the dashboard's preset ------------------------------------------------------------

def holding(qty: float, avg_cost: float | None, price: float | None, tier: str,
            age: float | None = 0.4) -> dict:
    """One aum.offexchange entry; `price=None` is an asset no tier priced."""
    if price is None:
        return {"qty": qty, "avg_cost": avg_cost, "mark": None, "usd_value": None, "source": NO_PRICE,
                "price_age_s": None}
    return {"qty": qty, "avg_cost": avg_cost, "mark": price, "usd_value": round(qty * price, 2),
            "source": tier, "price_age_s": age}


def position(p: dict) -> dict:
    """A position of the snapshot, with its uPnL and notional."""
    sign = 1 if p["side"] == "LONG" else -1
    upnl = round(sign * p["qty"] * (p["mark_price"] - p["entry_price"]), 2)
    return {**p, "upnl": upnl, "notional": round(p["qty"] * p["mark_price"], 2)}


def nav_doc(*, seq: int = 1042, ts: float | None = None, nav_total: float | None = 100234.55,
            nav_age_s: float | None = 0.8, source: str = "live", holdings: dict[str, dict] | None = None,
            positions: list[dict] | None = None, fx: dict[str, float] | None = None,
            reasons: list[str] | None = None) -> dict:
    """A validated nav.v7 snapshot of a realistic fund; a holding without a price adds its reason."""
    if holdings is None:
        holdings = {a: holding(q, c, p, t, age) for a, (q, c, p, t, age) in HOLDINGS.items()}
    reasons = list(reasons or []) + [f"{a}: no price from any source" for a, h in holdings.items()
                                     if h["usd_value"] is None]
    doc = nav_document(seq=seq, ts=ts if ts is not None else time.time(), nav_total=nav_total,
                       nav_age_s=nav_age_s, source=source,
                       positions=[position(p) for p in (POSITIONS if positions is None else positions)],
                       holdings=holdings, fx={fx_pair("ZAR"): USDZAR} if fx is None else fx, reasons=reasons,
                       round_total=True)
    return validate_nav_document(doc)


def kpis_doc(*, ts: float | None = None, nav: dict | None = None, dd_pct: float | None = 0.0231,
             dd_state: str | None = "normal", atr_regime: str | None = "normal",
             fee_pnl_ratio: float | None = 0.18, router_quality: str | None = "good",
             maker_fill_ratio: float | None = 0.62, fallback_ratio: float | None = 0.04, fills: int = 48) -> dict:
    """A validated kpis.v7 document (nested and flat forms) for `nav`."""
    nav = nav or nav_doc()
    doc = {
        "schema": "kpis.v7", "ts": ts if ts is not None else time.time(),
        "nav": {"nav_total": nav["nav_total"], "nav_age_s": nav["nav_age_s"]},
        "aum_total": nav["aum"]["total"],
        "drawdown": {"dd_pct": dd_pct, "dd_state": dd_state, "peak_nav": 102600.0},
        "dd_state": dd_state,
        "atr": {"atr_regime": atr_regime, "by_symbol": {
            "BTCUSDT": {"atr": 412.5, "atr_pct": 0.00425, "regime": "normal", "bars": 14},
            "ETHUSDT": {"atr": 31.2, "atr_pct": 0.0087, "regime": "high", "bars": 14},
            "SOLUSDT": {"atr": None, "atr_pct": None, "regime": None, "bars": 1}}},
        "atr_regime": atr_regime,
        "fee_pnl": {"fee_pnl_ratio": fee_pnl_ratio, "fees_usd": 41.3, "realized_pnl_usd": 229.4, "window_s": 3600.0},
        "fee_pnl_ratio": fee_pnl_ratio,
        "router_quality": router_quality,
        "router_stats": {"maker_fill_ratio": maker_fill_ratio, "fallback_ratio": fallback_ratio, "fills": fills,
                         "window_s": 3600.0, "avg_slippage_bps": 1.8, "maker_fills": 30, "fallback_fills": 2},
    }
    return validate_kpis_document(doc)

"""Realistic published state for dashboard tests, shaped exactly like what the pipeline writes.

Documents are checked against the project's own contract models (nav.v7, kpis.v7)
before a test uses them, so a fixture can never drift from the contract unnoticed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import redis

from shared.atomic import write_json_atomic
from shared.contracts.fills import Fill, encode_fill
from shared.contracts.kpis import validate_kpis_document
from shared.contracts.nav import encode_nav_entry, validate_nav_document
from shared.contracts.prices import PriceObservation, encode_latest
from shared.keys import GROUP_NAV, GROUP_PUBLISHER, Keys
from shared.redis_io import ensure_group

KEYS = Keys("hedge")
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
USDZAR = 18.21


def holding(qty: float, avg_cost: float | None, price: float | None, tier: str,
            age: float | None = 0.4) -> dict:
    if price is None:
        return {"qty": qty, "avg_cost": avg_cost, "mark": None, "usd_value": None, "source": "none",
                "price_age_s": None}
    return {"qty": qty, "avg_cost": avg_cost, "mark": price, "usd_value": round(qty * price, 2),
            "source": tier, "price_age_s": age}


def position(p: dict) -> dict:
    sign = 1 if p["side"] == "LONG" else -1
    upnl = round(sign * p["qty"] * (p["mark_price"] - p["entry_price"]), 2)
    return {**p, "upnl": upnl, "notional": round(p["qty"] * p["mark_price"], 2)}


def nav_doc(*, seq: int = 1042, ts: float | None = None, nav_total: float | None = 100234.55,
            nav_age_s: float | None = 0.8, source: str = "live", holdings: dict[str, dict] | None = None,
            positions: list[dict] | None = None, fx: dict[str, float] | None = None,
            reasons: list[str] | None = None) -> dict:
    """A nav.v7 snapshot; aum.total = nav_total + the holdings' usd_value (missing ones count 0)."""
    if holdings is None:
        holdings = {a: holding(q, c, p, t, age) for a, (q, c, p, t, age) in HOLDINGS.items()}
    reasons = list(reasons or []) + [f"{a}: no price from any source" for a, h in holdings.items()
                                     if h["usd_value"] is None]
    off = sum(h["usd_value"] for h in holdings.values() if h["usd_value"] is not None)
    doc = {
        "schema": "nav.v7", "seq": seq, "ts": ts if ts is not None else time.time(),
        "nav_total": nav_total, "nav_age_s": nav_age_s if nav_total is not None else None, "source": source,
        "positions": [position(p) for p in (POSITIONS if positions is None else positions)],
        "aum": {"futures": nav_total, "offexchange": holdings,
                "total": None if nav_total is None else round(nav_total + off, 2)},
        "fx": {"USDZAR": USDZAR} if fx is None else fx,
        "status": {"degraded": bool(reasons), "reasons": reasons},
    }
    return validate_nav_document(doc)


def kpis_doc(*, ts: float | None = None, nav: dict | None = None, dd_pct: float | None = 0.0231,
             dd_state: str | None = "normal", atr_regime: str | None = "normal",
             fee_pnl_ratio: float | None = 0.18, router_quality: str | None = "good",
             maker_fill_ratio: float | None = 0.62, fallback_ratio: float | None = 0.04, fills: int = 48) -> dict:
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


# --- writers ---------------------------------------------------------------------

def publish(r: redis.Redis, nav: dict, kpis: dict | None = None, *, stream: bool = True) -> None:
    """What nav + publisher do for one snapshot: XADD hedge:nav, SET hedge:state:* ."""
    pipe = r.pipeline()
    if stream:
        pipe.xadd(KEYS.nav, encode_nav_entry(nav))
    pipe.set(KEYS.state_nav, orjson.dumps(nav))
    pipe.set(KEYS.state_positions, orjson.dumps({"ts": nav["ts"], "positions": nav["positions"]}))
    if kpis is not None:
        pipe.set(KEYS.state_kpis, orjson.dumps(kpis))
    pipe.execute()


def write_state_files(folder: Path, nav: dict, kpis: dict) -> None:
    write_json_atomic(folder / "nav.json", nav)
    write_json_atomic(folder / "kpis_v7.json", kpis)
    write_json_atomic(folder / "positions.json", {"ts": nav["ts"], "positions": nav["positions"]})


def add_history(r: redis.Redis, now: float, points: int = 180) -> None:
    """One point a minute for the last `points` minutes, with a dip to show drawdown."""
    pipe = r.pipeline()
    peak = 0.0
    for i in range(points):
        ts = now - (points - i) * 60
        nav = 98000 + 25 * i - (900 if 100 < i < 140 else 0) + (i % 7) * 40
        peak = max(peak, nav)
        fields = {"ts": repr(ts), "nav_total": repr(float(nav)), "aum_total": repr(float(nav + 3395 + 1563 + 2098)),
                  "dd_pct": repr((peak - nav) / peak), "peak_nav": repr(peak),
                  "maker_fill_ratio": repr(0.55 + (i % 10) / 100), "fallback_ratio": repr(0.02 + (i % 5) / 100),
                  "fee_pnl_ratio": "" if i < 10 else repr(0.15 + (i % 8) / 100)}
        pipe.xadd(KEYS.nav_history, fields, id=f"{int(ts * 1000)}-0")
    pipe.execute()


def add_fills(r: redis.Redis, now: float, count: int = 12) -> list[Fill]:
    fills = []
    for i in range(count):
        sym = ("BTCUSDT", "ETHUSDT", "SOLUSDT")[i % 3]
        fill = Fill(id=f"f{i:04d}", sym=sym, side="BUY" if i % 2 else "SELL", qty=0.01 * (i + 1),
                    px=(97000.0, 3588.0, 179.9)[i % 3], fee_usd=0.12 + i / 100,
                    liquidity="taker" if i % 4 == 0 else "maker", fallback=i % 6 == 0,
                    realized_pnl_usd=round(3.5 - i * 0.4, 2), slippage_bps=0.5 + i / 10, ts=now - (count - i) * 30)
        r.xadd(KEYS.fills, encode_fill(fill))
        fills.append(fill)
    return fills


def set_heartbeats(r: redis.Redis, now: float, services: dict[str, dict[str, Any]] | None = None) -> None:
    services = services if services is not None else {
        "marketsim": {"counters": {"requests": 5120}},
        "pricer": {"counters": {"rounds": 812, "published": 4872}},
        "nav": {"counters": {"snapshots": 1042}},
        "publisher": {"counters": {"snapshots": 1040}, "last_error": "coingecko: HTTP 429",
                      "last_error_ts": now - 95},
    }
    for name, extra in services.items():
        doc = {"service": name, "pid": 4000 + len(name), "ts": now - 0.5, "status": "ok",
               "last_error": None, "counters": {}, **extra}
        r.set(KEYS.health(name), orjson.dumps(doc), ex=30)


def set_prices(r: redis.Redis, now: float) -> None:
    latest = {
        "BTC": PriceObservation("BTC", 97000.1, "mark", now - 0.4),
        "XAUT": PriceObservation("XAUT", 2650.4, "coingecko", now - 12.0),
        "USDC": PriceObservation("USDC", 0.9998, "spot_cache", now - 20.0),
        "BTCUSDT": PriceObservation("BTCUSDT", 97000.1, "mark", now - 0.4),
        "ETHUSDT": PriceObservation("ETHUSDT", 3588.2, "mark", now - 0.4),
        "SOLUSDT": PriceObservation("SOLUSDT", 179.9, "mark", now - 0.4),
        "USDZAR": PriceObservation("USDZAR", USDZAR, "coingecko", now - 30.0),
    }
    r.hset(KEYS.prices_latest, mapping={s: encode_latest(o) for s, o in latest.items()})
    sources = {
        "BTC": {"asset": "BTC", "market": "BTCUSDT", "chosen": {"px": 97000.1, "src": "mark", "ts": now - 0.4},
                "sources": {"mark": {"px": 97000.1, "ts": now - 0.4},
                            "spot_cache": {"px": 96990.0, "ts": now - 3},
                            "coingecko": {"px": 97012.0, "ts": now - 25},
                            "avg_cost": {"px": 61000.0, "ts": now - 9000}},
                "errors": {}, "diverged": False, "spread_pct": 0.0227, "depeg": False},
        "XAUT": {"asset": "XAUT", "market": "XAUTUSDT", "chosen": {"px": 2650.4, "src": "coingecko", "ts": now - 12},
                 "sources": {"mark": None, "spot_cache": None, "coingecko": {"px": 2650.4, "ts": now - 12},
                             "avg_cost": {"px": 2350.0, "ts": now - 9000}},
                 "errors": {"mark": "market XAUTUSDT is delisted", "spot_cache": "no spot market XAUTUSDT"},
                 "diverged": False, "spread_pct": None, "depeg": False},
        "USDC": {"asset": "USDC", "market": "USDCUSDT", "chosen": {"px": 0.9998, "src": "spot_cache", "ts": now - 20},
                 "sources": {"mark": None, "spot_cache": {"px": 0.9998, "ts": now - 20},
                             "coingecko": {"px": 1.0001, "ts": now - 25}, "avg_cost": {"px": 1.0, "ts": now - 9000}},
                 "errors": {"mark": "mark price stale (95 s old)"}, "diverged": False, "spread_pct": 0.03,
                 "depeg": False},
    }
    r.hset(KEYS.prices_sources, mapping={a: orjson.dumps(d) for a, d in sources.items()})


def add_groups(r: redis.Redis) -> None:
    """Streams and consumer groups as the pipeline leaves them (some lag and pending)."""
    for i in range(5):
        r.xadd(KEYS.prices, {"sym": "BTC", "px": repr(97000.0 + i), "src": "mark", "ts": repr(time.time()),
                             "diverged": "0"})
    for stream, group in ((KEYS.prices, GROUP_NAV), (KEYS.nav, GROUP_PUBLISHER)):
        ensure_group(r, stream, group)
    r.xreadgroup(GROUP_NAV, "nav-1", {KEYS.prices: ">"}, count=3)


def seed_all(r: redis.Redis, now: float | None = None) -> tuple[dict, dict]:
    """Everything a running pipeline would have published: snapshot, KPIs, history, fills, health, prices."""
    now = now or time.time()
    nav = nav_doc(ts=now)
    kpis = kpis_doc(ts=now, nav=nav)
    publish(r, nav, kpis)
    add_history(r, now)
    add_fills(r, now)
    set_heartbeats(r, now)
    set_prices(r, now)
    add_groups(r)
    return nav, kpis

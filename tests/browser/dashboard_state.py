"""Realistic published state for dashboard tests, written where the pipeline writes it:
the hedge:nav stream, the hedge:state:* keys, the state files, history, fills, heartbeats, prices.

The documents come from tests/documents.py (checked against the contract models there).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import redis

from shared.atomic import write_json_atomic
from shared.contracts.fills import Fill, encode_fill
from shared.contracts.nav import encode_nav_entry
from shared.contracts.prices import PriceObservation, encode_latest
from shared.contracts.vocabulary import KPIS_FILE, NAV_FILE, POSITIONS_FILE
from shared.keys import GROUP_NAV, GROUP_PUBLISHER, Keys
from shared.redis_io import ensure_group
from tests.documents import USDZAR, kpis_doc, nav_doc

KEYS = Keys("hedge")


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
    write_json_atomic(folder / NAV_FILE, nav)
    write_json_atomic(folder / KPIS_FILE, kpis)
    write_json_atomic(folder / POSITIONS_FILE, {"ts": nav["ts"], "positions": nav["positions"]})


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

"""Targets and the readable table: each figure against its target, and throughput against the baseline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.dashboard.views import sub as _get   # the one safe walk into a JSON document
from shared.settings import Settings

from benchmarks import rest as rest_bench

SERVICES_WITH_RSS_TARGET = ("marketsim", "nav", "publisher", "dashboard")


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    label: str
    unit: str
    limit: float
    higher_is_better: bool
    value: Callable[[dict], float | None]
    note: Callable[[dict], str] = lambda _r: ""


def _max_rss(result: dict) -> float | None:
    values = [v for name, series in (result.get("rss_mb") or {}).items() if name in SERVICES_WITH_RSS_TARGET
              for v in series.values() if isinstance(v, (int, float))]
    return max(values) if values else None


def _max_rss_note(result: dict) -> str:
    best = None
    for name, series in (result.get("rss_mb") or {}).items():
        if name in SERVICES_WITH_RSS_TARGET:
            for when, v in series.items():
                if isinstance(v, (int, float)) and (best is None or v > best[0]):
                    best = (v, f"{name} at {when}")
    return best[1] if best else ""


def _spread(result: dict) -> float | None:
    costs = [row["us_per_update"] for row in result.get("scaling") or [] if row.get("us_per_update")]
    return round(max(costs) / min(costs), 2) if len(costs) >= 2 else None


def _spread_note(result: dict) -> str:
    rows = result.get("scaling") or []
    return ", ".join(f"{r['instruments']}: {r['us_per_update']:g} µs" for r in rows if r.get("us_per_update"))


# --- the fund's record (benchmarks/record.py) ----------------------------------------------------
_DEFAULTS = Settings()
DEFAULT_SNAPSHOTS_PER_S = 1 / _DEFAULTS.price_interval_s + 1 / _DEFAULTS.account_interval_s
INGEST_TARGET_PER_S = 10 * DEFAULT_SNAPSHOTS_PER_S
DB_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _db(result: dict, db: str, *path: str) -> Any:
    return _get(result, "record", "databases", db, *path)


def _why_missing(result: dict, db: str, part: str) -> str:
    return (_get(result, "record", "error") or _db(result, db, "skipped") or _db(result, db, part, "skipped")
            or _db(result, db, part, "error") or "")


def _record_targets(db: str) -> tuple[Target, ...]:
    name = DB_NAMES[db]
    return (
        Target(f"record_query_{db}", f"history query, years of minutes ({name}, median)", "ms", 200.0, False,
               lambda r: _db(r, db, "queries", "ms", "history_points", "median"),
               lambda r: _why_missing(r, db, "queries") or
               f"{_fmt(_db(r, db, 'queries', 'history_rows'))} rows, {_db(r, db, 'queries', 'points')} points; "
               f"whole page read {_db(r, db, 'queries', 'ms', 'record_view', 'median')} ms"),
        Target(f"record_page_{db}", f"Performance page -> first chart in Chromium ({name}, median)", "s", 1.0,
               False, lambda r: _db(r, db, "page", "median_s"),
               lambda r: _why_missing(r, db, "page") or
               f"first load {_db(r, db, 'page', 'first_s')} s; from the navbar (plotly.js evaluated) "
               f"{_db(r, db, 'page', 'navbar_switch_median_s')} s"),
        Target(f"ledger_ingest_{db}", f"ledger ingest hedge:nav -> committed rows, sustained ({name})", "rows/s",
               round(INGEST_TARGET_PER_S, 2), True, lambda r: _db(r, db, "ingest", "sustained", "rows_per_s"),
               lambda r: _why_missing(r, db, "ingest") or
               f"offered {_db(r, db, 'ingest', 'sustained', 'offered_per_s')}/s (default rate "
               f"{DEFAULT_SNAPSHOTS_PER_S:g}/s; target 10x); burst {_db(r, db, 'ingest', 'burst', 'rows_per_s')} "
               "rows/s"),
        Target(f"ledger_backlog_{db}", f"ledger backlog growth, last third - first third ({name})", "entries",
               round(INGEST_TARGET_PER_S, 2), False, lambda r: _backlog_growth(r, db),
               lambda r: _why_missing(r, db, "ingest") or
               f"max backlog {_db(r, db, 'ingest', 'sustained', 'backlog_max')} entries; drained "
               f"{_db(r, db, 'ingest', 'sustained', 'drain_s_after_feed')} s after the feed stopped"),
    )


def _backlog_growth(result: dict, db: str) -> float | None:
    first = _db(result, db, "ingest", "sustained", "backlog_first_third_mean")
    last = _db(result, db, "ingest", "sustained", "backlog_last_third_mean")
    return None if first is None or last is None else round(last - first, 2)


TARGETS = (
    Target("throughput_ratio", "end-to-end throughput / pipelined-XADD baseline", "x", 0.5, True,
           lambda r: _get(r, "throughput", "ratio_to_baseline"),
           lambda r: f"{_get(r, 'throughput', 'consumed_per_s')} vs {_get(r, 'baseline', 'xadd_per_s')} updates/s "
                     f"at {_get(r, 'throughput', 'instruments')} instruments"),
    Target("latency_nav_p99", "p99 price XADD -> snapshot on hedge:nav", "ms", 10.0, False,
           lambda r: _get(r, "latency", "to_nav_stream_ms", "p99"),
           lambda r: f"p50 {_get(r, 'latency', 'to_nav_stream_ms', 'p50')} ms, max "
                     f"{_get(r, 'latency', 'to_nav_stream_ms', 'max')} ms"),
    Target("latency_file_p99", "p99 price XADD -> nav.json on disk", "ms", 25.0, False,
           lambda r: _get(r, "latency", "to_nav_json_ms", "p99"),
           lambda r: f"p50 {_get(r, 'latency', 'to_nav_json_ms', 'p50')} ms, max "
                     f"{_get(r, 'latency', 'to_nav_json_ms', 'max')} ms"),
    Target("valuation_median", "valuation of 1,000 holdings + 200 positions (median)", "ms", 1.0, False,
           lambda r: _get(r, "valuation", "build_ms", "median"),
           lambda r: f"p99 {_get(r, 'valuation', 'build_ms', 'p99')} ms; CPU median "
                     f"{_get(r, 'valuation', 'build_cpu_ms', 'median')} ms"),
    Target("max_rss", "largest service RSS", "MB", 150.0, False, _max_rss, _max_rss_note),
    Target("scaling_spread", "cost per update, max / min over the sizes", "x", 2.0, False, _spread, _spread_note),
    Target("overview_callback", "Overview refresh (full redraw, server time, median)", "ms", 50.0, False,
           lambda r: _get(r, "dashboard", "callbacks", "refresh_full_ms", "median"),
           lambda r: f"at {_get(r, 'dashboard', 'callbacks', 'holdings')} holdings; over HTTP "
                     f"{_get(r, 'dashboard', 'http', 'refresh_full_ms', 'median')} ms"),
    Target("donut_visible", "navigation -> donut visible in Chromium (median)", "s", 1.0, False,
           lambda r: _get(r, "dashboard", "donut", "median_s"),
           lambda r: _get(r, "dashboard", "donut", "skipped") or _get(r, "dashboard", "donut", "error") or
           f"first load {_get(r, 'dashboard', 'donut', 'first_s')} s; "
           f"{' + '.join(_get(r, 'dashboard', 'donut', 'plotly_js') or ['plotly.js file not recorded'])}"),
    *_record_targets("sqlite"),
    *_record_targets("postgresql"),
    Target("rest_cpu", "whole system at rest, 2 accounts: CPU", "% of a core", 2.0, False,
           lambda r: _get(r, "rest", "footprint", "total", "cpu_pct"),
           lambda r: f"{_get(r, 'rest', 'footprint', 'total', 'python_processes')} Python processes over "
                     f"{_get(r, 'rest', 'footprint', 'seconds')} s; redis-server "
                     f"{_get(r, 'rest', 'footprint', 'processes', 'redis-server', 'cpu_pct')} % beside them"),
    Target("rest_rss", "whole system at rest, 2 accounts: RSS in total", "MB", 300.0, False,
           lambda r: _get(r, "rest", "footprint", "total", "rss_mb"),
           lambda r: f"USS {_get(r, 'rest', 'footprint', 'total', 'uss_mb')} MB; redis-server "
                     f"{_get(r, 'rest', 'footprint', 'processes', 'redis-server', 'rss_mb')} MB beside them"),
    Target("many_accounts_latency", "snapshot latency, 20 accounts / 2 accounts (mean)", "x", 1.2, False,
           lambda r: _get(r, "rest", "latency_ratio_mean"),
           lambda r: f"mean {_get(r, 'rest', 'footprint', 'snapshot_latency_ms', 'mean')} -> "
                     f"{_get(r, 'rest', 'many_accounts', 'snapshot_latency_ms', 'mean')} ms; p99 ratio "
                     f"{_get(r, 'rest', 'latency_ratio_p99')}"),
)


def evaluate(result: dict) -> list[dict]:
    """One row per target: value, limit, met (None when the figure is missing)."""
    rows = []
    for t in TARGETS:
        value = t.value(result)
        met = None if value is None else (value >= t.limit if t.higher_is_better else value <= t.limit)
        rows.append({"key": t.key, "label": t.label, "value": value, "unit": t.unit,
                     "target": f"{'≥' if t.higher_is_better else '≤'} {t.limit:g} {t.unit}", "met": met,
                     "note": t.note(result)})
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) for r in rows]
    return out


def render_table(result: dict) -> str:
    out = []
    m, s = result["machine"], result["setup"]
    out.append(f"navstream bench — {m['nproc']} cores ({m['cpu_model']}), {m['mem_total_mb']:,} MB, "
               f"Python {m['python']}, Redis {m['redis_version']}; load average at start {m['loadavg_start']}")
    out.append(f"setup: {s['nav_path']}; Redis AOF {'on (appendfsync always)' if s['redis_aof'] else 'off'}; "
               f"hedge:prices MAXLEN ~{s['prices_maxlen']:,}; {s['instruments']:,} instruments")
    out.append("")
    met = {True: "yes", False: "NO", None: "–"}
    out += _table(["figure", "value", "target", "met", "detail"],
                  [[t["label"], f"{_fmt(t['value'])} {t['unit']}", t["target"], met[t["met"]], t["note"]]
                   for t in result["targets"]])
    out.append("")
    base = _get(result, "baseline", "xadd_per_s") or 0
    out += _table(["instruments", "updates/s", "µs/update", "/ baseline", "upd/snapshot",
                   "CPU µs/upd nav", "publisher", "redis", "pricer(bench)"],
                  [[_fmt(r["instruments"]), _fmt(r["consumed_per_s"]), _fmt(r["us_per_update"]),
                    _fmt(round(r["consumed_per_s"] / base, 3) if base else None), _fmt(r["updates_per_snapshot"]),
                    _fmt(r["cpu_us_per_update"].get("nav")), _fmt(r["cpu_us_per_update"].get("publisher")),
                    _fmt(r["cpu_us_per_update"].get("redis")), _fmt(r["cpu_us_per_update"].get("bench"))]
                   for r in result.get("scaling") or []])
    out.append("")
    rss = result.get("rss_mb") or {}
    order = ["start", "after_latency", "after_dashboard", "end", "peak"]
    phases = [p for p in order if any(p in series for series in rss.values())]
    out += _table(["RSS MB", *phases], [[name, *(_fmt(series.get(p)) for p in phases)] for name, series in rss.items()])
    weight = result.get("pricer_weight")
    if weight:
        out.append("")
        out.append(f"pricer Binance request weight at a {weight['interval_s']:g} s interval: "
                   f"{_fmt(weight['fapi_weight_per_min'])}/min on USD-M (budget {_fmt(weight['fapi_budget_per_min'])}, "
                   f"10 % of 2,400), {_fmt(weight['spot_weight_per_min'])}/min on spot; listing reloads "
                   f"{weight['listing_reloads']} in {weight['seconds']:g} s")
    mem = result.get("redis_memory") or {}
    if mem:
        out.append("")
        keys = ", ".join(f"{k} {_fmt(v)}" for k, v in mem.get("by_key_mb", {}).items())
        out.append(f"Redis used_memory {_fmt(mem.get('used_memory_mb'))} MB "
                   f"(peak {_fmt(mem.get('used_memory_peak_mb'))}"
                   f" MB); by key (MB): {keys}")
    if result.get("rest"):
        out.append("")
        out += rest_bench.render(result["rest"])
    for note in result.get("notes") or []:
        out.append(f"note: {note}")
    return "\n".join(out)

"""Every read the dashboard makes, in one place: Redis first, the mirrored state files second.

The dashboard never computes NAV or AUM: these functions return what the nav service
and the publisher published, `{}` / `[]` when there is nothing usable. Reads go through
the app's `StateSource` (source.py: fails fast, skips a Redis found unreachable a moment
ago), so a dead or frozen Redis never makes a page wait. Shaping for display is views.py's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis

from services.dashboard import context
from services.dashboard.live import LiveState
from services.dashboard.source import RedisDown, StateSource
from services.dashboard.views import num
from shared.contracts.fills import Fill, decode_fill
from shared.contracts.health import decode_heartbeat
from shared.contracts.history import HISTORY_VALUES
from shared.contracts.positions import positions_of
from shared.contracts.prices import decode_latest
from shared.contracts.provenance import decode_provenance
from shared.contracts.vocabulary import KPIS_FILE, NAV_FILE, POSITIONS_FILE
from shared.errors import ContractError
from shared.keys import SERVICES
from shared.settings import Settings
from shared.stream_stats import StreamInfo, read_stream

HISTORY_POINTS = 1440      # one day of one-minute points
MAX_EPOCH_S = 32503680000.0  # year 3000: a history "ts" beyond it is junk, not a time


def configure(settings: Settings, r: redis.Redis | None = None) -> StateSource:
    """A fresh app context reading through `settings` (create_app and tests call this)."""
    return context.install(context.DashboardContext.from_settings(settings, r)).source


def default_source() -> StateSource:
    """The app's read source."""
    return context.current().source


# --- state documents (nav.json, kpis_v7.json, positions.json) ---------------------

@dataclass(frozen=True, slots=True)
class Loaded:
    """A state document and where it came from: origin "redis", "file" or "none"."""

    doc: dict
    origin: str
    where: str
    note: str | None = None   # why Redis was not used, when it was not


def parse_document(raw: bytes | str | None, where: str, src: StateSource) -> dict | None:
    """A JSON object, or None (and one warning) when `raw` is not one."""
    if raw is None:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        src.warn_once(where, f"{where}: not valid JSON ({exc}); ignoring it")
        return None
    if not isinstance(doc, dict):
        src.warn_once(where, f"{where}: a JSON {type(doc).__name__}, not an object; ignoring it")
        return None
    src.read_ok(where)
    return doc


def read_state(key: str, filename: str, state_dir: str | Path | None = None,
               source: StateSource | None = None) -> Loaded:
    """Redis key `key`, else `filename` in the state dir, else an empty document."""
    src = source or default_source()
    note: str | None
    try:
        raw = src.call(lambda r: r.get(key))
    except RedisDown as exc:
        raw, note = None, str(exc)
    else:
        note = None if raw is not None else f"{key} not set"
    doc = parse_document(raw, key, src)
    if doc is not None:
        return Loaded(doc, "redis", key)
    if raw is not None:
        note = f"{key} is malformed"
    path = Path(state_dir) if state_dir is not None else src.state_dir
    path = path / filename
    try:
        file_raw = path.read_bytes()
    except FileNotFoundError:
        return Loaded({}, "none", str(path), note)
    except OSError as exc:
        src.warn_once(str(path), f"state file {path}: cannot read it ({exc}); showing no data from it")
        return Loaded({}, "none", str(path), note)
    doc = parse_document(file_raw, f"state file {path}", src)
    if doc is None:
        return Loaded({}, "none", str(path), note)
    return Loaded(doc, "file", str(path), note)


def read_nav(state_dir: str | Path | None = None, source: StateSource | None = None) -> Loaded:
    src = source or default_source()
    return read_state(src.keys.state_nav, NAV_FILE, state_dir, src)


def read_kpis(state_dir: str | Path | None = None, source: StateSource | None = None) -> Loaded:
    src = source or default_source()
    return read_state(src.keys.state_kpis, KPIS_FILE, state_dir, src)


def load_nav_with_aum(state_dir: str | Path | None = None, source: StateSource | None = None) -> dict:
    """The latest nav.v7 snapshot (with its `aum` block) from hedge:state:nav or nav.json; {} if none."""
    return read_nav(state_dir, source).doc


def load_kpis(state_dir: str | Path | None = None, source: StateSource | None = None) -> dict:
    """The latest kpis.v7 document from hedge:state:kpis or kpis_v7.json; {} if none."""
    return read_kpis(state_dir, source).doc


def load_positions(state_dir: str | Path | None = None, source: StateSource | None = None) -> list[dict]:
    """Positions from hedge:state:positions or positions.json; [] if none."""
    src = source or default_source()
    return positions_of(read_state(src.keys.state_positions, POSITIONS_FILE, state_dir, src).doc)


def current_nav(source: StateSource | None = None, live: LiveState | None = None) -> Loaded:
    """The newest snapshot the dashboard knows: the live feed's or the published state, whichever is newer.

    The live feed (hedge:nav) is normally ahead; the state key or file covers a fresh
    start, a feed that lost Redis, and a snapshot published without a stream entry.
    """
    state = read_nav(source=source)
    live = live if live is not None else context.current().live.get()
    if live.snapshot is None:
        return state
    streamed = Loaded(live.snapshot, "stream", (source or default_source()).keys.nav, state.note)
    live_ts, state_ts = num(live.snapshot.get("ts")), num(state.doc.get("ts"))
    if state_ts is not None and (live_ts is None or state_ts > live_ts):
        return state
    return streamed


# --- streams, history, fills -----------------------------------------------------------

def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _field(fields: Mapping[Any, Any], name: str) -> Any:
    return fields.get(name.encode(), fields.get(name))


def _flat_float(raw: Any) -> float | None:
    """A flat stream field as a finite float; "" (null), junk, NaN and inf are None."""
    if raw is None:
        return None
    try:
        return num(float(_s(raw)))
    except ValueError:
        return None


def _newest_entries(src: StateSource, stream: str, count: int) -> list:
    """The newest `count` entries of `stream`, newest first; [] when Redis is down."""
    try:
        return src.call(lambda r: r.xrevrange(stream, "+", "-", count=count))
    except RedisDown:
        return []


def load_history(source: StateSource | None = None, count: int = HISTORY_POINTS) -> list[dict]:
    """hedge:nav:1m as points {id, ts, nav_total, aum_total, dd_pct, ...}, oldest first; [] if none."""
    src = source or default_source()
    points = []
    for entry_id, fields in reversed(_newest_entries(src, src.keys.nav_history, count)):
        ts = _flat_float(_field(fields, "ts"))
        if ts is None or not 0 < ts < MAX_EPOCH_S:
            continue
        point = {"id": _s(entry_id), "ts": ts}
        # Field by field, not decode_history_point: one bad value greys one chart, not the point.
        point.update({name: _flat_float(_field(fields, name)) for name in HISTORY_VALUES})
        points.append(point)
    return points


def history_head(source: StateSource | None = None) -> str | None:
    """The id of the newest history point, None when there is none (cheap: lets a page skip
    reloading an unchanged chart). Raises RedisDown, so a page can keep what it drew."""
    src = source or default_source()
    entries = src.call(lambda r: r.xrevrange(src.keys.nav_history, "+", "-", count=1))
    return _s(entries[0][0]) if entries else None


def load_fills(source: StateSource | None = None, count: int = 50) -> list[Fill]:
    """The newest `count` router fills, newest first; malformed entries are skipped (and logged once)."""
    src = source or default_source()
    fills = []
    for entry_id, fields in _newest_entries(src, src.keys.fills, count):
        try:
            fills.append(decode_fill(fields))
        except ContractError as exc:
            src.warn_once(f"fill {_s(entry_id)}", f"{src.keys.fills} entry {_s(entry_id)}: {exc}; not shown")
    return fills


# --- heartbeats and streams (Pipeline page) ----------------------------------------------

def load_heartbeats(source: StateSource | None = None) -> dict[str, dict]:
    """service -> heartbeat doc for every hedge:health:* key, plus {} for known services without one.

    A heartbeat that does not decode is {"malformed": "<why>"}. Raises RedisDown.
    """
    src = source or default_source()
    prefix = src.keys.health("")

    def fetch(r: redis.Redis) -> list[tuple[bytes, bytes | None]]:
        names = sorted(r.scan_iter(match=src.keys.health_pattern(), count=200))
        return list(zip(names, r.mget(names), strict=True)) if names else []

    out: dict[str, dict] = {name: {} for name in SERVICES}
    for key, raw in src.call(fetch):
        service = _s(key)[len(prefix):]
        if raw is None:
            out[service] = {}
            continue
        try:
            out[service] = decode_heartbeat(raw).model_dump()
        except ContractError as exc:
            out[service] = {"malformed": str(exc)}
    return out


def stream_names(source: StateSource | None = None) -> list[str]:
    src = source or default_source()
    k = src.keys
    return [k.prices, k.nav, k.fills, k.nav_history]


def load_stream_stats(source: StateSource | None = None) -> list[dict]:
    """Per stream: length, newest entry time and consumer groups (lag, pending, last delivered). Raises RedisDown."""
    src = source or default_source()

    def fetch(r: redis.Redis) -> list[dict]:
        now = time.time()
        return [_stats_doc(read_stream(r, name, now)) for name in stream_names(src)]

    return src.call(fetch)


def _stats_doc(info: StreamInfo) -> dict:
    if not info.exists:
        return {"stream": info.stream, "exists": False, "length": None, "last_ts": None, "groups": []}
    return {"stream": info.stream, "exists": True, "length": info.length, "entries_added": info.entries_added,
            "last_ts": info.last_ts, "groups": info.groups}


# --- prices (Intel page) -----------------------------------------------------------------

def _decoded_hash(src: StateSource, key: str, decode: Callable[[str, bytes, str], dict]) -> dict[str, dict]:
    """Every field of hash `key` through `decode(field, value, where)`; {} when Redis is down.
    A field that does not decode is left out (and logged once)."""
    try:
        raw = src.call(lambda r: r.hgetall(key))
    except RedisDown:
        return {}
    out = {}
    for name, value in ((_s(f), v) for f, v in raw.items()):
        where = f"{key} {name}"
        try:
            out[name] = decode(name, value, where)
        except ContractError as exc:
            message = str(exc) if str(exc).startswith(where) else f"{where}: {exc}"
            src.warn_once(where, f"{message}; not shown")
            continue
        src.read_ok(where)
    return out


def _latest_doc(sym: str, value: bytes, _where: str) -> dict:
    obs = decode_latest(sym, value)
    return {"px": obs.px, "src": obs.src, "ts": obs.ts, "diverged": obs.diverged}


def load_prices(source: StateSource | None = None) -> dict[str, dict]:
    """hedge:prices:latest as sym -> {px, src, ts, diverged}; bad fields skipped (logged once)."""
    src = source or default_source()
    return _decoded_hash(src, src.keys.prices_latest, _latest_doc)


def load_price_sources(source: StateSource | None = None) -> dict[str, dict]:
    """hedge:prices:sources as asset -> provenance document (pricer's per-source observations)."""
    src = source or default_source()
    docs = _decoded_hash(src, src.keys.prices_sources,
                         lambda _asset, value, where: dict(decode_provenance(value, where)))
    return dict(sorted(docs.items()))


def redis_status(source: StateSource | None = None) -> str:
    """A short line for the navbar and notes: "" when Redis answers, else why not."""
    src = source or default_source()
    return src.last_error or ""


__all__ = [
    "Loaded", "RedisDown", "StateSource", "configure", "current_nav", "default_source", "history_head",
    "load_fills", "load_heartbeats", "load_history", "load_kpis", "load_nav_with_aum", "load_positions",
    "load_price_sources", "load_prices", "load_stream_stats", "read_kpis", "read_nav", "read_state",
    "redis_status",
]

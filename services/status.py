"""`navstream status`: each service's heartbeat, stream lengths and consumer lag, and an exit code.

Exit 0 when every expected service has a fresh heartbeat with status "ok" or
"degraded" (working, but on fallback data: a monitor may want to know, use
--strict), 1 when any is missing, stale or in error, 3 when Redis cannot be
reached: ready for a cron job or a monitor. `--json` prints the same as one JSON
document. Containers use the cheaper `navstream-healthcheck` (same rule).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass

import redis

from services.healthcheck import EXIT_NO_REDIS, EXIT_OK, EXIT_UNHEALTHY, judge
from shared.contracts.health import decode_heartbeat
from shared.errors import ContractError
from shared.keys import Keys
from shared.redis_io import RedisUnavailable, entry_pos

__all__ = ["EXIT_NO_REDIS", "EXIT_OK", "EXIT_UNHEALTHY", "status_command"]


@dataclass(frozen=True)
class ServiceHealth:
    service: str
    age_s: float | None
    status: str
    last_error: str | None
    pid: int | None

    def healthy(self, strict: bool = False) -> bool:
        return self.age_s is not None and judge(self.status, self.age_s, strict=strict)[0]


@dataclass(frozen=True)
class StreamInfo:
    stream: str
    length: int
    newest_age_s: float | None
    groups: list[dict]


def read_health(r: redis.Redis, keys: Keys, service: str, now: float) -> ServiceHealth:
    raw = r.get(keys.health(service))
    if raw is None:
        return ServiceHealth(service, None, "no heartbeat", None, None)
    try:
        doc = decode_heartbeat(raw)
    except ContractError as exc:
        return ServiceHealth(service, None, "unreadable heartbeat", str(exc), None)
    age = max(0.0, now - doc.ts)
    return ServiceHealth(service, age, judge(doc.status, age)[1], doc.last_error, doc.pid)


def read_stream(r: redis.Redis, stream: str, now: float) -> StreamInfo:
    length = r.xlen(stream)
    newest = r.xrevrange(stream, count=1)
    newest_age = None
    if newest:
        newest_age = max(0.0, now - entry_pos(newest[0][0])[0] / 1000)
    groups = []
    if length or newest:
        try:
            for g in r.xinfo_groups(stream):
                groups.append({"name": _s(g["name"]), "pending": g["pending"], "lag": g.get("lag"),
                               "consumers": g["consumers"]})
        except redis.ResponseError:
            pass  # stream does not exist yet: no groups to show
    return StreamInfo(stream, length, newest_age, groups)


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def collect(r: redis.Redis, keys: Keys, services: list[str]) -> tuple[list[ServiceHealth], list[StreamInfo]]:
    now = time.time()
    health = [read_health(r, keys, s, now) for s in services]
    streams = [read_stream(r, s, now) for s in (keys.prices, keys.nav, keys.fills)]
    return health, streams


def render(health: list[ServiceHealth], streams: list[StreamInfo]) -> str:
    lines = [f"{'service':<11} {'status':<18} {'heartbeat':>10}  last error"]
    for h in health:
        age = "-" if h.age_s is None else f"{h.age_s:.1f}s ago"
        lines.append(f"{h.service:<11} {h.status:<18} {age:>10}  {h.last_error or ''}")
    lines.append("")
    lines.append(f"{'stream':<18} {'length':>8} {'newest':>10}  consumer groups (lag / pending)")
    for s in streams:
        age = "-" if s.newest_age_s is None else f"{s.newest_age_s:.1f}s ago"
        groups = ", ".join(f"{g['name']}: {g['lag'] if g['lag'] is not None else '?'} / {g['pending']}"
                           for g in s.groups) or "-"
        lines.append(f"{s.stream:<18} {s.length:>8} {age:>10}  {groups}")
    return "\n".join(lines)


def as_json(health: list[ServiceHealth], streams: list[StreamInfo], strict: bool) -> str:
    """The status as one JSON document: `{"healthy", "services": [...], "streams": [...]}`."""
    return json.dumps({
        "healthy": all(h.healthy(strict) for h in health),
        "strict": strict,
        "services": [{**asdict(h), "healthy": h.healthy(strict)} for h in health],
        "streams": [asdict(s) for s in streams],
    }, indent=2)


def status_command(r: redis.Redis, keys: Keys, services: list[str], out, strict: bool = False,
                   as_json_doc: bool = False) -> int:
    try:
        health, streams = collect(r, keys, services)
    except RedisUnavailable as exc:
        if as_json_doc:
            out.write(json.dumps({"healthy": False, "error": f"cannot reach Redis: {exc}"}) + "\n")
        else:
            sys.stderr.write(f"navstream: cannot reach Redis: {exc}\n")
        return EXIT_NO_REDIS
    out.write((as_json(health, streams, strict) if as_json_doc else render(health, streams)) + "\n")
    return EXIT_OK if all(h.healthy(strict) for h in health) else EXIT_UNHEALTHY


"""`navstream status`: each service's heartbeat, stream lengths and consumer lag, and an exit code.

Exit 0 when every expected service has a fresh heartbeat with status "ok" or
"degraded" (working, but on fallback data: a monitor may want to know, use
--strict), 1 when any is missing, stale or in error, 3 when Redis cannot be
reached: ready for a cron job or a monitor. `--json` prints the same as one JSON
document. Containers use the cheaper `navstream-healthcheck` (same rule).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from services.healthcheck import EXIT_NO_REDIS, EXIT_OK, EXIT_UNHEALTHY, judge
from shared.backoff import Episode
from shared.contracts.health import decode_heartbeat
from shared.errors import ContractError
from shared.keys import SERVICES, Keys
from shared.redis_io import RedisUnavailable
from shared.settings import Mode, Settings
from shared.stream_stats import StreamInfo, read_stream

log = logging.getLogger(__name__)

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


def expected_services(settings: Settings) -> list[str]:
    """The services that should be beating: marketsim only in sim mode."""
    return [s for s in SERVICES if s != "marketsim" or settings.mode is Mode.SIM]


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


def collect(r: redis.Redis, keys: Keys, services: list[str]) -> tuple[list[ServiceHealth], list[StreamInfo]]:
    now = time.time()
    health = [read_health(r, keys, s, now) for s in services]
    streams = [read_stream(r, s, now) for s in (keys.prices, keys.nav, keys.fills, keys.income)]
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


def status_command(r: redis.Redis, keys: Keys, services: list[str], out, *, strict: bool = False,
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



# --- the same figures for Prometheus ---------------------------------------------------------

class StatusCollector(Collector):
    """`navstream status` as Prometheus metrics, read from Redis on every scrape.

    One process (the publisher) registers it, so heartbeat health, degraded flags, stream
    lengths and consumer lag come from one place with the definitions `navstream status`
    uses. Redis unreachable is `navstream_redis_up 0`, not a failed scrape.
    """

    def __init__(self, r: redis.Redis, keys: Keys, services: list[str]) -> None:
        self.r, self.keys, self.services = r, keys, services
        self.outage = Episode(log, "status metrics: reading Redis")

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())   # collected live; nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("navstream_redis_up", "1 when the status collector could read Redis")
        try:
            health, streams = collect(self.r, self.keys, self.services)
        except (*RedisUnavailable, redis.ResponseError) as exc:   # unreachable, or refusing (LOADING, NOAUTH...)
            self.outage.failed(exc, "exporting navstream_redis_up 0 until it answers")
            up.add_metric([], 0)
            yield up
            return
        self.outage.recovered()
        up.add_metric([], 1)
        yield up
        yield from _health_families(health)
        yield from _stream_families(streams)


def _health_families(health: list[ServiceHealth]) -> Iterator[GaugeMetricFamily]:
    healthy = GaugeMetricFamily("navstream_service_healthy", "1 when the service has a fresh heartbeat "
                                "(<= 15 s) with status ok or degraded, as `navstream status`", labels=["service"])
    degraded = GaugeMetricFamily("navstream_service_degraded", "1 when the service's heartbeat says degraded "
                                 "(working on fallback data)", labels=["service"])
    age = GaugeMetricFamily("navstream_heartbeat_age_seconds", "Age of the service's heartbeat; NaN when "
                            "there is none", labels=["service"])
    for h in health:
        healthy.add_metric([h.service], 1 if h.healthy() else 0)
        degraded.add_metric([h.service], 1 if h.status == "degraded" else 0)
        age.add_metric([h.service], math.nan if h.age_s is None else h.age_s)
    return iter((healthy, degraded, age))


def _stream_families(streams: list[StreamInfo]) -> Iterator[GaugeMetricFamily]:
    length = GaugeMetricFamily("navstream_stream_length_entries", "Entries in the stream", labels=["stream"])
    newest = GaugeMetricFamily("navstream_stream_newest_age_seconds", "Age of the stream's newest entry; NaN "
                               "when empty", labels=["stream"])
    lag = GaugeMetricFamily("navstream_consumer_lag_entries", "Entries not yet delivered to the consumer "
                            "group (Redis XINFO GROUPS lag); NaN when Redis cannot tell",
                            labels=["stream", "group"])
    pending = GaugeMetricFamily("navstream_consumer_pending_entries", "Entries delivered to the group but "
                                "not acknowledged", labels=["stream", "group"])
    for s in streams:
        length.add_metric([s.stream], s.length)
        newest.add_metric([s.stream], math.nan if s.newest_age_s is None else s.newest_age_s)
        for g in s.groups:
            lag.add_metric([s.stream, g["name"]], math.nan if g["lag"] is None else g["lag"])
            pending.add_metric([s.stream, g["name"]], g["pending"])
    return iter((length, newest, lag, pending))


def register_status_collector(r: redis.Redis, settings: Settings) -> StatusCollector:
    """Export the status figures from this process's /metrics (the publisher calls it once)."""
    collector = StatusCollector(r, settings.keys, expected_services(settings))
    REGISTRY.register(collector)
    return collector

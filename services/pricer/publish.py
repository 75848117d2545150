"""Publishing a round to Redis in one pipelined round trip (no MULTI: nothing here needs atomicity).

Writes: XADD per observation to `hedge:prices` (MAXLEN ~, at least three rounds' worth: see
`stream_bound`), HSET `hedge:prices:latest` and
`hedge:prices:sources`, the heartbeat. Reads back, for the next round: the tracked markets
(SMEMBERS `hedge:markets:tracked`) and the fields of both hashes, so a price that is no longer
valid (asset unpriced, market dropped, asset removed from the holdings) is deleted next round
instead of lingering as if it were current. Also reads the margin assets nav needs priced
(SMEMBERS `hedge:assets:tracked`).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from shared.contracts.prices import encode_latest, encode_price
from shared.contracts.provenance import encode_provenance
from shared.heartbeat import Heartbeat
from shared.keys import Keys

from services.pricer.assemble import RoundResult


@dataclass(frozen=True, slots=True)
class RedisView:
    """What the pricer last saw in Redis."""

    tracked: frozenset[str] = frozenset()
    latest_fields: frozenset[str] = frozenset()
    sources_fields: frozenset[str] = frozenset()
    tracked_assets: frozenset[str] = frozenset()


def _reads(pipe: redis.client.Pipeline, keys: Keys) -> None:
    pipe.smembers(keys.tracked_markets)
    pipe.hkeys(keys.prices_latest)
    pipe.hkeys(keys.prices_sources)
    pipe.smembers(keys.tracked_assets)


def _view(replies: list) -> RedisView:
    tracked, latest, sources, assets = (frozenset(_text(v) for v in reply) for reply in replies[-4:])
    return RedisView(tracked, latest, sources, assets)


def read_view(r: redis.Redis, keys: Keys) -> RedisView:
    pipe = r.pipeline(transaction=False)
    _reads(pipe, keys)
    return _view(pipe.execute())


def stream_bound(maxlen: int, round_size: int) -> int:
    """The MAXLEN for this round's XADDs: the configured one, or three rounds if that is larger.

    A bound below one round trims entries of the same round before the nav group reads
    them: they would be lost, not late. Three rounds leave room for a reader one round behind.
    """
    return max(maxlen, 3 * round_size)


def publish_round(r: redis.Redis, keys: Keys, result: RoundResult, previous: RedisView, *,
                  maxlen: int, heartbeat: Heartbeat) -> RedisView:
    """Write `result` and the heartbeat; return what the pipeline read back for the next round.

    `maxlen` is STREAM_MAXLEN; `hedge:prices` keeps at least three rounds (`stream_bound`).
    """
    pipe = r.pipeline(transaction=False)
    bound = stream_bound(maxlen, len(result.prices))
    for obs in result.prices:
        pipe.xadd(keys.prices, encode_price(obs), maxlen=bound, approximate=True)
    published = {obs.sym for obs in result.prices}
    stale_latest = sorted(previous.latest_fields - published)
    if stale_latest:
        pipe.hdel(keys.prices_latest, *stale_latest)
    if result.prices:
        pipe.hset(keys.prices_latest, mapping={obs.sym: encode_latest(obs) for obs in result.prices})
    gone_assets = sorted(previous.sources_fields - set(result.assets))
    if gone_assets:
        pipe.hdel(keys.prices_sources, *gone_assets)
    if result.assets:
        pipe.hset(keys.prices_sources,
                  mapping={a: encode_provenance(o.report()) for a, o in result.assets.items()})
    heartbeat.beat(force=True, pipe=pipe)
    _reads(pipe, keys)
    return _view(pipe.execute())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

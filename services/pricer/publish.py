"""Publishing a round to Redis in one pipelined round trip (no MULTI: nothing here needs atomicity).

Writes: XADD per observation to `hedge:prices` (MAXLEN ~, at least three rounds' worth: see
`stream_bound`), by a Lua script (`XADD_SCRIPT`) that does the XADDs of up to `XADD_CHUNK`
observations from one argument list: redis-py packs one command and parses one reply instead
of one per observation (most of the pricer's CPU per update when it was a pipelined XADD
each). The entries are the same (`price_values` in `PRICE_FIELDS` order, `MAXLEN ~` the same
bound, IDs `*`), and each call is atomic, so a round of up to `XADD_CHUNK` observations
reaches a reader whole. The script goes as EVAL with its text, not EVALSHA: Redis caches it
by its SHA1 (hashing ~400 bytes per call costs nothing measurable), so a Redis that restarted
or flushed its scripts needs no reload and no NOSCRIPT retry, and the XADDs never land after
the hash writes that follow them. HSET `hedge:prices:latest` and
`hedge:prices:sources`, the heartbeat. Reads back, for the next round: the tracked markets
(SMEMBERS `hedge:markets:tracked`) and the fields of both hashes, so a price that is no longer
valid (asset unpriced, market dropped, asset removed from the holdings) is deleted next round
instead of lingering as if it were current. Also reads the margin assets nav needs priced
(SMEMBERS `hedge:assets:tracked`).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from shared.contracts.prices import PRICE_FIELDS, PriceObservation, encode_latest, price_values
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
    for args in _xadd_args(result.prices, bound):
        pipe.execute_command("EVAL", XADD_SCRIPT, 1, keys.prices, *args)
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


# Observations per EVAL: one call runs all its XADDs before Redis serves anyone else
# (about 1.5 ms for 1,000 here), so a round of 10,000 goes out as ten calls, not one 15 ms block.
XADD_CHUNK = 1000


def _xadd_script() -> str:
    fields = ", ".join(f"'{name}', ARGV[i + {k}]" for k, name in enumerate(PRICE_FIELDS))
    return f"""-- navstream pricer: XADD KEYS[1] MAXLEN ~ ARGV[1] * per observation; ARGV[2..] are the
-- observations' values, {len(PRICE_FIELDS)} each, in the order of shared.contracts.prices.PRICE_FIELDS.
local key, bound, call = KEYS[1], ARGV[1], redis.call
for i = 2, #ARGV, {len(PRICE_FIELDS)} do
  call('XADD', key, 'MAXLEN', '~', bound, '*', {fields})
end
return (#ARGV - 1) / {len(PRICE_FIELDS)}
"""


XADD_SCRIPT = _xadd_script()


def _xadd_args(prices: tuple[PriceObservation, ...], bound: int) -> list[list[str | int]]:
    """The argument lists of the round's EVALs: the bound, then each observation's values."""
    chunks: list[list[str | int]] = []
    for start in range(0, len(prices), XADD_CHUNK):
        args: list[str | int] = [bound]
        extend = args.extend
        for obs in prices[start:start + XADD_CHUNK]:
            extend(price_values(obs))
        chunks.append(args)
    return chunks


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

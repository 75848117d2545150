"""The yardstick: how fast one Python client (redis-py + hiredis) can pipeline XADDs into the same Redis.

Entries have exactly the field shape of a `hedge:prices` entry (encode_price); the
field dicts are built before timing, so the figure is the client + Redis cost of XADD
alone. It goes to a scratch stream (MAXLEN ~ as the pricer trims) that is deleted after.
"""

from __future__ import annotations

import time

import redis
from redis.utils import HIREDIS_AVAILABLE

from shared.contracts.prices import PriceObservation, encode_price

from benchmarks.synthetic import PriceTape, asset_names

STREAM = "bench:baseline"


def measure_baseline(r: redis.Redis, *, duration_s: float, pipeline_size: int = 1000, maxlen: int = 10_000) -> dict:
    tape = PriceTape()
    now = time.time()
    entries = [encode_price(PriceObservation(sym, tape.next(), "mark", now)) for sym in asset_names(pipeline_size)]
    r.delete(STREAM)
    try:
        sent = 0
        t0 = time.perf_counter()
        deadline = t0 + duration_s
        while True:
            pipe = r.pipeline(transaction=False)
            for fields in entries:
                pipe.xadd(STREAM, fields, maxlen=maxlen, approximate=True)
            pipe.execute()
            sent += len(entries)
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - t0
    finally:
        r.delete(STREAM)
    return {"xadd_per_s": round(sent / elapsed), "entries": sent, "seconds": round(elapsed, 3),
            "pipeline": pipeline_size, "hiredis": bool(HIREDIS_AVAILABLE)}

"""Pure valuation time: the nav core's `build_nav_snapshot` called directly, no I/O.

Also times the two other per-snapshot steps the nav service runs on every batch
(contract validation and encoding of the stream entry), because together they are
what one snapshot costs the nav process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.contracts.nav import encode_nav_entry, validate_nav_document

from benchmarks.stats import median_p99
from benchmarks.synthetic import account_state, holdings, valuation_prices
from services.nav.model import limits_for
from services.nav.valuation import build_nav_snapshot


def _time_ms(fn: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (this thread) milliseconds per call; CPU time is what a busy machine does not inflate."""
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        cpu.append((time.thread_time() - c0) * 1000.0)
        wall.append((time.perf_counter() - t0) * 1000.0)
    return wall, cpu


def measure_valuation(n_holdings: int = 1000, n_positions: int = 200, runs: int = 200) -> dict:
    now = time.time()
    state = account_state(n_positions, now - 1.0)
    prices = valuation_prices(n_holdings, n_positions, now)
    held = holdings(n_holdings)
    limits = limits_for(1.0, 5.0, 2.0, 60.0, 30.0)

    def build() -> dict:
        return build_nav_snapshot(account=state, prices=prices, holdings=held, now=now, seq=1, limits=limits,
                                  fx_pairs=("USDZAR",))

    doc = build()
    if len(doc["aum"]["offexchange"]) != n_holdings or len(doc["positions"]) != n_positions:
        raise RuntimeError(f"valuation benchmark: snapshot has {len(doc['aum']['offexchange'])} holdings and "
                           f"{len(doc['positions'])} positions, expected {n_holdings} and {n_positions}")
    if doc["status"]["degraded"]:
        raise RuntimeError(f"valuation benchmark: synthetic snapshot is degraded: {doc['status']['reasons'][:3]}")
    for _ in range(min(20, runs)):  # warm-up
        build()
    build_wall, build_cpu = _time_ms(build, runs)
    validate_wall, _ = _time_ms(lambda: validate_nav_document(doc), runs)
    encode_wall, _ = _time_ms(lambda: encode_nav_entry(doc), runs)
    return {
        "holdings": n_holdings, "positions": n_positions, "runs": runs,
        "build_ms": median_p99(build_wall),
        "build_cpu_ms": median_p99(build_cpu),
        "validate_ms": median_p99(validate_wall),
        "encode_ms": median_p99(encode_wall),
        "snapshot_kb": round(len(encode_nav_entry(doc)["snapshot"]) / 1024, 1),
    }

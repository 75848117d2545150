"""Percentiles and summaries of timing samples (nearest-rank, no interpolation)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q`-th percentile (0 < q <= 100) of `samples`; None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def summary(samples: Sequence[float], digits: int = 3) -> dict[str, float | int | None]:
    """`{n, p50, p99, max}` of the samples, rounded; the values are None when there are no samples."""
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, digits)
    return {"n": len(samples), "p50": r(percentile(samples, 50)), "p99": r(percentile(samples, 99)),
            "max": r(max(samples) if samples else None)}


def median_p99(samples: Sequence[float], digits: int = 4) -> dict[str, float | int | None]:
    """`{n, median, p99}`, rounded."""
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, digits)
    return {"n": len(samples), "median": r(percentile(samples, 50)), "p99": r(percentile(samples, 99))}

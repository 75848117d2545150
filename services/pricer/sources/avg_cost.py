"""The last tier: each holding's `avg_cost` from the holdings file, stamped with the file's mtime."""

from __future__ import annotations

from shared.holdings import HoldingsWatcher

from services.pricer.chain import Quote
from services.pricer.sources.base import SourceAnswer, Want


class AvgCostSource:
    name = "avg_cost"
    timeout_s = 1.0

    def __init__(self, watcher: HoldingsWatcher) -> None:
        self.watcher = watcher  # polled by the loop once per round, before the sources run

    def fetch(self, want: Want, now: float) -> SourceAnswer:
        return self.cached(want, now)

    def cached(self, want: Want, now: float) -> SourceAnswer:
        mtime = self.watcher.mtime
        quotes: dict[str, Quote] = {}
        problems: dict[str, str] = {}
        for asset, holding in want.holdings.items():
            if holding.avg_cost is None:
                problems[asset] = f"no avg_cost for {asset} in {self.watcher.path}"
            elif mtime is not None:
                quotes[asset] = Quote(holding.avg_cost, mtime)
        return SourceAnswer(quotes, problems)

    def close(self) -> None:
        """Nothing to release."""

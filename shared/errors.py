"""navstream's own error tree, grouped by what a service loop should do about each.

    NavstreamError
    ├── ConfigError            bad settings or config file: report it, keep the last good value
    │   └── HoldingsError      the holdings file (names file, symbol and field)
    ├── ContractError          a wire message or document that does not match its contract: skip it, count it
    └── SourceError            an outside data source failed this round: fall back, back off
        ├── SourceUnavailable  down, timed out, connection refused, 5xx
        ├── SourceRateLimited  HTTP 429/418: back off for `retry_after_s`
        └── SourceBadData      answered, but with something unusable (zero, NaN, stale, delisted)

Library exceptions (ccxt, requests, redis) are translated into these in exactly one
place per adapter, so loops never catch a third-party type.
"""

from __future__ import annotations


class NavstreamError(Exception):
    """Base of every error navstream raises on purpose."""


class ConfigError(NavstreamError):
    """A setting or a config file is invalid."""


class HoldingsError(ConfigError):
    """The off-exchange holdings file is invalid; the message names file, symbol and field."""


class ContractError(NavstreamError):
    """A message or document does not match its wire contract."""


class SourceError(NavstreamError):
    """A price or account source failed; `source` names it."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.detail = message


class SourceUnavailable(SourceError):
    """The source did not answer in time, refused the connection, or answered 5xx."""


class SourceRateLimited(SourceError):
    """The source said 429 or 418; do not ask again before `retry_after_s`."""

    def __init__(self, source: str, message: str, retry_after_s: float) -> None:
        super().__init__(source, message)
        self.retry_after_s = retry_after_s


class SourceBadData(SourceError):
    """The source answered with data we cannot use."""

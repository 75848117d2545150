"""The one place where ccxt exceptions become shared.errors (for every ccxt price source).

    RequestTimeout                      -> SourceUnavailable ("timed out")
    DDoSProtection / RateLimitExceeded  -> SourceRateLimited (HTTP 418/429; Retry-After honoured)
    other NetworkError (5xx, refused)   -> SourceUnavailable
    BadSymbol, BadResponse              -> SourceBadData
    other ExchangeError / BaseError     -> SourceUnavailable
    TypeError/KeyError/ValueError raised while ccxt parses an answer -> SourceBadData
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import ccxt

from shared.errors import SourceBadData, SourceRateLimited, SourceUnavailable

from services.pricer.sources.base import parse_retry_after

_MAX_DETAIL = 200


@contextmanager
def ccxt_errors(source: str, what: str, timeout_s: float) -> Iterator[None]:
    """Run a ccxt call; re-raise its failure as a SourceError naming `source` and the call `what`."""
    try:
        yield
    except ccxt.RequestTimeout as exc:
        raise SourceUnavailable(source, f"{what}: no answer within {timeout_s:g} s") from exc
    except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
        status, retry_after = _http_status_and_retry_after(exc)
        said = f"HTTP {status}" if status else "rate limited"
        wait = f"Retry-After {retry_after:g} s" if retry_after is not None else "no Retry-After"
        raise SourceRateLimited(source, f"{what}: {said} ({wait})", retry_after) from exc
    except ccxt.NetworkError as exc:
        raise SourceUnavailable(source, f"{what}: {_short(exc)}{_cause(exc)}") from exc
    except (ccxt.BadSymbol, ccxt.BadResponse) as exc:
        raise SourceBadData(source, f"{what}: unusable answer ({_short(exc)})") from exc
    except ccxt.BaseError as exc:
        raise SourceUnavailable(source, f"{what}: {type(exc).__name__}: {_short(exc)}") from exc
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        # ccxt parses payloads with dict lookups; a malformed answer surfaces as one of these.
        raise SourceBadData(source, f"{what}: malformed answer ({type(exc).__name__}: {exc})") from exc


def _http_status_and_retry_after(exc: BaseException) -> tuple[int | None, float | None]:
    """The HTTP status and Retry-After of the response behind a ccxt error (ccxt raises it
    while handling requests' HTTPError, so the response hangs off the exception chain)."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 5:
        response = getattr(cause, "response", None)
        status = getattr(response, "status_code", None)
        if status is not None:
            return int(status), parse_retry_after(response.headers.get("Retry-After"))
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None, None


def _cause(exc: BaseException) -> str:
    """What the HTTP library said underneath ccxt's one-line message ("connection refused", ...)."""
    cause = exc.__cause__
    return f" ({_short(cause)})" if cause is not None else ""


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "..."

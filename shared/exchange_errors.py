"""The one map from exchange-client exceptions (ccxt, requests) to navstream's error tree.

Used by the pricer's sources and nav's account adapter alike, in the style of httpx's
`map_httpcore_exceptions`: one table, one meaning per exception class, one message format,
one redaction policy, one Retry-After parser.

    exception (first match wins)                 meaning        raised as            default pause
    ccxt.RequestTimeout, requests.Timeout        unavailable    SourceUnavailable    (runner backoff)
    ccxt.DDoSProtection, ccxt.RateLimitExceeded  rate_limited   SourceRateLimited    Retry-After, else 10 s
      ... answered HTTP 418                      banned         SourceRateLimited    Retry-After, else 60 s
    ccxt.AuthenticationError, PermissionDenied,  auth           SourceUnavailable    (runner backoff)
      AccountSuspended
    ccxt.BadSymbol, BadRequest, BadResponse,     bad_data       SourceBadData        none: fall back now
      NullResponse, other ExchangeError
    ccxt.NetworkError (5xx, refused, reset),     unavailable    SourceUnavailable    (runner backoff)
      other ccxt.BaseError, requests.RequestException
    TypeError/KeyError/ValueError/AttributeError bad_data       SourceBadData        (ccxt parsing a malformed answer)

HTTP statuses seen without an exception (requests): 429 rate_limited, 418 banned, 401/403 auth,
5xx unavailable, other non-2xx bad_data (`status_error`).

Messages read `<what>: <meaning> (<ExceptionClass>: <detail>)[; <action>]`. The detail never
carries a query string (Binance signs requests in it), a configured secret, or more than 240
characters.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from shared.ccxt_lite import ccxt
import requests

from shared.errors import SourceBadData, SourceError, SourceRateLimited, SourceUnavailable

Meaning = Literal["unavailable", "rate_limited", "banned", "auth", "bad_data"]

RATE_LIMIT_PAUSE_S = 10.0    # HTTP 429 without Retry-After
BAN_PAUSE_S = 60.0           # HTTP 418 without Retry-After: Binance bans an IP for minutes at least
MAX_DETAIL = 240
DEFAULT_AUTH_HINT = "check the API key and secret (read-only keys suffice)"
_QUERY = re.compile(r"\?\S*")
_PARSE_ERRORS = (TypeError, KeyError, ValueError, AttributeError)

EXCEPTION_MEANINGS: tuple[tuple[type[BaseException], Meaning], ...] = (
    (ccxt.RequestTimeout, "unavailable"),
    (requests.Timeout, "unavailable"),
    (ccxt.DDoSProtection, "rate_limited"),          # ccxt's class for Binance's 429 and 418
    (ccxt.RateLimitExceeded, "rate_limited"),
    (ccxt.AuthenticationError, "auth"),
    (ccxt.PermissionDenied, "auth"),
    (ccxt.AccountSuspended, "auth"),
    (ccxt.BadSymbol, "bad_data"),
    (ccxt.BadRequest, "bad_data"),
    (ccxt.BadResponse, "bad_data"),
    (ccxt.NullResponse, "bad_data"),
    (ccxt.NetworkError, "unavailable"),
    (ccxt.ExchangeError, "bad_data"),
    (ccxt.BaseError, "unavailable"),
    (requests.RequestException, "unavailable"),
    *((cls, "bad_data") for cls in _PARSE_ERRORS),
)
"""Exception class -> meaning; the first class the exception is an instance of decides."""

STATUS_MEANINGS: Mapping[int, Meaning] = {429: "rate_limited", 418: "banned", 401: "auth", 403: "auth"}


def meaning_of(exc: BaseException, status: int | None = None) -> Meaning | None:
    """What `exc` means for a loop (None: not an exchange-client error at all)."""
    for cls, meaning in EXCEPTION_MEANINGS:
        if isinstance(exc, cls):
            if meaning == "rate_limited" and (status == 418 or (status is None and _says(exc, "418"))):
                return "banned"
            return meaning
    return None


def parse_retry_after(value: object, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None if absent or unusable."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def header(headers: Mapping[str, Any] | None, name: str) -> Any:
    """A response header by name, whatever its case (ccxt keeps a plain dict)."""
    for key, value in (headers or {}).items():
        if str(key).lower() == name.lower():
            return value
    return None


def redact(text: str, secrets: Callable[[str], str] | None = None) -> str:
    """The one redaction policy: no query strings, no configured secrets, one line, at most 240 chars."""
    out = _QUERY.sub("?…", text).strip()
    if secrets is not None:
        out = secrets(out)
    out = " ".join(out.split())
    return out[:MAX_DETAIL] + ("…" if len(out) > MAX_DETAIL else "")


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed call, translated: what it means, the message, and how long to pause."""

    meaning: Meaning
    message: str
    pause_s: float | None = None

    def error(self, source: str) -> SourceError:
        if self.meaning in ("rate_limited", "banned"):
            return SourceRateLimited(source, self.message, self.pause_s or RATE_LIMIT_PAUSE_S)
        if self.meaning == "bad_data":
            return SourceBadData(source, self.message)
        return SourceUnavailable(source, self.message)


def _pause(meaning: Meaning, headers: Mapping[str, Any] | None) -> float:
    given = parse_retry_after(header(headers, "Retry-After"))
    default = BAN_PAUSE_S if meaning == "banned" else RATE_LIMIT_PAUSE_S
    return default if given is None else max(1.0, given)


def describe(meaning: Meaning, what: str, detail: str, *, status: int | None = None, timeout_s: float | None = None,
             pause_s: float | None = None, auth_hint: str = DEFAULT_AUTH_HINT) -> str:
    """The one message format for every meaning."""
    if meaning == "unavailable" and timeout_s is not None and detail.startswith("timeout"):
        return f"{what}: no answer within {timeout_s:g} s"
    if meaning in ("rate_limited", "banned"):
        said = "rate limited" if meaning == "rate_limited" else "IP banned or throttled"
        code = status or (429 if meaning == "rate_limited" else 418)
        return f"{what}: {said} (HTTP {code}: {detail}); pausing polls for {pause_s or 0:g} s"
    if meaning == "auth":
        return f"{what}: authentication refused ({detail}); {auth_hint}"
    if meaning == "bad_data":
        return f"{what}: unusable answer ({detail})"
    return f"{what}: unreachable ({detail})"


def translate(exc: BaseException, what: str, *, timeout_s: float | None = None,
              headers: Mapping[str, Any] | None = None, secrets: Callable[[str], str] | None = None,
              auth_hint: str = DEFAULT_AUTH_HINT) -> Failure | None:
    """`exc` as a Failure (None if it is not an exchange-client error)."""
    status, chained_headers = _http_response(exc)
    meaning = meaning_of(exc, status)
    if meaning is None:
        return None
    headers = chained_headers if chained_headers is not None else headers
    is_timeout = isinstance(exc, (ccxt.RequestTimeout, requests.Timeout))
    detail = "timeout" if is_timeout else f"{type(exc).__name__}: {redact(str(exc) or type(exc).__name__, secrets)}"
    if meaning == "unavailable" and not is_timeout and exc.__cause__ is not None:
        detail += f" ({redact(str(exc.__cause__), secrets)})"
    pause = _pause(meaning, headers) if meaning in ("rate_limited", "banned") else None
    return Failure(meaning, describe(meaning, what, detail, status=status, timeout_s=timeout_s, pause_s=pause,
                                     auth_hint=auth_hint), pause)


def status_error(source: str, what: str, status: int, headers: Mapping[str, Any] | None, body: str, *,
                 secrets: Callable[[str], str] | None = None) -> SourceError | None:
    """The error an HTTP status means when the client raised none (requests); None for 2xx."""
    if 200 <= status < 300:
        return None
    meaning = STATUS_MEANINGS.get(status) or ("unavailable" if status >= 500 else "bad_data")
    detail = f"HTTP {status}: {redact(body, secrets) or 'no body'}"
    pause = _pause(meaning, headers) if meaning in ("rate_limited", "banned") else None
    return Failure(meaning, describe(meaning, what, detail, status=status, pause_s=pause), pause).error(source)


@contextmanager
def exchange_errors(source: str, what: str, *, timeout_s: float | None = None, exchange: Any = None,
                    secrets: Callable[[str], str] | None = None,
                    auth_hint: str = DEFAULT_AUTH_HINT) -> Iterator[None]:
    """Run an exchange call; re-raise its failure as the SourceError the table says.

    `exchange`, when given, supplies the failed answer's headers (ccxt's `last_response_headers`).
    """
    try:
        yield
    except (ccxt.BaseError, requests.RequestException, *_PARSE_ERRORS) as exc:
        failure = translate(exc, what, timeout_s=timeout_s, secrets=secrets, auth_hint=auth_hint,
                            headers=getattr(exchange, "last_response_headers", None))
        assert failure is not None, "every class caught here is in EXCEPTION_MEANINGS"
        raise failure.error(source) from exc


def _http_response(exc: BaseException) -> tuple[int | None, Mapping[str, Any] | None]:
    """HTTP status and headers of the response behind an exception (ccxt raises while handling requests'
    HTTPError, so the response hangs off the exception chain)."""
    cause: BaseException | None = exc
    for _ in range(5):
        if cause is None:
            break
        response = getattr(cause, "response", None)
        status = getattr(response, "status_code", None)
        if status is not None:
            return int(status), getattr(response, "headers", None)
        cause = cause.__cause__ or cause.__context__
    return None, None


def _says(exc: BaseException, code: str) -> bool:
    return re.search(rf"\b{code}\b", str(exc)) is not None

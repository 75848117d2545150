"""The one place where requests exceptions and HTTP statuses become shared.errors.

    Timeout                  -> SourceUnavailable ("no answer within ...")
    ConnectionError, other   -> SourceUnavailable
    HTTP 429 / 418           -> SourceRateLimited (Retry-After honoured)
    HTTP 5xx, other non-2xx  -> SourceUnavailable
    body that is not JSON    -> SourceBadData
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from shared.errors import SourceBadData, SourceRateLimited, SourceUnavailable

from services.pricer.sources.base import parse_retry_after

_MAX_DETAIL = 200


def get_json(session: requests.Session, source: str, url: str, params: Mapping[str, str],
             timeout_s: float) -> Any:
    """GET `url` and decode its JSON body, or raise the SourceError that says what went wrong."""
    what = f"GET {url}"
    try:
        response = session.get(url, params=params, timeout=(timeout_s, timeout_s))
    except requests.Timeout as exc:
        raise SourceUnavailable(source, f"{what}: no answer within {timeout_s:g} s") from exc
    except requests.ConnectionError as exc:
        raise SourceUnavailable(source, f"{what}: connection failed ({_short(exc)})") from exc
    except requests.RequestException as exc:
        raise SourceUnavailable(source, f"{what}: {type(exc).__name__}: {_short(exc)}") from exc
    status = response.status_code
    if status in (418, 429):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        wait = f"Retry-After {retry_after:g} s" if retry_after is not None else "no Retry-After"
        raise SourceRateLimited(source, f"{what}: HTTP {status} ({wait})", retry_after)
    if not 200 <= status < 300:
        raise SourceUnavailable(source, f"{what}: HTTP {status} {_short(response.text)}")
    try:
        return response.json()
    except ValueError as exc:  # requests' JSONDecodeError is a ValueError
        raise SourceBadData(source, f"{what}: answer is not JSON ({_short(response.text)})") from exc


def _short(value: object) -> str:
    text = str(value).strip() or type(value).__name__
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "..."

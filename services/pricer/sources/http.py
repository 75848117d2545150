"""GET a JSON document over requests; failures become shared.errors by the one map in
shared/exchange_errors.py (requests exceptions by class, HTTP statuses by `status_error`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from shared.errors import SourceBadData
from shared.exchange_errors import exchange_errors, redact, status_error


def get_json(session: requests.Session, source: str, url: str, params: Mapping[str, str],
             timeout_s: float, *, headers: Mapping[str, str] | None = None) -> Any:
    """GET `url` and decode its JSON body, or raise the SourceError that says what went wrong."""
    what = f"GET {url}"
    with exchange_errors(source, what, timeout_s=timeout_s):
        response = session.get(url, params=params, timeout=(timeout_s, timeout_s), headers=headers)
    failed = status_error(source, what, response.status_code, response.headers, response.text)
    if failed is not None:
        raise failed
    try:
        return response.json()
    except ValueError as exc:  # requests' JSONDecodeError is a ValueError
        raise SourceBadData(source, f"{what}: answer is not JSON ({redact(response.text)})") from exc

"""Small parsers shared by the wire contracts: flat stream fields are bytes or str."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson

from shared.errors import ContractError


def text(fields: Mapping[Any, Any], name: str, *, contract: str) -> str:
    raw = fields.get(name, fields.get(name.encode()))
    if raw is None:
        raise ContractError(f"{contract}: field {name!r} is missing")
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def finite(fields: Mapping[Any, Any], name: str, *, contract: str, positive: bool = False) -> float:
    raw = text(fields, name, contract=contract)
    value = to_finite(raw, f"{contract}: field {name!r}")
    if positive and value <= 0:
        raise ContractError(f"{contract}: field {name!r} is {raw!r}, not a positive number")
    return value


def optional_finite(fields: Mapping[Any, Any], name: str, *, contract: str) -> float | None:
    raw = text(fields, name, contract=contract)
    if raw == "":
        return None
    return to_finite(raw, f"{contract}: field {name!r}")


def to_finite(raw: Any, what: str) -> float:
    if isinstance(raw, bool):
        raise ContractError(f"{what} is {raw!r}, not a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ContractError(f"{what} is {raw!r}, not a number") from None
    if not math.isfinite(value):
        raise ContractError(f"{what} is {raw!r}, not a finite number")
    return value


def finite_or_problem(raw: bytes | str | None, what: str, problems: list[str]) -> float | None:
    """`raw` (a Redis value) as a finite float; None if absent, or (with a line in `problems`) if it is not one."""
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        problems.append(f"{what} is {raw!r}, not a finite number")
        return None
    return value


def json_object(raw: bytes | str, where: str, error: type[Exception] = ContractError,
                what: str = "a JSON object") -> dict:
    """`raw` parsed as a JSON object, else `error` naming `where` (and what was expected)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise error(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise error(f"{where}: must be {what}, not {type(doc).__name__}")
    return doc


def flat(value: float | int | str | None) -> str:
    """A flat stream field: null is the empty string (docs/architecture.md)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)

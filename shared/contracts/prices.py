"""Wire contract of price observations: the `hedge:prices` stream and `hedge:prices:latest` hash.

`sym` is an asset (`BTC`) for resolved asset prices, a futures market (`BTCUSDT`)
for marks, and a pair (`USDZAR`) for FX. `src` says which tier produced `px`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from shared.contracts._fields import finite, flat, json_object, text, to_finite
from shared.contracts.vocabulary import PRICE_SOURCES
from shared.errors import ContractError

_CONTRACT = "price observation"


@dataclass(frozen=True, slots=True)
class PriceObservation:
    sym: str
    px: float
    src: str
    ts: float
    diverged: bool = False


def _check(sym: str, src: str) -> None:
    if not sym:
        raise ContractError(f"{_CONTRACT}: field 'sym' is empty")
    if src not in PRICE_SOURCES:
        raise ContractError(f"{_CONTRACT} {sym}: field 'src' is {src!r}, not one of {PRICE_SOURCES}")


PRICE_FIELDS = ("sym", "px", "src", "ts", "diverged")
"""The fields of a `hedge:prices` entry, in the order they are written."""


def price_values(obs: PriceObservation) -> tuple[str, str, str, str, str]:
    """The values of one `hedge:prices` entry, in PRICE_FIELDS order (the pricer sends these)."""
    return obs.sym, flat(obs.px), obs.src, flat(obs.ts), "1" if obs.diverged else "0"


def encode_price(obs: PriceObservation) -> dict[str, str]:
    """Flat fields of one `hedge:prices` entry."""
    return dict(zip(PRICE_FIELDS, price_values(obs), strict=True))


# `src` as Redis returns it (bytes) -> the vocabulary's str, for decode_price's fast path.
_SOURCES_BY_BYTES: dict[bytes, str] = {s.encode(): s for s in PRICE_SOURCES}
# The checked parse prefers a str key to its bytes twin: an entry with any of them goes that way.
_STR_FIELDS = frozenset(PRICE_FIELDS)
_INF = math.inf


def _plain(sym: str, px: float, src: str, ts: float, diverged: bool) -> PriceObservation | None:
    """The fast paths' observation when every value is valid, else None (the checked parse decides).

    NaN fails every comparison; an empty sym or a non-positive number go the checked way.
    """
    if sym and 0.0 < px < _INF and 0.0 < ts < _INF:
        return PriceObservation(sym, px, src, ts, diverged)
    return None


def decode_price(fields: Mapping[Any, Any]) -> PriceObservation:
    """Parse one `hedge:prices` entry; a bad entry raises ContractError naming the field.

    The nav decodes every entry of the stream, so an entry as Redis returns it (bytes keys
    and values, every field valid) takes a fast path of plain lookups; anything else, valid
    or not, goes through the checked parse, which gives the same observation or names the
    field that is wrong (tests/unit/test_shared_basics.py holds the two to the same output).
    """
    try:
        sym = fields[b"sym"].decode()
        src = _SOURCES_BY_BYTES[fields[b"src"]]
        px = float(fields[b"px"])
        ts = float(fields[b"ts"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return _decode_price_checked(fields)
    # an entry with a str key goes the checked way (it prefers the str key to its bytes twin)
    obs = _plain(sym, px, src, ts, fields.get(b"diverged") == b"1") if _STR_FIELDS.isdisjoint(fields) else None
    return obs if obs is not None else _decode_price_checked(fields)


_FIELD_NAMES_BYTES = [name.encode() for name in PRICE_FIELDS]


def decode_price_flat(fields: Sequence[Any]) -> PriceObservation:
    """decode_price for an entry's fields as Redis sends them, `[name, value, name, value, ...]`.

    The nav reads hedge:prices without redis-py's per-entry dict (GroupReader flat_fields): an
    entry with exactly the PRICE_FIELDS names in their order (what the pricer writes) is parsed
    by position; anything else is made a dict and goes through decode_price, so the result (the
    observation, or the error naming the field) is always decode_price's for the same entry.
    """
    try:
        if fields[0::2] == _FIELD_NAMES_BYTES:
            sym = fields[1].decode()
            px = float(fields[3])
            src = _SOURCES_BY_BYTES[fields[5]]
            obs = _plain(sym, px, src, float(fields[7]), fields[9] == b"1")
            if obs is not None:
                return obs
    except (KeyError, TypeError, ValueError, AttributeError):
        pass
    it = iter(fields)
    return decode_price(dict(zip(it, it, strict=False)))


def _decode_price_checked(fields: Mapping[Any, Any]) -> PriceObservation:
    """decode_price for any entry: str or bytes keys and values, every field checked by name."""
    sym = text(fields, "sym", contract=_CONTRACT)
    src = text(fields, "src", contract=_CONTRACT)
    _check(sym, src)
    px = finite(fields, "px", contract=f"{_CONTRACT} {sym}", positive=True)
    ts = finite(fields, "ts", contract=f"{_CONTRACT} {sym}", positive=True)
    raw_div = fields.get("diverged", fields.get(b"diverged", b"0"))
    diverged = raw_div in (b"1", "1")
    return PriceObservation(sym, px, src, ts, diverged)


def encode_latest(obs: PriceObservation) -> bytes:
    """Value of the `hedge:prices:latest` hash field `obs.sym`."""
    return orjson.dumps({"px": obs.px, "src": obs.src, "ts": obs.ts, "diverged": obs.diverged})


def decode_latest(sym: str | bytes, raw: bytes | str) -> PriceObservation:
    sym = sym.decode() if isinstance(sym, bytes) else sym
    doc = json_object(raw, f"latest price {sym}")
    src = doc.get("src")
    if not isinstance(src, str):
        src = repr(src)   # reported as it is by _check
    _check(sym, src)
    px = to_finite(doc.get("px"), f"latest price {sym}: 'px'")
    ts = to_finite(doc.get("ts"), f"latest price {sym}: 'ts'")
    if px <= 0 or ts <= 0:
        raise ContractError(f"latest price {sym}: px and ts must be positive, got {px!r}, {ts!r}")
    return PriceObservation(sym, px, src, ts, bool(doc.get("diverged", False)))

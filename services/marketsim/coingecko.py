"""CoinGecko `/api/v3/simple/price` payloads (pure): keyed by id, unknown ids left out."""

from __future__ import annotations

from collections.abc import Mapping

from services.marketsim.faults import Observed

VS_CURRENCIES = ("usd", "zar")


def round_price(px: float) -> float:
    """CoinGecko's own rounding: whole cents for big prices, more digits for small ones."""
    if px >= 1000:
        return round(px, 2)
    if px >= 1:
        return round(px, 4)
    return round(px, 8)


def simple_price_entry(obs: Observed, usd_zar: float, vs: list[str], with_updated: bool) -> dict:
    values = {"usd": obs.px, "zar": obs.px * usd_zar}
    out: dict = {cur: round_price(values[cur]) for cur in vs if cur in values}
    if with_updated:
        out["last_updated_at"] = int(obs.ts)
    return out


def parse_list(raw: str | None) -> list[str]:
    return [part.strip().lower() for part in (raw or "").split(",") if part.strip()]


def error_body(message: str) -> dict:
    return {"error": message}


def rate_limit_body(status: int) -> dict:
    return {"status": {"error_code": status, "error_message":
                       "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing "
                       "to subscribe to our API plans for higher rate limits."}}


def is_truthy(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").lower() in ("true", "1", "yes")

"""Settings, log redaction, atomic writes and wire contracts of shared/."""

from __future__ import annotations

import errno
import logging
import math
import os

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.atomic import write_json_atomic
from shared.contracts.fills import Fill, decode_fill, encode_fill
from shared.contracts.nav import decode_nav_entry, encode_nav_entry
from shared.contracts.prices import (
    PriceObservation,
    _decode_price_checked,
    decode_latest,
    decode_price,
    encode_latest,
    encode_price,
)
from shared.errors import ConfigError, ContractError
from shared.logs import RedactingFilter
from shared.settings import Mode, Settings, load_settings


def test_settings_hide_secrets_and_pick_urls_per_mode():
    s = Settings(binance_api_key="KEY-abcdef123", binance_api_secret="SECRET-xyz789", mode="live")
    assert "KEY-abcdef123" not in repr(s) and "SECRET-xyz789" not in repr(s)
    assert s.futures_base_url == "https://fapi.binance.com"
    assert Settings(mode="sim", marketsim_port=9999).futures_base_url == "http://127.0.0.1:9999"
    assert Settings(mode="testnet").futures_base_url == "https://testnet.binancefuture.com"
    assert Settings(binance_futures_url="http://x:1/").futures_base_url == "http://x:1"
    assert sorted(s.secret_values()) == ["KEY-abcdef123", "SECRET-xyz789"]


def test_blank_environment_values_mean_unset(monkeypatch):
    monkeypatch.setenv("BINANCE_API_KEY", "")
    monkeypatch.setenv("REDIS_URL", "")
    s = Settings()
    assert s.binance_api_key is None and s.redis_url is None and s.mode is Mode.SIM


def test_bad_environment_is_a_config_error_naming_the_variable(monkeypatch):
    load_settings.cache_clear()
    monkeypatch.setenv("PRICE_INTERVAL_S", "soon")
    with pytest.raises(ConfigError, match="PRICE_INTERVAL_S"):
        load_settings()
    load_settings.cache_clear()


def test_redaction_covers_secrets_headers_and_redis_passwords():
    f = RedactingFilter(["KEY-abcdef123"])
    line = ("GET https://fapi.binance.com/fapi/v3/account?timestamp=1&signature=deadbeef01 "
            "{'X-MBX-APIKEY': 'KEY-abcdef123'} redis://:hunter22@redis:6379/0 apiKey=zzz9")
    out = f.redact(line)
    for leaked in ("KEY-abcdef123", "deadbeef01", "hunter22", "zzz9"):
        assert leaked not in out
    assert "redis://:***@redis:6379/0" in out


def test_redaction_applies_to_log_records_including_args(caplog):
    logger = logging.getLogger("t.redact")
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter(["TOPSECRET99"]))
    record = logger.makeRecord("t", logging.DEBUG, __file__, 1, "headers %s", ({"k": "TOPSECRET99"},), None)
    handler.filter(record)
    assert "TOPSECRET99" not in record.getMessage()


def test_atomic_write_keeps_old_file_on_enospc(tmp_path, monkeypatch):
    path = tmp_path / "nav.json"
    write_json_atomic(path, {"seq": 1})

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as info:
        write_json_atomic(path, {"seq": 2})
    assert info.value.errno == errno.ENOSPC
    assert orjson.loads(path.read_bytes()) == {"seq": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["nav.json"], "no temp file left behind"


def test_price_contract_roundtrip_and_rejections():
    obs = PriceObservation("BTC", 97000.5, "coingecko", 1_763_726_400.25, diverged=True)
    assert decode_price(encode_price(obs)) == obs
    assert decode_latest("BTC", encode_latest(obs)) == obs
    bad = encode_price(obs)
    for field, value, msg in (("px", "nan", "not a finite"), ("px", "0", "positive"), ("px", "abc", "not a number"),
                              ("src", "guess", "not one of"), ("px", "-1", "positive"), ("ts", "inf", "finite")):
        with pytest.raises(ContractError, match=msg):
            decode_price({**bad, field: value})
    with pytest.raises(ContractError, match="'sym' is missing"):
        decode_price({k: v for k, v in bad.items() if k != "sym"})


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_decode_price_never_yields_a_non_finite_or_non_positive_price(px):
    fields = {"sym": "BTC", "px": repr(px), "src": "mark", "ts": "1.0"}
    try:
        obs = decode_price(fields)
    except ContractError:
        return
    assert math.isfinite(obs.px) and obs.px > 0


_PRICE_TEXT = st.one_of(st.sampled_from(["97000.5", "1e-9", "0", "-1", "nan", "inf", "1e400", " 2.5 ", "1_0", "",
                                          "abc", "mark", "coingecko", "config", "guess", "1", "0.0"]),
                        st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=6))


@settings(max_examples=300, deadline=None)   # a loaded CI machine must not fail it on time
@given(st.dictionaries(st.sampled_from(["sym", "px", "src", "ts", "diverged", "other"]), _PRICE_TEXT, max_size=6),
       st.sampled_from(["bytes", "str", "mixed"]))
def test_decode_price_fast_path_matches_the_checked_parse(fields, keys):
    """Entries as Redis returns them (bytes) take decode_price's fast path: same observation, same errors.
    "mixed": bytes keys plus a str twin of one field, which the checked parse prefers."""
    entry: dict = dict(fields) if keys == "str" else {k.encode(): v.encode() for k, v in fields.items()}
    if keys == "mixed" and fields:
        name = sorted(fields)[0]
        entry[name] = "config" if name == "src" else "7"   # valid, and not what the bytes twin says
    try:
        expected: object = _decode_price_checked(entry)
    except ContractError as exc:
        expected = ("error", str(exc))
    try:
        got: object = decode_price(entry)
    except ContractError as exc:
        got = ("error", str(exc))
    assert got == expected


@pytest.mark.parametrize("twin", ["sym", "src", "px", "ts", "diverged"])
def test_decode_price_a_str_key_beside_its_bytes_twin_wins_as_before(twin):
    entry: dict = {b"sym": b"BTC", b"src": b"mark", b"px": b"97000.5", b"ts": b"1.5", b"diverged": b"0"}
    entry[twin] = {"sym": "ETH", "src": "coingecko", "px": "7", "ts": "2.5", "diverged": "1"}[twin]
    assert decode_price(entry) == _decode_price_checked(entry) != decode_price({k: v for k, v in entry.items()
                                                                              if isinstance(k, bytes)})


def test_nav_entry_flat_fields_use_empty_string_for_null():
    snap = {"schema": "nav.v7", "seq": 3, "ts": 1.5, "nav_total": None, "nav_age_s": None, "source": "startup",
            "positions": [], "aum": {"futures": None, "offexchange": {}, "total": None}, "fx": {},
            "status": {"degraded": True, "reasons": ["no account data yet"]}}
    fields = encode_nav_entry(snap)
    assert fields["nav_total"] == "" and fields["aum_total"] == "" and fields["seq"] == "3"
    assert decode_nav_entry(fields) == snap
    with pytest.raises(ContractError, match="not valid JSON"):
        decode_nav_entry({"snapshot": b"{half"})


def test_fill_contract_roundtrip_and_rejections():
    fill = Fill("f1", "BTCUSDT", "BUY", 0.1, 97000.0, 1.94, "maker", False, 12.5, 0.3, 1.0)
    assert decode_fill(encode_fill(fill)) == fill
    with pytest.raises(ContractError, match="liquidity"):
        decode_fill({**encode_fill(fill), "liquidity": "dark"})

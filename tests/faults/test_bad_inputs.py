"""Malformed holdings, odd symbols, extreme quantities and garbage prices: clear errors or right values."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import orjson

from tests.support import eventually


def _walk_numbers(doc, path="$"):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _walk_numbers(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _walk_numbers(v, f"{path}[{i}]")
    elif isinstance(doc, float):
        yield path, doc


def _assert_all_finite(doc):
    bad = [(p, v) for p, v in _walk_numbers(doc) if not math.isfinite(v)]
    assert not bad, bad


def _write_holdings(pipeline, doc) -> None:
    path = Path(pipeline.env["HOLDINGS_FILE"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    tmp.replace(path)


def test_malformed_holdings_keep_last_good_and_say_why(pipeline):
    good = pipeline.last_snapshot()["aum"]["offexchange"]
    for bad, expected in [
        ('{"BTC": {"qty": "abc", "avg_cost": 1}}', "BTC.qty is 'abc', not a number"),
        ('{"../x": {"qty": 1, "avg_cost": 1}}', "symbol '../x' is not valid"),
        ('{"BTC": {"qty": 1, "avg_cost": 1}', "not valid JSON"),
        ('\ufeff{"BTC": {"qty": 1, "avg_cost": 1}}', "byte-order mark"),
        ('{"BTC": {"qty": -2, "avg_cost": 1}}', "cannot be negative"),
    ]:
        _write_holdings(pipeline, bad)
        snap = eventually(lambda e=expected: (s := pipeline.last_snapshot()) and any(
            e in reason for reason in s["status"]["reasons"]) and s, timeout=10, message=f"reason {expected!r}")
        assert snap["status"]["degraded"] is True
        assert set(snap["aum"]["offexchange"]) == set(good), "last good holdings stay in use"
        assert pipeline.procs["nav"].alive()
        assert str(pipeline.env["HOLDINGS_FILE"]) in " ".join(snap["status"]["reasons"])


def test_odd_symbols_and_extreme_quantities(pipeline):
    _write_holdings(pipeline, {"1000PEPE": {"qty": 1e12, "avg_cost": 0.00001},
                               "DUST": {"qty": 1e-12, "avg_cost": 3.0},
                               "BTC": {"qty": 0.035, "avg_cost": 61000.0}})
    snap = eventually(lambda: (s := pipeline.last_snapshot()) and {"1000PEPE", "DUST", "BTC"} == set(
        s["aum"]["offexchange"]) and s["aum"]["offexchange"]["DUST"]["source"] != "none" and s,
        timeout=10, message="the new holdings priced")
    _assert_all_finite(snap)
    pepe = snap["aum"]["offexchange"]["1000PEPE"]
    # marketsim lists 1000PEPEUSDT, whose base is 1000PEPE: the holding's own asset, marked 1:1
    assert pepe["source"] == "mark" and math.isclose(pepe["usd_value"], 1e12 * pepe["mark"], rel_tol=1e-9)
    dust = snap["aum"]["offexchange"]["DUST"]
    assert math.isclose(dust["usd_value"], 3e-12)
    known = sum(h["usd_value"] for h in snap["aum"]["offexchange"].values() if h["usd_value"] is not None)
    assert math.isclose(snap["aum"]["total"], snap["nav_total"] + known, rel_tol=1e-12)


def test_garbage_prices_on_the_stream_never_reach_a_snapshot(pipeline):
    r = pipeline.r
    pipeline.procs["pricer"].stop()
    now = repr(time.time())
    garbage = [{"sym": "BTC", "px": "nan", "src": "mark", "ts": now},
               {"sym": "BTC", "px": "inf", "src": "mark", "ts": now},
               {"sym": "BTC", "px": "0", "src": "mark", "ts": now},
               {"sym": "BTC", "px": "-5", "src": "mark", "ts": now},
               {"sym": "BTC", "px": "ninety", "src": "mark", "ts": now},
               {"sym": "BTC", "px": "1e400", "src": "mark", "ts": now},
               {"sym": "BTC", "px": "97000", "src": "rumour", "ts": now},
               {"sym": "BTCUSDT", "px": "nan", "src": "mark", "ts": now},
               {"px": "1"}]
    before = pipeline.last_snapshot()
    for fields in garbage:
        r.xadd("hedge:prices", fields)
    after = pipeline.wait_for_seq_beyond(before["seq"], timeout=10, steps=3)
    _assert_all_finite(after)
    btc = after["aum"]["offexchange"]["BTC"]
    assert btc["mark"] == before["aum"]["offexchange"]["BTC"]["mark"], "garbage did not replace the good price"
    assert pipeline.procs["nav"].alive()
    eventually(lambda: r.xpending("hedge:prices", "nav")["pending"] == 0, timeout=10,
               message="garbage entries acknowledged, not stuck pending")
    health = eventually(lambda: (h := orjson.loads(r.get("hedge:health:nav")))["last_error"] and h, timeout=5,
                        message="the bad entries in nav's health")
    assert "hedge:prices entry" in health["last_error"] and health["counters"]["bad_price_entries"] >= 8

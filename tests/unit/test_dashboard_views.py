"""Pure view helpers: unknown renders as "–" (never 0), ages and staleness labels, KPI fields, figures."""

from __future__ import annotations

import math

import pytest

from services.dashboard import components as c
from services.dashboard.views import (
    DASH,
    build_aum_slices,
    fmt_age,
    fmt_ccy,
    fmt_num,
    fmt_pct,
    fmt_qty,
    fmt_usd,
    freshness,
    fx_rate,
    is_degraded,
    kpi_fields,
    nav_age_freshness,
    num,
    position_rows,
)
from tests.documents import holding, kpis_doc, nav_doc


@pytest.mark.parametrize("value", [None, float("nan"), float("inf"), "12", True, [], {}])
def test_unknown_is_a_dash_never_zero(value):
    assert num(value) is None
    for text in (fmt_usd(value), fmt_ccy(value, "ZAR"), fmt_num(value), fmt_pct(value), fmt_qty(value),
                 fmt_age(value)):
        assert text == DASH


def test_formats():
    assert fmt_usd(100234.55) == "$100,234.55"
    assert fmt_usd(-312.0) == "-$312.00"
    assert fmt_usd(0.0) == "$0.00"  # a real zero stays zero
    assert fmt_ccy(1825271.155, "ZAR") == "ZAR 1,825,271.16"
    assert fmt_pct(0.0231, 2) == "2.31 %"
    assert fmt_qty(0.035) == "0.035" and fmt_qty(120.0) == "120" and fmt_qty(2098.96) == "2,098.96"


@pytest.mark.parametrize(("seconds", "text"), [(0.8, "0.8 s"), (12, "12 s"), (125, "2 min"), (7200, "2 h"),
                                                (200000, "2 d"), (-3, "0.0 s")])
def test_fmt_age(seconds, text):
    assert fmt_age(seconds) == text


def test_freshness_labels_old_documents():
    assert freshness(1000.0, 1010.0, 15).stale is False
    old = freshness(1000.0, 1120.0, 15)
    assert old.stale and old.label == "stale: 2 min old"
    assert freshness(None, 1000.0, 15) .label is None
    assert nav_age_freshness(45.0).label == "stale: account data 45 s old"
    assert nav_age_freshness(0.8).stale is False and nav_age_freshness(None).stale is False


def test_fx_rate_is_never_invented():
    assert fx_rate(nav_doc(), "ZAR") == 18.21
    assert fx_rate(nav_doc(fx={}), "ZAR") is None
    assert fx_rate({"fx": {"USDZAR": 0}}, "ZAR") is None
    assert fx_rate({"fx": {"USDZAR": "18"}}, "ZAR") is None
    assert fx_rate({}, "EUR") is None
    assert fx_rate({}, "USD") == 1.0


def test_kpi_fields_prefer_flat_then_nested_and_keep_zero():
    k = kpis_doc(fee_pnl_ratio=0.0, maker_fill_ratio=0.0)
    fields = kpi_fields(k)
    assert fields["fee_pnl_ratio"] == 0.0 and fields["maker_fill_ratio"] == 0.0
    assert fields["dd_state"] == "normal" and fields["atr_regime"] == "normal"
    nested_only = {"drawdown": {"dd_state": "warning", "dd_pct": 0.05}, "atr": {"atr_regime": "high"},
                   "fee_pnl": {"fee_pnl_ratio": 0.3}}
    fields = kpi_fields(nested_only)
    assert (fields["dd_state"], fields["dd_pct"], fields["atr_regime"], fields["fee_pnl_ratio"]) == \
        ("warning", 0.05, "high", 0.3)
    assert fields["router_quality"] is None and fields["maker_fill_ratio"] is None
    assert all(v is None for v in kpi_fields({}).values())
    assert all(v is None for v in kpi_fields("junk").values())


def test_degraded_and_positions():
    nav = nav_doc(holdings={"BTC": holding(0.035, 61000.0, None, "none")})
    assert is_degraded(nav)
    assert not is_degraded(nav_doc())
    rows = position_rows(nav["positions"] + ["junk", {"symbol": "X"}])
    assert [r["symbol"] for r in rows] == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "X"]
    assert rows[1]["upnl"] == "$247.20" and rows[3]["qty"] == DASH
    assert position_rows(None) == []


def _figure_numbers(fig) -> list:
    out = []

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)
        elif isinstance(v, float):
            out.append(v)
    walk(fig)
    return out


def test_donut_has_one_slice_per_holding_plus_futures_and_hover_details():
    nav = nav_doc()
    fig = c.donut_figure(build_aum_slices(nav), nav["aum"]["total"], 18.21, "ZAR")
    pie = fig["data"][0]
    assert pie["labels"] == ["Futures", "BTC", "XAUT", "USDC"]
    assert pie["hovertext"][1] == ("<b>BTC</b><br>$3,395.00<br>ZAR 61,822.95<br>3.16 % of AUM<br>qty 0.035<br>"
                                "source: futures mark<br>price age: 0.4 s")
    assert "source: fallback: CoinGecko<br>price age: 12 s" in pie["hovertext"][2]
    assert all(math.isfinite(x) for x in _figure_numbers(fig))


def test_donut_without_fx_says_so_and_labels_missing():
    nav = nav_doc(fx={}, holdings={"BTC": holding(0.035, 61000.0, None, "none")})
    fig = c.donut_figure(build_aum_slices(nav), nav["aum"]["total"], None, "ZAR")
    assert fig["data"][0]["labels"] == ["Futures", "BTC (no price)"]
    assert "<br>no USDZAR rate<br>" in fig["data"][0]["hovertext"][0]
    assert fig["data"][0]["hovertext"][1].startswith(f"<b>BTC (no price)</b><br>{DASH}<br>")


def test_donut_with_nothing_to_draw():
    assert c.donut_figure([], None, None, "ZAR")["layout"]["annotations"][0]["text"] == "no data yet"
    nav = nav_doc(nav_total=None, source="startup", holdings={"BTC": holding(0.035, 61000.0, None, "none")})
    fig = c.donut_figure(build_aum_slices(nav), None, None, "ZAR")
    assert fig["layout"]["annotations"][0]["text"] == "no AUM values to draw"
    assert fig["data"][0]["labels"] == ["Futures (no data)", "BTC (no price)"]


def test_donut_folds_a_long_tail_into_other():
    holdings = {f"T{i:04d}": holding(float(i + 1), 1.0, 1.5, "coingecko") for i in range(1000)}
    nav = nav_doc(holdings=holdings)
    fig = c.donut_figure(build_aum_slices(nav), nav["aum"]["total"], 18.21, "ZAR")
    labels = fig["data"][0]["labels"]
    assert len(labels) == c.MAX_DONUT_SLICES and labels[0] == "Futures" and labels[-1] == "Other (990 assets)"
    assert labels[1] == "T0999"  # the largest holdings are kept
    assert math.isclose(sum(fig["data"][0]["values"]), nav["aum"]["total"], rel_tol=1e-9)


def test_history_figure_empty_and_with_gaps():
    assert c.history_figure([])["layout"]["annotations"][0]["text"] == "no history yet"
    points = [{"ts": 1000.0 + 60 * i, "nav_total": 1.0 * i, "aum_total": None, "dd_pct": 0.01 if i else None}
              for i in range(3)]
    fig = c.history_figure(points)
    assert fig["data"][1]["y"] == [0.0, 1.0, 2.0]
    assert fig["data"][0]["y"] == [None, None, None]  # gaps, not zeros
    assert fig["data"][2]["y"] == [None, -1.0, -1.0]


def test_history_figure_shows_a_single_point_as_markers():
    """The first minute of history has one point: a line would draw nothing at all."""
    one = c.history_figure([{"ts": 1000.0, "nav_total": 100.0, "aum_total": 110.0, "dd_pct": 0.0}])
    assert {trace["mode"] for trace in one["data"]} == {"markers"}
    two = c.history_figure([{"ts": 1000.0 + 60 * i, "nav_total": 100.0, "aum_total": 110.0, "dd_pct": 0.0}
                            for i in range(2)])
    assert {trace["mode"] for trace in two["data"]} == {"lines"}

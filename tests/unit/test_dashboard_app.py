"""The Dash app in-process: pages register, layouts render from published state, polls redraw only changes."""

from __future__ import annotations

import copy
import importlib
import time
from pathlib import Path
from typing import Any

import dash
import orjson
import pytest
from dash import no_update
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.dashboard import context, data
from services.dashboard.app import create_app, navbar
from services.dashboard.live import LiveCache
from shared.settings import Settings
from tests.browser.dashboard_state import KEYS, add_history, publish, seed_all
from tests.documents import holding, kpis_doc, nav_doc
from tests.support import free_port


@pytest.fixture(scope="module")
def app() -> dash.Dash:
    # Pages register on import, once per process: one app for the whole module.
    return create_app(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))


def page(app: dash.Dash, name: str):
    return importlib.import_module(f"services.dashboard.pages.{name}")


@pytest.fixture(autouse=True)
def no_record(monkeypatch, tmp_path: Path):
    """The ledger's record is absent unless a test writes one (never the repository's var/)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'no-record.sqlite3'}")


@pytest.fixture
def live_redis(app, redis_server, tmp_path: Path):
    data.configure(Settings(redis_url=redis_server.url, dashboard_state_dir=tmp_path / "dstate"))
    yield redis_server.client()


@pytest.fixture
def dead_redis(app, tmp_path: Path):
    data.configure(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", dashboard_state_dir=tmp_path / "none"))


def texts(component: Any) -> list[str]:
    """Every string in a component tree (children and props), in order."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item)
        elif hasattr(node, "to_plotly_json"):
            for key, value in node.to_plotly_json()["props"].items():
                if key not in ("id", "className", "class_name", "style", "figure", "href", "color"):
                    walk(value)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
    walk(component)
    return out


def find(component: Any, id_: str) -> Any:
    if hasattr(component, "to_plotly_json"):
        if getattr(component, "id", None) == id_:
            return component
        return find(getattr(component, "children", None), id_)
    if isinstance(component, list | tuple):
        for item in component:
            hit = find(item, id_)
            if hit is not None:
                return hit
    return None


def test_pages_register_themselves_and_the_navbar_lists_them(app):
    pages = {p["path"]: p["name"] for p in dash.page_registry.values()}
    assert pages == {"/": "Overview (v7)", "/pipeline": "Pipeline", "/router": "Router Health", "/intel": "Intel",
                     "/performance": "Performance"}
    links = [t for t in texts(navbar()) if t in pages.values()]
    assert links == ["Overview (v7)", "Pipeline", "Router Health", "Intel", "Performance"]
    assert all(callable(p["layout"]) for p in dash.page_registry.values())


@pytest.mark.parametrize("name", ["overview", "pipeline", "router", "intel", "performance"])
def test_every_page_renders_with_redis_down_and_no_files(app, dead_redis, name):
    started = time.monotonic()
    tree = page(app, name).layout()
    assert time.monotonic() - started < 1.5
    text = " ".join(texts(tree))
    assert "Traceback" not in text
    if name == "overview":
        assert "no data yet" in text
        assert "$0.00" not in text
        assert find(tree, "overview-nav-value").children == "–"
    if name == "pipeline":
        assert "Redis unreachable" in text
    if name == "performance":
        assert "no record yet" in text


def test_overview_shows_what_was_published(app, live_redis):
    nav, kpis = seed_all(live_redis)
    tree = page(app, "overview").layout()
    assert find(tree, "overview-nav-value").children == "$100,234.55"
    assert find(tree, "overview-aum-value").children == "$107,291.83"
    assert find(tree, "overview-aum-display").children == "ZAR 1,953,784.22"
    text = " ".join(texts(tree))
    for expected in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "$1,000.05", "62.0 %", "4.0 %", "good", "0.180",
                     "normal", "2.31 %", "coingecko", "spot_cache"):
        assert expected in text, expected
    donut = find(tree, "overview-aum-donut").figure
    assert donut["data"][0]["labels"] == ["Futures", "BTC", "XAUT", "USDC"]
    assert "stale" not in text


def test_overview_poll_redraws_only_what_changed(app, live_redis):
    nav, kpis = seed_all(live_redis)
    overview = page(app, "overview")
    shown = find(overview.layout(), "overview-shown").data
    out = overview.refresh(1, shown)
    assert all(v is no_update for v in out[:-1]), "nothing changed, yet something was redrawn"
    newer = nav_doc(seq=nav["seq"] + 1, ts=nav["ts"] + 1, nav_total=100500.0)
    publish(live_redis, newer, kpis)
    out = overview.refresh(2, out[-1])
    alerts, row1, donut, _cls, _badges, holdings, kpi_card, positions, history, shown = out
    assert "$100,500.00" in texts(row1)
    assert donut is not no_update  # futures value changed
    assert history is no_update and kpi_card is no_update
    out = overview.refresh(3, shown)
    assert all(v is no_update for v in out[:-1])


def test_an_unchanged_poll_reuses_the_donut_slices(app, live_redis, monkeypatch):
    """The live feed hands out one document per snapshot: its slices are built once, not on every poll."""
    nav, kpis = seed_all(live_redis)
    feed = LiveCache()
    feed.put(nav, "1-0", time.time())
    monkeypatch.setattr(context.current(), "live", feed)
    built = []
    overview = page(app, "overview")
    build = overview.build_aum_slices
    monkeypatch.setattr(overview, "build_aum_slices", lambda doc: built.append(doc) or build(doc))
    out = overview.refresh(1, find(overview.layout(), "overview-shown").data)
    out = overview.refresh(2, out[-1])
    assert all(v is no_update for v in out[:-1]) and built == [nav]
    newer = nav_doc(seq=nav["seq"] + 1, ts=nav["ts"] + 1, holdings={"BTC": holding(0.5, 61000.0, 62000.0, "mark")})
    feed.put(newer, "2-0", time.time())
    out = overview.refresh(3, out[-1])
    assert built == [nav, newer]
    assert out[2]["data"][0]["labels"] == ["Futures", "BTC"]  # the donut was redrawn from the new slices


def test_the_history_chart_is_read_once_per_new_point(app, live_redis, monkeypatch):
    now = time.time()
    add_history(live_redis, now - 60, points=3)
    reads = []
    load = data.load_history
    monkeypatch.setattr(data, "load_history", lambda *a, **kw: reads.append(1) or load(*a, **kw))
    overview = page(app, "overview")
    first = find(overview.layout(), "overview-history").figure
    again = find(overview.layout(), "overview-history").figure
    assert len(reads) == 1 and again == first and len(first["data"][0]["x"]) == 3
    add_history(live_redis, now + 60, points=1)  # the next minute's point
    out = overview.refresh(1, find(overview.layout(), "overview-shown").data)
    assert len(reads) == 2 and out[8] is no_update  # the new layout drew it already
    assert len(find(overview.layout(), "overview-history").figure["data"][0]["x"]) == 4 and len(reads) == 2


def test_nav_card_greys_out_when_account_data_is_old(app, live_redis):
    publish(live_redis, nav_doc(source="cache", nav_age_s=45.0))
    tree = page(app, "overview").layout()
    assert find(tree, "overview-nav-card-stale").children == "stale: account data 45 s old"
    assert find(tree, "overview-aum-card-stale") is None  # the snapshot itself is fresh
    assert find(tree, "overview-nav-source").children == "cache"


def test_overview_marks_stale_cache_and_degraded_data(app, live_redis):
    now = time.time()
    nav = nav_doc(ts=now - 125, source="cache", nav_age_s=140.0,
                  holdings={"BTC": holding(0.035, 61000.0, None, "none"),
                            "XAUT": holding(0.59, 2350.0, 2650.4, "avg_cost", age=4000.0)})
    publish(live_redis, nav, kpis_doc(ts=now, nav=nav))
    tree = page(app, "overview").layout()
    text = " ".join(texts(tree))
    assert find(tree, "overview-aum-card-stale").children == "stale: 2 min old"
    assert "ns-stale" in find(tree, "overview-aum-card").className
    assert find(tree, "overview-status-card-stale") is None  # KPIs are fresh
    assert "ns-stale" in find(tree, "overview-donut-card").className
    assert "cache" in text and "exchange unreachable" in text
    assert "Degraded:" in text and "BTC: no price from any source" in text
    assert "BTC (no price)" in text and "avg_cost" in text
    assert "ns-stale" in find(tree, "overview-nav-card").className
    assert find(tree, "overview-aum-donut").figure["data"][0]["labels"] == ["Futures", "BTC (no price)", "XAUT"]


def test_pipeline_line_is_never_ok_for_an_old_snapshot(app, live_redis):
    now = time.time()
    nav = nav_doc(ts=now - 180)   # a healthy snapshot, but three minutes old
    publish(live_redis, nav, kpis_doc(ts=now, nav=nav))
    line = find(page(app, "overview").layout(), "overview-status-pipeline")
    assert line.children == "stale (last snapshot 3 min old)"
    assert line.color == "warning"
    publish(live_redis, nav_doc(ts=time.time()), kpis_doc(ts=time.time(), nav=nav))
    assert find(page(app, "overview").layout(), "overview-status-pipeline").children == "ok"


def test_startup_snapshot_shows_unknown_not_zero(app, live_redis):
    nav = nav_doc(nav_total=None, source="startup", fx={})
    publish(live_redis, nav)
    tree = page(app, "overview").layout()
    assert find(tree, "overview-nav-value").children == "–"
    assert find(tree, "overview-aum-value").children == "–"
    text = " ".join(texts(tree))
    assert "no account data yet" in text and "$0.00" not in text
    assert "no KPI data yet" in text


def test_aum_without_fx_says_so(app, live_redis):
    publish(live_redis, nav_doc(fx={}))
    tree = page(app, "overview").layout()
    assert find(tree, "overview-aum-display").children == "no USD/ZAR rate in the snapshot"


def test_operator_pages_with_data(app, live_redis):
    seed_all(live_redis)
    pipeline = " ".join(texts(page(app, "pipeline").layout()))
    for expected in ("pricer", "rounds=812", "coingecko: HTTP 429", "hedge:prices", "down/no heartbeat"):
        assert expected in pipeline, expected
    router = page(app, "router").layout()
    router_text = " ".join(texts(router))
    assert "62.0 %" in router_text and "f0011" not in router_text and "SOLUSDT" in router_text
    assert len(find(router, "router-ratios-chart").figure["data"]) == 2
    intel = " ".join(texts(page(app, "intel").layout()))
    for expected in ("XAUTUSDT", "market XAUTUSDT is delisted", "USDZAR", "18.2100", "high", "0.425 %"):
        assert expected in intel, expected


def test_a_thousand_holdings_render_quickly_and_compactly(app, live_redis):
    holdings = {f"T{i:04d}": holding(float(i + 1), 1.0, 1.5, "coingecko") for i in range(1000)}
    publish(live_redis, nav_doc(holdings=holdings))
    started = time.monotonic()
    tree = page(app, "overview").layout()
    assert time.monotonic() - started < 2.0
    table = find(tree, "overview-holdings-table")
    rows = table.children[1].children
    assert len(rows) == 26  # Futures + 24 largest + "and 976 more"
    assert "… and 976 smaller holdings (see Intel)" in texts(rows[-1])
    assert len(find(tree, "overview-aum-donut").figure["data"][0]["labels"]) == 12


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _paths(value, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


_JUNK = st.sampled_from([None, "x", "", -1, -1e12, 0, 1e308, True, [], {}, {"a": 1}, [None]])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data_=st.data())
def test_overview_survives_any_damage_to_the_documents(app, live_redis, data_):
    """Whatever shape the published documents take, the page renders: no exception, no NaN, no traceback."""
    nav = copy.deepcopy(nav_doc())
    kpis = copy.deepcopy(kpis_doc(nav=nav))
    for doc in (nav, kpis):
        for path in data_.draw(st.lists(st.sampled_from(_paths(doc)), max_size=6)):
            try:
                _replace(doc, path, copy.deepcopy(data_.draw(_JUNK)))
            except (KeyError, IndexError, TypeError):
                continue  # an earlier replacement removed that branch
    live_redis.set(KEYS.state_nav, orjson.dumps(nav))
    live_redis.set(KEYS.state_kpis, orjson.dumps(kpis))
    overview = page(app, "overview")
    tree = overview.layout()
    text = " ".join(texts(tree))
    assert "nan" not in text.lower().split() and "inf" not in text.lower().split()
    overview.refresh(1, {})
    for other in ("router", "intel"):
        page(app, other).layout()

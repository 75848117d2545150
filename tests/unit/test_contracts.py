"""The wire contracts that have no service of their own to test them: provenance, manual NAV,
bars, KPI state, stream entry IDs. Each decodes what its writer encodes, and names the field
when the data is bad."""

from __future__ import annotations

import json

import orjson
import pytest

from services.pricer.assemble import ANY, Observed, assemble_round
from services.pricer.chain import Quote
from shared.contracts import SCHEMAS_DIR
from shared.contracts.bars import Bar, bar_from_json, bar_to_json, decode_bar, encode_bar
from shared.contracts.kpi_state import KpiState, decode_kpi_state, encode_kpi_state
from shared.contracts.manual_nav import ManualNav, decode_manual_nav, encode_manual_nav
from shared.contracts.provenance import decode_provenance, encode_provenance
from shared.contracts.stream_ids import entry_pos
from shared.contracts.accounts import ACCOUNT_SOURCES
from shared.contracts.vocabulary import ACCOUNT_MODES, NO_PRICE, PAR_SOURCE, POSITION_SIDES, SNAPSHOT_SOURCES, TIERS
from shared.errors import ContractError
from tests.unit.test_pricer_assemble import HOLDINGS, NOW, POLICY, avg_costs


def _round_reports() -> dict[str, dict]:
    observed = Observed(
        quotes={"mark": {"BTCUSDT": Quote(97000.0, NOW - 1)}, "spot_cache": {"USDC": Quote(0.9998, NOW - 2)},
                "coingecko": {}, "avg_cost": avg_costs()},
        problems={"coingecko": {ANY: "HTTP 429"}})
    result = assemble_round(HOLDINGS, {"BTCUSDT"}, observed, NOW, POLICY)
    return {a: o.report() for a, o in result.assets.items()}


def test_provenance_written_by_the_pricer_reads_back_unchanged():
    reports = _round_reports()
    assert set(reports) == {"BTC", "XAUT", "USDC"}
    for asset, doc in reports.items():
        assert decode_provenance(encode_provenance(doc), asset) == doc
    assert reports["USDC"]["chosen"]["src"] == "spot_cache"
    assert reports["XAUT"]["errors"]["coingecko"].startswith("HTTP 429")


@pytest.mark.parametrize(("doc", "field"), [
    ([], "must be a JSON object"),
    ({"market": "BTCUSDT"}, "asset is None"),
    ({"asset": "BTC", "chosen": {"px": "abc", "src": "mark", "ts": 1.0}}, "chosen.px is 'abc'"),
    ({"asset": "BTC", "chosen": {"px": 1.0, "src": "guess", "ts": 1.0}}, "chosen.src is 'guess'"),
    ({"asset": "BTC", "chosen": {"px": 0.0, "src": "mark", "ts": 1.0}}, "chosen.px is 0.0"),
    ({"asset": "BTC", "sources": {"mark": {"px": 1.0}}}, "sources.mark.ts is None"),
    ({"asset": "BTC", "errors": {"mark": 3}}, "errors must map a tier to a message"),
    ({"asset": "BTC", "diverged": "no"}, "diverged is 'no'"),
    ({"asset": "BTC", "spread_pct": "wide"}, "spread_pct is 'wide'"),
])
def test_bad_provenance_names_the_field(doc, field):
    with pytest.raises(ContractError, match="hedge:prices:sources BTC") as info:
        decode_provenance(orjson.dumps(doc), "hedge:prices:sources BTC")
    assert field in str(info.value)


def test_manual_nav_round_trip_and_bad_values():
    manual = ManualNav(123456.0, 1_700_000_000.5, "exchange maintenance")
    assert decode_manual_nav(encode_manual_nav(manual)) == manual
    with pytest.raises(ContractError, match="hedge:nav:manual: nav_total is 'x', not a number"):
        decode_manual_nav(b'{"nav_total": "x", "ts": 1}')
    with pytest.raises(ContractError, match="ts is -1, not a positive epoch time"):
        decode_manual_nav(b'{"nav_total": 1, "ts": -1}')


def test_bars_and_kpi_state_round_trip():
    bar = Bar(1_763_726_400, 10.0, 11.0, 9.5, 10.5)
    assert decode_bar(encode_bar(bar)) == bar and bar_from_json(bar_to_json(bar)) == bar
    state = KpiState(peak_nav=1.5, peak_ts=2.0, history_minute=60, forming={"BTCUSDT": bar})
    stored = {k.encode(): (v if isinstance(v, bytes) else v.encode()) for k, v in encode_kpi_state(state).items()}
    assert decode_kpi_state(stored) == (state, [])
    _, problems = decode_kpi_state({b"bar:ETHUSDT": b'{"t": 1, "o": 2, "h": 1, "l": 1, "c": 1}'})
    assert problems and problems[0].startswith("bar:ETHUSDT: bar at t=1")


def test_stream_ids_order_by_time_then_sequence():
    assert entry_pos(b"1700000000000-5") < entry_pos("1700000000000-12") < entry_pos(b"1700000000001-0")
    with pytest.raises(ValueError):
        entry_pos(b"junk")


def test_the_schemas_speak_the_vocabulary():
    """A new tier, snapshot source or side is a vocabulary change; the schema must follow it."""
    schema = json.loads((SCHEMAS_DIR / "nav.v7.schema.json").read_text())
    assert schema["$defs"]["holding"]["properties"]["source"]["enum"] == [*TIERS, NO_PRICE]
    assert schema["$defs"]["position"]["properties"]["side"]["enum"] == list(POSITION_SIDES)
    assert schema["properties"]["source"]["enum"] == list(SNAPSHOT_SOURCES)
    account = schema["properties"]["accounts"]["additionalProperties"]["properties"]
    assert account["mode"]["enum"] == [*ACCOUNT_MODES, None]
    assert account["source"]["enum"] == list(ACCOUNT_SOURCES)
    assert account["assets"]["additionalProperties"]["properties"]["price_src"]["enum"] == [*TIERS, PAR_SOURCE, None]
    assert {"account", "margin_asset"} <= set(schema["$defs"]["position"]["properties"])

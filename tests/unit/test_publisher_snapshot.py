"""Incoming snapshots: the aum guard, contract rejection, and the parts the KPIs read.

The documents come from tests/documents.py.
"""

from __future__ import annotations

import copy

import orjson
import pytest

from shared.contracts.nav import validate_nav_document
from shared.contracts.positions import positions_document
from shared.errors import ContractError
from services.publisher.snapshot import (
    accept_snapshot,
    entry_seq,
    position_marks,
    position_weights,
    read_snapshot,
)
from tests.documents import T0, make_snapshot, nav_entry
from tests.support import schema_validator

def test_valid_snapshot_is_accepted_unchanged():
    doc = make_snapshot(7)
    acc = accept_snapshot("1-0", nav_entry(doc))
    assert acc.doc == doc and not acc.repaired
    assert acc.seq == 7 and acc.ts == T0 + 7
    assert orjson.dumps(acc.doc["aum"]) == orjson.dumps(doc["aum"])  # byte for byte: passed through


def test_snapshot_without_aum_gets_the_stable_shape():
    doc = make_snapshot(3, with_aum=False)
    acc = accept_snapshot("1-0", nav_entry(doc))
    assert acc.repaired
    assert acc.doc["aum"] == {"futures": 100_000.0, "offexchange": {}, "total": 100_000.0}
    validate_nav_document(acc.doc)
    schema_validator("nav.v7").validate(acc.doc)


def test_startup_snapshot_without_aum_gets_null_totals():
    doc = make_snapshot(1, nav_total=None, marks={}, with_aum=False)
    acc = accept_snapshot("1-0", nav_entry(doc))
    assert acc.doc["aum"] == {"futures": None, "offexchange": {}, "total": None}


def test_null_aum_counts_as_missing():
    doc = make_snapshot(3)
    doc["aum"] = None
    assert accept_snapshot("1-0", nav_entry(doc)).repaired


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d.pop("nav_total"), "nav_total"),
    (lambda d: d.update(nav_total="abc"), "nav_total"),
    (lambda d: d["aum"].pop("total"), "aum.total"),
    (lambda d: d.update(source="guess"), "source"),
    (lambda d: d["positions"][0].update(side="FLAT"), "positions.0.side"),
])
def test_contract_breaks_are_rejected_naming_the_field(mutate, needle):
    doc = copy.deepcopy(make_snapshot(5))
    mutate(doc)
    with pytest.raises(ContractError, match=needle.replace(".", r"\.")):
        accept_snapshot("1-0", {b"seq": b"5", b"snapshot": orjson.dumps(doc)})


@pytest.mark.parametrize("raw", [b'{"schema": "nav.v7", "nav_total": NaN}', b"not json", b"[1, 2]",
                                 b'{"schema": "nav.v7", "nav_total": Infinity}'])
def test_non_json_and_nan_are_rejected(raw):
    with pytest.raises(ContractError):
        accept_snapshot("1-0", {b"seq": b"9", b"snapshot": raw})


def test_coalesced_snapshots_are_checked_only_in_the_fields_the_bars_read():
    doc = copy.deepcopy(make_snapshot(5))
    doc["aum"].pop("total")                       # not read by the bars: left to the publish-time check
    fields = {b"seq": b"5", b"snapshot": orjson.dumps(doc)}
    assert read_snapshot("1-0", fields).doc == doc
    with pytest.raises(ContractError, match="aum.total"):
        accept_snapshot("1-0", fields)
    assert read_snapshot("1-0", nav_entry(make_snapshot(3, with_aum=False))).repaired   # the guard too


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d["positions"][0].update(side="FLAT"), r"positions\.0\.side"),
    (lambda d: d["positions"][1].update(mark_price="high"), r"positions\.1\.mark_price"),
    (lambda d: d["positions"][0].pop("symbol"), r"positions\.0\.symbol"),
    (lambda d: d.pop("ts"), "ts"),
    (lambda d: d.update(seq=-1), "seq"),
])
def test_coalesced_snapshots_with_bad_bar_fields_are_rejected_naming_the_field(mutate, needle):
    doc = copy.deepcopy(make_snapshot(5))
    mutate(doc)
    with pytest.raises(ContractError, match=needle):
        read_snapshot("1-0", {b"seq": b"5", b"snapshot": orjson.dumps(doc)})


def test_entry_without_snapshot_field_is_rejected():
    with pytest.raises(ContractError, match="snapshot"):
        accept_snapshot("1-0", {b"seq": b"9"})


def test_entry_seq_for_messages():
    assert entry_seq({b"seq": b"42"}) == "42"
    assert entry_seq({"seq": "43"}) == "43"
    assert entry_seq({}) == "?"


def test_marks_and_weights():
    doc = make_snapshot(1, marks={"BTCUSDT": 100.0, "ETHUSDT": 10.0})
    doc["positions"].append({"symbol": "SOLUSDT", "side": "SHORT", "qty": -3.0, "entry_price": 150.0,
                             "mark_price": None, "upnl": None, "notional": None})
    doc["positions"].append({"symbol": "ETHUSDT", "side": "SHORT", "qty": -2.0, "entry_price": 11.0,
                             "mark_price": 10.0, "upnl": 2.0, "notional": None})
    assert position_marks(doc) == {"BTCUSDT": 100.0, "ETHUSDT": 10.0}
    # |notional| summed per market; a null notional falls back to |qty x mark|; unknown stays None
    assert position_weights(doc) == {"BTCUSDT": 50.0, "ETHUSDT": 100.0 + 20.0, "SOLUSDT": None}


def test_positions_document_is_the_snapshots_positions():
    doc = make_snapshot(4)
    assert positions_document(doc) == {"ts": doc["ts"], "positions": doc["positions"]}

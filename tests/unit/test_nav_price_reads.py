"""The nav reads hedge:prices as Redis sends each entry ([name, value, ...], no dict per entry):
decode_price_flat gives exactly decode_price's answer, and the group reader's recovery paths
(own pending entries, XAUTOCLAIM) hand out the same flat entries as a normal read."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contracts.prices import PRICE_FIELDS, PriceObservation, decode_price, decode_price_flat, encode_price
from shared.errors import ContractError
from shared.heartbeat import Heartbeat
from shared.keys import Keys
from shared.redis_io import GroupReader, flat_fields_client

from services.nav.inputs import OnceLog, PriceInput

KEYS = Keys()
_TEXT = st.one_of(st.sampled_from(["97000.5", "1e-9", "0", "-1", "nan", "inf", "1e400", " 2.5 ", "", "BTC",
                                   "mark", "coingecko", "config", "guess", "1", "0"]),
                  st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=6))
_NAMES = st.sampled_from([*PRICE_FIELDS, "other"])


def _answer(decode, fields) -> object:
    try:
        return decode(fields)
    except ContractError as exc:
        return ("error", str(exc))


@settings(max_examples=400, deadline=None)
@given(st.one_of(
    # the pricer's shape: every field, in PRICE_FIELDS order, any values
    st.tuples(*[_TEXT for _ in PRICE_FIELDS]).map(lambda vs: [x for pair in zip(PRICE_FIELDS, vs, strict=True)
                                                              for x in pair]),
    # anything else: missing, repeated, reordered or extra fields
    st.lists(st.tuples(_NAMES, _TEXT), max_size=7).map(lambda pairs: [x for pair in pairs for x in pair]),
))
def test_the_flat_decode_answers_as_decode_price_on_the_dict_redis_py_would_build(flat):
    flat = [x.encode() for x in flat]
    it = iter(flat)
    as_dict = dict(zip(it, it, strict=False))   # redis-py's pairs_to_dict
    assert _answer(decode_price_flat, flat) == _answer(decode_price, as_dict)


def test_a_real_entry_decodes_the_same_either_way(r):
    obs = PriceObservation("BTC", 96993.4, "spot_cache", 1_800_000_000.25, diverged=True)
    r.xadd(KEYS.prices, encode_price(obs))
    flat_client = flat_fields_client(r)
    flat_client.set_response_callback("XRANGE", lambda response, **_: response)
    [(_id, flat)] = flat_client.xrange(KEYS.prices)
    [(_id, as_dict)] = r.xrange(KEYS.prices)
    assert decode_price_flat(flat) == decode_price(as_dict) == obs


def _entries(batch):
    return [(entry_id, fields) for _stream, entries in batch for entry_id, fields in entries]


@pytest.mark.parametrize("protocol", [None, 2])   # redis-py 8 default (RESP3: a map of streams), RESP2 (a list)
def test_reads_and_both_recovery_paths_give_flat_entries(redis_server, protocol):
    r = redis_server.client(**({} if protocol is None else {"protocol": protocol}))
    flat = flat_fields_client(r)
    for i in range(3):
        r.xadd(KEYS.prices, encode_price(PriceObservation(f"A{i}", 1.0 + i, "mark", 1.5)))
    other = GroupReader(r, [KEYS.prices], "nav", "other", claim_idle_ms=0)
    other.setup()
    assert len(_entries(other.read(block_ms=0))) == 3   # read by "other" and left pending
    mine = GroupReader(flat, [KEYS.prices], "nav", "mine", claim_idle_ms=0)
    assert mine.flat_fields and not other.flat_fields
    mine.setup()
    r.xadd(KEYS.prices, encode_price(PriceObservation("A3", 4.0, "mark", 1.5)))
    time.sleep(0.01)
    claimed = _entries(mine.read(block_ms=0))          # XAUTOCLAIM of other's pending entries
    new = _entries(mine.read(block_ms=0))              # a normal read
    assert [decode_price_flat(f).sym for _, f in claimed] == ["A0", "A1", "A2"]
    assert [decode_price_flat(f).sym for _, f in new] == ["A3"]
    assert all(isinstance(f, list) for _, f in claimed + new)
    mine2 = GroupReader(flat, [KEYS.prices], "nav", "mine", claim_idle_ms=60_000)
    mine2.setup()   # a restart of "mine": its own pending entries first
    own = _entries(mine2.read(block_ms=0))
    assert [decode_price_flat(f).sym for _, f in own] == ["A0", "A1", "A2", "A3"]
    assert isinstance(r.xrange(KEYS.prices)[0][1], dict), "the client it wraps keeps redis-py's parsed replies"


def test_price_input_absorbs_flat_entries_and_refuses_a_dict_reader(r):
    heartbeat = Heartbeat(r, KEYS, "nav", 1.0)
    log = OnceLog(__import__("logging").getLogger("test"))
    with pytest.raises(ValueError, match="flat_fields_client"):
        PriceInput(r, KEYS, GroupReader(r, [KEYS.prices], "nav", "c"), heartbeat, log)
    reader = GroupReader(flat_fields_client(r), [KEYS.prices], "nav", "c")
    reader.setup()
    inputs = PriceInput(r, KEYS, reader, heartbeat, log)
    r.xadd(KEYS.prices, encode_price(PriceObservation("BTC", 97000.5, "mark", 1.5)))
    r.xadd(KEYS.prices, {"sym": "BAD", "px": "nan", "src": "mark", "ts": "1.5", "diverged": "0"})
    ids = inputs.absorb(inputs.read_pending(0))
    assert len(ids) == 2 and set(inputs.prices) == {"BTC"}
    assert heartbeat.counters["bad_price_entries"] == 1


def test_a_deleted_pending_entry_is_skipped(r):
    flat = flat_fields_client(r)
    reader = GroupReader(flat, [KEYS.prices], "nav", "c")
    reader.setup()
    ids = [r.xadd(KEYS.prices, encode_price(PriceObservation(f"A{i}", 1.0, "mark", 1.5))) for i in range(2)]
    reader.read(block_ms=0)
    reader.read(block_ms=0)
    r.xdel(KEYS.prices, ids[0])
    again = GroupReader(flat, [KEYS.prices], "nav", "c")
    again.setup()
    assert [entry_id for entry_id, _ in _entries(again.read(block_ms=0))] == [ids[1]]

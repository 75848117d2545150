"""Publishing a round: hedge:prices keeps at least three rounds, whatever STREAM_MAXLEN says; the
entries the XADD script writes are the ones a pipelined XADD per observation wrote; a Redis that
lost its script cache (restart, SCRIPT FLUSH) is published to as before, nothing lost or doubled."""

from __future__ import annotations

import hashlib

import pytest
import redis

from shared.contracts.prices import PRICE_FIELDS, PriceObservation, decode_price, encode_price
from shared.heartbeat import Heartbeat
from shared.keys import Keys
from shared.redis_io import entry_pos

from services.pricer import publish as publish_module
from services.pricer.assemble import RoundResult
from services.pricer.publish import XADD_CHUNK, XADD_SCRIPT, RedisView, publish_round, stream_bound

KEYS = Keys()
PASSWORD = "pricer-script-pw"
SHA = hashlib.sha1(XADD_SCRIPT.encode()).hexdigest()


def a_round(n: int, px: float) -> RoundResult:
    return RoundResult(prices=tuple(PriceObservation(f"A{i:05d}", px, "mark", 1_800_000_000.0) for i in range(n)),
                       assets={}, unpublished=())


def varied_round() -> RoundResult:
    """Observations whose flat fields are not all alike: floats repr prints oddly, every tier, diverged."""
    pxs = (1e-05, 0.1 + 0.2, 96993.4, 1.5e17, 2.0, 123456789.123456789)
    srcs = ("mark", "spot_cache", "coingecko", "avg_cost", "config")
    prices = tuple(PriceObservation(f"S{i}", pxs[i % len(pxs)] * (1 + i), srcs[i % len(srcs)],
                                    1_800_000_000.0 + i / 7, diverged=i % 3 == 0) for i in range(40))
    return RoundResult(prices=prices, assets={}, unpublished=())


def publish(r: redis.Redis, result: RoundResult, maxlen: int = 10_000) -> RedisView:
    return publish_round(r, KEYS, result, RedisView(), maxlen=maxlen, heartbeat=Heartbeat(r, KEYS, "pricer", 1.0))


def pipelined(r: redis.Redis, stream: str, result: RoundResult, maxlen: int) -> None:
    """How publish_round wrote the entries before the script: one pipelined XADD per observation."""
    pipe = r.pipeline(transaction=False)
    for obs in result.prices:
        pipe.xadd(stream, encode_price(obs), maxlen=stream_bound(maxlen, len(result.prices)), approximate=True)
    pipe.execute()


def test_the_bound_is_the_setting_or_three_rounds():
    assert stream_bound(10_000, 12) == 10_000
    assert stream_bound(10_000, 10_004) == 30_012


def test_a_round_larger_than_stream_maxlen_is_not_trimmed_before_it_is_read(r):
    heartbeat = Heartbeat(r, KEYS, "pricer", 1.0)
    view = RedisView()
    for round_no in range(3):
        view = publish_round(r, KEYS, a_round(1500, 100.0 + round_no), view, maxlen=1000, heartbeat=heartbeat)
    # MAXLEN ~1000 would have cut the rounds down to about 1,000 entries: prices the nav never read.
    assert r.xlen(KEYS.prices) == 4500
    view = publish_round(r, KEYS, a_round(1500, 200.0), view, maxlen=1000, heartbeat=heartbeat)
    assert 4500 <= r.xlen(KEYS.prices) < 6000, "still bounded, by three rounds (approximately)"


def test_the_entries_are_byte_identical_to_a_pipelined_xadd_each(r):
    result = varied_round()
    publish(r, result)
    pipelined(r, "old:prices", result, 10_000)
    new, old = r.xrange(KEYS.prices), r.xrange("old:prices")
    assert [fields for _id, fields in new] == [fields for _id, fields in old]
    assert [list(fields) for _id, fields in new] == [[f.encode() for f in PRICE_FIELDS]] * len(result.prices)
    assert [decode_price(fields) for _id, fields in new] == list(result.prices)
    assert new[0][1] == {b"sym": b"S0", b"px": b"1e-05", b"src": b"mark", b"ts": b"1800000000.0", b"diverged": b"1"}


def test_ids_are_assigned_by_redis_in_order_after_what_is_there(r):
    r.xadd(KEYS.prices, {"sym": "X", "px": "1", "src": "mark", "ts": "1", "diverged": "0"}, id="9999999999999-5")
    publish(r, a_round(2 * XADD_CHUNK + 7, 100.0))   # three script calls
    entries = r.xrange(KEYS.prices)
    positions = [entry_pos(entry_id) for entry_id, _ in entries]
    assert positions == sorted(set(positions)) and positions[0] == (9999999999999, 5)
    assert [f[b"sym"] for _, f in entries[1:]] == [f"A{i:05d}".encode() for i in range(2 * XADD_CHUNK + 7)]


def test_trimming_is_the_pipelined_xadd_s(r):
    """MAXLEN ~ bound on every XADD as before: Redis drops whole nodes of the stream (at most
    stream-node-max-entries, 100) while at least `bound` entries remain, so both settle in
    [bound, bound + 100). Where in that range depends on how the IDs pack into nodes."""
    bound = stream_bound(1000, 700)
    for round_no in range(8):
        publish(r, a_round(700, 100.0 + round_no), maxlen=1000)
        pipelined(r, "old:prices", a_round(700, 100.0 + round_no), 1000)
        for stream in (KEYS.prices, "old:prices"):
            assert min((round_no + 1) * 700, bound) <= r.xlen(stream) < bound + 100
    assert r.xrevrange(KEYS.prices, count=1)[0][1] == r.xrevrange("old:prices", count=1)[0][1]


def test_an_empty_round_writes_no_entries(r):
    view = publish(r, RoundResult(prices=(), assets={}, unpublished=()))
    assert r.xlen(KEYS.prices) == 0 and view == RedisView()


def _published_once(r: redis.Redis, rounds: int, size: int) -> None:
    assert r.xlen(KEYS.prices) == rounds * size, "every round once: none lost, none written twice"


@pytest.mark.parametrize("lose", ["restart", "script flush", "flushall"])
def test_a_redis_that_lost_its_scripts_is_published_to_as_before(redis_server, r, lose):
    publish(r, a_round(30, 100.0))
    assert r.script_exists(SHA) == [True]
    if lose == "restart":
        redis_server.restart(wipe=False)   # AOF on: the data comes back, the script cache does not
        r.ping()
        assert r.script_exists(SHA) == [False]
    elif lose == "script flush":
        r.script_flush()
    else:
        r.flushall()
        r.script_flush()   # FLUSHALL alone keeps scripts; together they are a Redis without data or scripts
    publish(r, a_round(30, 101.0))
    expected = 30 if lose == "flushall" else 60
    assert r.xlen(KEYS.prices) == expected
    assert r.script_exists(SHA) == [True]
    assert [f[b"px"] for _, f in r.xrange(KEYS.prices)][-30:] == [b"101.0"] * 30


def test_a_round_of_several_calls_after_a_restart_is_written_once(redis_server, r):
    size = 2 * XADD_CHUNK + 1
    publish(r, a_round(size, 100.0))
    redis_server.restart(wipe=True)
    r.ping()
    publish(r, a_round(size, 101.0))
    _published_once(r, 1, size)
    assert r.hlen(KEYS.prices_latest) == size


def test_other_errors_still_raise(r):
    r.set(KEYS.prices, "not a stream")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        publish(r, a_round(3, 100.0))


def test_with_a_password(password_redis):
    client = password_redis.client()
    publish(client, a_round(5, 100.0))
    assert client.xlen(KEYS.prices) == 5


def test_an_acl_user_needs_eval(r, redis_server):
    """compose runs Redis with requirepass (the default user, every command). A restricted user
    for the pricer needs, besides the commands it runs, EVAL; Redis checks the XADDs inside the
    script against the same user."""
    commands = "+xadd +hset +hdel +hkeys +smembers +set +ping +client|setname +hello"
    r.execute_command("ACL", "SETUSER", "pricer", "on", ">pw", "~hedge:*", *commands.split())
    limited = redis.Redis(port=redis_server.port, username="pricer", password="pw")
    with pytest.raises(redis.exceptions.NoPermissionError):
        publish(limited, a_round(3, 100.0))
    assert r.xlen(KEYS.prices) == 0
    r.execute_command("ACL", "SETUSER", "pricer", "+eval")
    publish(limited, a_round(3, 100.0))
    assert r.xlen(KEYS.prices) == 3
    r.execute_command("ACL", "SETUSER", "pricer", "-xadd")
    with pytest.raises(redis.ResponseError, match="can't run this command"):
        publish(limited, a_round(3, 101.0))
    assert r.xlen(KEYS.prices) == 3


def test_the_script_writes_the_contract_fields_in_order():
    """The Lua text comes from PRICE_FIELDS: a field added to the contract is written by the script too."""
    source = publish_module._xadd_script()
    positions = [source.index(f"'{name}', ARGV[i + {k}]") for k, name in enumerate(PRICE_FIELDS)]
    assert positions == sorted(positions)

"""API keys never reach logs, state files or Redis, even with every service at DEBUG."""

from __future__ import annotations

from pathlib import Path

import orjson
import requests

from tests.support import NavstreamUp, eventually

FAKE_KEY = "FAKEKEYnavstream0123456789abcdefFAKEKEY"
FAKE_SECRET = "FAKESECRETnavstream9876543210zyxwvFAKESECRET"


def _every_redis_value(r) -> list[bytes]:
    values: list[bytes] = []
    for key in r.scan_iter(count=1000):
        values.append(key)
        kind = r.type(key)
        if kind == b"string":
            values.append(r.get(key) or b"")
        elif kind == b"hash":
            values.extend(v for kv in r.hgetall(key).items() for v in kv)
        elif kind == b"set":
            values.extend(r.smembers(key))
        elif kind == b"stream":
            for _id, fields in r.xrange(key):
                values.extend(v for kv in fields.items() for v in kv)
        elif kind == b"list":
            values.extend(r.lrange(key, 0, -1))
    return values


def test_debug_run_with_fake_keys_leaks_them_nowhere(redis_server, r, tmp_path: Path):
    up = NavstreamUp(redis_server.url, tmp_path, LOG_LEVEL="DEBUG", BINANCE_API_KEY=FAKE_KEY,
                     BINANCE_API_SECRET=FAKE_SECRET, PRICE_INTERVAL_S=0.5, ACCOUNT_INTERVAL_S=0.5).start()
    try:
        # Account polls are signed and sent with these keys (marketsim refuses keys that are not its
        # accounts' with Binance's -2015, as Binance would), so ccxt has had the chance to log them,
        # and the refusal, at DEBUG many times over.
        eventually(lambda: orjson.loads((up.state_dir / "nav.json").read_bytes())["seq"] > 0,
                   timeout=40, message="snapshots on disk")
        eventually(lambda: len(r.xrange("hedge:nav")) > 10, timeout=20, message="several snapshots")
        sim = f"http://127.0.0.1:{up.env['MARKETSIM_PORT']}/_sim/state"
        assert requests.get(sim, timeout=2).json()["counters"].get("requests.account.unknown_key", 0) > 2
    finally:
        assert up.stop() == 0

    output = up.output()
    assert "DEBUG" in output, "the run really was at DEBUG"
    texts = {"navstream up output": output.encode()}
    for path in list((tmp_path / "logs").glob("*.log")) + list(tmp_path.rglob("*.json")):
        texts[str(path)] = path.read_bytes()
    texts["redis"] = b"\n".join(_every_redis_value(r))
    for where, blob in texts.items():
        for secret in (FAKE_KEY, FAKE_SECRET):
            assert secret.encode() not in blob, f"{secret[:12]}... leaked into {where}"

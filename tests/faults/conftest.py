"""The running pipeline (marketsim, pricer, nav, publisher) the fault cases break."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
import requests

from tests.support import ServiceProcess, eventually

INJECT_DIR = Path(__file__).parent / "inject"
PIPELINE = ("pricer", "nav", "publisher")


@dataclass
class Pipeline:
    env: dict[str, str]
    r: object
    procs: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return Path(self.env["STATE_DIR"])

    @property
    def sim(self) -> str:
        return f"http://127.0.0.1:{self.env['MARKETSIM_PORT']}"

    def nav_json(self) -> dict:
        return orjson.loads((self.state_dir / "nav.json").read_bytes())

    def last_snapshot(self) -> dict | None:
        entries = self.r.xrevrange("hedge:nav", count=1)
        return orjson.loads(entries[0][1][b"snapshot"]) if entries else None

    def wait_for_seq_beyond(self, seq: int, timeout: float = 10.0, steps: int = 2) -> dict:
        return eventually(lambda: (s := self.last_snapshot()) and s["seq"] >= seq + steps and s,
                          timeout=timeout, message=f"snapshots beyond seq {seq}")

    def fault(self, source: str, mode: str, symbol: str | None = None, **extra) -> None:
        body = {"source": source, "mode": mode, **({"symbol": symbol} if symbol else {}), **extra}
        requests.post(f"{self.sim}/_sim/faults", json=body, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.sim}/_sim/faults", timeout=5).raise_for_status()


@pytest.fixture
def pipeline(env, r, marketsim, services) -> Pipeline:
    """marketsim + pricer + nav + publisher, running, with a live snapshot on disk."""
    env.update(PRICE_INTERVAL_S="0.3", ACCOUNT_INTERVAL_S="0.5", SOURCE_TIMEOUT_S="0.5",
               SPOT_CACHE_TTL_S="2", COINGECKO_TTL_S="2", COINGECKO_UPDATE_LAG_S="1")
    p = Pipeline(env, r, {"marketsim": marketsim})
    for name in PIPELINE:
        p.procs[name] = services(name, env)
    eventually(lambda: p.nav_json()["source"] == "live", timeout=30, message="a live nav.json")
    return p


def injected_env(env: dict[str, str], **variables: str) -> dict[str, str]:
    """The env with tests/faults/inject on PYTHONPATH and the given NAVSTREAM_INJECT_* variables."""
    out = dict(env)
    out["PYTHONPATH"] = f"{INJECT_DIR}:{env.get('PYTHONPATH', '')}".rstrip(":")
    out.update(variables)
    return out

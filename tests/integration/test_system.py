"""The whole system under `navstream up`: snapshots flow end to end, crashes heal, Ctrl-C stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from shared.contracts.nav import validate_nav_document
from tests.support import NavstreamUp, eventually


@pytest.fixture
def system(redis_server, tmp_path: Path):
    """`navstream up` in tmp_path against the test's redis-server; stopped with SIGTERM at the end."""
    up = NavstreamUp(redis_server.url, tmp_path, PRICE_INTERVAL_S=0.5, ACCOUNT_INTERVAL_S=1).start()
    yield up
    up.stop()


def _nav_json(env) -> dict:
    return json.loads((Path(env["STATE_DIR"]) / "nav.json").read_text())


def test_up_publishes_nav_with_aum_end_to_end(system, r):
    env = system.env
    doc = eventually(lambda: (d := _nav_json(env))["source"] == "live" and d, timeout=30,
                     message="nav.json with a live snapshot")
    validate_nav_document(doc)
    assert set(doc["aum"]) == {"futures", "offexchange", "total"}
    assert set(doc["aum"]["offexchange"]) == {"BTC", "XAUT", "USDC"}
    assert doc["aum"]["futures"] == doc["nav_total"]
    assert doc["positions"], "the simulated account holds positions"

    # What a user sees with redis-cli: XREAD COUNT 1 STREAMS hedge:nav 0
    reply = r.xread({"hedge:nav": "0"}, count=1)
    fields = {k.decode() for k in reply[0][1][0][1]}
    assert {"seq", "ts", "nav_total", "aum_total", "nav_age_s", "source", "snapshot"} <= fields

    # nav.json keeps refreshing, about every price round
    first = _nav_json(env)["seq"]
    eventually(lambda: _nav_json(env)["seq"] >= first + 2, timeout=5, message="nav.json to refresh")

    # the dashboard answers on its port
    import requests
    eventually(lambda: requests.get(f"http://127.0.0.1:{env['DASH_PORT']}/", timeout=2).ok, timeout=20,
               message="dashboard to answer")


@pytest.mark.parametrize("victim", ["nav", "publisher", "pricer"])
def test_up_restarts_a_killed_service_and_snapshots_resume(system, r, victim):
    env = system.env
    eventually(lambda: _nav_json(env)["source"] == "live", timeout=30, message="first live snapshot")
    pid = eventually(lambda: orjson.loads(r.get(f"hedge:health:{victim}"))["pid"], timeout=10,
                     message=f"{victim} heartbeat")
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    eventually(lambda: orjson.loads(r.get(f"hedge:health:{victim}"))["pid"] != pid, timeout=20,
               message=f"{victim} restarted with a new pid")
    seq = _nav_json(env)["seq"]
    eventually(lambda: _nav_json(env)["seq"] > seq + 1, timeout=20, message="snapshots to resume")
    assert time.monotonic() - killed_at < 20
    assert f"{victim} exited with code -9; restarting" in system.output()


def test_up_stops_everything_within_10s_on_sigterm(system, r):
    services = ("pricer", "nav", "publisher", "dashboard")
    beats = eventually(lambda: all(b := [r.get(f"hedge:health:{s}") for s in services]) and b, timeout=30,
                       message="all services up")
    pids = [orjson.loads(beat)["pid"] for beat in beats]
    started = time.monotonic()
    system.proc.send_signal(signal.SIGTERM)
    assert system.proc.wait(12) == 0
    assert time.monotonic() - started < 10
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def _cli(system, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=system.workdir, env=system.env,
                          capture_output=True, text=True, timeout=30)


def test_cli_status_nav_and_sim_commands_against_a_running_system(system, r):
    env = system.env
    eventually(lambda: _nav_json(env)["source"] == "live", timeout=30, message="first live snapshot")
    eventually(lambda: all(r.get(f"hedge:health:{s}") for s in ("marketsim", "pricer", "nav", "publisher",
                                                                 "dashboard")), timeout=20, message="heartbeats")
    status = _cli(system, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    for name in ("pricer", "nav", "publisher", "dashboard", "hedge:nav"):
        assert name in status.stdout

    # A fault through the CLI moves BTC off the mark tier within two rounds; clearing it moves it back.
    assert _cli(system, "sim", "fault", "mark", "down").returncode == 0
    eventually(lambda: _nav_json(env)["aum"]["offexchange"]["BTC"]["source"] in ("spot_cache", "coingecko"),
               timeout=5, message="BTC priced by a fallback tier")
    latest = orjson.loads(r.hget("hedge:prices:latest", "BTC"))
    assert latest["src"] in ("spot_cache", "coingecko")
    assert _cli(system, "sim", "clear").returncode == 0
    eventually(lambda: _nav_json(env)["aum"]["offexchange"]["BTC"]["source"] == "mark", timeout=10,
               message="BTC back on the mark")

    # Manual NAV: set, seen in snapshots with its note, cleared.
    out = _cli(system, "nav", "set", "123456.5", "--note", "exchange maintenance")
    assert out.returncode == 0, out.stderr
    doc = eventually(lambda: (d := _nav_json(env))["source"] == "manual" and d, timeout=10, message="manual")
    assert doc["nav_total"] == 123456.5 and doc["aum"]["futures"] == 123456.5
    assert _cli(system, "nav", "clear").returncode == 0
    eventually(lambda: _nav_json(env)["source"] == "live", timeout=10, message="back to live")

    # A frozen service loses its heartbeat; status says so with exit code 1.
    nav_pid = orjson.loads(r.get("hedge:health:nav"))["pid"]
    os.kill(nav_pid, signal.SIGSTOP)
    try:
        eventually(lambda: _cli(system, "status", "--service", "nav").returncode == 1, timeout=15,
                   message="status to report nav unhealthy")
    finally:
        os.kill(nav_pid, signal.SIGCONT)


def test_up_supervisor_holds_no_pydantic_redis_py_or_asyncio(system, r):
    """`navstream up` validates the settings with pydantic, then execs the standard-library supervisor
    (same pid): the process that lives for the whole run maps none of the service stack's libraries."""
    eventually(lambda: "ready in" in system.output(), timeout=60, message="navstream up to say ready")
    pid = system.proc.pid
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"services.supervisor" in cmdline, cmdline
    maps = Path(f"/proc/{pid}/maps").read_text()
    for library in ("pydantic_core", "_asyncio", "_ssl", "hiredis", "orjson"):
        assert library not in maps, f"the supervisor has {library} loaded"
    rss_mb = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if line.startswith("VmRSS")).split()[1]) / 1024
    assert rss_mb < 30, f"supervisor RSS {rss_mb:.1f} MB"

"""`navstream-healthcheck SERVICE`: the container healthcheck, against a real Redis with a password."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from services.healthcheck import STALE_AFTER_S
from shared.contracts.health import HeartbeatDoc, encode_heartbeat
from shared.heartbeat import Heartbeat
from shared.keys import Keys
from tests.support import RedisServer, free_port

PASSWORD = "pa/ss#word@:x"   # every character that breaks a URL written by hand
KEYS = Keys("hedge")
HEAVY = ("redis", "pydantic", "pydantic_core", "orjson", "ccxt", "dash", "requests", "flask", "plotly", "hiredis")


@pytest.fixture
def server(password_redis):
    return password_redis


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "redis_password").write_text(PASSWORD + "\n")
    return folder


def run(service: str, server: RedisServer, secrets: Path, *extra: str, url: str | None = None):
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": url or f"redis://127.0.0.1:{server.port}/0",
           "SECRETS_DIR": str(secrets)}
    return subprocess.run([sys.executable, "-m", "services.healthcheck", *extra, service], capture_output=True,
                          text=True, env=env, timeout=30)


def beat(server: RedisServer, service: str, status: str = "ok", age_s: float = 0.0) -> None:
    client = server.client()
    if age_s == 0.0:
        hb = Heartbeat(client, KEYS, service, 1.0)
        hb.status = status
        hb.beat(force=True)
    else:
        doc = HeartbeatDoc(service=service, pid=1, ts=time.time() - age_s, status=status, last_error=None,
                           counters={})
        client.set(KEYS.health(service), encode_heartbeat(doc), ex=60)
    client.close()


def test_fresh_heartbeat_is_healthy_with_the_password_from_the_secret_file(server, secrets):
    beat(server, "nav")
    result = run("nav", server, secrets)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"nav: ok \(\d+\.\d s ago\)\n", result.stdout)


def test_missing_stale_and_error_heartbeats_are_unhealthy(server, secrets):
    missing = run("pricer", server, secrets)
    assert missing.returncode == 1 and "no heartbeat" in missing.stderr
    beat(server, "pricer", age_s=STALE_AFTER_S + 5)
    stale = run("pricer", server, secrets)
    assert stale.returncode == 1 and "stale (20 s)" in stale.stderr
    beat(server, "publisher", status="error")
    assert run("publisher", server, secrets).returncode == 1


def test_degraded_is_healthy_unless_strict(server, secrets):
    beat(server, "nav", status="degraded")
    assert run("nav", server, secrets).returncode == 0
    assert run("nav", server, secrets, "--strict").returncode == 1


def test_redis_unreachable_or_wrong_password_is_exit_3(server, secrets, tmp_path):
    down = run("nav", server, secrets, url=f"redis://127.0.0.1:{free_port()}/0")
    assert down.returncode == 3 and "cannot read hedge:health:nav" in down.stderr
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "redis_password").write_text("not-it")
    refused = run("nav", server, wrong)
    assert refused.returncode == 3 and ("WRONGPASS" in refused.stderr or "invalid" in refused.stderr)
    assert PASSWORD not in refused.stderr + refused.stdout


def test_usage_error_is_exit_2(server, secrets):
    assert run("--strict", server, secrets).returncode == 2


def test_costs_only_the_standard_library(server, secrets):
    """A compose healthcheck runs every 5 s in every container: no redis-py, pydantic or CLI."""
    beat(server, "nav")
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": f"redis://127.0.0.1:{server.port}/0", "SECRETS_DIR": str(secrets)}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "services.healthcheck", "nav"],
                            capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert not imported & set(HEAVY), f"the healthcheck imports {sorted(imported & set(HEAVY))}"
    assert "services" in imported and "shared" in imported
    walls = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "services.healthcheck", "nav"], capture_output=True, env=env, timeout=30)
        walls.append(time.perf_counter() - started)
    print(f"\nnavstream-healthcheck: {statistics.median(walls) * 1000:.0f} ms a run (median of 5, not asserted)")


def test_query_selects_the_database_of_the_url_like_redis_py(server):
    """The supervisor reads heartbeats with `query` too: /N and ?db=N choose the database, AUTH first."""
    from services.healthcheck import command, query

    base = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{server.port}"
    client = redis.Redis.from_url(f"{base}/3")
    client.set("only-in-3", "x")
    client.close()
    assert query(f"{base}/3", [command("EXISTS", "only-in-3"), command("EXISTS", "nope")]) == [b"1", b"0"]
    assert query(f"{base}/0?db=3", [command("EXISTS", "only-in-3")]) == [b"1"]
    assert query(f"{base}/0", [command("EXISTS", "only-in-3")]) == [b"0"]


def test_query_over_a_unix_socket(tmp_path):
    from services.healthcheck import command, query
    from services.supervisor import redis_server_binary

    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen([redis_server_binary(), "--port", "0", "--unixsocket", str(sock), "--save", "",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert query(f"unix://{sock}", [command("SET", "k", "v"), command("GET", "k")]) == [b"OK", b"v"]
        assert query(f"unix://{sock}?db=2", [command("GET", "k")]) == [None]
    finally:
        proc.terminate()
        proc.wait(10)

"""compose.yaml: its promises read from `compose config`, then the whole stack built and run for real.

The real run (a Docker engine; base images built locally by .ci/docker-standins when Docker
Hub is out of reach) builds the image, starts every service, waits until every container is
healthy, reads snapshots from the Redis container and nav.json from the state volume, opens
the Overview in headless Chromium on the published port, kills the nav process and watches
the restart policy bring it back, and checks seq, peak and history survive `down` + `up`.
It prints the build time, the time to all-healthy and the image size.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.compose_stack import (ALL_SERVICES, NAVSTREAM_SERVICES, Stack, compose_command, make_stack,
                                             require_docker_engine)
from services.dashboard.plotlyjs import DEFAULT_BUNDLE
from tests.support import ROOT, eventually


def _config(**env: str) -> str:
    cmd = compose_command()
    result = subprocess.run([*cmd, "-f", str(ROOT / "compose.yaml"), "config"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin:/usr/local/bin", **env}, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _service_block(config: str, name: str) -> str:
    match = re.search(rf"^  {name}:\n((?:    .*\n|\n)*)", config, re.M)
    assert match, f"service {name} missing from compose config"
    return match.group(1)


# --- the file's promises (no engine needed) ------------------------------------------

def test_compose_config_is_valid_and_has_every_service():
    config = _config()
    for name in ALL_SERVICES:
        _service_block(config, name)


def test_redis_has_a_password_from_a_secret_file_and_publishes_no_port():
    block = _service_block(_config(), "redis")
    assert "ports:" not in block
    assert "requirepass" in block and "/run/secrets/redis_password" in block
    assert "noeviction" in block and "--appendonly yes" in block
    assert "- source: redis_password" in block


def test_services_are_hardened_and_get_secrets_as_files_not_environment():
    config = _config(BINANCE_API_KEY="must-not-appear", REDIS_PASSWORD="must-not-appear-either")
    assert "must-not-appear" not in config
    for name in ALL_SERVICES:
        block = _service_block(config, name)
        assert "cap_drop:\n    - ALL" in block, name
        assert "no-new-privileges:true" in block, name
        assert "init: true" in block and "restart: unless-stopped" in block, name
        assert "healthcheck:" in block, name
    for name in NAVSTREAM_SERVICES:
        block = _service_block(config, name)
        assert re.search(r"test:\n      - CMD\n      - navstream-healthcheck\n      - " + name, block), block
        assert "REDIS_URL: redis://redis:6379/0" in block           # the password is not in the environment
        assert all(f"- source: {s}" in block for s in ("redis_password", "binance_api_key", "binance_api_secret"))
        assert "condition: service_healthy" in block
        assert re.search(r"/app/config:ro", block), "config/ is bind-mounted read-only, not baked in"
        if name != "dashboard":
            assert "ports:" not in block, f"{name} must not publish a port"


def test_dashboard_is_published_on_loopback_on_a_port_you_choose():
    assert re.findall(r"- (\S+):8050:8050", _service_block(_config(), "dashboard")) == ["127.0.0.1"]
    moved = _service_block(_config(DASH_PUBLISH_PORT="18123"), "dashboard")
    assert re.findall(r"- (\S+):8050/tcp", moved) == ["127.0.0.1:18123"] or "127.0.0.1:18123:8050" in moved


def test_marketsim_runs_only_in_the_sim_profile():
    config = _config()
    assert "profiles:\n    - sim" in _service_block(config, "marketsim")
    for name in ("redis", "pricer", "nav", "publisher", "dashboard"):
        assert "profiles:" not in _service_block(config, name), name


def test_base_images_are_variables_with_the_public_defaults():
    config = _config()
    assert "image: redis:7-alpine" in _service_block(config, "redis")
    assert "PYTHON_IMAGE: python:3.11-slim" in _service_block(config, "pricer")
    moved = _config(PYTHON_IMAGE="local/python:x", REDIS_IMAGE="local/redis:y")
    assert "image: local/redis:y" in _service_block(moved, "redis")
    assert "PYTHON_IMAGE: local/python:x" in _service_block(moved, "nav")


# --- the real run ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    require_docker_engine()
    s = make_stack(tmp_path_factory.mktemp("compose"))
    try:
        started = time.monotonic()
        s.compose("build", timeout=1500)
        s.timings["build_s"] = time.monotonic() - started
        started = time.monotonic()
        s.compose("up", "-d", timeout=300)
        s.wait_healthy()
        s.timings["healthy_s"] = time.monotonic() - started
        size = s.inspect(f"navstream:{s.env['NAVSTREAM_TAG']}")[0]["Size"]
        s.timings["image_mb"] = size / 2**20
        print(f"\ncompose: build {s.timings['build_s']:.1f} s, up to all healthy {s.timings['healthy_s']:.1f} s, "
              f"image {s.timings['image_mb']:.0f} MB")
        yield s
    finally:
        s.compose("down", "-v", "--remove-orphans", timeout=300, check=False)


def snapshot(s: Stack) -> dict:
    """The newest hedge:nav entry's snapshot document, read with redis-cli inside the Redis container."""
    out = s.redis_cli("XREVRANGE", "hedge:nav", "+", "-", "COUNT", "1").splitlines()
    doc = json.loads(out[out.index("snapshot") + 1])
    assert doc["schema"] == "nav.v7" and "aum" in doc
    return doc


def state_file(s: Stack, name: str) -> dict:
    return json.loads(s.exec("publisher", "cat", f"/app/logs/state/{name}"))


def test_snapshots_move_in_redis_and_in_nav_json(stack):
    first = snapshot(stack)
    eventually(lambda: snapshot(stack)["seq"] >= first["seq"] + 3, timeout=30, message="new snapshots in hedge:nav")
    nav_json = eventually(lambda: state_file(stack, "nav.json"), timeout=30, message="nav.json")
    eventually(lambda: state_file(stack, "nav.json")["seq"] > nav_json["seq"], timeout=30,
               message="nav.json moving")
    latest = snapshot(stack)
    assert latest["nav_total"] is not None and latest["aum"]["total"] is not None
    assert set(latest["aum"]["offexchange"]) == set(json.loads((stack.workdir / "config" /
                                                                "offexchange_holdings.json").read_text()))


def test_the_ledger_keeps_the_record_in_its_volume(stack):
    def ledger() -> dict:
        return json.loads(stack.redis_cli("GET", "hedge:health:ledger"))

    beat = eventually(lambda: (b := ledger())["counters"].get("nav_history_rows") and b, timeout=60,
                      message="the ledger to commit history rows")
    assert beat["status"] == "ok" and not beat["last_error"], beat      # not degraded: the database is writable
    assert json.loads(stack.redis_cli("GET", "hedge:state:performance"))["schema"] == "performance.v1"
    assert "navstream.sqlite3" in stack.exec("ledger", "ls", "/app/var")


def test_dashboard_answers_on_the_published_port_and_the_overview_renders(stack, browser):
    base = f"http://127.0.0.1:{stack.env['DASH_PUBLISH_PORT']}"
    page = requests.get(base + "/", timeout=10)
    assert page.status_code == 200 and "navstream" in page.text
    assert page.headers.get("Server", "").startswith("navstream"), "served by waitress, not Werkzeug's dev server"
    css = requests.get(base + "/_navstream/bootstrap.min.css", timeout=10)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css") and len(css.content) > 100_000
    if DEFAULT_BUNDLE.exists():   # `make` fetched the plotly.js partial bundle, so the image built here ships it
        assert '<script src="/_navstream/plotly-basic.min.js?v=' in page.text, "the image lacks the plotly.js bundle"
    tab = browser.new_page()
    try:
        tab.goto(base + "/")
        tab.wait_for_function("() => (document.querySelector('#overview-nav-value') || {}).innerText"
                              "?.startsWith('$')", timeout=30_000)
        assert not tab.inner_text("#overview-status-pipeline").startswith("stale")
    finally:
        tab.close()


def test_secrets_never_show_in_docker_inspect(stack):
    containers = [stack.container(name) for name in ALL_SERVICES]
    dump = json.dumps(stack.inspect(*containers))
    for name in ("redis_password", "binance_api_key", "binance_api_secret"):
        secret = (Path(stack.env["NAVSTREAM_SECRETS_DIR"]) / name).read_text()
        assert secret not in dump, f"{name} visible in docker inspect"
    # and the services did authenticate with the password that has `/` and `#` in it
    assert all(v == "healthy" for v in stack.health().values())


def test_killed_nav_process_is_restarted_by_the_restart_policy(stack):
    container = stack.container("nav")
    before = stack.inspect(container)[0]["RestartCount"]
    pid = json.loads(stack.redis_cli("GET", "hedge:health:nav"))["pid"]
    seq = snapshot(stack)["seq"]
    stack.exec("nav", "python", "-c", f"import os, signal; os.kill({pid}, signal.SIGKILL)")
    eventually(lambda: stack.inspect(container)[0]["RestartCount"] > before, timeout=60,
               message="the nav container restarted by its policy")
    eventually(lambda: snapshot(stack)["seq"] >= seq + 3, timeout=60, message="snapshots after the restart")
    stack.wait_healthy()


def test_down_then_up_keeps_seq_peak_and_history(stack):
    def peak() -> float:
        return float(stack.redis_cli("HGET", "hedge:kpi:state", "peak_nav").strip())

    def history() -> int:
        return int(stack.redis_cli("XLEN", "hedge:nav:1m").strip())

    eventually(peak, timeout=60, message="a drawdown peak in hedge:kpi:state")
    seq, peak_before, history_before = snapshot(stack)["seq"], peak(), history()
    stack.compose("down", timeout=300)
    started = time.monotonic()
    stack.compose("up", "-d", timeout=300)
    stack.wait_healthy()
    print(f"\ncompose: down, then up again to all healthy in {time.monotonic() - started:.1f} s")
    assert snapshot(stack)["seq"] > seq, "seq started again instead of continuing"
    assert peak() >= peak_before, "the drawdown peak was lost"
    assert history() >= history_before, "the NAV history was lost"

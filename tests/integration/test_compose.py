"""compose.yaml is valid and keeps the security promises of DESIGN.md (no engine needed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.support import ROOT


def _compose_binary() -> str:
    """docker-compose (Debian's; validation needs no engine); required under CI=true."""
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is missing in CI: .ci/run should apt-get install docker-compose")
        pytest.skip("docker-compose not installed: apt-get install -y docker-compose")
    return binary


def _config() -> str:
    binary = _compose_binary()
    result = subprocess.run([binary, "-f", str(ROOT / "compose.yaml"), "config"], capture_output=True,
                            text=True, env={**os.environ, "REDIS_PASSWORD": "s3cret-test"}, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _service_block(config: str, name: str) -> str:
    match = re.search(rf"^  {name}:\n((?:    .*\n|\n)*)", config, re.M)
    assert match, f"service {name} missing from compose config"
    return match.group(1)


def test_compose_config_is_valid_and_has_every_service():
    config = _config()
    for name in ("redis", "marketsim", "pricer", "nav", "publisher", "dashboard"):
        _service_block(config, name)


def test_redis_needs_a_password_and_publishes_no_port():
    config = _config()
    redis_block = _service_block(config, "redis")
    assert "ports:" not in redis_block
    assert "--requirepass" in redis_block and "s3cret-test" in redis_block
    assert "noeviction" in redis_block and "--appendonly" in redis_block


def test_dashboard_is_published_on_loopback_only_and_services_have_healthchecks():
    config = _config()
    dash = _service_block(config, "dashboard")
    published = re.findall(r"- (\S+):8050:8050", dash)
    assert published == ["127.0.0.1"], dash
    for name in ("marketsim", "pricer", "nav", "publisher", "dashboard"):
        block = _service_block(config, name)
        assert "healthcheck:" in block, name
        if name != "dashboard":
            assert "ports:" not in block, f"{name} must not publish a port"
        assert "redis://:s3cret-test@redis:6379" in block


def test_compose_refuses_to_start_without_a_redis_password():
    binary = _compose_binary()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_PASSWORD"}
    result = subprocess.run([binary, "-f", str(ROOT / "compose.yaml"), "config", "-q"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode != 0
    assert "REDIS_PASSWORD" in result.stderr

"""compose.yaml's monitoring profile, validated by docker-compose itself (no engine needed)."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from shared.metrics import PORT_OFFSETS
from tests.support import ROOT, require_tool

MONITORING = ("prometheus", "alertmanager", "grafana")


@pytest.fixture(scope="module")
def config() -> dict:
    binary = require_tool("docker-compose", "docker-compose")
    out = subprocess.run([binary, "-f", str(ROOT / "compose.yaml"), "--profile", "monitoring", "config"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env={**os.environ, "REDIS_PASSWORD": "check"})
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_the_profile_adds_prometheus_alertmanager_and_grafana_only_under_monitoring(config):
    services = config["services"]
    for name in MONITORING:
        assert services[name]["profiles"] == ["monitoring"], name
    for name in set(services) - set(MONITORING):
        assert services[name].get("profiles") in (None, ["sim"]), f"{name} must run without the monitoring profile"


def test_only_grafana_is_published_and_only_on_loopback(config):
    services = config["services"]
    assert "ports" not in services["prometheus"] and "ports" not in services["alertmanager"]
    ports = services["grafana"]["ports"]
    assert ports and all(p.get("host_ip") == "127.0.0.1" if isinstance(p, dict) else p.startswith("127.0.0.1:")
                         for p in ports)


def test_every_service_listens_for_prometheus_on_its_exposed_metrics_port(config):
    services = config["services"]
    for name, offset in PORT_OFFSETS.items():
        if name not in services:
            continue   # the ledger joins compose when it lands
        service = services[name]
        assert service["environment"]["METRICS_HOST"] == "0.0.0.0", name
        assert str(9100 + offset) in [str(p) for p in service.get("expose", [])], name
        assert "ports" not in service or name == "dashboard", f"{name} must not publish its metrics port"


def _mounts(service: dict) -> dict[str, str]:
    """target -> source of a service's volumes (docker compose v2 writes dicts, docker-compose 1.x strings)."""
    out = {}
    for volume in service["volumes"]:
        if isinstance(volume, dict):
            out[volume["target"]] = volume["source"]
        else:
            source, target = volume.split(":")[:2]
            out[target] = source
    return out


def test_the_shipped_rules_and_routing_are_mounted(config):
    def sources(name: str) -> dict[str, str]:
        return _mounts(config["services"][name])

    assert sources("prometheus")["/etc/prometheus"] == str(ROOT / "deploy" / "prometheus")
    assert sources("alertmanager")["/etc/alertmanager"] == str(ROOT / "deploy" / "alertmanager")
    grafana = sources("grafana")
    assert grafana["/etc/grafana/provisioning"] == str(ROOT / "deploy" / "grafana" / "provisioning")
    assert grafana["/etc/grafana/dashboards"] == str(ROOT / "deploy" / "grafana" / "dashboards")
    alertmanager = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    token_files = {c["bot_token_file"] for r in alertmanager["receivers"] for c in r.get("telegram_configs", [])}
    assert token_files == {"/etc/alertmanager/secrets/telegram_bot_token"}   # inside the mounted folder
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["alerts.yml"]   # relative to /etc/prometheus/prometheus.yml

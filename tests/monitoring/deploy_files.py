"""The shipped monitoring files (deploy/) and the real tools that check them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support import ROOT, require_tool

DEPLOY = ROOT / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
PROMETHEUS_CONFIGS = (PROMETHEUS_DIR / "prometheus.yml", PROMETHEUS_DIR / "prometheus.local.yml")
RULES = PROMETHEUS_DIR / "rules.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
RULE_TESTS = PROMETHEUS_DIR / "tests" / "alerts_test.yml"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
GRAFANA_DIR = DEPLOY / "grafana"
RUNBOOK = ROOT / "docs" / "alerts.md"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict]:
    return [rule for group in load(ALERTS)["groups"] for rule in group["rules"] if "alert" in rule]


def promtool() -> str:
    return require_tool("promtool", "prometheus")


def prometheus() -> str:
    return require_tool("prometheus", "prometheus")


def alertmanager() -> str:
    """Debian names the binary prometheus-alertmanager; upstream's tarball, alertmanager."""
    return shutil.which("alertmanager") or require_tool("prometheus-alertmanager", "prometheus-alertmanager")


def amtool() -> str:
    return require_tool("amtool", "prometheus-alertmanager")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=cwd)


def alertmanager_version(binary: str) -> tuple[int, int]:
    out = run(binary, "--version")
    found = re.search(r"version (\d+)\.(\d+)", out.stdout + out.stderr)
    assert found, f"cannot read the version of {binary}: {out.stdout}{out.stderr}"
    return int(found.group(1)), int(found.group(2))


def alertmanager_config_for(binary: str) -> str:
    """The shipped alertmanager.yml, as text this Alertmanager can load. Debian bookworm ships
    0.25, which predates Telegram's `bot_token_file` (0.26): for it, and only for it, that one
    key becomes a placeholder `bot_token`; everything else is checked as shipped."""
    text = ALERTMANAGER.read_text()
    if alertmanager_version(binary) >= (0, 26):
        return text
    return re.sub(r"bot_token_file: \S+", 'bot_token: "0:placeholder-for-alertmanager-0.25"', text)


def dashboard_panels() -> list[dict]:
    import json

    dashboard = json.loads((GRAFANA_DIR / "dashboards" / "navstream.json").read_text())
    return [p for p in dashboard["panels"] if p["type"] != "row"]

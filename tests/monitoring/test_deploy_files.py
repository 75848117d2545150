"""The shipped Prometheus and Alertmanager files, checked by the real tools (promtool, amtool)."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from shared.keys import SERVICES
from shared.metrics import PORT_OFFSETS, TIER_LEVELS
from tests.monitoring.deploy_files import (
    ALERTMANAGER,
    ALERTS,
    GRAFANA_DIR,
    PROMETHEUS_CONFIGS,
    RULE_TESTS,
    RUNBOOK,
    alert_rules,
    alertmanager,
    alertmanager_config_for,
    amtool,
    dashboard_panels,
    load,
    promtool,
    run,
)

SEVERITIES = {"critical", "warning", "none"}
DEFAULT_METRICS_PORT_BASE = 9100


@pytest.mark.parametrize("config", PROMETHEUS_CONFIGS, ids=lambda p: p.name)
def test_promtool_accepts_each_prometheus_config_and_its_rules(config):
    out = run(promtool(), "check", "config", str(config))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "alerts.yml" in out.stdout   # the rule files were loaded and checked with it


def test_promtool_accepts_the_rules():
    out = run(promtool(), "check", "rules", str(ALERTS))
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_rule_unit_tests_pass():
    out = run(promtool(), "test", "rules", str(RULE_TESTS))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_has_a_unit_test_that_fires_and_one_that_stays_quiet():
    fired: dict[str, bool] = defaultdict(bool)
    quiet: dict[str, bool] = defaultdict(bool)
    for case in load(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            if check.get("exp_alerts"):
                fired[check["alertname"]] = True
            else:
                quiet[check["alertname"]] = True
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) >= 17
    missing = [n for n in names if not fired[n] or (not quiet[n] and n != "NavstreamWatchdog")]
    assert not missing, f"alerts without a firing and a not-firing unit test: {missing}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_has_severity_service_summary_and_a_runbook_section():
    anchors = {_slug(line.lstrip("#")) for line in RUNBOOK.read_text().splitlines() if line.startswith("## ")}
    for rule in alert_rules():
        name, labels, notes = rule["alert"], rule.get("labels", {}), rule.get("annotations", {})
        assert labels.get("severity") in SEVERITIES, name
        assert notes.get("summary"), name
        runbook = notes.get("runbook_url", "")
        assert runbook.startswith("docs/alerts.md#"), name
        assert runbook.split("#", 1)[1] in anchors, f"{name}: {runbook} has no section in {RUNBOOK.name}"
        if name not in ("NavstreamWatchdog", "NavstreamHeartbeatStale", "NavstreamRedisUnreachable",
                        "NavstreamBinanceWeightHigh"):   # these carry their service in the metric's labels
            assert "service" in labels, f"{name} has no service label for the inhibition rules"


def test_both_prometheus_configs_scrape_every_service_on_its_metrics_port():
    """prometheus.yml (compose names) and prometheus.local.yml (navstream up) scrape the same jobs,
    on METRICS_PORT_BASE + the offset shared/metrics.py gives each service."""
    jobs = []
    for config in PROMETHEUS_CONFIGS:
        scrape = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in load(config)["scrape_configs"]}
        for service in SERVICES:
            assert service in scrape, f"{config.name} does not scrape {service}"
            port = int(scrape[service].rsplit(":", 1)[1])
            assert port == DEFAULT_METRICS_PORT_BASE + PORT_OFFSETS[service], (config.name, service)
        jobs.append(sorted(scrape))
    assert jobs[0] == jobs[1]
    service_down = next(r for r in alert_rules() if r["alert"] == "NavstreamServiceDown")["expr"]
    for service in SERVICES:
        assert service in service_down


def test_price_tier_numbers_the_alerts_rely_on():
    """alerts.yml reads 1-2 as a market fallback and 3 and up as avg_cost or none."""
    assert TIER_LEVELS == {"mark": 0, "spot_cache": 1, "coingecko": 2, "avg_cost": 3, "none": 4}


def test_amtool_accepts_the_alertmanager_config(tmp_path):
    checked = tmp_path / "alertmanager.yml"
    checked.write_text(alertmanager_config_for(alertmanager()))
    out = run(amtool(), "check-config", str(checked))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 inhibit rules" in out.stdout and "4 receivers" in out.stdout


@pytest.mark.parametrize(("labels", "receiver"), [
    (["alertname=NavstreamWatchdog", "severity=none"], "deadmans-switch"),
    (["alertname=NavstreamPriceOnAvgCostOrNone", "severity=critical", "asset=BTC"], "critical"),
    (["alertname=NavstreamPriceFallback", "severity=warning", "asset=BTC"], "warning"),
    (["alertname=Other"], "webhook"),
])
def test_alerts_route_by_severity(tmp_path, labels, receiver):
    checked = tmp_path / "alertmanager.yml"
    checked.write_text(alertmanager_config_for(alertmanager()))
    out = run(amtool(), "config", "routes", "test", f"--config.file={checked}", *labels)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == receiver


def test_the_telegram_token_is_read_from_a_file_never_written_in_the_config():
    config = load(ALERTMANAGER)
    telegram = [c for r in config["receivers"] for c in r.get("telegram_configs", [])]
    assert telegram, "a Telegram receiver is shipped"
    for conf in telegram:
        assert "bot_token" not in conf
        assert conf["bot_token_file"].startswith("/etc/alertmanager/secrets/")
    assert "bot_token:" not in ALERTMANAGER.read_text()


def test_grafana_provisioning_points_the_dashboard_at_the_provisioned_prometheus():
    datasources = load(GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert [d["type"] for d in datasources] == ["prometheus"]
    uid = datasources[0]["uid"]
    provider = load(GRAFANA_DIR / "provisioning" / "dashboards" / "navstream.yml")["providers"][0]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    panels = dashboard_panels()
    assert len({p["id"] for p in panels}) == len(panels) and len({p["title"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
    wanted = ("navstream_nav_usd", "navstream_aum_usd", "navstream_unit_price", "navstream_drawdown_ratio",
              "navstream_price_tier", "navstream:source_errors:rate5m", "navstream_pricing_round_seconds",
              "navstream_snapshot_latency_seconds", "navstream_consumer_lag_entries", "navstream_binance_used_weight")
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    assert [w for w in wanted if w not in exprs] == []

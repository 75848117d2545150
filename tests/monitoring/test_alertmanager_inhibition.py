"""The shipped inhibition rules in a real Alertmanager: a service that is down is one alert, not
one per symptom; Redis unreachable holds back the heartbeat alerts of every service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.monitoring.deploy_files import alertmanager
from tests.monitoring.stack import ToolProcess, WebhookReceiver, alertmanager_test_config, start_alertmanager
from tests.support import eventually


@pytest.fixture
def am(tmp_path) -> Iterator[tuple[ToolProcess, WebhookReceiver]]:
    binary = alertmanager()
    webhook = WebhookReceiver()
    config = alertmanager_test_config(binary, webhook.url, group_wait="1s", group_interval="1s",
                                      repeat_interval="1h")
    proc = start_alertmanager(binary, tmp_path / "alertmanager", config)
    yield proc, webhook
    proc.stop()
    webhook.close()


def _post(am: ToolProcess, *alerts: dict[str, str]) -> None:
    body = [{"labels": {"system": "navstream", **labels}, "annotations": {"summary": "test"}} for labels in alerts]
    requests.post(f"{am.url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def _states(am: ToolProcess) -> dict[tuple[str, str], str]:
    alerts = requests.get(f"{am.url}/api/v2/alerts", timeout=5).json()
    return {(a["labels"]["alertname"], a["labels"].get("service", "")): a["status"]["state"] for a in alerts}


def test_service_down_inhibits_that_services_staleness_alerts_only(am):
    proc, webhook = am
    _post(proc,
          {"alertname": "NavstreamServiceDown", "service": "nav", "severity": "critical", "job": "nav"},
          {"alertname": "NavstreamHeartbeatStale", "service": "nav", "severity": "critical"},
          {"alertname": "NavstreamSnapshotStale", "service": "nav", "severity": "critical"},
          {"alertname": "NavstreamHeartbeatStale", "service": "pricer", "severity": "critical"})
    states = eventually(lambda: (s := _states(proc)) and len(s) == 4 and s, timeout=10, message="4 alerts")
    assert states[("NavstreamServiceDown", "nav")] == "active"
    assert states[("NavstreamHeartbeatStale", "nav")] == "suppressed"
    assert states[("NavstreamSnapshotStale", "nav")] == "suppressed"
    assert states[("NavstreamHeartbeatStale", "pricer")] == "active"

    # what the operator receives: the cause and the other service's alert, not nav's symptoms
    eventually(lambda: webhook.notifications("NavstreamServiceDown") and webhook.notifications(
        "NavstreamHeartbeatStale"), timeout=15, message="notifications of the active alerts")
    stale = webhook.notifications("NavstreamHeartbeatStale")
    assert {a["labels"]["service"] for n in stale for a in n.body["alerts"]} == {"pricer"}
    assert not webhook.notifications("NavstreamSnapshotStale")
    assert all(n.receiver == "critical" for n in webhook.notifications("NavstreamServiceDown"))


def test_redis_unreachable_inhibits_every_heartbeat_alert_and_critical_drawdown_the_warning(am):
    proc, _webhook = am
    _post(proc,
          {"alertname": "NavstreamRedisUnreachable", "severity": "critical", "job": "publisher"},
          {"alertname": "NavstreamHeartbeatStale", "service": "pricer", "severity": "critical"},
          {"alertname": "NavstreamDrawdownCritical", "service": "publisher", "severity": "critical"},
          {"alertname": "NavstreamDrawdownWarning", "service": "publisher", "severity": "warning"},
          {"alertname": "NavstreamPriceFallback", "service": "pricer", "severity": "warning", "asset": "BTC"})
    states = eventually(lambda: (s := _states(proc)) and len(s) == 5 and s, timeout=10, message="5 alerts")
    assert states[("NavstreamHeartbeatStale", "pricer")] == "suppressed"
    assert states[("NavstreamDrawdownWarning", "publisher")] == "suppressed"
    assert states[("NavstreamDrawdownCritical", "publisher")] == "active"
    assert states[("NavstreamPriceFallback", "pricer")] == "active"   # not a staleness symptom

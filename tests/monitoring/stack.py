"""A real Prometheus and a real Alertmanager for tests, configured from the shipped files, and a
webhook receiver standing in for the operator's phone.

The test configs are generated from deploy/: prometheus.local.yml with this test's ports and
short scrape/evaluation intervals (the rules are the shipped alerts.yml, unchanged), and
alertmanager.yml with the shipped routing tree and inhibition rules, every receiver pointed at
the test's webhook (path = receiver name) and short group_wait / group_interval / repeat_interval.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.monitoring.deploy_files import ALERTS, PROMETHEUS_DIR, alertmanager_config_for, load
from tests.support import eventually, free_port, terminate


@dataclass(frozen=True)
class Notification:
    receiver: str          # the URL path: which receiver of the routing tree sent it
    body: dict[str, Any]   # Alertmanager's webhook payload (version 4)
    at: float              # time.monotonic() when it arrived

    @property
    def alertname(self) -> str:
        return self.body.get("groupLabels", {}).get("alertname", "")

    @property
    def status(self) -> str:
        return self.body["status"]


@dataclass
class WebhookReceiver:
    """An HTTP server on a free loopback port that keeps every POST it gets."""

    port: int = field(default_factory=free_port)
    received: list[Notification] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                receiver.received.append(Notification(self.path.strip("/"), body, time.monotonic()))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                """Quiet: the test reports what it received."""

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notifications(self, alertname: str, status: str | None = None) -> list[Notification]:
        return [n for n in list(self.received)
                if n.alertname == alertname and (status is None or n.status == status)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alertmanager_test_config(binary: str, webhook: str, *, group_wait: str, group_interval: str,
                             repeat_interval: str) -> dict[str, Any]:
    config = yaml.safe_load(alertmanager_config_for(binary))
    receivers = []
    for receiver in config["receivers"]:
        confs = [c for key, cs in receiver.items() if key.endswith("_configs") for c in cs]
        # send_resolved defaults to true for webhook and telegram configs alike
        resolved = any(c.get("send_resolved", True) for c in confs)
        receivers.append({"name": receiver["name"],
                          "webhook_configs": [{"url": f"{webhook}/{receiver['name']}", "send_resolved": resolved}]})
    config["receivers"] = receivers
    _shorten(config["route"], group_wait, group_interval, repeat_interval)
    return config


def _shorten(route: dict[str, Any], group_wait: str, group_interval: str, repeat_interval: str) -> None:
    route.update(group_wait=group_wait, group_interval=group_interval, repeat_interval=repeat_interval)
    for child in route.get("routes", []):
        _shorten(child, group_wait, group_interval, repeat_interval)


def prometheus_test_config(metrics_base: int, alertmanager_port: int, interval: str) -> dict[str, Any]:
    config = load(PROMETHEUS_DIR / "prometheus.local.yml")
    config["global"].update(scrape_interval=interval, evaluation_interval=interval, scrape_timeout=interval)
    config["rule_files"] = [str(ALERTS)]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{alertmanager_port}"]
    for job in config["scrape_configs"]:
        targets = job["static_configs"][0]["targets"]
        port = int(targets[0].rsplit(":", 1)[1])
        if 9100 < port < 9110:   # a navstream service: METRICS_PORT_BASE 9100 + offset
            job["static_configs"][0]["targets"] = [f"127.0.0.1:{metrics_base + port - 9100}"]
    return config


class ToolProcess:
    """Prometheus or Alertmanager as a child process on a free loopback port, logging to a file."""

    def __init__(self, name: str, workdir: Path, argv: list[str], port: int) -> None:
        self.name, self.workdir, self.argv, self.port = name, workdir, argv, port
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ToolProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its life
        self.proc = subprocess.Popen(self.argv, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        eventually(lambda: requests.get(f"{self.url}/-/ready", timeout=2).ok, timeout=30,
                   message=f"{self.name} ready on {self.port} (log: {self.log_path})")
        return self

    def stop(self) -> None:
        terminate(self.proc, 10)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_alertmanager(binary: str, workdir: Path, config: dict[str, Any]) -> ToolProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [binary, f"--config.file={path}", f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]   # no gossip port
    return ToolProcess("alertmanager", workdir, argv, port).start()


def start_prometheus(binary: str, workdir: Path, config: dict[str, Any],
                     extra_args: list[str] | None = None) -> ToolProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [binary, f"--config.file={path}", f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", *(extra_args or [])]
    return ToolProcess("prometheus", workdir, argv, port).start()


def query(prometheus: ToolProcess, expr: str) -> dict[str, Any]:
    """Prometheus's /api/v1/query answer (a PromQL error is status "error", HTTP 400)."""
    return requests.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=5).json()


def instant_value(prometheus: ToolProcess, expr: str) -> float | None:
    result = query(prometheus, expr)["data"]["result"]
    return float(result[0]["value"][1]) if result else None

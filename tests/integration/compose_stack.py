"""Drive compose.yaml for real: a Docker engine, the base-image stand-ins, one compose project per test run.

Without a Docker engine the real-run tests skip outside CI (saying how to install one) and
fail under CI=true, where .ci/run installs docker.io and starts dockerd.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


from tests.support import ROOT, eventually, missing

STANDINS = ROOT / ".ci" / "docker-standins"
NAVSTREAM_SERVICES = ("marketsim", "pricer", "nav", "publisher", "ledger", "dashboard")
ALL_SERVICES = ("redis", *NAVSTREAM_SERVICES)


def compose_command() -> list[str]:
    """`docker compose` (the v2 plugin) if the machine has it, else Debian's `docker-compose`."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                 timeout=30).returncode == 0:
        return ["docker", "compose"]
    binary = shutil.which("docker-compose")
    if binary is None:
        missing("docker-compose", "apt-get install -y docker-compose (.ci/run does)")
    return [binary]


def require_docker_engine() -> None:
    if shutil.which("docker") is None:
        missing("the docker command", "apt-get install -y docker.io, then start dockerd (.ci/run does both)")
    result = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                            timeout=60)
    if result.returncode != 0:
        missing("a Docker engine that answers", f"start dockerd (.ci/run does): {result.stderr.strip()[:200]}")


def base_images() -> dict[str, str]:
    """PYTHON_IMAGE/REDIS_IMAGE: the local stand-ins (built once and cached), unless told to use Docker Hub's."""
    if os.environ.get("NAVSTREAM_PUBLIC_BASES") == "1":
        return {}
    if shutil.which("debootstrap") is None:
        missing("debootstrap (for the base-image stand-ins)", "apt-get install -y debootstrap")
    result = subprocess.run([str(STANDINS)], capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"{STANDINS} failed:\n{result.stderr[-3000:]}"
    return dict(line.split("=", 1) for line in result.stdout.split() if "=" in line)


@dataclass
class Stack:
    """One compose project (`navstream-test-<pid>`), its env (secrets, config, port), and timings."""

    workdir: Path
    env: dict[str, str]
    project: str
    cmd: list[str] = field(default_factory=compose_command)
    timings: dict[str, float] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([*self.cmd, "-p", self.project, "-f", str(ROOT / "compose.yaml"), *args],
                                capture_output=True, text=True, env=self.env, cwd=ROOT, timeout=timeout)
        if check:
            assert result.returncode == 0, f"compose {' '.join(args)} failed:\n{result.stdout[-2000:]}\n" \
                                           f"{result.stderr[-4000:]}"
        return result

    def container(self, service: str) -> str:
        ids = self.compose("ps", "-q", service).stdout.split()
        assert ids, f"no container for {service}"
        return ids[0]

    def inspect(self, *containers: str) -> list[dict]:
        out = subprocess.run(["docker", "inspect", *containers], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def health(self) -> dict[str, str]:
        status = {}
        for service in ALL_SERVICES:
            ids = self.compose("ps", "-q", service).stdout.split()
            if not ids:
                status[service] = "absent"
                continue
            state = self.inspect(ids[0])[0]["State"]
            status[service] = state.get("Health", {}).get("Status", state["Status"])
        return status

    def wait_healthy(self, timeout: float = 180) -> float:
        started = time.monotonic()
        last: dict[str, str] = {}

        def all_healthy() -> bool:
            last.update(self.health())
            return all(v == "healthy" for v in last.values())

        try:
            eventually(all_healthy, timeout=timeout, interval=0.5, message="every container healthy")
        except AssertionError:
            logs = self.compose("logs", "--tail", "30", check=False).stdout
            raise AssertionError(f"not all healthy after {timeout} s: {last}\n{logs[-6000:]}") from None
        return time.monotonic() - started

    def redis_cli(self, *args: str) -> str:
        """redis-cli inside the redis container, authenticated from its secret file."""
        script = 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" exec redis-cli --raw "$@"'
        result = self.compose("exec", "-T", "redis", "sh", "-c", script, "redis-cli", *args, timeout=60)
        return result.stdout

    def exec(self, service: str, *args: str) -> str:
        return self.compose("exec", "-T", service, *args, timeout=60).stdout


def make_stack(tmp: Path) -> Stack:
    """Secrets (a password with `/` and `#`, marketsim's keys for both demo accounts as key files),
    a config copy and a free port."""
    from tests.support import free_port

    secrets = tmp / "secrets"
    secrets.mkdir(mode=0o700)
    password = "s3cret/with#hash-" + os.urandom(6).hex()
    (secrets / "redis_password").write_text(password)
    for account, prefix in (("main", "binance"), ("sub1", "binance_sub1")):   # config/accounts.json
        (secrets / f"{prefix}_api_key").write_text(f"sim-key-{account}")
        (secrets / f"{prefix}_api_secret").write_text(f"sim-secret-{account}")
    for f in secrets.iterdir():
        f.chmod(0o644)   # read by the containers' non-root users, as `make secrets` leaves them
    config = tmp / "config"
    shutil.copytree(ROOT / "config", config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "BINANCE_", "COMPOSE_", "DASH_"))}
    env.update(NAVSTREAM_SECRETS_DIR=str(secrets), NAVSTREAM_CONFIG_DIR=str(config), COMPOSE_PROFILES="sim",
               MODE="sim", DASH_PUBLISH_PORT=str(free_port()), NAVSTREAM_TAG="test", **base_images())
    return Stack(tmp, env, f"navstream-test-{os.getpid()}")

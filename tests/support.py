"""Test support: the process harness (services/harness.py) under its old names, plus the schemas.

Tests import `tests.support`; the harness itself lives in the product so that `navstream bench`
and the soak use it from an installed wheel without importing `tests`.
"""

from __future__ import annotations

import json
import os
import shutil

import jsonschema

from services.harness import (
    CONFIG_DIR,
    ROOT,
    NavstreamUp,
    RedisServer,
    ServiceProcess,
    eventually,
    free_port,
    service_env,
    terminate,
)
from shared.contracts import SCHEMAS_DIR

__all__ = ["CONFIG_DIR", "ROOT", "SCHEMAS_DIR", "NavstreamUp", "RedisServer", "ServiceProcess", "eventually",
           "free_port", "require_tool", "schema_validator", "service_env", "terminate"]


def schema_validator(name: str) -> jsonschema.Draft202012Validator:
    """A jsonschema validator for `nav.v7` or `kpis.v7`, from the repository's own copy of the contract."""
    path = SCHEMAS_DIR / f"{name}.schema.json"
    assert path.exists(), f"contract schema {path} is missing"
    return jsonschema.Draft202012Validator(json.loads(path.read_text()))


def require_tool(name: str, package: str) -> str:
    """The path of binary `name`; skips the test without it, except under CI=true, where it fails
    (a test that needs a real tool must run in CI, never skip there)."""
    import pytest

    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is missing in CI: .ci/run should apt-get install {package}")
    pytest.skip(f"{name} not installed: apt-get install -y {package}")

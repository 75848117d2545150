"""Test support: the process harness (services/harness.py) under its old names, plus the schemas.

Tests import `tests.support`; the harness itself lives in the product so that `navstream bench`
and the soak use it from an installed wheel without importing `tests`.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import NoReturn

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

__all__ = ["CONFIG_DIR", "IN_CI", "ROOT", "SCHEMAS_DIR", "NavstreamUp", "RedisServer", "ServiceProcess", "eventually",
           "free_port", "missing", "require_tool", "schema_validator", "service_env", "terminate"]


def schema_validator(name: str) -> jsonschema.Draft202012Validator:
    """A jsonschema validator for `nav.v7` or `kpis.v7`, from the repository's own copy of the contract."""
    path = SCHEMAS_DIR / f"{name}.schema.json"
    assert path.exists(), f"contract schema {path} is missing"
    return jsonschema.Draft202012Validator(json.loads(path.read_text()))


IN_CI = os.environ.get("CI") == "true"


def missing(what: str, how: str) -> NoReturn:
    """Skip the test for want of `what`, saying `how` to get it; under CI=true fail instead (a test
    that needs a real tool, browser, database or engine must run in CI, never skip there)."""
    import pytest

    if IN_CI:
        pytest.fail(f"{what} is missing in CI: {how}")
    pytest.skip(f"{what} is missing: {how}")


def require_tool(name: str, package: str) -> str:
    """The path of binary `name`, else `missing` (install hint: the Debian package)."""
    path = shutil.which(name)
    if path:
        return path
    missing(name, f"apt-get install -y {package} (.ci/run installs it)")

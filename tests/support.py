"""Test support: the process harness (services/harness.py) under its old names, plus the schemas.

Tests import `tests.support`; the harness itself lives in the product so that `navstream bench`
and the soak use it from an installed wheel without importing `tests`.
"""

from __future__ import annotations

import json

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
           "free_port", "schema_validator", "service_env", "terminate"]


def schema_validator(name: str) -> jsonschema.Draft202012Validator:
    """A jsonschema validator for `nav.v7` or `kpis.v7`, from the repository's own copy of the contract."""
    path = SCHEMAS_DIR / f"{name}.schema.json"
    assert path.exists(), f"contract schema {path} is missing"
    return jsonschema.Draft202012Validator(json.loads(path.read_text()))

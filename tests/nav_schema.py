"""The nav.v7 JSON Schema with the `accounts` block and the `partial` source (shared/contracts/accounts.py)."""

from __future__ import annotations


def nav_validator():
    """A validator of nav.v7 as extended by shared/contracts/accounts.py, from the schema tests/support finds."""
    import jsonschema

    from shared.contracts.accounts import extend_nav_schema
    from tests.support import schema_validator

    return jsonschema.Draft202012Validator(extend_nav_schema(schema_validator("nav.v7").schema))

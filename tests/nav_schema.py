"""The nav.v7 JSON Schema validator (the repository's shared/contracts/schemas/nav.v7.schema.json)."""

from __future__ import annotations


def nav_validator():
    """A validator of nav.v7, accounts block, position accounts and `partial` source included."""
    from tests.support import schema_validator

    return schema_validator("nav.v7")

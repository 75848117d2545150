"""The pydantic side of the wire contracts: the base models and the one error message of a bad document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.errors import ContractError


class Strict(BaseModel):
    """A contract object that admits no field it does not name, and no NaN or infinity."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Open(BaseModel):
    """A contract object that readers may find more fields in (documents that grow by adding)."""

    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)


def check_document(model: type[BaseModel], doc: Any, contract: str) -> dict:
    """`doc` if `model` accepts it; else ContractError "<contract>: <field path>: <why> (got <value>)"
    naming the first bad field."""
    try:
        model.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "document"
        raise ContractError(f"{contract}: {where}: {err['msg']} (got {err.get('input')!r:.80})") from None
    return doc

"""Wire contract of service heartbeats (`hedge:health:<service>`, a JSON string with a TTL)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.errors import ContractError


class HeartbeatDoc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)

    service: str
    pid: int
    ts: float
    status: str            # ok / degraded / error
    last_error: str | None
    counters: dict[str, Any]


def encode_heartbeat(doc: HeartbeatDoc) -> bytes:
    return orjson.dumps(doc.model_dump())


def decode_heartbeat(raw: bytes | str) -> HeartbeatDoc:
    try:
        return HeartbeatDoc.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise ContractError(f"heartbeat: {exc}") from None

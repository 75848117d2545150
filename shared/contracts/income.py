"""Wire contract of Binance income records: the `hedge:income` stream (nav writes, ledger reads).

One entry per record of `GET /fapi/v1/income` of one account, XADDed once: unique by
(`account`, `type`, `tran_id`). `amount` is in `asset` (not USD); `symbol` is empty for
records without a market (TRANSFER); `ts` is Binance's `time` in epoch seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.contracts._fields import finite, flat, text
from shared.errors import ContractError

_CONTRACT = "income record"

INCOME_TYPES = ("TRANSFER", "WELCOME_BONUS", "REALIZED_PNL", "FUNDING_FEE", "COMMISSION",
                "INSURANCE_CLEAR", "REFERRAL_KICKBACK", "COMMISSION_REBATE", "API_REBATE",
                "CONTEST_REWARD", "CROSS_COLLATERAL_TRANSFER", "OPTIONS_PREMIUM_FEE",
                "OPTIONS_SETTLE_PROFIT", "INTERNAL_TRANSFER", "AUTO_EXCHANGE",
                "DELIVERED_SETTELMENT", "COIN_SWAP_DEPOSIT", "COIN_SWAP_WITHDRAW",
                "POSITION_LIMIT_INCREASE_FEE", "STRATEGY_UMFUTURES_TRANSFER",
                "FEE_RETURN", "BFUSD_REWARD")
"""`incomeType` values Binance documents for USD-M futures. Unknown types are kept, not refused:
Binance adds types, and a record of money moving must never be dropped for its label."""


@dataclass(frozen=True, slots=True)
class IncomeRecord:
    account: str
    tran_id: str
    type: str
    asset: str
    amount: float
    symbol: str
    ts: float

    @property
    def key(self) -> tuple[str, str, str]:
        """The record's identity: (account, type, tran_id)."""
        return (self.account, self.type, self.tran_id)


def encode_income(rec: IncomeRecord) -> dict[str, str]:
    """Flat fields of one `hedge:income` entry."""
    return {"account": rec.account, "tran_id": rec.tran_id, "type": rec.type, "asset": rec.asset,
            "amount": flat(rec.amount), "symbol": rec.symbol, "ts": flat(rec.ts)}


def decode_income(fields: Mapping[Any, Any]) -> IncomeRecord:
    """Parse one `hedge:income` entry; a bad entry raises ContractError naming the field."""
    account = text(fields, "account", contract=_CONTRACT)
    tran_id = text(fields, "tran_id", contract=_CONTRACT)
    where = f"{_CONTRACT} {account}/{tran_id}"
    kind = text(fields, "type", contract=where)
    asset = text(fields, "asset", contract=where)
    for name, value in (("account", account), ("tran_id", tran_id), ("type", kind), ("asset", asset)):
        if not value:
            raise ContractError(f"{where}: field {name!r} is empty")
    return IncomeRecord(account=account, tran_id=tran_id, type=kind, asset=asset,
                        amount=finite(fields, "amount", contract=where),
                        symbol=text(fields, "symbol", contract=where),
                        ts=finite(fields, "ts", contract=where, positive=True))

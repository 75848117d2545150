"""Reconciliation of one account, per asset, between polls (pure): Δ walletBalance = Σ income.

Funding fees, commissions, realised PnL and transfers all move the wallet, and each is an
income record. Between two polls the change of an asset's `walletBalance` must equal the
sum of its income records in that interval; what it does not explain accumulates in
`residuals[asset]` until a record explains it (a late record brings it back to 0: cleared).

Which records fall into an interval: those up to the asset row's `updateTime` (Binance's
clock), since every record up to then is in the wallet it reports; later ones wait in
`pending` for the next poll. So neither clock skew nor the gap between the account read and
the income read makes a false break. The USD tolerance is applied in valuation, which has the
prices (RECON_TOLERANCE_USD).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import orjson

from shared.contracts.income import IncomeRecord
from shared.errors import ContractError

from services.nav.income import record_ms
from services.nav.model import AssetBalance

EXPLAINED = 1e-9      # a residual this small is float noise: explained
MAX_PENDING = 10_000  # records waiting for their asset's next update; older ones are counted


@dataclass(frozen=True, slots=True)
class Pending:
    asset: str
    amount: float
    ms: int


@dataclass(frozen=True, slots=True)
class Explained:
    """An operator's explanation of a residual (`navstream nav explain`): kept with the state, for the record."""

    asset: str
    amount: float
    note: str
    ms: int


@dataclass(frozen=True, slots=True)
class ReconState:
    wallets: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    residuals: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    pending: tuple[Pending, ...] = ()
    explained: tuple[Explained, ...] = ()


def start(assets: Sequence[AssetBalance], records: Iterable[IncomeRecord]) -> ReconState:
    """The first poll: today's wallets are the base; records after each row's update wait."""
    cuts = _cuts(assets)
    waiting = tuple(p for p in _pending(records) if p.ms > cuts.get(p.asset, _default_cut(cuts)))
    return ReconState(MappingProxyType({a.asset: a.wallet for a in assets}), MappingProxyType({}), waiting)


def _cuts(assets: Sequence[AssetBalance]) -> dict[str, int]:
    return {a.asset: a.update_ms for a in assets}


def _default_cut(cuts: Mapping[str, int]) -> int:
    """For an asset without a row: the newest update of any row."""
    return max(cuts.values(), default=0)


def _pending(records: Iterable[IncomeRecord]) -> list[Pending]:
    return [Pending(r.asset, r.amount, record_ms(r)) for r in records]


def reconcile(state: ReconState, assets: Sequence[AssetBalance], records: Iterable[IncomeRecord]) -> ReconState:
    """The state after one more poll: each asset's wallet change against the records up to its cut."""
    cuts = _cuts(assets)
    default_cut = _default_cut(cuts)
    waiting = [*state.pending, *_pending(records)]
    overflow = max(0, len(waiting) - MAX_PENDING)
    counted: dict[str, float] = {}
    still: list[Pending] = []
    for i, p in enumerate(waiting):
        if i < overflow or p.ms <= cuts.get(p.asset, default_cut):
            counted[p.asset] = counted.get(p.asset, 0.0) + p.amount
        else:
            still.append(p)
    wallets = {a.asset: a.wallet for a in assets}
    residuals = dict(state.residuals)
    for asset in set(wallets) | set(state.wallets) | set(counted):
        moved = wallets.get(asset, 0.0) - state.wallets.get(asset, 0.0)
        left = residuals.get(asset, 0.0) + moved - counted.get(asset, 0.0)
        if abs(left) <= EXPLAINED * max(1.0, abs(wallets.get(asset, 0.0))):
            residuals.pop(asset, None)
        else:
            residuals[asset] = left
    return ReconState(MappingProxyType(wallets), MappingProxyType(residuals), tuple(still), state.explained)


KEEP_EXPLAINED = 200


def explain(state: ReconState, asset: str, note: str, ms: int) -> ReconState:
    """The operator explains an asset's residual: it is cleared, and what was explained is kept."""
    if asset not in state.residuals:
        return state
    residuals = dict(state.residuals)
    amount = residuals.pop(asset)
    log = (*state.explained, Explained(asset, amount, note, ms))[-KEEP_EXPLAINED:]
    return ReconState(state.wallets, MappingProxyType(residuals), state.pending, log)


def encode_recon(state: ReconState) -> bytes:
    return orjson.dumps({"wallets": dict(state.wallets), "residuals": dict(state.residuals),
                         "pending": [[p.asset, p.amount, p.ms] for p in state.pending],
                         "explained": [[e.asset, e.amount, e.note, e.ms] for e in state.explained]})


def decode_recon(raw: bytes | str, where: str) -> ReconState:
    try:
        doc = orjson.loads(raw)
        wallets = {str(k): float(v) for k, v in doc["wallets"].items()}
        residuals = {str(k): float(v) for k, v in doc["residuals"].items()}
        pending = tuple(Pending(str(a), float(x), int(ms)) for a, x, ms in doc["pending"])
        explained = tuple(Explained(str(a), float(x), str(n), int(ms)) for a, x, n, ms in doc.get("explained", []))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ContractError(f"{where}: not a reconciliation state ({exc})") from None
    return ReconState(MappingProxyType(wallets), MappingProxyType(residuals), pending, explained)

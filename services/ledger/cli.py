"""`navstream db|flow|strike|ledger`: the operator's side of the fund's record.

services/cli.py calls `register(subparsers)`; the commands themselves live in
services/ledger/commands.py and are imported only when one runs (the database libraries
stay out of every other navstream command).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _lazy(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from services.ledger import commands

        return getattr(commands, name)(args)
    return run


# --- the parser ----------------------------------------------------------------------------------

def _parser(sub: argparse._SubParsersAction, name: str, help_: str) -> argparse.ArgumentParser:
    """A subcommand whose --help starts with its one-line summary."""
    return sub.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ".")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `db`, `flow`, `strike` and `ledger` to the navstream command."""
    db = _parser(sub, "db", "the fund's record database (DATABASE_URL)")
    db_sub = db.add_subparsers(dest="db_cmd", required=True)
    _parser(db_sub, "upgrade", "migrate the schema to the newest revision")
    db.set_defaults(func=_lazy("_cmd_db"))

    flow = _parser(sub, "flow", "subscriptions, redemptions, transfers and holding changes (units per investor)")
    flow_sub = flow.add_subparsers(dest="flow_cmd", required=True)
    for name, what in (("subscribe", "money in: issue units at the unit price just before"),
                       ("redeem", "money out: cancel units at the unit price just before")):
        p = _parser(flow_sub, name, what)
        p.add_argument("amount", help="USD, positive")
        p.add_argument("--investor", help="whose units (default: the inception investor)")
        p.add_argument("--at", help="when (ISO 8601 UTC or epoch seconds; default now; never in the future)")
        p.add_argument("--note", help="why, kept with the flow")
    _parser(flow_sub, "list", "every flow, and units per investor")
    cl = _parser(flow_sub, "classify", "review a transfer or holding change: internal (no units) or external (a flow)")
    cl.add_argument("id", type=int, help="the flow's id (`navstream flow list`)")
    cl.add_argument("classification", choices=["internal", "external"],
                    help="internal: between the fund's own accounts or wallets (no units); external: a flow")
    cl.add_argument("--investor", help="for an external one: whose units")
    cl.add_argument("--note", help="why, kept with the flow")
    flow.set_defaults(func=_lazy("_cmd_flow"))

    strike = _parser(sub, "strike", "the daily NAV strike")
    strike_sub = strike.add_subparsers(dest="strike_cmd", required=True)
    _parser(strike_sub, "list", "every strike with its state, gates, note and hash")
    ap = _parser(strike_sub, "approve", "lock a held strike (records who and why)")
    ap.add_argument("date", help="YYYY-MM-DD")
    ap.add_argument("--note", required=True, help="why the held figures are right")
    ap.add_argument("--by", help="who approves (default: the current user)")
    run = _parser(strike_sub, "run", "propose a strike now from the newest snapshot (exit 1 if held)")
    run.add_argument("--date", help="YYYY-MM-DD (default: the strike due now)")
    strike.set_defaults(func=_lazy("_cmd_strike"))

    ledger = _parser(sub, "ledger", "verify or export the record")
    ledger_sub = ledger.add_subparsers(dest="ledger_cmd", required=True)
    _parser(ledger_sub, "verify", "check the strikes' hash chain and NAV (exit 1 naming the first bad one)")
    ex = _parser(ledger_sub, "export", "write nav_history.csv, flows.csv and strikes.csv")
    ex.add_argument("--format", choices=["csv"], default="csv", help="file format (csv)")
    ex.add_argument("--out", default="var/export", help="folder (default var/export)")
    ledger.set_defaults(func=_lazy("_cmd_ledger"))


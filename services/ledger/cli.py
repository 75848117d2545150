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

def register(sub: argparse._SubParsersAction) -> None:
    """Add `db`, `flow`, `strike` and `ledger` to the navstream command."""
    db = sub.add_parser("db", help="the fund's record database (DATABASE_URL)")
    db_sub = db.add_subparsers(dest="db_cmd", required=True)
    db_sub.add_parser("upgrade", help="migrate the schema to the newest revision")
    db.set_defaults(func=_lazy("_cmd_db"))

    flow = sub.add_parser("flow", help="subscriptions, redemptions and transfers (units per investor)")
    flow_sub = flow.add_subparsers(dest="flow_cmd", required=True)
    for name, what in (("subscribe", "money in: issue units at the unit price just before"),
                       ("redeem", "money out: cancel units at the unit price just before")):
        p = flow_sub.add_parser(name, help=what)
        p.add_argument("amount", help="USD, positive")
        p.add_argument("--investor", help="whose units (default: the inception investor)")
        p.add_argument("--at", help="when (ISO 8601 UTC or epoch seconds; default now; never in the future)")
        p.add_argument("--note", help="why, kept with the flow")
    flow_sub.add_parser("list", help="every flow, and units per investor")
    cl = flow_sub.add_parser("classify", help="review a transfer: internal (no units) or external (a flow)")
    cl.add_argument("id", type=int)
    cl.add_argument("classification", choices=["internal", "external"])
    cl.add_argument("--investor", help="for an external transfer: whose units")
    cl.add_argument("--note")
    flow.set_defaults(func=_lazy("_cmd_flow"))

    strike = sub.add_parser("strike", help="the daily NAV strike")
    strike_sub = strike.add_subparsers(dest="strike_cmd", required=True)
    strike_sub.add_parser("list", help="every strike with its state, gates, note and hash")
    ap = strike_sub.add_parser("approve", help="lock a held strike (records who and why)")
    ap.add_argument("date", help="YYYY-MM-DD")
    ap.add_argument("--note", required=True, help="why the held figures are right")
    ap.add_argument("--by", help="who approves (default: the current user)")
    run = strike_sub.add_parser("run", help="propose a strike now from the newest snapshot (exit 1 if held)")
    run.add_argument("--date", help="YYYY-MM-DD (default: the strike due now)")
    strike.set_defaults(func=_lazy("_cmd_strike"))

    ledger = sub.add_parser("ledger", help="verify or export the record")
    ledger_sub = ledger.add_subparsers(dest="ledger_cmd", required=True)
    ledger_sub.add_parser("verify", help="check the strikes' hash chain and NAV (exit 1 naming the first bad one)")
    ex = ledger_sub.add_parser("export", help="write nav_history.csv, flows.csv and strikes.csv")
    ex.add_argument("--format", choices=["csv"], default="csv")
    ex.add_argument("--out", default="var/export", help="folder (default var/export)")
    ledger.set_defaults(func=_lazy("_cmd_ledger"))


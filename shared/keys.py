"""Every Redis stream, key and consumer-group name navstream uses, in one place.

All names hang off one prefix (`KEY_PREFIX`, default `hedge`), so several funds can
share a Redis by prefix, or a cluster by hash tag (`hedge:{fund}`).
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP_NAV = "nav"
GROUP_PUBLISHER = "publisher"
GROUP_LEDGER = "ledger"

SERVICES = ("marketsim", "pricer", "nav", "publisher", "ledger", "dashboard")
"""The services navstream up starts."""


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "hedge"

    # --- streams -------------------------------------------------------------
    @property
    def prices(self) -> str:
        """Stream: one entry per price observation (`sym`, `px`, `src`, `ts`, `diverged`)."""
        return f"{self.prefix}:prices"

    @property
    def nav(self) -> str:
        """Stream: one entry per NAV snapshot (flat fields + `snapshot` JSON)."""
        return f"{self.prefix}:nav"

    @property
    def fills(self) -> str:
        """Stream: router fills (marketsim writes them in sim mode)."""
        return f"{self.prefix}:fills"

    @property
    def income(self) -> str:
        """Stream: Binance income records, one entry each, written once (shared/contracts/income.py)."""
        return f"{self.prefix}:income"

    @property
    def nav_history(self) -> str:
        """Stream: downsampled NAV/AUM/drawdown history, one point a minute."""
        return f"{self.prefix}:nav:1m"

    # --- hashes and strings ----------------------------------------------------
    @property
    def prices_latest(self) -> str:
        """Hash: sym -> JSON `{px, src, ts, diverged}` of the latest price."""
        return f"{self.prefix}:prices:latest"

    @property
    def prices_sources(self) -> str:
        """Hash: asset -> JSON of every source's last observation and the divergence check."""
        return f"{self.prefix}:prices:sources"

    @property
    def nav_seq(self) -> str:
        """String: the last snapshot `seq`, so it survives restarts."""
        return f"{self.prefix}:nav:seq"

    @property
    def nav_manual(self) -> str:
        """String: operator-set NAV (`navstream nav set`), JSON `{nav_total, ts, note}`."""
        return f"{self.prefix}:nav:manual"

    @property
    def tracked_markets(self) -> str:
        """Set: futures markets the account holds positions in (nav writes, pricer reads)."""
        return f"{self.prefix}:markets:tracked"

    @property
    def tracked_assets(self) -> str:
        """Set: margin assets the NAV needs a USD price for (nav writes, pricer prices them)."""
        return f"{self.prefix}:assets:tracked"

    @property
    def income_cursor(self) -> str:
        """Hash: account -> JSON cursor of its `/fapi/v1/income` reads (services/nav/income.py)."""
        return f"{self.prefix}:income:cursor"

    @property
    def recon_state(self) -> str:
        """Hash: account -> JSON reconciliation state (wallets, residuals, pending records)."""
        return f"{self.prefix}:recon:state"

    @property
    def recon_explain(self) -> str:
        """Hash: "<account>/<asset>" -> JSON `{note, ts}`, an operator's explanation of a break
        (`navstream nav explain`); the nav service applies and removes it."""
        return f"{self.prefix}:recon:explain"

    @property
    def kpi_state(self) -> str:
        """Hash: publisher's KPI state that must survive restarts (drawdown peak, ...)."""
        return f"{self.prefix}:kpi:state"

    @property
    def ledger_transfers(self) -> str:
        """String: Σ USD of every TRANSFER into (+) or out of (-) the fund's accounts (ledger writes,
        the publisher shifts its drawdown peak by each change: a withdrawal is not a loss)."""
        return f"{self.prefix}:ledger:transfers_usd"

    def bars(self, market: str) -> str:
        """Stream: one-minute mark-price bars of a futures market, for ATR."""
        return f"{self.prefix}:bars:{market}"

    @property
    def state_nav(self) -> str:
        return f"{self.prefix}:state:nav"

    @property
    def state_kpis(self) -> str:
        return f"{self.prefix}:state:kpis"

    @property
    def state_positions(self) -> str:
        return f"{self.prefix}:state:positions"

    @property
    def state_performance(self) -> str:
        """String: the performance.v1 document (ledger writes)."""
        return f"{self.prefix}:state:performance"

    def health(self, service: str) -> str:
        """String with TTL: the service's JSON heartbeat."""
        return f"{self.prefix}:health:{service}"

    def health_pattern(self) -> str:
        return f"{self.prefix}:health:*"

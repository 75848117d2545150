"""The fund's record: NAV history, income, flows, units and daily strikes in SQL (README "ledger")."""

"""The NAV service: futures account + prices + off-exchange holdings -> nav.v7 snapshots on hedge:nav."""

"""The publisher: turns NAV snapshots and router fills into state files, Redis state keys, KPIs and history.

`python -m services.publisher`; see the README's "publisher" section and docs/architecture.md.
"""

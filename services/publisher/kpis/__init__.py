"""The KPIs of kpis_v7.json, each a pure function in its own module (no I/O, no clock, no logging)."""

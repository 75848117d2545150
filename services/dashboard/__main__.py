"""`python -m services.dashboard`: serve the dashboard (see services/dashboard/app.py)."""

from services.dashboard.app import main

raise SystemExit(main())

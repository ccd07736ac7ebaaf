"""APScheduler wiring and the jobs it runs (the nudge dispatcher arrives with the nudges)."""

"""Nudges: the follow-ups a deal's plan turns into, their ledger, their dispatcher and their buttons."""

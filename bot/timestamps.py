"""How a moment is written to and read from storage, apart from storage so Slack and features need no database."""

from __future__ import annotations

from datetime import UTC, datetime


def stamp(moment: datetime) -> str:
    """How every time is stored: UTC, to the second. Leases and retries are compared as strings, which only
    works with one offset."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_stamp(stored: str) -> datetime:
    """A stored stamp as an aware datetime; one written without an offset (only rows from before
    migration 9, which rewrites them with this) is UTC."""
    moment = datetime.fromisoformat(stored)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

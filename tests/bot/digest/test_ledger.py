"""The digests ledger: each manager's digest for a local day is claimed once, a retry reclaimed once."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.digest import ledger
from tests.conftest import MANAGER, TEAM

pytestmark = pytest.mark.both_engines

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # Monday morning
TODAY = NOW.date()


def test_a_day_is_claimed_once_and_a_retry_is_reclaimed_once(store):
    key = {"team_id": TEAM, "manager_id": MANAGER, "local_date": TODAY}
    with store.write() as db:
        first = ledger.claim(db, **key, now=NOW)
        assert first is not None and first.status == "sending"
        assert ledger.claim(db, **key, now=NOW) is None
        ledger.mark_retry(db, first.id, error="ratelimited", retry_at=NOW + timedelta(minutes=2))
        assert ledger.claim(db, **key, now=NOW + timedelta(minutes=1)) is None
        again = ledger.claim(db, **key, now=NOW + timedelta(minutes=2))
        assert again is not None and again.id == first.id
        assert datetime.fromisoformat(again.claimed_at) == NOW + timedelta(minutes=2)  # its content is read now
        assert ledger.claim(db, **key, now=NOW + timedelta(minutes=3)) is None
        assert ledger.confirm(db, first.id, channel_id="D1", ts="1.2")
        assert not ledger.confirm(db, first.id, channel_id="D1", ts="1.3")
        assert ledger.last_sent(db, team_id=TEAM, manager_id=MANAGER, other_than=0) == NOW + timedelta(minutes=2)
        assert ledger.claim(db, **{**key, "local_date": TODAY + timedelta(days=1)}, now=NOW + timedelta(days=1))

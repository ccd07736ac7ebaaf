"""A deal's channel message as a claim: taken once, left to the dispatcher when stale, claimed again when it
could not be posted."""

from __future__ import annotations

import pytest

from bot.deals import announcements
from bot.deals import model as deals
from bot.slack.posting import LEASE
from bot.storage import Store
from tests.bot.dealdata import ACME, LATER, NOW, PLAYBOOK

pytestmark = pytest.mark.both_engines  # the conftest's store: SQLite, and PostgreSQL when a test server is set


# --- posting the deal message once ---------------------------------------------------------------------------


def capture_with_claim(store: Store) -> int:
    """A capture as the coach makes it: the deal, its plan and the claim on its announcement, in one transaction."""
    with store.write() as db:
        deal_id, _ = deals.capture_deal(
            db, team_id="T0TEAM", channel_id="C0DEALS", owner_id="U0REP", fields=ACME, playbook=PLAYBOOK, now=NOW
        )
        announcements.claim_with_capture(db, deal_id=deal_id, channel_id="C0DEALS", now=NOW)
    return deal_id


def test_the_captures_claim_on_its_announcement_is_taken_once(store):
    """The capture's lazy listener and a click on the deal racing to post its message: only one may post it."""
    deal_id = capture_with_claim(store)
    with store.write() as db:
        taken = announcements.take(db, deal_id, now=NOW)
        assert (taken.status, taken.kind, taken.attempts) == ("sending", "announcement", 1)
    with store.write() as db:
        assert announcements.take(db, deal_id, now=NOW) is None
        assert deals.get_deal(db, deal_id).posted_ts is None  # claimed, not yet posted


def test_a_stale_capture_claim_is_left_to_the_dispatcher(store):
    """A lazy listener that runs late (the process was stalled) must not race the dispatcher's reconcile."""
    deal_id = capture_with_claim(store)
    with store.write() as db:
        assert announcements.take(db, deal_id, now=NOW + LEASE / 2) is None


def test_an_unreachable_announcement_can_be_claimed_again_and_a_posted_one_cannot(store):
    """A channel that couldn't be reached is tried again on the deal's next change; once posted, never again."""
    deal_id = capture_with_claim(store)
    with store.write() as db:
        post = announcements.take(db, deal_id, now=NOW)
        announcements.give_up_for_now(db, post, error="channel_not_found")
    with store.write() as db:
        again = announcements.take(db, deal_id, now=LATER)
        assert (again.status, again.attempts, again.claimed_at) == ("sending", 2, "2026-01-05T14:00:00+00:00")
        announcements.confirm(db, again, channel_id="C0DEALS", ts="1767346200.000100", now=LATER)
    with store.write() as db:
        assert announcements.take(db, deal_id, now=LATER) is None
        assert deals.get_deal(db, deal_id).posted_ts == "1767346200.000100"


def test_no_claim_for_a_missing_deal(store):
    with store.write() as db:
        assert announcements.take(db, 999, now=NOW) is None

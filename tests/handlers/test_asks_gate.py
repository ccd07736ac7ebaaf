"""Asks that wait for a healthy deal (issue 10 §5): the testimonial, the referral and the celebration go out only on
a healthy deal; otherwise a recovery step comes first and the ask comes back after it; never two asks in one
message; the referral's draft follows what the testimonial step recorded."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest

from bot.health import gate
from bot.nudges import ledger
from bot.nudges.dispatch import Pacer
from bot.slack.client import posting_client
from schedules.jobs import dispatch_nudges
from tests import engines
from tests.conftest import REP
from tests.handlers.test_signals import radio, text

pytestmark = pytest.mark.both_engines  # the conftest's store: SQLite, and PostgreSQL when a test server is set

CLOSED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin; go-live Mon Dec 21
TESTIMONIAL_DAY = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)  # go-live + 42, a Monday


@pytest.fixture
def tick(coach):
    client = posting_client(coach.settings)
    return lambda now: dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))


def steps(settings) -> dict[str, dict]:
    return {r["step_id"]: r for r in engines.rows(settings, "SELECT * FROM nudges ORDER BY id")}


def shown(call) -> str:
    return call.params.get("text", "") + json.dumps(call.params.get("blocks", []), ensure_ascii=False)


def sql(settings, statement: str, params=()) -> None:
    """Test set-up: a deal's history as if its rep had clicked (the clicks themselves are tested elsewhere)."""
    engines.execute(settings, statement, params)


ASKS = ("testimonial", "referrals", "celebrate-milestone")


def capture(slack, settings, clock, *, early_done: bool) -> None:
    """A deal live on Dec 21; every step but the asks settled, the early ones (due before go-live) done or
    (unhealthy) left overdue."""
    clock.now = CLOSED
    slack.command("Acme Rockets $120k contact: Jane Doe, VP Operations persona: economic live: 2026-12-21")
    asks = ",".join("?" * len(ASKS))
    sql(
        settings,
        "UPDATE nudges SET status = 'done', resolved_by = ?, resolved_at = '2026-12-01T10:00:00Z' "
        f"WHERE step_id NOT IN ({asks}) AND due_date >= '2026-12-21'",
        [REP, *ASKS],
    )
    if early_done:
        sql(
            settings,
            "UPDATE nudges SET status = 'done', resolved_by = ?, resolved_at = '2026-11-24T10:00:00Z' "
            f"WHERE step_id NOT IN ({asks}) AND due_date < '2026-12-21'",
            [REP, *ASKS],
        )
    else:  # posted in the first week and never acted on: overdue for weeks
        sql(
            settings,
            f"UPDATE nudges SET status = 'posted' WHERE step_id NOT IN ({asks}) AND due_date < '2026-12-21'",
            ASKS,
        )


def test_a_healthy_deal_gets_its_testimonial_ask(slack, fake, settings, clock, tick):
    capture(slack, settings, clock, early_done=True)
    clock.now = TESTIMONIAL_DAY
    assert len(tick(TESTIMONIAL_DAY).posted) == 1
    text = shown(fake.last("chat.postMessage"))
    assert "Ask Jane Doe for a testimonial" in text and "Find out how" not in text
    assert steps(settings)["testimonial"]["status"] == "posted"


def test_an_unhealthy_deal_gets_the_recovery_step_instead_and_the_ask_comes_after_it(
    slack, fake, settings, clock, tick
):
    capture(slack, settings, clock, early_done=False)
    clock.now = TESTIMONIAL_DAY
    assert len(tick(TESTIMONIAL_DAY).posted) == 1
    message = fake.last("chat.postMessage")
    text = shown(message)
    assert "Find out how Acme Rockets is really doing before asking for anything" in text
    assert "testimonial" not in message.params["text"].lower()
    assert "how are things going at Acme Rockets?" in text  # a draft the rep can send
    planned = steps(settings)
    recovery = planned["recovery-check"]
    assert recovery["status"] == "posted" and recovery["purpose"] == "recovery"
    assert (planned["testimonial"]["status"], planned["testimonial"]["held_by"]) == ("held", recovery["id"])

    next_day = datetime(2027, 2, 2, 9, 0, tzinfo=UTC)  # the ask isn't lost in the meantime, nor posted
    clock.now = next_day
    assert tick(next_day).posted == []
    assert steps(settings)["testimonial"]["status"] == "held"

    slack.click("nudge_done", str(recovery["id"]))  # the rep found out what was wrong
    testimonial = steps(settings)["testimonial"]
    assert (testimonial["status"], testimonial["due_date"], testimonial["held_by"]) == ("planned", "2027-02-09", None)
    ask_day = datetime(2027, 2, 9, 9, 0, tzinfo=UTC)
    clock.now = ask_day
    assert len(tick(ask_day).posted) == 1  # the recovery settled the old overdue steps: healthy enough to ask
    assert "Ask Jane Doe for a testimonial" in shown(fake.last("chat.postMessage"))
    assert steps(settings)["testimonial"]["status"] == "posted"


def test_skipping_the_recovery_step_brings_the_ask_back_too(slack, fake, settings, clock, tick):
    capture(slack, settings, clock, early_done=False)
    clock.now = TESTIMONIAL_DAY
    tick(TESTIMONIAL_DAY)
    recovery = steps(settings)["recovery-check"]
    slack.click("nudge_skip", str(recovery["id"]))
    slack.submit(fake.last("views.open").params["view"], {"reason": {"value": {"type": "plain_text_input"}}})
    assert steps(settings)["testimonial"]["status"] == "planned"


def test_a_cancelled_deal_stops_its_held_ask(slack, fake, settings, clock, tick):
    capture(slack, settings, clock, early_done=False)
    clock.now = TESTIMONIAL_DAY
    tick(TESTIMONIAL_DAY)
    held = steps(settings)["testimonial"]
    assert held["status"] == "held"
    deal_id = held["deal_id"]
    slack.click("deal_cancel", str(deal_id))
    slack.submit(
        fake.last("views.open").params["view"],
        {"reason": {"value": {"type": "plain_text_input", "value": "Budget cut"}}},
    )
    assert steps(settings)["testimonial"]["status"] == "cancelled"


def test_never_two_asks_in_one_message(slack, fake, settings, clock, tick):
    """The testimonial and the referral both due (the bot was away): one message carries the testimonial, the
    referral waits its own turn a week later."""
    capture(slack, settings, clock, early_done=True)
    referral_day = datetime(2027, 2, 15, 9, 0, tzinfo=UTC)
    clock.now = referral_day
    assert len(tick(referral_day).posted) == 1
    text = shown(fake.last("chat.postMessage"))
    assert "testimonial" in text and "referral" not in text.lower()
    planned = steps(settings)
    assert planned["testimonial"]["status"] == "posted"
    assert (planned["referrals"]["status"], planned["referrals"]["due_date"]) == ("planned", "2027-02-22")
    clock.now = datetime(2027, 2, 16, 9, 0, tzinfo=UTC)
    assert tick(clock.now).posted == []


@pytest.mark.parametrize(
    ("result", "says", "never"),
    [
        ("received", "thank you again for the kind words you shared", "your time over the past weeks"),
        ("declined", "thank you again for your time over the past weeks", "kind words"),
    ],
)
def test_the_referral_draft_follows_what_the_testimonial_step_recorded(
    slack, fake, settings, clock, tick, result, says, never
):
    capture(slack, settings, clock, early_done=True)
    clock.now = TESTIMONIAL_DAY
    tick(TESTIMONIAL_DAY)
    testimonial = steps(settings)["testimonial"]
    slack.click("nudge_done", str(testimonial["id"]))
    view = fake.last("views.open").params["view"]
    slack.submit(
        view,
        {
            "result": {"value": {"type": "radio_buttons", "selected_option": {"value": result}}},
            "detail": {"value": {"type": "plain_text_input", "value": None}},
        },
    )
    assert steps(settings)["testimonial"]["status"] == "done"
    referral_day = datetime(2027, 2, 15, 9, 0, tzinfo=UTC)
    clock.now = referral_day
    assert len(tick(referral_day).posted) == 1
    text = shown(fake.last("chat.postMessage"))
    assert "referral" in text.lower()
    assert says in text and never not in text
    assert "[the kind words you shared / your time" not in text


def test_home_says_a_deal_needs_care_by_the_same_definition(slack, fake, settings, clock, tick):
    from tests.handlers.test_home import latest, open_home
    from tests.handlers.test_home import shown as home_shown

    capture(slack, settings, clock, early_done=False)
    clock.now = TESTIMONIAL_DAY
    open_home(slack)
    early = [r for r in steps(settings).values() if r["status"] == "posted" and r["due_date"] < "2026-12-21"]
    assert len(early) >= 5
    # Nov 23's early steps are all past their windows by Feb 1: missed (Home lists them under Missed), not overdue
    assert f"needs care: {len(early)} early steps missed" in home_shown(latest(fake))


@engines.ON_POSTGRES[0]
@engines.ON_POSTGRES[1]
def test_two_instances_dispatching_one_unhealthy_deal_plan_one_recovery_step(slack, settings, clock, coach, store):
    """Two instances' dispatchers reach the same unhealthy deal at once. The first gates its ask (plans the recovery
    step, holds the testimonial) with the deal's row locked; the second leaves the deal to it, instead of reading
    the same state, planning the recovery step again and failing on the first's (a unique key violation)."""
    capture(slack, settings, clock, early_done=False)
    [deal] = engines.rows(settings, "SELECT id FROM deals")
    today = TESTIMONIAL_DAY.date()
    second: list = []
    with store.write() as db:
        gate.before_claim(db, deal["id"], today=today, now=TESTIMONIAL_DAY, playbook=coach.playbook)

        def other_instance():
            with store.write() as other:
                if gate.before_claim(other, deal["id"], today=today, now=TESTIMONIAL_DAY, playbook=coach.playbook):
                    second.append(
                        ledger.claim(other, deal["id"], today=today, now=TESTIMONIAL_DAY, is_late=lambda *_: False)
                    )

        dispatching = threading.Thread(target=other_instance)
        dispatching.start()
        engines.wait_for_lock_wait(dispatching, "%nudges%")
    dispatching.join(timeout=30)
    assert [claimed for claimed in second if claimed is not None] == []  # the deal was the first's: nothing claimed
    recovery = engines.rows(settings, "SELECT id FROM nudges WHERE purpose = 'recovery'")
    assert len(recovery) == 1
    assert (steps(settings)["testimonial"]["status"], steps(settings)["testimonial"]["held_by"]) == (
        "held",
        recovery[0]["id"],
    )


def test_a_worried_buyer_makes_the_deal_unhealthy_until_a_positive_word_is_heard(slack, fake, settings, clock, tick):
    """Buyer signals (issue 12) join the one health definition: every step done on time, but the buyer sounded
    worried on the last call, so the testimonial waits behind the recovery step; Home says why. A positive word
    after the recovery call settles it, and the ask comes back."""
    from tests.handlers.test_home import latest, open_home
    from tests.handlers.test_home import shown as home_shown

    capture(slack, settings, clock, early_done=True)
    progress = steps(settings)["progress-check"]
    slack.click("signal_sounded", f"{progress['id']}:worried")  # the rep's one tap after Done
    clock.now = TESTIMONIAL_DAY
    open_home(slack)
    assert "needs care: the buyer sounded worried" in home_shown(latest(fake))
    assert len(tick(TESTIMONIAL_DAY).posted) == 1
    text = shown(fake.last("chat.postMessage"))
    assert "Find out how Acme Rockets is really doing before asking for anything" in text
    assert steps(settings)["testimonial"]["status"] == "held"

    recovery = steps(settings)["recovery-check"]
    slack.click("nudge_done", str(recovery["id"]))
    slack.click("signal_sounded", f"{recovery['id']}:positive")  # the call went well
    ask_day = datetime(2027, 2, 8, 9, 0, tzinfo=UTC)
    clock.now = ask_day
    assert len(tick(ask_day).posted) == 1
    assert "Ask Jane Doe for a testimonial" in shown(fake.last("chat.postMessage"))


def test_a_standing_concern_holds_the_ask_too(slack, fake, settings, clock, tick):
    capture(slack, settings, clock, early_done=True)
    deal_id = steps(settings)["testimonial"]["deal_id"]
    slack.click("signal_flag_concern", str(deal_id))
    view = fake.last("views.open").params["view"]
    slack.submit(view, {"concern": radio("budget"), "note": text("Their CFO asks whether we are worth it.")})
    clock.now = TESTIMONIAL_DAY
    assert len(tick(TESTIMONIAL_DAY).posted) == 1
    assert "Find out how Acme Rockets is really doing" in shown(fake.last("chat.postMessage"))
    assert steps(settings)["testimonial"]["status"] == "held"

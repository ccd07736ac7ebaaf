"""The managers' digest content: what is at risk, what closed or was cancelled, how each rep is doing, and the chart."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.deals import model as deals
from bot.deals.capture import Money
from bot.digest.blocks import digest_message
from bot.digest.build import WeekRate, gather, normalise_reason
from bot.digest.chart import completion_png
from bot.nudges import ledger
from bot.playbook.loader import Playbook, Step
from bot.timestamps import stamp
from tests.conftest import CHANNEL, MANAGER, OTHER_REP, REP, TEAM

pytestmark = pytest.mark.both_engines

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 23, 8, 30, tzinfo=BERLIN)  # Monday morning
TODAY = NOW.date()
TEAM_URL = "https://acme.slack.com/"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # the first bytes of every PNG file


def _step(step_id: str, stage: str, days: int, outcome: str | None = None) -> Step:
    return Step(step_id, stage, "close", days, False, step_id, "", (), "", (), None, None, outcome)


PLAYBOOK = Playbook(  # small and calendar-timed, so each test can say exactly what is due when
    name="digest test",
    source="test",
    go_live_after_days=30,
    steps=(
        _step("call", "affirm", 0),
        _step("note", "affirm", 2),
        _step("win", "affirm", 6, "win_reason"),
        _step("check-in", "activate", 20),
        _step("testimonial", "accomplish", 42, "testimonial"),
    ),
)


class Team:
    """Seeds deals and what reps did with their steps through the domain, each at its own moment."""

    def __init__(self, store, playbook: Playbook = PLAYBOOK):
        self.store = store
        self.playbook = playbook
        self.ids: dict[str, int] = {}

    def deal(self, account: str, amount: int | str, closed: datetime, *, owner: str = REP, posted: bool = True) -> int:
        """Captured at `closed` (the deal's close date is that day in Berlin); posted in the channel if `posted`."""
        fields = deals.DealFields(account, Money(Decimal(amount), "USD"), closed.astimezone(BERLIN).date())
        with self.store.write() as db:
            deal_id, _ = deals.capture_deal(
                db,
                team_id=TEAM,
                channel_id=CHANNEL,
                owner_id=owner,
                fields=fields,
                playbook=self.playbook,
                now=closed,
                capture_key=f"{account}-{closed.isoformat()}",
            )
            if posted:
                deals.set_message(db, deal_id, f"{int(closed.timestamp())}.{deal_id:06d}")
        self.ids[account] = deal_id
        return deal_id

    def remind(self, rep: str, on: date = TODAY) -> None:
        """The rep's morning reminder went on `on` (as bot.nudges.reminders records it): their late steps now slip."""
        at = stamp(datetime.combine(on, datetime.min.time(), tzinfo=BERLIN).replace(hour=9))
        with self.store.write() as db:
            db.execute(
                "INSERT INTO reminders (team_id, rep_id, local_date, status, claimed_at, lease_at, sent_at) "
                "VALUES (?, ?, ?, 'sent', ?, ?, ?)",
                [TEAM, rep, on.isoformat(), at, at, at],
            )

    def post_due(self, today: date = TODAY) -> None:
        """What the dispatcher would have done by `today`: every step due is posted in the channel."""
        with self.store.write() as db:
            db.execute(
                "UPDATE nudges SET status = 'posted' WHERE status = 'planned' AND due_date <= ?", [today.isoformat()]
            )

    def _nudge(self, db, account: str, step_id: str) -> int:
        row = db.execute(
            "SELECT id FROM nudges WHERE deal_id = ? AND step_id = ?", [self.ids[account], step_id]
        ).fetchone()
        db.execute("UPDATE nudges SET status = 'posted' WHERE id = ? AND status = 'planned'", [row[0]])
        return row[0]

    def done(self, account: str, step_id: str, at: datetime, *, outcome: dict | None = None, by: str = REP) -> None:
        with self.store.write() as db:
            change = ledger.mark_done(db, self._nudge(db, account, step_id), actor=by, now=at, outcome=outcome)
        assert change.changed

    def skip(self, account: str, step_id: str, at: datetime, *, by: str = REP) -> None:
        with self.store.write() as db:
            assert ledger.mark_skipped(db, self._nudge(db, account, step_id), actor=by, now=at, reason="n/a").changed

    def done_all(self, account: str, closed: datetime, outcomes: dict[str, dict] | None = None) -> None:
        """Every step done on its due day (at 10:00 Berlin), the way a diligent rep works."""
        for step in self.playbook.steps:
            due = datetime.combine(closed.date() + timedelta(days=step.days), datetime.min.time(), BERLIN)
            self.done(account, step.id, due + timedelta(hours=10), outcome=(outcomes or {}).get(step.id))

    def cancel(self, account: str, at: datetime, reason: str, *, by: str = MANAGER) -> None:
        with self.store.write() as db:
            assert deals.cancel_deal(db, self.ids[account], actor=by, reason=reason, now=at) is not None


def berlin(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=BERLIN)


def read(store, *, now: datetime = NOW, since: datetime | None = None, **overrides):
    with store.session() as db:
        return gather(
            db,
            team_id=TEAM,
            now=now,
            today=now.astimezone(BERLIN).date(),
            since=since,
            large_deal=overrides.get("large_deal", Decimal("100000")),
            quiet_days=overrides.get("quiet_days", 14),
        )


@pytest.fixture
def team(store):
    return Team(store)


@pytest.fixture
def seeded(team):
    """A realistic Monday morning: late big deals, a quiet one, a warm one, fresh closes, a cancellation."""
    team.deal("Big Late", 250_000, berlin(11, 16))  # call done; note (Nov 18) and win (Nov 22) overdue
    team.deal("Bigger Late", 500_000, berlin(11, 19))  # call (Nov 19) and note (Nov 21) overdue
    team.deal("Small Late", 5_000, berlin(11, 16))  # overdue too, but small and recent: not at risk
    team.deal("Big On Time", 300_000, berlin(11, 16))
    team.deal("Gone Quiet", 20_000, berlin(10, 20), owner=OTHER_REP)  # last touch Oct 27
    team.deal("Kept Warm", 20_000, berlin(10, 20), owner=OTHER_REP)  # touched Nov 20
    team.deal("All Done", 20_000, berlin(10, 1), owner=OTHER_REP)  # journey finished: nothing left to do
    team.deal("Fresh", 42_000, berlin(11, 22, 15))  # closed yesterday afternoon
    team.deal("Not Posted Yet", 60_000, berlin(11, 23, 7), posted=False)
    team.deal("Regretful", 80_000, berlin(11, 2), owner=OTHER_REP)
    team.deal("Cancelled Long Ago", 10_000, berlin(10, 1), owner=OTHER_REP)
    team.post_due()
    team.done("Big Late", "call", berlin(11, 16, 11))
    for step_id, day in (("call", 16), ("note", 18), ("win", 22)):
        outcome = {"kind": "win_reason", "reason": " Great support   TEAM."} if step_id == "win" else None
        team.done("Big On Time", step_id, berlin(11, day), outcome=outcome)
    for account in ("Gone Quiet", "Kept Warm"):
        team.done(account, "call", berlin(10, 20))
        team.skip(account, "note", berlin(10, 22))
    team.done("Gone Quiet", "win", berlin(10, 27), outcome={"kind": "win_reason", "reason": "Price!"}, by=OTHER_REP)
    team.done("Kept Warm", "win", berlin(10, 27), outcome={"kind": "win_reason", "reason": "price"}, by=OTHER_REP)
    team.done("Kept Warm", "check-in", berlin(11, 20), by=OTHER_REP)
    team.done_all(
        "All Done", berlin(10, 1), {"testimonial": {"kind": "testimonial", "result": "received", "detail": "x"}}
    )
    team.cancel("Regretful", berlin(11, 22, 18), "<!channel> budget cut & the <b>reorg</b>")
    team.cancel("Cancelled Long Ago", berlin(11, 2), "old news")
    return team


def test_at_risk_lists_late_large_deals_oldest_first_then_quiet_deals(store, seeded):
    digest = read(store)
    assert [(r.deal.account, r.overdue_early, r.oldest_overdue) for r in digest.at_risk] == [
        ("Big Late", 2, date(2026, 11, 18)),
        ("Bigger Late", 2, date(2026, 11, 19)),
        ("Gone Quiet", 0, None),
    ]
    quiet = digest.at_risk[-1]
    assert quiet.quiet_since == berlin(10, 27).astimezone(UTC)


def test_a_large_deal_that_also_went_quiet_is_listed_once_with_both_reasons(store, team):
    team.deal("Whale", 900_000, berlin(10, 1))
    team.post_due()
    [item] = read(store).at_risk
    assert (item.deal.account, item.overdue_early, item.oldest_overdue) == ("Whale", 3, date(2026, 10, 1))
    assert item.quiet_since == berlin(10, 1)


def test_a_team_with_more_deals_at_risk_than_any_list_shows_counts_them_all_and_keeps_the_first(store, team):
    """Thirty deals gone quiet: the digest keeps the first 25 (the most any list shows), oldest first, and counts all
    thirty in its heading and its "…and N more" line."""
    for i in range(30):
        team.deal(f"Quiet {i:02d}", 1_000, berlin(10, 1) + timedelta(hours=i))
    digest = read(store)
    assert digest.at_risk_count == 30
    assert [r.deal.account for r in digest.at_risk] == [f"Quiet {i:02d}" for i in range(25)]
    text, blocks = digest_message(digest, team_url=TEAM_URL, tz=BERLIN)
    shown = json.dumps(blocks)
    assert "30 at risk" in text and "*At risk of buyer's remorse* (30)" in shown and "20 more" in shown


def test_thresholds_come_from_the_settings(store, seeded):
    assert "Small Late" in [r.deal.account for r in read(store, large_deal=Decimal("5000")).at_risk]
    assert "Kept Warm" in [r.deal.account for r in read(store, quiet_days=2).at_risk]


def test_closed_and_cancelled_since_the_last_digest_or_the_last_day(store, seeded):
    first = read(store)  # no digest yet: the last 24 hours
    assert first.first and first.since == NOW - timedelta(hours=24)
    assert [d.account for d in first.closed] == ["Not Posted Yet", "Fresh"]
    assert [(d.account, d.cancel_reason) for d in first.cancelled] == [
        ("Regretful", "<!channel> budget cut & the <b>reorg</b>")
    ]
    since_friday = read(store, since=berlin(11, 20, 8))
    assert not since_friday.first
    assert [d.account for d in since_friday.closed] == ["Not Posted Yet", "Fresh"]
    since_last_week = read(store, since=berlin(11, 15, 8))
    assert [d.account for d in since_last_week.closed] == [
        "Not Posted Yet",
        "Fresh",
        "Bigger Late",
        "Big On Time",
        "Small Late",
        "Big Late",
    ]
    assert [d.account for d in since_last_week.cancelled] == ["Regretful"]


def test_rep_lines_count_done_overdue_due_today_and_the_30_day_completion_rate(store, seeded, team):
    team.remind(REP)
    team.remind(OTHER_REP)
    reps = {r.rep_id: r for r in read(store).reps}
    rep = reps[REP]
    # Overdue: Big Late note+win, Bigger Late call+note, Small Late call+note+win, Fresh call. Done since yesterday
    # 08:30: Big On Time's win (Sunday 10:00). Due today: Not Posted Yet's call. In 30 days: 4 done, 8 overdue.
    assert (rep.done, rep.overdue, rep.due_today) == (1, 8, 1)
    assert (rep.done_30, rep.skipped_30, rep.overdue_30) == (4, 0, 8) and rep.rate == pytest.approx(4 / 12)
    other = reps[OTHER_REP]
    assert other.overdue == 1  # Gone Quiet's check-in; the cancelled deal's steps are not owed any more
    assert (other.done_30, other.skipped_30, other.overdue_30) == (4, 0, 1)
    assert list(reps) == [REP, OTHER_REP]  # most overdue first


def test_a_step_due_today_is_due_not_overdue(store, team):
    team.deal("Today", 10_000, berlin(11, 21))  # note due Nov 23
    team.post_due()
    team.remind(REP)
    [rep] = read(store).reps
    assert (rep.overdue, rep.due_today) == (1, 1)  # the call (Nov 21) is late, the note is today's


def test_a_late_step_slips_for_managers_only_once_its_rep_has_been_reminded(store, team):
    """Reps first: before the rep's morning reminder the digest counts nothing as overdue; a reminder sent before
    the step fell due doesn't count either; after it, the step slips."""
    team.deal("Today", 10_000, berlin(11, 21))  # the call, due Nov 21, is late on Nov 23
    team.post_due()
    assert read(store).reps[0].overdue == 0
    team.remind(REP, on=date(2026, 11, 20))  # before it was due
    assert read(store).reps[0].overdue == 0
    team.remind(REP)
    assert read(store).reps[0].overdue == 1


def test_win_reasons_are_counted_case_punctuation_and_spacing_aside(store, seeded, team):
    assert normalise_reason("  Great support   TEAM. ") == "great support team"
    assert normalise_reason("Price!") == normalise_reason(" price ") == "price"
    digest = read(store)
    assert [(normalise_reason(r.text), r.count) for r in digest.reasons] == [("price", 2), ("great support team", 1)]
    assert digest.reasons_total == 3


def test_only_the_top_five_reasons_are_shown(store, team):
    reasons = ["ROI", "roi!", "Speed", "speed", "speed.", "Trust", "Fit", "Price", "Team", "Support"]
    for i, reason in enumerate(reasons):
        team.deal(f"D{i}", 10_000, berlin(11, 2))
        team.done(f"D{i}", "win", berlin(11, 9), outcome={"kind": "win_reason", "reason": reason})
    digest = read(store)
    assert [(normalise_reason(r.text), r.count) for r in digest.reasons][:2] == [("speed", 3), ("roi", 2)]
    assert len(digest.reasons) == 5 and digest.reasons_total == 10


def test_testimonials_and_referrals_received_in_the_last_30_days(store, seeded, team):
    team.deal("Fan", 10_000, berlin(10, 1))
    team.done(
        "Fan",
        "testimonial",
        berlin(11, 20),
        outcome={"kind": "testimonial", "result": "received", "detail": "Loved it"},
    )
    team.deal("Shy", 10_000, berlin(10, 1))
    team.done("Shy", "testimonial", berlin(11, 21), outcome={"kind": "testimonial", "result": "declined"})
    team.deal("Connector", 10_000, berlin(10, 1))
    referral = {"kind": "referral", "result": "received", "detail": "Ann at Globex"}
    team.done("Connector", "testimonial", berlin(11, 22), outcome=referral)
    digest = read(store)
    # All Done's testimonial arrived on Nov 12 (within 30 days); the declined one is not "collected".
    assert [(o.deal.account, o.kind, o.detail) for o in digest.outcomes] == [
        ("Connector", "referral", "Ann at Globex"),
        ("Fan", "testimonial", "Loved it"),
        ("All Done", "testimonial", "x"),
    ]
    assert read(store, now=NOW + timedelta(days=20)).outcomes[-1].deal.account == "Fan"


def test_weekly_completion_counts_done_over_done_skipped_and_overdue(store, seeded):
    weeks = {w.start: (w.done, w.total) for w in read(store).weeks}
    assert weeks[date(2026, 11, 16)] == (4, 12)  # 4 done; Big Late 2, Bigger Late 2, Small Late 3, Fresh 1 overdue
    assert weeks[date(2026, 10, 19)] == (3, 5)  # two calls and All Done's check-in done, two notes skipped
    assert list(weeks) == sorted(weeks)


# -- Block Kit -------------------------------------------------------------------------------------------


def texts(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_the_message_is_ordered_most_urgent_first_and_links_each_posted_deal(store, seeded, team):
    team.remind(REP)
    team.remind(OTHER_REP)
    text, blocks = digest_message(read(store), team_url=TEAM_URL, tz=BERLIN)
    assert text == (
        "Your Deal Coach digest for Mon Nov 23: 0 buyer signals, 5 deals with follow-ups slipping, 3 at risk, "
        "2 closed and 1 cancelled in the last 24 hours."
    )
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Deal Coach digest · Mon Nov 23"}}
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    order = [next(i for i, s in enumerate(sections) if key in s) for key in (
        "Buyer signals", "Follow-ups slipping", "At risk", "Closed in the last 24 hours", "Follow-ups by rep", "Why buyers chose us",
        "Testimonials and referrals", "Cancelled in the last 24 hours",
    )]  # fmt: skip
    assert order == sorted(order)
    big_late = seeded.ids["Big Late"]
    with store.session() as db:
        ts = deals.get_deal(db, big_late).message_ts
    link = f"<{TEAM_URL}archives/{CHANNEL}/p{ts.replace('.', '')}|Big Late>"
    at_risk = next(s for s in sections if "At risk" in s)
    assert link in at_risk and "2 early touches overdue since Wed Nov 18" in at_risk
    assert "Gone Quiet" in at_risk and "no touch for 26 days" in at_risk
    closed = next(s for s in sections if "Closed in" in s)
    assert "• Not Posted Yet · $60,000" in closed  # no message yet: no link
    assert f"<@{REP}> · 1 done · 8 overdue · 1 due today · 33% complete (30 d)" in texts(blocks)


def test_user_text_is_escaped_everywhere(store, seeded, team):
    team.deal("Evil <!here> & Co", 10_000, berlin(11, 22, 20))
    outcome = {"kind": "win_reason", "reason": "<!channel> @everyone"}
    team.done("Evil <!here> & Co", "win", berlin(11, 22, 21), outcome=outcome)
    text, blocks = digest_message(read(store), team_url=TEAM_URL, tz=BERLIN)
    shown = texts(blocks) + text
    for raw in ("<!channel>", "<!here>", "<b>", "@everyone", " & "):
        assert raw not in shown
    assert "&lt;!channel&gt; budget cut &amp; the &lt;b&gt;reorg&lt;/b&gt;" in shown


def test_an_empty_team_gets_a_short_reassuring_digest(store):
    text, blocks = digest_message(read(store), team_url=TEAM_URL, tz=BERLIN)
    assert "0 buyer signals, 0 deals with follow-ups slipping, 0 at risk" in text
    # each of the three lists states its rule under it, the empty ones too; then the completion footnote
    assert [b["type"] for b in blocks] == ["header", "context"] + ["divider", "section", "context"] * 3 + ["context"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert "Nothing heard from a buyer" in sections[0] and "nothing at stake" in sections[0]
    assert "Nothing slipping right now." in sections[1]
    assert "Nothing at risk" in sections[2]


def test_since_the_last_digest_is_said_in_the_managers_zone(store, seeded):
    _, blocks = digest_message(read(store, since=berlin(11, 20, 8)), team_url=TEAM_URL, tz=ZoneInfo("America/New_York"))
    assert "Since your last digest (Fri Nov 20, 02:00)" in blocks[1]["elements"][0]["text"]


# -- the chart --------------------------------------------------------------------------------------------


def test_the_chart_is_a_png_of_the_weeks():
    weeks = [WeekRate(date(2026, 11, 2), 3, 10), WeekRate(date(2026, 11, 9), 10, 10)]
    png = completion_png(weeks)
    assert png.startswith(PNG_SIGNATURE) and 500 < len(png) < 100_000
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(png)) as image:
        assert image.size == (640, 320)

"""The welcome kit through the real Bolt app: the welcome-kit nudge's button builds a one-page PDF from the team
profile and the deal and shares it once into the deal's thread; who may, a missing profile, photos that can't be
had, Slack failures retried later and never doubled, and the CLI writing the same kit."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils
from PIL import Image

from bot.nudges.dispatch import Pacer
from bot.profile import model as profiles
from bot.profile.model import Member, Sponsor, TeamProfile
from bot.slack.client import posting_client
from bot.welcome.blocks import WELCOME_KIT
from schedules.jobs import dispatch_nudges, share_welcome_kits
from tests import pdfs
from tests.capturing import store_deal
from tests.conftest import CHANNEL, MANAGER, OTHER_REP, REP, TEAM, TOKEN
from tests.test_cli import run_cli

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
LATER = "2027-06-01"
ZOE, DMITRY, ELENI, LEAD = "U0ZOE", "U0DMITRY", "U0ELENI", "U0LEAD"
TEAM_PROFILE = TeamProfile(
    company="Rocket Software",
    exec_sponsor=Sponsor(name="Dana Whitfield", title="CEO"),
    implementation_team=(
        Member(ZOE, "Implementation lead", "Has run three marathons"),
        Member(DMITRY, "Customer success manager", "Bakes sourdough for the whole office"),
        Member(ELENI, "Trainer", "Speaks five languages"),
    ),
)


def photo(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def people(fake):
    """Slack profiles: Zoë's photo is served, Дмитрий's is a 404, Ελένη's URL answers with something not an image."""
    fake.images["zoe.png"] = photo("#2a9d8f")
    fake.images["eleni.png"] = b"<html>not a picture</html>"
    fake.users.update(
        {
            ZOE: {
                "profile": {
                    "real_name": "Zoë Ångström",
                    "title": "Solutions Engineer",
                    "image_192": fake.image_url("zoe.png"),
                }
            },
            DMITRY: {
                "profile": {"real_name": "Дмитрий Иванов", "title": "CSM", "image_192": fake.image_url("gone.png")}
            },
            ELENI: {"profile": {"real_name": "Ελένη Παπαδοπούλου", "image_192": fake.image_url("eleni.png")}},
            REP: {"profile": {"real_name": "Riley Chen", "title": "Account Executive"}},
        }
    )


@pytest.fixture
def profile(coach, people):
    with coach.store.write() as db:
        profiles.replace(db, TEAM, TEAM_PROFILE, source="test", now=MONDAY_10)


@pytest.fixture
def tick(coach):
    client = posting_client(coach.settings)
    return lambda now: dispatch_nudges(coach, client, now, Pacer(sleep=lambda _: None))


@pytest.fixture
def kit_nudge(coach, clock, tick, fake):
    """A deal whose welcome-kit step is posted in the channel; returns (deal id, the deal's message ts)."""
    clock.now = MONDAY_10
    deal = store_deal(
        coach,
        "Acme Rockets $120k contact: Jane Doe, VP Operations persona: economic live: 2027-01-15",
        team_id=TEAM,
        channel_id=CHANNEL,
        user_id=REP,
        capture_key="kit",
    )
    coach.announce(deal.id)
    with coach.store.write() as db:
        db.execute("UPDATE nudges SET due_date = ? WHERE deal_id = ? AND step_id != 'welcome-kit'", [LATER, deal.id])
        db.execute(
            "UPDATE nudges SET due_date = ? WHERE deal_id = ? AND step_id = 'welcome-kit'", ["2026-11-23", deal.id]
        )
    assert len(tick(MONDAY_10).posted) == 1
    return deal.id, coach.get_deal(deal.id).message_ts


def kit_shares(fake) -> list:
    return fake.calls_to("files.completeUploadExternal")


def kits_in_thread(fake, ts: str) -> list[dict]:
    return [m for m in fake.thread(CHANNEL, ts) if m.get("files")]


def ephemeral(fake) -> str:
    params = fake.last("response_url").params
    assert params["response_type"] == "ephemeral" and params["replace_original"] is False
    return params["text"]


def shared_pdf(fake, message: dict) -> bytes:
    [file] = message["files"]
    return fake.files[file["id"]]["content"]


def kit_row(settings) -> dict:
    with sqlite_utils.Database(settings.db_path) as db:
        [row] = list(db["welcome_kits"].rows)
    return row


# -- the button and the kit -------------------------------------------------------------------------------------


def test_only_the_welcome_kit_step_offers_the_button(coach, kit_nudge, fake, tick):
    deal_id, _ = kit_nudge
    [kit_step] = fake.posts_of("dealcoach_nudge")
    [actions] = [b for b in kit_step.params["blocks"] if b["type"] == "actions"]
    kit = [e for e in actions["elements"] if e.get("action_id") == WELCOME_KIT]
    assert [(e["text"]["text"], e["value"]) for e in kit] == [("Welcome kit (PDF)", str(deal_id))]
    with coach.store.write() as db:  # another step falls due: its nudge has no such button, nor has the deal's message
        db.execute(
            "UPDATE nudges SET due_date = '2026-11-23' WHERE deal_id = ? AND step_id = 'congratulate'", [deal_id]
        )
    assert len(tick(MONDAY_10).posted) == 1
    other = fake.posts_of("dealcoach_nudge")[-1]
    assert "Call Jane Doe" in other.params["text"] and WELCOME_KIT not in str(other.params["blocks"])
    [announcement] = fake.posts_of("dealcoach_deal")
    assert WELCOME_KIT not in str(announcement.params["blocks"])


def test_the_button_shares_one_one_page_pdf_naming_the_team_with_photos_in_the_deals_thread(
    kit_nudge, profile, slack, fake, settings
):
    deal_id, thread_ts = kit_nudge
    response = slack.click(WELCOME_KIT, str(deal_id), user=REP)
    assert response.status == 200 and response.body == ""  # acked at once; the kit is built after
    [share] = kit_shares(fake)
    assert share.params["channel_id"] == CHANNEL and share.params["thread_ts"] == thread_ts
    [message] = kits_in_thread(fake, thread_ts)
    assert "welcome kit for *Acme Rockets*" in message["text"] and "<@U0REP>" in message["text"]
    assert message["files"][0]["name"] == "welcome-kit-acme-rockets.pdf"
    page = pdfs.read(shared_pdf(fake, message))
    assert page.pages == 1
    for words in (
        "Rocket Software",
        "Welcome, Acme Rockets",
        "Jane Doe, VP Operations",
        "Zoë Ångström",
        "Дмитрий Иванов",
        "Ελένη Παπαδοπούλου",
        "Has run three marathons",
        "Bakes sourdough for the whole office",
        "Speaks five languages",
        "Riley Chen",  # the rep: the first call for anything
        "Dana Whitfield",
        "Go-live",
        "Jan 15",
    ):
        assert words in page.text, words
    assert page.images == 1  # Zoë's photo; Дмитрий's (404) and Ελένη's (not an image) are initials
    assert "ДИ" in page.text and "ΕΠ" in page.text
    assert "in the deal's thread" in ephemeral(fake)
    assert kit_row(settings)["status"] == "posted"
    assert fake.violations == []


def test_the_page_renders_to_a_picture_that_is_not_blank(kit_nudge, profile, slack, fake):
    deal_id, thread_ts = kit_nudge
    slack.click(WELCOME_KIT, str(deal_id), user=REP)
    [message] = kits_in_thread(fake, thread_ts)
    page = pdfs.read(shared_pdf(fake, message), scale=0.5)
    assert page.png.size == (298, 421)  # A4
    assert 0.1 < pdfs.inked(page.png) < 0.9
    colours = page.png.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50  # a designed page: band, photo, initials, text


def test_a_second_click_shares_nothing_more(kit_nudge, profile, slack, fake):
    deal_id, thread_ts = kit_nudge
    slack.click(WELCOME_KIT, str(deal_id), user=REP)
    slack.click(WELCOME_KIT, str(deal_id), user=MANAGER)
    assert len(kit_shares(fake)) == 1 and len(kits_in_thread(fake, thread_ts)) == 1
    assert "already in the deal's thread. Nothing was sent again" in ephemeral(fake)


def test_the_home_tab_offers_it_too_and_answers_by_dm(kit_nudge, profile, slack, fake):
    from tests.handlers.test_home import home_click, latest, open_home, shown

    deal_id, thread_ts = kit_nudge
    open_home(slack, REP)
    assert f'"action_id": "{WELCOME_KIT}"' in shown(latest(fake, REP))
    home_click(slack, WELCOME_KIT, str(deal_id), user=REP)
    assert len(kits_in_thread(fake, thread_ts)) == 1
    dm = fake.last("chat.postMessage").params  # Home has no response_url: the answer is a DM beside it
    assert dm["channel"] == REP and "is in the deal's thread" in dm["text"]


def test_a_manager_may_send_it_and_anyone_else_is_refused(kit_nudge, profile, slack, fake):
    deal_id, thread_ts = kit_nudge
    slack.click(WELCOME_KIT, str(deal_id), user=OTHER_REP)
    assert ephemeral(fake) == "Only <@U0REP>, who closed this deal, or a manager can send its welcome kit."
    assert fake.calls_to("files.getUploadURLExternal") == []
    slack.click(WELCOME_KIT, str(deal_id), user=MANAGER)
    assert len(kits_in_thread(fake, thread_ts)) == 1


def test_without_a_team_profile_the_button_says_what_to_set_and_where(kit_nudge, people, slack, fake, settings):
    deal_id, _ = kit_nudge
    slack.click(WELCOME_KIT, str(deal_id), user=REP)
    text = ephemeral(fake)
    assert "your company's name and the implementation team" in text
    assert "*Home* tab" in text and "*Team profile*" in text and "`DEALCOACH_TEAM_FILE`" in text
    assert fake.calls_to("files.getUploadURLExternal") == [] and kit_shares(fake) == []
    with sqlite_utils.Database(settings.db_path) as db:
        assert db["welcome_kits"].count == 0  # nothing claimed: once the profile is set, a click makes the kit


def test_a_profile_with_a_company_but_no_team_is_refused_too(coach, kit_nudge, people, slack, fake):
    with coach.store.write() as db:
        profiles.replace(db, TEAM, TeamProfile(company="Rocket Software"), source="test", now=MONDAY_10)
    slack.click(WELCOME_KIT, str(kit_nudge[0]), user=REP)
    text = ephemeral(fake)
    assert "needs the implementation team" in text and "company" not in text.split("needs", 1)[1].split(",")[0]
    assert kit_shares(fake) == []


# -- Slack failures: later, never twice -------------------------------------------------------------------------


def test_a_rate_limited_share_is_retried_later_by_the_scheduler_and_shared_once(
    coach, kit_nudge, profile, slack, fake, settings
):
    deal_id, thread_ts = kit_nudge
    fake.fail("files.completeUploadExternal", status=429, retry_after=120)
    slack.click(WELCOME_KIT, str(deal_id), user=REP)
    text = ephemeral(fake)
    assert "Slack didn't take the welcome kit for *Acme Rockets* just now" in text and "nothing was shared" in text
    assert "I'll try again at 10:02" in text  # Retry-After, in the team's time zone
    assert kits_in_thread(fake, thread_ts) == [] and kit_row(settings)["status"] == "retry"
    assert share_welcome_kits(coach, coach.workspaces, MONDAY_10 + timedelta(minutes=1)).posted == []
    report = share_welcome_kits(coach, coach.workspaces, MONDAY_10 + timedelta(minutes=2))
    assert report.posted == [deal_id]
    assert len(kits_in_thread(fake, thread_ts)) == 1
    assert share_welcome_kits(coach, coach.workspaces, MONDAY_10 + timedelta(hours=1)).posted == []
    assert len(kit_shares(fake)) == 2 and len(kits_in_thread(fake, thread_ts)) == 1
    dm = fake.last("chat.postMessage").params
    assert dm["channel"] == REP and "now in the deal's thread" in dm["text"]


def test_dealcoach_tick_shares_a_waiting_kit_for_cron_deployments(kit_nudge, profile, slack, fake, settings, tmp_path):
    deal_id, thread_ts = kit_nudge
    fake.fail("files.completeUploadExternal", status=429, retry_after=120)
    slack.click(WELCOME_KIT, str(deal_id), user=REP)
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": fake.base_url, "DEALCOACH_DB": str(settings.db_path)}
    result = run_cli("tick", "--now", "2026-11-23T10:05:00+01:00", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "welcome kits: shared 1, retrying 0, unconfirmed 0" in result.stdout
    assert len(kits_in_thread(fake, thread_ts)) == 1 and kit_row(settings)["status"] == "posted"


@pytest.mark.parametrize("stored", [True, False], ids=["slack-kept-it", "slack-lost-it"])
def test_a_share_whose_answer_is_lost_is_looked_for_in_the_thread_before_sharing_again(
    coach, kit_nudge, profile, slack, fake, settings, stored
):
    """A 5xx after Slack shared the kit: found by its file id in the thread, never shared twice. A 5xx before: shared
    once more, by a later run."""
    deal_id, thread_ts = kit_nudge
    fake.fail("files.completeUploadExternal", status=503, stored=stored)
    slack.click(WELCOME_KIT, str(deal_id), user=REP)
    assert "share it only if it isn't there" in ephemeral(fake)
    assert kit_row(settings)["status"] == "unconfirmed" and kit_row(settings)["file_id"]
    share_welcome_kits(coach, coach.workspaces, MONDAY_10 + timedelta(minutes=2))
    assert fake.calls_to("conversations.replies")
    assert len(kits_in_thread(fake, thread_ts)) == 1 and kit_row(settings)["status"] == "posted"
    assert len(kit_shares(fake)) == (1 if stored else 2)


def test_an_upload_that_fails_before_the_share_is_retried_and_nothing_shows_meanwhile(
    coach, kit_nudge, profile, slack, fake, settings
):
    deal_id, thread_ts = kit_nudge
    fake.fail("files.getUploadURLExternal", status=500)
    slack.click(WELCOME_KIT, str(deal_id), user=REP)
    assert "nothing was shared" in ephemeral(fake) and kit_shares(fake) == []
    assert kit_row(settings)["status"] == "retry"
    share_welcome_kits(coach, coach.workspaces, MONDAY_10 + timedelta(minutes=5))
    assert len(kits_in_thread(fake, thread_ts)) == 1


def test_a_kit_claimed_by_a_process_that_died_is_shared_by_the_scheduler_after_its_lease(
    coach, kit_nudge, profile, fake, settings
):
    deal_id, thread_ts = kit_nudge
    with coach.store.write() as db:  # the click's claim, left behind by a process killed before it uploaded
        db.execute(
            "INSERT INTO welcome_kits (deal_id, team_id, channel_id, thread_ts, requested_by, status, attempts, "
            "claimed_at, due_at) VALUES (?, ?, ?, ?, ?, 'sending', 1, ?, ?)",
            [deal_id, TEAM, CHANNEL, thread_ts, REP, "2026-11-23T09:00:00Z", "2026-11-23T09:10:00Z"],
        )
    assert share_welcome_kits(coach, coach.workspaces, MONDAY_10 + timedelta(minutes=5)).posted == []
    assert share_welcome_kits(coach, coach.workspaces, MONDAY_10 + timedelta(minutes=11)).posted == [deal_id]
    assert len(kits_in_thread(fake, thread_ts)) == 1


# -- photos and the CLI -----------------------------------------------------------------------------------------


def test_a_photo_that_cant_be_had_is_none_so_the_kit_draws_initials(fake):
    from bot.welcome import photos

    fake.images["zoe.png"] = photo("#2a9d8f")
    fake.images["page.png"] = b"<html>Sign in</html>"
    assert Image.open(io.BytesIO(photos.fetch(fake.image_url("zoe.png")))).size == (photos.SIZE, photos.SIZE)
    assert photos.fetch(fake.image_url("missing.png")) is None  # 404
    assert photos.fetch(fake.image_url("page.png")) is None  # not an image
    assert photos.fetch("file:///etc/passwd") is None  # only http(s)
    fake.image_delay = 2.0
    assert photos.fetch(fake.image_url("zoe.png"), timeout=0.2) is None  # too slow


def test_the_cli_writes_the_same_kit(kit_nudge, profile, slack, fake, settings, tmp_path):
    deal_id, thread_ts = kit_nudge
    slack.click(WELCOME_KIT, str(deal_id), user=REP)
    [message] = kits_in_thread(fake, thread_ts)
    shared = pdfs.read(shared_pdf(fake, message))
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": fake.base_url, "DEALCOACH_DB": str(settings.db_path)}
    env["DEALCOACH_TIMEZONE"] = "Europe/Berlin"
    result = run_cli("welcome-kit", str(deal_id), "--out", "kit.pdf", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "Wrote kit.pdf: the welcome kit for Acme Rockets" in result.stdout
        and "3 people, 1 with a photo" in result.stdout
    )
    written = pdfs.read((tmp_path / "kit.pdf").read_bytes())
    assert (written.pages, written.images) == (shared.pages, shared.images)
    # the same page, word for word, but for the day it was prepared on (the CLI's today, not the test clock's)
    assert written.text.replace(written.text.split("Operations ", 1)[1].split(" Thank", 1)[0], "") == (
        shared.text.replace(shared.text.split("Operations ", 1)[1].split(" Thank", 1)[0], "")
    )
    default = run_cli("welcome-kit", str(deal_id), env=env, cwd=tmp_path)
    assert default.returncode == 0 and (tmp_path / "welcome-kit-acme-rockets.pdf").exists()


def test_the_cli_says_what_is_missing(kit_nudge, people, fake, settings, tmp_path):
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": fake.base_url, "DEALCOACH_DB": str(settings.db_path)}
    result = run_cli("welcome-kit", str(kit_nudge[0]), env=env, cwd=tmp_path)
    assert result.returncode == 1 and "the team profile needs your company's name" in result.stderr
    assert "DEALCOACH_TEAM_FILE" in result.stderr and "Traceback" not in result.stderr
    unknown = run_cli("welcome-kit", "999", env=env, cwd=tmp_path)
    assert unknown.returncode == 1 and "There is no deal #999." in unknown.stderr
    assert list(tmp_path.glob("*.pdf")) == []


def test_the_scheduler_runs_the_kit_job_every_minute_one_run_at_a_time(coach):
    from apscheduler.triggers.interval import IntervalTrigger

    from schedules import KIT_JOB, build_scheduler

    client = posting_client(coach.settings)
    scheduler = build_scheduler(coach, client)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(KIT_JOB)
        assert job.args == (share_welcome_kits, coach, client)
        assert isinstance(job.trigger, IntervalTrigger) and job.trigger.interval == timedelta(minutes=1)
        assert job.max_instances == 1 and job.coalesce is True
    finally:
        scheduler.shutdown(wait=False)

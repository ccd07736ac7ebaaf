"""Many workspaces through Slack's OAuth installs: each sees, changes and is nudged about its own deals only."""

from __future__ import annotations

import json
import re
import urllib.request
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from slack_sdk.oauth.installation_store import Installation

from bot.coach import Coach
from bot.nudges.dispatch import Pacer
from bot.playbook.loader import load
from handlers import create_app
from schedules.jobs import dispatch_nudges, send_digests
from tests import engines, signing
from tests.slackapp import SlackDriver, body_json

pytestmark = pytest.mark.both_engines  # installations and OAuth state in the SQLite file or in PostgreSQL
ACME, GLOBEX = "T0ACME", "T0GLOBEX"
TOKENS = {ACME: f"xoxb-{ACME}-bot", GLOBEX: f"xoxb-{GLOBEX}-bot"}
ACME_REP, GLOBEX_REP, ACME_MGR, GLOBEX_MGR = "U0ACMEREP", "U0GLOBREP", "U0ACMEMGR", "U0GLOBMGR"
MONDAY_10_BERLIN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def install(coach: Coach, team_id: str) -> None:
    """What a finished OAuth install leaves in the installation store."""
    coach.workspaces.store.save(
        Installation(
            app_id="A0FAKE",
            team_id=team_id,
            team_name=team_id,
            bot_token=TOKENS[team_id],
            bot_id=f"B{team_id}",
            bot_user_id="U0BOT",
            bot_scopes="commands,chat:write",
            user_id="U0INSTALLER",
            installed_at=1700000000.0,
        )
    )


@pytest.fixture
def multi(settings, store, clock, fake, executor, pacer):
    """Deal Coach in OAuth mode with two workspaces installed, each with a rep and a manager."""
    oauth = replace(
        settings,
        slack_bot_token="",
        slack_client_id="111.222",
        slack_client_secret="client-secret",
        managers=(ACME_MGR, GLOBEX_MGR),
    )
    coach = Coach(oauth, store, load(), clock, pacer=pacer)
    for team in (ACME, GLOBEX):
        install(coach, team)
    fake.members = {ACME: {ACME_REP, ACME_MGR}, GLOBEX: {GLOBEX_REP, GLOBEX_MGR}}
    app = create_app(coach, listener_executor=executor)
    return coach, SlackDriver(app, executor, fake)


def tokens_used(fake, method: str) -> list[str]:
    return [c.token for c in fake.calls_to(method) if not c.failed]


def deals(settings) -> list[dict]:
    return engines.rows(settings, "SELECT * FROM deals ORDER BY id")


def test_each_workspace_is_answered_with_its_own_token(multi, fake, settings):
    coach, slack = multi
    slack.command("Acme Rockets $120k", team=ACME, user=ACME_REP, channel="C0ACME")
    slack.command("Globex EUR 50,000", team=GLOBEX, user=GLOBEX_REP, channel="C0GLOBEX")
    posts = {c.params["channel"]: c.token for c in fake.calls_to("chat.postMessage")}
    assert posts == {"C0ACME": TOKENS[ACME], "C0GLOBEX": TOKENS[GLOBEX]}
    assert [(d["team_id"], d["account"]) for d in deals(settings)] == [(ACME, "Acme Rockets"), (GLOBEX, "Globex")]


def test_nudges_go_out_per_workspace_with_that_workspaces_token(multi, fake, settings, clock):
    coach, slack = multi
    clock.now = MONDAY_10_BERLIN
    slack.command("Acme Rockets $120k", team=ACME, user=ACME_REP, channel="C0ACME")
    slack.command("Globex EUR 50,000", team=GLOBEX, user=GLOBEX_REP, channel="C0GLOBEX")
    fake.reset()
    report = dispatch_nudges(coach, coach.workspaces, MONDAY_10_BERLIN, Pacer(sleep=lambda s: None))
    assert len(report.posted) == 2
    by_channel = {c.params["channel"]: c.token for c in fake.calls_to("chat.postMessage")}
    assert by_channel == {"C0ACME": TOKENS[ACME], "C0GLOBEX": TOKENS[GLOBEX]}


def test_one_workspace_can_never_see_or_change_anothers_deals(multi, fake, settings, clock):
    coach, slack = multi
    clock.now = MONDAY_10_BERLIN
    slack.command("Initrode Labs $120k", team=ACME, user=ACME_REP, channel="C0ACME")
    acme = deals(settings)[0]
    dispatch_nudges(coach, coach.workspaces, MONDAY_10_BERLIN, Pacer(sleep=lambda s: None))
    [nudge] = engines.rows(settings, "SELECT * FROM nudges WHERE deal_id = ? AND status = 'posted'", [acme["id"]])
    fake.reset()

    # A Globex user (even one whose id matches nothing in Acme) tries Acme's buttons and lists.
    slack.click("open_deal_details", str(acme["id"]), user=GLOBEX_REP, team=GLOBEX)
    slack.click("deal_cancel", str(acme["id"]), user=GLOBEX_MGR, team=GLOBEX)
    slack.click("nudge_done", str(nudge["id"]), user=GLOBEX_MGR, team=GLOBEX)
    assert fake.calls_to("views.open") == [] and fake.calls_to("chat.update") == []
    replies = [c.params["text"] for c in fake.calls_to("response_url")]
    assert len(replies) == 3 and all("can't find" in r for r in replies)
    listed = json.dumps(body_json(slack.command("list", team=GLOBEX, user=GLOBEX_REP)))
    assert "Initrode" not in listed and "no open deals" in listed
    assert engines.rows(settings, "SELECT status FROM deals WHERE id = ?", [acme["id"]]) == [{"status": "open"}]
    assert engines.rows(settings, "SELECT status FROM nudges WHERE id = ?", [nudge["id"]]) == [{"status": "posted"}]

    # The Globex manager's Home tab shows nothing of Acme's.
    slack._dispatch(
        signing.event_body({"type": "app_home_opened", "user": GLOBEX_MGR, "tab": "home"}, team_id=GLOBEX), signing.JSON
    )
    [publish] = fake.calls_to("views.publish")
    assert publish.token == TOKENS[GLOBEX] and "Initrode" not in json.dumps(publish.params["view"])


@pytest.mark.parametrize(
    "event",
    [{"type": "app_uninstalled"}, {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0BOT"]}}],
    ids=["app_uninstalled", "tokens_revoked"],
)
def test_an_uninstall_stops_that_workspaces_nudges_only_and_a_reinstall_resumes_them(
    multi, fake, settings, clock, server_for, event
):
    coach, slack = multi
    clock.now = MONDAY_10_BERLIN
    slack.command("Acme Rockets $120k", team=ACME, user=ACME_REP, channel="C0ACME")
    slack.command("Globex EUR 50,000", team=GLOBEX, user=GLOBEX_REP, channel="C0GLOBEX")
    response = slack._dispatch(signing.event_body(event, team_id=ACME), signing.JSON)
    assert response.status == 200
    assert coach.workspaces.store.find_bot(enterprise_id=None, team_id=ACME) is None
    fake.reset()

    tick = dispatch_nudges(coach, coach.workspaces, MONDAY_10_BERLIN, Pacer(sleep=lambda s: None))
    assert [c.params["channel"] for c in fake.calls_to("chat.postMessage")] == ["C0GLOBEX"]
    assert len(tick.posted) == 1
    acme_steps = {
        n["status"]
        for n in engines.rows(
            settings, "SELECT n.status FROM nudges n JOIN deals d ON d.id = n.deal_id WHERE d.team_id = ?", [ACME]
        )
    }
    assert acme_steps == {"planned"}  # kept, not dropped

    fake.oauth_team = {"id": ACME, "name": "Acme"}
    reinstall(server_for(slack.app))
    fake.reset()
    later = MONDAY_10_BERLIN.replace(minute=5)
    dispatch_nudges(coach, coach.workspaces, later, Pacer(sleep=lambda s: None))
    [post] = fake.calls_to("chat.postMessage")
    assert post.params["channel"] == "C0ACME" and post.token == f"xoxb-{ACME}-installed"


def reinstall(base_url: str) -> None:
    """Slack's install flow as a browser goes through it: the install page, then Slack's redirect back."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{base_url}/slack/install", timeout=10) as page:
        html = page.read().decode()
        cookie = page.headers["Set-Cookie"].split(";")[0]  # Secure: a browser sends it back over HTTPS only
    assert "slack.com/oauth/v2/authorize" in html and "client_id=111.222" in html
    state = re.search(r"state=([\w-]+)", html).group(1)
    redirect = urllib.request.Request(
        f"{base_url}/slack/oauth_redirect?code=the-code&state={state}", headers={"Cookie": cookie}
    )
    with opener.open(redirect, timeout=10) as done:
        assert done.status == 200


def test_the_oauth_install_stores_the_workspace_in_the_bots_own_database(multi, fake, settings, server_for):
    coach, slack = multi
    fake.oauth_team = {"id": "T0NEWCO", "name": "NewCo"}
    reinstall(server_for(slack.app))
    bot = coach.workspaces.store.find_bot(enterprise_id=None, team_id="T0NEWCO")
    assert bot is not None and bot.bot_token == "xoxb-T0NEWCO-installed"
    installed = engines.rows(settings, "SELECT team_id, bot_token FROM slack_bots WHERE team_id = 'T0NEWCO'")
    assert installed == [{"team_id": "T0NEWCO", "bot_token": "xoxb-T0NEWCO-installed"}]
    assert engines.rows(settings, "SELECT active FROM workspaces WHERE team_id = 'T0NEWCO'") == [{"active": 1}]
    [access] = fake.calls_to("oauth.v2.access")
    assert access.params["code"] == "the-code"


def test_each_manager_gets_the_digest_of_their_own_workspace_once(multi, fake, settings, clock):
    coach, slack = multi
    clock.now = MONDAY_10_BERLIN
    slack.command("Acme Rockets $120k", team=ACME, user=ACME_REP, channel="C0ACME")
    slack.command("Globex EUR 50,000", team=GLOBEX, user=GLOBEX_REP, channel="C0GLOBEX")
    fake.users = {ACME_MGR: {"tz": "Europe/Berlin"}, GLOBEX_MGR: {"tz": "Europe/Berlin"}}
    fake.reset()
    for minute in (0, 1, 2):
        send_digests(coach, coach.workspaces, datetime(2026, 11, 24, 8, minute, tzinfo=UTC))  # 09:00 Berlin
    dms = {c.params["channel"]: c for c in fake.calls_to("chat.postMessage")}
    assert set(dms) == {ACME_MGR, GLOBEX_MGR}
    assert dms[ACME_MGR].token == TOKENS[ACME] and dms[GLOBEX_MGR].token == TOKENS[GLOBEX]
    assert "Acme Rockets" in dms[ACME_MGR].params["text"] + json.dumps(dms[ACME_MGR].params["blocks"])
    assert "Globex" not in json.dumps(dms[ACME_MGR].params["blocks"])
    assert "Acme" not in json.dumps(dms[GLOBEX_MGR].params["blocks"])


def test_in_oauth_mode_a_digest_slack_stored_before_answering_500_is_sent_once(multi, fake, settings, clock):
    """The job's own per-workspace client, as `serve` and `dealcoach digest` use it: it never repeats the post, and
    the next run finds the digest in the manager's DM."""
    coach, slack = multi
    clock.now = MONDAY_10_BERLIN
    slack.command("Acme Rockets $120k", team=ACME, user=ACME_REP, channel="C0ACME")
    fake.users = {ACME_MGR: {"tz": "Europe/Berlin"}, GLOBEX_MGR: {"tz": "Europe/Berlin"}}
    fake.fail("chat.postMessage", status=500, stored=True)
    for minute in (0, 1, 2):
        now = datetime(2026, 11, 24, 8, minute, tzinfo=UTC)  # 09:00 Berlin
        fake.epoch = now.timestamp()
        send_digests(coach, coach.workspaces, now)
    held = Counter(channel for (channel, _), m in fake.messages.items() if is_digest(m))
    assert held == {f"D{ACME_MGR}": 1}  # Globex has no deals yet: no digest
    assert [c.token for c in fake.calls_to("chat.postMessage") if is_digest(c.params)] == [TOKENS[ACME]]
    assert [c.params["channel"] for c in fake.calls_to("conversations.history")] == [f"D{ACME_MGR}"]


def is_digest(message: dict) -> bool:
    return (message.get("metadata") or {}).get("event_type") == "dealcoach_digest"


def test_oauth_settings_need_the_client_secret_and_refuse_a_bot_token_too():
    from bot.settings import Settings, SettingsError

    with pytest.raises(SettingsError) as err:
        Settings.from_env({"SLACK_CLIENT_ID": "1.2", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    assert "SLACK_CLIENT_SECRET" in str(err.value) and "not both" in str(err.value)
    ok = Settings.from_env({"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "c", "SLACK_SIGNING_SECRET": "s"})
    assert ok.oauth and "client_secret" not in repr(ok)

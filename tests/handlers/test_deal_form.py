"""The deal form: inline errors, saving a new deal, and "Add details" editing with owner/manager rights."""

from __future__ import annotations

import json

import pytest
import sqlite_utils

from tests.conftest import CHANNEL, MANAGER, OTHER_REP, REP
from tests.slackapp import body_json, form


def rows(settings, table):
    with sqlite_utils.Database(settings.db_path) as db:
        return list(db[table].rows_where(order_by="id"))


def open_form(slack, fake) -> dict:
    slack.command("")
    return fake.last("views.open").params["view"]


def test_a_valid_form_stores_the_deal_and_posts_in_the_channel_it_came_from(slack, fake, settings):
    view = open_form(slack, fake)
    response = slack.submit(
        view,
        form(
            "Globex",
            "EUR 50,000",
            contact="Hank Scorpio",
            title="CEO",
            persona="economic",
            closed="2026-11-20",
            live="2027-01-15",
            lead="U0LEAD",
            why="They want to ship faster\nand cheaper",
        ),
    )
    assert response.status == 200
    assert body_json(response) == {}  # the modal closes
    [deal] = rows(settings, "deals")
    assert (deal["account"], deal["amount"], deal["currency"]) == ("Globex", "50000.00", "EUR")
    assert (deal["close_date"], deal["go_live_date"], deal["impl_lead_id"]) == ("2026-11-20", "2027-01-15", "U0LEAD")
    assert deal["why_bought"] == "They want to ship faster and cheaper"
    assert deal["channel_id"] == CHANNEL and deal["owner_id"] == REP
    activation = [n for n in rows(settings, "nudges") if n["step_id"] == "activation-check-in"]
    assert activation[0]["due_date"] == "2027-01-15"  # timed from go-live
    post = fake.last("chat.postMessage")
    assert post.params["channel"] == CHANNEL
    shown = json.dumps(post.params["blocks"], ensure_ascii=False)
    assert "€50,000" in shown and "Hank Scorpio, CEO (economic buyer)" in shown and "<@U0LEAD>" in shown
    assert "They want to ship faster and cheaper" in shown
    assert fake.violations == []


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        (form("", "$5k"), {"account"}),
        (form(None, None), {"account", "amount"}),
        (form("Acme", "lots"), {"amount"}),
        (form("Acme", "$5k $6k"), {"amount"}),
        (form("Acme", "-5000"), {"amount"}),
        (form("Acme", "$5k", closed="2026-12-01"), {"close_date"}),
        (form("Acme", "$5k", closed="2024-01-01"), {"close_date"}),
        (form("Acme", "$5k", closed="2026-11-20", live="2026-11-01"), {"go_live_date"}),
        (form("A" * 201, "$5k"), {"account"}),
        (form("Acme\u202e", "$5k"), {"account"}),
    ],
)
def test_invalid_fields_come_back_inline_and_nothing_is_stored(slack, fake, settings, values, errors):
    view = open_form(slack, fake)
    response = slack.submit(view, values)
    body = body_json(response)
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == errors
    assert all(body["errors"].values())
    assert rows(settings, "deals") == [] and rows(settings, "nudges") == []
    assert fake.calls_to("chat.postMessage") == []


def test_submitting_the_same_form_twice_stores_and_posts_once(slack, fake, settings):
    view = open_form(slack, fake)
    slack.submit(view, form("Acme", "$5k"), view_id="V0SAME")
    slack.submit(view, form("Acme", "$5k"), view_id="V0SAME")
    assert len(rows(settings, "deals")) == 1
    assert len(fake.calls_to("chat.postMessage")) == 1


def capture(slack, fake, settings, text="Acme Rockets $120k contact: Jane Doe") -> dict:
    slack.command(text)
    return rows(settings, "deals")[-1]


def test_add_details_opens_the_form_prefilled_for_the_owner(slack, fake, settings):
    deal = capture(slack, fake, settings)
    slack.click("open_deal_details", str(deal["id"]), user=REP)
    view = fake.last("views.open").params["view"]
    values = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert values["account"]["initial_value"] == "Acme Rockets"
    assert values["amount"]["initial_value"] == "$120,000"
    assert values["contact_name"]["initial_value"] == "Jane Doe"
    assert values["close_date"]["initial_date"] == "2026-11-23"
    assert json.loads(view["private_metadata"]) == {"channel": CHANNEL, "deal": deal["id"]}
    assert view["title"]["text"] == "Edit deal"
    assert fake.violations == []


def test_add_details_by_someone_else_is_refused_privately(slack, fake, settings):
    deal = capture(slack, fake, settings)
    slack.click("open_deal_details", str(deal["id"]), user=OTHER_REP)
    assert fake.calls_to("views.open") == []
    reply = fake.last("response_url").params
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    assert f"Only <@{REP}>" in reply["text"]


def test_a_manager_may_edit_any_deal(slack, fake, settings):
    deal = capture(slack, fake, settings)
    slack.click("open_deal_details", str(deal["id"]), user=MANAGER)
    assert fake.last("views.open").params["view"]["title"]["text"] == "Edit deal"


def test_editing_updates_the_deal_replans_pending_steps_and_refreshes_the_message(slack, fake, settings):
    deal = capture(slack, fake, settings)
    with sqlite_utils.Database(settings.db_path) as db:
        db.execute("UPDATE nudges SET status = 'done' WHERE deal_id = ? AND step_id = 'congratulate'", [deal["id"]])
    slack.click("open_deal_details", str(deal["id"]))
    view = fake.last("views.open").params["view"]
    slack.submit(view, form("Acme Rockets", "$150k", contact="Jane Doe", persona="technical", live="2027-02-01"))

    [updated] = rows(settings, "deals")
    assert (updated["amount"], updated["persona"], updated["go_live_date"]) == ("150000.00", "technical", "2027-02-01")
    nudges = {n["step_id"]: n for n in rows(settings, "nudges")}
    assert nudges["congratulate"]["status"] == "done"
    assert nudges["activation-check-in"]["due_date"] == "2027-02-01"
    update = fake.last("chat.update")
    assert update.params["ts"] == deal["message_ts"] and update.params["channel"] == CHANNEL
    assert "$150,000" in update.params["text"]
    assert len(fake.calls_to("chat.postMessage")) == 1  # edited in place, not posted again
    assert fake.violations == []


def test_someone_else_cannot_save_edits_even_with_a_crafted_form(slack, fake, settings):
    deal = capture(slack, fake, settings)
    slack.click("open_deal_details", str(deal["id"]))
    view = fake.last("views.open").params["view"]
    response = slack.submit(view, form("Hijacked", "$1"), user=OTHER_REP)
    body = body_json(response)
    assert body["response_action"] == "errors" and "Only" in body["errors"]["account"]
    assert rows(settings, "deals")[0]["account"] == "Acme Rockets"
    assert fake.calls_to("chat.update") == []


def test_a_deal_from_another_workspace_cannot_be_opened(slack, fake, settings):
    deal = capture(slack, fake, settings)
    slack.click("open_deal_details", str(deal["id"]), user=REP, team="T0OTHER")
    assert fake.calls_to("views.open") == []
    assert "can't find" in fake.last("response_url").params["text"]

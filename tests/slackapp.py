"""Driving the real Bolt app with genuinely signed requests, as Slack would."""

from __future__ import annotations

import json

from slack_bolt import App
from slack_bolt.response import BoltResponse

from tests import signing
from tests.conftest import CHANNEL, REP, SECRET, TEAM, TrackingExecutor


class SlackDriver:
    """Sends signed requests to an App and waits for its lazy listeners, so tests assert on what Slack got."""

    def __init__(self, app: App, executor: TrackingExecutor, fake):
        self.app = app
        self.executor = executor
        self.fake = fake

    def _dispatch(self, body: str, content_type: str) -> BoltResponse:
        response = self.app.dispatch(signing.bolt_request(body, SECRET, content_type=content_type))
        self.executor.drain()
        return response

    def command(self, text: str = "", *, user: str = REP, channel: str = CHANNEL, team: str = TEAM) -> BoltResponse:
        body = signing.command_body(
            text=text, user_id=user, channel_id=channel, team_id=team, response_url=self.fake.response_url("cmd")
        )
        return self._dispatch(body, signing.FORM)

    def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str = REP,
        channel: str = CHANNEL,
        team: str = TEAM,
        message_ts: str = "1700000000.000100",
    ) -> BoltResponse:
        payload = signing.block_action_payload(
            action_id,
            value,
            user_id=user,
            channel_id=channel,
            team_id=team,
            message_ts=message_ts,
            response_url=self.fake.response_url("action"),
        )
        return self._dispatch(signing.interaction_body(payload), signing.FORM)

    def pick(self, action_id: str, block_id: str, picked: dict, *, user: str = REP, team: str = TEAM) -> BoltResponse:
        """Pick from a select menu in an actions block (a nudge's snooze or reassign), as Slack sends it."""
        payload = signing.block_action_payload(
            action_id,
            user_id=user,
            team_id=team,
            channel_id=CHANNEL,
            response_url=self.fake.response_url("action"),
            block_id=block_id,
            action=picked,
        )
        return self._dispatch(signing.interaction_body(payload), signing.FORM)

    def submit(self, view: dict, values: dict, *, user: str = REP, team: str = TEAM, view_id: str | None = None):
        """Submit a view we opened earlier, with form values keyed by block_id (plain strings for text inputs)."""
        payload = signing.view_submission_payload(
            view["callback_id"],
            values,
            private_metadata=view.get("private_metadata", ""),
            user_id=user,
            team_id=team,
            view_id=view_id,
            opened=view,
        )
        return self._dispatch(signing.interaction_body(payload), signing.FORM)


def body_json(response: BoltResponse) -> dict:
    return json.loads(response.body) if response.body else {}


def form(
    account: str | None = "Acme Rockets",
    amount: str | None = "$120k",
    *,
    contact: str | None = None,
    title: str | None = None,
    persona: str | None = None,
    closed: str | None = None,
    live: str | None = None,
    lead: str | None = None,
    why: str | None = None,
) -> dict:
    """Modal state values shaped as Slack sends them for the deal form."""
    from bot.deals import forms
    from bot.slack.blocks import VALUE

    def text(value):
        return {VALUE: {"type": "plain_text_input", "value": value}}

    persona_option = {"text": {"type": "plain_text", "text": persona}, "value": persona} if persona else None
    return {
        forms.ACCOUNT: text(account),
        forms.AMOUNT: text(amount),
        forms.CONTACT_NAME: text(contact),
        forms.CONTACT_TITLE: text(title),
        forms.PERSONA: {VALUE: {"type": "static_select", "selected_option": persona_option}},
        forms.CLOSE_DATE: {VALUE: {"type": "datepicker", "selected_date": closed}},
        forms.GO_LIVE: {VALUE: {"type": "datepicker", "selected_date": live}},
        forms.IMPL_LEAD: {VALUE: {"type": "users_select", "selected_user": lead}},
        forms.WHY: text(why),
    }

"""The welcome kit's button, the words around the shared file, and every private answer a click can get."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.deals.model import Deal
from bot.slack.blocks import button
from bot.slack.posting import PACED
from bot.slack.text import channel_link, escape, inert, mention
from bot.welcome.ledger import KitRow

WELCOME_KIT = "welcome_kit"  # the button's action id; its value is the deal id
WELCOME_KIT_STEP = "welcome-kit"  # the playbook step whose nudge offers the button
SET_UP_WHERE = (
    "A manager sets it up on Deal Coach's *Home* tab (*Team profile* › *Set up team profile*, or *Edit team "
    "profile*), or your admin points `DEALCOACH_TEAM_FILE` at a team file like `team.example.toml`."
)


def kit_button(deal_id: int) -> dict:
    return button(WELCOME_KIT, "Welcome kit (PDF)", str(deal_id))


def offers_kit(step_id: str) -> bool:
    """Whether a nudge for this playbook step carries the Welcome kit button."""
    return step_id == WELCOME_KIT_STEP


def file_title(deal: Deal) -> str:
    return f"Welcome kit – {inert(deal.account)}"[:200]


def file_name(deal: Deal) -> str:
    """welcome-kit-acme-rockets.pdf: ASCII, so every mail client and file system takes it as it is."""
    ascii_name = unicodedata.normalize("NFKD", inert(deal.account)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")
    return f"welcome-kit-{slug or f'deal-{deal.id}'}.pdf"


def share_comment(deal: Deal, company: str) -> str:
    """The words above the PDF in the deal's thread."""
    contact = deal.fields.contact_name
    to = f"forward it to {escape(contact)}" if contact else "forward it to the buyer"
    return (
        f":page_facing_up: The welcome kit for *{escape(deal.account)}*: {escape(company)}'s team with their photos, "
        f"what happens next and who to call for what. {mention(deal.owner_id)}, check it, then {to}."
    )


def no_profile_text(missing: str) -> str:
    return (
        f"There's no welcome kit to make yet: the team profile needs {missing}, and a kit without them would be "
        f"empty. {SET_UP_WHERE} Then click *Welcome kit* again."
    )


def not_allowed_text(deal: Deal) -> str:
    return f"Only {mention(deal.owner_id)}, who closed this deal, or a manager can send its welcome kit."


def no_thread_text(deal: Deal) -> str:
    return (
        f"The deal's message for *{escape(deal.account)}* isn't in {channel_link(deal.channel_id)} yet, so the kit "
        "has no thread to go in. Click again once it's there (in a private channel, `/invite @Deal Coach` first)."
    )


def closed_deal_text(deal: Deal) -> str:
    what = "deleted" if deal.deleted else "cancelled"
    return f"*{escape(deal.account)}* was {what}, so there's no welcome kit to send."


def _at(moment: str | datetime, tz: ZoneInfo) -> str:
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return f"{when.astimezone(tz):%H:%M}"


def already_text(deal: Deal, row: KitRow, tz: ZoneInfo) -> str:
    """A click on a deal whose kit is shared, or on its way: nothing is sent twice."""
    account = escape(deal.account)
    if row.status == "posted":
        return f"The welcome kit for *{account}* is already in the deal's thread. Nothing was sent again."
    if row.status == "retry":
        return (
            f"The welcome kit for *{account}* is waiting for Slack: I'll try again at {_at(row.due_at, tz)} and share "
            "it in the deal's thread. No need to click again."
        )
    if row.status == "dropped":
        return closed_deal_text(deal)
    return f"The welcome kit for *{account}* is on its way to the deal's thread. No need to click again."


def shared_text(deal: Deal) -> str:
    return (
        f"The welcome kit for *{escape(deal.account)}* is in the deal's thread in {channel_link(deal.channel_id)}: "
        "check it there, then forward it to the buyer."
    )


def delayed_text(deal: Deal, error: str, at: datetime, tz: ZoneInfo) -> str:
    if error == PACED:  # held back by Slack's posting pace, not refused
        return (
            f"The deal's channel is busy just now, so the welcome kit for *{escape(deal.account)}* waits its turn. "
            f"I'll share it at {_at(at, tz)} in the deal's thread; no need to click again."
        )
    return (
        f"Slack didn't take the welcome kit for *{escape(deal.account)}* just now (`{escape(error)}`), so nothing "
        f"was shared. I'll try again at {_at(at, tz)} and put it in the deal's thread; no need to click again."
    )


def failed_text(deal: Deal, at: datetime, tz: ZoneInfo) -> str:
    return (
        f"Something went wrong while making the welcome kit for *{escape(deal.account)}* (it's in the log), so nothing "
        f"was shared. I'll try again at {_at(at, tz)} and put it in the deal's thread."
    )


def unconfirmed_text(deal: Deal) -> str:
    return (
        f"Slack didn't confirm the welcome kit for *{escape(deal.account)}*. I'll look in the deal's thread in a "
        "minute and share it only if it isn't there, so it never shows up twice."
    )


def late_shared_text(deal: Deal) -> str:
    """A DM to whoever clicked, once a kit that had to wait for Slack is in the thread."""
    return (
        f"The welcome kit for *{escape(deal.account)}* is now in the deal's thread in {channel_link(deal.channel_id)}"
        " (Slack took it on a later try)."
    )

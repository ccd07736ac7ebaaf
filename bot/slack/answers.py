"""The answers every feature gives when a request changed nothing because something failed on our side: the
database couldn't take it, or Slack couldn't open a form. One wording everywhere: "I couldn't do that just now:
<what happened>. Nothing was saved." then what to do, which depends only on where the answer shows."""

from __future__ import annotations

from bot.slack.blocks import section
from bot.slack.text import escape

NOTHING_SAVED = "Nothing was saved."
CLICK_AGAIN = "Click the button again in a moment."
ONCE_FIXED = "once that is fixed"  # a removed database file or a full disk: trying again can't help before


def _couldnt(problem: str) -> str:
    return f"I couldn't do that just now: {escape(problem)}. {NOTHING_SAVED}"


def not_saved_message(problem: str, command: str, *, retry: bool) -> tuple[str, list[dict]]:
    """The answer to a command the database couldn't take: nothing was wrong with what the user typed, so it is
    given back to send again (now, or once an admin has fixed what only an admin can)."""
    when = "Send it again in a moment" if retry else f"Send it again {ONCE_FIXED}"
    text = f"{_couldnt(problem)} {when}: {escape(command)}"
    blocks = [
        section(f":warning: {_couldnt(problem)}"),
        section(f"{when}, as you typed it:\n`{escape(command)}`"),
    ]
    return text, blocks


def not_saved_text(problem: str, *, retry: bool) -> str:
    """The same answer to a click (from a channel message or the Home tab)."""
    then = CLICK_AGAIN if retry else f"It will work again {ONCE_FIXED}."
    return f"{_couldnt(problem)} {then}"


def form_not_saved_text(problem: str, button: str | None, *, retry: bool) -> str:
    """The same answer inline in a form, which stays open with what was typed (plain text: no markup)."""
    then = f"Press {button or 'Save'} again in a moment." if retry else f"Press {button or 'Save'} {ONCE_FIXED}."
    return f"{problem[:1].upper()}{problem[1:]}. {NOTHING_SAVED} {then}"


def form_failed_text(code: str, status: int, again: str = CLICK_AGAIN) -> str:
    """Why a form didn't open (Slack's error `code`, the HTTP `status`, 0 without an answer) and what to do
    instead (`again`, mrkdwn we wrote)."""
    if code == "expired_trigger_id":
        why = "Slack gives a form three seconds to open, and that time ran out"
    elif not status:
        why = "Slack didn't answer in time"
    elif status >= 500 or status == 429:
        why = f"Slack had a problem on its side (HTTP {status})"
    elif code and len(code) <= 60 and code.replace("_", "").isalnum():
        why = f"Slack refused it ({code})"
    else:  # an error page instead of Slack's JSON
        why = f"Slack sent back an error page (HTTP {status})"
    return f":warning: I couldn't open the form: {why}. {NOTHING_SAVED} {again}"

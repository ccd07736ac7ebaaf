"""A deal's messages and forms (pure: data in, text and blocks out), so the capture, its buttons and its modals read
the same from the command, the form and the Home tab."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from datetime import date, datetime, tzinfo

from bot.deals import forms
from bot.deals.capture import EXAMPLE, FULL_EXAMPLE, PERSONAS, example_date
from bot.deals.model import Deal, DealFields, Nudge
from bot.playbook.hours import due_day, first_business_day
from bot.playbook.loader import STAGE_LABEL
from bot.playbook.render import facts, render
from bot.signals.blocks import deal_signal_buttons
from bot.slack.blocks import (
    MESSAGE_BLOCKS,
    button,
    context,
    header,
    input_block,
    modal,
    option,
    pack_lines,
    section,
    text_input,
)
from bot.slack.forms import metadata_dict
from bot.slack.ids import is_user_id
from bot.slack.text import bold, escape, local_date, mention, plain, truncate
from bot.timestamps import parse_stamp

ADD_DETAILS = "open_deal_details"
MARK_SIGNED, MARK_LIVE, CANCEL_DEAL = "deal_mark_signed", "deal_mark_live", "deal_cancel"
DELETE_DEAL = "deal_delete"
CLAIM_DEAL = "deal_claim"  # a deal from a CRM whose owner wasn't found in Slack: "Claim it"
CHANGE_OWNER, OWNER_MODAL = "deal_change_owner", "deal_owner"  # a manager hands a CRM deal to someone else
CRM_NAMES = {"salesforce": "Salesforce", "hubspot": "HubSpot", "pipedrive": "Pipedrive"}
CHECK_READINESS = "deal_readiness"  # a verbal yes's reason-to-believe checklist (bot.health.readiness)
CAPTURE_ANYWAY, LEAVE_CAPTURE = "capture_anyway", "capture_leave"  # the answers to "looks like a repeat"
LIVE_MODAL, CANCEL_MODAL = "deal_live", "deal_cancel"
SEE_PLAN, PLAN_MODAL = "deal_see_plan", "deal_plan"  # the whole plan, one click from the deal's short message
STATUS_MARK = {
    "done": "✅",
    "skipped": "⏭️",
    "cancelled": "✖️",
    "undeliverable": "⚠️",
    "paused": "⏸️",
    "held": "⏸️",
    "missed": "⌛",
}


def help_message(command: str = "/closed-deal", *, today: date) -> tuple[str, list[dict]]:
    """The syntax and examples; dates in them are relative to `today`, so copying an example always works."""
    text = f"How to use {command}: `{EXAMPLE}`, or `{command}` alone to open a form."
    blocks = [
        header("Capture a closed deal"),
        section(
            "Right after a deal closes, tell me about it here and I'll plan the follow-ups that turn a "
            "new customer into a loyal one: thank-you note, next steps, win analysis, check-ins."
        ),
        section(
            "*Quick capture*: the account, then the amount\n"
            f"`{EXAMPLE}`\n`/closed-deal Globex EUR 50,000`\n`/closed-deal Initech 1.2M`\n\n"
            "*Add details* (all optional, in any order after the amount)\n"
            f"`{FULL_EXAMPLE} live: {example_date(today):%Y-%m-%d}`\n"
            "• `contact:` name, then a comma and their title\n"
            "• `persona:` economic, technical, champion or other\n"
            "• `live:` the expected go-live date, as YYYY-MM-DD\n"
            "• `verbal` right after the amount when they said yes but haven't signed: "
            "`/closed-deal Acme Rockets $120k verbal`"
        ),
        section(
            f"*The full form*: type `{command}` with nothing after it.\n"
            f"*Your open deals*: `{command} list`.\n"
            "Amounts: `$120k`, `120,000`, `1.2M`, `€50k`, `USD 5000`, `£8,500.50`."
        ),
    ]
    return text, blocks


def error_message(problem: str, example: str) -> tuple[str, list[dict]]:
    """An ephemeral answer to bad input: what is wrong, then a correct example to copy."""
    text = f"{escape(problem)} Try: {escape(example)}"
    blocks = [
        section(f":warning: {escape(problem)}"),
        section(f"Try it like this:\n`{escape(example)}`"),
        context("Type `/closed-deal help` for all the options, or `/closed-deal` alone for a form."),
    ]
    return text, blocks


def _deal_line(fields: DealFields) -> str:
    """The deal in as few lines as it takes: the account and amount, who signed, go-live and the implementation
    lead, each joined to the line before while they fit one screen line."""
    parts = [f"{bold(fields.account)} · {fields.money.format()}"]
    if fields.contact_name:
        who = escape(fields.contact_name)
        if fields.contact_title:
            who += f", {escape(fields.contact_title)}"
        if fields.persona != "other":
            who += f" ({PERSONAS[fields.persona]})"
        parts.append(f"Contact: {who}")
    elif fields.persona != "other":
        parts.append(f"Buyer: {PERSONAS[fields.persona]}")
    if fields.go_live_date:
        parts.append(f"Go-live: {fields.go_live_date:%a %b %-d, %Y}")
    if fields.impl_lead_id:
        parts.append(f"Implementation lead: {mention(fields.impl_lead_id)}")
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + 3 + len(part) <= LINE:
            lines[-1] += f" · {part}"
        else:
            lines.append(part)
    return "\n".join(lines)


def timeline_lines(deal: Deal, nudges: list[Nudge]) -> list[str]:
    """The whole plan, a line a step: its mark, the day it comes up (never a weekend), its stage and title."""
    values = facts(deal.fields, owner_id=deal.owner_id)
    close = deal.fields.close_date
    return [
        f"{STATUS_MARK.get(n.status, '•')} *{due_day(n.due_date)}* (day {(first_business_day(n.due_date) - close).days})"
        f" · {STAGE_LABEL[n.stage]} · {render(n.title, values)}"
        for n in nudges
    ]


TO_COME = ("planned", "sending", "posted", "undeliverable", "held", "paused")  # the steps still ahead of the deal
SETTLED = (("done", "done"), ("skipped", "skipped"), ("missed", "missed"))  # what the summary counts, in its order
LINE, BUDGET = 80, 12  # characters a line as a channel shows them; the announcement's lines, like a nudge's
WHY_LINES = 2  # of the budget, for why they bought (the whole of it is in See the plan)


def screen_lines(blocks: list[dict]) -> int:
    """How many lines `blocks` take on screen: each text line wrapped at LINE characters; a header or a row of
    buttons is one line."""
    lines = 0
    for block in blocks:
        if block["type"] in ("header", "actions"):
            lines += 1
        texts = [block["text"]["text"]] if block["type"] == "section" else []
        texts += [e["text"] for e in block.get("elements", [])] if block["type"] == "context" else []
        texts = [LINK.sub(r"<\1>", text) for text in texts]  # a link's address isn't on screen, its label is
        lines += sum(len(textwrap.wrap(line, LINE)) or 1 for text in texts for line in text.split("\n"))
    return lines


LINK = re.compile(r"<[^<>|]*\|([^<>]*)>")  # a link or a date, as Slack shows it: its label


def _one_line(text: str, width: int = LINE) -> str:
    """`text` cut at a word to one screen line, with an ellipsis when anything was left out."""
    kept = textwrap.wrap(text, width - 1)
    return text if len(kept) <= 1 else kept[0] + "…"


def _opening(text: str, lines: int, width: int = LINE) -> str:
    kept = textwrap.wrap(text, width - 1)
    return text if len(kept) <= lines else " ".join(kept[:lines]) + "…"


def plan_summary(
    deal: Deal, nudges: list[Nudge], *, room: int = 2, worth: Callable[[Nudge], bool] | None = None
) -> str:
    """The plan in a few lines for the channel: the next step (and the one after when `room` allows, a line each),
    then what is done so far and how many more, by when; the rest is in See the plan. `worth(step)`: whether a step
    is still worth doing as of the redraw (one past its window is missed, never "Next"); None: every open step."""
    values = facts(deal.fields, owner_id=deal.owner_id)
    ahead = [n for n in nudges if n.status in TO_COME]
    upcoming = [n for n in ahead if n.actionable and (worth is None or worth(n))] if not deal.cancelled else []
    lines = [
        _one_line(f"*{label}:* {due_day(n.due_date)} · {render(n.title, values)}")
        for label, n in zip(("Next", "Then"), upcoming[: max(room - 1, 1)], strict=False)
    ]
    counts = {status: sum(n.status == status for n in nudges) for status, _ in SETTLED}
    tally = [f"{STATUS_MARK[status]} {counts[status]} {word}" for status, word in SETTLED if counts[status]]
    rest = len(ahead) - len(lines)
    stopped = sum(n.status == "cancelled" for n in nudges)
    if deal.cancelled and stopped:
        tally.append(f"{STATUS_MARK['cancelled']} {stopped} stopped")
    elif deal.cancelled:
        pass
    elif deal.paused and rest > 0:
        tally.append(f"{STATUS_MARK['paused']} {rest} waiting until it is won again")
    elif rest > 0:
        last = max(first_business_day(n.due_date) for n in ahead)
        tally.append(f"{rest} {'more' if lines else 'to come'} by {last:%b %-d}")
    elif not ahead:
        tally.append("nothing left to do")
    lines.append(" · ".join(tally) + " (every step: *See the plan*)")
    return "\n".join(lines)


def deal_announcement(
    deal: Deal, nudges: list[Nudge], *, worth: Callable[[Nudge], bool] | None = None
) -> tuple[str, list[dict]]:
    """The deal's one message in the channel, short (at most about 12 lines, like a nudge): what was won, by whom,
    why they bought, what's next, the buttons; the whole plan is one click away (See the plan)."""
    if deal.deleted:
        return deleted_deal_message(deal)
    f = deal.fields
    status = deal_status_line(deal)
    if deal.cancelled:  # no congratulations for a deal the buyer backed out of: what happened, and who to ask
        text = f"Cancelled: {escape(f.account)} ({f.money.format()}), deal #{deal.id}. Its follow-ups have stopped."
        blocks: list[dict] = [header(f"✖️ Cancelled: {plain(f.account)}"), section(status)]
    elif deal.unowned:  # from a CRM, its owner not found in Slack: nobody to congratulate until it is claimed
        where = crm_name(deal.source)
        text = (
            f"New deal won in {where}: {escape(f.account)} ({f.money.format()}), owner not found in Slack. "
            "If it's yours, press Claim it."
        )
        blocks = [
            header(f"🎉 Closed: {plain(f.account)}"),
            section(
                f":grey_question: *Owner not found in Slack:* nobody here has the {where} owner's e-mail "
                "(DEALCOACH_CRM_USERS maps them). Yours? *Claim it*."
            ),
        ]
        if status:
            blocks.append(section(status))
    else:
        verb = "closing" if f.signed else "a verbal yes from"
        text = (
            f"Congratulations {mention(deal.owner_id)} on {verb} {escape(f.account)} ({f.money.format()})! "
            f"{len(nudges)} follow-ups planned for the next 100 days."
        )
        title = f"🎉 Closed: {plain(f.account)}" if f.signed else f"🤝 Verbal yes: {plain(f.account)}"
        blocks = [header(title), section(_greeting(deal, status))]
    blocks.append(section(_deal_line(f)))
    footer = f"Closed {f.close_date:%b %-d, %Y} · Deal #{deal.id}"
    if deal.source:
        footer += f" · From {source_link(deal)}"
    plan = [button(SEE_PLAN, "See the plan", str(deal.id))]
    if deal.cancelled:
        actions = {"type": "actions", "block_id": f"deal_{deal.id}", "elements": plan}
    else:
        actions = deal_actions(deal)
        actions["elements"][:0] = plan
        if deal.unowned:
            footer += " · Until it's claimed, only a manager can change it."
        else:
            footer += f" · Only {mention(deal.owner_id)} or a manager can change it."
    tail = [actions, context(footer)]
    # why they bought and the next steps share what the budget leaves: the plan at least its next step and tally
    room = BUDGET - screen_lines([*blocks, *tail])
    if f.why_bought:
        why = section(_opening(f"*Why they bought:* {escape(f.why_bought)}", max(min(WHY_LINES, room - 2), 1)))
        blocks.append(why)
        room -= screen_lines([why])
    if nudges:
        blocks.append(section(plan_summary(deal, nudges, room=room, worth=worth)))
    else:
        blocks.append(section("No follow-ups in the playbook match this deal."))
    return text, [*blocks, *tail]


MODAL_BLOCKS = 100  # blocks in a modal


def plan_blocks(deal: Deal, nudges: list[Nudge]) -> list[dict]:
    """The whole plan, a line a step, in as many sections as it takes (within a modal's blocks), with its key."""
    if not nudges:
        return [section("No follow-ups in the playbook match this deal.")]
    key = "✅ done · ⏭️ skipped · ⌛ missed · ⏸️ waiting · ✖️ stopped · • to come. Dates are the business day a step comes up."
    return [
        *pack_lines(timeline_lines(deal, nudges), "…and {n} more steps.", sections=MESSAGE_BLOCKS - 4),
        context(key),
    ]


def plan_modal(deal: Deal, nudges: list[Nudge]) -> dict:
    """See the plan: every step of the deal with its mark, day, stage and title, for anyone in the channel."""
    f = deal.fields
    heading = f"{bold(f.account)} · {f.money.format()} · {len(nudges)} follow-ups"
    if deal.cancelled:
        heading += " · cancelled: what was still to come has stopped"
    if f.why_bought:
        heading += f"\n*Why they bought:* {escape(f.why_bought)}"
    view = modal(
        PLAN_MODAL,
        title="The plan",
        submit="Close",
        close="Close",
        metadata="",
        blocks=[section(truncate(heading, 3000)), *plan_blocks(deal, nudges)][:MODAL_BLOCKS],
    )
    del view["submit"]  # nothing to save: read, then close
    return view


def _greeting(deal: Deal, status: str | None) -> str:
    """The line under the header of an owned deal: its news when there is some (paused, live, not signed yet), the
    rep congratulated, and why there is a plan."""
    who = mention(deal.owner_id)
    if deal.paused:
        return status or ""
    if not deal.fields.signed:
        return f":handshake: Congratulations {who} on the yes! Not signed yet: *Mark signed* when the contract is back."
    if status:  # live
        return f"{status} Congratulations {who}!"
    return f"Congratulations {who}! Buyers doubt right after the yes: here's our plan."


def deal_status_line(deal: Deal) -> str | None:
    """Where the deal stands when that's news: not yet signed, live, or cancelled and why."""
    if deal.cancelled:
        why = f": “{escape(deal.cancel_reason)}”" if deal.cancel_reason else ""
        when = f" on {local_date(parse_stamp(deal.cancelled_at))}" if deal.cancelled_at else ""
        return f":x: *Cancelled* by {mention(deal.cancelled_by)}{when}{why}. Its follow-ups have stopped."
    if deal.paused:
        when = f" on {local_date(parse_stamp(deal.paused_at))}" if deal.paused_at else ""
        return (
            f":double_vertical_bar: *Paused*: out of closed-won in {crm_name(deal.source)}{when}, a buyer signal worth "
            "a call. Its follow-ups wait until it is won again."
        )
    if not deal.fields.signed:
        return ":handshake: *Verbal yes, not signed yet.* Mark it signed when the contract is back."
    if deal.live_at and deal.fields.go_live_date:
        return f":rocket: *Live* since {deal.fields.go_live_date:%a %b %-d, %Y}."
    return None


def read_deal_id(value: str | None) -> int | None:
    """A deal button's value as deal_actions() built it (the deal's id), or None for anything else: never an
    exception for a forged or garbled click."""
    value = value or ""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def deal_actions(deal: Deal) -> dict:
    """The deal's own buttons, in its channel message and on the Home tab."""
    value = str(deal.id)
    elements = [button(CLAIM_DEAL, "Claim it", value, "primary")] if deal.unowned else []
    elements.append(button(ADD_DETAILS, "Add details", value))
    if deal.source and not deal.unowned:  # a CRM's owner, or whoever claimed it, may not be who works it
        elements.append(button(CHANGE_OWNER, "Change owner", value))
    if not deal.fields.signed:
        elements.append(button(MARK_SIGNED, "Mark signed", value, "primary"))
        elements.append(button(CHECK_READINESS, "Reason to believe?", value))
    if not deal.live_at:
        elements.append(button(MARK_LIVE, "Mark live", value))
    elements += deal_signal_buttons(deal)  # what the buyer said or did, so work outside the plan counts
    elements.append(button(CANCEL_DEAL, "Cancel deal", value, "danger"))
    delete = button(DELETE_DEAL, "Delete", value)
    delete["confirm"] = {
        "title": {"type": "plain_text", "text": "Delete this capture?"},
        "text": {
            "type": "mrkdwn",
            "text": truncate(
                f"Delete {bold(deal.account)} ({deal.fields.money.format()}) and its follow-ups, as if it had never "
                "been captured? Use this for a capture made by mistake. A deal the buyer backed out of is "
                "*Cancel deal* instead, so the managers hear why.",
                300,
            ),
        },
        "confirm": {"type": "plain_text", "text": "Delete"},
        "deny": {"type": "plain_text", "text": "Keep it"},
        "style": "danger",
    }
    elements.append(delete)
    return {"type": "actions", "block_id": f"deal_{deal.id}", "elements": elements}


def crm_name(source: str | None) -> str:
    return CRM_NAMES.get(source or "", (source or "the CRM").capitalize() if source else "the CRM")


def source_link(deal: Deal) -> str:
    """Where a deal came from, linking to its CRM record when the URL is one we can show safely."""
    name = crm_name(deal.source)
    url = deal.source_url or ""
    if url.startswith("https://") and not any(c in url for c in "<>| \n"):
        return f"<{url}|{name}>"
    return name


def crm_state_note(deal: Deal, *, paused: bool) -> str:
    """The managers' DM when a deal leaves closed-won in its CRM (a buyer signal), or is won again."""
    what = f"{bold(deal.account)} ({deal.fields.money.format()}, deal #{deal.id}"
    what += f", {mention(deal.owner_id)}'s)" if not deal.unowned else ")"
    where = source_link(deal)
    if paused:
        return (
            f":double_vertical_bar: {what} moved out of closed-won in {where}. Its follow-ups still to come are paused "
            "until it is won again. A deal that slips back after the yes is worth a call today."
        )
    return f":arrow_forward: {what} is closed-won again in {where}. Its follow-ups are back on."


def claimed_text(deal: Deal, user_id: str) -> str:
    return f"{mention(user_id)} claimed {escape(deal.account)} ({deal.fields.money.format()}): it's theirs now."


def claim_refused_text(deal: Deal | None) -> str:
    if deal is None or deal.deleted:
        return "I can't find that deal any more."
    if deal.cancelled:
        return f"{escape(deal.account)} was cancelled; there's nothing to claim."
    return f"{mention(deal.owner_id)} claimed {escape(deal.account)} already. A manager can change its owner."


def missing_details(fields: DealFields) -> list[tuple[str, str]]:
    """What the later drafts will need and the deal lacks, each with why in a few words (plain text)."""
    first = (fields.contact_name or "").split()
    name = first[0] if first else "them"
    items = []
    if not fields.contact_name:
        items.append(("The contact's name and title", "so drafts greet them by name, not “Hi there”"))
    elif not fields.contact_title:
        items.append((f"{fields.contact_name}'s title", f"so drafts speak to what {name} answers for"))
    if fields.persona == "other":
        items.append(("Who signed (economic, technical or champion)", f"so drafts give {name} what they care about"))
    if not fields.go_live_date:
        items.append(("The go-live date", "so steps timed from go-live land on a real date, never a guess"))
    if not fields.impl_lead_id:
        items.append(("The implementation lead", f"so the handover introduces {name} to the right person"))
    return items


def missing_details_prompt(deal: Deal) -> tuple[str, list[dict]] | None:
    """The private prompt after a quick capture: what is missing and why, with the button to the pre-filled form;
    None when nothing is missing."""
    items = missing_details(deal.fields)
    if not items:
        return None
    account = bold(deal.account)
    lines = "\n".join(f"• {bold(label)}: {escape(why)}" for label, why in items)
    text = (
        f"Captured {escape(deal.account)}. The follow-up drafts still need: "
        + "; ".join(escape(label) for label, _ in items)
        + ". The Add details button fills them in."
    )
    actions = {
        "type": "actions",
        "block_id": f"missing_{deal.id}",
        "elements": [button(ADD_DETAILS, "Add details", str(deal.id), "primary")],
    }
    return text, [
        section(f"Captured {account}. The follow-up drafts still need:\n{lines}"),
        actions,
        context("Only you see this. Add them now, or any time from the deal's *Add details* button."),
    ]


def deleted_deal_message(deal: Deal) -> tuple[str, list[dict]]:
    """What a deleted deal's channel messages (its own and its nudges') say instead: no plan, no buttons."""
    when = f" on {local_date(parse_stamp(deal.deleted_at))}" if deal.deleted_at else ""
    text = (
        f"Deleted: {escape(deal.account)} ({deal.fields.money.format()}), deal #{deal.id}, was removed by "
        f"{mention(deal.deleted_by)}{when} as a capture made by mistake."
    )
    body = (
        f":wastebasket: {bold(deal.account)} · {deal.fields.money.format()} (deal #{deal.id}) was deleted by "
        f"{mention(deal.deleted_by)}{when}: it was captured by mistake, so its follow-ups are gone and it counts nowhere."
    )
    return text, [section(body)]


def live_modal(deal: Deal, today: date) -> dict:
    initial = deal.fields.go_live_date if deal.fields.go_live_date and deal.fields.go_live_date <= today else today
    return modal(
        LIVE_MODAL,
        title="Mark the deal live",
        submit="Mark live",
        close="Cancel",
        metadata=modal_metadata(deal=deal.id),
        blocks=[
            section(f"*{escape(deal.account)}* went live on… Steps timed from go-live move to this date."),
            input_block(
                forms.GO_LIVE,
                "Go-live date",
                {"type": "datepicker", "initial_date": initial.isoformat()},
                optional=False,
            ),
        ],
    )


def cancel_modal(deal: Deal) -> dict:
    return modal(
        CANCEL_MODAL,
        title="Cancel the deal",
        submit="Cancel the deal",
        close="Keep it",
        metadata=modal_metadata(deal=deal.id),
        blocks=[
            section(
                f"Cancelling *{escape(deal.account)}* stops its pending follow-ups. "
                "The reason shows in the channel and in the managers' digest."
            ),
            input_block(
                forms.REASON,
                "Why was it cancelled?",
                text_input(None, "e.g. Budget frozen after a reorg", max_length=forms.MAX_REASON, multiline=True),
                optional=False,
            ),
        ],
    )


def owner_modal(deal: Deal) -> dict:
    """A manager picks who owns a deal from now on (its message, its follow-ups, its Home tab)."""
    picker = {"type": "users_select", "placeholder": {"type": "plain_text", "text": "Who owns it now?"}}
    if is_user_id(deal.owner_id):
        picker["initial_user"] = deal.owner_id
    return modal(
        OWNER_MODAL,
        title="Change the owner",
        submit="Save",
        close="Cancel",
        metadata=modal_metadata(deal=deal.id),
        blocks=[
            section(f"Who owns *{escape(deal.account)}* ({deal.fields.money.format()}) from now on?"),
            input_block(forms.OWNER, "Owner", picker, optional=False),
        ],
    )


def deal_unchanged_text(deal: Deal | None, action: str) -> str:
    if deal is None:
        return "I can't find that deal any more."
    if deal.deleted:
        if action == "delete":
            return f"{escape(deal.account)} was already deleted. Nothing changed."
        return f"{escape(deal.account)} (deal #{deal.id}) was deleted by {mention(deal.deleted_by)}. Nothing changed."
    if deal.cancelled:
        return f"{escape(deal.account)} was already cancelled. Nothing changed."
    if action == "signed":
        return f"{escape(deal.account)} is already signed. Nothing changed."
    if action == "live":
        return f"{escape(deal.account)} is already live on that date. Nothing changed."
    if action == "owner":
        return f"{mention(deal.owner_id)} already owns {escape(deal.account)}. Nothing changed."
    return "Nothing changed."


def deal_list(rows: list[tuple[Deal, str, Nudge | None]]) -> tuple[str, list[dict]]:
    """`/closed-deal list`: the rep's open deals, their stage and what's next."""
    if not rows:
        text = "You have no open deals. Capture one with `/closed-deal Acme Rockets $120k`."
        return text, [section(text)]
    text = f"Your open deals: {len(rows)}"
    out: list[dict] = [section(f"*Your open deals ({len(rows)})*")]
    for deal, stage, upcoming in rows[:20]:
        values = facts(deal.fields, owner_id=deal.owner_id)
        line = f"{bold(deal.account)} · {deal.fields.money.format()} · {stage}"
        if upcoming:
            line += f"\nNext: {render(upcoming.title, values)} (due {due_day(upcoming.due_date)})"
        out.append(section(line))
        out.append(deal_actions(deal))
    if len(rows) > 20:
        out.append(context(f"…and {len(rows) - 20} more. Your Home tab in Deal Coach lists them all."))
    return text, out[:MESSAGE_BLOCKS]


def _persona(value: str) -> dict:
    return option(PERSONAS[value].capitalize(), value)


def deal_modal(*, channel_id: str, today: date, deal: Deal | None = None) -> dict:
    """The deal form: empty from `/closed-deal`, pre-filled from a deal's "Add details" button."""
    f = deal.fields if deal else None
    persona = {"type": "static_select", "options": [_persona(p) for p in PERSONAS]}
    persona["placeholder"] = {"type": "plain_text", "text": "Who signed?"}
    if f and f.persona:
        persona["initial_option"] = _persona(f.persona)
    close = {"type": "datepicker", "initial_date": (f.close_date if f else today).isoformat()}
    live = {"type": "datepicker", "placeholder": {"type": "plain_text", "text": "Expected go-live"}}
    if f and f.go_live_date:
        live["initial_date"] = f.go_live_date.isoformat()
    lead = {
        "type": "users_select",
        "placeholder": {"type": "plain_text", "text": "Who runs the implementation?"},
    }
    if f and is_user_id(f.impl_lead_id):
        lead["initial_user"] = f.impl_lead_id
    amount_text = f.money.format() if f else None
    verbal_option = option("Verbal yes: not signed yet", forms.VERBAL)
    verbal = {"type": "checkboxes", "options": [verbal_option]}
    if f and not f.signed:
        verbal["initial_options"] = [verbal_option]
    blocks = [
        input_block(
            forms.ACCOUNT,
            "Account",
            text_input(f and f.account, "Acme Rockets", max_length=200),
            optional=False,
        ),
        input_block(
            forms.AMOUNT,
            "Amount",
            text_input(amount_text, "$120k", max_length=60),
            optional=False,
            hint="For example $120k, 1.2M, EUR 50,000 or £8,500.50",
        ),
        input_block(
            forms.CONTACT_NAME,
            "Primary contact",
            text_input(f and f.contact_name, "Jane Doe", max_length=150),
        ),
        input_block(
            forms.CONTACT_TITLE,
            "Contact's title",
            text_input(f and f.contact_title, "VP Operations", max_length=150),
        ),
        input_block(forms.PERSONA, "Buyer persona", persona),
        input_block(forms.CLOSE_DATE, "Close date", close, optional=False),
        input_block(forms.SIGNED, "Signed?", verbal),
        input_block(forms.GO_LIVE, "Expected go-live date", live),
        input_block(forms.IMPL_LEAD, "Implementation lead", lead),
        input_block(
            forms.WHY,
            "Why they bought",
            text_input(f and f.why_bought, "In their words: what made them say yes?", max_length=2000, multiline=True),
        ),
    ]
    return modal(
        forms.DEAL_MODAL,
        title="Edit deal" if deal else "Capture a closed deal",
        submit="Save",
        close="Cancel",
        metadata=modal_metadata(channel=channel_id, deal=deal.id if deal else None),
        blocks=blocks,
    )


LOST_TRACK = "This form lost track of its deal. Close it and click the deal's button again."


def modal_metadata(*, channel: str | None = None, deal: int | None = None) -> str:
    """What a deal modal carries: the channel the deal form was opened from, the deal it edits or changes."""
    data: dict = {} if channel is None else {"channel": channel}
    if deal:
        data["deal"] = deal
    return json.dumps(data)


def read_modal_metadata(private_metadata: str | None) -> tuple[str | None, int | None]:
    """The channel the form was opened from (only a well-formed channel id), and the deal being edited or changed
    (None for a new one); None for what is missing or malformed, never an exception."""
    data = metadata_dict(private_metadata)
    deal = data.get("deal")
    return forms.channel_of(data.get("channel")), deal if type(deal) is int else None


def cannot_post_text(deal: Deal, error: str) -> str:
    """Why the deal's channel message didn't appear, and what the rep can do about it."""
    saved = f"I saved {bold(deal.account)} (deal #{deal.id}), but "
    if error in ("not_in_channel", "channel_not_found", "method_not_supported_for_channel_type"):
        return saved + (
            "I can't post in this channel yet. Invite me with `/invite @Deal Coach` so the team sees the plan "
            "and its reminders here."
        )
    if error == "is_archived":
        return saved + "this channel is archived, so I can't post its plan here."
    return saved + f"Slack didn't accept the channel message ({escape(error) or 'no reason given'}). Try again later."


# -- a capture that looks like a repeat of a recent one -------------------------------------------------------

HELD_EXPIRED = "That question has expired and nothing was captured. Type the command again to capture the deal."


def captured_when(created_at: str, *, now: datetime, tz: tzinfo) -> str:
    """When a deal was captured, as a rep says it, in the team's time zone: "at 10:42", "yesterday at 16:05"."""
    at = parse_stamp(created_at).astimezone(tz)
    days = (now.astimezone(tz).date() - at.date()).days
    if days == 0:
        return f"at {at:%H:%M}"
    if days == 1:
        return f"yesterday at {at:%H:%M}"
    return f"on {at:%a %b %-d} at {at:%H:%M}"


def _earlier_line(earlier: Deal, account: str, *, now: datetime, tz: tzinfo) -> str:
    """The question's first words, "Looks like the deal you captured at 10:42: …", with the account as the caller
    shows it (escaped for mrkdwn, or plain for a modal)."""
    when = captured_when(earlier.created_at, now=now, tz=tz)
    return f"Looks like the deal you captured {when}: {account} · {earlier.fields.money.format()} (deal #{earlier.id})"


def repeat_question(earlier: Deal, capture_key: str, *, now: datetime, tz: tzinfo) -> tuple[str, list[dict]]:
    """The private question when a typed capture repeats a recent one: keep both, or leave it."""
    text = _earlier_line(earlier, escape(earlier.account), now=now, tz=tz) + ". I haven't saved this one yet."
    question = _earlier_line(earlier, bold(earlier.account), now=now, tz=tz)
    actions = {
        "type": "actions",
        "block_id": "capture_repeat",
        "elements": [
            button(CAPTURE_ANYWAY, "Capture it anyway", capture_key, "primary"),
            button(LEAVE_CAPTURE, "Leave it", capture_key),
        ],
    }
    return text, [
        section(f":eyes: {question}. Is this a second deal? I haven't saved it yet."),
        actions,
        context(
            "Same rep, account and amount within 3 days. To remove a capture made by mistake, use *Delete* on "
            "its message or in `/closed-deal list`."
        ),
    ]


def repeat_form_error(earlier: Deal, *, now: datetime, tz: tzinfo) -> str:
    """The same question on the form, as an inline error (plain text): saving again keeps both."""
    line = _earlier_line(earlier, plain(earlier.account), now=now, tz=tz)
    return f"{line}. Press Save again to capture this one too, or Cancel to leave it."


def repeat_answered_text(deal: Deal, *, created: bool) -> str:
    if created:
        return f"Captured {bold(deal.account)} as a separate deal (#{deal.id}); its plan is posted in the channel."
    return f"Already captured as deal #{deal.id}. Nothing changed."


REPEAT_LEFT = "Left it: nothing new was captured."

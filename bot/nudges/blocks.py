"""A nudge as the team sees it (message, resolved states, modals, "nothing changed"), the same in channel and DM."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.deals.blocks import ADD_DETAILS, CHECK_READINESS
from bot.deals.model import Deal, Nudge
from bot.nudges.forms import (
    DETAIL,
    GO_LIVE,
    GO_LIVE_MODAL,
    MAX_OUTCOME,
    MAX_REASON,
    OUTCOME_MODAL,
    REASON,
    RESULT,
    SKIP_MODAL,
    modal_metadata,
)
from bot.nudges.links import DM, Links
from bot.playbook.hours import due_day
from bot.playbook.loader import GO_LIVE_UNKNOWN, Step
from bot.playbook.render import NOTHING, Known, draft_facts, facts, personal_blanks, render, render_draft
from bot.slack.blocks import (
    MESSAGE_BLOCKS,
    SECTION_LIMIT,
    VALUE,
    button,
    context,
    input_block,
    modal,
    option,
    section,
    text_input,
)
from bot.slack.text import channel_link, escape, mention, truncate
from bot.welcome.blocks import kit_button, offers_kit

DONE, SKIP, SNOOZE, REASSIGN, MORE = "nudge_done", "nudge_skip", "nudge_snooze", "nudge_reassign", "nudge_more"
DETAILS_MODAL = "nudge_details"
# Short by default: a step's message shows the action, for whom, when, one "why now" line, the draft's opening and
# the buttons, within LINE_BUDGET lines of LINE_WIDTH characters; how and the whole draft are under More.
LINE_BUDGET, LINE_WIDTH = 12, 80
DRAFT_LINES = 5  # of the budget, for the draft's opening (its label included)
# The go-live question's answers (a step with when = "go_live_unknown"): its buttons instead of Done/Skip/Snooze.
LIVE_TODAY, SET_GO_LIVE, NOT_LIVE_YET = "go_live_today", "go_live_set", "go_live_not_yet"
ASK_AGAIN_DAYS = 7  # Not yet: the question comes back this many days later
ACTIONS_BLOCK = "nudge_"  # + the nudge id: the block of its buttons, which tells Reassign which nudge
SNOOZE_DAYS = {"1": "1 day", "7": "1 week"}
RESULTS = {
    "testimonial": [("received", "Received"), ("promised", "Promised, not yet received"), ("declined", "Declined")],
    "referral": [("received", "Got referrals"), ("later", "Not yet, ask again later"), ("declined", "Declined")],
}


def _when(stamp: str | None, tz: ZoneInfo) -> str:
    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp).astimezone(tz)
    return f"{moment:%a %b %-d, %H:%M}"


def _who(nudge: Nudge, deal: Deal) -> str:
    return nudge.assignee_id or deal.owner_id


def _quote(text: str) -> str:
    return "\n".join(f">{line}" if line else ">" for line in text.splitlines())


def outcome_summary(nudge: Nudge) -> str:
    """One line for what the rep recorded: the buyer's reason, the testimonial, the referral names."""
    if not nudge.outcome:
        return ""
    data = json.loads(nudge.outcome)
    kind = data.get("kind")
    if kind == "win_reason":
        line = f"Biggest reason: “{escape(data.get('reason'))}”"
        if data.get("almost"):
            line += f" · Almost stopped them: “{escape(data['almost'])}”"
        return line
    label = dict(RESULTS.get(kind, [])).get(data.get("result"), data.get("result", ""))
    detail = f": “{escape(data['detail'])}”" if data.get("detail") else ""
    return f"{'Testimonial' if kind == 'testimonial' else 'Referrals'}: {label}{detail}"


def resolution_line(nudge: Nudge, *, live_here: bool, tz: ZoneInfo) -> str | None:
    """What happened to a step, or None while it is still waiting for someone to act. Its emoji are characters,
    not `:shortcodes:`, so the one-line resolved step measures about what it shows and keeps room for its title."""
    if not live_here and nudge.snoozed_until:
        return f"💤 Snoozed by {mention(nudge.snoozed_by)} until {nudge.snoozed_until:%a %b %-d}"
    if nudge.status == "done":
        if nudge.resolved_by is None:  # settled by a change to the deal (its go-live date set), not a click
            return f"✅ Answered: {escape(nudge.note or 'done')}"
        line = f"✅ Done by {mention(nudge.resolved_by)} · {_when(nudge.resolved_at, tz)}"
        if nudge.note and not nudge.outcome:
            line += f" · {escape(nudge.note)}"
        summary = outcome_summary(nudge)
        return f"{line}\n{summary}" if summary else line
    if nudge.status == "cancelled":
        return "❌ The deal was cancelled: nothing to do here."
    if nudge.status == "skipped":
        line = f"⏭️ Skipped by {mention(nudge.resolved_by)} · {_when(nudge.resolved_at, tz)}"
        return f"{line} · “{escape(nudge.note)}”" if nudge.note else line
    if not live_here:
        return "🔄 Moved to a later message"
    return None


def nudge_actions(nudge: Nudge) -> dict:
    """Done, Snooze, Skip, Reassign, and the deal's Add details (the same action as on the deal's message, so the same
    listener and permissions): the same buttons in the channel message and on the Home tab."""
    value = str(nudge.id)
    return {
        "type": "actions",
        "block_id": f"{ACTIONS_BLOCK}{nudge.id}",
        "elements": [
            button(DONE, "Done", value, "primary"),
            {
                "type": "static_select",
                "action_id": SNOOZE,
                "placeholder": {"type": "plain_text", "text": "Snooze"},
                "options": [option(label, f"{value}:{days}") for days, label in SNOOZE_DAYS.items()],
            },
            button(SKIP, "Skip", value),
            {
                "type": "users_select",
                "action_id": REASSIGN,
                "placeholder": {"type": "plain_text", "text": "Reassign"},
            },
            button(ADD_DETAILS, "Add details", str(nudge.deal_id)),
            button(MORE, "More", value),
            *([kit_button(nudge.deal_id)] if offers_kit(nudge.step_id) else []),  # the welcome-kit step's PDF
        ],
    }


def visual_lines(text: str, width: int = LINE_WIDTH) -> int:
    """How many lines `text` takes on screen, each line wrapped at a word within `width` characters."""
    return sum(len(textwrap.wrap(line, width)) or 1 for line in text.split("\n"))


def draft_opening(draft: str, lines: int = DRAFT_LINES - 1, width: int = LINE_WIDTH) -> tuple[str, bool]:
    """The draft's first `lines` screen lines as quoted (each line behind a ">"), cut at a word, and whether
    anything was left out."""
    kept: list[str] = []
    left = lines
    for line in draft.splitlines():
        need = visual_lines(">" + line, width)
        if need <= left:
            kept.append(line)
            left -= need
            continue
        if left > 0 and line.strip():
            words = line.split(" ")
            while len(words) > 1 and visual_lines(">" + " ".join(words) + "…", width) > left:
                words.pop()
            cut = " ".join(words)
            if visual_lines(">" + cut + "…", width) <= left:
                kept.append(cut.rstrip(",;:") + "…")
        return _ellipsis(kept, width), True
    return "\n".join(kept).rstrip(), False


def _ellipsis(kept: list[str], width: int) -> str:
    """The kept lines, the last one ending in "…" (cut by a word if it has to) so a reader sees there is more."""
    while kept and not kept[-1].strip():
        kept.pop()
    if kept and not kept[-1].endswith("…"):
        words = kept[-1].split(" ")
        room = visual_lines(">" + kept[-1], width)
        while len(words) > 1 and visual_lines(">" + " ".join(words) + " …", width) > room:
            words.pop()
        kept[-1] = " ".join(words) + " …"
    return "\n".join(kept)


def go_live_actions(nudge: Nudge) -> dict:
    """The go-live question's answers: Live today, Set a date (a date picker), Not yet (asked again in a week)."""
    value = str(nudge.id)
    return {
        "type": "actions",
        "block_id": f"{ACTIONS_BLOCK}{nudge.id}",
        "elements": [
            button(LIVE_TODAY, "Live today", value, "primary"),
            button(SET_GO_LIVE, "Set a date", value),
            button(NOT_LIVE_YET, "Not yet", value),
            button(MORE, "More", value),
        ],
    }


def go_live_modal(nudge: Nudge, deal: Deal, today) -> dict:
    """Set a date: when the customer went live, or expects to."""
    return modal(
        GO_LIVE_MODAL,
        title="Go-live date",
        submit="Save",
        close="Cancel",
        metadata=modal_metadata(nudge.id),
        blocks=[
            section(
                f"When did *{escape(deal.account)}* go live, or when will it? The steps timed from go-live are "
                "planned from this date; a date from today back counts as live."
            ),
            input_block(
                GO_LIVE, "Go-live date", {"type": "datepicker", "initial_date": today.isoformat()}, optional=False
            ),
        ],
    )


def _title(nudge: Nudge, deal: Deal, values: dict[str, str]) -> str:
    title = render(nudge.title, values)
    return title if values["account"] in title else f"{title} — {values['account']}"


def nudge_title(nudge: Nudge, deal: Deal) -> str:
    """The step's first line, naming the account, as the channel message shows it."""
    return _title(nudge, deal, facts(deal.fields, owner_id=deal.owner_id))


def _filled_draft(deal: Deal, nudge: Nudge, step: Step, known: Known) -> tuple[str, list[str], list[str]]:
    """The step's draft for this buyer, filled with what the team knows; the facts still blank (a form can fill
    them) and the ones only the sender can write."""
    signer = nudge.assignee_id or deal.owner_id  # whoever sends it: the rep, or the teammate it was handed to
    values = draft_facts(deal.fields, owner_id=signer, due=nudge.snoozed_until or nudge.due_date, known=known)
    template = step.draft_of(deal.fields.persona)
    draft, blanks = render_draft(template, values)
    return draft, blanks, personal_blanks(template, values)


def draft_text(deal: Deal, nudge: Nudge, step: Step, known: Known = NOTHING) -> str:
    """The step's draft for this buyer, filled with what the team knows; under it, where to add what it lacks."""
    draft, blanks, yours = _filled_draft(deal, nudge, step, known)
    text = f"*Draft* (copy, adjust, send)\n{_quote(draft)}"
    if blanks:
        once = (
            "Add it once and the next drafts fill it in."
            if len(blanks) == 1
            else "Add them once and the next drafts fill them in."
        )
        text += "\n:pencil2: *Still blank:* " + "; ".join(blanks) + ". " + once
    if yours:  # what no form can fill: said plainly, never promised to fill itself
        them = (
            "only you know it: write it in before you send"
            if len(yours) == 1
            else "only you know these: write them in before you send"
        )
        text += "\n:pencil2: *Yours to write:* " + "; ".join(yours) + f" ({them})."
    return text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def settled_block(resolved: str, title: str, width: int = LINE_WIDTH) -> dict:
    """A step no longer waiting, in one line: what became of it, then what it was (cut to fit `width`)."""
    done = _one_line(resolved)
    room = max(width - len(done) - 5, 20)
    return context(f"{done} · ~{truncate(title, room)}~")


def late_steps(hours, deal: Deal, claimed_at: str):
    """Which steps of a message claimed at `claimed_at` were late then: a business day on which the step could have
    gone out (on or after its due date, and after the deal was captured) had passed. Never a guess at why."""
    when = datetime.fromisoformat(claimed_at)
    since = datetime.fromisoformat(deal.created_at)
    return lambda nudge: hours.is_late(nudge.due_date, when, since=since)


def step_late(nudge: Nudge, is_late) -> bool:
    """Late is per step: only a step whose first chance has passed; "due today" never is."""
    return bool(is_late and nudge.actionable and is_late(nudge))


def _is_question(step: Step | None) -> bool:
    """The go-live question (when = "go_live_unknown"): answered with its own buttons, not Done/Skip/Snooze."""
    return step is not None and step.when == GO_LIVE_UNKNOWN and step.variant_of is None


def _step_blocks(
    deal: Deal, nudge: Nudge, step: Step | None, *, post_id: int, is_late, tz: ZoneInfo, known: Known = NOTHING
) -> list[dict]:
    values = facts(deal.fields, owner_id=deal.owner_id, known=known)
    live_here = nudge.post_id == post_id
    title = _title(nudge, deal, values)
    question = _is_question(step)
    if question and not live_here and nudge.snoozed_until and nudge.status == "planned":
        resolved = (
            f":hourglass: Not live yet, says {mention(nudge.snoozed_by)}: I'll ask again on "
            f"{nudge.snoozed_until:%a %b %-d}."
        )
    else:
        resolved = resolution_line(nudge, live_here=live_here, tz=tz)
    if resolved:
        return [settled_block(resolved, title)]
    meta = [f"For {mention(_who(nudge, deal))}", f"due {due_day(nudge.due_date)}"]
    if live_here and step_late(nudge, is_late):
        meta.append(":hourglass: late")
    if nudge.assignee_id:
        meta.append(f"reassigned from {mention(deal.owner_id)}")
    blocks = [section(f"*{title}*"), context(" · ".join(meta))]
    if step is not None:
        if step.why:
            blocks.append(section(f"*Why now:* {_one_line(render(step.why, values))}"))
        if step.draft_of(deal.fields.persona):
            draft, blanks, yours = _filled_draft(deal, nudge, step, known)
            # what is left of the budget once the rest is shown: the draft's label, its More line, the buttons
            used = sum(visual_lines(b["text"]["text"]) for b in blocks if b["type"] == "section")
            used += visual_lines(blocks[1]["elements"][0]["text"]) + 3
            opening, more = draft_opening(draft, lines=max(LINE_BUDGET - used, 2))
            if more or blanks or yours:
                what = "its blanks" if blanks or yours else "talking points"
                more_line = f"\n_The whole draft, {what} and how to go about it: *More*_"
            else:
                more_line = ""
            blocks.append(
                section(truncate(f"*Draft* (copy, adjust, send)\n{_quote(opening)}{more_line}", SECTION_LIMIT))
            )
    actions = go_live_actions(nudge) if question else nudge_actions(nudge)
    if step is not None and step.unsigned_only and not deal.fields.signed:  # the signature: is the yes solid?
        actions["elements"].append(button(CHECK_READINESS, "Reason to believe?", str(deal.id)))
    blocks.append(actions)
    return blocks


def details_modal(nudge: Nudge, deal: Deal, step: Step | None, known: Known = NOTHING) -> dict:
    """More: the whole coaching for a step, one click from the short message: why, how, the whole draft (filled
    with what the team knows, and what is still blank)."""
    values = facts(deal.fields, owner_id=deal.owner_id, known=known)
    blocks = [
        section(f"*{_title(nudge, deal, values)}*"),
        context(f"For {mention(_who(nudge, deal))} · due {due_day(nudge.due_date)}"),
    ]
    if step is not None:
        if step.why:
            blocks.append(section(f"*Why now:* {render(step.why, values)}"))
        if step.how:
            blocks.append(section("*How:*\n" + "\n".join(f"• {render(h, values)}" for h in step.how)))
        if step.draft_of(deal.fields.persona):
            blocks.append(section(truncate(draft_text(deal, nudge, step, known), SECTION_LIMIT)))
    view = modal(DETAILS_MODAL, title="The whole follow-up", submit="Close", close="Close", metadata="", blocks=blocks)
    del view["submit"]  # nothing to save: read, then close
    return view


def nudge_message(
    deal: Deal,
    nudges: list[Nudge],
    steps: dict[str, Step],
    *,
    post_id: int,
    late: bool = False,
    tz: ZoneInfo,
    is_late=None,
    known: Known = NOTHING,
) -> tuple[str, list[dict]]:
    """One message for one deal's due steps: a single nudge, or several gathered under one heading. `is_late(nudge)`
    says which steps are late (their first chance has passed); `late` alone marks every open step late."""
    if is_late is None and late:
        is_late = lambda n: True  # noqa: E731 - an older caller's whole-message flag
    values = facts(deal.fields, owner_id=deal.owner_id, known=known)
    missed = [n for n in nudges if n.status == "missed"]
    if missed:
        worth = [n for n in nudges if n.status != "missed"]
        return _catch_up(deal, missed, worth, steps, post_id, is_late, tz, known)
    who = sorted({_who(n, deal) for n in nudges})
    mentions = " ".join(mention(u) for u in who)
    if len(nudges) == 1:
        n = nudges[0]
        flag = ", late" if n.post_id == post_id and step_late(n, is_late) else ""
        text = f"{mentions} {_title(n, deal, values)} (due {due_day(n.due_date)}{flag})"
        step = steps.get(n.step_id)
        return truncate(text, 3000), _step_blocks(deal, n, step, post_id=post_id, is_late=is_late, tz=tz, known=known)
    heading = f"{mentions} {len(nudges)} follow-ups for {values['account']} are waiting"
    blocks: list[dict] = [section(f":bell: {heading}")]
    for n in nudges:
        blocks.append({"type": "divider"})
        blocks.extend(_step_blocks(deal, n, steps.get(n.step_id), post_id=post_id, is_late=is_late, tz=tz, known=known))
    titles = "; ".join(render(n.title, values) for n in nudges)
    return truncate(f"{heading}: {titles}", 3000), blocks[:MESSAGE_BLOCKS]


def missed_line(nudge: Nudge, deal: Deal, step: Step | None) -> str:
    """One line for a step whose moment passed while nobody could be nudged: what it was, and its window."""
    window = f", best done within {step.window} days of that" if step and step.window else ""
    return f"⌛ {nudge_title(nudge, deal)} (due {due_day(nudge.due_date)}{window})"


def _catch_up(
    deal: Deal,
    missed: list[Nudge],
    worth: list[Nudge],
    steps: dict[str, Step],
    post_id: int,
    is_late,
    tz: ZoneInfo,
    known: Known = NOTHING,
) -> tuple[str, list[dict]]:
    """After an outage: the windows that were missed, a line each, then only the steps still worth doing."""
    account = escape(deal.account)
    who = sorted({_who(n, deal) for n in worth} or {deal.owner_id})
    mentions = " ".join(mention(u) for u in who)
    count = f"{len(missed)} follow-up{'s' if len(missed) != 1 else ''}"
    heading = f"{mentions} Catching up on *{account}*: the moment for {count} has passed"
    if worth:
        heading += f"; {len(worth)} {'is' if len(worth) == 1 else 'are'} still worth doing"
    lines = [missed_line(n, deal, steps.get(n.step_id)) for n in missed]
    blocks: list[dict] = [section(f":bell: {heading}."), section(truncate("\n".join(lines), SECTION_LIMIT))]
    for n in worth:
        blocks.append({"type": "divider"})
        blocks.extend(_step_blocks(deal, n, steps.get(n.step_id), post_id=post_id, is_late=is_late, tz=tz, known=known))
    titles = "; ".join(nudge_title(n, deal) for n in worth) or "nothing left to do now"
    text = f"{heading.replace('*', '')}. Still to do: {titles}"
    return truncate(text, 3000), blocks[:MESSAGE_BLOCKS]


def skip_modal(nudge: Nudge, deal: Deal) -> dict:
    values = facts(deal.fields, owner_id=deal.owner_id)
    return modal(
        SKIP_MODAL,
        title="Skip this step",
        submit="Skip",
        close="Cancel",
        metadata=modal_metadata(nudge.id),
        blocks=[
            section(f"*{_title(nudge, deal, values)}*"),
            input_block(
                REASON,
                "Why skip it? (optional)",
                text_input(None, "e.g. Already covered in the kickoff call", max_length=MAX_REASON),
            ),
        ],
    )


def outcome_modal(nudge: Nudge, deal: Deal, kind: str) -> dict:
    """Done on a win analysis, testimonial or referral step: record what the buyer said."""
    values = facts(deal.fields, owner_id=deal.owner_id)
    blocks: list[dict] = [section(f"*{_title(nudge, deal, values)}*")]
    if kind == "win_reason":
        title = "Record the win reason"
        blocks += [
            _text_block(
                REASON, "Their biggest reason for choosing us", "In their words", optional=False, multiline=True
            ),
            _text_block(DETAIL, "What almost made them choose otherwise?", "Optional", optional=True, multiline=True),
        ]
    else:
        title = "Record the testimonial" if kind == "testimonial" else "Record the referrals"
        blocks.append(
            {
                "type": "input",
                "block_id": RESULT,
                "label": {"type": "plain_text", "text": "How did it go?"},
                "element": {
                    "type": "radio_buttons",
                    "action_id": VALUE,
                    "options": [option(t, v) for v, t in RESULTS[kind]],
                },
            }
        )
        label = (
            "The testimonial, or a link to it" if kind == "testimonial" else "Who did they refer? (names, companies)"
        )
        blocks.append(_text_block(DETAIL, label, "Optional", optional=True, multiline=True))
    return modal(
        OUTCOME_MODAL,
        title=title,
        submit="Save and mark done",
        close="Cancel",
        metadata=modal_metadata(nudge.id, kind),
        blocks=blocks,
    )


def _text_block(block_id: str, label: str, placeholder: str, *, optional: bool, multiline: bool) -> dict:
    element = text_input(None, placeholder, max_length=MAX_OUTCOME, multiline=multiline)
    return input_block(block_id, label, element, optional=optional)


def undeliverable_dm(
    deal: Deal, nudges: list[Nudge], error: str, *, channel_id: str, owner_reached: bool = True
) -> tuple[str, str]:
    """Intro lines for the owner's DM and the managers' note when the team channel can't be reached."""
    reason = {
        "is_archived": "the channel is archived",
        "channel_not_found": "I'm not in that channel (private channels need `/invite @Deal Coach`)",
        "not_in_channel": "I'm not in that channel (private channels need `/invite @Deal Coach`)",
        "method_not_supported_for_channel_type": "I can't join that channel by myself: `/invite @Deal Coach` there",
    }.get(error, f"Slack said `{escape(error)}`")
    account = escape(deal.account)
    owner = (
        f"I couldn't post in {channel_link(channel_id)} ({reason}), so here is the follow-up for *{account}* directly. "
        "Fix the channel and the next ones will go there again."
    )
    managers = (
        f"Heads-up: follow-ups for *{account}* (owner {mention(deal.owner_id)}) can't be posted in {channel_link(channel_id)}: "
        f"{reason}. I'm sending them to {mention(deal.owner_id)} directly until that's fixed."
    )
    if not owner_reached:  # the managers are the only ones left who can see these follow-ups
        values = facts(deal.fields, owner_id=deal.owner_id)
        titles = "; ".join(_title(n, deal, values) for n in nudges)
        managers = (
            f"Heads-up: follow-ups for *{account}* (owner {mention(deal.owner_id)}) can't be posted in {channel_link(channel_id)}: "
            f"{reason}, and I couldn't reach {mention(deal.owner_id)} by DM either. Not delivered: {titles}. "
            "Please pass them on and fix the channel."
        )
    return owner, managers


ON_HOME = "act on it from my Home tab (Done, Snooze and Skip are there, its whole draft under More)"


def where_it_is(nudge: Nudge, deal: Deal, links: Links) -> str:
    """A sentence telling the person `links` is for where a step's message is, linked (DEALCOACH_NUDGES_IN): its
    reply in the deal's thread, its channel message, their DMs with me; or, in someone else's DMs or not posted
    yet, how to act on it meanwhile."""
    elsewhere = links.someone_elses_dm(nudge, deal)
    if elsewhere is not None:
        return f"Its message went to {mention(elsewhere)} by DM, so {ON_HOME}."
    posted = links.step_words(nudge, deal)
    if posted is not None:
        return f"It's {posted}, with a draft and the buttons to mark it done."
    due = f"{(nudge.snoozed_until or nudge.due_date):%a %b %-d}"
    if links.nudges_in == DM and links.viewer != deal.owner_id:
        return f"It will go to {mention(deal.owner_id)} by DM on {due}, so {ON_HOME}."
    return f"It will be posted {links.mode_words(deal)} on {due}; until then, {ON_HOME}."


def handover_text(nudge: Nudge, deal: Deal, *, by: str, links: Links) -> str:
    """The DM a teammate gets when a follow-up is reassigned to them: what, and where its message is."""
    values = facts(deal.fields, owner_id=deal.owner_id)
    return (
        f"{mention(by)} handed you a follow-up for *{values['account']}*: {_title(nudge, deal, values)}. "
        f"{where_it_is(nudge, deal, links)}"
    )


def already_resolved_text(nudge: Nudge | None, action: str) -> str:
    """Why a click changed nothing: someone got there first, or it was already so."""
    if nudge is None:
        return "I can't find that follow-up any more."
    if action == "reassign":
        return f"It's already with {mention(nudge.assignee_id)}." if nudge.assignee_id else "Nothing to change."
    if action == "answer" and nudge.status == "done":
        who = f" by {mention(nudge.resolved_by)}" if nudge.resolved_by else ""
        return f"Already answered{who}: {escape(nudge.note or 'done')}. Nothing changed."
    if action == "answer" and nudge.status == "planned" and nudge.snoozed_until:
        return f"Already answered “not yet”: I'll ask again on {nudge.snoozed_until:%a %b %-d}. Nothing changed."
    if nudge.status == "done":
        return f"Already done by {mention(nudge.resolved_by)}. Nothing changed."
    if nudge.status == "skipped":
        return f"Already skipped by {mention(nudge.resolved_by)}. Nothing changed."
    if nudge.status == "planned" and nudge.snoozed_until:
        return f"Already snoozed until {nudge.snoozed_until:%a %b %-d}. Nothing changed."
    return "This follow-up can't be changed right now."


def read_actions_block(block_id: str | None) -> int | None:
    """The nudge whose buttons are in the block nudge_actions() built; None for any other block id."""
    nudge = (block_id or "").removeprefix(ACTIONS_BLOCK)
    return int(nudge) if nudge != block_id and nudge.isascii() and nudge.isdigit() else None


def read_value(value: str | None) -> tuple[int, int | None] | None:
    """A button's or snooze option's value as nudge_actions() built it: `"12"` -> (12, None); `"12:7"` -> (12, 7).
    None for anything else, never an exception."""
    nudge, _, days = (value or "").partition(":")
    if not (nudge.isascii() and nudge.isdigit()) or (days and not (days.isascii() and days.isdigit())):
        return None
    return int(nudge), int(days) if days else None

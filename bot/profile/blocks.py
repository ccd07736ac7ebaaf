"""Block Kit for the team profile: the managers' section of the Home tab, the edit modal, and the plain-text
summary `dealcoach team-profile show` prints."""

from __future__ import annotations

from dataclasses import dataclass

from bot.profile import forms
from bot.profile.model import StoredProfile, TeamProfile
from bot.slack.blocks import button, context, header, input_block, modal, section, text_input
from bot.slack.text import escape, mention

EDIT_PROFILE = "edit_team_profile"
PURPOSE = (
    "What your team knows once, set once, in one place: your company, the exec sponsor, the implementation team "
    "(with a role and a fun fact each), reference customers, the welcome kit and thank-you video links, and the "
    "usual sticking points."
)


@dataclass(frozen=True)
class Person:
    """Who a Slack user is, from their profile (users.info) when the tab is drawn: never stored."""

    name: str
    title: str | None = None
    photo: str | None = None


def _sponsor(profile: TeamProfile) -> str:
    sponsor = profile.exec_sponsor
    if sponsor is None:
        return "not set"
    if sponsor.user:
        return mention(sponsor.user)
    return f"{escape(sponsor.name)}, {escape(sponsor.title)}"


def _member_block(member, person: Person | None) -> dict:
    who = mention(member.user)
    if person is not None:
        who = f"*{escape(person.name)}*" + (f", {escape(person.title)}" if person.title else "")
    text = f"{who} · {escape(member.role)}" + (f" · _{escape(member.fun_fact)}_" if member.fun_fact else "")
    block = context(text)
    if person is not None and person.photo:
        block["elements"].insert(
            0, {"type": "image", "image_url": person.photo, "alt_text": person.name[:100] or "photo"}
        )
    return block


def home_section_blocks(stored: StoredProfile | None, people: dict[str, Person]) -> list[dict]:
    """A manager's section of the Home tab: the profile in brief and the button to edit it."""
    out = [header("Team profile")]
    profile = stored.profile if stored else TeamProfile()
    if profile.empty:
        out.append(section(f"Not set up yet. {PURPOSE}"))
        out.append(_actions("Set up team profile"))
        return out
    refs = profile.references
    named = ", ".join(escape(r.name) for r in refs[:5]) + (f" and {len(refs) - 5} more" if len(refs) > 5 else "")
    links = [
        label
        for label, url in (
            ("welcome kit", profile.links.welcome_kit),
            ("thank-you video", profile.links.thank_you_video),
        )
        if url
    ]
    lines = [
        f"*Company:* {escape(profile.company) or 'not set'}",
        f"*Exec sponsor:* {_sponsor(profile)}",
        f"*References:* {len(refs)}" + (f" ({named})" if refs else " (add customers a new buyer can hear from)"),
        f"*Links:* {', '.join(links) if links else 'none yet (welcome kit, thank-you video)'}",
        f"*Sticking points:* {len(profile.sticking_points) or 'none yet'}",
        f"*Implementation team:* {len(profile.implementation_team) or 'nobody yet'}",
    ]
    out.append(section("\n".join(lines)))
    out += [_member_block(m, people.get(m.user)) for m in profile.implementation_team]
    out.append(_actions("Edit team profile"))
    return out


def _actions(label: str) -> dict:
    return {"type": "actions", "block_id": "team_profile", "elements": [button(EDIT_PROFILE, label, "edit")]}


def _users_select(block_id: str, label: str, user: str | None, hint: str | None = None) -> dict:
    element: dict = {"type": "users_select", "placeholder": {"type": "plain_text", "text": "Pick a person"}}
    if user:
        element["initial_user"] = user
    return input_block(block_id, label, element, hint=hint)


def profile_modal(profile: TeamProfile | None) -> dict:
    """The edit form, pre-filled with what is stored; saving replaces the whole profile."""
    profile = profile or TeamProfile()
    sponsor = profile.exec_sponsor
    sponsor_text = f"{sponsor.name}, {sponsor.title}" if sponsor and sponsor.name else None
    blocks = [
        input_block(
            forms.COMPANY,
            "Company name",
            text_input(profile.company, "Rocket Software", max_length=200),
            optional=False,
        ),
        _users_select(forms.SPONSOR_USER, "Exec sponsor", sponsor.user if sponsor else None),
        input_block(
            forms.SPONSOR_NAME,
            "…or a sponsor outside Slack: name, title",
            text_input(sponsor_text, forms.SPONSOR_EXAMPLE, max_length=300),
        ),
        header("Implementation team"),
        context("Up to 6 people. Their name, title and photo come from their Slack profile."),
    ]
    members = list(profile.implementation_team)
    for row in range(1, forms.MEMBER_ROWS + 1):
        member = members[row - 1] if row <= len(members) else None
        blocks += [
            _users_select(forms.member_block(row, "user"), f"Person {row}", member.user if member else None),
            input_block(
                forms.member_block(row, "role"),
                f"Role of person {row}",
                text_input(member.role if member else None, "Implementation lead", max_length=100),
            ),
            input_block(
                forms.member_block(row, "fact"),
                f"Fun fact about person {row}",
                text_input(member.fun_fact if member else None, "Has run 3 marathons", max_length=300),
            ),
        ]
    references = "\n".join(forms.reference_line(r) for r in profile.references)
    blocks += [
        input_block(
            forms.REFERENCES,
            "Reference customers, one a line",
            text_input(references, forms.REFERENCE_EXAMPLE[:150], max_length=forms.MAX_REFERENCES_TEXT, multiline=True),
            hint=f"{forms.REFERENCE_FORMAT}. Personas: economic, technical, champion, other. "
            f"E.g. {forms.REFERENCE_EXAMPLE}",
        ),
        input_block(
            forms.WELCOME_KIT,
            "Welcome kit link",
            text_input(profile.links.welcome_kit, "https://example.com/welcome", max_length=500),
        ),
        input_block(
            forms.THANK_YOU_VIDEO,
            "Thank-you video link",
            text_input(profile.links.thank_you_video, "https://example.com/thanks", max_length=500),
        ),
        input_block(
            forms.STICKING,
            "Usual sticking points, one a line",
            text_input(
                "\n".join(profile.sticking_points),
                "Data migration takes longer than expected",
                max_length=3000,
                multiline=True,
            ),
        ),
    ]
    return modal(forms.PROFILE_MODAL, title="Team profile", submit="Save", close="Cancel", metadata="", blocks=blocks)


def summary_text(profile: TeamProfile) -> str:
    """The profile as plain text, for the terminal: every field, ids as they are stored."""
    if profile.empty:
        return "(empty)"
    sponsor = profile.exec_sponsor
    lines = [
        f"Company: {profile.company or '-'}",
        "Exec sponsor: " + ("-" if sponsor is None else sponsor.user or f"{sponsor.name}, {sponsor.title}"),
        f"Implementation team ({len(profile.implementation_team)}):",
    ]
    lines += [
        f"  {m.user}  {m.role}" + (f"  ({m.fun_fact})" if m.fun_fact else "") for m in profile.implementation_team
    ]
    lines.append(f"References ({len(profile.references)}), as name | result | segment | amounts | personas | may name:")
    lines += [f"  {forms.reference_line(r)}" for r in profile.references]
    lines.append(f"Welcome kit: {profile.links.welcome_kit or '-'}")
    lines.append(f"Thank-you video: {profile.links.thank_you_video or '-'}")
    lines.append(f"Sticking points ({len(profile.sticking_points)}):")
    lines += [f"  - {p}" for p in profile.sticking_points]
    return "\n".join(lines)

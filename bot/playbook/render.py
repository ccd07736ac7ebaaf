"""Fill playbook templates with what the team knows: the deal's facts, the team profile, the rep's own name, the plan's
dates. Titles and talking points are for the team (people mentioned); drafts go to the buyer (people named, and a
fact nobody has recorded left as a [bracketed blank] whose hint says where to add it)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from bot.deals.capture import PERSONAS
from bot.deals.model import DealFields
from bot.playbook.loader import add_business_days
from bot.profile.model import TeamProfile
from bot.slack.text import escape, mention

ADD_DETAILS = "with *Add details* on this message"
TEAM_PROFILE = "the team profile (Home › *Edit team profile*, managers)"
UNREAD = "comes from their Slack profile, which Deal Coach couldn't read yet"
_WRITTEN = re.compile(r"\[[^\[\]\n]+\]")  # a [bracketed blank] written into the template itself
KICKOFF = "kickoff"  # the playbook step whose date is {kickoff_date}


class Blank(str):
    """A fact nobody has recorded: `[what]` in the draft, and where to add it so the next draft fills itself."""

    hint: str

    def __new__(cls, what: str, hint: str) -> Blank:
        blank = super().__new__(cls, f"[{what}]")
        blank.hint = hint
        return blank


@dataclass(frozen=True)
class Peer:
    """A customer a new buyer can hear about: a named reference, or one of our customers who gave a testimonial."""

    name: str
    result: str | None = None  # a one-line result, or the testimonial in their words
    quote: bool = False  # the result is the customer's own words


@dataclass(frozen=True)
class Known:
    """What the team knows beyond the deal's own fields, gathered once per message (see bot.nudges.known)."""

    profile: TeamProfile = field(default_factory=TeamProfile)
    names: Mapping[str, str] = field(default_factory=dict)  # Slack user id -> name, from users.info (cached)
    titles: Mapping[str, str] = field(default_factory=dict)  # Slack user id -> title
    dates: Mapping[str, date] = field(default_factory=dict)  # step id -> its date in this deal's plan
    peers: tuple[Peer, ...] = ()
    testimonial: str | None = None  # what this deal's testimonial step recorded: received, promised, declined
    today: date | None = None


NOTHING = Known()


def in_sentence(text: str | None) -> str:
    """A typed phrase made to sit mid-sentence: no capital on an ordinary first word, no trailing full stop.
    Acronyms (SSO), mixed case (iPhone) and what looks like a name (Google Workspace) are kept as typed."""
    words = " ".join((text or "").split()).rstrip(" .!;:").split(" ")
    first = words[0]
    second = words[1] if len(words) > 1 else ""
    rest = first[1:]
    ordinary = first[:1].isupper() and rest == rest.lower() and (first == "A" or any(c.isalpha() for c in rest))
    if ordinary and not second[:1].isupper():
        words[0] = first[0].lower() + first[1:]
    return " ".join(words)


def long_date(day: date) -> str:
    return f"{day:%A, %B} {day.day}"


def meeting_days(due: date, today: date | None = None) -> str:
    """Two days to offer for a meeting: the second and third business days after the draft goes out."""
    start = max(due, today) if today else due
    first, second = add_business_days(start, 2), add_business_days(start, 3)
    return f"{long_date(first)} or {long_date(second)}"


def _lead_id(fields: DealFields, profile: TeamProfile) -> str | None:
    """The deal's implementation lead, else the team profile's (its member whose role says lead, else the first)."""
    if fields.impl_lead_id:
        return fields.impl_lead_id
    team = list(profile.implementation_team)
    leads = [m for m in team if "lead" in m.role.lower()] or team
    return leads[0].user if leads else None


def _sponsor(profile: TeamProfile, known: Known) -> tuple[str | None, str | None]:
    sponsor = profile.exec_sponsor
    if sponsor is None:
        return None, None
    if sponsor.user:
        return known.names.get(sponsor.user), known.titles.get(sponsor.user)
    return sponsor.name, sponsor.title


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _peer_story(peer: Peer, esc: Callable[[str | None], str]) -> str:
    if not peer.result:
        return ""
    if peer.quote:
        return f"As {esc(peer.name)} put it: “{esc(peer.result)}”"
    return f"What it meant for {esc(peer.name)}: {esc(in_sentence(peer.result))}."


def facts(
    fields: DealFields,
    *,
    owner_id: str | None,
    esc: Callable[[str | None], str] = escape,
    known: Known = NOTHING,
) -> dict[str, str]:
    """Placeholder values for the team's own text (titles, why, talking points): people are mentioned, and a
    missing fact reads naturally instead of leaving a hole in a sentence."""
    profile = known.profile
    contact = esc(fields.contact_name) if fields.contact_name else "your main contact"
    first = esc(fields.contact_name.split()[0]) if fields.contact_name else "there"
    lead_id = _lead_id(fields, profile)
    if esc is escape:
        rep = mention(owner_id) if owner_id else "your rep"
        lead = mention(lead_id) if lead_id else "the implementation lead"
    else:
        rep = "your rep"
        lead = "the implementation lead"
    sponsor = profile.exec_sponsor
    if sponsor is not None and sponsor.user and esc is escape:
        sponsor_name = mention(sponsor.user)
    else:
        sponsor_name = esc(sponsor.name) if sponsor is not None and sponsor.name else "an executive sponsor"
    sponsor_title = _sponsor(profile, known)[1]
    peers = [
        esc(p.name) + (f" ({esc(in_sentence(p.result))})" if p.result and not p.quote else "") for p in known.peers
    ]
    links = profile.links
    return {
        "account": esc(fields.account),
        "contact": contact,
        "contact_first": first,
        "contact_title": esc(fields.contact_title) if fields.contact_title else "",
        "rep": rep,
        "amount": fields.money.format(),
        "why_bought": esc(in_sentence(fields.why_bought)) if fields.why_bought else "not recorded yet",
        "impl_lead": lead,
        "persona": PERSONAS.get(fields.persona, fields.persona),
        "company": esc(profile.company) if profile.company else "our company",
        "sponsor": sponsor_name,
        "sponsor_title": esc(sponsor_title) if sponsor_title else "executive sponsor",
        "go_live_date": long_date(fields.go_live_date) if fields.go_live_date else "the go-live date",
        "kickoff_date": long_date(known.dates[KICKOFF]) if KICKOFF in known.dates else "the kickoff",
        "meeting_days": "two days that suit them",
        "peers": _join(peers) if peers else "none recorded yet (add reference customers to the team profile)",
        "peer_story": "",
        "welcome_kit": esc(links.welcome_kit) if links.welcome_kit else "the welcome kit",
        "thank_you_video": esc(links.thank_you_video) if links.thank_you_video else "a thank-you video",
        "sticking_point": esc(in_sentence(profile.sticking_points[0]))
        if profile.sticking_points
        else "the usual sticking points",
        "thanks_for": _thanks_for(known),
        "team": "the implementation team",
    }


def _thanks_for(known: Known) -> str:
    return "the kind words you shared" if known.testimonial == "received" else "your time over the past weeks"


def draft_facts(
    fields: DealFields,
    *,
    owner_id: str | None,
    due: date | None = None,
    esc: Callable[[str | None], str] = escape,
    known: Known = NOTHING,
) -> dict[str, str]:
    """Placeholder values for a draft to the buyer: everyone by name (never a mention), everything the team knows
    filled in, and what nobody has recorded a Blank that says where to add it."""
    profile = known.profile
    values = facts(fields, owner_id=owner_id, esc=esc, known=known)

    def name_of(user_id: str | None) -> str | None:
        return known.names.get(user_id) if user_id else None

    def person(user_id: str | None, what: str, hint: str) -> str:
        name = name_of(user_id)
        return esc(name) if name else Blank(what, hint)

    contact = fields.contact_name
    lead_id = _lead_id(fields, profile)
    sponsor_name, sponsor_title = _sponsor(profile, known)
    links = profile.links
    values |= {
        "contact": esc(contact) if contact else Blank("their name", f"add the contact {ADD_DETAILS}"),
        "contact_first": esc(contact.split()[0]) if contact else Blank("first name", f"add the contact {ADD_DETAILS}"),
        "rep": person(
            owner_id, "your name", "your name comes from your Slack profile, which Deal Coach couldn't read yet"
        ),
        "impl_lead": person(
            lead_id,
            "implementation lead",
            f"pick the implementation lead {ADD_DETAILS}, or add the implementation team to {TEAM_PROFILE}"
            if lead_id is None
            else f"the implementation lead's name {UNREAD}",
        ),
        "why_bought": esc(in_sentence(fields.why_bought))
        if fields.why_bought
        else Blank("why they bought", f"add why they bought {ADD_DETAILS}"),
        "company": esc(profile.company) if profile.company else Blank("our company", f"add Company to {TEAM_PROFILE}"),
        "sponsor": esc(sponsor_name)
        if sponsor_name
        else Blank("executive's name", f"add the exec sponsor to {TEAM_PROFILE}"),
        "sponsor_title": esc(sponsor_title)
        if sponsor_title
        else Blank("their title", f"add a title to the exec sponsor's Slack profile, or to {TEAM_PROFILE}"),
        "go_live_date": long_date(fields.go_live_date)
        if fields.go_live_date
        else Blank("go-live date", f"add the go-live date {ADD_DETAILS}"),
        "kickoff_date": long_date(known.dates[KICKOFF])
        if KICKOFF in known.dates
        else Blank("kickoff date", f'a step with id "{KICKOFF}" in the playbook would date it'),
        "meeting_days": meeting_days(due, known.today) if due else Blank("day or day", "two days that suit you"),
        "welcome_kit": esc(links.welcome_kit)
        if links.welcome_kit
        else Blank("link to the welcome kit", f"add the welcome kit link to {TEAM_PROFILE}"),
        "thank_you_video": esc(links.thank_you_video)
        if links.thank_you_video
        else Blank("link to a thank-you video", f"add the thank-you video link to {TEAM_PROFILE}"),
        "sticking_point": esc(in_sentence(profile.sticking_points[0]))
        if profile.sticking_points
        else Blank("a common sticking point", f"add the usual sticking points to {TEAM_PROFILE}"),
        "team": _team(profile, known, esc),
    }
    if known.peers:
        values["peers"] = _join([esc(p.name) for p in known.peers])
        values["peer_story"] = _peer_story(known.peers[0], esc)
    else:
        values["peers"] = Blank(
            f"a customer like {values['account']}",
            f"add reference customers that may be named to {TEAM_PROFILE}, or record a testimonial on another deal",
        )
    return values


def _team(profile: TeamProfile, known: Known, esc: Callable[[str | None], str]) -> str:
    lines = []
    for member in profile.implementation_team:
        name = known.names.get(member.user)
        if name is None:
            continue
        line = f"• {esc(name)}, {esc(in_sentence(member.role))}"
        lines.append(line + (f": {esc(in_sentence(member.fun_fact))}" if member.fun_fact else ""))
    if lines:
        return "\n".join(lines)
    hint = f"add the implementation team to {TEAM_PROFILE}"
    if profile.implementation_team:
        hint = "their names come from their Slack profiles, which Deal Coach couldn't read yet"
    return Blank("the people they'll work with, a line each", hint)


class _Used(dict):
    """The values a template actually used, so only its own blanks are explained."""

    def __init__(self, values: Mapping[str, str]):
        super().__init__(values)
        self.used: list[str] = []

    def __getitem__(self, key: str) -> str:
        value = super().__getitem__(key)
        self.used.append(key)
        return value


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill a validated template; placeholders were checked when the playbook loaded."""
    return template.format_map(values)


def render_draft(template: str, values: Mapping[str, str]) -> tuple[str, list[str]]:
    """(the draft, the hints for its blanks): where to add each fact the draft still lacks, once each."""
    used = _Used(values)
    text = template.format_map(used)
    text = "\n".join(re.sub(r"(?<=\S) {2,}", " ", line).rstrip() for line in text.splitlines())
    hints: dict[str, str] = {}
    for key in used.used:
        value = values[key]
        if isinstance(value, Blank):
            hints.setdefault(str(value), f"{value}: {value.hint}")
    return text, list(hints.values())


def personal_blanks(template: str, values: Mapping[str, str]) -> list[str]:
    """The [bracketed blanks] the template itself leaves for the rep (a moment from the deal, the proof closest to
    their situation): no profile or deal field can fill them, so the nudge says so instead of promising to."""
    found: dict[str, None] = {}
    for written in _WRITTEN.findall(template):
        try:
            shown = written.format_map(values)
        except (KeyError, ValueError, IndexError):
            shown = written
        found.setdefault(shown, None)
    return list(found)

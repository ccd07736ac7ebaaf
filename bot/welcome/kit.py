"""What a welcome kit says, gathered from the team profile, the deal and Slack: only facts we have, none made up."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from bot.deals.model import Deal, Nudge
from bot.playbook.loader import Step
from bot.profile.model import TeamProfile

MAX_MILESTONES = 6
IMPL_LEAD_ROLE = "Implementation lead"
CANCELLED = ("skipped", "cancelled")
# What each later stage means to the buyer, shown at the date its first step is due (never an internal step title).
STAGE_MILESTONES = {
    "activate": "Go-live check-in",
    "acclimate": "Training and check-ins as your team settles in",
    "accomplish": "Reviewing your first results together",
}


@dataclass(frozen=True)
class SlackPerson:
    """Who a member id is, as their Slack profile says (users.info); what Slack doesn't say is None."""

    name: str | None = None
    title: str | None = None
    phone: str | None = None
    photo_url: str | None = None


@dataclass(frozen=True)
class KitPerson:
    """One face in the kit. `photo` is a square image (PNG bytes) or None, drawn as initials."""

    name: str | None
    title: str | None = None
    role: str | None = None
    fun_fact: str | None = None
    phone: str | None = None
    photo: bytes | None = None

    @property
    def initials(self) -> str:
        words = [w for w in (self.name or "").replace("-", " ").split() if w[:1].isalpha()]
        if not words:
            return ""
        return (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper()


@dataclass(frozen=True)
class Milestone:
    day: date
    label: str


@dataclass(frozen=True)
class Kit:
    company: str
    account: str
    contact: str | None
    contact_title: str | None
    rep: KitPerson | None  # the deal's owner: the buyer's first call
    team: tuple[KitPerson, ...]
    sponsor: KitPerson | None
    timeline: tuple[Milestone, ...]
    link: str | None
    prepared: date

    @property
    def photos(self) -> int:
        return sum(1 for p in (*self.team, self.sponsor) if p is not None and p.photo)


class MissingProfile(Exception):
    """The team profile lacks what a kit is made of; the message says what to set and where."""


def check_profile(profile: TeamProfile | None) -> TeamProfile:
    """The profile a kit can be made from, or MissingProfile naming what to set first (never an empty kit)."""
    missing = []
    if profile is None or not profile.company:
        missing.append("your company's name")
    if profile is None or not profile.implementation_team:
        missing.append("the implementation team (at least one person and their role)")
    if missing:
        raise MissingProfile(" and ".join(missing))
    assert profile is not None
    return profile


def timeline(deal: Deal, nudges: Iterable[Nudge], steps: dict[str, Step], company: str) -> tuple[Milestone, ...]:
    """Dates the buyer can hold us to: the decision, the go-live date when known, and when each later stage starts.
    A stage timed from go-live is left out while go-live is unknown (its date would be a guess)."""
    fields = deal.fields
    found = [Milestone(fields.close_date, f"{fields.account} chose {company}")]
    go_live = fields.go_live_date
    if go_live is not None:
        found.append(Milestone(go_live, "Go-live"))
    first: dict[str, date] = {}
    for nudge in nudges:
        step = steps.get(nudge.step_id)
        if nudge.stage not in STAGE_MILESTONES or nudge.status in CANCELLED or step is None:
            continue
        if step.after == "go_live" and go_live is None:
            continue
        if nudge.stage not in first or nudge.due_date < first[nudge.stage]:
            first[nudge.stage] = nudge.due_date
    for stage, day in first.items():
        if not (stage == "activate" and day == go_live):  # the check-in on go-live day is the go-live itself
            found.append(Milestone(day, STAGE_MILESTONES[stage]))
    found.sort(key=lambda m: m.day)
    return tuple(found[:MAX_MILESTONES])


def assemble(
    profile: TeamProfile,
    deal: Deal,
    nudges: Iterable[Nudge],
    steps: dict[str, Step],
    *,
    people: dict[str, SlackPerson],
    photo: Callable[[str | None], bytes | None],
    today: date,
) -> Kit:
    """The kit for `deal`: the profile's team (the deal's implementation lead first), the sponsor, the rep, dates.
    `people` is what Slack said about each member id; `photo(url)` fetches a photo, or None for initials."""

    def person(user: str | None, *, role: str | None = None, fun_fact: str | None = None) -> KitPerson:
        slack = people.get(user or "", SlackPerson())
        return KitPerson(slack.name, slack.title, role, fun_fact, slack.phone, photo(slack.photo_url))

    team = [person(m.user, role=m.role, fun_fact=m.fun_fact) for m in profile.implementation_team]
    lead = deal.fields.impl_lead_id
    members = [m.user for m in profile.implementation_team]
    if lead and lead in members:  # the person running this rollout comes first
        team.insert(0, team.pop(members.index(lead)))
    elif lead:
        team.insert(0, person(lead, role=IMPL_LEAD_ROLE))
    sponsor = profile.exec_sponsor
    kit_sponsor = None
    if sponsor is not None and sponsor.user:
        kit_sponsor = person(sponsor.user, role="Executive sponsor")
    elif sponsor is not None and sponsor.name:
        kit_sponsor = KitPerson(sponsor.name, sponsor.title, "Executive sponsor")
    assert profile.company is not None
    return Kit(
        company=profile.company,
        account=deal.account,
        contact=deal.fields.contact_name,
        contact_title=deal.fields.contact_title,
        rep=person(deal.owner_id),
        team=tuple(team[:6]),
        sponsor=kit_sponsor,
        timeline=timeline(deal, nudges, steps, profile.company),
        link=profile.links.welcome_kit,
        prepared=today,
    )


def slack_person(user: dict) -> SlackPerson:
    """What users.info says about someone, as the kit uses it: the biggest photo Slack offers up to 512 px."""
    profile = user.get("profile") or {}
    name = profile.get("real_name") or user.get("real_name") or profile.get("display_name") or user.get("name")
    url = next((profile[k] for k in ("image_512", "image_192", "image_72", "image_48") if profile.get(k)), None)
    return SlackPerson(name or None, profile.get("title") or None, profile.get("phone") or None, url)

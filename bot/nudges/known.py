"""What the team knows about a deal when its drafts are drawn: the team profile, people's names (cached from
Slack), the plan's dates, the customers a buyer can hear about, what the testimonial step recorded."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date

from slack_sdk import WebClient

from bot.deals import model as deals
from bot.deals.model import Deal, Nudge
from bot.nudges import ledger
from bot.playbook.loader import Step
from bot.playbook.render import Known
from bot.profile import peers, people
from bot.profile.model import TeamProfile
from bot.profile.service import profile_of, refresh_people
from bot.runtime import Runtime

QUOTE_LIMIT = 200  # a longer testimonial is cut to fit a sentence


def _people_of(deal: Deal, profile: TeamProfile, nudges: Iterable[Nudge] = ()) -> set[str]:
    """Whose names a deal's drafts may use: the rep (or the teammate a step was handed to), the implementation lead
    and team, the exec sponsor."""
    ids = {deal.owner_id, deal.fields.impl_lead_id, *(m.user for m in profile.implementation_team)}
    ids |= {n.assignee_id for n in nudges if n.assignee_id}
    if profile.exec_sponsor is not None:
        ids.add(profile.exec_sponsor.user)
    return {i for i in ids if i}


def _words(detail: str | None) -> str | None:
    text = " ".join((detail or "").split())
    if not text or text.startswith(("http://", "https://", "<http")):
        return None
    return text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 1].rstrip() + "…"


def _profile(rt: Runtime, team_id: str) -> TeamProfile:
    stored = profile_of(rt, team_id)
    return stored.profile if stored else TeamProfile()


def refresh(rt: Runtime, client: WebClient, deal: Deal, nudges: Iterable[Nudge] = ()) -> None:
    """Before a deal's nudges are posted: the names their drafts will use, read from Slack if not cached today."""
    refresh_people(rt, client, deal.team_id, _people_of(deal, _profile(rt, deal.team_id), nudges))


def uses_peers(steps: Iterable[Step | None]) -> bool:
    """Whether any of these steps names peers: only then are the team's testimonials looked up."""
    texts = (t for s in steps if s is not None for t in (s.draft, *dict(s.draft_for).values(), *s.how))
    return any(p in t for t in texts for p in ("{peers}", "{peer_story}"))


def known_for(rt: Runtime, deal: Deal, *, today: date | None = None, peers_needed: bool = True) -> Known:
    """Everything a draft for this deal may say, from the database only; `today` is the day the message was first
    posted, so a redraw offers the same meeting days as the post did."""
    profile = _profile(rt, deal.team_id)
    playbook, fields = rt.playbook, deal.fields
    amount = playbook.compared(fields.money.amount, fields.money.currency)
    tier = playbook.tier_of(fields.money.amount, fields.money.currency)
    chosen = peers.pick(profile, [], amount=amount, tier=tier, persona=fields.persona, account=fields.account)
    with rt.store.session() as db:
        nudges = deals.deal_nudges(db, deal.id)
        cached = people.cached(db, deal.team_id, _people_of(deal, profile, nudges))
        asking = [s.id for s in playbook.steps if s.outcome == "testimonial"]
        given = ledger.testimonials(db, deal.team_id, asking) if peers_needed and not chosen else []
    recorded = [json.loads(n.outcome) for n in nudges if n.outcome and n.status == "done"]
    testimonial = next((o.get("result") for o in recorded if o.get("kind") == "testimonial"), None)
    if given:
        customers = [
            peers.Testimonial(
                d.account,
                playbook.tier_of(d.fields.money.amount, d.fields.money.currency),
                d.fields.persona,
                _words(outcome.get("detail")),
            )
            for d, outcome in given
        ]
        chosen = peers.pick(
            profile, customers, amount=amount, tier=tier, persona=fields.persona, account=fields.account
        )
    return Known(
        profile=profile,
        names={u: p.name for u, (p, _) in cached.items() if p.name},
        titles={u: p.title for u, (p, _) in cached.items() if p.title},
        dates={n.step_id: n.due_date for n in nudges},
        peers=chosen,
        testimonial=testimonial,
        today=today or rt.today(),
    )

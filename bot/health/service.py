"""The health use cases a rep acts on: a verbal yes's reason-to-believe checklist, opened and saved by the deal's
owner or a manager."""

from __future__ import annotations

from bot.deals import model as deals
from bot.deals.model import Deal
from bot.deals.service import DealChange, NotAllowed, Redraw, check_may_edit
from bot.health import readiness
from bot.runtime import Runtime
from bot.slack.text import escape

SIGNED_ALREADY = "{account} is signed already: the reason-to-believe check is for a verbal yes. Nothing changed."


def readiness_for(rt: Runtime, deal_id: int, *, team_id: str, user_id: str) -> tuple[Deal, readiness.Answers | None]:
    """The deal and its checklist as last saved, if this user may answer it on an open verbal yes; raises NotAllowed."""
    with rt.store.session() as db:
        deal = deals.get_deal(db, deal_id)
    check_may_edit(rt, deal, team_id=team_id, user_id=user_id)
    assert deal is not None
    _check_open_verbal(deal)
    return deal, readiness.answers_of(deal)


def _check_open_verbal(deal: Deal) -> None:
    if deal.cancelled:
        raise NotAllowed(f"{escape(deal.account)} was cancelled: nothing to check. Nothing changed.")
    if deal.fields.signed:
        raise NotAllowed(SIGNED_ALREADY.format(account=escape(deal.account)))


def save_readiness(rt: Runtime, deal_id: int, ticked: set[str], *, team_id: str, user_id: str) -> DealChange:
    """Store the checklist and turn each gap into a step before the signature, in one transaction. Raises NotAllowed."""
    now, today = rt.now(), rt.today()
    with rt.store.write() as db:
        deal = deals.get_deal(db, deal_id)
        check_may_edit(rt, deal, team_id=team_id, user_id=user_id)
        assert deal is not None
        _check_open_verbal(deal)
        readiness.save(
            db,
            deal,
            ticked,
            actor=user_id,
            now=now,
            today=today,
            open_day=rt.hours.first_open_day,
            playbook=rt.playbook,
        )
        updated = deals.get_deal(db, deal_id)
        people = deals.people_of_deals(db, [deal_id]).get(team_id, set()) | {user_id}
    redraw = Redraw(team_id, deals=(deal_id,), people=frozenset(people))
    return DealChange(True, updated, [], None, redraw)

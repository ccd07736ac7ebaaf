"""Buyer-signal use cases: how the buyer sounded after a step (one tap, then an optional note), a touch outside the
plan, a concern flagged. Only the deal's owner or a manager (and, for a step, whoever it was handed to) may record
one; everything a user typed goes through the one text policy; each is stored whole or not at all."""

from __future__ import annotations

from bot.deals import model as deals
from bot.deals.model import Deal, Nudge
from bot.deals.service import NotAllowed, check_may_edit
from bot.manage.model import team_of
from bot.nudges.service import nudge_for
from bot.runtime import Runtime
from bot.signals import blocks, forms
from bot.signals import model as signals

NOT_DONE = "That follow-up isn't done, so there is nothing to say about how it went yet."
CLOSED_DEAL = "This deal is {status}: its signals are no longer followed."


def should_ask(rt: Runtime, nudge: Nudge) -> bool:
    """Ask "How did they sound?" after Done on a step that talks to the buyer (the playbook's `buyer` flag)."""
    step = rt.steps_by_id().get(nudge.step_id)
    return nudge.status == "done" and step is not None and step.buyer


def sounded_question(rt: Runtime, nudge: Nudge, deal: Deal) -> tuple[str, list[dict]]:
    return blocks.sounded_question(nudge, deal.account)


def _done_step(rt: Runtime, nudge_id: int, *, team_id: str, user_id: str) -> tuple[Nudge, Deal]:
    nudge, deal = nudge_for(rt, nudge_id, team_id=team_id, user_id=user_id)
    if nudge.status != "done":
        raise NotAllowed(NOT_DONE)
    return nudge, deal


def record_sounded(rt: Runtime, nudge_id: int, sentiment: str, *, team_id: str, user_id: str) -> tuple[str, list]:
    """One tap: how the buyer sounded on a done step; tapping again corrects it, the note stays."""
    nudge, deal = _done_step(rt, nudge_id, team_id=team_id, user_id=user_id)
    with rt.store.write() as db:
        signals.record_step(
            db,
            team_id=team_id,
            deal_id=deal.id,
            nudge_id=nudge.id,
            by_user=user_id,
            happened_on=rt.today(),
            now=rt.now(),
            sentiment=sentiment,
            keep_note=True,
        )
        on_a_digest = sentiment == signals.WORRIED and bool(digest_readers(db, rt, deal))
    return blocks.sounded_answer(sentiment, deal.account, nudge.id, on_a_digest=on_a_digest)


def digest_readers(db, rt: Runtime, deal: Deal) -> list[str]:
    """The managers whose daily digest lists this deal's buyer signals: each in DEALCOACH_MANAGERS whose chosen team
    (everyone, by default) includes the deal's owner, as the digest filters it (bot.signals.watch)."""
    return [
        m
        for m in rt.settings.managers
        if (reps := team_of(db, team_id=deal.team_id, manager_id=m)) is None or deal.owner_id in reps
    ]


def step_note_modal(rt: Runtime, nudge_id: int, *, team_id: str, user_id: str) -> dict:
    nudge, deal = _done_step(rt, nudge_id, team_id=team_id, user_id=user_id)
    with rt.store.session() as db:
        current = signals.step_signal(db, nudge.id)
    return blocks.step_note_modal(nudge, deal, current)


def save_step_note(rt: Runtime, values: dict, private_metadata: str, *, team_id: str, user_id: str) -> Deal:
    """The note (and sentiment) of a done step. Raises FormErrors or NotAllowed; nothing is stored then."""
    _, nudge_id = forms.read_modal_metadata(private_metadata)
    if nudge_id is None:
        raise NotAllowed(forms.LOST_TRACK)
    heard = forms.read_step_note(values)
    nudge, deal = _done_step(rt, nudge_id, team_id=team_id, user_id=user_id)
    with rt.store.write() as db:
        signals.record_step(
            db,
            team_id=team_id,
            deal_id=deal.id,
            nudge_id=nudge.id,
            by_user=user_id,
            happened_on=rt.today(),
            now=rt.now(),
            sentiment=heard.sentiment,
            note=heard.note,
        )
    return deal


def deal_for_signal(rt: Runtime, deal_id: int, *, team_id: str, user_id: str) -> Deal:
    """The deal behind Log a touch or Flag a concern, if this user may add to it (owner or manager) and it is open."""
    with rt.store.session() as db:
        deal = deals.get_deal(db, deal_id)
    check_may_edit(rt, deal, team_id=team_id, user_id=user_id)
    assert deal is not None
    if deal.status != "open":
        raise NotAllowed(CLOSED_DEAL.format(status=deal.status))
    return deal


def touch_modal(rt: Runtime, deal_id: int, *, team_id: str, user_id: str) -> dict:
    return blocks.touch_modal(deal_for_signal(rt, deal_id, team_id=team_id, user_id=user_id), rt.today())


def concern_modal(rt: Runtime, deal_id: int, *, team_id: str, user_id: str) -> dict:
    return blocks.concern_modal(deal_for_signal(rt, deal_id, team_id=team_id, user_id=user_id))


def save_signal(
    rt: Runtime, kind: str, values: dict, private_metadata: str, *, team_id: str, user_id: str, view_id: str
) -> tuple[Deal, bool]:
    """A logged touch or a flagged concern, once per submission (the view id): (deal, stored now). Raises FormErrors
    or NotAllowed, and then nothing is stored."""
    deal_id, _ = forms.read_modal_metadata(private_metadata)
    if deal_id is None or not view_id:
        raise NotAllowed(forms.LOST_TRACK)
    today = rt.today()
    if kind == signals.TOUCH:
        heard = forms.read_touch(values, today=today)
    elif kind == signals.CONCERN:
        heard = forms.read_concern(values)
    else:
        raise ValueError(f"unknown signal kind {kind!r}")
    deal = deal_for_signal(rt, deal_id, team_id=team_id, user_id=user_id)
    with rt.store.write() as db:
        stored = signals.record(
            db,
            team_id=team_id,
            deal_id=deal.id,
            kind=kind,
            by_user=user_id,
            happened_on=heard.happened_on or today,
            now=rt.now(),
            request_key=f"view:{view_id}",
            sentiment=heard.sentiment,
            concern=heard.concern,
            medium=heard.medium,
            note=heard.note,
        )
    return deal, stored

"""Which customers a new buyer hears about ("you join X, Y and Z"): never invented. First the team profile's
references that may be named, for the deal's size and buyer; else the team's own customers who gave a testimonial,
of the same tier, the same kind of buyer first."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.playbook.render import Peer
from bot.profile.model import Reference, TeamProfile

MAX_PEERS = 3


@dataclass(frozen=True)
class Testimonial:
    """One of our customers who gave a testimonial, as the testimonial step recorded it."""

    account: str
    tier: str
    persona: str
    words: str | None  # the testimonial itself, when the rep pasted it (a link is not quoted)


def _fits(ref: Reference, amount: Decimal, persona: str) -> bool:
    if not ref.may_name:
        return False
    if ref.min_amount is not None and amount < ref.min_amount:
        return False
    if ref.max_amount is not None and amount > ref.max_amount:
        return False
    return not ref.personas or persona in ref.personas


def pick(
    profile: TeamProfile,
    testimonials: list[Testimonial],
    *,
    amount: Decimal,
    tier: str,
    persona: str,
    account: str,
) -> tuple[Peer, ...]:
    """Up to three peers; `amount` in DEALCOACH_CURRENCY as the playbook compares it, `tier` the deal's."""
    refs = [r for r in profile.references if _fits(r, amount, persona)]
    if refs:
        refs.sort(key=lambda r: not r.personas)  # those chosen for this buyer first
        return tuple(Peer(r.name, r.result) for r in refs[:MAX_PEERS])
    mine = account.casefold()
    found: dict[str, Testimonial] = {}
    for t in sorted(testimonials, key=lambda t: t.persona != persona):
        key = t.account.casefold()
        if t.tier == tier and key != mine and key not in found:
            found[key] = t
    return tuple(Peer(t.account, t.words, quote=True) for t in list(found.values())[:MAX_PEERS])

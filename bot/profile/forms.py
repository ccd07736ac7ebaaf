"""The profile modal's fields: reading a submission into a TeamProfile, or inline errors that name the problem and
show an example. Every field goes through the same checks as the team file."""

from __future__ import annotations

import re
from decimal import Decimal

from bot.deals.capture import InputError, check_text
from bot.profile import loader
from bot.profile.model import Links, Member, Reference, Sponsor, TeamProfile
from bot.slack.blocks import VALUE
from bot.slack.forms import FormErrors, inline
from bot.slack.ids import is_user_id

PROFILE_MODAL = "team_profile"
COMPANY, SPONSOR_USER, SPONSOR_NAME = "profile_company", "profile_sponsor_user", "profile_sponsor_name"
REFERENCES, WELCOME_KIT, THANK_YOU_VIDEO, STICKING = (
    "profile_references",
    "profile_welcome_kit",
    "profile_thank_you_video",
    "profile_sticking_points",
)
MEMBER_ROWS = loader.MAX_MEMBERS
MAX_REFERENCES_TEXT = 3000
REFERENCE_EXAMPLE = (
    "Globex | Live in 6 weeks, 30% fewer tickets | mid-market | 20k-250k | economic, technical | may name"
)
REFERENCE_FORMAT = "name | one-line result | segment | amount range | personas | may name (or leave it off)"
SPONSOR_EXAMPLE = "Dana Whitfield, CEO"
ROLE_EXAMPLE = "Implementation lead"
_AMOUNT = re.compile(r"^(\d[\d,]*(?:\.\d+)?)([kKmM]?)$")


def member_block(row: int, part: str) -> str:
    return f"profile_member_{row}_{part}"


def _element(values: dict, block_id: str) -> dict:
    return (values.get(block_id) or {}).get(VALUE) or {}


def _raw(values: dict, block_id: str) -> str:
    value = _element(values, block_id).get("value")
    return value if isinstance(value, str) else ""


def _amount_text(amount: Decimal | None) -> str:
    if amount is None:
        return ""
    return f"{amount.normalize():f}"


def reference_line(ref: Reference) -> str:
    """A reference as one line of the modal's format, so what is stored can be edited as it was typed."""
    amounts = ""
    if ref.min_amount is not None or ref.max_amount is not None:
        amounts = f"{_amount_text(ref.min_amount)}-{_amount_text(ref.max_amount)}"
    parts = [
        ref.name,
        ref.result,
        ref.segment or "",
        amounts,
        ", ".join(ref.personas),
        "may name" if ref.may_name else "",
    ]
    while parts and not parts[-1]:
        parts.pop()
    return " | ".join(parts)


def _parse_amount(token: str) -> Decimal | None:
    token = token.strip().replace(" ", "")
    if not token:
        return None
    m = _AMOUNT.match(token)
    if not m:
        raise InputError(f"'{token}' isn't an amount; write it like 20000, 20k or 1.5M.", REFERENCE_EXAMPLE)
    return Decimal(m.group(1).replace(",", "")) * {"": 1, "k": 1000, "m": 1000000}[m.group(2).lower()]


def parse_reference(line: str) -> Reference:
    """One line: name | result | segment | amount range (20k-250k, 20k-, -250k) | personas | may name."""
    parts = [p.strip() for p in line.split("|")]
    if len(parts) > 6:
        raise InputError(
            f"It has {len(parts)} parts; a reference has at most 6: {REFERENCE_FORMAT}.", REFERENCE_EXAMPLE
        )
    parts += [""] * (6 - len(parts))
    name, result, segment, amounts, personas, named = parts
    if not name or not result:
        raise InputError("A reference needs at least its name and a one-line result.", REFERENCE_EXAMPLE)
    low = high = None
    if amounts:
        if "-" not in amounts:
            raise InputError(
                f"'{amounts}' isn't an amount range; write it like 20k-250k, 20k- or -250k.", REFERENCE_EXAMPLE
            )
        low_text, high_text = amounts.split("-", 1)
        low, high = _parse_amount(low_text), _parse_amount(high_text)
        loader.check_range(low, high, REFERENCE_EXAMPLE)
    if named.lower() not in ("", "may name", "anonymous"):
        raise InputError(f"The last part must be 'may name' or left off (got {named!r}).", REFERENCE_EXAMPLE)
    wanted = [p.strip().lower() for p in personas.split(",") if p.strip()]
    return Reference(
        name=check_text(name, "reference's name", loader.MAX_REFERENCE, REFERENCE_EXAMPLE),
        result=check_text(result, "result", loader.MAX_RESULT, REFERENCE_EXAMPLE),
        segment=check_text(segment, "segment", loader.MAX_SEGMENT, REFERENCE_EXAMPLE) or None,
        min_amount=low,
        max_amount=high,
        personas=loader.check_personas(wanted, REFERENCE_EXAMPLE),
        may_name=named.lower() == "may name",
    )


def _lines(values: dict, block_id: str) -> list[tuple[int, str]]:
    return [(n, line) for n, line in enumerate(_raw(values, block_id).splitlines(), 1) if line.strip()]


def read_profile_form(values: dict) -> TeamProfile:
    """Validate every field at once, so the manager sees all problems in one go; nothing is kept until all pass."""
    errors: dict[str, str] = {}

    def checked(block_id: str, check):
        try:
            return check()
        except InputError as exc:
            errors[block_id] = inline(exc.problem, exc.example)
            return None

    company = checked(
        COMPANY, lambda: check_text(_raw(values, COMPANY), "company name", loader.MAX_COMPANY, "Rocket Software")
    )
    if not company and COMPANY not in errors:
        errors[COMPANY] = "Enter your company's name, as buyers know it. For example: Rocket Software"

    sponsor_user = _element(values, SPONSOR_USER).get("selected_user")
    sponsor = None
    sponsor_text = checked(
        SPONSOR_NAME, lambda: check_text(_raw(values, SPONSOR_NAME), "sponsor", loader.MAX_PERSON * 2, SPONSOR_EXAMPLE)
    )
    if sponsor_user and not is_user_id(sponsor_user):
        errors[SPONSOR_USER] = "Pick the sponsor from the list of people in your workspace, e.g. @Dana Whitfield."
    elif sponsor_user and sponsor_text:
        errors[SPONSOR_NAME] = "Either pick the sponsor above or type a name and title here, not both."
    elif sponsor_user:
        sponsor = Sponsor(user=sponsor_user)
    elif sponsor_text:
        name, _, title = sponsor_text.partition(",")
        if not name.strip() or not title.strip():
            errors[SPONSOR_NAME] = inline("Write the sponsor's name, a comma, then their title.", SPONSOR_EXAMPLE)
        else:
            sponsor = Sponsor(name=name.strip(), title=title.strip())

    members: list[Member] = []
    for row in range(1, MEMBER_ROWS + 1):
        user_block, role_block, fact_block = (member_block(row, p) for p in ("user", "role", "fact"))
        user = _element(values, user_block).get("selected_user")
        role = checked(
            role_block, lambda b=role_block: check_text(_raw(values, b), "role", loader.MAX_ROLE, ROLE_EXAMPLE)
        )
        fact = checked(
            fact_block,
            lambda b=fact_block: check_text(_raw(values, b), "fun fact", loader.MAX_FACT, "Has run 3 marathons"),
        )
        if user and not is_user_id(user):
            errors[user_block] = "Pick a person from the list of people in your workspace, e.g. @Sam Lee."
        elif user and not role and role_block not in errors:
            errors[role_block] = inline("Say what this person does for a new customer.", ROLE_EXAMPLE)
        elif not user and (role or fact):
            errors[user_block] = "Pick the person this role and fun fact belong to, e.g. @Sam Lee."
        elif user and role:
            members.append(Member(user=user, role=role, fun_fact=fact or None))
    if len({m.user for m in members}) < len(members):
        errors.setdefault(
            member_block(1, "user"), "Each person may be listed once; pick someone else or clear the row."
        )

    references: list[Reference] = []
    for n, line in _lines(values, REFERENCES):
        try:
            references.append(parse_reference(line))
        except InputError as exc:
            errors.setdefault(REFERENCES, f"Line {n}: {inline(exc.problem, exc.example)}")
    if len(references) > loader.MAX_REFERENCES:
        errors.setdefault(REFERENCES, f"At most {loader.MAX_REFERENCES} references, one a line.")

    welcome = checked(
        WELCOME_KIT,
        lambda: loader.check_url(_raw(values, WELCOME_KIT), "welcome kit link", "https://example.com/welcome"),
    )
    video = checked(
        THANK_YOU_VIDEO,
        lambda: loader.check_url(_raw(values, THANK_YOU_VIDEO), "thank-you video link", "https://example.com/thanks"),
    )
    points: list[str] = []
    for n, line in _lines(values, STICKING):
        try:
            points.append(
                check_text(line, "sticking point", loader.MAX_POINT, "Data migration takes longer than expected")
            )
        except InputError as exc:
            errors.setdefault(STICKING, f"Line {n}: {inline(exc.problem, exc.example)}")
    if len(points) > loader.MAX_POINTS:
        errors.setdefault(STICKING, f"At most {loader.MAX_POINTS} sticking points, one a line.")

    if errors:
        raise FormErrors(errors)
    return TeamProfile(
        company=company,
        exec_sponsor=sponsor,
        implementation_team=tuple(members),
        references=tuple(references),
        links=Links(welcome_kit=welcome, thank_you_video=video),
        sticking_points=tuple(points),
    )

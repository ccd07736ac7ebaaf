"""The team file (DEALCOACH_TEAM_FILE): TOML read into a TeamProfile and validated like the playbook, every error
naming the file, the entry and its line, and what is wrong. The field checks here serve the Home modal too."""

from __future__ import annotations

import math
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

from bot.deals.capture import InputError, check_text
from bot.playbook.loader import PERSONAS
from bot.profile.model import Links, Member, Reference, Sponsor, TeamProfile
from bot.slack.ids import is_user_id

MAX_COMPANY, MAX_PERSON, MAX_ROLE, MAX_FACT = 200, 150, 100, 300
MAX_REFERENCE, MAX_SEGMENT, MAX_RESULT, MAX_POINT, MAX_URL = 200, 100, 300, 300, 500
MAX_MEMBERS, MAX_REFERENCES, MAX_POINTS = 6, 20, 10
TOP_KEYS = ("company", "exec_sponsor", "implementation_team", "references", "links", "sticking_points")
KEYS = {
    "company": ("name",),
    "exec_sponsor": ("user", "name", "title"),
    "implementation_team": ("user", "role", "fun_fact"),
    "references": ("name", "result", "segment", "min_amount", "max_amount", "personas", "may_name"),
    "links": ("welcome_kit", "thank_you_video"),
}
EXAMPLES = {
    "company": 'name = "Rocket Software"',
    "exec_sponsor": 'user = "U012AB3CD"  (or name = "Dana Whitfield" and title = "CEO")',
    "implementation_team": 'user = "U045EF6GH", role = "Implementation lead", fun_fact = "Has run 3 marathons"',
    "references": 'name = "Globex", result = "Live in 6 weeks", segment = "mid-market", personas = ["economic"]',
    "links": 'welcome_kit = "https://example.com/welcome"',
    "sticking_points": 'sticking_points = ["Data migration takes longer than expected"]',
}
USER_PROBLEM = "must be a Slack member ID such as U012AB3CD (in Slack: open the profile, ⋮, Copy member ID)"


class TeamFileError(Exception):
    """A team file that cannot be used, with the file, the entry (and its line) and what is wrong named."""


def check_url(value: str, field: str, example: str) -> str | None:
    """A link anyone can open from Slack: https, a host, no spaces. None when empty."""
    value = check_text(value, field, MAX_URL, example)
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.netloc or " " in value:
        raise InputError(f"The {field} must be an https:// link (got {value!r}).", example)
    return value


def check_personas(values: list[str], example: str) -> tuple[str, ...]:
    bad = [p for p in values if p not in PERSONAS]
    if bad:
        raise InputError(f"{bad[0]!r} is not a persona; use {', '.join(PERSONAS)}.", example)
    return tuple(dict.fromkeys(values))


def check_range(low: Decimal | None, high: Decimal | None, example: str) -> None:
    if low is not None and high is not None and low > high:
        raise InputError(f"The smallest amount ({low:,}) is larger than the largest ({high:,}).", example)


def load(path: Path) -> TeamProfile:
    """Read and validate the team file; TeamFileError names what is wrong and where."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TeamFileError(f"{path}: cannot read the team file ({exc}).") from None
    return parse(text, str(path))


def _lines(text: str, table: str) -> list[int]:
    """Line numbers where `[table]`, `[[table]]` or `table =` starts, so errors point into the file."""
    pattern = re.compile(rf"^\s*(\[\[?\s*{table}\s*\]\]?|{table}\s*=)")
    return [n for n, line in enumerate(text.splitlines(), 1) if pattern.match(line)]


def parse(text: str, source: str = "team file") -> TeamProfile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TeamFileError(f"{source}: not valid TOML: {exc}.") from None
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise TeamFileError(f"{source}: unknown key or table {unknown[0]!r}. A team file has {', '.join(TOP_KEYS)}.")

    def where(table: str, index: int = 0) -> str:
        lines = _lines(text, table)
        return f"{source}, line {lines[index]}" if index < len(lines) else source

    def table(name: str) -> dict:
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise TeamFileError(f"{where(name)}, [{name}]: must be a table, e.g. [{name}] {EXAMPLES[name]}.")
        typos = sorted(set(raw) - set(KEYS[name]))
        if typos:
            raise TeamFileError(f"{where(name)}, [{name}]: unknown key {typos[0]!r}. Known: {', '.join(KEYS[name])}.")
        return raw

    def entries(name: str, limit: int) -> list:
        raw = data.get(name, [])
        if not isinstance(raw, list):
            raise TeamFileError(f"{where(name)}, {name}: must be [[{name}]] tables, e.g. {EXAMPLES[name]}.")
        if len(raw) > limit:
            raise TeamFileError(f"{where(name, limit)}, {name}: at most {limit} entries (got {len(raw)}).")
        return raw

    company = table("company")
    sponsor = table("exec_sponsor")
    links = table("links")
    try:
        name = _text(company, "name", "company name", MAX_COMPANY, EXAMPLES["company"], required=True)
    except (InputError, ValueError) as exc:
        raise TeamFileError(f"{where('company')}, [company]: {_said(exc)}") from None
    try:
        sponsor_entry = _sponsor(sponsor)
    except (InputError, ValueError) as exc:
        raise TeamFileError(f"{where('exec_sponsor')}, [exec_sponsor]: {_said(exc)}") from None
    try:
        links_entry = Links(
            welcome_kit=check_url(_raw(links, "welcome_kit"), "welcome_kit link", EXAMPLES["links"]),
            thank_you_video=check_url(
                _raw(links, "thank_you_video"),
                "thank_you_video link",
                'thank_you_video = "https://example.com/thanks"',
            ),
        )
    except (InputError, ValueError) as exc:
        raise TeamFileError(f"{where('links')}, [links]: {_said(exc)}") from None

    members: list[Member] = []
    for index, raw in enumerate(entries("implementation_team", MAX_MEMBERS)):
        label = f"implementation_team {index + 1}"
        try:
            members.append(_member(raw))
        except (InputError, ValueError) as exc:
            raise TeamFileError(f"{where('implementation_team', index)}, {label}: {_said(exc)}") from None
    references: list[Reference] = []
    for index, raw in enumerate(entries("references", MAX_REFERENCES)):
        named = isinstance(raw, dict) and isinstance(raw.get("name"), str) and raw["name"].strip()
        label = f"reference {index + 1}" + (f" ({raw['name'].strip()!r})" if named else "")
        try:
            references.append(_reference(raw))
        except (InputError, ValueError) as exc:
            raise TeamFileError(f"{where('references', index)}, {label}: {_said(exc)}") from None
    points = data.get("sticking_points", [])
    try:
        if not isinstance(points, list) or not all(isinstance(p, str) for p in points):
            raise ValueError(f"must be a list of text, e.g. {EXAMPLES['sticking_points']}.")
        if len(points) > MAX_POINTS:
            raise ValueError(f"at most {MAX_POINTS} sticking points (got {len(points)}).")
        sticking = tuple(
            p for p in (check_text(p, "sticking point", MAX_POINT, EXAMPLES["sticking_points"]) for p in points) if p
        )
    except (InputError, ValueError) as exc:
        raise TeamFileError(f"{where('sticking_points')}, sticking_points: {_said(exc)}") from None
    return TeamProfile(
        company=name,
        exec_sponsor=sponsor_entry,
        implementation_team=tuple(members),
        references=tuple(references),
        links=links_entry,
        sticking_points=sticking,
    )


def _said(exc: Exception) -> str:
    if isinstance(exc, InputError):
        return f"{exc.problem} For example: {exc.example}"
    return str(exc)


def _raw(raw: dict, key: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be text in quotes (got {value!r}).")
    return value


def _text(raw: dict, key: str, field: str, limit: int, example: str, *, required: bool = False) -> str | None:
    value = check_text(_raw(raw, key), field, limit, example)
    if required and not value:
        raise InputError(f"The {field} is missing ({key!r}).", example)
    return value or None


def _user(raw: dict, key: str = "user") -> str:
    value = _raw(raw, key).strip()
    if not is_user_id(value):
        raise ValueError(f"{key!r} {USER_PROBLEM} (got {value!r}).")
    return value


def _sponsor(raw: dict) -> Sponsor | None:
    if not raw:
        return None
    example = EXAMPLES["exec_sponsor"]
    if "user" in raw:
        if "name" in raw or "title" in raw:
            raise ValueError(f"give either user, or name and title, not both. For example: {example}")
        return Sponsor(user=_user(raw))
    name = _text(raw, "name", "sponsor's name", MAX_PERSON, example, required=True)
    title = _text(raw, "title", "sponsor's title", MAX_PERSON, example, required=True)
    return Sponsor(name=name, title=title)


def _member(raw: object) -> Member:
    example = EXAMPLES["implementation_team"]
    if not isinstance(raw, dict):
        raise ValueError(f"must be an [[implementation_team]] table: {example}.")
    unknown = sorted(set(raw) - set(KEYS["implementation_team"]))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}. Known: {', '.join(KEYS['implementation_team'])}.")
    return Member(
        user=_user(raw),
        role=_text(raw, "role", "role", MAX_ROLE, example, required=True),
        fun_fact=_text(raw, "fun_fact", "fun fact", MAX_FACT, example),
    )


def _amount(raw: dict, key: str) -> Decimal | None:
    value = raw.get(key)
    if value is None:
        return None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or value < 0 or value != value or value == math.inf:
        raise ValueError(f"{key!r} must be a number of 0 or more, such as 50000 (got {value!r}).")
    return Decimal(str(value))


def _reference(raw: object) -> Reference:
    example = EXAMPLES["references"]
    if not isinstance(raw, dict):
        raise ValueError(f"must be a [[references]] table: {example}.")
    unknown = sorted(set(raw) - set(KEYS["references"]))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}. Known: {', '.join(KEYS['references'])}.")
    personas = raw.get("personas", [])
    if not isinstance(personas, list) or not all(isinstance(p, str) for p in personas):
        raise ValueError(f'\'personas\' must be a list such as ["economic", "technical"] (got {personas!r}).')
    may_name = raw.get("may_name", False)
    if not isinstance(may_name, bool):
        raise ValueError(f"'may_name' must be true or false (got {may_name!r}).")
    for key in ("name", "result", "segment"):  # the Home form shows a reference as one line split at |
        if "|" in str(raw.get(key, "")):
            raise ValueError(f"{key!r} can't contain |; write it another way, e.g. a comma.")
    low, high = _amount(raw, "min_amount"), _amount(raw, "max_amount")
    check_range(low, high, "min_amount = 20000, max_amount = 250000")
    return Reference(
        name=_text(raw, "name", "reference's name", MAX_REFERENCE, example, required=True),
        result=_text(raw, "result", "result", MAX_RESULT, example, required=True),
        segment=_text(raw, "segment", "segment", MAX_SEGMENT, example),
        min_amount=low,
        max_amount=high,
        personas=check_personas(personas, 'personas = ["economic", "technical"]'),
        may_name=may_name,
    )

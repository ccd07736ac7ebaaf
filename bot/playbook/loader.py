"""The post-purchase playbook: TOML data, validated on load, turned into a dated plan for each deal."""

from __future__ import annotations

import math
import re
import string
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

STAGES = ("affirm", "activate", "acclimate", "accomplish")
STAGE_LABEL = {stage: stage.capitalize() for stage in STAGES}  # as a stage is shown to the team
ANCHORS = ("close", "go_live")
PERSONAS = ("economic", "technical", "champion", "other")
PLACEHOLDERS = frozenset(
    {
        "account",
        "contact",
        "contact_first",
        "contact_title",
        "rep",
        "amount",
        "why_bought",
        "impl_lead",
        "persona",
    }
)
STEP_KEYS = frozenset(
    {
        "id",
        "stage",
        "after",
        "days",
        "business_days",
        "title",
        "why",
        "how",
        "draft",
        "personas",
        "min_amount",
        "max_amount",
        "outcome",
        "unsigned_only",
        "window",
    }
)
OUTCOMES = ("win_reason", "testimonial", "referral")  # what Done asks the rep to record
BUILTIN = "default_playbook.toml"
STEP_HEADER = re.compile(r"^\s*\[\[\s*steps\s*\]\]")  # TOML allows `[[ steps ]]` too


class PlaybookError(Exception):
    """A playbook that cannot be used, with the file, the line and the step named."""


@dataclass(frozen=True)
class Step:
    id: str
    stage: str
    after: str
    days: int
    business_days: bool
    title: str
    why: str
    how: tuple[str, ...]
    draft: str
    personas: tuple[str, ...]
    min_amount: Decimal | None
    max_amount: Decimal | None
    outcome: str | None = None
    unsigned_only: bool = False
    window: int | None = None  # days after it falls due that the step is still worth doing; None: it always is

    def applies_to(self, persona: str, amount: Decimal, signed: bool = True) -> bool:
        if self.unsigned_only and signed:
            return False
        if self.personas and persona not in self.personas:
            return False
        if self.min_amount is not None and amount < self.min_amount:
            return False
        return not (self.max_amount is not None and amount > self.max_amount)


@dataclass(frozen=True)
class PlannedStep:
    step: Step
    due: date


@dataclass(frozen=True)
class Playbook:
    name: str
    source: str
    go_live_after_days: int
    steps: tuple[Step, ...]

    def plan(
        self, *, close_date: date, persona: str, amount: Decimal, go_live: date | None = None, signed: bool = True
    ) -> list[PlannedStep]:
        """The steps this deal gets, each with its due date, in date order."""
        assumed_live = go_live or close_date + timedelta(days=self.go_live_after_days)
        planned = []
        for step in self.steps:
            if not step.applies_to(persona, amount, signed):
                continue
            anchor = close_date if step.after == "close" else assumed_live
            due = add_business_days(anchor, step.days) if step.business_days else anchor + timedelta(days=step.days)
            planned.append(PlannedStep(step, due))
        return sorted(planned, key=lambda p: (p.due, STAGES.index(p.step.stage)))


def add_business_days(start: date, days: int) -> date:
    """Count Monday-to-Friday days forward; day 0 on a weekend rolls to the Monday."""
    current = start
    while current.weekday() >= 5:
        current += timedelta(days=1)
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


def load(path: Path | None = None) -> Playbook:
    """Load and validate a playbook file, or the built-in one when no path is given."""
    if path is None:
        text = resources.files("bot.playbook").joinpath(BUILTIN).read_text(encoding="utf-8")
        source = f"built-in {BUILTIN}"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PlaybookError(f"{path}: cannot read the playbook ({exc}).") from None
        source = str(path)
    return parse(text, source)


def _step_lines(text: str) -> list[int]:
    """Line numbers of each [[steps]] header, so errors can point at the step in the file."""
    return [n for n, line in enumerate(text.splitlines(), 1) if STEP_HEADER.match(line)]


def parse(text: str, source: str = "playbook") -> Playbook:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlaybookError(f"{source}: not valid TOML: {exc}.") from None
    unknown = sorted(set(data) - {"playbook", "steps"})
    if unknown:
        raise PlaybookError(f"{source}: unknown table [{unknown[0]}]. A playbook has [playbook] and [[steps]] tables.")
    header = data.get("playbook", {})
    if not isinstance(header, dict):
        raise PlaybookError(f"{source}: [playbook] must be a table with name and go_live_after_days.")
    typos = sorted(set(header) - {"name", "go_live_after_days"})
    if typos:
        raise PlaybookError(f"{source}: [playbook] has an unknown key {typos[0]!r}. Known: name, go_live_after_days.")
    name = header.get("name", "Playbook")
    go_live_after = header.get("go_live_after_days", 30)
    if not isinstance(go_live_after, int) or isinstance(go_live_after, bool) or not 0 <= go_live_after <= 365:
        raise PlaybookError(f"{source}: [playbook] go_live_after_days must be a whole number from 0 to 365.")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise PlaybookError(f"{source}: no steps. Add at least one [[steps]] table with id, stage, days and title.")
    lines = _step_lines(text)
    steps: list[Step] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_steps):
        where = f"{source}, line {lines[index]}" if index < len(lines) else source
        named = isinstance(raw, dict) and isinstance(raw.get("id"), str)
        label = f"step {index + 1}" + (f" ({raw['id']!r})" if named else "")
        try:
            step = _parse_step(raw)
        except ValueError as exc:
            raise PlaybookError(f"{where}, {label}: {exc}") from None
        if step.id in seen:
            raise PlaybookError(f"{where}, {label}: the id {step.id!r} is used by an earlier step; ids must be unique.")
        seen.add(step.id)
        steps.append(step)
    return Playbook(name=str(name), source=source, go_live_after_days=go_live_after, steps=tuple(steps))


def _text(raw: dict, key: str, *, required: bool = True, limit: int = 2000) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be text.")
    value = value.strip()
    if required and not value:
        raise ValueError(f"'{key}' is missing.")
    if len(value) > limit:
        raise ValueError(f"'{key}' is {len(value)} characters; keep it under {limit}.")
    _check_placeholders(key, value)
    return value


def _check_placeholders(key: str, value: str) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise ValueError(f"'{key}' has a broken placeholder ({exc}); write literal braces as {{{{ and }}}}.") from None
    for f in fields:
        if f not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
            raise ValueError(f"'{key}' uses an unknown placeholder {{{f}}}. Known: {known}.")
    try:  # a trial fill catches what the names alone don't: {account:{foo}}, {account!x}, {account:d}
        value.format_map(dict.fromkeys(PLACEHOLDERS, ""))
    except (ValueError, KeyError, IndexError) as exc:
        raise ValueError(
            f"'{key}' has a placeholder that can't be filled ({exc!r}); write it plainly, like {{account}}."
        ) from None


def _amount(raw: dict, key: str) -> Decimal | None:
    value = raw.get(key)
    if value is None:
        return None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or value < 0 or value != value or value == math.inf:  # TOML allows nan and inf
        raise ValueError(f"'{key}' must be a number of 0 or more (got {value!r}).")
    return Decimal(str(value))


def _parse_step(raw: object) -> Step:
    if not isinstance(raw, dict):
        raise ValueError("each step must be a [[steps]] table.")
    unknown = sorted(set(raw) - STEP_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}. Known keys: {', '.join(sorted(STEP_KEYS))}.")
    step_id = raw.get("id")
    if not isinstance(step_id, str) or not step_id or not step_id.replace("-", "").replace("_", "").isalnum():
        raise ValueError("'id' must be a short name of letters, digits, - or _, such as \"thank-you-note\".")
    stage = raw.get("stage")
    if stage not in STAGES:
        raise ValueError(f"'stage' must be one of {', '.join(STAGES)} (got {stage!r}).")
    after = raw.get("after", "close")
    if after not in ANCHORS:
        raise ValueError(f'\'after\' must be "close" or "go_live" (got {after!r}).')
    days = raw.get("days")
    if days is None:
        raise ValueError("'days' is missing: how many days after close (or go-live) the step is due.")
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 400:
        raise ValueError(f"'days' must be a whole number from 0 to 400 (got {days!r}).")
    business_days = raw.get("business_days", False)
    if not isinstance(business_days, bool):
        raise ValueError("'business_days' must be true or false.")
    how = raw.get("how", [])
    if not isinstance(how, list) or not all(isinstance(h, str) and h.strip() for h in how):
        raise ValueError('\'how\' must be a list of talking points, such as ["Thank them", "Confirm the date"].')
    for point in how:
        _check_placeholders("how", point)
    personas = raw.get("personas", [])
    if not isinstance(personas, list) or any(p not in PERSONAS for p in personas):
        raise ValueError(f"'personas' must be a list drawn from {', '.join(PERSONAS)} (got {personas!r}).")
    unsigned_only = raw.get("unsigned_only", False)
    if not isinstance(unsigned_only, bool):
        raise ValueError("'unsigned_only' must be true or false.")
    outcome = raw.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"'outcome' must be one of {', '.join(OUTCOMES)} (got {outcome!r}).")
    window = raw.get("window")
    if window is not None and (not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= 400):
        raise ValueError(
            f"'window' must be a whole number of days from 1 to 400 (got {window!r}): how long after it falls due "
            "the step is still worth doing, such as window = 3 for a call that belongs to the first days."
        )
    min_amount, max_amount = _amount(raw, "min_amount"), _amount(raw, "max_amount")
    if min_amount is not None and max_amount is not None and min_amount > max_amount:
        raise ValueError("'min_amount' is larger than 'max_amount'.")
    return Step(
        id=step_id,
        stage=stage,
        after=after,
        days=days,
        business_days=business_days,
        title=_text(raw, "title", limit=140),
        why=_text(raw, "why", required=False, limit=500),
        how=tuple(h.strip() for h in how),
        draft=_text(raw, "draft", required=False, limit=2500),
        personas=tuple(personas),
        min_amount=min_amount,
        max_amount=max_amount,
        outcome=outcome,
        unsigned_only=unsigned_only,
        window=window,
    )

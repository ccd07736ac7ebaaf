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
TIERS = ("light", "standard", "enterprise")  # smallest first; [tiers] in the playbook says where each starts
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
        # what the team knows once (the team profile) and the deal's plan: see bot/playbook/render.py
        "company",
        "sponsor",
        "sponsor_title",
        "go_live_date",
        "kickoff_date",
        "meeting_days",
        "peers",
        "peer_story",
        "welcome_kit",
        "thank_you_video",
        "sticking_point",
        "thanks_for",
        "team",
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
        "buyer",
        "ask",
        "when",
        "readiness",
        "variant_of",
        "then_days",
        "tiers",
        "draft_for",
    }
)
OUTCOMES = ("win_reason", "testimonial", "referral")  # what Done asks the rep to record
# `when`: a step the plan doesn't time from close or go-live. GO_LIVE_UNKNOWN is planned only while a deal has no
# go-live date (the question "has it gone live?"); UNHEALTHY (recovery) and READINESS_GAP are added by the domain
# when a gate holds an ask or a verbal yes's checklist has a gap. On a `variant_of` step, `when` says when its words
# replace the base step's: TESTIMONIAL_RECEIVED, NO_TESTIMONIAL, GO_LIVE_UNKNOWN or KICKOFF_PENDING (the deal's
# "kickoff" step not marked done, so no draft says the kickoff happened).
GO_LIVE_UNKNOWN, UNHEALTHY, READINESS_GAP = "go_live_unknown", "unhealthy", "readiness_gap"
TESTIMONIAL_RECEIVED, NO_TESTIMONIAL = "testimonial_received", "no_testimonial"
KICKOFF_PENDING = "kickoff_pending"
TRIGGERS = (GO_LIVE_UNKNOWN, UNHEALTHY, READINESS_GAP)
VARIANT_CONDITIONS = (TESTIMONIAL_RECEIVED, NO_TESTIMONIAL, GO_LIVE_UNKNOWN, KICKOFF_PENDING)
# The primer's readiness questions for a verbal yes: could the buyer answer these from what we told them?
READINESS = ("solves", "peers", "belief", "implementation", "onboarding", "assurances")
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
    tiers: tuple[str, ...] = ()  # empty: every tier
    draft_for: tuple[tuple[str, str], ...] = ()  # (persona, draft) pairs that replace `draft` for that buyer
    buyer: bool = False
    ask: bool = False
    when: str | None = None  # see TRIGGERS and VARIANT_CONDITIONS
    readiness: str | None = None  # the READINESS item a READINESS_GAP step answers
    variant_of: str | None = None  # the step whose words this one replaces `when` its condition holds
    then_days: int | None = None  # on an UNHEALTHY step: days after it is resolved that the held asks come back

    @property
    def planned_by_dates(self) -> bool:
        """Timed from close or go-live by the plan itself (not added by a gate, not a variant's words)."""
        return self.variant_of is None and self.when in (None, GO_LIVE_UNKNOWN)

    def draft_of(self, persona: str) -> str:
        """The draft this buyer gets: the persona's own where the playbook has one."""
        return dict(self.draft_for).get(persona, self.draft)

    def applies_to(self, persona: str, amount: Decimal, signed: bool = True, tier: str | None = None) -> bool:
        """`amount` in the playbook's currency (see Playbook.compared); `tier` None leaves tiers unchecked."""
        if self.unsigned_only and signed:
            return False
        if self.personas and persona not in self.personas:
            return False
        if self.tiers and tier is not None and tier not in self.tiers:
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
    # where each tier starts, in `currency` (DEALCOACH_CURRENCY), smallest first; empty: every deal is standard
    tiers: tuple[tuple[str, Decimal], ...] = ()
    currency: str = "USD"
    rates: tuple[tuple[str, Decimal], ...] = ()  # 1 unit of a deal's currency in `currency`

    def compared(self, amount: Decimal, currency: str | None = None) -> Decimal:
        """A deal's amount as the thresholds read it: converted when [rates] names its currency, else as written."""
        rate = dict(self.rates).get(currency or self.currency)
        return amount if rate is None or currency == self.currency else amount * rate

    def tier_of(self, amount: Decimal, currency: str | None = None) -> str:
        """light, standard or enterprise: the largest tier whose threshold the (compared) amount reaches."""
        if not self.tiers:
            return "standard"
        value = self.compared(amount, currency)
        found = self.tiers[0][0]
        for name, start in self.tiers:
            if value >= start:
                found = name
        return found

    def plan(
        self,
        *,
        close_date: date,
        persona: str,
        amount: Decimal,
        go_live: date | None = None,
        signed: bool = True,
        currency: str | None = None,
    ) -> list[PlannedStep]:
        """The steps this deal gets, each with its due date, in date order."""
        assumed_live = go_live or close_date + timedelta(days=self.go_live_after_days)
        value, tier = self.compared(amount, currency), self.tier_of(amount, currency)
        planned = []
        for step in self.steps:
            if not step.applies_to(persona, value, signed, tier):
                continue
            if not step.planned_by_dates or (step.when == GO_LIVE_UNKNOWN and go_live is not None):
                continue
            anchor = close_date if step.after == "close" else assumed_live
            due = add_business_days(anchor, step.days) if step.business_days else anchor + timedelta(days=step.days)
            planned.append(PlannedStep(step, due))
        return sorted(planned, key=lambda p: (p.due, STAGES.index(p.step.stage)))

    def triggered(self, when: str, readiness: str | None = None) -> Step | None:
        """The step a gate adds (`when` = UNHEALTHY or READINESS_GAP, for `readiness`), if the playbook has one."""
        return next(
            (s for s in self.steps if s.variant_of is None and s.when == when and s.readiness == readiness), None
        )

    def words_for(self, step: Step, conditions: frozenset[str]) -> Step:
        """The step as it should read: its first variant whose condition holds, else the step itself."""
        return next((s for s in self.steps if s.variant_of == step.id and s.when in conditions), step)


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


def load(path: Path | None = None, *, currency: str = "USD") -> Playbook:
    """Load and validate a playbook file, or the built-in one when no path is given; `currency` is
    DEALCOACH_CURRENCY, the currency its tier thresholds and amounts are in."""
    if path is None:
        text = resources.files("bot.playbook").joinpath(BUILTIN).read_text(encoding="utf-8")
        source = f"built-in {BUILTIN}"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PlaybookError(f"{path}: cannot read the playbook ({exc}).") from None
        source = str(path)
    return parse(text, source, currency=currency)


def _step_lines(text: str) -> list[int]:
    """Line numbers of each [[steps]] header, so errors can point at the step in the file."""
    return [n for n, line in enumerate(text.splitlines(), 1) if STEP_HEADER.match(line)]


def parse(text: str, source: str = "playbook", *, currency: str = "USD") -> Playbook:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlaybookError(f"{source}: not valid TOML: {exc}.") from None
    unknown = sorted(set(data) - {"playbook", "steps", "tiers", "rates"})
    if unknown:
        raise PlaybookError(
            f"{source}: unknown table [{unknown[0]}]. A playbook has [playbook], [tiers], [rates] and [[steps]] tables."
        )
    tiers = _tiers(data.get("tiers"), source, currency)
    rates = _rates(data.get("rates"), source, currency)
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
        if step.tiers and not tiers:
            raise PlaybookError(
                f"{where}, {label}: 'tiers' needs a [tiers] table saying where each tier starts, such as "
                "[tiers] standard = 20000, enterprise = 250000."
            )
        if step.id in seen:
            raise PlaybookError(f"{where}, {label}: the id {step.id!r} is used by an earlier step; ids must be unique.")
        seen.add(step.id)
        steps.append(step)
    for index, step in enumerate(steps):
        if step.variant_of is not None and step.variant_of not in seen:
            where = f"{source}, line {lines[index]}" if index < len(lines) else source
            raise PlaybookError(
                f"{where}, step {index + 1} ({step.id!r}): 'variant_of' names no step ({step.variant_of!r})."
            )
    return Playbook(
        name=str(name),
        source=source,
        go_live_after_days=go_live_after,
        steps=tuple(steps),
        tiers=tiers,
        currency=currency,
        rates=rates,
    )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value and value != math.inf


def _tiers(raw: object, source: str, currency: str) -> tuple[tuple[str, Decimal], ...]:
    """[tiers] standard = 20000, enterprise = 250000 (light starts at 0), in DEALCOACH_CURRENCY."""
    if raw is None:
        return ()
    example = "[tiers] standard = 20000 and enterprise = 250000 (light starts at 0)"
    if not isinstance(raw, dict):
        raise PlaybookError(f"{source}: [tiers] must be a table, like {example}.")
    unknown = sorted(set(raw) - set(TIERS))
    if unknown:
        raise PlaybookError(f"{source}: [tiers] has an unknown tier {unknown[0]!r}. Tiers: {', '.join(TIERS)}.")
    for name in ("standard", "enterprise"):
        if name not in raw:
            raise PlaybookError(f"{source}: [tiers] is missing {name!r}: write {example}.")
    for name, value in raw.items():
        if not _number(value) or value < 0:
            raise PlaybookError(f"{source}: [tiers] {name} must be an amount in {currency} (got {value!r}).")
    if raw.get("light", 0) != 0:
        raise PlaybookError(f"{source}: [tiers] light starts at 0 (got {raw['light']!r}); leave it out.")
    starts = [("light", Decimal(0))] + [(n, Decimal(str(raw[n]))) for n in ("standard", "enterprise")]
    if not Decimal(0) < starts[1][1] < starts[2][1]:
        raise PlaybookError(
            f"{source}: [tiers] must grow: 0 < standard < enterprise (got standard = {raw['standard']!r}, "
            f"enterprise = {raw['enterprise']!r})."
        )
    return tuple(starts)


def _rates(raw: object, source: str, currency: str) -> tuple[tuple[str, Decimal], ...]:
    """[rates] EUR = 1.08: what one unit of a deal's currency is worth in DEALCOACH_CURRENCY."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise PlaybookError(f"{source}: [rates] must be a table, like [rates] EUR = 1.08 (1 EUR in {currency}).")
    rates = []
    for code, value in raw.items():
        if not (len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()):
            raise PlaybookError(f"{source}: [rates] {code!r} is not a currency code; write it like EUR or GBP.")
        if not _number(value) or value <= 0:
            raise PlaybookError(
                f"{source}: [rates] {code} must be a positive number: what 1 {code} is worth in {currency} "
                f"(got {value!r})."
            )
        rates.append((code, Decimal(str(value))))
    return tuple(rates)


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
    days = raw.get("days", 0 if "variant_of" in raw else None)  # a variant's timing is its base step's
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
    tiers = raw.get("tiers", [])
    if not isinstance(tiers, list) or not tiers and "tiers" in raw or any(t not in TIERS for t in tiers):
        raise ValueError(f"'tiers' must be a non-empty list drawn from {', '.join(TIERS)} (got {tiers!r}).")
    flags = {}
    for flag, meaning in (("buyer", "the step touches the buyer"), ("ask", "the step asks the buyer for something")):
        flags[flag] = raw.get(flag, False)
        if not isinstance(flags[flag], bool):
            raise ValueError(f"'{flag}' must be true or false ({meaning}); got {flags[flag]!r}.")
    if flags["ask"] and not flags["buyer"]:
        raise ValueError("'ask = true' asks the buyer for something, so it needs 'buyer = true' too.")
    draft_for = raw.get("draft_for", {})
    if not isinstance(draft_for, dict) or any(p not in PERSONAS for p in draft_for):
        shown = sorted(draft_for) if isinstance(draft_for, dict) else draft_for
        raise ValueError(
            f"'draft_for' must be a table of drafts by persona ({', '.join(PERSONAS)}), like "
            f'[steps.draft_for] economic = """...""" (got {shown!r}).'
        )
    persona_drafts = tuple(
        (p, _text({f"draft_for.{p}": draft_for[p]}, f"draft_for.{p}", limit=2500)) for p in PERSONAS if p in draft_for
    )
    min_amount, max_amount = _amount(raw, "min_amount"), _amount(raw, "max_amount")
    if min_amount is not None and max_amount is not None and min_amount > max_amount:
        raise ValueError("'min_amount' is larger than 'max_amount'.")
    for flag in ("buyer", "ask"):
        if not isinstance(raw.get(flag, False), bool):
            raise ValueError(f"'{flag}' must be true or false.")
    when, readiness, variant_of, then_days = _triggers(raw)
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
        tiers=tuple(tiers),
        draft_for=persona_drafts,
        buyer=flags["buyer"],
        ask=flags["ask"],
        when=when,
        readiness=readiness,
        variant_of=variant_of,
        then_days=then_days,
    )


def _triggers(raw: dict) -> tuple[str | None, str | None, str | None, int | None]:
    """`when`, `readiness`, `variant_of` and `then_days`, checked together: each makes sense only with the others."""
    when, readiness, variant_of = raw.get("when"), raw.get("readiness"), raw.get("variant_of")
    then_days = raw.get("then_days")
    if variant_of is not None:
        if not isinstance(variant_of, str) or not variant_of:
            raise ValueError("'variant_of' must be the id of the step whose words this one replaces.")
        if when not in VARIANT_CONDITIONS:
            raise ValueError(f"a variant needs 'when', one of {', '.join(VARIANT_CONDITIONS)} (got {when!r}).")
    elif when is not None and when not in TRIGGERS:
        raise ValueError(f"'when' must be one of {', '.join(TRIGGERS)} (got {when!r}).")
    if (when == READINESS_GAP) != (readiness is not None) and variant_of is None:
        raise ValueError(
            f"a step with when = \"{READINESS_GAP}\" names its 'readiness' item, and only such a step does."
        )
    if readiness is not None and readiness not in READINESS:
        raise ValueError(f"'readiness' must be one of {', '.join(READINESS)} (got {readiness!r}).")
    if then_days is not None:
        if when != UNHEALTHY:
            raise ValueError(f"'then_days' belongs on a step with when = \"{UNHEALTHY}\" (the recovery step).")
        if not isinstance(then_days, int) or isinstance(then_days, bool) or not 0 <= then_days <= 60:
            raise ValueError(f"'then_days' must be a whole number from 0 to 60 (got {then_days!r}).")
    return when, readiness, variant_of, then_days

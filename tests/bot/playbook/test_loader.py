"""The playbook is data a sales lead edits: bad files are named by line and step, good ones plan real dates."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.playbook.loader import PlaybookError, add_business_days, load, parse

FRIDAY = date(2026, 1, 2)
SATURDAY, SUNDAY, MONDAY, TUESDAY = (FRIDAY + timedelta(days=n) for n in range(1, 5))

GOOD_STEP = """\
[[steps]]
id = "congratulate"
stage = "affirm"
days = 0
title = "Call {contact} at {account}"
"""


SECOND_STEP_LINE = 10


def with_bad_second_step(body: str) -> str:
    """A playbook whose second step (header on line 10) holds `body`, so errors have a known line to name."""
    text = '[playbook]\nname = "Test"\n\n' + GOOD_STEP + "\n[[steps]]\n" + body
    assert text.splitlines()[SECOND_STEP_LINE - 1] == "[[steps]]"
    return text


def error_for(text: str, source: str = "team.toml") -> str:
    with pytest.raises(PlaybookError) as caught:
        parse(text, source)
    return str(caught.value)


# --- the built-in playbook -----------------------------------------------------------------------------------


def test_the_built_in_playbook_loads():
    """The bot must start with no playbook configured; every step in the shipped file survives validation."""
    shipped = tomllib.loads(
        resources.files("bot.playbook").joinpath("default_playbook.toml").read_text(encoding="utf-8")
    )
    playbook = load()
    assert playbook.source == "built-in default_playbook.toml"
    assert playbook.name == shipped["playbook"]["name"]
    assert playbook.go_live_after_days == shipped["playbook"]["go_live_after_days"]
    assert [s.id for s in playbook.steps] == [raw["id"] for raw in shipped["steps"]]
    assert len({s.id for s in playbook.steps}) == len(playbook.steps)
    assert all(s.title for s in playbook.steps)


@pytest.mark.parametrize("persona", ["economic", "technical", "champion", "other"])
@pytest.mark.parametrize("amount", ["5000", "120000"])
def test_the_built_in_playbook_plans_every_deal_forward_in_date_order(persona, amount):
    """Whatever the buyer and size, the plan is non-empty, starts at close and never goes back in time."""
    plan = load().plan(close_date=FRIDAY, persona=persona, amount=Decimal(amount))
    dues = [p.due for p in plan]
    assert plan
    assert dues == sorted(dues)
    assert dues[0] == FRIDAY
    assert len({p.step.id for p in plan}) == len(plan)


def test_load_reads_a_file_and_names_it_as_the_source(tmp_path):
    """A team's own playbook is identified by its path in every later error."""
    path = tmp_path / "team.toml"
    path.write_text('[playbook]\nname = "Ours"\ngo_live_after_days = 14\n\n' + GOOD_STEP, encoding="utf-8")
    playbook = load(path)
    assert (playbook.name, playbook.source, playbook.go_live_after_days) == ("Ours", str(path), 14)
    assert [s.id for s in playbook.steps] == ["congratulate"]


def test_load_names_a_file_it_cannot_read(tmp_path):
    """A missing or non-UTF-8 file is a PlaybookError naming the path, not a raw OSError."""
    missing = tmp_path / "missing.toml"
    with pytest.raises(PlaybookError, match="missing.toml: cannot read the playbook"):
        load(missing)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'[[steps]]\ntitle = "Caf\xe9"\n')
    with pytest.raises(PlaybookError, match="latin1.toml: cannot read the playbook"):
        load(latin1)


# --- errors name the file, the line and the step -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (
            'id = "bad-step"\nstage = "celebrate"\ndays = 1\ntitle = "x"\n',
            "'stage' must be one of affirm, activate, acclimate, accomplish (got 'celebrate').",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ntitle = "x"\n',
            "'days' is missing: how many days after close (or go-live) the step is due.",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = -1\ntitle = "x"\n',
            "'days' must be a whole number from 0 to 400 (got -1).",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 401\ntitle = "x"\n',
            "'days' must be a whole number from 0 to 400 (got 401).",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1.5\ntitle = "x"\n',
            "'days' must be a whole number from 0 to 400 (got 1.5).",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = true\ntitle = "x"\n',
            "'days' must be a whole number from 0 to 400 (got True).",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\ndayz = 3\n',
            "unknown key 'dayz'. Known keys: after, ask, business_days, buyer, days, draft, draft_for, how, id, ",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "Call {foo}"\n',
            "'title' uses an unknown placeholder {foo}. Known: {account}, {amount}, {company}, {contact}, ",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\ndraft = "Hi {0}"\n',
            "'draft' uses an unknown placeholder {0}.",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\nwhy = "{account.name}"\n',
            "'why' uses an unknown placeholder {account.name}.",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\nhow = ["Ask {boss}"]\n',
            "'how' uses an unknown placeholder {boss}.",
        ),
        ('id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "Hi {account"\n', "'title' has a broken placeholder"),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\ndraft = "Hi {account:{foo}}"\n',
            "'draft' has a placeholder that can't be filled (KeyError('foo'))",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\ndraft = "Hi {account!x}"\n',
            "'draft' has a placeholder that can't be filled",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\nmin_amount = 10\nmax_amount = 5\n',
            "'min_amount' is larger than 'max_amount'.",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\nmin_amount = -5\n',
            "'min_amount' must be a number of 0 or more (got -5).",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\nmax_amount = "50k"\n',
            "'max_amount' must be a number of 0 or more (got '50k').",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\nmax_amount = nan\n',
            "'max_amount' must be a number of 0 or more (got nan).",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\nmin_amount = inf\n',
            "'min_amount' must be a number of 0 or more (got inf).",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\npersonas = ["cfo"]\n',
            "'personas' must be a list drawn from economic, technical, champion, other (got ['cfo']).",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\npersonas = "economic"\n',
            "'personas' must be a list drawn from economic, technical, champion, other (got 'economic').",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\nafter = "signature"\ndays = 1\ntitle = "x"\n',
            "'after' must be \"close\" or \"go_live\" (got 'signature').",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\nbusiness_days = "yes"\ntitle = "x"\n',
            "'business_days' must be true or false.",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\nhow = "Say thanks"\n',
            "'how' must be a list of talking points",
        ),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "x"\nhow = ["ok", " "]\n',
            "'how' must be a list of talking points",
        ),
        ('id = "bad-step"\nstage = "affirm"\ndays = 1\n', "'title' is missing."),
        ('id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "   "\n', "'title' is missing."),
        ('id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = 5\n', "'title' must be text."),
        (
            'id = "bad-step"\nstage = "affirm"\ndays = 1\ntitle = "' + "x" * 141 + '"\n',
            "'title' is 141 characters; keep it under 140.",
        ),
    ],
)
def test_a_bad_step_is_named_by_file_line_and_id(body, what):
    """The lead editing the file needs the file, the [[steps]] line, the step id and what to change."""
    message = error_for(with_bad_second_step(body))
    assert message.startswith(f"team.toml, line {SECOND_STEP_LINE}, step 2 ('bad-step'): {what}")


def test_a_step_without_a_usable_id_is_still_located():
    """No id to quote, so the message falls back to the step's position and line."""
    message = error_for(with_bad_second_step('id = "has spaces"\nstage = "affirm"\ndays = 1\ntitle = "x"\n'))
    assert message == (
        f"team.toml, line {SECOND_STEP_LINE}, step 2 ('has spaces'): 'id' must be a short name of letters, digits, - or _, "
        'such as "thank-you-note".'
    )
    message = error_for(with_bad_second_step('stage = "affirm"\ndays = 1\ntitle = "x"\n'))
    assert message.startswith(f"team.toml, line {SECOND_STEP_LINE}, step 2: 'id' must be a short name")


def test_a_duplicate_id_names_the_second_step():
    """Nudges are keyed by step id per deal, so two steps can't share one."""
    message = error_for(with_bad_second_step('id = "congratulate"\nstage = "activate"\ndays = 3\ntitle = "x"\n'))
    assert message == (
        f"team.toml, line {SECOND_STEP_LINE}, step 2 ('congratulate'): the id 'congratulate' is used by an earlier step; "
        "ids must be unique."
    )


def test_line_numbers_count_comments_multiline_values_and_spaced_headers():
    """The line named is the header of the failing step, however the file above it is laid out."""
    text = (
        "# Our playbook\n"  # 1
        "[playbook]\n"  # 2
        'name = "Ours"\n'  # 3
        "\n"  # 4
        "[[ steps ]]\n"  # 5  valid TOML: spaces inside the brackets
        'id = "one"\n'
        'stage = "affirm"\n'
        "days = 0\n"
        'title = "x"\n'
        "how = [\n"  # 10
        '  "first",\n'
        '  "second",\n'
        "]\n"
        'draft = """\n'  # 14
        "Hi {contact_first},\n"
        'thanks."""\n'  # 16
        "\n"
        "  [[steps]]  # indented, with a comment\n"  # 18
        'id = "two"\n'
        'stage = "nope"\n'
        "days = 0\n"
        'title = "x"\n'
    )
    assert error_for(text).startswith("team.toml, line 18, step 2 ('two'): 'stage' must be one of")
    first_bad = text.replace('stage = "affirm"', 'stage = "later"')
    assert error_for(first_bad).startswith("team.toml, line 5, step 1 ('one'): 'stage' must be one of")


def test_invalid_toml_names_the_file_and_line():
    """A syntax slip is reported with tomllib's own line and column."""
    message = error_for('[playbook]\nname = "Ours"\n[[steps]\nid = "x"\n')
    assert message.startswith("team.toml: not valid TOML: ")
    assert "line 3" in message


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ('[playbook]\nname = "Empty"\n', "team.toml: no steps. Add at least one [[steps]] table"),
        ("steps = []\n", "team.toml: no steps."),
        ('steps = "congratulate"\n', "team.toml: no steps."),
        ('playbook = "x"\n' + GOOD_STEP, "team.toml: [playbook] must be a table with name and go_live_after_days."),
        (
            "[playbook]\ngo_live_after_days = 400\n\n" + GOOD_STEP,
            "team.toml: [playbook] go_live_after_days must be a whole number from 0 to 365.",
        ),
        (
            '[playbook]\ngo_live_after_days = "30"\n\n' + GOOD_STEP,
            "team.toml: [playbook] go_live_after_days must be a whole number from 0 to 365.",
        ),
        (
            "[playbook]\ngo_live_after_days = true\n\n" + GOOD_STEP,
            "team.toml: [playbook] go_live_after_days must be a whole number from 0 to 365.",
        ),
        ("steps = [1, 2]\n", "team.toml, step 1: each step must be a [[steps]] table."),
    ],
)
def test_whole_file_problems_name_the_file(text, what):
    """Problems outside any one step still say which file; steps that aren't tables are a PlaybookError too."""
    assert error_for(text).startswith(what)


def test_placeholders_and_format_specs_that_render_are_accepted():
    """Every documented placeholder is usable in every templated field."""
    fields = "{account} {contact} {contact_first} {contact_title} {rep} {amount} {why_bought} {impl_lead} {persona}"
    text = (
        f'[[steps]]\nid = "all"\nstage = "affirm"\ndays = 0\ntitle = "{{account}}"\n'
        f'why = "{fields}"\nhow = ["{fields}"]\ndraft = "{fields} {{{{literal braces}}}}"\n'
    )
    [step] = parse(text, "team.toml").steps
    assert step.draft.endswith("{{literal braces}}")


# --- planning ------------------------------------------------------------------------------------------------

PLAN_PLAYBOOK = """\
[playbook]
name = "Plan test"
go_live_after_days = 30

[[steps]]
id = "kickoff"
stage = "activate"
after = "go_live"
days = 0
title = "Kick off {account}"

[[steps]]
id = "call"
stage = "affirm"
days = 0
title = "Call {contact}"

[[steps]]
id = "note"
stage = "affirm"
days = 2
business_days = true
title = "Write to {contact}"

[[steps]]
id = "exec-lunch"
stage = "acclimate"
days = 3
personas = ["economic"]
title = "Lunch with {contact}"

[[steps]]
id = "big-deal-review"
stage = "acclimate"
days = 5
min_amount = 100000
title = "Review {account}"

[[steps]]
id = "small-deal-check"
stage = "acclimate"
days = 6
max_amount = 50000
title = "Check {account}"

[[steps]]
id = "results"
stage = "accomplish"
after = "go_live"
days = 45
business_days = true
title = "Results for {account}"
"""


def plan_ids(**kwargs) -> list[str]:
    return [p.step.id for p in parse(PLAN_PLAYBOOK, "plan.toml").plan(**kwargs)]


@pytest.mark.parametrize(
    ("persona", "amount", "ids"),
    [
        ("economic", "75000", ["call", "exec-lunch", "note", "kickoff", "results"]),
        ("technical", "75000", ["call", "note", "kickoff", "results"]),
        ("technical", "100000", ["call", "note", "big-deal-review", "kickoff", "results"]),
        ("technical", "99999.99", ["call", "note", "kickoff", "results"]),
        ("champion", "50000", ["call", "note", "small-deal-check", "kickoff", "results"]),
        ("champion", "50000.01", ["call", "note", "kickoff", "results"]),
        ("economic", "250000", ["call", "exec-lunch", "note", "big-deal-review", "kickoff", "results"]),
    ],
)
def test_plan_filters_steps_by_persona_and_amount(persona, amount, ids):
    """min_amount and max_amount are inclusive bounds; personas limit a step to those buyers."""
    assert plan_ids(close_date=FRIDAY, persona=persona, amount=Decimal(amount)) == ids


def test_plan_dates_from_close_and_assumed_go_live():
    """Without a go-live date, go-live steps assume close + go_live_after_days (30 here)."""
    playbook = parse(PLAN_PLAYBOOK, "plan.toml")
    plan = playbook.plan(close_date=FRIDAY, persona="economic", amount=Decimal("120000"))
    assumed_live = date(2026, 2, 1)  # a Sunday
    assert [(p.step.id, p.due) for p in plan] == [
        ("call", FRIDAY),
        ("exec-lunch", MONDAY),  # Friday + 3 calendar days
        ("note", TUESDAY),  # Friday + 2 business days
        ("big-deal-review", date(2026, 1, 7)),
        ("kickoff", assumed_live),
        ("results", add_business_days(assumed_live, 45)),
    ]
    assert add_business_days(assumed_live, 45) == date(2026, 4, 6)  # Sunday rolls to Monday, + 9 weeks


def test_plan_uses_the_real_go_live_date_when_known():
    """Once the rep sets go-live, the go-live steps move with it and the close steps stay put."""
    plan = parse(PLAN_PLAYBOOK, "plan.toml").plan(
        close_date=FRIDAY, persona="other", amount=Decimal("75000"), go_live=date(2026, 2, 10)
    )
    due = {p.step.id: p.due for p in plan}
    assert due == {
        "call": FRIDAY,
        "note": TUESDAY,
        "kickoff": date(2026, 2, 10),
        "results": date(2026, 4, 14),
    }


def test_plan_orders_same_day_steps_by_stage():
    """Kickoff (activate) is listed first in the file, but on the same day the affirm call comes first."""
    plan = parse(PLAN_PLAYBOOK, "plan.toml").plan(
        close_date=MONDAY, persona="other", amount=Decimal("75000"), go_live=MONDAY
    )
    assert [(p.step.id, p.due) for p in plan][:2] == [("call", MONDAY), ("kickoff", MONDAY)]


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (FRIDAY, 0, FRIDAY),
        (FRIDAY, 1, MONDAY),
        (FRIDAY, 2, TUESDAY),
        (SATURDAY, 0, MONDAY),
        (SUNDAY, 0, MONDAY),
        (SATURDAY, 1, TUESDAY),
        (MONDAY, 4, date(2026, 1, 9)),
        (MONDAY, 5, date(2026, 1, 12)),
        (date(2026, 1, 7), 10, date(2026, 1, 21)),
    ],
)
def test_add_business_days_skips_weekends(start, days, due):
    """Monday to Friday only; a weekend start counts from the Monday."""
    assert add_business_days(start, days) == due


@settings(max_examples=300, database=None, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(min_value=0, max_value=400))
def test_add_business_days_lands_on_a_weekday_exactly_that_many_weekdays_later(start, days):
    """Counted the slow way: the weekdays strictly after the (rolled-forward) start number exactly `days`."""
    due = add_business_days(start, days)
    assert due.weekday() < 5
    rolled = start
    while rolled.weekday() >= 5:
        rolled += timedelta(days=1)
    between = [rolled + timedelta(days=n) for n in range(1, (due - rolled).days + 1)]
    assert sum(d.weekday() < 5 for d in between) == days


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (
            '[playbook]\ngo_live_after_day = 45\n\n[[steps]]\nid = "a"\nstage = "affirm"\ndays = 0\ntitle = "t"\n',
            "go_live_after_day",
        ),
        ('[playbok]\nname = "x"\n\n[[steps]]\nid = "a"\nstage = "affirm"\ndays = 0\ntitle = "t"\n', "[playbok]"),
    ],
)
def test_a_typo_in_the_playbook_table_is_named_not_ignored(text, what):
    with pytest.raises(PlaybookError) as caught:
        parse(text, "team.toml")
    assert str(caught.value).startswith("team.toml: ") and what in str(caught.value)


def test_a_step_window_is_whole_days_and_a_bad_one_is_named_with_an_example():
    from bot.playbook.loader import PlaybookError, parse

    base = '[playbook]\nname = "x"\n\n[[steps]]\nid = "call"\nstage = "affirm"\ndays = 0\ntitle = "Call"\n'
    assert parse(base).steps[0].window is None
    assert parse(base + "window = 3\n").steps[0].window == 3
    for bad in ("0", "true", '"3"', "2.5"):
        with pytest.raises(
            PlaybookError, match=r"line 4, step 1 \('call'\): 'window' must be a whole number.*window = 3"
        ):
            parse(base + f"window = {bad}\n")

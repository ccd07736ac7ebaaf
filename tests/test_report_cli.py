"""`dealcoach report` on a seeded database, as a real process: the comparison in Markdown, and CSV a spreadsheet
opens; the rules (on time, late or missed, not yet due) read from a real SQLite file."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.report import model
from tests.bot.digest.test_build import Team
from tests.test_cli import run_cli

BERLIN = ZoneInfo("Europe/Berlin")


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=BERLIN)


def seed(store) -> Team:
    """June 2025: two deals whose early steps were on time, two late or missed; one of each later cancelled."""
    team = Team(store)
    for name in ("Prompt A", "Prompt B"):
        team.deal(name, 50_000, at(6, 2))
        team.done(name, "call", at(6, 2, 15))
        team.done(name, "note", at(6, 4, 9))
        team.done(name, "win", at(6, 8, 11), outcome={"kind": "win_reason", "reason": "Speed"})
    team.done("Prompt A", "testimonial", at(7, 15), outcome={"kind": "testimonial", "result": "received"})
    team.cancel("Prompt B", at(7, 1), "Budget cut")
    team.deal("Late C", 20_000, at(6, 3))
    team.done("Late C", "call", at(6, 9))  # six days after its day
    team.cancel("Late C", at(6, 20), "Chose a competitor")
    team.deal("Missed D", 20_000, at(6, 3))  # nothing done: its early steps are owed past their days
    team.deal("Deleted", 20_000, at(6, 3))
    with store.write() as db:
        db.execute("UPDATE deals SET status = 'deleted' WHERE account = 'Deleted'")
    return team


def test_the_report_compares_on_time_with_late_or_missed_and_says_what_small_samples_can_say(store, settings, tmp_path):
    seed(store)
    env = {"DEALCOACH_DB": str(settings.db_path), "DEALCOACH_TIMEZONE": "Europe/Berlin"}
    done = run_cli("report", "--since", "2025-06-01", "--until", "2025-06-30", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("# Does the coaching work? Deals closed 2025-06-01 to 2025-06-30")
    assert "| on time | 2 | 1 (50%) | 1 (50%) | 0 (0%) | 0 (0%) |" in out
    assert "| late or missed | 2 | 1 (50%) | 0 (0%) | 0 (0%) | 0 (0%) |" in out
    assert "Small samples say little: with 2 and 2 deals" in out and "could be chance" in out

    as_csv = run_cli("report", "--since", "2025-06-01", "--until", "2025-06-30", "--csv", cwd=tmp_path, env=env)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["early_steps"], r["deals"], r["cancelled"], r["cancelled_rate"]) for r in rows] == [
        ("on time", "2", "1", "0.5000"),
        ("late or missed", "2", "1", "0.5000"),
        ("not yet due", "0", "", ""),
    ]
    target = tmp_path / "coaching.csv"
    to_file = run_cli(
        "report", "--since", "2025-06-01", "--until", "2025-06-30", "--csv", str(target), cwd=tmp_path, env=env
    )
    assert to_file.returncode == 0 and "Wrote" in to_file.stdout
    assert target.read_text(encoding="utf-8") == as_csv.stdout


def test_a_period_that_ends_before_it_starts_is_refused(settings, tmp_path):
    env = {"DEALCOACH_DB": str(settings.db_path)}
    done = run_cli("report", "--since", "2025-07-01", "--until", "2025-06-01", cwd=tmp_path, env=env)
    assert done.returncode == 2 and "--since 2025-07-01 is after --until 2025-06-01" in done.stderr
    bad = run_cli("report", "--since", "June", cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


def test_a_deal_whose_early_steps_are_not_due_yet_is_not_compared(store):
    team = Team(store)
    team.deal("Fresh", 10_000, at(6, 29))
    with store.session() as db:
        early = model.compare(db, since=date(2025, 6, 1), until=date(2025, 6, 30), today=date(2025, 6, 29),
                              tz=BERLIN, go_live_days=30)  # fmt: skip
        later = model.compare(db, since=date(2025, 6, 1), until=date(2025, 6, 30), today=date(2025, 7, 9),
                              tz=BERLIN, go_live_days=30)  # fmt: skip
    assert (early.too_early, early.late.deals) == (1, 0)
    assert (later.too_early, later.late.deals) == (0, 1)  # its call went undone past its day


def test_the_report_says_on_time_means_the_steps_due_so_far_and_that_outcomes_take_time(store, settings, tmp_path):
    """A deal closed days ago is 'on time' on the steps due so far, and has had no chance to give a testimonial:
    the report says both, so a 0% isn't read as the coaching failing."""
    seed(store)
    env = {"DEALCOACH_DB": str(settings.db_path), "DEALCOACH_TIMEZONE": "Europe/Berlin"}
    out = run_cli("report", "--since", "2025-06-01", "--until", "2025-06-30", cwd=tmp_path, env=env).stdout
    assert "Deals whose early steps due so far (the Affirm stage" in out
    assert "Outcomes take time: a deal closed in the last few weeks has hardly had the chance" in out

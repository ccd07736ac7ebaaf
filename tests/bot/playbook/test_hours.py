"""Business hours in the team's zone: open Monday to Friday, correct on both sides of a DST change."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.playbook.hours import BusinessHours, parse_hours

NEW_YORK = BusinessHours(ZoneInfo("America/New_York"))


@pytest.mark.parametrize(
    ("instant", "is_open"),
    [
        (datetime(2026, 3, 2, 13, 30, tzinfo=UTC), False),  # Mon before DST: 08:30 EST
        (datetime(2026, 3, 2, 14, 0, tzinfo=UTC), True),  # 09:00 EST
        (datetime(2026, 3, 9, 13, 0, tzinfo=UTC), True),  # Mon after DST began: 09:00 EDT
        (datetime(2026, 3, 9, 12, 59, tzinfo=UTC), False),  # 08:59 EDT
        (datetime(2026, 3, 9, 20, 59, tzinfo=UTC), True),  # 16:59 EDT
        (datetime(2026, 3, 9, 21, 0, tzinfo=UTC), False),  # 17:00 EDT: closed
        (datetime(2026, 10, 30, 20, 30, tzinfo=UTC), True),  # Fri 16:30 EDT
        (datetime(2026, 11, 2, 21, 30, tzinfo=UTC), True),  # Mon after DST ended: 16:30 EST
        (datetime(2026, 11, 2, 22, 0, tzinfo=UTC), False),  # 17:00 EST
        (datetime(2026, 3, 7, 15, 0, tzinfo=UTC), False),  # Saturday
        (datetime(2026, 3, 8, 15, 0, tzinfo=UTC), False),  # Sunday (the DST change itself)
    ],
)
def test_open_on_local_wall_clock_time_across_dst(instant, is_open):
    assert NEW_YORK.is_open(instant) is is_open


def test_next_open_is_the_next_business_morning_in_local_time():
    friday_evening = datetime(2026, 3, 6, 23, 0, tzinfo=UTC)  # 18:00 EST
    opening = NEW_YORK.next_open(friday_evening)
    assert opening == datetime(2026, 3, 9, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert opening.astimezone(UTC) == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # EDT by Monday
    monday_noon = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
    assert NEW_YORK.next_open(monday_noon) == monday_noon


def test_a_weekend_step_is_not_late_on_monday_but_a_friday_step_is():
    monday = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    assert NEW_YORK.first_open_day(date(2026, 3, 7)) == date(2026, 3, 9)
    assert not NEW_YORK.is_late(date(2026, 3, 7), monday)  # due Saturday: Monday is its first chance
    assert not NEW_YORK.is_late(date(2026, 3, 9), monday)
    assert NEW_YORK.is_late(date(2026, 3, 6), monday)  # due Friday, missed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("09:00-17:00", (time(9), time(17))),
        ("8:30 - 18:15", (time(8, 30), time(18, 15))),
        ("00:00-24:00", (time(0), time.max)),
    ],
)
def test_business_hours_setting(value, expected):
    assert parse_hours(value) == expected


@pytest.mark.parametrize("value", ["9-5", "17:00-09:00", "25:00-26:00", "09:00-09:00", ""])
def test_bad_business_hours_say_the_expected_form(value):
    with pytest.raises(ValueError, match="09:00-17:00|end after|impossible"):
        parse_hours(value)

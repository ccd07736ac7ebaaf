"""Business hours in the team's time zone: when a nudge may be posted, and whether it is late."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_clock(value: str) -> time:
    """`08:30` -> 08:30; raises ValueError with the expected form."""
    m = CLOCK.match(value)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"must be a time of day as HH:MM, such as 08:30 (got {value!r})")
    return time(int(m.group(1)), int(m.group(2)))


def parse_hours(value: str) -> tuple[time, time]:
    """`09:00-17:00` -> (09:00, 17:00); raises ValueError with the expected form."""
    m = HOURS.match(value)
    if not m:
        raise ValueError(f"must look like 09:00-17:00 (got {value!r})")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if not (0 <= h1 <= 23 and 0 <= h2 <= 24 and 0 <= m1 <= 59 and 0 <= m2 <= 59):
        raise ValueError(f"has an impossible time (got {value!r})")
    start = time(h1, m1)
    end = time.max if (h2, m2) == (24, 0) else time(h2 % 24, m2)
    if end <= start:
        raise ValueError(f"must end after it starts, within one day (got {value!r})")
    return start, end


def first_business_day(day: date) -> date:
    """The first business day (Monday to Friday) on or after `day`."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def due_day(due: date) -> str:
    """A step's due date as every rep-facing message shows it: the business day it first comes up, so a step the
    plan puts on Saturday reads "Mon Nov 30", as its nudge does. The stored date (and the digest's maths) stay as
    planned; only what is shown moves."""
    return f"{first_business_day(due):%a %b %-d}"


@dataclass(frozen=True)
class BusinessHours:
    """Monday to Friday, start to end, in one IANA zone; local wall-clock times, so DST needs no special case."""

    tz: ZoneInfo
    start: time = time(9, 0)
    end: time = time(17, 0)

    def local(self, now: datetime) -> datetime:
        return now.astimezone(self.tz)

    def today(self, now: datetime) -> date:
        return self.local(now).date()

    def is_open(self, now: datetime) -> bool:
        local = self.local(now)
        return local.weekday() < 5 and self.start <= local.time() < self.end

    def first_open_day(self, day: date) -> date:
        """The first business day on or after `day`: when a nudge due that day can first be posted."""
        return first_business_day(day)

    def is_late(self, due: date, now: datetime, *, since: datetime | None = None) -> bool:
        """Late once a business day on which it could have gone out has passed; `since` (the capture
        time) keeps a deal closed on Friday evening from calling Monday's first nudge late."""
        return self.first_chance(due, since=since) < self.today(now)

    def first_chance(self, due: date, *, since: datetime | None = None) -> date:
        """The business day a step due on `due` could first go out (not before `since`, the capture): it is late
        only once that day has passed, so a step due on Saturday is due, not late, on Monday."""
        first = datetime.combine(due, self.start, tzinfo=self.tz)
        if since is not None:
            first = max(first, since.astimezone(self.tz))
        return self.next_open(first).date()

    def next_open(self, now: datetime) -> datetime:
        """The next instant business hours are open (now itself if open), as an aware datetime."""
        local = self.local(now)
        day = local.date()
        while True:
            if day.weekday() < 5:
                opening = datetime.combine(day, self.start, tzinfo=self.tz)
                closing = datetime.combine(day, self.end, tzinfo=self.tz)
                if local < opening:
                    return opening
                if local < closing:
                    return local
            day += timedelta(days=1)

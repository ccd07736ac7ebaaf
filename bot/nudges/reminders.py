"""Reps first: a rep with overdue steps gets one private reminder at the start of their business day (their Slack
time zone), listing them with Done/Snooze/Skip and a Re-plan; only after it do those steps count as slipping in
the managers' digest (`slipping`).

One reminder per rep per local day, by the posting protocol (bot/slack/posting.py): a row in `reminders` claimed by
INSERT (its unique key lets one process win), posted to the rep's DM with its id in the metadata, confirmed with
the time it went; a timeout or 5xx is settled from the DM's history, never sent twice.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlite_utils
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.deals.model import Deal, Nudge, get_deal, nudge_from_row
from bot.digest import ledger as zones
from bot.nudges.blocks import nudge_actions, nudge_title, resolution_line, settled_block
from bot.nudges.ledger import first_due_within_window, windows, within_window
from bot.playbook.hours import due_day
from bot.runtime import Runtime
from bot.slack import workspaces
from bot.slack.blocks import MESSAGE_BLOCKS, button, context, section
from bot.slack.posting import (
    AMBIGUOUS_ERRORS,
    LEASE,
    Found,
    Missing,
    NotPosted,
    Patience,
    Posted,
    Unknown,
    find_posted,
    metadata,
    post_once,
    read_patiently,
    retry_delay,
)
from bot.storage import query, query_one
from bot.timestamps import stamp

logger = logging.getLogger(__name__)
EVENT_TYPE = "dealcoach_reminder"
REPLAN = "reminder_replan"
MAX_LISTED = 10  # steps shown in one reminder (each three blocks); the rest are counted, all on Home
PER_DAY = 2  # Re-plan spreads the open steps over the next business days, this many a day
OVERDUE_STATUSES = ("posted", "undeliverable")  # nudged already (or couldn't be), and still not done
SETTLED_WIDTH = 160  # a settled step's line keeps its whole title: the reminder mixes deals, so it must say which


@dataclass(frozen=True)
class Reminder:
    id: int
    team_id: str
    rep_id: str
    local_date: str
    status: str
    claimed_at: str
    lease_at: str
    attempts: int = 0
    channel_id: str | None = None
    ts: str | None = None
    steps: str | None = None
    searched_to: str | None = None
    thread_ts: str | None = None  # never a thread: the Claim protocol of find_posted asks
    due_today: str | None = None  # the listed steps whose first business day was the reminder's day (JSON ids)


def _row(r: dict) -> Reminder:
    keys = Reminder.__dataclass_fields__.keys() - {"thread_ts"}
    return Reminder(**{k: r[k] for k in keys})


@dataclass
class ReminderReport:
    sent: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    unconfirmed: list[int] = field(default_factory=list)


def overdue_steps(db: sqlite_utils.Database, *, team_id: str, before: date) -> list[tuple[str, Nudge]]:
    """(rep, step) for the team's steps already nudged, still open and due before `before`, oldest first."""
    statuses = ", ".join(f"'{s}'" for s in OVERDUE_STATUSES)
    rows = query(
        db,
        "SELECT n.*, COALESCE(n.assignee_id, d.owner_id) AS rep FROM nudges n JOIN deals d ON d.id = n.deal_id "
        f"WHERE d.team_id = ? AND d.status = 'open' AND n.status IN ({statuses}) AND n.due_date < ? "
        "ORDER BY n.due_date, n.id",
        [team_id, before.isoformat()],
    )
    return [(r["rep"], nudge_from_row(r)) for r in rows]


# -- what the digest asks ------------------------------------------------------------------------------------

# A step counts as slipping once its rep's reminder went on a day after it fell due (SQL over nudges `n`, deals `d`).
REMINDED = (
    "EXISTS (SELECT 1 FROM reminders r WHERE r.team_id = d.team_id AND r.rep_id = COALESCE(n.assignee_id, d.owner_id) "
    "AND r.status = 'sent' AND r.local_date > n.due_date)"
)


def slipping(
    db: sqlite_utils.Database, *, team_id: str, today: date, windows: dict[str, int] | None = None
) -> dict[str, int]:
    """Per rep, the overdue steps that count as slipping for managers: only those their rep was reminded of, and,
    with the playbook's `windows` (bot.nudges.ledger.windows), only until their window passes: then missed."""
    first_due, params = (
        first_due_within_window(windows, today, "today")
        if windows is not None
        else ("''", {"today_floor": ""})  # every late step, however late
    )
    rows = query(
        db,
        "SELECT COALESCE(n.assignee_id, d.owner_id) AS rep, COUNT(*) AS slipping FROM nudges n "
        "JOIN deals d ON d.id = n.deal_id WHERE d.team_id = :team AND d.status = 'open' "
        "AND n.status IN ('planned', 'sending', 'posted', 'undeliverable') AND n.due_date < :today "
        f"AND n.due_date >= :today_floor AND n.due_date >= {first_due} AND {REMINDED} "
        "GROUP BY COALESCE(n.assignee_id, d.owner_id)",
        {"team": team_id, "today": today.isoformat(), **params},
    )
    return {r["rep"]: r["slipping"] for r in rows}


def reps_first(
    db: sqlite_utils.Database, stats: list, *, team_id: str, today: date, windows: dict[str, int] | None = None
) -> list:
    """Per-rep stats (bot.stats.RepStats) as managers see them, in the digest and on Home alike: a late step counts
    as overdue only once its rep's morning reminder listed it (and, with `windows`, until its window passes)."""
    counts = slipping(db, team_id=team_id, today=today, windows=windows)
    return [replace(r, overdue=counts.get(r.rep_id, 0)) for r in stats]


def reminded_at(db: sqlite_utils.Database, *, team_id: str, rep_id: str) -> datetime | None:
    """When the rep's latest reminder went, if any."""
    row = query_one(
        db,
        "SELECT MAX(sent_at) AS at FROM reminders WHERE team_id = ? AND rep_id = ? AND status = 'sent'",
        [team_id, rep_id],
    )
    return datetime.fromisoformat(row["at"]) if row and row["at"] else None


# -- the message -----------------------------------------------------------------------------------------------


PLURAL_ASK = "Do them, snooze them or skip them here, or re-plan them all."


def settled_line(nudge: Nudge, tz: ZoneInfo, *, past_window: bool = False) -> str | None:
    """What became of a step the reminder listed, in one line; None while it still waits for the rep. `past_window`:
    its window has passed since (missed, as the digest and Home count it): no longer to do."""
    if nudge.status in OVERDUE_STATUSES:
        return f":hourglass: Its moment passed (was due {due_day(nudge.due_date)})" if past_window else None
    if nudge.status in ("done", "skipped", "cancelled"):
        return resolution_line(nudge, live_here=True, tz=tz)
    if nudge.status == "missed":
        return f":hourglass: Its moment passed (was due {due_day(nudge.due_date)})"
    if nudge.snoozed_until and nudge.snoozed_until == nudge.due_date:
        return resolution_line(nudge, live_here=False, tz=tz)  # snoozed: by whom, until when
    return f":calendar: Re-planned: now due {due_day(nudge.due_date)}"


def reminder_message(
    reminder_id: int,
    items: list[tuple[Nudge, Deal]],
    *,
    tz: ZoneInfo,
    replanned: tuple[int, list[date]] | None = None,
    is_late=lambda nudge, deal: True,
    missed=lambda nudge: False,
) -> tuple[str, list[dict]]:
    """The reminder as its steps stand: each still overdue with its buttons, each settled since (done, snoozed,
    skipped, re-planned) in one line, like a resolved nudge. `replanned`: (how many steps Re-plan moved, to which
    days), said first instead of good morning. `is_late(nudge, deal)`: whether the step's first business day has
    passed; one that falls to today (due at the weekend, or captured after hours) is said to be due today, never
    overdue. `missed(nudge)`: whether a step's window has passed since (a reminder redrawn days later)."""
    count = len(items)
    listed = items[:MAX_LISTED]
    waiting = [(n, d) for n, d in listed if settled_line(n, tz, past_window=missed(n)) is None]
    still = count - (len(listed) - len(waiting))  # the unlisted rest count as still to do
    due_today = sum(1 for n, d in items if not is_late(n, d))
    late = count - due_today

    def are(n: int, now: bool = True) -> str:
        return ("is" if n == 1 else "are") if now else ("was" if n == 1 else "were")

    if not due_today:
        state = f"{count} of your follow-ups {are(count, still == count)} overdue"
    elif not late:
        state = f"{count} of your follow-ups {are(count, still == count)} due today"
    else:
        state = f"{late} of your follow-ups {are(late, still == count)} overdue and {due_today} {are(due_today, still == count)} due today"
    morning = f"Good morning. {state}" + (f"; {still} still to do" if still and still != count else "")
    if replanned:
        moved, days = replanned
        when = ", ".join(f"{d:%a %b %-d}" for d in days)
        first = f"Re-planned: {moved} follow-up{'s' if moved != 1 else ''} now due {when}"
        top = f":calendar: *{first}.* Each comes back as a fresh nudge on its day."
    elif waiting:
        first = morning
        ask = "Do it, snooze it or skip it here, or re-plan it." if len(waiting) == 1 else PLURAL_ASK
        top = f":sunrise: *{morning}.* {ask}"
    else:
        first = morning
        top = f":sunrise: *{morning}.* {'All of them are' if count != 1 else 'It is'} settled now."
    blocks: list[dict] = [section(top)]
    for nudge, deal in listed:
        settled = settled_line(nudge, tz, past_window=missed(nudge))
        if settled:
            blocks.append(settled_block(settled, nudge_title(nudge, deal), width=SETTLED_WIDTH))
            continue
        blocks.append(section(f"*{nudge_title(nudge, deal)}*"))
        blocks.append(context(f"was due {due_day(nudge.due_date)}" if is_late(nudge, deal) else "due today"))
        blocks.append(nudge_actions(nudge))
    if count > MAX_LISTED:
        blocks.append(context(f"…and {count - MAX_LISTED} more on your Home tab."))
    if waiting or (count > MAX_LISTED and not replanned):
        blocks.append(
            {
                "type": "actions",
                "block_id": f"reminder_{reminder_id}",
                "elements": [
                    button(REPLAN, "Re-plan it" if still == 1 else "Re-plan them", str(reminder_id), "primary")
                ],
            }
        )
    titles = "; ".join(nudge_title(n, d) for n, d in waiting)
    text = f"{first}. Still to do: {titles}" if titles else f"{first}. Nothing left to do here."
    return text[:3000], blocks[:MESSAGE_BLOCKS]


NOTHING_TO_REPLAN = "Nothing left to re-plan: these follow-ups were re-planned or settled already."


# -- redrawing a sent reminder ----------------------------------------------------------------------------------


def listing(db: sqlite_utils.Database, *, team_id: str, nudge_ids: list[int]) -> list[int]:
    """The sent reminders that listed any of these steps (a step late for days is on each morning's), oldest first."""
    found: list[int] = []
    wanted = set(nudge_ids)
    for nudge_id in wanted:
        rows = query(
            db,
            "SELECT id, steps FROM reminders WHERE team_id = ? AND status = 'sent' AND ts IS NOT NULL AND steps LIKE ?",
            [team_id, f"%{nudge_id}%"],  # a coarse filter, made exact below
        )
        found += [r["id"] for r in rows if nudge_id in json.loads(r["steps"] or "[]")]
    return sorted(set(found))


def lateness(rt: Runtime, local_date: str, due_today: str | None = None):
    """`is_late(nudge, deal)` on the rep's own day of the reminder: whether the step's first business day had passed.
    `due_today`: the ids the reminder listed as due today, as recorded when it was written; a step re-planned or
    snoozed since has a new due date that no longer says how it was late that morning."""
    day, hours = date.fromisoformat(local_date), rt.hours
    recorded = None if due_today is None else set(json.loads(due_today))

    def is_late(nudge: Nudge, deal: Deal) -> bool:
        if recorded is not None:
            return nudge.id not in recorded
        return hours.first_chance(nudge.due_date, since=datetime.fromisoformat(deal.created_at)) < day

    return is_late


def past_window(rt: Runtime):
    """`missed(nudge)` as of today: a late step whose window has passed (the rule the reminder lists steps by)."""
    worth, today = windows(rt.playbook.steps), rt.today()
    return lambda nudge: nudge.due_date < today and not within_window(worth, nudge.step_id, nudge.due_date, today)


def items_of(db: sqlite_utils.Database, steps: str | None) -> list[tuple[Nudge, Deal]]:
    """The steps a reminder listed, as they stand now (a deleted deal's are gone)."""
    items = []
    for nudge_id in json.loads(steps or "[]"):
        found = query_one(db, "SELECT * FROM nudges WHERE id = ?", [nudge_id])
        deal = get_deal(db, found["deal_id"]) if found else None
        if found and deal:
            items.append((nudge_from_row(found), deal))
    return items


def rendered(
    rt: Runtime, reminder_id: int, *, replanned: tuple[int, list[date]] | None = None
) -> tuple[str, str, str, list[dict]] | None:
    """(channel, ts, text, blocks) of a sent reminder as it should look now, for chat.update; None until sent."""
    with rt.store.session() as db:
        row = query_one(db, "SELECT * FROM reminders WHERE id = ?", [reminder_id])
        if row is None or row["status"] != "sent" or not row["ts"]:
            return None
        items = items_of(db, row["steps"])
    text, blocks = reminder_message(
        reminder_id,
        items,
        tz=rt.settings.tz,
        replanned=replanned,
        is_late=lateness(rt, row["local_date"], row["due_today"]),
        missed=past_window(rt),
    )
    return row["channel_id"], row["ts"], text, blocks


# -- Re-plan ---------------------------------------------------------------------------------------------------


def replan(
    rt: Runtime, reminder_id: int, *, team_id: str, user_id: str
) -> tuple[list[Nudge], list[date], Reminder] | None:
    """Move the rep's open overdue steps forward, PER_DAY a business day from today; only the rep may. Returns the
    steps moved (as they were: their nudge messages say they moved), the days, and the reminder; None when the
    reminder isn't theirs."""
    today = rt.today()
    with rt.store.write() as db:
        row = query_one(db, "SELECT * FROM reminders WHERE id = ?", [reminder_id])
        if row is None or row["team_id"] != team_id or row["rep_id"] != user_id:
            return None
        worth = windows(rt.playbook.steps)  # what the reminder listed: a step past its window is missed, not owed
        steps = [
            n
            for rep, n in overdue_steps(db, team_id=team_id, before=today)
            if rep == user_id and within_window(worth, n.step_id, n.due_date, today)
        ]
        days: list[date] = []
        moved: list[Nudge] = []
        day = rt.hours.first_open_day(today)
        for nudge in steps:
            if len(moved) and len(moved) % PER_DAY == 0:
                day = rt.hours.first_open_day(day + timedelta(days=1))
            cursor = db.execute(
                "UPDATE nudges SET status = 'planned', due_date = ?, post_id = NULL, next_attempt_at = NULL, "
                "updated_at = ? WHERE id = ? AND status IN ('posted', 'undeliverable')",
                [day.isoformat(), stamp(rt.now()), nudge.id],
            )
            if cursor.rowcount != 1:
                continue  # settled meanwhile
            moved.append(nudge)
            if day not in days:
                days.append(day)
    return moved, days, _row(row)


# -- sending -----------------------------------------------------------------------------------------------------


class RepReminders:
    """One run: settle reminders of unknown fate, then remind each rep whose business day has begun."""

    def __init__(self, coach: Runtime, client, patience: Patience | None = None):
        self.coach = coach
        self.clients = workspaces.clients(client)
        self.patience = patience or Patience(sleep=coach.sleep)

    def run(self, now: datetime) -> ReminderReport:
        report = ReminderReport()
        self.settle(now, report)
        with self.coach.store.session() as db:
            teams = [r["team_id"] for r in query(db, "SELECT DISTINCT team_id FROM deals WHERE status = 'open'")]
        latest = (now + timedelta(days=1)).date()  # no zone is further ahead than a day
        for team_id in teams:
            client = self.clients(team_id)
            if client is None:
                continue
            with self.coach.store.session() as db:
                steps = overdue_steps(db, team_id=team_id, before=latest + timedelta(days=1))
            reps = dict.fromkeys(rep for rep, _ in steps)
            for rep in reps:
                try:
                    self._remind(client, team_id, rep, steps, now, report)
                except Exception:
                    logger.exception("Reminding %s failed; the next run tries again", rep)
        return report

    def zone_of(self, client: WebClient, team_id: str, rep: str, now: datetime) -> ZoneInfo:
        """The rep's zone from users.info, kept a day (the digest's cache); the team's zone if Slack can't say."""
        with self.coach.store.session() as db:
            fresh, name, _ = zones.cached_zone(db, team_id=team_id, user_id=rep, now=now)
        if not fresh:
            try:
                name = read_patiently(lambda: client.users_info(user=rep), self.patience)["user"].get("tz") or name
            except (SlackApiError, *AMBIGUOUS_ERRORS):
                pass  # the team's zone today; looked up again tomorrow
            with self.coach.store.write() as db:
                zones.remember_zone(db, team_id=team_id, user_id=rep, tz=name, now=now)
        try:
            return ZoneInfo(name) if name else self.coach.settings.tz
        except (ValueError, KeyError, OSError):
            return self.coach.settings.tz

    def _remind(self, client, team_id: str, rep: str, steps, now: datetime, report: ReminderReport) -> None:
        tz = self.zone_of(client, team_id, rep, now)
        local = now.astimezone(tz)
        hours = self.coach.hours
        if local.weekday() >= 5 or not hours.start <= local.time() < hours.end:
            return
        worth, day = windows(self.coach.playbook.steps), local.date()
        # the rep's late steps still worth doing: one past its window is missed (counted once for managers), and
        # listing it every morning would only teach the rep to skip the reminder
        mine = [
            n for r, n in steps if r == rep and n.due_date < day and within_window(worth, n.step_id, n.due_date, day)
        ]
        if not mine:
            return
        at = stamp(now)
        with self.coach.store.write() as db:
            is_late = lateness(self.coach, day.isoformat())
            fresh = [n.id for n in mine if (deal := get_deal(db, n.deal_id)) is not None and not is_late(n, deal)]
            cursor = db.execute(
                "INSERT INTO reminders "
                "(team_id, rep_id, local_date, status, steps, due_today, claimed_at, lease_at, attempts) "
                "VALUES (?, ?, ?, 'sending', ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING",
                [team_id, rep, day.isoformat(), json.dumps([n.id for n in mine]), json.dumps(fresh), at, at],
            )
            if cursor.rowcount != 1:
                return  # reminded today already (or another process is at it)
            row = _row(
                query_one(
                    db,
                    "SELECT * FROM reminders WHERE team_id = ? AND rep_id = ? AND local_date = ?",
                    [team_id, rep, local.date().isoformat()],
                )
            )
        self._send(client, row, now, report)

    def _send(self, client, row: Reminder, now: datetime, report: ReminderReport) -> None:
        with self.coach.store.session() as db:
            items = items_of(db, row.steps)
        text, blocks = reminder_message(
            row.id,
            items,
            tz=self.coach.settings.tz,
            is_late=lateness(self.coach, row.local_date, row.due_today),
            missed=past_window(self.coach),
        )
        outcome = post_once(
            client,
            row.rep_id,
            text=text,
            blocks=blocks,
            metadata=metadata(EVENT_TYPE, reminder_id=row.id),
            patience=self.patience,
            pace=self.coach.pacer,
            team_id=row.team_id,
        )
        with self.coach.store.write() as db:
            if isinstance(outcome, Posted):
                self._sent(db, row, outcome.channel, outcome.ts, now)
                report.sent.append(row.id)
            elif isinstance(outcome, Unknown):
                db.execute(
                    "UPDATE reminders SET status = 'unconfirmed', error = ? WHERE id = ? AND status = 'sending'",
                    [outcome.error, row.id],
                )
                report.unconfirmed.append(row.id)
            else:
                retry_at = now + retry_delay(outcome, row.attempts)
                db.execute(
                    "UPDATE reminders SET status = 'retry', lease_at = ?, error = ? WHERE id = ? AND status = 'sending'",
                    [stamp(retry_at), outcome.error, row.id],
                )
                report.waiting.append(row.id)
                if isinstance(outcome, NotPosted):
                    logger.info("Reminder %s for %s not sent (%s); retrying", row.id, row.rep_id, outcome.error)

    @staticmethod
    def _sent(db, row: Reminder, channel: str, ts: str, now: datetime) -> None:
        db.execute(
            "UPDATE reminders SET status = 'sent', channel_id = ?, ts = ?, sent_at = ?, error = NULL "
            "WHERE id = ? AND status IN ('sending', 'unconfirmed')",
            [channel, ts, stamp(now), row.id],
        )

    def settle(self, now: datetime, report: ReminderReport) -> None:
        """Reminders of unknown fate are looked for in the rep's DM; ones waiting for a retry are sent."""
        with self.coach.store.session() as db:
            rows = query(
                db,
                "SELECT * FROM reminders WHERE status = 'unconfirmed' OR (status = 'sending' AND lease_at < ?) "
                "OR (status = 'retry' AND lease_at <= ?) ORDER BY id",
                [stamp(now - LEASE), stamp(now)],
            )
        for raw in rows:
            row = _row(raw)
            client = self.clients(row.team_id)
            if client is None:
                continue
            with self.coach.store.write() as db:
                taken = db.execute(
                    "UPDATE reminders SET status = 'sending', lease_at = ? WHERE id = ? AND status = ? AND lease_at = ?",
                    [stamp(now), row.id, row.status, row.lease_at],
                ).rowcount
            if taken != 1:
                continue
            if row.status == "retry":
                with self.coach.store.write() as db:
                    db.execute(
                        "UPDATE reminders SET claimed_at = ?, attempts = attempts + 1, searched_to = NULL WHERE id = ?",
                        [stamp(now), row.id],
                    )
                    fresh = _row(query_one(db, "SELECT * FROM reminders WHERE id = ?", [row.id]))
                self._send(client, fresh, now, report)
                continue
            search = find_posted(
                client, row.rep_id, row, event_type=EVENT_TYPE, key="reminder_id", patience=self.patience
            )
            with self.coach.store.write() as db:
                if isinstance(search, Found):
                    self._sent(db, row, search.channel, search.ts, now)
                    report.sent.append(row.id)
                elif isinstance(search, Missing):
                    db.execute(
                        "UPDATE reminders SET status = 'retry', lease_at = ? WHERE id = ? AND status = 'sending'",
                        [stamp(now), row.id],
                    )
                else:
                    db.execute(
                        "UPDATE reminders SET status = 'unconfirmed', searched_to = COALESCE(?, searched_to), error = ? "
                        "WHERE id = ? AND status = 'sending'",
                        [search.searched_to, search.error, row.id],
                    )

"""A week of a busy channel, before and after nudges moved into threads: `python -m bench.channel_week`.

Ten deals closed on one Monday (a team closing ten deals in a week), the built-in playbook, every business hour of
the week dispatched against the fake Slack, once with DEALCOACH_NUDGES_IN=channel (how it was) and once with thread
(the default). Prints top-level posts per deal per week and the lines they take on screen (80 characters a line).
"""

from __future__ import annotations

import tempfile
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.coach import Coach
from bot.deals.service import KEEP
from bot.nudges.dispatch import Dispatcher, Pacer
from bot.playbook.loader import load
from bot.settings import Settings
from bot.slack.client import posting_client
from bot.storage import Store
from tests.fakeslack import FakeSlack

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DEALS = 10


def lines(message: dict) -> int:
    count = 0
    for block in message.get("blocks") or []:
        texts = [block["text"]["text"]] if block["type"] == "section" else []
        texts += [e["text"] for e in block.get("elements", []) if block["type"] == "context"]
        count += 1 if block["type"] in ("actions", "header") else 0  # as the tests measure a nudge
        count += sum(len(textwrap.wrap(line, 80)) or 1 for text in texts for line in text.split("\n"))
    return count


def week(mode: str) -> dict:
    with FakeSlack() as fake, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(slack_bot_token="xoxb-week", slack_api_url=fake.base_url, db_path=Path(tmp) / "w.db")
        settings = replace(settings, nudges_in=mode)
        store = Store(settings.db_path)
        store.migrate()
        clock = {"now": MONDAY_9}
        coach = Coach(settings, store, load(), clock=lambda: clock["now"])
        personas = ["economic", "technical", "champion", "other"]
        for i in range(DEALS):
            text = f"Account{i} ${20 + 15 * i}k contact: Jane Doe persona: {personas[i % 4]}"
            deal, _ = coach.capture_command(
                text, team_id="T0", channel_id="C0", user_id="U0REP", capture_key=str(i), repeats=KEEP
            )
            coach.announce(deal.id)
        dispatcher = Dispatcher(coach, posting_client(settings), Pacer(sleep=lambda _: None))
        now = MONDAY_9
        while now < MONDAY_9 + timedelta(days=7):
            clock["now"] = now
            fake.epoch = now.timestamp()
            dispatcher.tick(now)
            now += timedelta(hours=1)
        top = [m for (ch, ts), m in fake.messages.items() if ch == "C0" and m.get("thread_ts") in (None, ts)]
        nudges = [m for m in fake.messages.values() if (m.get("metadata") or {}).get("event_type") == "dealcoach_nudge"]
        deals = [m for m in fake.messages.values() if (m.get("metadata") or {}).get("event_type") == "dealcoach_deal"]
        return {
            "top-level posts per deal per week": round(len(top) / DEALS, 1),
            "top-level lines in the channel": sum(lines(m) for m in top),
            "nudges": len(nudges),
            "lines per nudge (max)": max(lines(m) for m in nudges),
            "lines per deal message (max)": max(lines(m) for m in deals),
        }


if __name__ == "__main__":
    for mode in ("channel", "thread"):
        print(mode, week(mode))

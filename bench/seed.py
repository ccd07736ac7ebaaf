"""Build a realistic database quickly: many deals, ten nudges each, spread over the last 100 days."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.playbook.loader import load
from bot.storage import Store, transaction


def seed(path: Path, *, deals: int, reps: int = 50, channels: int = 100, now: datetime, due_now: int = 0) -> Store:
    """`deals` deals closed over the last 100 days, their steps done, posted or planned as a team would leave them.

    Nothing is due at `now` except `due_now` steps (one per deal, each deal in its own channel), so a tick
    at `now` measures either the idle path or posting exactly `due_now` messages.
    """
    rng = random.Random(42)
    store = Store(path)
    store.migrate()
    steps = load().steps
    today = now.date()
    deal_rows, nudge_rows = [], []
    for deal_id in range(1, deals + 1):
        closed = today - timedelta(days=rng.randrange(0, 100))
        created = datetime.combine(closed, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
        deal_rows.append(
            {
                "id": deal_id,
                "team_id": "T0BENCH",
                "channel_id": f"C{deal_id:06d}" if deal_id <= due_now else f"C{rng.randrange(channels):05d}",
                "owner_id": f"U{rng.randrange(reps):05d}",
                "account": f"Account {deal_id}",
                "amount": f"{rng.choice([8000, 25000, 60000, 150000])}.00",
                "currency": "USD",
                "contact_name": f"Contact {deal_id}",
                "persona": rng.choice(["economic", "technical", "champion", "other"]),
                "close_date": closed.isoformat(),
                "status": "open",
                "message_ts": f"{created.timestamp():.6f}",
                "created_at": created.isoformat(timespec="seconds"),
                "updated_at": created.isoformat(timespec="seconds"),
                "signed": 1,
            }
        )
        for n, step in enumerate([s for s in steps if not s.unsigned_only][:10]):
            due = closed + timedelta(days=[0, 1, 2, 3, 6, 30, 44, 72, 86, 98][n])
            if deal_id <= due_now and n == 0:
                status, due = "planned", today
            elif due < today:
                status = rng.choices(["done", "skipped", "posted"], [80, 5, 15])[0]
            else:
                status, due = "planned", max(due, today + timedelta(days=1))  # nothing else due at `now`
            resolved = status in ("done", "skipped")
            resolved_at = datetime.combine(due, datetime.min.time(), tzinfo=UTC) + timedelta(hours=14)
            nudge_rows.append(
                {
                    "deal_id": deal_id,
                    "step_id": step.id,
                    "stage": step.stage,
                    "title": step.title,
                    "due_date": due.isoformat(),
                    "status": status,
                    "resolved_by": f"U{rng.randrange(reps):05d}" if resolved else None,
                    "resolved_at": resolved_at.isoformat(timespec="seconds") if resolved else None,
                    "created_at": created.isoformat(timespec="seconds"),
                    "updated_at": created.isoformat(timespec="seconds"),
                }
            )
    post_rows = []
    for number, row in enumerate(nudge_rows, 1):
        if row["status"] != "planned":  # every step acted on was posted once: one post row each, as in real use
            row["post_id"] = number
            post_rows.append(
                {
                    "id": number,
                    "deal_id": row["deal_id"],
                    "channel_id": "C00000",
                    "status": "posted",
                    "ts": f"{number}.000100",
                    "late": 0,
                    "claimed_at": row["created_at"],
                    "lease_at": row["created_at"],
                    "posted_at": row["created_at"],
                }
            )
        else:
            row["post_id"] = None
    signal_rows = _signals(deal_rows, reps=reps)
    with store.session() as db, transaction(db):
        db["deals"].insert_all(deal_rows, batch_size=1000)
        db["signals"].insert_all(signal_rows, batch_size=1000)
        db["posts"].insert_all(post_rows, batch_size=1000)
        db["nudges"].insert_all(nudge_rows, batch_size=1000)
    with store.session() as db:
        db.execute("ANALYZE")
    return store


def _signals(deal_rows: list[dict], *, reps: int) -> list[dict]:
    """Two buyer signals a deal, as a team would log them (a tenth worried, a few concerns); one deal in twenty
    a verbal yes not signed yet. Its own random stream, so the other benchmarks' data stay as they were."""
    rng = random.Random(7)
    rows = []
    for deal in deal_rows:
        if rng.random() < 0.05:
            deal["signed"] = 0
        closed = datetime.fromisoformat(deal["close_date"])
        for n in range(2):
            kind = rng.choices(["touch", "concern"], [95, 5])[0]
            rows.append(
                {
                    "team_id": deal["team_id"],
                    "deal_id": deal["id"],
                    "kind": kind,
                    "sentiment": rng.choices(["positive", "neutral", "worried"], [60, 30, 10])[0]
                    if kind == "touch"
                    else None,
                    "concern": rng.choice(["budget", "champion_left", "implementation", "cancel"])
                    if kind == "concern"
                    else None,
                    "medium": "call" if kind == "touch" else None,
                    "note": f"Note {n} on deal {deal['id']}",
                    "happened_on": (closed + timedelta(days=n)).date().isoformat(),
                    "by_user": f"U{rng.randrange(reps):05d}",
                    "created_at": (closed + timedelta(days=n, hours=12)).isoformat(),
                }
            )
    return rows

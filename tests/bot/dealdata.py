"""Deal data for storage tests: a small playbook, one deal's fields, and helpers that store and count."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from bot.deals import model as deals
from bot.deals.capture import Money
from bot.deals.model import DealFields
from bot.playbook.loader import parse
from bot.storage import Store

NOW = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
FRIDAY = date(2026, 1, 2)
MONDAY = date(2026, 1, 5)

PLAYBOOK = parse(
    """\
[playbook]
name = "DB test"
go_live_after_days = 30

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
days = 10
personas = ["economic"]
title = "Lunch with {contact}"

[[steps]]
id = "cfo-review"
stage = "acclimate"
days = 20
personas = ["economic"]
title = "Review with the CFO"

[[steps]]
id = "champion-kit"
stage = "acclimate"
days = 5
personas = ["champion"]
title = "Send the champion kit"

[[steps]]
id = "kickoff"
stage = "activate"
after = "go_live"
days = 0
title = "Kick off {account}"
""",
    "db-test.toml",
)

ACME = DealFields(
    account="Acme Rockets",
    money=Money(Decimal("120000.50"), "EUR"),
    close_date=FRIDAY,
    contact_name="Jane Doe",
    contact_title="VP Operations",
    persona="economic",
    why_bought="Faster launches",
)


def capture(store: Store, fields: DealFields = ACME, capture_key: str | None = None) -> tuple[int, bool]:
    with store.write() as db:
        return deals.capture_deal(
            db,
            team_id="T0TEAM",
            channel_id="C0DEALS",
            owner_id="U0REP",
            fields=fields,
            playbook=PLAYBOOK,
            now=NOW,
            capture_key=capture_key,
        )


def count(store: Store, table: str) -> int:
    with store.session() as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def nudges(store: Store, deal_id: int) -> dict[str, tuple[date, str]]:
    with store.session() as db:
        return {n.step_id: (n.due_date, n.status) for n in deals.deal_nudges(db, deal_id)}

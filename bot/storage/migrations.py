"""The schema, as numbered migrations: each applied once, in its own transaction, and recorded in
schema_migrations. A second engine brings its own DDL for the same versions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils

from bot.storage.store import is_postgres, transaction
from bot.timestamps import parse_stamp, stamp


def _v1_deals_and_nudges(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE deals (
            id INTEGER PRIMARY KEY,
            team_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            account TEXT NOT NULL,
            amount TEXT NOT NULL,
            currency TEXT NOT NULL,
            contact_name TEXT,
            contact_title TEXT,
            persona TEXT NOT NULL DEFAULT 'other',
            close_date TEXT NOT NULL,
            go_live_date TEXT,
            impl_lead_id TEXT,
            why_bought TEXT,
            status TEXT NOT NULL DEFAULT 'open',
            capture_key TEXT UNIQUE,
            message_ts TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX deals_by_team_owner ON deals (team_id, owner_id)")
    db.execute(
        """
        CREATE TABLE nudges (
            id INTEGER PRIMARY KEY,
            deal_id INTEGER NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
            step_id TEXT NOT NULL,
            stage TEXT NOT NULL,
            title TEXT NOT NULL,
            due_date TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'planned',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (deal_id, step_id)
        )
        """
    )
    db.execute("CREATE INDEX nudges_by_status_due ON nudges (status, due_date)")


def _v2_delivery(db: sqlite_utils.Database) -> None:
    """Posts (one Slack message carrying a deal's due steps) and what reps do with each step."""
    db.execute(
        """
        CREATE TABLE posts (
            id INTEGER PRIMARY KEY,
            deal_id INTEGER NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
            channel_id TEXT NOT NULL,
            status TEXT NOT NULL,
            ts TEXT,
            late INTEGER NOT NULL DEFAULT 0,
            claimed_at TEXT NOT NULL,
            lease_at TEXT NOT NULL,
            posted_at TEXT,
            error TEXT
        )
        """
    )
    db.execute("CREATE INDEX posts_by_status ON posts (status, lease_at)")
    db.execute(
        """
        CREATE TABLE post_nudges (
            post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
            nudge_id INTEGER NOT NULL REFERENCES nudges (id) ON DELETE CASCADE,
            PRIMARY KEY (post_id, nudge_id)
        )
        """
    )
    for column in (
        "post_id INTEGER REFERENCES posts (id)",
        "assignee_id TEXT",
        "attempts INTEGER NOT NULL DEFAULT 0",
        "next_attempt_at TEXT",
        "last_error TEXT",
        "resolved_by TEXT",
        "resolved_at TEXT",
        "note TEXT",
        "outcome TEXT",
        "snoozed_until TEXT",
        "snoozed_by TEXT",
    ):
        db.execute(f"ALTER TABLE nudges ADD COLUMN {column}")
    db.execute("CREATE INDEX nudges_by_post ON nudges (post_id)")
    db.execute("CREATE INDEX nudges_by_deal ON nudges (deal_id, status)")
    db.execute("ALTER TABLE deals ADD COLUMN delivery_error TEXT")


def _v3_lifecycle_and_digests(db: sqlite_utils.Database) -> None:
    """Deals signed, live or cancelled; managers' daily digests (one per manager per local day); user zones."""
    for column in (
        "signed INTEGER NOT NULL DEFAULT 1",
        "signed_at TEXT",
        "live_at TEXT",
        "cancelled_at TEXT",
        "cancelled_by TEXT",
        "cancel_reason TEXT",
    ):
        db.execute(f"ALTER TABLE deals ADD COLUMN {column}")
    db.execute("CREATE INDEX deals_by_status ON deals (team_id, status, created_at)")
    db.execute(
        """
        CREATE TABLE digests (
            id INTEGER PRIMARY KEY,
            team_id TEXT NOT NULL,
            manager_id TEXT NOT NULL,
            local_date TEXT NOT NULL,
            status TEXT NOT NULL,
            channel_id TEXT,
            ts TEXT,
            claimed_at TEXT NOT NULL,
            lease_at TEXT NOT NULL,
            sent_at TEXT,
            error TEXT,
            UNIQUE (team_id, manager_id, local_date)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE users (
            team_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            tz TEXT,
            fetched_at TEXT NOT NULL,
            PRIMARY KEY (team_id, user_id)
        )
        """
    )


def _v4_home_views(db: sqlite_utils.Database) -> None:
    """Who has opened the Home tab: only their tabs are republished when their follow-ups change."""
    db.execute(
        """
        CREATE TABLE home_views (
            team_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            PRIMARY KEY (team_id, user_id)
        )
        """
    )


def _v5_partial_indexes(db: sqlite_utils.Database) -> None:
    """Indexes on just the rows each minute's tick looks for. Nearly every post is 'posted', so SQLite's
    statistics make a plain index on status look useless and it scanned every post instead."""
    db.execute("CREATE INDEX posts_unconfirmed ON posts (id) WHERE status = 'unconfirmed'")
    db.execute("CREATE INDEX posts_sending ON posts (lease_at) WHERE status = 'sending'")
    db.execute("CREATE INDEX nudges_planned_due ON nudges (due_date, deal_id) WHERE status = 'planned'")


def _v6_workspaces(db: sqlite_utils.Database) -> None:
    """Installed and uninstalled workspaces (no row: active), and whether a user belongs to a workspace."""
    db.execute(
        """
        CREATE TABLE workspaces (
            team_id TEXT PRIMARY KEY,
            active INTEGER NOT NULL,
            changed_at TEXT NOT NULL
        )
        """
    )
    db.execute("ALTER TABLE users ADD COLUMN member INTEGER NOT NULL DEFAULT 1")


def _v7_deleted_and_held_captures(db: sqlite_utils.Database) -> None:
    """Captures deleted as mistakes (kept, with status 'deleted', so a replay or a double click finds them, and
    counted nowhere), and captures held back while their rep is asked whether they repeat an earlier one."""
    db.execute("ALTER TABLE deals ADD COLUMN deleted_at TEXT")
    db.execute("ALTER TABLE deals ADD COLUMN deleted_by TEXT")
    db.execute(
        """
        CREATE TABLE held_captures (
            capture_key TEXT PRIMARY KEY,
            team_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            fields TEXT NOT NULL,
            duplicate_of INTEGER NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
            created_at TEXT NOT NULL
        )
        """
    )


def _v8_announcements_once(db: sqlite_utils.Database) -> None:
    """A deal's channel message becomes a post like any nudge message: claimed with the deal, posted with its id in
    the metadata, confirmed, and reconciled after a crash. History searches keep how far they have read."""
    db.execute("ALTER TABLE posts ADD COLUMN kind TEXT NOT NULL DEFAULT 'nudges'")
    db.execute("ALTER TABLE posts ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE posts ADD COLUMN searched_to TEXT")
    db.execute("ALTER TABLE digests ADD COLUMN searched_to TEXT")
    db.execute("CREATE UNIQUE INDEX posts_one_announcement ON posts (deal_id) WHERE kind = 'announcement'")
    db.execute("CREATE INDEX posts_retry ON posts (lease_at) WHERE status = 'retry'")
    # A deal left at 'posting' by a process that died: its announcement is an orphaned claim, settled by the
    # dispatcher like any other (looked for in the channel's history around its capture, posted if missing).
    db.execute(
        "INSERT INTO posts (deal_id, channel_id, status, late, claimed_at, lease_at, kind, attempts) "
        "SELECT id, channel_id, 'sending', 0, created_at, created_at, 'announcement', 1 FROM deals "
        "WHERE message_ts = 'posting'"
    )
    db.execute("UPDATE deals SET message_ts = NULL WHERE message_ts = 'posting'")


def _v9_utc_stamps(db: sqlite_utils.Database) -> None:
    """Every time compared in SQL as a UTC stamp, so comparing the strings compares the instants, on any engine
    (what SQLite's julianday() did before, reading whatever offset an early row was written with)."""
    for table, column in (("deals", "created_at"), ("deals", "cancelled_at"), ("nudges", "resolved_at")):
        rows = db.execute(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL").fetchall()
        for row_id, stored in rows:
            utc = stamp(parse_stamp(stored))
            if utc != stored:
                db.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", [utc, row_id])


def _v10_team_profiles(db: sqlite_utils.Database) -> None:
    """Each workspace's team profile (company, sponsor, implementation team, references, links, sticking points) as
    one JSON document, with where it last came from (the team file or a manager in Slack)."""
    db.execute(
        """
        CREATE TABLE team_profiles (
            team_id TEXT PRIMARY KEY,
            profile TEXT NOT NULL,
            source TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )


def _v11_welcome_kits(db: sqlite_utils.Database) -> None:
    """One welcome kit per deal, shared into the deal's thread once: the row is claimed before the upload, keeps the
    file's id before the share (so an unknown outcome is looked for by it) and waits here between retries."""
    db.execute(
        """
        CREATE TABLE welcome_kits (
            id INTEGER PRIMARY KEY,
            deal_id INTEGER NOT NULL UNIQUE REFERENCES deals (id) ON DELETE CASCADE,
            team_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            thread_ts TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            status TEXT NOT NULL,
            file_id TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            claimed_at TEXT NOT NULL,
            due_at TEXT NOT NULL,
            posted_at TEXT
        )
        """
    )
    db.execute(
        "CREATE INDEX welcome_kits_due ON welcome_kits (due_at) WHERE status IN ('sending', 'retry', 'unconfirmed')"
    )


def _v12_crm_inbox(db: sqlite_utils.Database) -> None:
    """Deals that arrive from a CRM: the inbox every webhook is stored in before it is answered (a CRM's retry of
    the same notification is stored once), the CRM deal each Deal Coach deal stands for (one per CRM deal, whatever
    the CRM repeats), and on the deal itself where it came from and whether a revert in the CRM paused it."""
    db.execute(
        """
        CREATE TABLE crm_inbox (
            id INTEGER PRIMARY KEY,
            crm TEXT NOT NULL,
            event_key TEXT NOT NULL,
            crm_account TEXT NOT NULL,
            crm_deal_id TEXT NOT NULL,
            occurred_at TEXT,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at TEXT NOT NULL,
            error TEXT,
            outcome TEXT,
            received_at TEXT NOT NULL,
            done_at TEXT,
            UNIQUE (crm, event_key)
        )
        """
    )
    db.execute("CREATE INDEX crm_inbox_pending ON crm_inbox (next_at) WHERE status = 'pending'")
    db.execute(
        """
        CREATE TABLE crm_deals (
            id INTEGER PRIMARY KEY,
            crm TEXT NOT NULL,
            crm_account TEXT NOT NULL,
            crm_deal_id TEXT NOT NULL,
            deal_id INTEGER NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
            won INTEGER NOT NULL,
            owner_email TEXT,
            linked INTEGER NOT NULL DEFAULT 0,
            last_event_at TEXT,
            note_pending TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (crm, crm_account, crm_deal_id)
        )
        """
    )
    db.execute("ALTER TABLE deals ADD COLUMN source TEXT")
    db.execute("ALTER TABLE deals ADD COLUMN source_url TEXT")
    db.execute("ALTER TABLE deals ADD COLUMN paused_at TEXT")


def _v13_health_and_readiness(db: sqlite_utils.Database) -> None:
    """Steps the plan doesn't time (a recovery step before an ask, a verbal yes's readiness gaps) say so in
    `purpose`, so re-planning keeps them and health reads them; an ask held until its deal is healthy names the
    recovery step it waits for (status 'held'); a verbal yes's readiness checklist, as answered, is kept (JSON)."""
    db.execute("ALTER TABLE nudges ADD COLUMN purpose TEXT")
    db.execute("ALTER TABLE nudges ADD COLUMN held_by INTEGER")
    db.execute("ALTER TABLE deals ADD COLUMN readiness TEXT")
    db.execute("CREATE INDEX nudges_held ON nudges (held_by) WHERE status = 'held'")


def _v14_people(db: sqlite_utils.Database) -> None:
    """Who a Slack user is (name and title from users.info), cached so a draft can sign with the rep's name and a
    redraw shows the same words without asking Slack again; and an index on the steps with an outcome recorded."""
    db.execute(
        """
        CREATE TABLE people (
            team_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            name TEXT,
            title TEXT,
            fetched_at TEXT NOT NULL,
            PRIMARY KEY (team_id, user_id)
        )
        """
    )
    # the few steps with a recorded outcome: where a new buyer's peers are found among testimonials
    db.execute("CREATE INDEX nudges_with_outcome ON nudges (step_id, status) WHERE outcome IS NOT NULL")


def _v15_buyer_signals(db: sqlite_utils.Database) -> None:
    """What the buyer said or did, as the team heard it: how they sounded after a step, a touch outside the plan, a
    concern flagged on the deal; and the reps each manager follows. One row each; a step keeps one sentiment (the latest answer), and the request a row
    came from is unique, so a replayed click or form stores nothing twice."""
    db.execute(
        """
        CREATE TABLE signals (
            id INTEGER PRIMARY KEY,
            team_id TEXT NOT NULL,
            deal_id INTEGER NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
            nudge_id INTEGER REFERENCES nudges (id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            sentiment TEXT,
            concern TEXT,
            medium TEXT,
            note TEXT,
            happened_on TEXT NOT NULL,
            by_user TEXT NOT NULL,
            request_key TEXT UNIQUE,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX signals_by_deal ON signals (deal_id, happened_on, created_at, id)")  # in the order heard
    db.execute("CREATE UNIQUE INDEX signals_one_per_step ON signals (nudge_id) WHERE kind = 'step'")
    # Each manager's own team (the reps their digest, Home and report cover): people, and a Slack user group with
    # the members it had when last read; no row: everyone.
    db.execute(
        """
        CREATE TABLE manager_teams (
            team_id TEXT NOT NULL,
            manager_id TEXT NOT NULL,
            members TEXT NOT NULL,
            usergroup TEXT,
            group_members TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (team_id, manager_id)
        )
        """
    )


def _v16_crm_questions(db: sqlite_utils.Database) -> None:
    """A deal won in a CRM that may be one a rep already captured with /closed-deal (not certainly): held here while
    the capturing rep (and the CRM owner) are asked "same deal?", one row per CRM deal, with what the CRM said, who
    may answer, when nobody answering decides it as its own deal, and the answer once given."""
    db.execute(
        """
        CREATE TABLE crm_questions (
            id INTEGER PRIMARY KEY,
            crm TEXT NOT NULL,
            crm_account TEXT NOT NULL,
            crm_deal_id TEXT NOT NULL,
            team_id TEXT NOT NULL,
            deal_id INTEGER NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
            crm_deal TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            asked TEXT NOT NULL,
            event_at TEXT,
            due_at TEXT NOT NULL,
            sent_at TEXT,
            answer TEXT,
            answered_by TEXT,
            answered_at TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (crm, crm_account, crm_deal_id)
        )
        """
    )
    db.execute("CREATE INDEX crm_questions_open ON crm_questions (due_at) WHERE answer IS NULL")


def _v17_slack_oauth_tables(db: sqlite_utils.Database) -> None:
    """slack_sdk's installation and OAuth state tables, with its columns. On SQLite its own stores create them on
    first use, as before; on PostgreSQL they are created here, in types PostgreSQL takes for what slack_sdk writes
    (epoch numbers for expiry times, 0 or 1 for flags), so every instance shares every workspace's installation."""
    if not is_postgres(db):
        return
    common = """
        client_id TEXT NOT NULL,
        app_id TEXT NOT NULL,
        enterprise_id TEXT NOT NULL DEFAULT '',
        enterprise_name TEXT,
        team_id TEXT NOT NULL DEFAULT '',
        team_name TEXT,
        bot_token TEXT,
        bot_id TEXT,
        bot_user_id TEXT,
        bot_scopes TEXT,
        bot_refresh_token TEXT,
        bot_token_expires_at BIGINT,
        is_enterprise_install INTEGER NOT NULL DEFAULT 0,
        installed_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')"""
    db.execute(
        f"""
        CREATE TABLE slack_installations (
            id INTEGER PRIMARY KEY,{common},
            enterprise_url TEXT,
            user_id TEXT NOT NULL,
            user_token TEXT,
            user_scopes TEXT,
            user_refresh_token TEXT,
            user_token_expires_at BIGINT,
            incoming_webhook_url TEXT,
            incoming_webhook_channel TEXT,
            incoming_webhook_channel_id TEXT,
            incoming_webhook_configuration_url TEXT,
            token_type TEXT
        )
        """
    )
    db.execute(
        "CREATE INDEX slack_installations_idx ON slack_installations (client_id, enterprise_id, team_id, user_id, "
        "installed_at)"
    )
    db.execute(f"CREATE TABLE slack_bots (id INTEGER PRIMARY KEY,{common})")
    db.execute("CREATE INDEX slack_bots_idx ON slack_bots (client_id, enterprise_id, team_id, installed_at)")
    db.execute(
        "CREATE TABLE oauth_states (id INTEGER PRIMARY KEY, state TEXT NOT NULL, expire_at DOUBLE PRECISION NOT NULL)"
    )


def _v18_erased_deals(db: sqlite_utils.Database) -> None:
    """When a deal's personal data was erased (retention, or a purge on request): erased deals are not read again."""
    db.execute("ALTER TABLE deals ADD COLUMN erased_at TEXT")


def _v19_threads_reminders_pacing(db: sqlite_utils.Database) -> None:
    """Nudges as replies in their deal's thread (a post knows its thread, so a reconcile reads the thread's
    replies), wins shared in the channel once each, the reps' daily reminders (one per rep per local day, by the
    posting protocol), and the posting budgets every process shares (per channel and per workspace)."""
    db.execute("ALTER TABLE posts ADD COLUMN thread_ts TEXT")
    db.execute("ALTER TABLE posts ADD COLUMN win TEXT")  # kind 'win': what is celebrated (testimonial, referral, live)
    db.execute("CREATE UNIQUE INDEX posts_one_win ON posts (deal_id, win) WHERE kind = 'win'")
    db.execute(
        """
        CREATE TABLE reminders (
            id INTEGER PRIMARY KEY,
            team_id TEXT NOT NULL,
            rep_id TEXT NOT NULL,
            local_date TEXT NOT NULL,
            status TEXT NOT NULL,
            channel_id TEXT,
            ts TEXT,
            steps TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            claimed_at TEXT NOT NULL,
            lease_at TEXT NOT NULL,
            sent_at TEXT,
            searched_to TEXT,
            error TEXT,
            UNIQUE (team_id, rep_id, local_date)
        )
        """
    )
    db.execute("CREATE INDEX reminders_rep_sent ON reminders (rep_id, sent_at)")
    # DOUBLE PRECISION: an epoch in seconds with a fraction (PostgreSQL's REAL would round it to minutes)
    db.execute("CREATE TABLE pacing (bucket TEXT PRIMARY KEY, next_at DOUBLE PRECISION NOT NULL)")


def _v20_dm_recipients(db: sqlite_utils.Database) -> None:
    """Whom a post sent by DM went to: a link into a DM is for that person only, and a deal may change hands."""
    db.execute("ALTER TABLE posts ADD COLUMN sent_to TEXT")


def _v21_digest_indexes(db: sqlite_utils.Database) -> None:
    """The digest's windows of due dates (completion by week, on time, due this week) read steps in due-date order
    without visiting the table (deal, status, assignee and completion time are in the index), and whether a recovery
    step settled a deal is one look in a small partial index instead of every done step of the deal."""
    db.execute("CREATE INDEX nudges_by_due ON nudges (due_date, status, deal_id, assignee_id, resolved_at)")
    db.execute("CREATE INDEX nudges_recovery ON nudges (deal_id, resolved_at) WHERE purpose = 'recovery'")


def _v22_reminder_due_today(db: sqlite_utils.Database) -> None:
    """Which of a reminder's steps it listed as due today (their first business day was the reminder's day): a step
    re-planned or snoozed since has a new due date, so its redrawn reminder can't tell from the step alone."""
    db.execute("ALTER TABLE reminders ADD COLUMN due_today TEXT")


MIGRATIONS: list[tuple[int, Callable[[sqlite_utils.Database], None]]] = [
    (1, _v1_deals_and_nudges),
    (2, _v2_delivery),
    (3, _v3_lifecycle_and_digests),
    (4, _v4_home_views),
    (5, _v5_partial_indexes),
    (6, _v6_workspaces),
    (7, _v7_deleted_and_held_captures),
    (8, _v8_announcements_once),
    (9, _v9_utc_stamps),
    (10, _v10_team_profiles),
    (11, _v11_welcome_kits),
    (12, _v12_crm_inbox),
    (13, _v13_health_and_readiness),
    (14, _v14_people),
    (15, _v15_buyer_signals),
    (16, _v16_crm_questions),
    (17, _v17_slack_oauth_tables),
    (18, _v18_erased_deals),
    (19, _v19_threads_reminders_pacing),
    (20, _v20_dm_recipients),
    (21, _v21_digest_indexes),
    (22, _v22_reminder_due_today),
]


def migrate(db: sqlite_utils.Database) -> int:
    """Apply each missing migration in its own transaction, recording it in schema_migrations."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    for version, apply in MIGRATIONS:
        with transaction(db):
            done = db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", [version]).fetchone()
            if done:
                continue
            apply(db)
            db.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                [version, stamp(datetime.now(UTC))],
            )
    return MIGRATIONS[-1][0]

"""The `dealcoach` command line: the only place with start-up side effects (environment, logging, servers)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from bot import __version__, logs
from bot.deals.capture import PERSONA_ALIASES, PERSONAS, InputError, parse_amount
from bot.playbook.loader import Playbook, PlaybookError, load
from bot.profile import loader as team_file
from bot.profile.loader import TeamFileError
from bot.profile.model import TeamProfile
from bot.settings import SLACK_APPS_URL, Settings, SettingsError, secret_values
from bot.storage import Store

EXIT_CONFIG = 2
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
logger = logging.getLogger("dealcoach")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_CONFIG
    dotenv = Path.cwd() / ".env"
    if dotenv.is_file():  # the .env where the admin runs the command; the environment wins over it
        load_dotenv(dotenv, override=False)
    level = os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    # a bad level is reported with the other settings; tokens and secrets are redacted at every level
    logs.configure(level if level in LOG_LEVELS else "INFO", secrets=secret_values(os.environ))
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per minute for every run
    try:
        return args.run(args)
    except (SettingsError, PlaybookError, TeamFileError, TokenRejected) as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except BrokenPipeError:  # `dealcoach preview | head`
        sys.stderr.close()
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dealcoach",
        description="Deal Coach: a Slack bot that coaches your team through the first 100 days after a deal closes.",
    )
    parser.add_argument("--version", action="version", version=f"dealcoach {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the Slack bot (HTTP mode, or Socket Mode when SLACK_APP_TOKEN is set)")
    serve.set_defaults(run=run_serve)

    tick = sub.add_parser("tick", help="post the nudges due now (or at --now) once, then exit: for cron and catch-up")
    tick.add_argument(
        "--now",
        type=_instant,
        default=None,
        help="the instant to dispatch as, ISO-8601 (e.g. 2026-11-23T09:30:00+01:00; no offset means DEALCOACH_TIMEZONE)",
    )
    tick.set_defaults(run=run_tick)

    digest = sub.add_parser("digest", help="send the managers' daily digests due now (or at --now) once, then exit")
    digest.add_argument(
        "--now",
        type=_instant,
        default=None,
        help="the instant to send as, ISO-8601 (e.g. 2026-11-23T08:30:00+01:00; no offset means DEALCOACH_TIMEZONE)",
    )
    digest.set_defaults(run=run_digest)

    preview = sub.add_parser("preview", help="print the follow-up timeline a deal would get, without Slack")
    preview.add_argument("--amount", type=_amount, default=Decimal("50000"), help="deal amount (default 50000)")
    preview.add_argument(
        "--persona",
        type=_persona,
        default="other",
        help="buyer persona: economic, technical, champion or other (default other)",
    )
    preview.add_argument("--closed", type=_date, default=None, help="close date as YYYY-MM-DD (default today)")
    preview.add_argument("--go-live", type=_date, default=None, help="expected go-live date as YYYY-MM-DD")
    preview.set_defaults(run=run_preview)

    report = sub.add_parser(
        "report", help="does the coaching work? outcomes of deals whose early steps were on time vs late or missed"
    )
    report.add_argument("--since", type=_date, default=None, help="first close date, YYYY-MM-DD (default 90 days ago)")
    report.add_argument("--until", type=_date, default=None, help="last close date, YYYY-MM-DD (default today)")
    report.add_argument(
        "--csv",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="write CSV for a spreadsheet instead of Markdown: to FILE, or to standard output without one",
    )
    report.add_argument("--team", type=_team, default=None, help="only this workspace (its T... id)")
    report.add_argument("--manager", type=_user, default=None, help="only the reps this manager chose (U... id)")
    report.set_defaults(run=run_report)

    profile = sub.add_parser("team-profile", help="show the team profile, or replace it with a team file on purpose")
    profile_sub = profile.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = profile_sub.add_parser("show", help="print each workspace's stored team profile")
    show.add_argument("--team", type=_team, default=None, help="only this workspace (its T... id)")
    show.set_defaults(run=run_profile_show)
    imported = profile_sub.add_parser(
        "import", help="replace the stored team profile with FILE's (every workspace Deal Coach knows, or --team)"
    )
    imported.add_argument("file", type=Path, help="a team file, like team.example.toml")
    imported.add_argument("--team", type=_team, default=None, help="only this workspace (its T... id)")
    imported.set_defaults(run=run_profile_import)
    return parser


def _team(value: str) -> str:
    from bot.slack.ids import is_team_id

    if not is_team_id(value.strip()):
        raise argparse.ArgumentTypeError(f"{value!r} is not a workspace id; it looks like T012AB3CD")
    return value.strip()


def _user(value: str) -> str:
    from bot.slack.ids import is_user_id

    if not is_user_id(value.strip()):
        raise argparse.ArgumentTypeError(f"{value!r} is not a member id; it looks like U012AB3CD")
    return value.strip()


def run_report(args: argparse.Namespace) -> int:
    """Print the coaching report: Markdown to the terminal, or CSV to standard output or a file."""
    from bot.manage.model import team_of
    from bot.report import model, render

    settings = Settings.from_env(os.environ, require_slack=False)
    playbook = load_playbook(settings)
    today = datetime.now(settings.tz).date()
    until = args.until or today
    since = args.since or until - timedelta(days=90)
    if since > until:
        print(f"--since {since} is after --until {until}: the period must start before it ends.", file=sys.stderr)
        return EXIT_CONFIG
    store = Store(settings.db_path)
    store.migrate()
    with store.session() as db:
        reps = team_of(db, team_id=args.team, manager_id=args.manager) if args.manager and args.team else None
        if args.manager and not args.team:
            print("--manager needs --team (the workspace whose team the manager chose).", file=sys.stderr)
            return EXIT_CONFIG
        comparison = model.compare(
            db,
            since=since,
            until=until,
            today=today,
            tz=settings.tz,
            go_live_days=playbook.go_live_after_days,
            team_id=args.team,
            reps=reps,
        )
    if args.csv is None:
        print(render.markdown(comparison), end="")
    elif args.csv == "-":
        sys.stdout.write(render.csv_text(comparison))
    else:
        Path(args.csv).write_text(render.csv_text(comparison), encoding="utf-8", newline="")
        print(f"Wrote {args.csv}: {comparison.on_time.deals + comparison.late.deals} deals compared.")
    return 0


def load_team_file(settings: Settings) -> TeamProfile | None:
    """DEALCOACH_TEAM_FILE, validated before anything runs: a bad file stops the command like a bad playbook."""
    return team_file.load(settings.team_file) if settings.team_file else None


def run_profile_show(args: argparse.Namespace) -> int:
    """Print the stored profiles, and what DEALCOACH_TEAM_FILE would seed a workspace that has none."""
    from bot.profile import model
    from bot.profile.blocks import summary_text

    settings = Settings.from_env(os.environ, require_slack=False)
    seed = load_team_file(settings)
    store = Store(settings.db_path)
    store.migrate()
    with store.session() as db:
        stored = [p for p in model.all_profiles(db) if args.team in (None, p.team_id)]
    for p in stored:
        print(f"Workspace {p.team_id} (from {p.source}, {p.updated_at}):")
        print(summary_text(p.profile))
        print()
    if not stored:
        print(f"No team profile stored{' for ' + args.team if args.team else ''} yet.")
    if seed is not None:
        print(f"DEALCOACH_TEAM_FILE ({settings.team_file}) fills the profile of a workspace that has none:")
        print(summary_text(seed))
    elif not stored:
        print("Set one up on the Home tab (managers), or set DEALCOACH_TEAM_FILE to a file like team.example.toml.")
    return 0


def run_profile_import(args: argparse.Namespace) -> int:
    """Replace stored profiles with FILE's on purpose: Slack edits are overwritten, so say exactly what changed."""
    from bot.profile import model
    from bot.profile.service import import_profile

    settings = Settings.from_env(os.environ, require_slack=False)
    profile = team_file.load(args.file)
    store = Store(settings.db_path)
    store.migrate()
    if args.team:
        teams = [args.team]
    else:
        with store.session() as db:
            teams = model.known_teams(db)
    if not teams:
        print(
            f"{args.file} is valid, but no workspace has used Deal Coach yet, so there is no profile to replace. "
            "Pass --team T... (your workspace id), or set DEALCOACH_TEAM_FILE to it: it fills each workspace's "
            "profile when first used.",
            file=sys.stderr,
        )
        return 1
    now = datetime.now().astimezone()
    replaced = import_profile(store, profile, team_ids=teams, source=str(args.file), now=now)
    names = ", ".join(replaced)
    print(
        f"Imported {args.file} ({profile.company}): replaced the team profile of {len(replaced)} "
        f"workspace{'s' if len(replaced) != 1 else ''} ({names}); edits made in Slack before now are gone. "
        "Home tabs show it when next drawn."
    )
    return 0


def _amount(value: str) -> Decimal:
    """The same amounts /closed-deal reads: 120000, $120k, 1.2M, EUR 50,000."""
    try:
        return parse_amount(value).amount
    except InputError as exc:
        raise argparse.ArgumentTypeError(f"{exc.problem} e.g. --amount 120000 or --amount 1.2M") from None


def _persona(value: str) -> str:
    key = value.strip().lower()
    if key not in PERSONA_ALIASES:
        raise argparse.ArgumentTypeError(f"{value!r} is not a persona; use one of {', '.join(PERSONAS)}")
    return PERSONA_ALIASES[key]


def _date(value: str) -> date:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; write it as YYYY-MM-DD") from None
    if not 2000 <= parsed.year <= 2100:
        raise argparse.ArgumentTypeError(f"{value!r} is too far from today; use a date between 2000 and 2100")
    return parsed


def _instant(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO-8601 time, e.g. 2026-11-23T09:30:00+01:00") from None
    if not 2000 <= parsed.year <= 2100:
        raise argparse.ArgumentTypeError(f"{value!r} is too far from today; use a time between 2000 and 2100")
    return parsed


def load_playbook(settings: Settings) -> Playbook:
    return load(settings.playbook_path)


def run_preview(args: argparse.Namespace) -> int:
    """Print the dated plan for an imagined deal, so a manager can review the playbook without Slack."""
    settings = Settings.from_env(os.environ, require_slack=False)
    playbook = load_playbook(settings)
    closed = args.closed or datetime.now(settings.tz).date()
    if args.go_live and args.go_live < closed:
        print(
            f"--go-live {args.go_live} is before the close date {closed}; go-live comes after close.", file=sys.stderr
        )
        return EXIT_CONFIG
    plan = playbook.plan(close_date=closed, persona=args.persona, amount=args.amount, go_live=args.go_live)
    print(
        f"{playbook.name} ({playbook.source}): {len(plan)} steps for a deal of {args.amount:,} "
        f"(buyer: {PERSONAS[args.persona]}) closed {closed:%a %Y-%m-%d}"
    )
    if not args.go_live:
        print(f"Go-live unknown: steps timed from go-live assume {playbook.go_live_after_days} days after close.")
    print()
    print(f"{'day':>4}  {'date':<14}  {'stage':<10}  action")
    for p in plan:
        title = p.step.title.format_map(_PreviewFacts())
        print(f"{(p.due - closed).days:>4}  {p.due:%a %Y-%m-%d}  {p.step.stage.capitalize():<10}  {title}")
    return 0


class TokenRejected(Exception):
    """Slack said no to the bot token: a configuration problem, so exit 2 like the others."""


class _PreviewFacts(dict):
    """Placeholders shown as themselves, e.g. {contact}, in the terminal preview."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


AUTH_ERRORS = ("invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired")


def _run_job_once(args: argparse.Namespace, job: Callable, *, check_token: bool) -> tuple[Settings, Any, datetime]:
    """(settings, report, local instant) of one run as of --now, so the CLI takes the scheduler's own code path.
    A job only calls Slack: it needs a token, not the signing secret or app token that `serve` listens with."""
    settings = Settings.from_env(os.environ, serving=False)
    playbook = load_playbook(settings)
    team_seed = load_team_file(settings)
    store = Store(settings.db_path)
    store.migrate()

    from bot.coach import Coach

    now = args.now
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=settings.tz)
    coach = Coach(settings, store, playbook, team_seed=team_seed)
    if check_token and not settings.oauth:  # a cron job with a revoked token must say so, not log and exit 0
        from slack_sdk.errors import SlackApiError

        try:
            coach.workspaces.posting_client("").auth_test()
        except SlackApiError as exc:
            if exc.response is not None and exc.response.status_code < 500 and exc.response.status_code != 429:
                raise TokenRejected(_rejected_token(exc)) from None
        except OSError:
            pass  # Slack unreachable: the job itself waits it out and says so
    report = job(coach, coach.workspaces, now)
    return settings, report, (now or datetime.now(settings.tz)).astimezone(settings.tz)


def _rejected_token(exc) -> str:
    from bot.slack.client import error_code

    reason = exc if isinstance(exc, str) else error_code(exc) or exc
    return (
        f"Slack rejected SLACK_BOT_TOKEN ({reason}). Copy the Bot User OAuth Token again from "
        "https://api.slack.com/apps > your app > OAuth & Permissions, and reinstall the app if you changed scopes."
    )


def _app_token_problem(client, settings: Settings) -> str | None:
    """Ask Slack for a Socket Mode connection with SLACK_APP_TOKEN, as serve is about to: a refused token is
    one clear message at start-up, not a traceback after "started". None when Slack accepts it."""
    from slack_sdk.errors import SlackApiError

    from bot.slack.client import error_code

    try:
        client.apps_connections_open(app_token=settings.slack_app_token)
    except SlackApiError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        reason = error_code(exc) or f"http {status}"
        if status >= 500 or status == 429:
            return f"Slack couldn't open a Socket Mode connection just now ({reason}). Try again in a minute."
        return (
            f"Slack rejected SLACK_APP_TOKEN ({reason}). At {SLACK_APPS_URL} > your app, check that Socket Mode is "
            "turned on, then copy the app-level token (xapp-...) again from Basic Information > App-Level Tokens; "
            "it needs the connections:write scope. To use HTTP mode instead, unset SLACK_APP_TOKEN and set "
            "SLACK_SIGNING_SECRET."
        )
    except OSError as exc:
        return f"Can't reach Slack at {settings.slack_api_url} ({exc}). Check the network or SLACK_API_URL."
    return None


def run_tick(args: argparse.Namespace) -> int:
    """One dispatch as of --now, through the same code path as the scheduled job."""
    from schedules.jobs import dispatch_nudges

    _, report, moment = _run_job_once(args, dispatch_nudges, check_token=True)
    state = "open" if report.open else "closed (nothing is posted outside business hours)"
    print(f"{moment:%a %Y-%m-%d %H:%M %Z}: business hours {state}; {report.summary()}")
    return 0


def run_digest(args: argparse.Namespace) -> int:
    """The managers' digests due as of --now, through the same code path as the scheduled job."""
    from schedules.jobs import send_digests

    settings, report, moment = _run_job_once(args, send_digests, check_token=False)  # it checks with auth.test
    if report.problem and any(code in report.problem for code in AUTH_ERRORS):
        raise TokenRejected(_rejected_token(report.problem.rsplit("(", 1)[-1].rstrip(")")))
    count = len(settings.managers)
    managers = f"{count} manager{'s' if count != 1 else ''}" if count else "no managers in DEALCOACH_MANAGERS"
    print(f"{moment:%a %Y-%m-%d %H:%M %Z}: {managers}; {report.summary()}")
    return 0


# Bolt reads these from the environment by itself whenever it isn't handed them: App() takes SLACK_BOT_TOKEN even
# when given a client (and warns that it will be unused), and SLACK_CLIENT_ID/SECRET switch it to OAuth.
SLACK_CREDENTIALS = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
)


def _take_credentials(env) -> None:
    """Settings has read the credentials; from here on it is their only source, so no library picks a token up
    on its own and no child process inherits one."""
    for name in SLACK_CREDENTIALS:
        env.pop(name, None)


def run_serve(args: argparse.Namespace) -> int:
    """Start the bot: settings, playbook, database, a Slack token check, then HTTP or Socket Mode."""
    settings = Settings.from_env(os.environ)
    _take_credentials(os.environ)
    playbook = load_playbook(settings)
    team_seed = load_team_file(settings)
    store = Store(settings.db_path)
    version = store.migrate()

    from slack_sdk.errors import SlackApiError

    from bot.coach import Coach
    from bot.slack.client import listener_client
    from bot.slack.server import http_server, run_socket_mode
    from handlers import create_app

    client = listener_client(settings, token="" if settings.oauth else None)
    if settings.oauth:
        where = f"for every workspace that installs it (install page: /slack/install on port {settings.port})"
    else:
        try:
            identity = client.auth_test()
        except SlackApiError as exc:
            print(_rejected_token(exc), file=sys.stderr)
            return EXIT_CONFIG
        except OSError as exc:
            print(
                f"Can't reach Slack at {settings.slack_api_url} ({exc}). Check the network or SLACK_API_URL.",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        where = f"as @{identity.get('user')} in {identity.get('team')}"
    if settings.socket_mode:
        problem = _app_token_problem(client, settings)
        if problem:
            print(problem, file=sys.stderr)
            return EXIT_CONFIG

    from schedules import build_scheduler

    coach = Coach(settings, store, playbook, team_seed=team_seed)
    app = create_app(coach, client=client)
    scheduler = build_scheduler(coach, coach.workspaces)
    stop = threading.Event()

    def shutdown(signum, frame):
        logger.info("Received %s, shutting down", signal.Signals(signum).name)
        stop.set()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    summary = (
        f"database {settings.db_path} (schema v{version}), playbook {playbook.source} ({len(playbook.steps)} steps)"
        + (f", team file {settings.team_file} (fills an empty team profile)" if team_seed else "")
    )
    scheduler.start()
    try:
        if settings.socket_mode:
            run_socket_mode(
                app,
                settings.slack_app_token,
                stop,
                connected=lambda: logger.info(
                    "Deal Coach %s started in Socket Mode %s; %s", __version__, where, summary
                ),
            )
        else:
            server = http_server(app, signing_secret=settings.slack_signing_secret, port=settings.port)
            logger.info(
                "Deal Coach %s started in HTTP mode on port %s (POST /slack/events) %s; %s",
                __version__,
                server.effective_port,
                where,
                summary,
            )
            try:
                server.run()
            finally:
                server.close()
    except SystemExit:
        pass
    finally:
        scheduler.shutdown(wait=True)
    logger.info("Deal Coach stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

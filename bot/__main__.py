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
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from bot import __version__, logs
from bot.deals.capture import PERSONA_ALIASES, PERSONAS, InputError, parse_amount
from bot.playbook.loader import TIERS, Playbook, PlaybookError, load
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

    preview = sub.add_parser(
        "preview",
        help="print the plans by tier and buyer side by side (or one deal's timeline) and check the pacing rules",
    )
    preview.add_argument("--amount", type=_amount, default=None, help="deal amount, e.g. 120000, $120k or EUR 50k")
    preview.add_argument("--tier", choices=TIERS, default=None, help="a deal of this tier (instead of --amount)")
    preview.add_argument(
        "--persona",
        type=_persona,
        default=None,
        help="buyer persona: economic, technical, champion or other (default other)",
    )
    preview.add_argument("--closed", type=_date, default=None, help="close date as YYYY-MM-DD (default today)")
    preview.add_argument("--go-live", type=_date, default=None, help="expected go-live date as YYYY-MM-DD")
    preview.set_defaults(run=run_preview)

    kit = sub.add_parser("welcome-kit", help="write a deal's welcome kit (the PDF its Welcome kit button shares)")
    kit.add_argument("deal", type=_deal_id, metavar="DEAL_ID", help="the deal's number, as in 'deal #12'")
    kit.add_argument("--out", type=Path, default=None, help="where to write it (default: welcome-kit-ACCOUNT.pdf here)")
    kit.set_defaults(run=run_welcome_kit)
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

    crm = sub.add_parser("crm", help="deals from a CRM: what has arrived, and filling gaps from the CRM's API")
    crm_sub = crm.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = crm_sub.add_parser(
        "status", help="per CRM: the last event received, the last deal created, the last error"
    )
    status.set_defaults(run=run_crm_status)
    backfill = crm_sub.add_parser(
        "backfill", help="create the deals won in the CRM since DATE that are missing (nothing is doubled)"
    )
    backfill.add_argument("--since", type=_date, required=True, help="the first close date to read, YYYY-MM-DD")
    backfill.set_defaults(run=run_crm_backfill)
    return parser


def run_crm_status(args: argparse.Namespace) -> int:
    """What the person wiring up a CRM needs to see: is anything arriving, is anything being created, what failed."""
    from bot.crm import adapters, inbox

    settings = Settings.from_env(os.environ, require_slack=False)
    store = Store(settings.db_path)
    store.migrate()
    on = adapters.enabled(settings)
    with store.session() as db:
        known = {r[0] for r in db.execute("SELECT DISTINCT crm FROM crm_inbox").fetchall()}
        rows = [inbox.status(db, name) for name in sorted(set(on) | known)]
    if not rows:
        print("No CRM is on: set a CRM's settings (see README, CRM) and DEALCOACH_CRM_CHANNEL.")
        return 0
    for s in rows:
        state = "on" if s.crm in on else "off (its settings are missing)"
        print(f"{s.crm}: {state}")
        print(f"  last event received: {s.last_event or 'none yet'}" + (f" ({s.pending} waiting)" if s.pending else ""))
        deal = f"{s.last_deal} (deal #{s.last_deal_id})" if s.last_deal else "none yet"
        print(f"  last deal created:   {deal}")
        print(
            f"  last error:          {f'{s.last_error} (event received {s.last_error_at})' if s.last_error else 'none'}"
        )
    return 0


def run_crm_backfill(args: argparse.Namespace) -> int:
    """Deals won since --since, read from each CRM's API, created where missing: the same key as a webhook's."""
    from bot.coach import Coach
    from bot.crm import worker
    from bot.slack import workspaces

    settings = Settings.from_env(os.environ, serving=False)
    store = Store(settings.db_path)
    store.migrate()
    coach = Coach(settings, store, load_playbook(settings), team_seed=load_team_file(settings))
    if not coach.crm:
        print("No CRM is on: set a CRM's settings (see README, CRM) and DEALCOACH_CRM_CHANNEL.", file=sys.stderr)
        return 1
    client_for = workspaces.clients(coach.workspaces)
    failed = False
    for name, adapter in sorted(coach.crm.items()):
        if not getattr(adapter, "can_backfill", True):
            print(f"{name}: nothing to read back (no API access); {getattr(adapter, 'backfill_hint', '')}".rstrip("; "))
            continue
        try:
            report = worker.backfill(coach, adapter.backfill(args.since), client_for, now=coach.now())
        except Exception as exc:  # CrmUnavailable and the like: say it, the next run tries again
            print(
                f"{name}: could not read the won deals ({exc}); nothing was created. Try again later.", file=sys.stderr
            )
            failed = True
            continue
        for redraw in report.redraws:
            team_client = client_for(redraw.team_id)
            if team_client is not None:
                coach.redraw(team_client, redraw)
        print(f"{name}: since {args.since}: {report.summary()}")
    return 1 if failed else 0


def _team(value: str) -> str:
    from bot.slack.ids import is_team_id

    if not is_team_id(value.strip()):
        raise argparse.ArgumentTypeError(f"{value!r} is not a workspace id; it looks like T012AB3CD")
    return value.strip()


def _deal_id(value: str) -> int:
    digits = value.strip().lstrip("#")
    if not (digits.isascii() and digits.isdigit()) or int(digits) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a deal number; write it as 12 (for deal #12)")
    return int(digits)


def run_welcome_kit(args: argparse.Namespace) -> int:
    """Write the deal's welcome kit: the same PDF the button shares (names, titles and photos read from Slack)."""
    from bot.coach import Coach
    from bot.welcome.blocks import SET_UP_WHERE, file_name
    from bot.welcome.kit import MissingProfile
    from bot.welcome.service import build_for_deal

    settings = Settings.from_env(os.environ, serving=False)
    store = Store(settings.db_path)
    store.migrate()
    coach = Coach(settings, store, load_playbook(settings), team_seed=load_team_file(settings))
    try:
        built = build_for_deal(coach, args.deal)
    except LookupError as exc:
        print(f"{exc} `/closed-deal list` in Slack shows your deals and their numbers.", file=sys.stderr)
        return 1
    except MissingProfile as exc:
        where = SET_UP_WHERE.replace("*", "").replace("`", "")
        print(f"No welcome kit for deal #{args.deal}: the team profile needs {exc}. {where}", file=sys.stderr)
        return 1
    out = args.out or Path(file_name(built.deal))
    out.write_bytes(built.pdf)
    team = built.kit.team
    unnamed = sum(1 for p in team if not p.name)
    print(
        f"Wrote {out}: the welcome kit for {built.deal.account} (deal #{built.deal.id}), {len(team)} "
        f"{'person' if len(team) == 1 else 'people'}, {built.kit.photos} with a photo"
        + (f"; Slack couldn't say who {unnamed} of them are, so they show by role only" if unnamed else "")
        + "."
    )


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


def _amount(value: str) -> str:
    """The same amounts /closed-deal reads: 120000, $120k, 1.2M, EUR 50,000; read again with DEALCOACH_CURRENCY
    once the settings are (an amount without a currency is in it)."""
    try:
        parse_amount(value)
        return value
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
    return load(settings.playbook_path, currency=settings.currency)


def run_preview(args: argparse.Namespace) -> int:
    """Print the plans side by side, or the dated plan for an imagined deal, and check the pacing rules, so a
    manager can review the playbook without Slack. Exit 1 when a tier or buyer breaks the pacing rules."""
    from bot.playbook.pacing import breaches
    from bot.playbook.preview import overview, pacing_report, tier_amount, title_of, touch

    settings = Settings.from_env(os.environ, require_slack=False)
    playbook = load_playbook(settings)
    one_deal = any(v is not None for v in (args.amount, args.persona, args.tier, args.closed, args.go_live))
    if one_deal:
        closed = args.closed or datetime.now(settings.tz).date()
        if args.go_live and args.go_live < closed:
            print(
                f"--go-live {args.go_live} is before the close date {closed}; go-live comes after close.",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        persona = args.persona or "other"
        if args.amount is not None:
            money = parse_amount(args.amount, settings.currency)
            amount, currency = money.amount, money.currency
            deal = f"a deal of {money.format()}, {playbook.tier_of(amount, currency)} tier"
        else:
            tier = args.tier or "standard"
            amount, currency = tier_amount(playbook, tier), playbook.currency
            deal = f"a deal of {amount:,} {currency}, {tier} tier"
        plan = playbook.plan(close_date=closed, persona=persona, amount=amount, go_live=args.go_live, currency=currency)
        print(
            f"{playbook.name} ({playbook.source}): {len(plan)} steps for {deal}, "
            f"buyer: {PERSONAS[persona]}, closed {closed:%a %Y-%m-%d}"
        )
        if not args.go_live:
            print(
                f"Go-live unknown: shown {playbook.go_live_after_days} days after close. A real deal without a "
                "go-live date is asked whether it has gone live instead, and the steps timed from go-live follow the answer."
            )
        print()
        print(f"{'day':>4}  {'date':<14}  {'stage':<10}  action")
        for p in plan:
            marks = f"  ({touch(p.step)})" + (" *" if persona in dict(p.step.draft_for) else "")
            print(
                f"{(p.due - closed).days:>4}  {p.due:%a %Y-%m-%d}  {p.step.stage.capitalize():<10}  {title_of(p.step)}{marks}"
            )
        if any(persona in dict(p.step.draft_for) for p in plan):
            print(f"* a draft written for the {PERSONAS[persona]}")
        for breach in breaches(plan, closed):  # its go-live may sit elsewhere than the check below assumes
            print(f"This deal: {breach}.")
    else:
        print(overview(playbook))
    report, kept = pacing_report(playbook)
    print()
    print(report)
    return 0 if kept else 1


class TokenRejected(Exception):
    """Slack said no to the bot token: a configuration problem, so exit 2 like the others."""


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
    from schedules.jobs import dispatch_nudges, share_welcome_kits

    _, report, moment = _run_job_once(args, dispatch_nudges, check_token=True)
    _, kits, _ = _run_job_once(args, share_welcome_kits, check_token=False)
    state = "open" if report.open else "closed (nothing is posted outside business hours)"
    print(f"{moment:%a %Y-%m-%d %H:%M %Z}: business hours {state}; {report.summary()}; {kits.summary()}")
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

    from bot.crm.webhooks import crm_app
    from schedules import build_scheduler

    coach = Coach(settings, store, playbook, team_seed=team_seed)
    app = create_app(coach, client=client)
    crm = crm_app(coach.crm, store.for_requests(settings.request_db_wait_ms), coach.now) if coach.crm else None
    crm_routes = ", ".join(f"POST /crm/{name}" for name in sorted(coach.crm))
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
            webhooks = None
            if crm is not None:  # Slack needs no HTTP in Socket Mode; the CRMs do
                webhooks = http_server(None, signing_secret="", port=settings.port, crm=crm)
                threading.Thread(target=webhooks.run, name="crm-webhooks", daemon=True).start()
                logger.info("CRM webhooks on port %s (%s, GET /healthz)", webhooks.effective_port, crm_routes)
            try:
                run_socket_mode(
                    app,
                    settings.slack_app_token,
                    stop,
                    connected=lambda: logger.info(
                        "Deal Coach %s started in Socket Mode %s; %s", __version__, where, summary
                    ),
                )
            finally:
                if webhooks is not None:
                    webhooks.close()
        else:
            server = http_server(app, signing_secret=settings.slack_signing_secret, port=settings.port, crm=crm)
            logger.info(
                "Deal Coach %s started in HTTP mode on port %s (POST /slack/events%s) %s; %s",
                __version__,
                server.effective_port,
                f", {crm_routes}" if crm_routes else "",
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

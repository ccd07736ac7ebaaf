"""Settings read once from the environment, so every problem is reported together at start-up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.playbook.hours import BusinessHours, parse_clock, parse_hours
from bot.slack.ids import USER_ID, is_channel_id, is_team_id, is_user_id

SLACK_APPS_URL = "https://api.slack.com/apps"
DEFAULT_API_URL = "https://slack.com/api/"
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
# The settings that are secrets: never logged (bot/logs.py redacts their values wherever they appear).
SECRETS = {
    "SLACK_BOT_TOKEN": "slack_bot_token",
    "SLACK_SIGNING_SECRET": "slack_signing_secret",
    "SLACK_APP_TOKEN": "slack_app_token",
    "SLACK_CLIENT_SECRET": "slack_client_secret",
    "HUBSPOT_CLIENT_SECRET": "hubspot_client_secret",
    "HUBSPOT_ACCESS_TOKEN": "hubspot_access_token",
    "PIPEDRIVE_WEBHOOK_PASSWORD": "pipedrive_webhook_password",
    "PIPEDRIVE_API_TOKEN": "pipedrive_api_token",
    "SALESFORCE_WEBHOOK_TOKEN": "salesforce_webhook_token",
}
# A CRM is on once its own settings are present; each then needs DEALCOACH_CRM_CHANNEL.
CRM_SWITCHES = ("HUBSPOT_CLIENT_SECRET", "PIPEDRIVE_API_TOKEN", "SALESFORCE_WEBHOOK_TOKEN")
SALESFORCE_ORG_ID = re.compile(r"\A00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?\Z")  # 15 or 18 characters
MIN_WEBHOOK_TOKEN = 24
WEBHOOK_TOKEN = re.compile(r"\A[A-Za-z0-9_-]+\Z")  # it goes in a URL path as it stands


@dataclass(frozen=True)
class CrmRoute:
    """One rule of DEALCOACH_CRM_ROUTES: deals of this pipeline, or with an amount in [low, high), go to channel."""

    channel: str
    pipeline: str | None = None
    low: Decimal | None = None
    high: Decimal | None = None


ROUTES_EXAMPLE = "pipeline:Enterprise=C0ENTERPRISE,amount:100000+=C0BIGDEALS,amount:0-10000=C0SMALLDEALS"


def parse_crm_routes(raw: str) -> tuple[tuple[CrmRoute, ...], list[str]]:
    """DEALCOACH_CRM_ROUTES: comma-separated `pipeline:NAME=CHANNEL` or `amount:LOW-HIGH=CHANNEL` (`LOW+` for no
    upper bound), the first that matches wins. Returns the rules and what is wrong with the others."""
    routes, problems = [], []
    for rule in (r.strip() for r in raw.split(",") if r.strip()):
        what, _, channel = rule.rpartition("=")
        kind, _, value = what.partition(":")
        channel, kind, value = channel.strip(), kind.strip().lower(), value.strip()
        route = None
        if is_channel_id(channel) and kind == "pipeline" and value:
            route = CrmRoute(channel, pipeline=value)
        elif is_channel_id(channel) and kind == "amount":
            low, high = (value[:-1], "") if value.endswith("+") else value.partition("-")[::2]
            try:
                lo = Decimal(low.replace("_", "")) if low.strip() else None
                hi = Decimal(high.replace("_", "")) if high.strip() else None
            except InvalidOperation:
                lo = hi = Decimal("NaN")
            finite = (lo is None or lo.is_finite()) and (hi is None or hi.is_finite()) and (lo, hi) != (None, None)
            if finite and (lo is None or hi is None or lo < hi):
                route = CrmRoute(channel, low=lo, high=hi)
        if route is None:
            problems.append(
                f"DEALCOACH_CRM_ROUTES has a rule Deal Coach can't read: {rule!r}. Each rule is pipeline:NAME=CHANNEL "
                f"or amount:LOW-HIGH=CHANNEL (amount:LOW+=CHANNEL for no upper bound) with a channel id, e.g. "
                f"{ROUTES_EXAMPLE}"
            )
        else:
            routes.append(route)
    return tuple(routes), problems


def parse_crm_users(raw: str) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """DEALCOACH_CRM_USERS: comma-separated `crm-email=U…` for people whose CRM and Slack e-mails differ."""
    pairs, bad = [], []
    for item in (i.strip() for i in raw.split(",") if i.strip()):
        email, _, user = item.rpartition("=")
        email, user = email.strip().lower(), user.strip()
        if "@" in email and is_user_id(user):
            pairs.append((email, user))
        else:
            bad.append(item)
    problems = []
    if bad:
        problems.append(
            "DEALCOACH_CRM_USERS must be crm-email=member-id pairs separated by commas, such as "
            f"jane@sales.example.com=U012AB3CD (got {', '.join(repr(b) for b in bad)})."
        )
    return tuple(pairs), problems


def url_password(url: str) -> str:
    """The password in a database URL (postgresql://user:password@host/db), a secret like a token; '' if none."""
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return ""
    return unquote(password) if password else ""


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The secrets set in `env`, as Settings.from_env reads them, for the log filter before settings are checked:
    the Slack credentials and the database URL's password."""
    found = [value for name in SECRETS if (value := (env.get(name) or "").strip())]
    password = url_password((env.get("DEALCOACH_DATABASE_URL") or "").strip())
    return tuple(found + [password] if password else found)


SLACK_ANSWER_MS = 3000  # Slack shows the user a timeout when a request isn't answered within this
MAX_REQUEST_DB_WAIT_MS = 2500
NUDGES_IN = ("thread", "channel", "dm")
DEFAULT_POSTS_PER_MINUTE = 120  # well under Slack's "several hundred a minute" for a workspace  # what's left of Slack's 3 s is for parsing, answering and the network


def _oauth_problems(client_id: str, client_secret: str, bot_token: str, app_token: str) -> list[str]:
    where = f"{SLACK_APPS_URL} > your app > Basic Information > App Credentials"
    problems = []
    if not client_id:
        problems.append(f"SLACK_CLIENT_SECRET is set but SLACK_CLIENT_ID is not. Copy the Client ID from {where}.")
    if not client_secret:
        problems.append(f"SLACK_CLIENT_ID is set but SLACK_CLIENT_SECRET is not. Copy the Client Secret from {where}.")
    if bot_token:
        problems.append(
            "Set either SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (several "
            "workspaces, each installing through /slack/install), not both."
        )
    if app_token:
        problems.append(
            "SLACK_CLIENT_ID/SLACK_CLIENT_SECRET need HTTP mode (installs come back to /slack/oauth_redirect): "
            "unset SLACK_APP_TOKEN."
        )
    return problems


HUBSPOT_API_URL = "https://api.hubapi.com"
HUBSPOT_APP = "your HubSpot private app (README: CRM > HubSpot)"
PIPEDRIVE_API_EXAMPLE = "https://yourcompany.pipedrive.com/api"


def _http_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _crm_settings(get) -> tuple[dict[str, str], list[str]]:
    """HubSpot's and Pipedrive's settings: each CRM is off until its settings are set, and half of them is an error
    naming the rest."""
    problems: list[str] = []
    values = {
        "hubspot_client_secret": get("HUBSPOT_CLIENT_SECRET"),
        "hubspot_access_token": get("HUBSPOT_ACCESS_TOKEN"),
        "hubspot_api_url": (get("HUBSPOT_API_URL") or HUBSPOT_API_URL).rstrip("/"),
        "public_url": get("DEALCOACH_PUBLIC_URL").rstrip("/"),
        "pipedrive_webhook_user": get("PIPEDRIVE_WEBHOOK_USER"),
        "pipedrive_webhook_password": get("PIPEDRIVE_WEBHOOK_PASSWORD"),
        "pipedrive_api_url": get("PIPEDRIVE_API_URL").rstrip("/"),
        "pipedrive_api_token": get("PIPEDRIVE_API_TOKEN"),
    }
    hubspot = {
        "HUBSPOT_CLIENT_SECRET": f"the Client secret from the Auth tab of {HUBSPOT_APP}",
        "HUBSPOT_ACCESS_TOKEN": f"the Access token from the Auth tab of {HUBSPOT_APP}",
    }
    given = [name for name in hubspot if get(name)]
    if given:
        for name, where in hubspot.items():
            if name not in given:
                problems.append(f"{given[0]} is set but {name} is not (HubSpot needs both): copy {where}.")
        public = values["public_url"]
        if not public:
            problems.append(
                "DEALCOACH_PUBLIC_URL is not set, and HubSpot needs it: the public https address HubSpot calls, "
                "such as https://dealcoach.example.com (HubSpot signs the URL it called, which behind a proxy is not "
                "the one Deal Coach sees)."
            )
        elif not _http_url(public) or urlparse(public).query or urlparse(public).fragment:
            problems.append(
                f"DEALCOACH_PUBLIC_URL must be the public address, such as https://dealcoach.example.com, with no "
                f"query (got {public!r})."
            )
    if not _http_url(values["hubspot_api_url"]):
        problems.append(
            f"HUBSPOT_API_URL must be an http(s) URL such as {HUBSPOT_API_URL} (got {get('HUBSPOT_API_URL')!r})."
        )

    pipedrive = {
        "PIPEDRIVE_WEBHOOK_USER": "a user name you choose, typed again as the webhook's HTTP Auth username",
        "PIPEDRIVE_WEBHOOK_PASSWORD": "a long random password you choose, typed again as the webhook's HTTP Auth "
        "password",
        "PIPEDRIVE_API_URL": f"your company's API address, such as {PIPEDRIVE_API_EXAMPLE}",
        "PIPEDRIVE_API_TOKEN": "the token from Pipedrive > your name > Personal preferences > API",
    }
    given = [name for name in pipedrive if get(name)]
    if given:
        missing = [name for name in pipedrive if name not in given]
        if missing:
            problems.append(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} set, so Pipedrive needs "
                + "; ".join(f"{name} ({pipedrive[name]})" for name in missing)
                + "."
            )
        if ":" in values["pipedrive_webhook_user"]:
            problems.append(
                "PIPEDRIVE_WEBHOOK_USER must not contain ':' (HTTP Basic puts one between user and password)."
            )
        api_url = values["pipedrive_api_url"]
        if api_url and (not _http_url(api_url) or not urlparse(api_url).path.endswith("/api")):
            problems.append(
                f"PIPEDRIVE_API_URL must be your company's API address ending in /api, such as {PIPEDRIVE_API_EXAMPLE} "
                f"(got {api_url!r})."
            )
    return values, problems


class SettingsError(Exception):
    """Every configuration problem at once, worded for the admin who has to fix it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        count = len(problems)
        lines = [f"Deal Coach can't start: {count} setting{'s need' if count != 1 else ' needs'} attention."]
        lines += [f"  - {p}" for p in problems]
        lines.append("Set them in the environment or in a .env file (copy .env.example to .env to start).")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Settings:
    """What the running bot needs; built by `from_env`, never mutated."""

    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_client_id: str = ""
    slack_client_secret: str = ""  # with the client id: Slack's OAuth install flow for several workspaces
    slack_api_url: str = DEFAULT_API_URL
    port: int = 3000
    db_path: Path = Path("dealcoach.db")
    database_url: str = ""  # PostgreSQL, shared by several instances, instead of the SQLite file
    timezone: str = "UTC"
    managers: tuple[str, ...] = field(default_factory=tuple)
    playbook_path: Path | None = None
    team_file: Path | None = None  # seeds each workspace's empty team profile
    currency: str = "USD"
    business_hours: str = "09:00-17:00"
    digest_time: str = "08:30"  # managers' local time for the daily digest
    large_deal: Decimal = Decimal("100000")  # at or above: a late affirm touch puts the deal at risk
    quiet_days: int = 14  # an open deal with no touch done for this long is at risk
    signature_days: int = 7  # a verbal yes unsigned for longer is a buyer signal in the digest
    request_db_wait_ms: int = 2000  # a Slack request waits this long at most for a busy database; jobs wait longer
    retention_days: int | None = None  # personal data of deals finished longer ago is erased; None: kept
    nudges_in: str = "thread"  # where nudges go: the deal's thread, the channel itself, or each owner's DM
    posts_per_minute: int = DEFAULT_POSTS_PER_MINUTE  # the workspace's budget for chat.postMessage, every process
    # HubSpot and Pipedrive (bot/crm): each off while its settings are empty
    hubspot_client_secret: str = ""
    hubspot_access_token: str = ""
    hubspot_api_url: str = HUBSPOT_API_URL
    public_url: str = ""  # what HubSpot calls, e.g. https://dealcoach.example.com: the URI its signature covers
    pipedrive_webhook_user: str = ""
    pipedrive_webhook_password: str = ""
    pipedrive_api_url: str = ""
    pipedrive_api_token: str = ""
    # deals from a CRM: where they are posted, and whose they are
    crm_channel: str = ""
    crm_routes: tuple[CrmRoute, ...] = ()
    crm_users: tuple[tuple[str, str], ...] = ()  # (CRM e-mail, lower case; Slack member id)
    crm_team: str = ""  # the workspace the CRM feeds (OAuth mode)
    salesforce_webhook_token: str = ""  # the secret part of POST /crm/salesforce/{token}
    salesforce_org_id: str = ""

    @property
    def secrets(self) -> tuple[str, ...]:
        found = [value for name in SECRETS.values() if (value := getattr(self, name))]
        password = url_password(self.database_url)
        return tuple(found + [password] if password else found)

    @property
    def digest_at(self) -> time:
        return parse_clock(self.digest_time)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def oauth(self) -> bool:
        """Many workspaces, each installing the app through Slack's OAuth flow, instead of one bot token."""
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def hours(self) -> BusinessHours:
        start, end = parse_hours(self.business_hours)
        return BusinessHours(self.tz, start, end)

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, require_slack: bool = True, serving: bool = True) -> Settings:
        """Validate every variable and raise one SettingsError naming all that are wrong.

        What is required depends on the command: `serve` (`serving`) takes Slack's requests, so it needs the
        signing secret (HTTP mode) or the app token (Socket Mode); `tick` and `digest` only call Slack, so they
        need a token to call it with and nothing else; `preview` (`require_slack=False`) needs no Slack at all."""
        problems: list[str] = []

        def get(name: str) -> str:
            return (env.get(name) or "").strip()

        bot_token = get("SLACK_BOT_TOKEN")
        app_token = get("SLACK_APP_TOKEN") if serving else ""  # how Slack reaches `serve`: nothing to the others
        signing_secret = get("SLACK_SIGNING_SECRET") if serving else ""
        client_id, client_secret = get("SLACK_CLIENT_ID"), get("SLACK_CLIENT_SECRET")
        oauth = bool(client_id or client_secret)
        if require_slack:
            if oauth:
                problems += _oauth_problems(client_id, client_secret, bot_token, app_token)
            elif not bot_token:
                problems.append(
                    "SLACK_BOT_TOKEN is not set. Copy the Bot User OAuth Token (xoxb-...) from "
                    f"{SLACK_APPS_URL} > your app > OAuth & Permissions "
                    "(or set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to serve several workspaces)."
                )
            elif not bot_token.startswith("xoxb-"):
                problems.append(
                    "SLACK_BOT_TOKEN must be a bot token starting with xoxb- (not a user or app token). "
                    f"Find it at {SLACK_APPS_URL} > your app > OAuth & Permissions."
                )
            if app_token and not app_token.startswith("xapp-"):
                problems.append(
                    "SLACK_APP_TOKEN must be an app-level token starting with xapp-. Create one with the "
                    f"connections:write scope at {SLACK_APPS_URL} > your app > Basic Information, "
                    "or leave it unset to run in HTTP mode."
                )
            if serving and not app_token and not signing_secret:
                problems.append(
                    "SLACK_SIGNING_SECRET is not set (needed in HTTP mode). Copy the Signing Secret from "
                    f"{SLACK_APPS_URL} > your app > Basic Information > App Credentials"
                    + ("." if oauth else ", or set SLACK_APP_TOKEN to use Socket Mode instead.")
                )

        api_url = get("SLACK_API_URL") or DEFAULT_API_URL
        parsed = urlparse(api_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            problems.append(f"SLACK_API_URL must be an http(s) URL such as {DEFAULT_API_URL} (got {api_url!r}).")
        elif not api_url.endswith("/"):
            api_url += "/"

        port = 3000
        raw_port = get("PORT")
        if raw_port:
            if raw_port.isascii() and raw_port.isdigit() and 1 <= int(raw_port) <= 65535:
                port = int(raw_port)
            else:
                problems.append(f"PORT must be a number from 1 to 65535, such as 3000 (got {raw_port!r}).")

        db_path = Path(get("DEALCOACH_DB") or "dealcoach.db")
        database_url = get("DEALCOACH_DATABASE_URL")
        if database_url and get("DEALCOACH_DB"):
            problems.append(
                "DEALCOACH_DATABASE_URL and DEALCOACH_DB are both set: choose one database. Keep "
                "DEALCOACH_DATABASE_URL (PostgreSQL, shared by several instances) or DEALCOACH_DB (one SQLite file); "
                "to move an SQLite file's data to PostgreSQL, run dealcoach migrate-store --to postgresql://..."
            )
        elif database_url and not database_url.startswith(("postgresql://", "postgres://")):
            problems.append(
                "DEALCOACH_DATABASE_URL must be a PostgreSQL URL, such as "
                "postgresql://dealcoach:secret@db.internal:5432/dealcoach (got a value starting "
                f"{database_url.split(':', 1)[0]!r})."
            )
        elif database_url:
            pass
        elif not db_path.parent.exists():
            problems.append(
                f"DEALCOACH_DB points into a folder that does not exist: {db_path.parent}. "
                "Create the folder or choose another path, such as ./dealcoach.db."
            )
        elif db_path.is_dir():
            problems.append(f"DEALCOACH_DB must be a file path, not a folder: {db_path}.")

        timezone = get("DEALCOACH_TIMEZONE") or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as 'Europe'
            problems.append(
                f"DEALCOACH_TIMEZONE must be an IANA time zone such as Europe/Berlin or "
                f"America/New_York (got {timezone!r})."
            )

        managers = tuple(m.strip() for m in get("DEALCOACH_MANAGERS").split(",") if m.strip())
        bad = [m for m in managers if not USER_ID.match(m)]
        if bad:
            problems.append(
                "DEALCOACH_MANAGERS must be Slack member IDs separated by commas, such as U012AB3CD,U045EF6GH "
                f"(not names or @handles; got {', '.join(repr(b) for b in bad)}). In Slack, open a profile, "
                "click the three dots and choose 'Copy member ID'."
            )

        def optional_file(name: str, fix: str) -> Path | None:
            raw = get(name)
            if raw and not Path(raw).is_file():
                problems.append(f"{name} points to {raw!r}, which is not a file. {fix}")
            return Path(raw) if raw else None

        playbook_path = optional_file("DEALCOACH_PLAYBOOK", "Unset it to use the built-in playbook.")
        team_file = optional_file(
            "DEALCOACH_TEAM_FILE",
            "Copy team.example.toml, fill it in and point DEALCOACH_TEAM_FILE at it, or unset it and set the "
            "profile up in Slack.",
        )

        currency = (get("DEALCOACH_CURRENCY") or "USD").upper()
        if not CURRENCY_CODE.match(currency):
            problems.append(
                f"DEALCOACH_CURRENCY must be a three-letter ISO code such as USD or EUR (got {currency!r})."
            )

        business_hours = get("DEALCOACH_BUSINESS_HOURS") or "09:00-17:00"
        try:
            parse_hours(business_hours)
        except ValueError as exc:
            problems.append(
                f"DEALCOACH_BUSINESS_HOURS {exc}: the local hours, Monday to Friday, when nudges are posted."
            )

        digest_time = get("DEALCOACH_DIGEST_TIME") or "08:30"
        try:
            digest_time = parse_clock(digest_time).strftime("%H:%M")
        except ValueError as exc:
            problems.append(f"DEALCOACH_DIGEST_TIME {exc}: each manager's local time for the daily digest.")

        large_deal = Decimal("100000")
        raw_large = get("DEALCOACH_LARGE_DEAL")
        if raw_large:
            try:
                large_deal = Decimal(raw_large.replace(",", "").replace("_", ""))
            except InvalidOperation:
                large_deal = Decimal("NaN")
            if not large_deal.is_finite() or large_deal <= 0:
                problems.append(
                    "DEALCOACH_LARGE_DEAL must be a positive number, the amount from which a deal counts as large, "
                    f"such as 100000 (got {raw_large!r})."
                )

        quiet_days = 14
        raw_quiet = get("DEALCOACH_QUIET_DAYS")
        if raw_quiet:
            if raw_quiet.isascii() and raw_quiet.isdigit() and 1 <= int(raw_quiet) <= 90:
                quiet_days = int(raw_quiet)
            else:
                problems.append(
                    "DEALCOACH_QUIET_DAYS must be a whole number of days from 1 to 90, such as 14: how long an open "
                    f"deal may go without a touch before the digest flags it (got {raw_quiet!r})."
                )

        retention_days = None
        raw_retention = get("DEALCOACH_RETENTION_DAYS")
        if raw_retention:
            if raw_retention.isascii() and raw_retention.isdigit() and 1 <= int(raw_retention) <= 36500:
                retention_days = int(raw_retention)
            else:
                problems.append(
                    "DEALCOACH_RETENTION_DAYS must be a whole number of days from 1 to 36500, such as 365: how long "
                    "after a deal is finished its contact's name and title, notes and the buyer's words are kept "
                    f"(leave it unset to keep them; got {raw_retention!r})."
                )

        signature_days = 7
        raw_signature = get("DEALCOACH_SIGNATURE_DAYS")
        if raw_signature:
            if raw_signature.isascii() and raw_signature.isdigit() and 1 <= int(raw_signature) <= 90:
                signature_days = int(raw_signature)
            else:
                problems.append(
                    "DEALCOACH_SIGNATURE_DAYS must be a whole number of days from 1 to 90, such as 7: how long a verbal "
                    f"yes may wait for its signature before the digest lists it (got {raw_signature!r})."
                )

        request_db_wait_ms = 2000
        raw_wait = get("DEALCOACH_REQUEST_DB_WAIT_MS")
        if raw_wait:
            if raw_wait.isascii() and raw_wait.isdigit() and 1 <= int(raw_wait) <= MAX_REQUEST_DB_WAIT_MS:
                request_db_wait_ms = int(raw_wait)
            else:
                problems.append(
                    f"DEALCOACH_REQUEST_DB_WAIT_MS must be a whole number of milliseconds from 1 to "
                    f"{MAX_REQUEST_DB_WAIT_MS}, such as 2000: how long a Slack request waits for a busy database "
                    f"before answering 'try again', since Slack gives up after {SLACK_ANSWER_MS} (got {raw_wait!r})."
                )

        nudges_in = (get("DEALCOACH_NUDGES_IN") or "thread").lower()
        if nudges_in not in NUDGES_IN:
            problems.append(
                "DEALCOACH_NUDGES_IN must be thread (each nudge a reply under its deal's message), channel (each "
                f"nudge a message of its own in the channel) or dm (each owner by direct message); got {nudges_in!r}."
            )

        posts_per_minute = DEFAULT_POSTS_PER_MINUTE
        raw_ppm = get("DEALCOACH_POSTS_PER_MINUTE")
        if raw_ppm:
            if raw_ppm.isascii() and raw_ppm.isdigit() and 1 <= int(raw_ppm) <= 600:
                posts_per_minute = int(raw_ppm)
            else:
                problems.append(
                    "DEALCOACH_POSTS_PER_MINUTE must be a whole number from 1 to 600, such as 120: how many messages "
                    f"Deal Coach posts per minute in one workspace, all processes together (got {raw_ppm!r})."
                )

        crm_channel = get("DEALCOACH_CRM_CHANNEL")
        crm_on = [name for name in CRM_SWITCHES if get(name)]
        if crm_channel and not is_channel_id(crm_channel):
            problems.append(
                f"DEALCOACH_CRM_CHANNEL must be a channel id such as C012AB3CD (got {crm_channel!r}). In Slack, open "
                "the channel's details: the id is at the bottom of the About tab."
            )
        elif crm_on and not crm_channel:
            problems.append(
                f"DEALCOACH_CRM_CHANNEL is not set, but {' and '.join(crm_on)} turn a CRM on: set it to the channel id "
                "(such as C012AB3CD) where deals won in the CRM are posted."
            )
        crm_routes, route_problems = parse_crm_routes(get("DEALCOACH_CRM_ROUTES"))
        crm_users, user_problems = parse_crm_users(get("DEALCOACH_CRM_USERS"))
        problems += route_problems + user_problems
        crm_team = get("DEALCOACH_CRM_TEAM")
        if crm_team and not is_team_id(crm_team):
            problems.append(f"DEALCOACH_CRM_TEAM must be a workspace id such as T012AB3CD (got {crm_team!r}).")
        elif crm_on and oauth and not crm_team:
            problems.append(
                "DEALCOACH_CRM_TEAM is not set: with SLACK_CLIENT_ID/SLACK_CLIENT_SECRET (several workspaces), name "
                "the one workspace the CRM feeds, such as T012AB3CD."
            )
        sf_token, sf_org = get("SALESFORCE_WEBHOOK_TOKEN"), get("SALESFORCE_ORG_ID")
        if sf_token and (len(sf_token) < MIN_WEBHOOK_TOKEN or not WEBHOOK_TOKEN.match(sf_token)):
            problems.append(
                f"SALESFORCE_WEBHOOK_TOKEN must be at least {MIN_WEBHOOK_TOKEN} letters, digits, - or _ (it goes in "
                "the endpoint URL Salesforce posts to). Make one with: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )
        if sf_token and not SALESFORCE_ORG_ID.match(sf_org):
            problems.append(
                "SALESFORCE_ORG_ID must be your Salesforce organization id, 15 or 18 characters starting with 00D "
                f"(got {sf_org!r}). Find it in Salesforce under Setup > Company Information > Salesforce.com "
                "Organization ID."
            )
        elif sf_org and not sf_token:
            problems.append(
                "SALESFORCE_ORG_ID is set but SALESFORCE_WEBHOOK_TOKEN is not: set both to receive Salesforce deals."
            )

        log_level = get("LOG_LEVEL").upper()
        if log_level and log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            problems.append(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR (got {log_level!r}).")

        crm, crm_problems = _crm_settings(get)
        problems += crm_problems

        if problems:
            raise SettingsError(problems)
        return cls(
            **crm,
            slack_bot_token=bot_token,
            slack_signing_secret=signing_secret,
            slack_app_token=app_token,
            slack_client_id=client_id,
            slack_client_secret=client_secret,
            slack_api_url=api_url,
            port=port,
            db_path=db_path,
            database_url=database_url,
            timezone=timezone,
            managers=managers,
            playbook_path=playbook_path,
            team_file=team_file,
            currency=currency,
            business_hours=business_hours,
            digest_time=digest_time,
            large_deal=large_deal,
            quiet_days=quiet_days,
            signature_days=signature_days,
            request_db_wait_ms=request_db_wait_ms,
            retention_days=retention_days,
            nudges_in=nudges_in,
            posts_per_minute=posts_per_minute,
            crm_channel=crm_channel,
            crm_routes=crm_routes,
            crm_users=crm_users,
            crm_team=crm_team,
            salesforce_webhook_token=sf_token,
            salesforce_org_id=sf_org,
        )

    def __repr__(self) -> str:
        """Never show secrets, even in a traceback or a debug log."""
        return (
            f"Settings(mode={'socket' if self.socket_mode else 'http'}, port={self.port}, "
            f"db_path={str(self.db_path)!r}, database={'postgresql' if self.database_url else 'sqlite'}, timezone={self.timezone!r}, managers={self.managers!r}, "
            f"playbook_path={self.playbook_path!r}, api_url={self.slack_api_url!r})"
        )

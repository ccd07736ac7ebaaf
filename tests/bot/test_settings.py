"""Start-up configuration: every problem reported at once, in words an admin can act on, secrets never shown."""

from __future__ import annotations

import dataclasses
from datetime import time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.settings import DEFAULT_API_URL, Settings, SettingsError, secret_values

BOT_TOKEN = "xoxb-1111-2222-s3cr3tb0t"
APP_TOKEN = "xapp-1-A111-s3cr3tapp"
SIGNING_SECRET = "s3cr3t-signing-value"


@pytest.fixture
def socket_env(tmp_path) -> dict[str, str]:
    """The smallest valid Socket Mode configuration, with the database in a temporary folder."""
    return {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "DEALCOACH_DB": str(tmp_path / "deals.db")}


@pytest.fixture
def http_env(tmp_path) -> dict[str, str]:
    """The smallest valid HTTP-mode configuration."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DEALCOACH_DB": str(tmp_path / "deals.db"),
    }


def problems(env: dict[str, str], **kwargs) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env, **kwargs)
    return caught.value.problems


def test_socket_mode_needs_only_the_two_tokens(socket_env, tmp_path):
    """Defaults fill in everything else, and no signing secret is needed over a socket."""
    settings = Settings.from_env(socket_env)
    assert settings.socket_mode is True
    assert settings.slack_bot_token == BOT_TOKEN
    assert settings.slack_app_token == APP_TOKEN
    assert settings.slack_signing_secret == ""
    assert settings.slack_api_url == DEFAULT_API_URL
    assert settings.port == 3000
    assert settings.db_path == tmp_path / "deals.db"
    assert settings.timezone == "UTC"
    assert settings.tz == ZoneInfo("UTC")
    assert settings.managers == ()
    assert settings.playbook_path is None
    assert settings.currency == "USD"


def test_http_mode_needs_the_signing_secret(http_env):
    """Without an app token Slack posts to us, and the secret verifies those requests."""
    settings = Settings.from_env(http_env)
    assert settings.socket_mode is False
    assert settings.slack_signing_secret == SIGNING_SECRET

    del http_env["SLACK_SIGNING_SECRET"]
    [problem] = problems(http_env)
    assert problem.startswith("SLACK_SIGNING_SECRET is not set (needed in HTTP mode).")


def test_values_are_trimmed(socket_env):
    """A stray space or newline pasted into .env is not a different token."""
    socket_env |= {"SLACK_BOT_TOKEN": f"  {BOT_TOKEN}\n", "PORT": " 8080 ", "DEALCOACH_TIMEZONE": " Europe/Berlin "}
    settings = Settings.from_env(socket_env)
    assert (settings.slack_bot_token, settings.port, settings.timezone) == (BOT_TOKEN, 8080, "Europe/Berlin")


def test_every_problem_is_reported_in_one_error(tmp_path):
    """An admin fixes the whole .env in one pass instead of one restart per mistake."""
    env = {
        "SLACK_BOT_TOKEN": "xoxp-user-token-value",
        "SLACK_APP_TOKEN": "xoxb-wrong-kind-value",
        "SLACK_API_URL": "ftp://slack.example",
        "PORT": "70000",
        "DEALCOACH_DB": str(tmp_path / "missing-folder" / "deals.db"),
        "DEALCOACH_TIMEZONE": "Mars/Olympus_Mons",
        "DEALCOACH_MANAGERS": "@alice, W0GOOD1",
        "DEALCOACH_PLAYBOOK": str(tmp_path / "no-such-playbook.toml"),
        "DEALCOACH_CURRENCY": "EURO",
    }
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert len(caught.value.problems) == 9
    assert message.startswith("Deal Coach can't start: 9 settings need attention.\n  - SLACK_BOT_TOKEN must be")
    for name in [
        "SLACK_BOT_TOKEN must be a bot token starting with xoxb-",
        "SLACK_APP_TOKEN must be an app-level token starting with xapp-",
        "SLACK_API_URL must be an http(s) URL such as https://slack.com/api/ (got 'ftp://slack.example')",
        "PORT must be a number from 1 to 65535, such as 3000 (got '70000')",
        f"DEALCOACH_DB points into a folder that does not exist: {tmp_path / 'missing-folder'}.",
        "DEALCOACH_TIMEZONE must be an IANA time zone such as Europe/Berlin or America/New_York "
        "(got 'Mars/Olympus_Mons')",
        "got '@alice'). In Slack, open a profile",
        f"DEALCOACH_PLAYBOOK points to '{tmp_path / 'no-such-playbook.toml'}', which is not a file.",
        "DEALCOACH_CURRENCY must be a three-letter ISO code such as USD or EUR (got 'EURO')",
    ]:
        assert name in message
    assert "W0GOOD1" not in message  # only the bad manager IDs are listed
    assert message.endswith("Set them in the environment or in a .env file (copy .env.example to .env to start).")


def test_missing_slack_credentials_are_each_named(tmp_path):
    """An empty environment names the bot token and the signing secret, with where to find them."""
    found = problems({"DEALCOACH_DB": str(tmp_path / "deals.db")})
    assert len(found) == 2
    assert found[0].startswith("SLACK_BOT_TOKEN is not set. Copy the Bot User OAuth Token (xoxb-...) from ")
    assert "OAuth & Permissions" in found[0]
    assert found[1].startswith("SLACK_SIGNING_SECRET is not set (needed in HTTP mode).")


def test_one_problem_reads_as_singular(http_env):
    """'1 setting needs attention', not '1 settings need'."""
    http_env["PORT"] = "0"
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(http_env)
    assert str(caught.value).startswith("Deal Coach can't start: 1 setting needs attention.\n  - PORT must be")


@pytest.mark.parametrize(
    ("name", "value", "start"),
    [
        ("SLACK_BOT_TOKEN", "xoxp-1-user", "SLACK_BOT_TOKEN must be a bot token starting with xoxb-"),
        ("SLACK_BOT_TOKEN", "xapp-1-app", "SLACK_BOT_TOKEN must be a bot token starting with xoxb-"),
        ("SLACK_BOT_TOKEN", "XOXB-upper", "SLACK_BOT_TOKEN must be a bot token starting with xoxb-"),
        ("SLACK_APP_TOKEN", "xoxb-1-bot", "SLACK_APP_TOKEN must be an app-level token starting with xapp-"),
    ],
)
def test_tokens_must_have_the_right_prefix(socket_env, name, value, start):
    """Pasting the wrong one of Slack's several tokens is the commonest set-up mistake."""
    socket_env[name] = value
    [problem] = problems(socket_env)
    assert problem.startswith(start)
    assert value not in problem  # a wrongly pasted token is still a secret


def test_slack_can_be_left_unconfigured_for_offline_commands(tmp_path):
    """CLI commands like `playbook check` run without any Slack credentials."""
    settings = Settings.from_env({"DEALCOACH_DB": str(tmp_path / "deals.db")}, require_slack=False)
    assert settings.slack_bot_token == ""
    assert settings.socket_mode is False


def test_the_default_database_is_in_the_working_folder():
    """`dealcoach.db` beside where the bot runs, which always exists."""
    assert Settings.from_env({}, require_slack=False).db_path == Path("dealcoach.db")


@pytest.mark.parametrize(("raw", "port"), [("1", 1), ("3000", 3000), ("65535", 65535), ("08080", 8080)])
def test_port_accepts_the_tcp_range(http_env, raw, port):
    """Any real TCP port; the HTTP server binds to it."""
    http_env["PORT"] = raw
    assert Settings.from_env(http_env).port == port


@pytest.mark.parametrize("raw", ["0", "65536", "-1", "3000.0", "http", "30 00", "²", "٣٠٠٠"])
def test_port_rejects_anything_else(http_env, raw):
    """Out-of-range numbers and non-ASCII digits ('²' used to crash int()) are reported, not raised."""
    http_env["PORT"] = raw
    [problem] = problems(http_env)
    assert problem == f"PORT must be a number from 1 to 65535, such as 3000 (got {raw!r})."


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"])
def test_timezone_accepts_iana_names(http_env, zone):
    """Digests go out on the team's local morning, so the zone must be one zoneinfo knows."""
    http_env["DEALCOACH_TIMEZONE"] = zone
    settings = Settings.from_env(http_env)
    assert settings.timezone == zone
    assert settings.tz == ZoneInfo(zone)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "CEST", "Europe", "America", "Europe/", "../etc/passwd"])
def test_timezone_rejects_what_zoneinfo_cannot_load(http_env, zone):
    """A region folder like 'Europe' used to escape as IsADirectoryError instead of a SettingsError."""
    http_env["DEALCOACH_TIMEZONE"] = zone
    [problem] = problems(http_env)
    assert problem.startswith("DEALCOACH_TIMEZONE must be an IANA time zone")
    assert repr(zone) in problem


def test_managers_are_member_ids_separated_by_commas(http_env):
    """Manager IDs are compared with Slack user IDs, so spacing and empty entries don't matter."""
    http_env["DEALCOACH_MANAGERS"] = " U012AB3CD , W045EF6GH,, "
    assert Settings.from_env(http_env).managers == ("U012AB3CD", "W045EF6GH")


@pytest.mark.parametrize("managers", ["@alice", "alice", "u012ab3cd", "U1", "C012AB3CD", "<@U012AB3CD>"])
def test_managers_reject_names_and_handles(http_env, managers):
    """A handle or name never matches a user ID, so a manager would silently lack their rights."""
    http_env["DEALCOACH_MANAGERS"] = f"W0KEEP1,{managers}"
    [problem] = problems(http_env)
    assert problem.startswith("DEALCOACH_MANAGERS must be Slack member IDs separated by commas")
    assert f"got {managers!r})" in problem


def test_playbook_must_be_an_existing_file(http_env, tmp_path):
    """A typo in the path would otherwise fall back to the built-in playbook without anyone noticing."""
    playbook = tmp_path / "playbook.toml"
    playbook.write_text("# a playbook\n", encoding="utf-8")
    http_env["DEALCOACH_PLAYBOOK"] = str(playbook)
    assert Settings.from_env(http_env).playbook_path == playbook

    http_env["DEALCOACH_PLAYBOOK"] = str(tmp_path)
    [problem] = problems(http_env)
    assert problem == (
        f"DEALCOACH_PLAYBOOK points to {str(tmp_path)!r}, which is not a file. Unset it to use the built-in playbook."
    )


def test_database_folder_must_exist_and_path_must_not_be_a_folder(http_env, tmp_path):
    """SQLite creates the file but not its folder; a folder path would fail on first connect."""
    http_env["DEALCOACH_DB"] = str(tmp_path / "nested" / "deals.db")
    [problem] = problems(http_env)
    assert problem == (
        f"DEALCOACH_DB points into a folder that does not exist: {tmp_path / 'nested'}. "
        "Create the folder or choose another path, such as ./dealcoach.db."
    )

    http_env["DEALCOACH_DB"] = str(tmp_path)
    [problem] = problems(http_env)
    assert problem == f"DEALCOACH_DB must be a file path, not a folder: {tmp_path}."


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("http://127.0.0.1:8765/api", "http://127.0.0.1:8765/api/"),
        ("http://127.0.0.1:8765/api/", "http://127.0.0.1:8765/api/"),
        ("https://slack.com/api", "https://slack.com/api/"),
        ("", DEFAULT_API_URL),
    ],
)
def test_api_url_always_ends_with_a_slash(http_env, raw, normalised):
    """The Slack SDK appends method names to base_url, so a missing slash would call /apichat.postMessage."""
    http_env["SLACK_API_URL"] = raw
    assert Settings.from_env(http_env).slack_api_url == normalised


@pytest.mark.parametrize("raw", ["slack.com/api", "ftp://slack.com/api", "http://", "not a url"])
def test_api_url_must_be_http(http_env, raw):
    """Only an http(s) URL with a host can be a Web API."""
    http_env["SLACK_API_URL"] = raw
    [problem] = problems(http_env)
    assert problem == f"SLACK_API_URL must be an http(s) URL such as https://slack.com/api/ (got {raw!r})."


def test_currency_is_upper_cased(http_env):
    """`eur` in .env means EUR."""
    http_env["DEALCOACH_CURRENCY"] = "eur"
    assert Settings.from_env(http_env).currency == "EUR"


def test_repr_never_shows_tokens_or_secrets(socket_env, http_env):
    """Settings end up in tracebacks and debug logs; credentials must not."""
    for env in (socket_env, http_env | {"SLACK_APP_TOKEN": APP_TOKEN}):
        settings = Settings.from_env(env)
        for shown in (repr(settings), str(settings), f"{settings!r}"):
            assert BOT_TOKEN not in shown
            assert APP_TOKEN not in shown
            assert SIGNING_SECRET not in shown
            assert "s3cr3t" not in shown
    assert repr(Settings.from_env(socket_env)).startswith("Settings(mode=socket, port=3000, ")


def test_settings_are_frozen(socket_env):
    """Read once at start-up; nothing changes them behind the bot's back."""
    settings = Settings.from_env(socket_env)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 4000


def test_digest_settings_have_defaults_and_accept_good_values(http_env):
    """The managers' digest: 08:30 local, large from 100,000, quiet after 14 days, unless set."""
    settings = Settings.from_env(http_env)
    assert (settings.digest_time, settings.large_deal, settings.quiet_days) == ("08:30", Decimal("100000"), 14)
    http_env |= {"DEALCOACH_DIGEST_TIME": " 7:05 ", "DEALCOACH_LARGE_DEAL": "250,000", "DEALCOACH_QUIET_DAYS": "90"}
    settings = Settings.from_env(http_env)
    assert (settings.digest_time, settings.digest_at, settings.large_deal) == ("07:05", time(7, 5), Decimal(250000))
    assert settings.quiet_days == 90


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("DEALCOACH_DIGEST_TIME", "24:00", "DEALCOACH_DIGEST_TIME must be a time of day as HH:MM, such as 08:30"),
        ("DEALCOACH_DIGEST_TIME", "8.30am", "DEALCOACH_DIGEST_TIME must be a time of day as HH:MM, such as 08:30"),
        ("DEALCOACH_LARGE_DEAL", "0", "DEALCOACH_LARGE_DEAL must be a positive number"),
        ("DEALCOACH_LARGE_DEAL", "lots", "DEALCOACH_LARGE_DEAL must be a positive number"),
        ("DEALCOACH_LARGE_DEAL", "Infinity", "DEALCOACH_LARGE_DEAL must be a positive number"),
        ("DEALCOACH_QUIET_DAYS", "0", "DEALCOACH_QUIET_DAYS must be a whole number of days from 1 to 90"),
        ("DEALCOACH_QUIET_DAYS", "91", "DEALCOACH_QUIET_DAYS must be a whole number of days from 1 to 90"),
        ("DEALCOACH_QUIET_DAYS", "2.5", "DEALCOACH_QUIET_DAYS must be a whole number of days from 1 to 90"),
    ],
)
def test_digest_settings_are_validated_with_a_clear_message(http_env, name, raw, message):
    http_env[name] = raw
    [problem] = problems(http_env)
    assert problem.startswith(message) and repr(raw) in problem


def test_jobs_need_a_token_but_not_what_serve_listens_with(tmp_path):
    """tick and digest only call Slack: no signing secret, and an app token (Socket Mode) is not theirs to check."""
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "DEALCOACH_DB": str(tmp_path / "deals.db")}
    assert Settings.from_env(env, serving=False).slack_bot_token == BOT_TOKEN
    assert any("SLACK_SIGNING_SECRET" in p for p in problems(env))  # serve still needs it
    assert Settings.from_env({**env, "SLACK_APP_TOKEN": "not-an-app-token"}, serving=False).socket_mode is False
    assert problems({"DEALCOACH_DB": env["DEALCOACH_DB"]}, serving=False) == [
        p for p in problems({"DEALCOACH_DB": env["DEALCOACH_DB"]}) if "SLACK_SIGNING_SECRET" not in p
    ]


def test_the_request_wait_for_a_busy_database_defaults_well_under_slacks_3_seconds(http_env):
    """Slack shows a timeout after 3 s; a request gives the database 2 s unless told otherwise."""
    assert Settings.from_env(http_env).request_db_wait_ms == 2000
    http_env["DEALCOACH_REQUEST_DB_WAIT_MS"] = " 750 "
    assert Settings.from_env(http_env).request_db_wait_ms == 750


@pytest.mark.parametrize("raw", ["0", "2501", "3000", "1.5", "2s", "-5"])
def test_the_request_wait_is_validated_against_slacks_window(http_env, raw):
    http_env["DEALCOACH_REQUEST_DB_WAIT_MS"] = raw
    [problem] = problems(http_env)
    assert problem.startswith("DEALCOACH_REQUEST_DB_WAIT_MS must be a whole number of milliseconds from 1 to 2500")
    assert "such as 2000" in problem and "3000" in problem and repr(raw) in problem


CHANNEL = {"DEALCOACH_CRM_CHANNEL": "C0CRMDEALS"}
HUBSPOT = {"HUBSPOT_CLIENT_SECRET": "hs-secret-0a1b2c3d", "HUBSPOT_ACCESS_TOKEN": "pat-na1-0a1b2c3d4e"}
PIPEDRIVE = {
    "PIPEDRIVE_WEBHOOK_USER": "dealcoach",
    "PIPEDRIVE_WEBHOOK_PASSWORD": "pd-hook-password-9f8e7d",
    "PIPEDRIVE_API_URL": "https://acme.pipedrive.com/api/",
    "PIPEDRIVE_API_TOKEN": "pd-api-token-6c5b4a39",
}


def test_each_crm_is_off_until_its_settings_are_set(http_env):
    settings = Settings.from_env(http_env)
    assert (settings.hubspot_client_secret, settings.pipedrive_api_token, settings.public_url) == ("", "", "")
    assert settings.hubspot_api_url == "https://api.hubapi.com"


def test_hubspot_and_pipedrive_settings_are_read_and_their_secrets_never_shown(http_env):
    env = {**http_env, **CHANNEL, **HUBSPOT, **PIPEDRIVE, "DEALCOACH_PUBLIC_URL": "https://dealcoach.example.com/"}
    settings = Settings.from_env(env)
    assert settings.public_url == "https://dealcoach.example.com"
    assert settings.pipedrive_api_url == "https://acme.pipedrive.com/api"
    assert (settings.pipedrive_webhook_user, settings.hubspot_access_token) == ("dealcoach", "pat-na1-0a1b2c3d4e")
    secrets = [*HUBSPOT.values(), PIPEDRIVE["PIPEDRIVE_WEBHOOK_PASSWORD"], PIPEDRIVE["PIPEDRIVE_API_TOKEN"]]
    assert set(secrets) <= set(settings.secrets)  # what the log filter redacts
    assert set(secrets) <= set(secret_values(env))
    assert not any(secret in repr(settings) for secret in secrets)


@pytest.mark.parametrize("given", ["HUBSPOT_CLIENT_SECRET", "HUBSPOT_ACCESS_TOKEN"])
def test_half_of_hubspot_is_an_error_naming_the_other_half(http_env, given):
    other = next(name for name in HUBSPOT if name != given)
    found = problems(
        {**http_env, **CHANNEL, given: HUBSPOT[given], "DEALCOACH_PUBLIC_URL": "https://dealcoach.example.com"}
    )
    assert found == [
        f"{given} is set but {other} is not (HubSpot needs both): copy the "
        f"{'Client secret' if other.endswith('SECRET') else 'Access token'} from the Auth tab of your HubSpot private "
        "app (README: CRM > HubSpot)."
    ]


def test_hubspot_needs_the_public_url_it_signs(http_env):
    [problem] = problems({**http_env, **CHANNEL, **HUBSPOT})
    assert problem.startswith("DEALCOACH_PUBLIC_URL is not set, and HubSpot needs it")
    [problem] = problems({**http_env, **CHANNEL, **HUBSPOT, "DEALCOACH_PUBLIC_URL": "dealcoach.example.com"})
    assert "DEALCOACH_PUBLIC_URL must be the public address" in problem


def test_half_of_pipedrive_is_an_error_naming_each_missing_setting(http_env):
    [problem] = problems({**http_env, **CHANNEL, "PIPEDRIVE_API_TOKEN": PIPEDRIVE["PIPEDRIVE_API_TOKEN"]})
    assert problem.startswith("PIPEDRIVE_API_TOKEN is set, so Pipedrive needs PIPEDRIVE_WEBHOOK_USER")
    for name in ("PIPEDRIVE_WEBHOOK_USER", "PIPEDRIVE_WEBHOOK_PASSWORD", "PIPEDRIVE_API_URL"):
        assert name in problem
    assert PIPEDRIVE["PIPEDRIVE_API_TOKEN"] not in problem


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PIPEDRIVE_API_URL", "https://acme.pipedrive.com", "ending in /api"),
        ("PIPEDRIVE_API_URL", "acme.pipedrive.com/api", "ending in /api"),
        ("PIPEDRIVE_WEBHOOK_USER", "deal:coach", "must not contain ':'"),
    ],
)
def test_pipedrive_settings_are_checked(http_env, name, value, says):
    [problem] = problems({**http_env, **CHANNEL, **PIPEDRIVE, name: value})
    assert says in problem and name in problem


def test_the_hubspot_api_url_must_be_http(http_env):
    [problem] = problems({**http_env, "HUBSPOT_API_URL": "api.hubapi.com"})
    assert problem.startswith("HUBSPOT_API_URL must be an http(s) URL")


# -- deals from a CRM ------------------------------------------------------------------------------------------

SF_TOKEN = "sf-webhook-token-0123456789abcdef"


def test_crm_settings_are_read_routes_and_email_map_included(http_env):
    settings = Settings.from_env(
        {
            **http_env,
            "DEALCOACH_CRM_CHANNEL": "C0CRMWINS",
            "DEALCOACH_CRM_ROUTES": "pipeline:Enterprise=C0ENT, amount:100000+=C0BIG, amount:0-10_000=C0SMALL",
            "DEALCOACH_CRM_USERS": "Jane@Sales.example.com=U0JANE",
            "SALESFORCE_WEBHOOK_TOKEN": SF_TOKEN,
            "SALESFORCE_ORG_ID": "00D5g000004Xyz1EAC",
        }
    )
    assert settings.crm_channel == "C0CRMWINS"
    assert [(r.channel, r.pipeline, r.low, r.high) for r in settings.crm_routes] == [
        ("C0ENT", "Enterprise", None, None),
        ("C0BIG", None, Decimal("100000"), None),
        ("C0SMALL", None, Decimal("0"), Decimal("10000")),
    ]
    assert settings.crm_users == (("jane@sales.example.com", "U0JANE"),)
    assert SF_TOKEN in settings.secrets and SF_TOKEN not in repr(settings)


def test_crm_settings_problems_are_reported_together_with_examples(http_env):
    found = problems(
        {
            **http_env,
            "DEALCOACH_CRM_ROUTES": "amount:50k-10=C0X,pipeline:=C0Y,big=#deals",
            "DEALCOACH_CRM_USERS": "jane=U0JANE",
            "SALESFORCE_WEBHOOK_TOKEN": "short",
        }
    )
    text = "\n".join(found)
    assert "DEALCOACH_CRM_CHANNEL is not set, but SALESFORCE_WEBHOOK_TOKEN turn a CRM on" in text
    assert text.count("DEALCOACH_CRM_ROUTES has a rule") == 3 and "amount:100000+=C0BIGDEALS" in text
    assert "DEALCOACH_CRM_USERS must be crm-email=member-id pairs" in text
    assert "SALESFORCE_WEBHOOK_TOKEN must be at least 24" in text
    assert "SALESFORCE_ORG_ID must be your Salesforce organization id" in text
    assert "short" not in text  # a secret, even a bad one, is never echoed


def test_oauth_mode_needs_the_workspace_the_crm_feeds(tmp_path):
    env = {
        "SLACK_CLIENT_ID": "123.456",
        "SLACK_CLIENT_SECRET": "client-s3cr3t",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DEALCOACH_DB": str(tmp_path / "deals.db"),
        "DEALCOACH_CRM_CHANNEL": "C0CRMWINS",
        "SALESFORCE_WEBHOOK_TOKEN": SF_TOKEN,
        "SALESFORCE_ORG_ID": "00D5g000004Xyz1",
    }
    assert any("DEALCOACH_CRM_TEAM is not set" in p for p in problems(env))
    assert Settings.from_env({**env, "DEALCOACH_CRM_TEAM": "T0SALES"}).crm_team == "T0SALES"

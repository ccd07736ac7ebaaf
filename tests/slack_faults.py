"""Ways a post can end with the bot not knowing whether Slack has it: each arranges the fake Slack for one
post and returns whether Slack kept the message. Shared by the nudge and the digest exactly-once tests."""

from __future__ import annotations


def slack_stores_then_fails(fake, client):
    """A 500 after Slack stored the message."""
    fake.fail("chat.postMessage", status=500, stored=True)
    return True


def slack_stores_then_answers_an_error_page(fake, client):
    """A 503 error page (HTML, not Slack's JSON) after Slack stored the message."""
    fake.fail("chat.postMessage", status=503, stored=True, page=True)
    return True


def slack_fails_without_storing(fake, client):
    """A 503: nothing stored."""
    fake.fail("chat.postMessage", status=503)
    return False


def slack_stores_after_the_client_gave_up(fake, client):
    """A timeout: Slack is slow and stores the message after the client stopped waiting."""
    client.timeout = 0.2
    fake.fail("chat.postMessage", delay=0.6)
    return True


def slack_times_out_without_storing(fake, client):
    """A timeout, and Slack never stores it."""
    client.timeout = 0.2
    fake.fail("chat.postMessage", status=503, delay=0.6)
    return False


def connection_lost_after_storing(fake, client):
    """The connection drops after Slack stored the message."""
    fake.on("chat.postMessage", lambda call: "drop")
    return True


def connection_lost_before_storing(fake, client):
    """The connection drops and the message never made it."""

    def lose_it(call):
        fake.messages.pop((call.response["channel"], call.response["ts"]))
        return "drop"

    fake.on("chat.postMessage", lose_it)
    return False


UNKNOWN_OUTCOMES = [
    slack_stores_then_fails,
    slack_stores_then_answers_an_error_page,
    slack_fails_without_storing,
    slack_stores_after_the_client_gave_up,
    slack_times_out_without_storing,
    connection_lost_after_storing,
    connection_lost_before_storing,
]

"""User-typed text shown in Slack: no pings, no spoofed links, no unbalanced formatting."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.text import (
    bold,
    channel_link,
    escape,
    hidden,
    inert,
    mention,
    plain,
    plain_from_mrkdwn,
    truncate,
    unescape_slack,
)

ZWSP = "\u200b"
BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("AT&T", "AT&amp;T"),
        ("<b>", "&lt;b&gt;"),
        ("<!channel>", "&lt;!channel&gt;"),
        ("<https://evil.example|Acme invoice>", "&lt;https://evil.example|Acme invoice&gt;"),
        ("<@U012AB3CD>", "&lt;@U012AB3CD&gt;"),
        ("&amp;", "&amp;amp;"),
        ("@channel", f"@{ZWSP}channel"),
        ("hi @here!", f"hi @{ZWSP}here!"),
        ("@Everyone", f"@{ZWSP}Everyone"),
        ("@HERE and @channel", f"@{ZWSP}HERE and @{ZWSP}channel"),
        ("@channels", "@channels"),
        ("Jane Doe", "Jane Doe"),
        ("", ""),
        (None, ""),
    ],
)
def test_escape_neutralises_slack_control_characters_and_broadcasts(text, shown):
    """`<...>` would become a link or mention and @channel would ping everyone, so both are defused."""
    assert escape(text) == shown


@pytest.mark.parametrize(
    ("text", "typed"),
    [
        ("AT&amp;T", "AT&T"),
        ("&lt;b&gt;", "<b>"),
        ("&amp;lt;", "&lt;"),  # the rep typed "&lt;" literally; it must not turn into "<"
        ("Acme", "Acme"),
        ("", ""),
    ],
)
def test_unescape_slack_recovers_what_the_rep_typed(text, typed):
    """Slack HTML-escapes three characters in command text; stored names should hold the originals."""
    assert unescape_slack(text) == typed


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Acme", "*Acme*"),
        ("AT&T", "*AT&amp;T*"),
        ("<Acme>", "*&lt;Acme&gt;*"),
        ("snake_case", "snake_case"),
        ("a*b", "a*b"),
        ("~strike", "~strike"),
        ("`code`", "`code`"),
        ("", ""),
        (None, ""),
    ],
)
def test_bold_escapes_and_only_adds_asterisks_when_safe(text, shown):
    """A name with *, _, ~ or ` would unbalance the asterisks, so it is shown plain instead of garbled."""
    assert bold(text) == shown


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("abc", 3, "abc"),
        ("abcd", 3, "ab…"),
        ("ab cdef", 4, "ab…"),
        ("abcdef", 1, "…"),
        ("", 5, ""),
    ],
)
def test_truncate_fits_the_limit_with_an_ellipsis(text, limit, shown):
    """Slack rejects over-long fields outright, so the cut text including '…' must fit."""
    assert truncate(text, limit) == shown


@settings(max_examples=500, database=None, deadline=None)
@given(st.text())
def test_escape_never_leaves_angle_brackets_or_a_live_broadcast(text):
    """Whatever a rep types, the escaped text can't form a Slack link, mention or @channel ping."""
    shown = escape(text)
    assert "<" not in shown
    assert ">" not in shown
    assert "<!channel>" not in shown
    assert BROADCAST.search(shown) is None


@settings(max_examples=300, database=None, deadline=None)
@given(st.text().filter(lambda t: "@" not in t))
def test_unescape_slack_undoes_escape(text):
    """Slack's escaping and ours agree, so a name survives a trip through Slack unchanged (its hidden characters,
    which the text policy refuses when typed, are not shown)."""
    assert unescape_slack(escape(text)) == inert(text)
    if not any(map(hidden, text)):
        assert unescape_slack(escape(text)) == text


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.mark.parametrize("show", [escape, plain, bold])
def test_stored_text_with_hidden_characters_is_shown_without_them(show):
    """A reason stored before the policy (or by any other path) can't turn the bot's words after it around."""
    for ch in BIDI + "\u200b\u2060\ufeff\u00ad\U000e0041":
        shown = show(f"Budget frozen{ch} 3 seats")
        assert ch not in shown and "Budget frozen 3 seats" in shown
    assert show("👩\u200d💻 dev team") in ("👩\u200d💻 dev team", "*👩\u200d💻 dev team*")  # joiners are kept


@pytest.mark.parametrize(
    ("user_id", "shown"),
    [
        ("U0REP0002", "<@U0REP0002>"),
        ("W012AB3CD", "<@W012AB3CD>"),
        ("U0REP0002> <!channel", "U0REP0002&gt; &lt;!channel"),
        ("U0REP\n", "U0REP"),
        ("u0rep", "u0rep"),
        ("", "someone"),
        (None, "someone"),
    ],
)
def test_only_a_well_formed_member_id_becomes_a_mention(user_id, shown):
    assert mention(user_id).strip() == shown


def test_only_a_well_formed_channel_id_becomes_a_channel_link():
    assert channel_link("C0TEAM") == "<#C0TEAM>" and channel_link("G0PRIV") == "<#G0PRIV>"
    assert channel_link("C0TEAM> <!here") == "C0TEAM&gt; &lt;!here"


@settings(max_examples=300, database=None, deadline=None)
@given(st.text(max_size=100), st.integers(min_value=1, max_value=120))
def test_truncate_never_exceeds_the_limit(text, limit):
    """The result fits, and is the text itself whenever the text already fits."""
    cut = truncate(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
    else:
        assert cut.endswith("…")
        assert text.startswith(cut[:-1])


def test_plain_from_mrkdwn_shows_our_mrkdwn_as_a_plain_text_field_would_need_it():
    """A modal's inline error is plain text: a mention reads @U1, an escaped name reads as typed, and nothing in
    it can become markup or a broadcast again."""
    said = f"{escape('R&D <Labs> @here')} (deal #3) was deleted by {mention('U0REP')}. Nothing changed."
    assert (
        plain_from_mrkdwn(said) == f"R&D \u2039Labs\u203a @{ZWSP}here (deal #3) was deleted by @U0REP. Nothing changed."
    )
    assert plain_from_mrkdwn(None) == ""

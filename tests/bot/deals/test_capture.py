"""What a rep types into /closed-deal and the Amount box: what we accept, and how we say no."""

from __future__ import annotations

import unicodedata
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.deals.capture import (
    CODES,
    EXAMPLE,
    FULL_EXAMPLE,
    ZERO_DECIMAL,
    InputError,
    Money,
    QuickCapture,
    check_text,
    parse_amount,
    parse_quick_capture,
)

# Written out here rather than imported, so the tests are an independent check of the parser's own list.
BIDI_FORMATTING = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
HIDDEN = "Hidden characters can make text show differently from what was typed: delete it, or retype that part."


def is_control(ch: str) -> bool:
    """Controls, bidi formatting and every other invisible format character (category Cf) but the joiners."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs") and ch not in "\u200c\u200d" or ch in BIDI_FORMATTING


# "Today" for the error answers' examples: their dates are 60 days on from it (2026-03-31).
TODAY = date(2026, 1, 30)


def example_parses(error: InputError) -> QuickCapture:
    """Every error shows a command to copy; copying it must work."""
    assert error.example.startswith("/closed-deal "), error.example
    return parse_quick_capture(error.example.removeprefix("/closed-deal "), today=TODAY)


# --- amounts -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("$120k", "120000", "USD"),
        ("120,000", "120000", "USD"),
        ("1.2M", "1200000", "USD"),
        ("1.2mm", "1200000", "USD"),
        ("2bn", "2000000000", "USD"),
        ("€50k", "50000", "EUR"),
        ("USD 5000", "5000", "USD"),
        ("usd 5000", "5000", "USD"),
        ("5000 USD", "5000", "USD"),
        ("50k EUR", "50000", "EUR"),
        ("EUR50,000", "50000", "EUR"),
        ("£8,500.50", "8500.50", "GBP"),
        ("$ 5000", "5000", "USD"),
        ("+$5k", "5000", "USD"),
        (".5k", "500", "USD"),
        ("$0.50", "0.50", "USD"),
        ("CHF 5,000", "5000", "CHF"),
        ("¥500,000", "500000", "JPY"),
        ("¥1,234.5", "1235", "JPY"),  # yen has no minor unit: rounded half up
        ("$1.005", "1.01", "USD"),  # cents rounded half up, not to even
        ("C$10k", "10000", "CAD"),
        ("A$10k", "10000", "AUD"),
        ("NZ$10k", "10000", "NZD"),
        ("$100bn", "100000000000", "USD"),  # exactly the limit is allowed
        ("  $120k  ", "120000", "USD"),
    ],
)
def test_parse_amount_reads_the_ways_reps_write_money(text, amount, currency):
    """Suffixes, symbols, ISO codes on either side and thousands separators all land on one exact Decimal."""
    money = parse_amount(text)
    assert money == Money(Decimal(amount), currency)
    assert money.amount == Decimal(amount)


def test_parse_amount_uses_the_default_currency_for_a_bare_number():
    """A team that sells in euros sets DEALCOACH_CURRENCY and can type plain numbers."""
    assert parse_amount("50k", default_currency="EUR") == Money(Decimal("50000"), "EUR")
    assert parse_amount("$50k", default_currency="EUR") == Money(Decimal("50000"), "USD")


def test_parse_amount_unescapes_what_slack_escaped():
    """The modal and commands deliver `&`, `<`, `>` HTML-escaped; an amount with them is still just junk."""
    with pytest.raises(InputError) as caught:
        parse_amount("$5k &lt;b&gt;")
    assert caught.value.problem == "Enter just the amount, like $120k or EUR 50,000 (found '<b>' too)."


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "Enter the amount, like $120k or EUR 50,000."),
        ("   ", "Enter the amount, like $120k or EUR 50,000."),
        ("lots", "I couldn't find the amount. Add what the deal is worth, like $120k or EUR 50,000."),
        ("$5k $6k", "I found two amounts, '$5k' and '$6k'. Give one amount per deal."),
        ("$5k please", "Enter just the amount, like $120k or EUR 50,000 (found 'please' too)."),
        ("$0", "The amount '$0' is zero. Enter what the deal is worth, like $120k."),
        ("0k", "The amount '0k' is zero. Enter what the deal is worth, like $120k."),
        ("-$5k", "The amount '-$5k' is negative. A closed deal is worth more than zero."),
        ("$-5k", "The amount '$-5k' is negative. A closed deal is worth more than zero."),
        ("\u22125000", "The amount '\u22125000' is negative. A closed deal is worth more than zero."),
        ("$inf", "'$inf' isn't an amount I can read. Try $120k, 1.2M or EUR 50,000."),
        ("$nan", "'$nan' isn't an amount I can read. Try $120k, 1.2M or EUR 50,000."),
        ("$1e999", "'$1e999' isn't an amount I can read. Try $120k, 1.2M or EUR 50,000."),
        ("$5kUSD", "'$5kUSD' names a currency twice. Write it once, like $120k or EUR 50,000."),
        ("5\t000", "The amount contains a tab. Please type it on one line, as plain text."),
    ],
)
def test_parse_amount_says_exactly_what_is_wrong(text, problem):
    """The Amount box's error is shown under the field, so it has to name the actual mistake."""
    with pytest.raises(InputError) as caught:
        parse_amount(text)
    assert caught.value.problem == problem
    assert parse_amount(caught.value.example) == Money(Decimal("120000"), "USD")


@pytest.mark.parametrize(
    "text",
    [
        "$100.01bn",
        "$1000000000000",
        "100,000,000,001",
        "$" + "9" * 40,  # 29+ digits used to escape as decimal.InvalidOperation from quantize()
        "¥" + "9" * 40,
        "9" * 30 + "bn",
    ],
)
def test_parse_amount_rejects_absurd_amounts_as_typos(text):
    """More than 100 billion is a slipped finger, and must be an InputError however many digits it has."""
    with pytest.raises(InputError) as caught:
        parse_amount(text)
    assert caught.value.problem == (
        f"The amount '{text}' is more than 100 billion, which looks like a typo. Check the digits and the k/M suffix."
    )


# --- Money.format --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "shown"),
    [
        (Money(Decimal("120000"), "USD"), "$120,000"),
        (Money(Decimal("120000.00"), "USD"), "$120,000"),
        (Money(Decimal("1234567.89"), "USD"), "$1,234,567.89"),
        (Money(Decimal("0.50"), "USD"), "$0.50"),
        (Money(Decimal("50000"), "EUR"), "€50,000"),
        (Money(Decimal("8500.5"), "EUR"), "€8,500.50"),
        (Money(Decimal("8500.50"), "GBP"), "£8,500.50"),
        (Money(Decimal("500000"), "JPY"), "¥500,000"),
        (Money(Decimal("5000"), "CHF"), "CHF 5,000"),
        (Money(Decimal("5000.25"), "CHF"), "CHF 5,000.25"),
        (Money(Decimal("10000"), "CAD"), "C$10,000"),
        (Money(Decimal("999"), "SEK"), "SEK 999"),
    ],
)
def test_money_format_writes_it_the_way_a_rep_would(money, shown):
    """Cents only when there are some; a sign where people use one, else the ISO code first."""
    assert money.format() == shown


@settings(max_examples=300, database=None, deadline=None)
@given(
    currency=st.sampled_from(sorted(CODES)),
    amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000000000"), places=2),
)
def test_money_format_reads_back_as_the_same_money(currency, amount):
    """What the bot shows (and puts in its examples) is something the parser accepts as the same amount."""
    if currency in ZERO_DECIMAL:
        amount = max(amount.to_integral_value(), Decimal(1))
    money = Money(amount, currency)
    assert parse_amount(money.format()) == money


# --- quick capture -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "account", "amount", "currency"),
    [
        ("Acme Rockets $120k", "Acme Rockets", "120000", "USD"),
        ("Acme Rockets 120,000", "Acme Rockets", "120000", "USD"),
        ("Acme Rockets 1.2M", "Acme Rockets", "1200000", "USD"),
        ("Müller GmbH €50k", "Müller GmbH", "50000", "EUR"),
        ("Acme USD 5000", "Acme", "5000", "USD"),
        ("Acme 5000 USD", "Acme", "5000", "USD"),
        ("Tesco £8,500.50", "Tesco", "8500.50", "GBP"),
        ("$120k Acme Rockets", "Acme Rockets", "120000", "USD"),
        ("Route 66 Diner $5k", "Route 66 Diner", "5000", "USD"),
        ("3M $2.5m", "3M", "2500000", "USD"),
        ("AT&amp;T $5k", "AT&T", "5000", "USD"),
        ("&lt;Acme&gt; $5k", "<Acme>", "5000", "USD"),
        ("  Acme    Rockets   $120k  ", "Acme Rockets", "120000", "USD"),
        ("Sony ¥500,000", "Sony", "500000", "JPY"),
    ],
)
def test_quick_capture_splits_account_and_amount(text, account, amount, currency):
    """One amount token anywhere; every other word, spaced normally, is the account."""
    capture = parse_quick_capture(text)
    assert capture == QuickCapture(account, Money(Decimal(amount), currency))


def test_quick_capture_reads_every_extra():
    """The full form from the help text fills contact, title, persona and go-live."""
    capture = parse_quick_capture(
        "Acme Rockets $120k contact: Jane Doe, VP Operations persona: economic live: 2026-03-01"
    )
    assert capture == QuickCapture(
        account="Acme Rockets",
        money=Money(Decimal("120000"), "USD"),
        contact_name="Jane Doe",
        contact_title="VP Operations",
        persona="economic",
        go_live_date=date(2026, 3, 1),
    )


@pytest.mark.parametrize(
    ("extras", "name", "title", "persona", "live"),
    [
        ("contact: Jane Doe title: CFO", "Jane Doe", "CFO", "other", None),
        ("Contact: Jane Doe", "Jane Doe", None, "other", None),
        ("contact: Jane Doe,", "Jane Doe", None, "other", None),
        ("title: CFO", None, "CFO", "other", None),
        ("persona: eb", None, None, "economic", None),
        ("persona: Technical Buyer", None, None, "technical", None),
        ("persona: end user", None, None, "champion", None),
        ("PERSONA: OTHER", None, None, "other", None),
        ("go-live: 2026-03-01", None, None, "other", date(2026, 3, 1)),
        ("golive: 2026-03-01", None, None, "other", date(2026, 3, 1)),
        ("live: 2026-03-01 persona: champion", None, None, "champion", date(2026, 3, 1)),
    ],
)
def test_quick_capture_extras_in_any_order_and_case(extras, name, title, persona, live):
    """Keys are case-insensitive, persona aliases map to the four personas, go-live has spellings."""
    capture = parse_quick_capture(f"Acme $5k {extras}")
    assert capture.account == "Acme"
    assert (capture.contact_name, capture.contact_title, capture.persona, capture.go_live_date) == (
        name,
        title,
        persona,
        live,
    )


def test_quick_capture_accepts_an_account_of_exactly_200_characters():
    """The limit is inclusive; only the 201st character is too many."""
    assert parse_quick_capture("A" * 200 + " $5k").account == "A" * 200


BAD_CAPTURES = [
    ("", "Tell me the account and the amount."),
    ("   ", "Tell me the account and the amount."),
    ("Acme Rockets", "I couldn't find the amount. Add what the deal is worth, like $120k or EUR 50,000."),
    ("$120k", "Add the account name before the amount, like /closed-deal Acme Rockets $120,000."),
    ("€50k contact: Jane", "Add the account name before the amount, like /closed-deal Acme Rockets €50,000."),
    ("Acme $5k $6k", "I found two amounts, '$5k' and '$6k'. Give one amount per deal."),
    ("Acme $5k EUR 6000", "I found two amounts, '$5k' and 'EUR6000'. Give one amount per deal."),
    (
        "Acme 5000 6000",
        "I found two numbers, '5000' and '6000', and can't tell which is the amount. "
        "Put a currency on the amount, like $120k.",
    ),
    ("Acme $0", "The amount '$0' is zero. Enter what the deal is worth, like $120k."),
    ("Acme $0.001", "The amount '$0.001' is zero. Enter what the deal is worth, like $120k."),
    ("Acme -$5k", "The amount '-$5k' is negative. A closed deal is worth more than zero."),
    ("Acme -5000", "The amount '-5000' is negative. A closed deal is worth more than zero."),
    ("Acme $inf", "'$inf' isn't an amount I can read. Try $120k, 1.2M or EUR 50,000."),
    ("Acme $nan", "'$nan' isn't an amount I can read. Try $120k, 1.2M or EUR 50,000."),
    ("Acme $1e999", "'$1e999' isn't an amount I can read. Try $120k, 1.2M or EUR 50,000."),
    (
        "Acme $100.01bn",
        "The amount '$100.01bn' is more than 100 billion, which looks like a typo. Check the digits and the k/M suffix.",
    ),
    (
        "Acme $" + "1" + "0" * 30,
        f"The amount '${'1' + '0' * 30}' is more than 100 billion, which looks like a typo. "
        "Check the digits and the k/M suffix.",
    ),
    ("A" * 201 + " $5k", "The account name is 201 characters long; the limit is 200."),
    ("Acme\nRockets $5k", "The command contains a line break. Please type it on one line, as plain text."),
    ("Acme\r\nRockets $5k", "The command contains a line break. Please type it on one line, as plain text."),
    ("Acme\tRockets $5k", "The command contains a tab. Please type it on one line, as plain text."),
    (
        "Acme\x00 $5k",
        "The command contains a control character (U+0000). Please type it on one line, as plain text.",
    ),
    (
        "Acme\u202eRockets $5k",
        "The command contains an invisible character (U+202E RIGHT-TO-LEFT OVERRIDE) after “Acme”. " + HIDDEN,
    ),
    (
        "Acme\u2066Rockets $5k",
        "The command contains an invisible character (U+2066 LEFT-TO-RIGHT ISOLATE) after “Acme”. " + HIDDEN,
    ),
    (
        "Acme $5k contact: Jane\u200fDoe",
        "The command contains an invisible character (U+200F RIGHT-TO-LEFT MARK) after “Acme $5k contact: Jane”. "
        + HIDDEN,
    ),
    (
        "Acme $5k persona: boss",
        "'boss' isn't a buyer persona I know. Use economic, technical, champion or other.",
    ),
    (
        "Acme $5k live: next week",
        "The go-live date 'next week' isn't a date. Write it as YYYY-MM-DD, like 2026-03-31.",
    ),
    (
        "Acme $5k live: 2026-02-30",
        "The go-live date '2026-02-30' isn't a date. Write it as YYYY-MM-DD, like 2026-03-31.",
    ),
    ("Acme $5k contact: Jane contact: Bob", "'contact:' appears twice. Give each detail once."),
    ("Acme $5k live: 2026-03-01 go-live: 2026-03-02", "'go-live:' appears twice. Give each detail once."),
    ("Acme $5k contact: , CFO", "'contact:' needs a name, like contact: Jane Doe, VP Operations."),
    ("Acme $5k contact:", "'contact:' needs a name, like contact: Jane Doe, VP Operations."),
    (
        "Acme $5k contact: Jane, CFO title: CEO",
        "The contact's title is given twice (after a comma and with title:).",
    ),
    ("Acme $5k contact: " + "J" * 151, "The contact name is 151 characters long; the limit is 150."),
    ("Acme $5k title: " + "T" * 151, "The contact title is 151 characters long; the limit is 150."),
    ("Acme $5kUSD", "'$5kUSD' names a currency twice. Write it once, like $120k or EUR 50,000."),
    ("x" * 10_001 + " $5k", "The command is 10005 characters long; the limit is 10000."),
]


@pytest.mark.parametrize(("text", "problem"), BAD_CAPTURES)
def test_quick_capture_says_exactly_what_is_wrong(text, problem):
    """A rejected /closed-deal tells the rep the one thing to fix, word for word."""
    with pytest.raises(InputError) as caught:
        parse_quick_capture(text, today=TODAY)
    assert caught.value.problem == problem
    assert str(caught.value) == problem


@pytest.mark.parametrize(("text", "problem"), BAD_CAPTURES)
def test_every_error_example_is_a_command_that_parses(text, problem):
    """The example under an error is meant to be copied, so it has to work."""
    with pytest.raises(InputError) as caught:
        parse_quick_capture(text, today=TODAY)
    capture = example_parses(caught.value)
    assert capture.account
    assert capture.money.amount > 0


def test_error_example_keeps_the_reps_own_account_and_amount_when_short():
    """A contact typo shows the rep's own deal back to them, not Acme Rockets."""
    with pytest.raises(InputError) as caught:
        parse_quick_capture("Globex €50k contact: " + "J" * 151)
    assert caught.value.example == "/closed-deal Globex €50,000"
    assert example_parses(caught.value) == QuickCapture("Globex", Money(Decimal("50000"), "EUR"))


def test_error_example_with_a_number_in_the_account_reads_back_as_the_same_deal():
    """The example must not only parse, it must mean the deal the rep typed."""
    with pytest.raises(InputError) as caught:
        parse_quick_capture("Acme 5 CHF5000 contact: " + "J" * 151)
    assert example_parses(caught.value) == QuickCapture("Acme 5", Money(Decimal("5000"), "CHF"))


def test_error_examples_are_the_documented_ones():
    """The two canned examples themselves parse to the deal they describe."""
    assert example_parses(InputError("x", EXAMPLE)) == QuickCapture("Acme Rockets", Money(Decimal("120000"), "USD"))
    full = example_parses(InputError("x", FULL_EXAMPLE))
    assert (full.contact_name, full.contact_title, full.persona) == ("Jane Doe", "VP Operations", "economic")


# --- check_text ----------------------------------------------------------------------------------------------


def test_check_text_trims_and_collapses_spaces():
    """Stored names are tidy however the rep spaced them."""
    assert check_text("  Jane    Doe ", "contact name", 150) == "Jane Doe"
    assert check_text("", "contact name", 150) == ""


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("a\nb", "a line break"),
        ("a\rb", "a line break"),
        ("a\tb", "a tab"),
        ("a\x00b", "a control character (U+0000)"),
        ("a\x1bb", "a control character (U+001B)"),
        ("a\x7fb", "a control character (U+007F)"),
        ("a\x85b", "a control character (U+0085)"),
    ],
)
def test_check_text_rejects_control_characters(value, what):
    """Line breaks, tabs, C0/C1 controls could forge or garble what others see."""
    with pytest.raises(InputError) as caught:
        check_text(value, "why they bought", 2000, example="/closed-deal Acme $5k")
    assert caught.value.problem == f"The why they bought contains {what}. Please type it on one line, as plain text."
    assert caught.value.example == "/closed-deal Acme $5k"


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("a\u202db", "U+202D LEFT-TO-RIGHT OVERRIDE) after “a”"),
        ("a\u061cb", "U+061C ARABIC LETTER MARK) after “a”"),
        ("\u2067abc", "U+2067 RIGHT-TO-LEFT ISOLATE) at the start"),
        ("Jane\u200bDoe", "U+200B ZERO WIDTH SPACE) after “Jane”"),
        ("Acme\ufeff", "U+FEFF ZERO WIDTH NO-BREAK SPACE) after “Acme”"),
        ("Acme\u00ad", "U+00AD SOFT HYPHEN) after “Acme”"),
        ("a\U000e0041b", "U+E0041 TAG LATIN CAPITAL LETTER A) after “a”"),
        ("a\ud800b", "U+D800) after “a”"),
    ],
)
def test_check_text_rejects_hidden_characters_and_says_where(value, what):
    """Bidi controls turn the text after them around; other invisible characters make text differ from how it looks."""
    for multiline in (False, True):
        with pytest.raises(InputError) as caught:
            check_text(value, "reason", 2000, example="/closed-deal Acme $5k", multiline=multiline)
        assert caught.value.problem == f"The reason contains an invisible character ({what}. {HIDDEN}"


def test_check_text_keeps_joiners_and_takes_line_breaks_where_the_field_has_lines():
    """Emoji sequences and Persian or Indic words need zero-width joiners; a multi-line field keeps its words."""
    assert check_text("Dev 👩\u200d💻 team, می\u200cخواهم", "reason", 200) == "Dev 👩\u200d💻 team, می\u200cخواهم"
    assert check_text("Speed\r\nand\tprice\n", "reason", 200, multiline=True) == "Speed and price"
    with pytest.raises(InputError) as caught:
        check_text("Speed\x07", "reason", 200, multiline=True)
    assert caught.value.problem == "The reason contains a control character (U+0007). Please type it as plain text."


def test_check_text_counts_the_limit_after_collapsing_spaces():
    """Padding doesn't count against the limit; letters do."""
    assert check_text(" " * 50 + "abc" + " " * 50, "name", 3) == "abc"
    with pytest.raises(InputError) as caught:
        check_text("abcd", "name", 3)
    assert caught.value.problem == "The name is 4 characters long; the limit is 3."


# --- properties ----------------------------------------------------------------------------------------------

AMOUNTISH = st.sampled_from(
    [
        "$120k",
        "120,000",
        "1.2M",
        "€50k",
        "USD",
        "5000",
        "£8,500.50",
        "$",
        "-",
        "k",
        "bn",
        "1e999",
        "$inf",
        "9" * 30,
        "0",
        "Acme",
        "AT&amp;T",
        "&lt;",
        "contact:",
        "title:",
        "persona:",
        "live:",
        "economic",
        "2026-03-01",
        ",",
        "Try",
        "CHF",
    ]
)
COMMANDS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(AMOUNTISH, st.text(max_size=6)), max_size=12).map(" ".join),
)


@settings(max_examples=500, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(COMMANDS)
def test_quick_capture_returns_a_sane_capture_or_an_input_error(text):
    """Whatever Slack delivers, the rep gets a usable capture or a readable error, never a crash."""
    try:
        capture = parse_quick_capture(text)
    except InputError as error:
        assert error.problem
        example_parses(error)
        return
    assert isinstance(capture, QuickCapture)
    assert capture.account
    assert capture.account == capture.account.strip()
    assert len(capture.account) <= 200
    assert not any(is_control(ch) for ch in capture.account)
    assert Decimal(0) < capture.money.amount <= Decimal("1e11")
    assert capture.money.amount.is_finite()


@pytest.mark.parametrize(
    "text",
    [
        "Initech $30k verbal",
        "Initech $30k contact: Jane Doe, CEO persona: economic verbal",
        "Initech $30k persona: economic live: 2026-03-01 verbal",
        "Initech $30k contact: Jane Doe, CEO VERBAL",
    ],
)
def test_verbal_may_come_after_the_details_too(text):
    """A rep types the flag where the sentence ends; it never becomes part of a persona, a date or a title."""
    quick = parse_quick_capture(text, today=TODAY)
    assert quick.signed is False and quick.account == "Initech"
    assert "verbal" not in f"{quick.persona} {quick.contact_title} {quick.go_live_date}".lower()


def test_a_persona_that_is_only_verbal_still_says_what_a_persona_is():
    with pytest.raises(InputError, match="isn't a buyer persona I know"):
        parse_quick_capture("Initech $30k persona: verbose verbal", today=TODAY)

"""Reading what a rep types: amounts like `$120k` or `EUR 50,000`, and `/closed-deal` quick captures."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from bot.slack.text import hidden, inert, unescape_slack

MAX_ACCOUNT = 200
MAX_NAME = 150
MAX_WHY = 2000
MAX_AMOUNT = Decimal("100000000000")  # 100 billion: beyond any deal this bot will see, so a typo

PERSONAS = {
    "economic": "economic buyer",
    "technical": "technical buyer",
    "champion": "end-user champion",
    "other": "other",
}
PERSONA_ALIASES = {
    "economic": "economic",
    "economic buyer": "economic",
    "eb": "economic",
    "budget": "economic",
    "technical": "technical",
    "technical buyer": "technical",
    "tech": "technical",
    "champion": "champion",
    "end-user": "champion",
    "end user": "champion",
    "end-user champion": "champion",
    "end user champion": "champion",
    "user": "champion",
    "other": "other",
}

SYMBOLS = {
    "US$": "USD",
    "A$": "AUD",
    "AU$": "AUD",
    "C$": "CAD",
    "CA$": "CAD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "R$": "BRL",
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₪": "ILS",
    "₺": "TRY",
    "₱": "PHP",
    "₫": "VND",
    "฿": "THB",
}
CODES = frozenset(
    [
        "USD",
        "EUR",
        "GBP",
        "JPY",
        "CHF",
        "CAD",
        "AUD",
        "NZD",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "HUF",
        "RON",
        "BGN",
        "ISK",
        "INR",
        "CNY",
        "HKD",
        "SGD",
        "KRW",
        "TWD",
        "THB",
        "MYR",
        "IDR",
        "PHP",
        "VND",
        "BRL",
        "MXN",
        "ARS",
        "CLP",
        "COP",
        "PEN",
        "ZAR",
        "NGN",
        "KES",
        "EGP",
        "AED",
        "SAR",
        "QAR",
        "ILS",
        "TRY",
        "UAH",
    ]
)
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD", "IDR"})
CURRENCY_SIGN = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩", "ILS": "₪"}
CURRENCY_SIGN |= {"AUD": "A$", "CAD": "C$", "NZD": "NZ$", "HKD": "HK$", "SGD": "S$", "BRL": "R$"}

_SYMBOL_RE = "|".join(re.escape(s) for s in sorted(SYMBOLS, key=len, reverse=True))
_CODE_RE = "|".join(sorted(CODES))
_NUMBER_RE = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_SUFFIX = {"k": 10**3, "m": 10**6, "mm": 10**6, "b": 10**9, "bn": 10**9}
AMOUNT_TOKEN = re.compile(
    rf"^(?P<sign>[-+\u2212]?)(?P<pre>{_SYMBOL_RE}|{_CODE_RE})?(?P<sign2>[-+\u2212]?)"
    rf"(?P<num>{_NUMBER_RE})(?P<suffix>(?i:mm|bn|k|m|b))?(?P<post>{_SYMBOL_RE}|{_CODE_RE})?$"
)
BARE_NUMBER = re.compile(rf"^[-+\u2212]?(?:{_NUMBER_RE})(?i:mm|bn|k|m|b)?$")
CODE_TOKEN = re.compile(rf"^(?:{_CODE_RE})$")  # upper case only: "Big Try 120k" is not Turkish lira
SYMBOL_PREFIXED = re.compile(rf"^[-+\u2212]?(?:{_SYMBOL_RE})")
EXTRA_KEY = re.compile(r"(?i)(?:^|\s)(contact|title|persona|live|go-live|golive):")

EXAMPLE = "/closed-deal Acme Rockets $120k"
EXAMPLE_DAYS_AHEAD = 60  # a go-live date in an example: far enough ahead to be plausible, never in the past
FULL_EXAMPLE = "/closed-deal Acme Rockets $120k contact: Jane Doe, VP Operations persona: economic"


class InputError(ValueError):
    """Something the rep typed that we cannot use, with a correct example to copy."""

    def __init__(self, problem: str, example: str = EXAMPLE):
        super().__init__(problem)
        self.problem = problem
        self.example = example


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def format(self) -> str:
        """`$120,000`, `€8,500.50`, `CHF 5,000`: how a rep would write it."""
        places = 0 if self.currency in ZERO_DECIMAL or self.amount == self.amount.to_integral() else 2
        number = f"{self.amount:,.{places}f}"
        sign = CURRENCY_SIGN.get(self.currency)
        return f"{sign}{number}" if sign else f"{self.currency} {number}"

    def token(self) -> str:
        """One word (`CHF5,000`), for examples: `Acme 5 CHF 5,000` would read back as CHF 5."""
        return self.format().replace(" ", "")


@dataclass(frozen=True)
class QuickCapture:
    account: str
    money: Money
    contact_name: str | None = None
    contact_title: str | None = None
    persona: str = "other"
    go_live_date: date | None = None
    signed: bool = True


def check_text(value: str, field: str, limit: int, example: str = EXAMPLE, *, multiline: bool = False) -> str:
    """The one policy for every field a user types: no control characters (line breaks and tabs only where the
    field has several lines), no hidden characters (bot.slack.text.hidden: bidi controls, zero-width spaces…), at most
    `limit` characters. Returns the value trimmed, runs of spaces (and line breaks) collapsed to one space."""
    for i, ch in enumerate(value):
        if multiline and ch in "\r\n\t":
            continue
        if unicodedata.category(ch) == "Cc":
            what = (
                "a line break" if ch in "\r\n" else "a tab" if ch == "\t" else f"a control character (U+{ord(ch):04X})"
            )
            how = "as plain text" if multiline else "on one line, as plain text"
            raise InputError(f"The {field} contains {what}. Please type it {how}.", example)
        if hidden(ch):
            raise InputError(f"The {field} contains {_hidden_character(ch, value[:i])}. {_RETYPE}", example)
    value = " ".join(value.split())
    if len(value) > limit:
        raise InputError(f"The {field} is {len(value)} characters long; the limit is {limit}.", example)
    return value


_RETYPE = "Hidden characters can make text show differently from what was typed: delete it, or retype that part."


def _hidden_character(ch: str, before: str) -> str:
    """`an invisible character (U+202E RIGHT-TO-LEFT OVERRIDE) after “Acme”`: where it is, since it can't be seen."""
    name = unicodedata.name(ch, "")
    code = f"U+{ord(ch):04X}" + (f" {name}" if name else "")
    before = " ".join(inert(before).split())
    where = f" after “{before if len(before) <= 30 else '…' + before[-29:]}”" if before else " at the start"
    return f"an invisible character ({code}){where}"


def _amount_from_match(m: re.Match[str], token: str, default_currency: str, example: str) -> Money:
    pre, post = m.group("pre"), m.group("post")
    if pre and post:
        raise InputError(f"'{token}' names a currency twice. Write it once, like $120k or EUR 50,000.", example)
    if "-" in (m.group("sign") + m.group("sign2")) or "\u2212" in (m.group("sign") + m.group("sign2")):
        raise InputError(f"The amount '{token}' is negative. A closed deal is worth more than zero.", example)
    marker = pre or post
    currency = SYMBOLS.get(marker) or (marker.upper() if marker else default_currency)
    try:
        value = Decimal(m.group("num").replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the regex only admits digits
        raise InputError(f"'{token}' isn't an amount I can read.", example) from None
    suffix = (m.group("suffix") or "").lower()
    value *= _SUFFIX.get(suffix, 1)
    if value > MAX_AMOUNT:  # checked before quantize, which raises InvalidOperation beyond 28 digits
        raise InputError(
            f"The amount '{token}' is more than 100 billion, which looks like a typo. "
            "Check the digits and the k/M suffix.",
            example,
        )
    places = Decimal(1) if currency in ZERO_DECIMAL else Decimal("0.01")
    value = value.quantize(places, rounding=ROUND_HALF_UP)
    if value <= 0:
        raise InputError(f"The amount '{token}' is zero. Enter what the deal is worth, like $120k.", example)
    return Money(value, currency)


def _merge_codes(tokens: list[str]) -> list[str]:
    """Join `USD 5000`, `$ 5000` and `5000 USD` into one token so they read like `USD5000`."""
    merged: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if (
            nxt is not None
            and (CODE_TOKEN.match(tok) or tok in SYMBOLS)
            and BARE_NUMBER.match(nxt)
            or nxt is not None
            and BARE_NUMBER.match(tok)
            and CODE_TOKEN.match(nxt)
        ):
            merged.append(tok + nxt)
            i += 2
        else:
            merged.append(tok)
            i += 1
    return merged


def _is_marked(token: str) -> bool:
    return bool(SYMBOL_PREFIXED.match(token)) or (bool(AMOUNT_TOKEN.match(token)) and not BARE_NUMBER.match(token))


def _split_amount(words: list[str], default_currency: str, example: str) -> tuple[list[str], Money]:
    """Find the one amount among the words; everything else is the account name."""
    tokens = _merge_codes(words)
    marked = [i for i, t in enumerate(tokens) if _is_marked(t)]
    if len(marked) > 1:
        shown = " and ".join(f"'{tokens[i]}'" for i in marked[:2])
        raise InputError(f"I found two amounts, {shown}. Give one amount per deal.", example)
    if marked:
        index = marked[0]
    else:
        bare = [i for i, t in enumerate(tokens) if BARE_NUMBER.match(t)]
        if not bare:
            raise InputError(
                "I couldn't find the amount. Add what the deal is worth, like $120k or EUR 50,000.", example
            )
        if len(bare) > 1:
            shown = " and ".join(f"'{tokens[i]}'" for i in bare[:2])
            raise InputError(
                f"I found two numbers, {shown}, and can't tell which is the amount. "
                "Put a currency on the amount, like $120k.",
                example,
            )
        index = bare[0]
    token = tokens[index]
    m = AMOUNT_TOKEN.match(token)
    if not m:
        raise InputError(f"'{token}' isn't an amount I can read. Try $120k, 1.2M or EUR 50,000.", example)
    money = _amount_from_match(m, token, default_currency, example)
    return tokens[:index] + tokens[index + 1 :], money


def parse_amount(text: str, default_currency: str = "USD") -> Money:
    """Parse a field that should hold just an amount, such as the modal's Amount box."""
    text = check_text(unescape_slack(text), "amount", 60, example="$120k")
    if not text:
        raise InputError("Enter the amount, like $120k or EUR 50,000.", "$120k")
    # a field that holds only an amount can't mistake a word for a currency, so `usd 5000` is fine here
    words = [w.upper() if w.upper() in CODES else w for w in text.split()]
    rest, money = _split_amount(words, default_currency, "$120k")
    if rest:
        raise InputError(f"Enter just the amount, like $120k or EUR 50,000 (found '{' '.join(rest)}' too).", "$120k")
    return money


def parse_persona(value: str, example: str = FULL_EXAMPLE) -> str:
    key = " ".join(value.lower().replace("_", " ").split())
    if key in PERSONA_ALIASES:
        return PERSONA_ALIASES[key]
    raise InputError(f"'{value}' isn't a buyer persona I know. Use economic, technical, champion or other.", example)


def example_date(today: date) -> date:
    """The date examples show: relative to today, so an example copied as it stands is accepted."""
    return today + timedelta(days=EXAMPLE_DAYS_AHEAD)


def parse_date(value: str, field: str, example: str = FULL_EXAMPLE, *, today: date | None = None) -> date:
    """A YYYY-MM-DD date; the error's example date is relative to `today` (none is shown without it)."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        if today is None:
            raise InputError(f"The {field} '{value}' isn't a date. Write it as YYYY-MM-DD.", example) from None
        like = f"{example_date(today):%Y-%m-%d}"
        raise InputError(
            f"The {field} '{value}' isn't a date. Write it as YYYY-MM-DD, like {like}.", f"{example} live: {like}"
        ) from None


def parse_quick_capture(text: str, default_currency: str = "USD", *, today: date | None = None) -> QuickCapture:
    """`Acme Rockets $120k contact: Jane Doe, CFO persona: economic live: 2027-03-01` -> QuickCapture; `today`
    dates the examples in its error answers."""
    text = unescape_slack(text)
    check_text(text, "command", 10_000, example=EXAMPLE)
    keys = list(EXTRA_KEY.finditer(text))
    head = text[: keys[0].start()] if keys else text
    extras: dict[str, str] = {}
    for k, nxt in zip(keys, [*keys[1:], None], strict=False):
        name = k.group(1).lower().replace("golive", "live").replace("go-live", "live")
        if name in extras:
            raise InputError(f"'{k.group(1)}:' appears twice. Give each detail once.", FULL_EXAMPLE)
        extras[name] = text[k.end() : nxt.start() if nxt else len(text)].strip()

    words = head.split()
    signed = not (len(words) > 1 and words[-1].lower() == "verbal")  # "Acme $120k verbal": a yes, not yet signed
    if not signed:
        words = words[:-1]
    elif keys:  # "… persona: economic verbal": the flag typed at the very end, after the details
        last = list(extras)[-1]
        value_words = extras[last].split()
        if value_words and value_words[-1].lower() == "verbal":
            signed = False
            extras[last] = " ".join(value_words[:-1])
    if not words:
        raise InputError("Tell me the account and the amount.", EXAMPLE)
    rest, money = _split_amount(words, default_currency, EXAMPLE)
    account = " ".join(rest)
    if not account:
        raise InputError(f"Add the account name before the amount, like /closed-deal Acme Rockets {money.token()}.")
    account = check_text(account, "account name", MAX_ACCOUNT, f"/closed-deal Acme Rockets {money.token()}")
    example = f"/closed-deal {account if len(account) <= 40 else 'Acme Rockets'} {money.token()}"

    contact_name = contact_title = None
    if "contact" in extras:
        contact = extras["contact"]
        name, _, title = contact.partition(",")
        contact_name = check_text(name, "contact name", MAX_NAME, example) or None
        contact_title = check_text(title, "contact title", MAX_NAME, example) or None
        if not contact_name:
            raise InputError("'contact:' needs a name, like contact: Jane Doe, VP Operations.", FULL_EXAMPLE)
    if "title" in extras:
        if contact_title:
            raise InputError("The contact's title is given twice (after a comma and with title:).", FULL_EXAMPLE)
        contact_title = check_text(extras["title"], "contact title", MAX_NAME, example) or None
    persona = parse_persona(extras["persona"]) if extras.get("persona") else "other"
    go_live = parse_date(extras["live"], "go-live date", today=today) if extras.get("live") else None
    return QuickCapture(account, money, contact_name, contact_title, persona, go_live, signed)

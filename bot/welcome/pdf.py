"""The welcome kit as one A4 page, drawn with reportlab: the company as the title, the team's photos in a row,
the dates in a short timeline and who to call for what. Text is set in the bundled DejaVu Sans, so accented,
Cyrillic and Greek names print as typed."""

from __future__ import annotations

import hashlib
import io
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from reportlab.lib.colors import HexColor, white
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

from bot.slack.text import inert
from bot.welcome.kit import Kit, KitPerson

FONTS = Path(__file__).parent / "fonts"
REGULAR, BOLD, ITALIC = "KitSans", "KitSans-Bold", "KitSans-Oblique"
WIDTH, HEIGHT = A4
MARGIN = 42
FOOTER_TOP = 52  # nothing above the footer's line is drawn lower than this
MIN_ROW = 14.0  # the tightest row of "who to call for what"
INK, MUTED, ACCENT, BAND, SOFT, LINE = (
    HexColor("#1d1d1f"),
    HexColor("#5f6670"),
    HexColor("#e07a5f"),
    HexColor("#1d3557"),
    HexColor("#f1f4f8"),
    HexColor("#d5dbe3"),
)
AVATAR_COLOURS = ("#457b9d", "#e07a5f", "#3d8b6d", "#8e6cc4", "#c9a227", "#d1495b")


@cache
def _register_fonts() -> None:
    for name, file in ((REGULAR, "DejaVuSans.ttf"), (BOLD, "DejaVuSans-Bold.ttf"), (ITALIC, "DejaVuSans-Oblique.ttf")):
        pdfmetrics.registerFont(TTFont(name, str(FONTS / file)))
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=ITALIC, boldItalic=BOLD)


def _style(size: float, *, font: str = REGULAR, colour=INK, align: int = 0, leading: float | None = None):
    return ParagraphStyle(
        f"kit-{font}-{size}-{align}",
        fontName=font,
        fontSize=size,
        leading=leading or size * 1.3,
        textColor=colour,
        alignment=align,
    )


def _text(value: str | None) -> str:
    """Stored text as reportlab markup: hidden characters dropped, `&`, `<`, `>` escaped, so it is printed, not run."""
    return xml_escape(inert(value))


def _paragraph(c: Canvas, markup: str, style: ParagraphStyle, x: float, top: float, width: float) -> float:
    """Draw a wrapped paragraph whose top is at `top`; returns its height."""
    para = Paragraph(markup, style)
    _, height = para.wrap(width, HEIGHT)
    para.drawOn(c, x, top - height)
    return height


def _lines(c: Canvas, text: str, style: ParagraphStyle, x: float, top: float, width: float, most: int) -> float:
    """Draw stored `text` wrapped in at most `most` lines (cut with an ellipsis past them), so however long a name
    or a fun fact, the page keeps its layout; returns the height drawn."""
    text = inert(text)

    def height(candidate: str) -> float:
        return Paragraph(_text(candidate), style).wrap(width, HEIGHT)[1]

    if height(text) > most * style.leading + 0.1:
        low, high = 0, len(text)  # the longest prefix that fits with its ellipsis
        while low < high:
            middle = (low + high + 1) // 2
            if height(text[:middle].rstrip() + "…") <= most * style.leading + 0.1:
                low = middle
            else:
                high = middle - 1
        text = text[:low].rstrip() + "…"
    return _paragraph(c, _text(text), style, x, top, width)


def _fit(text: str, font: str, size: float, width: float, smallest: float) -> float:
    """The largest font size from `size` down to `smallest` at which `text` fits on one line of `width`."""
    while size > smallest and pdfmetrics.stringWidth(text, font, size) > width:
        size -= 1
    return size


def render(kit: Kit) -> bytes:
    """The kit as a one-page PDF."""
    _register_fonts()
    out = io.BytesIO()
    c = Canvas(out, pagesize=A4, pageCompression=1)
    title = f"Welcome to {kit.company}, {kit.account}"
    c.setTitle(title)
    c.setAuthor(kit.company)
    c.setSubject(f"The team {kit.account} will work with, what happens next and who to call")
    y = _header(c, kit)
    y = _team(c, kit, y - 30)
    y = _timeline(c, kit, y - 26)
    y = _contacts(c, kit, y - 26)
    _footer(c, kit)
    c.showPage()
    c.save()
    return out.getvalue()


def _header(c: Canvas, kit: Kit) -> float:
    band = 150
    c.setFillColor(BAND)
    c.rect(0, HEIGHT - band, WIDTH, band, stroke=0, fill=1)
    c.setFillColor(ACCENT)
    c.rect(0, HEIGHT - band - 5, WIDTH, 5, stroke=0, fill=1)
    width = WIDTH - 2 * MARGIN
    size = _fit(inert(kit.company), BOLD, 34, width, 18)
    company = _clip(inert(kit.company), BOLD, size, width)
    c.setFillColor(white)
    c.setFont(BOLD, size)
    c.drawString(MARGIN, HEIGHT - 68, company)
    c.setFillColor(HexColor("#a8c5e2"))
    account = inert(kit.account)
    line = f"Welcome, {account}"
    size = _fit(line, REGULAR, 17, width, 11)
    c.setFont(REGULAR, size)
    c.drawString(MARGIN, HEIGHT - 96, _clip(line, REGULAR, size, width))
    if kit.contact:
        who = inert(kit.contact) + (f", {inert(kit.contact_title)}" if kit.contact_title else "")
        c.setFont(REGULAR, 10)
        c.setFillColor(white)
        c.drawString(MARGIN, HEIGHT - 124, _clip(f"Prepared for {who}", REGULAR, 10, width))
    c.setFont(REGULAR, 9)
    c.setFillColor(HexColor("#a8c5e2"))
    c.drawRightString(WIDTH - MARGIN, HEIGHT - 32, f"{kit.prepared:%B %-d, %Y}")
    intro = (
        f"Thank you for choosing {_short(kit.company)}. Here are the people who will work with "
        f"{_short(kit.account)}, what happens next, and who to call for what."
    )
    top = HEIGHT - band - 24
    height = _lines(c, intro, _style(11.5, colour=INK, leading=16), MARGIN, top, width, 3)
    return top - height


def _short(name: str, most: int = 60) -> str:
    name = inert(name)
    return name if len(name) <= most else name[: most - 1].rstrip() + "…"


def _words_fit(text: str, font: str, size: float, width: float, smallest: float = 6.5) -> float:
    """A size at which no word of `text` is wider than `width`, so a long name wraps between words, not inside one."""
    longest = max(text.split(), key=lambda w: pdfmetrics.stringWidth(w, font, size), default="")
    while size > smallest and pdfmetrics.stringWidth(longest, font, size) > width:
        size -= 0.5
    return size


def _clip(text: str, font: str, size: float, width: float) -> str:
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _section(c: Canvas, title: str, y: float) -> float:
    c.setFillColor(ACCENT)
    c.rect(MARGIN, y - 2, 22, 3, stroke=0, fill=1)
    c.setFillColor(BAND)
    c.setFont(BOLD, 13)
    c.drawString(MARGIN, y + 6, title)
    return y - 12


def _avatar(c: Canvas, person: KitPerson, cx: float, cy: float, r: float) -> None:
    """The photo clipped to a circle, or the initials on a colour of their own."""
    if person.photo:
        c.saveState()
        path = c.beginPath()
        path.circle(cx, cy, r)
        c.clipPath(path, stroke=0, fill=0)
        c.drawImage(ImageReader(io.BytesIO(person.photo)), cx - r, cy - r, 2 * r, 2 * r)
        c.restoreState()
    else:
        digest = hashlib.sha1((person.name or person.role or "").encode()).digest()
        c.setFillColor(HexColor(AVATAR_COLOURS[digest[0] % len(AVATAR_COLOURS)]))
        c.circle(cx, cy, r, stroke=0, fill=1)
        if person.initials:
            c.setFillColor(white)
            size = r * 0.8
            c.setFont(BOLD, size)
            c.drawCentredString(cx, cy - size * 0.36, person.initials)
    c.setStrokeColor(white)
    c.setLineWidth(2.5)
    c.circle(cx, cy, r, stroke=1, fill=0)


def _team(c: Canvas, kit: Kit, y: float) -> float:
    y = _section(c, "Your team", y)
    count = len(kit.team)
    width = WIDTH - 2 * MARGIN
    slot = width / max(count, 3)
    left = MARGIN + (width - slot * count) / 2
    radius = min(34, slot / 2 - 10)
    top = y - 10
    lowest = top
    for i, person in enumerate(kit.team):
        cx = left + slot * i + slot / 2
        _avatar(c, person, cx, top - radius, radius)
        text_top = top - 2 * radius - 10
        column = slot - 10
        x = cx - column / 2
        parts = (  # value, font, size, colour, most lines, space after
            (person.name, BOLD, 10, INK, 2, 2),
            (person.title, REGULAR, 8, MUTED, 2, 2),
            (person.role, BOLD, 8.5, ACCENT, 3, 6),
            (person.fun_fact, ITALIC, 8, MUTED, 5, 0),
        )
        cursor = text_top
        for value, font, size, colour, most, gap in parts:
            if value:
                size = _words_fit(inert(value), font, size, column)
                style = _style(size, font=font, colour=colour, align=1, leading=size * 1.25)
                cursor -= _lines(c, value, style, x, cursor, column, most) + gap
        lowest = min(lowest, cursor)
    return lowest - 4


def _timeline(c: Canvas, kit: Kit, y: float) -> float:
    y = _section(c, "What happens next", y)
    width = WIDTH - 2 * MARGIN
    count = len(kit.timeline)
    slot = width / max(count, 1)
    line_y = y - 36
    c.setStrokeColor(LINE)
    c.setLineWidth(2)
    c.line(MARGIN + slot / 2, line_y, MARGIN + slot * (count - 0.5), line_y)
    lowest = line_y
    for i, milestone in enumerate(kit.timeline):
        cx = MARGIN + slot * i + slot / 2
        c.setFillColor(ACCENT if i == 0 else BAND)
        c.circle(cx, line_y, 6, stroke=0, fill=1)
        c.setFillColor(white)
        c.circle(cx, line_y, 2.2, stroke=0, fill=1)
        c.setFillColor(BAND)
        c.setFont(BOLD, 10.5)
        c.drawCentredString(cx, line_y + 14, f"{milestone.day:%b %-d}")
        c.setFillColor(MUTED)
        c.setFont(REGULAR, 7.5)
        c.drawCentredString(cx, line_y + 26, f"{milestone.day:%A}")
        height = _lines(
            c, milestone.label, _style(8.5, align=1, leading=11), cx - slot / 2 + 4, line_y - 12, slot - 8, 3
        )
        lowest = min(lowest, line_y - 12 - height)
    return lowest


def _contacts(c: Canvas, kit: Kit, y: float) -> float:
    """Who to call for what: the rep for anything first, each team member for their role, the sponsor above them."""
    rows: list[tuple[str, KitPerson]] = []
    if kit.rep is not None and kit.rep.name:
        rows.append(("Anything at all, first", kit.rep))
    rows += [(p.role or "", p) for p in kit.team if p.name]
    if kit.sponsor is not None and kit.sponsor.name:
        rows.append(("If something needs escalating", kit.sponsor))
    if not rows:
        return y
    y = _section(c, "Who to call for what", y)
    width = WIDTH - 2 * MARGIN
    top = y - 6
    rows = rows[: max(1, int((top - FOOTER_TOP - 12) // MIN_ROW))]  # only a page of extreme lengths loses any
    row_height = max(MIN_ROW, min(24.0, (top - FOOTER_TOP - 12) / len(rows)))
    c.setFillColor(SOFT)
    c.roundRect(MARGIN, top - row_height * len(rows) - 6, width, row_height * len(rows) + 12, 8, stroke=0, fill=1)
    for i, (what, person) in enumerate(rows):
        base = top - row_height * i - row_height * 0.66
        c.setFillColor(MUTED)
        c.setFont(REGULAR, 9.5)
        c.drawString(MARGIN + 14, base, _clip(inert(what), REGULAR, 9.5, width * 0.36))
        c.setFillColor(INK)
        c.setFont(BOLD, 10)
        name = _clip(inert(person.name), BOLD, 10, width * 0.3)
        c.drawString(MARGIN + 14 + width * 0.38, base, name)
        detail = " · ".join(inert(v) for v in (person.title, person.phone) if v)
        if detail:
            c.setFillColor(MUTED)
            c.setFont(REGULAR, 9)
            offset = pdfmetrics.stringWidth(name, BOLD, 10) + 8
            room = width * 0.62 - offset - 14
            c.drawString(MARGIN + 14 + width * 0.38 + offset, base, _clip(detail, REGULAR, 9, room))
        if i:
            c.setStrokeColor(LINE)
            c.setLineWidth(0.5)
            c.line(MARGIN + 14, top - row_height * i, MARGIN + width - 14, top - row_height * i)
    return top - row_height * len(rows) - 6


def _footer(c: Canvas, kit: Kit) -> None:
    c.setStrokeColor(LINE)
    c.setLineWidth(0.6)
    c.line(MARGIN, 46, WIDTH - MARGIN, 46)
    c.setFillColor(MUTED)
    c.setFont(REGULAR, 8.5)
    c.drawString(MARGIN, 32, _clip(f"{inert(kit.company)} · welcome kit for {inert(kit.account)}", REGULAR, 8.5, 250))
    if kit.link:
        link = _clip(f"More: {kit.link}", REGULAR, 8.5, WIDTH - 2 * MARGIN - 260)
        c.drawRightString(WIDTH - MARGIN, 32, link)
        left = WIDTH - MARGIN - pdfmetrics.stringWidth(link, REGULAR, 8.5)
        c.linkURL(kit.link, (left, 28, WIDTH - MARGIN, 42), relative=0)  # the profile's https:// link, clickable

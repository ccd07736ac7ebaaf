"""A small PNG of the team's weekly completion rate for the digest: bars with percent labels, drawn with Pillow."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from bot.digest.build import WeekRate

WIDTH, HEIGHT = 640, 320
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_SIDE = 48, 40, 24
BACKGROUND, BAR, BAR_LATEST, INK, GRID = "#ffffff", "#a8c5e2", "#1d3557", "#1d1d1d", "#e6e6e6"


def completion_png(weeks: list[WeekRate], title: str = "Completion rate by week") -> bytes:
    """One bar per week (oldest left), its percentage above it and the week's Monday below."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    draw.text((MARGIN_SIDE, 14), title, fill=INK, font=font)
    bottom = HEIGHT - MARGIN_BOTTOM
    plot_height = bottom - MARGIN_TOP
    for share in (0.5, 1.0):
        y = bottom - plot_height * share
        draw.line([(MARGIN_SIDE, y), (WIDTH - MARGIN_SIDE, y)], fill=GRID, width=1)
    slot = (WIDTH - 2 * MARGIN_SIDE) / max(len(weeks), 1)
    bar_width = slot * 0.6
    for i, week in enumerate(weeks):
        left = MARGIN_SIDE + i * slot + (slot - bar_width) / 2
        top = bottom - plot_height * min(max(week.rate, 0.0), 1.0)
        colour = BAR_LATEST if i == len(weeks) - 1 else BAR
        draw.rectangle([(left, top), (left + bar_width, bottom)], fill=colour)
        centre = left + bar_width / 2
        _centred(draw, (centre, top - 14), f"{week.rate:.0%}", font)
        _centred(draw, (centre, bottom + 8), f"{week.start:%b %-d}", font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _centred(draw: ImageDraw.ImageDraw, at: tuple[float, float], text: str, font) -> None:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    draw.text((at[0] - (right - left) / 2, at[1]), text, fill=INK, font=font)

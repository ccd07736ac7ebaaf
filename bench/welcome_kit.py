"""How long a welcome kit takes for a team of six: `python -m bench.welcome_kit [--runs N] [--png FILE]`.

The whole build as the button runs it (users.info for eight people and six photos fetched from the loopback fake
Slack, the page drawn, the PDF written), and the drawing alone. `--png FILE` also writes the sample kit rendered
to PNG: the picture in the README (docs/welcome-kit.png) comes from here."""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, ImageDraw

from bot.coach import Coach
from bot.deals.service import KEEP
from bot.playbook.loader import load
from bot.profile import model as profiles
from bot.profile.model import Links, Member, Sponsor, TeamProfile
from bot.settings import Settings
from bot.slack.client import posting_client
from bot.storage import Store
from bot.welcome.pdf import render
from bot.welcome.service import build
from tests.fakeslack import FakeSlack

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
TEAM = "T0BENCH"
SIX = (  # member id, name, title, role, fun fact, photo colours (background, skin, shirt) or None for initials
    (
        "U0ZOE",
        "Zoë Ångström",
        "Senior Solutions Engineer",
        "Implementation lead",
        "Has run three marathons, one in the snow",
        ("#cfe0ee", "#f1c9a5", "#457b9d"),
    ),
    (
        "U0DMITRY",
        "Дмитрий Иванов",
        "Customer Success Manager",
        "Your day-to-day contact",
        "Bakes sourdough for the whole office",
        ("#f4dcd3", "#e0ac82", "#e07a5f"),
    ),
    ("U0ELENI", "Ελένη Παπαδοπούλου", "Training Lead", "Training your team", "Speaks five languages", None),
    (
        "U0SAM",
        "Sam Okafor",
        "Support Engineer",
        "Support, any time",
        "Keeps bees on the office roof",
        ("#d7eadf", "#8d5524", "#3d8b6d"),
    ),
    (
        "U0PRIYA",
        "Priya Raman",
        "Data Engineer",
        "Data migration",
        "Former chess champion of Pune",
        ("#e4dcf1", "#c68642", "#8e6cc4"),
    ),
    ("U0LUIS", "Luis García", "Solutions Architect", "Integrations and single sign-on", "Builds tiny furniture", None),
)


def portrait(background: str, skin: str, shirt: str) -> bytes:
    """A stand-in profile photo: head and shoulders on a plain background (no real person's picture in the repo)."""
    image = Image.new("RGB", (512, 512), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((80, 340, 432, 700), fill=shirt)
    draw.ellipse((166, 104, 346, 304), fill=skin)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def sample(fake: FakeSlack, workdir: Path) -> tuple[Coach, int]:
    """A coach on a fresh database with a six-person team profile and one deal, its people served by `fake`."""
    settings = Settings(
        slack_bot_token="xoxb-bench",
        slack_signing_secret="bench-secret",
        slack_api_url=fake.base_url,
        db_path=workdir / "kit.db",
        timezone="Europe/Berlin",
    )
    store = Store(settings.db_path)
    store.migrate()
    coach = Coach(settings, store, load(), lambda: NOW)
    for user, name, title, _, _, colours in SIX:
        profile = {"real_name": name, "title": title}
        if colours:
            fake.images[f"{user}.png"] = portrait(*colours)
            profile["image_192"] = fake.image_url(f"{user}.png")
        fake.users[user] = {"profile": profile}
    fake.users["U0RILEY"] = {
        "profile": {"real_name": "Riley Chen", "title": "Account Executive", "phone": "+1 415 555 0134"}
    }
    team = TeamProfile(
        company="Rocket Software",
        exec_sponsor=Sponsor(name="Dana Whitfield", title="CEO"),
        implementation_team=tuple(Member(user, role, fact) for user, _, _, role, fact, _ in SIX),
        links=Links(welcome_kit="https://rocket.example.com/welcome"),
    )
    with store.write() as db:
        profiles.replace(db, TEAM, team, source="bench", now=NOW)
    deal, _ = coach.capture_command(
        "Acme Rockets $120k contact: Jane Doe, VP Operations persona: economic live: 2027-01-15",
        team_id=TEAM,
        channel_id="C0BENCH",
        user_id="U0RILEY",
        capture_key="bench-kit",
        repeats=KEEP,
    )
    return coach, deal.id


def bench_welcome_kit(runs: int = 20, png: Path | None = None) -> dict:
    with FakeSlack() as fake, tempfile.TemporaryDirectory() as tmp:
        coach, deal_id = sample(fake, Path(tmp))
        deal = coach.get_deal(deal_id)
        client = posting_client(coach.settings)
        whole, drawing = [], []
        for _ in range(runs):
            started = time.perf_counter()
            built = build(coach, deal, client)
            whole.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            render(built.kit)
            drawing.append((time.perf_counter() - started) * 1000)
        assert len(built.kit.team) == 6 and built.kit.photos == 4, built.kit
        if png is not None:
            import pypdfium2 as pdfium  # a test dependency: only the README picture needs it

            doc = pdfium.PdfDocument(built.pdf)
            doc[0].render(scale=1.5).to_pil().convert("RGB").save(png, optimize=True)
            doc.close()
        return {
            "build_ms": statistics.median(whole),
            "build_p90_ms": sorted(whole)[int(0.9 * (len(whole) - 1))],
            "render_ms": statistics.median(drawing),
            "kb": len(built.pdf) / 1024,
        }


def report(result: dict) -> str:
    return (
        "## Welcome kit for a team of six (4 photos, 2 initials)\n\n| what | median ms | p90 ms |\n|---|---|---|\n"
        f"| build: users.info for 7 people, 4 photos over loopback, page, PDF | {result['build_ms']:.0f} | "
        f"{result['build_p90_ms']:.0f} |\n| drawing the page and writing the PDF alone | {result['render_ms']:.0f} | — |\n"
        f"\nPDF size: {result['kb']:.0f} KB\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--png", type=Path, default=None, help="also write the sample kit as a PNG")
    args = parser.parse_args(argv)
    print(report(bench_welcome_kit(args.runs, args.png)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

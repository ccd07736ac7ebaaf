"""A day of nudges against Slack's two posting limits: `python -m bench.pacing [--scale S] [--posts-per-minute N]`.

5,000 nudges due at once over 50 channels, posted by the real dispatcher (channels in parallel, the paces kept in
the database) to a fake Slack in its own process that answers 429 to a post sooner than a second after the last one
in its channel, or over the workspace's budget in any minute. Time is scaled by S (default 10): a second is 1/S s,
so the floor the two limits set, max(posts per channel x 1 s, posts / budget), is divided by S too. Prints the
time taken, the floor, their ratio and the 429s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bench.seed import seed
from bot.coach import Coach
from bot.nudges.dispatch import Dispatcher
from bot.playbook.loader import load
from bot.settings import Settings
from bot.slack.client import posting_client
from bot.slack.pacing import SharedPacer
from schedules.jobs import PARALLEL_CHANNELS

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, in business hours


def run(*, posts: int = 5000, channels: int = 50, scale: float = 10.0, per_minute: int = 600) -> dict:
    window = 60.0 / scale
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.fake_slack",
            "--channel-interval",
            str(1.0 / scale),
            "--workspace-posts",
            str(per_minute),
            "--workspace-window",
            str(window),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = fake.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pacing.db"
            store = seed(path, deals=posts, now=NOW, due_now=posts)
            with store.write() as db:  # the due deals over `channels` channels
                db.execute(f"UPDATE deals SET channel_id = 'C' || (id % {channels}) WHERE id <= ?", [posts])
            settings = replace(
                Settings(slack_bot_token="xoxb-bench", slack_api_url=base_url, db_path=path),
                posts_per_minute=per_minute,
            )
            coach = Coach(settings, store, load(), clock=lambda: NOW)
            client = posting_client(settings)
            pacer = SharedPacer(store, per_minute=int(per_minute * scale), channel_interval=1.0 / scale)
            dispatcher = Dispatcher(coach, client, pacer, workers=PARALLEL_CHANNELS)
            posted, ticks, retrying = 0, 0, 0
            start = time.perf_counter()
            while posted < posts and ticks < 100:
                report = dispatcher.tick(NOW)
                posted += len(report.posted)
                retrying += len(report.retrying)
                ticks += 1
            took = time.perf_counter() - start
    finally:
        fake.stdin.close()
        refused = fake.stdout.readline().strip()
        fake.wait(timeout=30)
    floor = max(posts / channels * 1.0, posts / per_minute * 60.0) / scale
    return {
        "posted": posted,
        "ticks": ticks,
        "429s from Slack": int(refused or -1),
        "posts left for a later run": retrying,
        "seconds": round(took, 2),
        "floor seconds": round(floor, 2),
        "ratio": round(took / floor, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--posts-per-minute", type=int, default=600)
    parser.add_argument("--posts", type=int, default=5000)
    args = parser.parse_args()
    result = run(posts=args.posts, scale=args.scale, per_minute=args.posts_per_minute)
    for key, value in result.items():
        print(f"{key}: {value}")

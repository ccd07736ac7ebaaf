"""Posting paces kept in the database: one post a second per channel and the workspace's budget, for every
process on the database; different channels only share the workspace's pace."""

from __future__ import annotations

import pytest

from bot.slack.pacing import MARGIN, SharedPacer
from bot.storage import open_store


class Wall:
    """Wall time for every 'process': set by hand, moved on by their sleeps."""

    def __init__(self):
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


pytestmark = pytest.mark.both_engines


@pytest.fixture
def two_processes(settings):
    """Two pacers on one database, each with its own store (its own connections), as `serve` and a `tick` have."""
    wall = Wall()
    stores = [open_store(settings) for _ in range(2)]
    for store in stores:
        store.migrate()
    yield wall, [SharedPacer(store, per_minute=120, clock=lambda: wall.now, sleep=wall.sleep) for store in stores]
    if settings.database_url:
        for store in stores:
            store.close()  # their pools' connections, before the schema is dropped


def test_two_processes_posting_to_one_channel_keep_a_second_apart(two_processes):
    wall, (serve, tick) = two_processes
    assert serve.reserve("C1", "T1") == wall.now
    assert tick.reserve("C1", "T1") == pytest.approx(wall.now + 1.0 * MARGIN)  # the other process's slot counts
    assert serve.reserve("C1", "T1") == pytest.approx(wall.now + 2.0 * MARGIN)


def test_other_channels_wait_only_for_the_workspace_budget(two_processes):
    wall, (serve, tick) = two_processes
    start = wall.now
    slots = [serve.reserve("C1", "T1"), tick.reserve("C2", "T1"), serve.reserve("C3", "T1")]
    step = 60 / 120 * MARGIN  # 120 posts a minute for the workspace
    assert slots == pytest.approx([start, start + step, start + 2 * step])
    assert tick.reserve("C4", "T2") == start  # another workspace has its own budget


def test_wait_sleeps_until_the_slot_and_never_when_it_is_free(two_processes):
    wall, (serve, tick) = two_processes
    serve.wait("C1", "T1")
    tick.wait("C1", "T1")
    assert wall.slept == [round(1.0 * MARGIN, 3)]
    wall.now += 5
    serve.wait("C9", "T1")
    assert wall.slept == [round(1.0 * MARGIN, 3)]

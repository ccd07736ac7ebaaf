"""The line packer every long list goes through (a deal's plan, the digest, the Home tab): cut, never lost."""

from __future__ import annotations

import re

import pytest

from bot.slack.blocks import SECTION_LIMIT, pack_lines

MORE = "…and {n} more"


def shown_lines(blocks: list[dict]) -> list[str]:
    return [line for b in blocks if b["type"] == "section" for line in b["text"]["text"].split("\n")]


def counted(blocks: list[dict]) -> int:
    tails = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert len(tails) <= 1 and all(b["type"] == "context" for b in blocks[len(blocks) - len(tails) :])
    return int(re.fullmatch(r"…and (\d+) more", tails[0]).group(1)) if tails else 0


def test_a_short_list_is_one_section_under_its_heading_with_no_tail():
    blocks = pack_lines(["• one", "• two"], MORE, heading="*Plan*")
    assert blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": "*Plan*\n• one\n• two"}}]


def test_an_empty_list_under_a_heading_is_the_heading_alone():
    assert shown_lines(pack_lines([], MORE, heading="*Plan*")) == ["*Plan*"]
    assert pack_lines([], MORE) == []


@pytest.mark.parametrize("count", [1, 29, 30, 31, 200])
@pytest.mark.parametrize("sections", [1, 2, None])
@pytest.mark.parametrize("heading", [None, "*Heading*"])
def test_every_line_is_either_shown_whole_in_order_or_counted(count, sections, heading):
    lines = [f"• line {i:03d} " + "x" * 90 for i in range(count)]  # 100 characters: 30 lines fill a section
    blocks = pack_lines(lines, MORE, heading=heading, sections=sections)
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(t) <= SECTION_LIMIT for t in texts)
    assert sections is None or len(texts) <= sections
    shown = [line for line in shown_lines(blocks) if line != heading]
    assert shown == lines[: len(shown)]  # whole lines, in order, none skipped
    assert len(shown) + counted(blocks) == count
    if sections is None:
        assert counted(blocks) == 0


def test_lines_the_caller_left_out_are_counted_too():
    blocks = pack_lines(["• a", "• b"], MORE, total=12)
    assert shown_lines(blocks) == ["• a", "• b"]
    assert counted(blocks) == 10


def test_a_full_section_overflows_into_the_next_one_not_past_slacks_limit():
    lines = ["x" * 2000, "y" * 2000, "z" * 2000]
    blocks = pack_lines(lines, MORE, sections=2)
    assert [b["text"]["text"] for b in blocks if b["type"] == "section"] == ["x" * 2000, "y" * 2000]
    assert counted(blocks) == 1

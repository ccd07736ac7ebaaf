"""Block Kit primitives and Slack's limits, so every feature's messages and forms are built the same, valid way."""

from __future__ import annotations

from bot.slack.text import inert, truncate

SECTION_LIMIT = 3000  # characters in a section's or a context element's text
HEADER_LIMIT = 150  # characters in a header
MESSAGE_BLOCKS = 50  # blocks in a message (a Home tab view may have 100)
VALUE = "value"  # the action_id of the single element in each input block: a form's state reads state[block][VALUE]


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)}]}


def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, HEADER_LIMIT)}}


def divider() -> dict:
    return {"type": "divider"}


def notice(text: str) -> tuple[str, list[dict]]:
    """A short ephemeral line whose text we wrote (any user values in it already escaped)."""
    return text, [section(text)]


def pack_lines(
    lines: list[str], more: str, *, heading: str | None = None, total: int | None = None, sections: int | None = None
) -> list[dict]:
    """`heading`, then `lines`, in as few sections as Slack's limit allows (at most `sections`, None: no cap); the
    lines that don't fit, and the `total - len(lines)` the caller left out, are counted in one closing context
    line, `more` with {n} filled in, so a long list is cut but never silently."""
    total = len(lines) if total is None else total
    chunks = [heading] if heading else []
    shown = 0
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= SECTION_LIMIT:
            chunks[-1] += "\n" + line
        elif sections is None or len(chunks) < sections:
            chunks.append(line)  # a line longer than a section on its own is truncated by section()
        else:
            break
        shown += 1
    out = [section(chunk) for chunk in chunks]
    if shown < total:
        out.append(context(more.format(n=total - shown)))
    return out


def button(action_id: str, text: str, value: str, style: str | None = None) -> dict:
    element = {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}, "value": value}
    if style:
        element["style"] = style
    return element


def option(text: str, value: str) -> dict:
    """One choice of a select, checkboxes or radio buttons."""
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def modal(callback_id: str, *, title: str, submit: str, close: str, metadata: str, blocks: list[dict]) -> dict:
    """A modal view; Slack caps the title, submit and close labels at 24 characters."""
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": close},
        "private_metadata": metadata,
        "blocks": blocks,
    }


def input_block(block_id: str, label: str, element: dict, *, optional: bool = True, hint: str | None = None) -> dict:
    block = {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": {**element, "action_id": VALUE},
        "optional": optional,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def text_input(value: str | None, placeholder: str, *, max_length: int, multiline: bool = False) -> dict:
    element = {
        "type": "plain_text_input",
        "placeholder": {"type": "plain_text", "text": placeholder},
        "max_length": max_length,
        "multiline": multiline,
    }
    if value:
        element["initial_value"] = inert(value)  # a value stored before the text policy must not trap the rep
    return element

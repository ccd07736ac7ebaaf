"""The coaching report as people read it: Markdown for the terminal, CSV for a spreadsheet, and the few lines the
managers' monthly digest carries. Plain text; nothing a user typed appears in it."""

from __future__ import annotations

import csv
import io

from bot.report.model import LATE, ON_TIME, OUTCOMES, SMALL, Comparison, Group

LABELS = {
    "cancelled": "cancelled",
    "testimonial": "testimonial received",
    "referral": "referrals received",
    "live_on_time": "live on time",
}


TAKES_TIME = (
    "Outcomes take time: a deal closed in the last few weeks has hardly had the chance to go live, give a testimonial "
    "or refer anyone yet, in either group."
)


def _cell(group: Group, outcome: str) -> str:
    rate = group.rate(outcome)
    return f"{group.outcomes[outcome]} ({rate:.0%})" if rate is not None else "–"


def caveat(c: Comparison) -> str:
    """What the numbers can say, plainly: small samples say little."""
    a, b = c.on_time.deals, c.late.deals
    if not a and not b:
        return "No deal closed then has early steps due yet: nothing to compare."
    if not a or not b:
        return (
            f"Only one group has deals ({a} on time, {b} late or missed), so there is nothing to compare yet: "
            "these are counts, not evidence either way."
        )
    margin = c.margin("cancelled")
    spread = f"±{margin * 100:.0f} points" if margin is not None else "large"
    if min(a, b) < SMALL:
        lead = f"Small samples say little: with {a} and {b} deals, these numbers can't tell coaching from luck."
    else:
        lead = f"With {a} and {b} deals, a difference is worth a look but is not proof: other things differ too."
    return (
        f"{lead} A gap in the cancellation rate smaller than about {spread} could be chance alone (a rough 95% "
        "range); deals whose steps slipped may also differ in other ways (size, buyer, rep)."
    )


def markdown(c: Comparison, *, scope: str = "") -> str:
    lines = [
        f"# Does the coaching work? Deals closed {c.since:%Y-%m-%d} to {c.until:%Y-%m-%d}{scope}",
        "",
        "Deals whose early steps due so far (the Affirm stage: congratulate, next steps, thank-you…) were all done by "
        "their due day, against deals where any was done late or is still owed past it, and what happened to them "
        f"since. {TAKES_TIME}",
        "",
        "| early steps | deals | " + " | ".join(LABELS[o] for o in OUTCOMES) + " |",
        "|---|---:|" + "---:|" * len(OUTCOMES),
    ]
    for name, group in ((ON_TIME, c.on_time), (LATE, c.late)):
        lines.append(f"| {name} | {group.deals} | " + " | ".join(_cell(group, o) for o in OUTCOMES) + " |")
    lines += [
        "",
        f"Not compared: {c.too_early} deal{'s' if c.too_early != 1 else ''} with no early step due yet. Captures "
        f"deleted as mistakes are never deals. Live on time: marked live within {c.go_live_days} days of the close.",
        "",
        f"**What these numbers can say:** {caveat(c)}",
    ]
    return "\n".join(lines) + "\n"


def csv_text(c: Comparison) -> str:
    """One row per group, rates as fractions, for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        ["since", "until", "early_steps", "deals", *(f"{o}" for o in OUTCOMES), *(f"{o}_rate" for o in OUTCOMES)]
    )
    for name, group in ((ON_TIME, c.on_time), (LATE, c.late)):
        rates = [f"{r:.4f}" if (r := group.rate(o)) is not None else "" for o in OUTCOMES]
        writer.writerow([c.since.isoformat(), c.until.isoformat(), name, group.deals, *group.outcomes.values(), *rates])
    writer.writerow([c.since.isoformat(), c.until.isoformat(), "not yet due", c.too_early, *[""] * 2 * len(OUTCOMES)])
    return out.getvalue()


def digest_lines(c: Comparison) -> list[str]:
    """The monthly summary in the managers' digest: two lines, the caveat, and that last month's deals are young."""
    head = f"*Does the coaching work?* Deals closed {c.since:%b %-d} to {c.until:%b %-d}"
    rows = [
        f"early steps {name}: {group.deals} deal{'s' if group.deals != 1 else ''}, "
        f"{_cell(group, 'cancelled')} cancelled, {_cell(group, 'testimonial')} gave a testimonial, "
        f"{_cell(group, 'referral')} referred"
        for name, group in ((ON_TIME, c.on_time), (LATE, c.late))
    ]
    return [f"• {head}: " + "; ".join(rows) + f". {caveat(c)} {TAKES_TIME}"]

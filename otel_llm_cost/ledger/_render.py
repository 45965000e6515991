"""Turning a :class:`~._report.Report` into a table (with a spend chart), JSON or CSV.

Every cost is printed as exact decimal text (never a float), so a JSON or CSV consumer
can sum the numbers again and get the same total to the last digit. A group whose cost
is unknown (none of its calls priced, some may have cost money) has no number: an empty
CSV cell, JSON ``null``, next to its count of unpriced calls.

Ids are the application's data: the table shows them with control characters escaped,
the CSV with formulas neutralised, the JSON exactly (see ``otel_llm_cost._terminal``).
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from .. import semconv
from .._terminal import csv_cell, printable
from .._usd import format_usd
from ._report import TOKEN_KINDS, Group, Report

__all__ = ["render", "cost_text", "notes", "bar", "group_dict"]

#: Eighth-blocks, for bars with sub-character resolution.
_BLOCKS = " ▏▎▍▌▋▊▉█"
_BAR_WIDTH = 40
#: The chart shows at most this many (most recent) buckets.
_MAX_BUCKETS = 31
_HEADS = {"model": "model", "provider": "provider", "user": "user", "session": "session",
          "day": "day (UTC)"}


def render(report: Report, fmt: str) -> str:
    return {"table": _table, "json": _json, "csv": _csv}[fmt](report)


def cost_text(group: Group) -> str:
    """``0.0123``, ``≥ 0.0123 (2 unpriced)`` when some calls have no price, or
    ``unknown (2 unpriced)`` when none of them has one (no number, not even a floor of 0)."""
    if not group.cost_known:
        return f"unknown ({group.unpriced} unpriced)"
    usd = format_usd(group.cost)
    return f"≥ {usd} ({group.unpriced} unpriced)" if group.unpriced else usd


def notes(group: Group) -> str:
    parts = []
    if group.estimated:
        parts.append(f"{group.estimated} estimated")
    if group.failed:
        parts.append(f"{group.failed} failed")
    return ", ".join(parts)


def _since_text(report: Report) -> str:
    if report.since is None:
        return "all recorded calls"
    return "calls since " + report.since.strftime("%Y-%m-%d %H:%M UTC")


def _table(report: Report) -> str:
    out = [f"Ledger {printable(report.path)} — {_since_text(report)}, by {report.by}", ""]
    if not report.total.calls:
        out.append("No LLM calls recorded in this period.")
        return "\n".join(out) + "\n"
    head = (_HEADS[report.by], "calls", "input", "output", "cache read", "cache write",
            "reasoning", "cost (USD)", "notes")
    rows = [_cells(g) for g in report.groups]
    total = _cells(report.total)
    widths = [max(map(len, column)) for column in zip(head, total, *rows, strict=True)]
    # One format for every line: a --by session table can have hundreds of thousands.
    fmt = "  ".join([f"{{:<{widths[0]}}}", *(f"{{:>{w}}}" for w in widths[1:-1]), "{}"])

    def line(cells: tuple[str, ...]) -> str:
        return fmt.format(*cells).rstrip()

    rule = "  ".join("─" * w for w in widths[:-1])
    out += [line(head), rule, *(line(r) for r in rows)]
    if report.hidden:
        out.append(f"… and {report.hidden:,} more {report.by} groups, in the total below (--top 0 shows all)")
    out += [rule, line(total)]
    if report.total.unpriced:
        out += ["", f"{report.total.unpriced} call(s) have no price (an unknown model, or usage that was "
                    "not reported): they are not in the totals, which are lower bounds. Add prices with "
                    f"{semconv.ENV_PRICES_FILE}."]
    if report.total.failed:
        out += ["", f"{report.total.failed} call(s) failed (error.type); a failed call that reported no "
                    "usage cost nothing and is not counted as unpriced."]
    if report.total.estimated:
        out += ["", f"{report.total.estimated} call(s) reported no usage: their tokens and cost "
                    "were estimated with a tokenizer."]
    out += ["", *_chart(report)]
    return "\n".join(out) + "\n"


def _cells(group: Group) -> tuple[str, ...]:
    t = group.tokens
    return (printable(group.key), f"{group.calls:,}", f"{t['input']:,}", f"{t['output']:,}", f"{t['cache_read']:,}",
            f"{t['cache_write']:,}", f"{t['reasoning']:,}", cost_text(group), notes(group))


def bar(value: Decimal, top: Decimal, width: int = _BAR_WIDTH) -> str:
    """A bar of ``value / top`` of ``width`` characters, in eighths of a character."""
    if top <= 0 or value <= 0:
        return ""
    eighths = int(value * width * 8 / top)
    eighths = max(eighths, 1)  # anything spent is visible
    full, rest = divmod(eighths, 8)
    return "█" * full + (_BLOCKS[rest] if rest else "")


def _chart(report: Report) -> list[str]:
    points = report.timeline
    shown = points[-_MAX_BUCKETS:]
    title = f"Spend per {report.bucket} (UTC)"
    if len(shown) < len(points):
        title += f", last {len(shown)} of {len(points)} {report.bucket}s"
    fmt = "%Y-%m-%d %H:00" if report.bucket == "hour" else "%Y-%m-%d"
    top = max((v for _, v in shown), default=Decimal(0))
    lines = [title + ":"]
    for start, value in shown:
        lines.append(f"  {start.strftime(fmt)}  {bar(value, top).ljust(_BAR_WIDTH)}  {format_usd(value)}")
    return lines


def group_dict(group: Group) -> dict:
    return {
        "calls": group.calls,
        "tokens": dict(group.tokens),
        "cost_usd": format_usd(group.cost) if group.cost_known else None,
        "cost_complete": group.unpriced == 0,
        "unpriced_calls": group.unpriced,
        "estimated_calls": group.estimated,
        "failed_calls": group.failed,
    }


def _json(report: Report) -> str:
    data = {
        "ledger": str(report.path),
        "by": report.by,
        "since": None if report.since is None else report.since.isoformat(),
        "groups": [{report.by: g.key, **group_dict(g)} for g in report.groups],
        "groups_not_shown": report.hidden,
        "total": group_dict(report.total),
        "spend_over_time": {
            "bucket": report.bucket,
            "points": [{"start": s.isoformat(), "cost_usd": format_usd(v)} for s, v in report.timeline],
        },
    }
    return json.dumps(data, indent=2) + "\n"


def _csv(report: Report) -> str:
    """One row per group (no total row: a consumer summing the column would count it twice).

    Lines end in CRLF (RFC 4180): the writer then quotes any cell holding a CR or LF, so
    an id with a line break stays one cell (with ``\n`` endings a bare CR went unquoted
    and a reader split the row there).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([report.by, "calls", *(f"{k}_tokens" for k in TOKEN_KINDS), "cost_usd",
                     "unpriced_calls", "estimated_calls", "failed_calls"])
    for g in report.groups:
        writer.writerow([csv_cell(g.key), g.calls, *(g.tokens[k] for k in TOKEN_KINDS),
                         format_usd(g.cost) if g.cost_known else "",
                         g.unpriced, g.estimated, g.failed])
    return buf.getvalue()

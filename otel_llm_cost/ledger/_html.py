"""``otel-llm-cost report --html FILE``: the ledger's spend as one self-contained page.

One file that opens offline: no script, no stylesheet or font fetched, no CDN. The
charts are inline SVG drawn here, so what they show is computed by the same code, from
the same exact totals, as the table (:mod:`._report` groups and sums; :func:`._render.cost_text`
writes every cost): spend per day by model, the top sessions and users, and the calls
that are unpriced or estimated. Every bar carries its exact cost as a tooltip and in a
``data-usd`` attribute, and every number shown in a chart is also in a table beside it.

Ids are the application's data: everything from the ledger is HTML-escaped, with
control characters shown escaped (``otel_llm_cost._terminal.printable``).
"""

from __future__ import annotations

import html
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from .._terminal import printable
from ..cost import format_usd
from ._render import cost_text, notes
from ._report import _GROUP_KEYS, Group, Report, load_report, sum_groups, where_since
from ._schema import LedgerError, resolve_target
from ._store import StoreError, open_store

__all__ = ["HtmlReport", "load_html_report", "render_html", "write_html"]

#: Top sessions and users shown.
TOP = 10
#: Distinct colours for models, in order of spend; the rest share the last ("other").
_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
_OTHER = "other models"


@dataclass
class HtmlReport:
    """What the page shows: the report's own groupings of the same ledger and period."""

    by_model: Report
    by_day: Report
    by_session: Report
    by_user: Report
    #: (day, model) -> that model's totals on that day.
    day_model: dict[tuple[str, str], Group]


def load_html_report(target: Path | str, since: datetime | None = None) -> HtmlReport:
    """The groupings the page draws, each summed exactly by :func:`._report.load_report`."""
    reports = {by: load_report(target, by, since) for by in ("model", "day", "session", "user")}
    where, params = where_since(since)
    with open_store(target) as store:
        cells = sum_groups(store, [_GROUP_KEYS["day"], _GROUP_KEYS["model"]], where, params)
    day_model = {(str(day), _label(model)): group for (day, model), group in cells.items()}
    return HtmlReport(reports["model"], reports["day"], reports["session"], reports["user"], day_model)


def _label(value: object) -> str:
    return "(none)" if value is None or value == "" else str(value)


def _axis(value: Decimal) -> str:
    """A gridline's label: rounded (the exact numbers are in the bars' tooltips and the tables)."""
    return f"{float(value):.6f}".rstrip("0").rstrip(".") if value else "0"


def _e(text: object) -> str:
    return html.escape(printable(str(text)), quote=True)


# --- charts -----------------------------------------------------------------------------

def _stacked_days(data: HtmlReport) -> str:
    """Spend per day, one bar per day stacked by model (the most expensive models get colours)."""
    days = [g.key for g in data.by_day.groups]
    if not days:
        return ""
    models = [g.key for g in data.by_model.groups if g.cost > 0]
    coloured = models[:len(_PALETTE) - 1] if len(models) > len(_PALETTE) else models
    colour = {m: _PALETTE[i] for i, m in enumerate(coloured)}
    top = max((g.cost for g in data.by_day.groups), default=Decimal(0))
    width, height, left, bottom, top_pad = 760, 260, 90, 40, 10
    plot_h = height - bottom - top_pad
    step = (width - left - 10) / len(days)
    bar_w = max(min(step * 0.7, 48), 2)
    out = [f'<svg class="chart" id="chart-days" role="img" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>Spend per day (UTC) by model</title>']
    for i in range(5):  # gridlines at 0, 1/4 … of the top day
        value = top * i / 4 if top > 0 else Decimal(0)
        y = height - bottom - plot_h * i / 4
        out.append(f'<line x1="{left}" x2="{width - 5}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                   f'{_axis(value)}</text>')
    for i, day in enumerate(days):
        x = left + i * step + (step - bar_w) / 2
        y = float(height - bottom)
        stack: dict[str, Decimal] = {}
        for model in models:
            cell = data.day_model.get((day, model))
            if cell is not None and cell.cost > 0:
                name = model if model in colour else _OTHER
                stack[name] = stack.get(name, Decimal(0)) + cell.cost
        for name, usd in stack.items():
            h = float(usd / top) * plot_h if top > 0 else 0.0
            y -= h
            out.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(h, 0.5):.1f}" '
                       f'fill="{colour.get(name, _PALETTE[-1])}" data-day="{_e(day)}" data-model="{_e(name)}" '
                       f'data-usd="{format_usd(usd)}">'
                       f'<title>{_e(day)} {_e(name)}: {format_usd(usd)} USD</title></rect>')
        if len(days) <= 16 or i % max(len(days) // 8, 1) == 0:
            out.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" class="axis" '
                       f'text-anchor="middle">{_e(day[5:])}</text>')
    out.append("</svg>")
    legend = "".join(f'<span class="key"><i style="background:{colour[m]}"></i>{_e(m)}</span>' for m in coloured)
    if len(coloured) < len(models):
        legend += f'<span class="key"><i style="background:{_PALETTE[-1]}"></i>{_OTHER}</span>'
    return "".join(out) + f'<div class="legend">{legend}</div>'


def _hbars(chart_id: str, title: str, groups: list[Group]) -> str:
    """Horizontal bars of the most expensive groups, each labelled with its exact cost text."""
    shown = groups[:TOP]
    if not shown:
        return ""
    top = max((g.cost for g in shown), default=Decimal(0))
    row, label_w, bar_max, width = 26, 210, 330, 760
    height = row * len(shown) + 10
    out = [f'<svg class="chart" id="{chart_id}" role="img" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{_e(title)}</title>']
    for i, group in enumerate(shown):
        y = 5 + i * row
        w = float(group.cost / top) * bar_max if top > 0 else 0.0
        key = group.key if len(group.key) <= 30 else group.key[:29] + "…"
        out.append(f'<text x="{label_w - 8}" y="{y + 16}" class="label" text-anchor="end">{_e(key)}'
                   f'<title>{_e(group.key)}</title></text>'
                   f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{max(w, 1.0):.1f}" height="{row - 8}" '
                   f'fill="{_PALETTE[0] if group.cost_known else "#bbb"}" data-key="{_e(group.key)}" '
                   f'data-usd="{format_usd(group.cost) if group.cost_known else ""}">'
                   f'<title>{_e(group.key)}: {_e(cost_text(group))} USD</title></rect>'
                   f'<text x="{label_w + max(w, 1.0) + 6:.1f}" y="{y + 16}" class="value">{_e(cost_text(group))}'
                   f'</text>')
    out.append("</svg>")
    return "".join(out)


def _quality(data: HtmlReport) -> str:
    """Calls per model: priced, unpriced and estimated, as stacked horizontal bars."""
    groups = [g for g in data.by_model.groups if g.calls]
    if not groups:
        return ""
    most = max(g.calls for g in groups)
    row, label_w, bar_max, width = 26, 210, 330, 760
    height = row * len(groups) + 10
    out = [f'<svg class="chart" id="chart-quality" role="img" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>Calls per model: priced, estimated, '
           f'unpriced</title>']
    for i, g in enumerate(groups):
        y, x = 5 + i * row, float(label_w)
        exact = g.calls - g.unpriced - g.estimated
        out.append(f'<text x="{label_w - 8}" y="{y + 16}" class="label" text-anchor="end">'
                   f'{_e(g.key if len(g.key) <= 30 else g.key[:29] + "…")}</text>')
        for kind, count, fill in (("exact", exact, "#59a14f"), ("estimated", g.estimated, "#edc948"),
                                  ("unpriced", g.unpriced, "#e15759")):
            if count <= 0:
                continue
            w = count / most * bar_max
            out.append(f'<rect class="bar calls-{kind}" x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" '
                       f'fill="{fill}" data-calls="{count}"><title>{_e(g.key)}: {count} {kind}</title></rect>')
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 16}" class="value">{g.calls:,} call{"" if g.calls == 1 else "s"}'
                   f'{(", " + _e(notes(g))) if notes(g) else ""}{f", {g.unpriced} unpriced" if g.unpriced else ""}'
                   f'</text>')
    out.append("</svg>")
    legend = ('<span class="key"><i style="background:#59a14f"></i>priced from reported usage</span>'
              '<span class="key"><i style="background:#edc948"></i>estimated (no usage reported)</span>'
              '<span class="key"><i style="background:#e15759"></i>unpriced (no price, or no usage)</span>')
    return "".join(out) + f'<div class="legend">{legend}</div>'


# --- tables -----------------------------------------------------------------------------

def _table(report: Report, head: str, limit: int | None = None) -> str:
    groups = report.groups[:limit] if limit else report.groups
    rows = []
    for g in groups:
        t = g.tokens
        rows.append(f"<tr><td>{_e(g.key)}</td><td>{g.calls:,}</td><td>{t['input']:,}</td><td>{t['output']:,}</td>"
                    f"<td>{t['cache_read']:,}</td><td>{t['cache_write']:,}</td><td>{t['reasoning']:,}</td>"
                    f'<td class="usd">{_e(cost_text(g))}</td><td>{_e(notes(g))}</td></tr>')
    more = ""
    if limit and len(report.groups) > limit:
        more = f'<p class="note">The {limit} most expensive of {len(report.groups):,}.</p>'
    t = report.total.tokens
    total = (f'<tr class="total"><td>TOTAL</td><td>{report.total.calls:,}</td><td>{t["input"]:,}</td>'
             f'<td>{t["output"]:,}</td><td>{t["cache_read"]:,}</td><td>{t["cache_write"]:,}</td>'
             f'<td>{t["reasoning"]:,}</td><td class="usd">{_e(cost_text(report.total))}</td>'
             f'<td>{_e(notes(report.total))}</td></tr>')
    return (f'<table id="table-{report.by}"><thead><tr><th>{_e(head)}</th><th>calls</th><th>input</th>'
            "<th>output</th><th>cache read</th><th>cache write</th><th>reasoning</th><th>cost (USD)</th>"
            f"<th>notes</th></tr></thead><tbody>{''.join(rows)}</tbody><tfoot>{total}</tfoot></table>{more}")


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:820px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta,.note{color:#666;font-size:12px}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:20px}.card span{color:#666;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:12px;margin-top:8px}
th,td{padding:3px 6px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left;max-width:240px;overflow:hidden;text-overflow:ellipsis}
tfoot td{font-weight:bold;border-top:1px solid #999}.usd{font-variant-numeric:tabular-nums}
svg.chart{max-width:100%;height:auto;display:block}.grid{stroke:#eee}.axis,.label,.value{font-size:11px;fill:#555}
.label{fill:#222}.legend{font-size:12px;margin:4px 0 0 90px}.key{margin-right:14px;white-space:nowrap}
.key i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px}
.warn{background:#fff4e5;border:1px solid #f0c080;border-radius:6px;padding:8px 12px;margin:12px 0}
"""


def render_html(data: HtmlReport, *, generated: datetime | None = None) -> str:
    """The page: summary, charts, and the tables with the same exact numbers."""
    total = data.by_model.total
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    scope = ("all recorded calls" if data.by_model.since is None
             else "calls since " + data.by_model.since.strftime("%Y-%m-%d %H:%M UTC"))
    cards = (f'<div class="cards"><div class="card" id="total-cost"><b>{_e(cost_text(total))}</b><span>USD, '
             f'{scope}</span></div><div class="card" id="total-calls"><b>{total.calls:,}</b><span>calls</span></div>'
             f'<div class="card" id="total-unpriced"><b>{total.unpriced:,}</b><span>unpriced calls</span></div>'
             f'<div class="card" id="total-estimated"><b>{total.estimated:,}</b><span>estimated calls</span></div>'
             f'<div class="card" id="total-failed"><b>{total.failed:,}</b><span>failed calls</span></div></div>')
    warn = ""
    if total.unpriced:
        warn = (f'<p class="warn">{total.unpriced:,} call(s) have no price (an unknown model, or usage that was '
                "not reported): they are not in the totals, which are lower bounds. Add prices with "
                "OTEL_LLM_COST_PRICES_FILE.</p>")
    body = [f"<h1>LLM spend</h1><p class=\"meta\">Ledger {_e(data.by_model.path)} — {scope}. "
            f"Generated {when} by otel-llm-cost. Exact decimal costs in USD; no call is counted as free "
            "because its price is unknown.</p>", cards, warn]
    if not total.calls:
        body.append("<p>No LLM calls recorded in this period.</p>")
    else:
        body += ["<h2>Spend per day (UTC) by model</h2>", _stacked_days(data), _table(data.by_day, "day (UTC)"),
                 "<h2>Spend by model</h2>", _table(data.by_model, "model"),
                 "<h2>Top sessions</h2>", _hbars("chart-sessions", "Top sessions by cost", data.by_session.groups),
                 _table(data.by_session, "session", TOP),
                 "<h2>Top users</h2>", _hbars("chart-users", "Top users by cost", data.by_user.groups),
                 _table(data.by_user, "user", TOP),
                 "<h2>Unpriced and estimated calls</h2>",
                 "<p class=\"note\">Estimated: the provider reported no usage; the tokens were counted with a "
                 "tokenizer. Unpriced: no price for the model, or no usage at all; not in any total.</p>",
                 _quality(data)]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>LLM spend — otel-llm-cost</title><style>{_STYLE}</style></head><body>"
            + "\n".join(part for part in body if part) + "</body></html>\n")


def write_html(db: str | None, since: datetime | None, path: str) -> int:
    """``report --html FILE``: write the page; the exit status (1: ledger or file trouble)."""
    try:
        data = load_html_report(resolve_target(db), since)
    except (StoreError, LedgerError) as exc:
        print(f"otel-llm-cost report: {exc}", file=sys.stderr)
        return 1
    page = render_html(data)
    try:
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(page)
        os.replace(tmp, path)  # a reader never sees half a page
    except OSError as exc:
        print(f"otel-llm-cost report: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return 1
    total = data.by_model.total
    print(f"wrote {path}: {total.calls:,} calls, {cost_text(total)} USD ({len(page):,} bytes, no network needed)")
    return 0

"""``otel-llm-cost report``: what the ledger says was spent, grouped, with exact totals.

Costs are summed as ``Decimal`` in Python, never by SQL (SQLite would sum the text as
binary floats). A call without a price is never counted as free: its group's cost is
shown as a lower bound with the number of unpriced calls, and calls whose tokens were
estimated are counted separately, so the reader knows how firm each number is.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path

from .. import semconv
from ._schema import CURRENT_VERSION, resolve_path

__all__ = ["add_command", "parse_since", "Group", "Report", "load_report"]

#: SQL for each ``--by``; every one is a column or an expression over one.
_GROUP_KEYS = {
    "model": "COALESCE(model, response_model)",
    "provider": "provider",
    "user": "user_id",
    "session": "session_id",
    "day": "substr(end_time, 1, 10)",
}
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")
_NONE = "(none)"
#: Wide enough that no sum of costs is ever rounded.
_CTX = Context(prec=80)
_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass
class Group:
    """Totals of one group of calls (or of all of them)."""

    key: str
    calls: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_KINDS, 0))
    #: Exact sum of the priced calls' costs.
    cost: Decimal = Decimal(0)
    unpriced: int = 0
    estimated: int = 0
    failed: int = 0

    def add(self, tokens: tuple[int, ...], cost: Decimal | None, estimated: bool, failed: bool) -> None:
        self.calls += 1
        for kind, count in zip(TOKEN_KINDS, tokens):
            self.tokens[kind] += count or 0
        if cost is None:
            self.unpriced += 1
        else:
            self.cost = _CTX.add(self.cost, cost)
        self.estimated += estimated
        self.failed += failed


@dataclass
class Report:
    path: Path
    by: str
    since: datetime | None
    groups: list[Group]
    total: Group
    #: (bucket start, exact spend) for every bucket from the first call to the last.
    timeline: list[tuple[datetime, Decimal]]
    #: ``hour`` or ``day``.
    bucket: str


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m``, ``24h``, ``7d``, ``2w`` before ``now``, or an ISO date/time (UTC if naive)."""
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration (30m, 24h, 7d, 2w) or an ISO date (2025-01-31)") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


class ReportError(Exception):
    """The ledger cannot be read; the message names the file."""


def _open(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise ReportError(
            f"no ledger at {path}: nothing has been recorded there yet (record calls with "
            f"OTEL_TRACES_EXPORTER=llm_cost_ledger, or pass --db / set {semconv.ENV_LEDGER_PATH})")
    if not path.is_file():
        raise ReportError(f"{path} is not a file")
    try:
        # Read-only: a report never creates, migrates or locks the ledger for writing.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        columns = {row[1] for row in conn.execute("PRAGMA table_info(llm_calls)")}
    except sqlite3.Error as exc:
        raise ReportError(f"{path}: cannot read the ledger ({exc})") from None
    if not columns:
        conn.close()
        raise ReportError(f"{path}: not an otel-llm-cost ledger (no llm_calls table)")
    if version > CURRENT_VERSION:
        conn.close()
        raise ReportError(f"{path}: ledger schema version {version} is newer than this "
                          f"otel-llm-cost understands ({CURRENT_VERSION}); upgrade otel-llm-cost")
    conn.execute("PRAGMA query_only = ON")
    return conn


def _column(columns: set[str], name: str, missing: str) -> str:
    # A ledger not yet migrated by a writer lacks newer columns; read them as empty.
    return name if name in columns else f"{missing} AS {name}"


def load_report(path: Path, by: str = "model", since: datetime | None = None) -> Report:
    """Read the ledger at ``path`` and total its calls by ``by`` (see ``_GROUP_KEYS``)."""
    conn = _open(path)
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(llm_calls)")}
        key = _GROUP_KEYS[by]
        if by == "user" and "user_id" not in columns:
            key = "NULL"
        select = ", ".join([
            key, "end_time_unix_nano",
            *(_column(columns, f"{kind}_tokens", "0") for kind in TOKEN_KINDS),
            "cost_usd", "usage_source", "error_type",
        ])
        where, params = "", ()
        if since is not None:
            where, params = "WHERE end_time_unix_nano >= ?", (_unix_nano(since),)
        cursor = conn.execute(
            f"SELECT {select} FROM llm_calls {where} ORDER BY end_time_unix_nano", params)
        groups: dict[str, Group] = {}
        total = Group("TOTAL")
        times: list[tuple[int, Decimal | None]] = []
        for row in cursor:
            name, end, *tokens = row[:7]
            cost = _decimal(row[7])
            estimated = row[8] == semconv.SOURCE_ESTIMATED
            failed = row[9] is not None
            label = _NONE if name is None or name == "" else str(name)
            group = groups.get(label)
            if group is None:
                group = groups[label] = Group(label)
            group.add(tuple(tokens), cost, estimated, failed)
            total.add(tuple(tokens), cost, estimated, failed)
            times.append((end, cost))
    except sqlite3.Error as exc:
        raise ReportError(f"{path}: cannot read the ledger ({exc})") from None
    finally:
        conn.close()
    if by == "day":
        ordered = sorted(groups.values(), key=lambda g: g.key)
    else:
        ordered = sorted(groups.values(), key=lambda g: (-g.cost, -g.calls, g.key))
    bucket, timeline = _timeline(times)
    return Report(path, by, since, ordered, total, timeline, bucket)


def _unix_nano(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


_HOUR_NS = 3_600 * 1_000_000_000
_DAY_NS = 24 * _HOUR_NS


def _timeline(times: list[tuple[int, Decimal | None]]) -> tuple[str, list[tuple[datetime, Decimal]]]:
    """Spend per hour (calls within one day) or per day, gaps included as zero."""
    if not times:
        return "hour", []
    first, last = times[0][0], times[-1][0]
    size, bucket = (_HOUR_NS, "hour") if last - first < _DAY_NS else (_DAY_NS, "day")
    start = first // size
    spend = [Decimal(0)] * (last // size - start + 1)
    for end, cost in times:
        if cost is not None:
            spend[end // size - start] = _CTX.add(spend[end // size - start], cost)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return bucket, [(epoch + timedelta(microseconds=(start + i) * size // 1000), value)
                    for i, value in enumerate(spend)]


def _cmd_report(args: argparse.Namespace) -> int:
    from ._render import render

    path = resolve_path(args.db)
    try:
        report = load_report(path, args.by, args.since)
    except ReportError as exc:
        print(f"otel-llm-cost report: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(report, args.format))
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    """Register ``report`` with the ``otel-llm-cost`` command (see ``cli._COMMANDS``)."""
    p = sub.add_parser("report", help="spend recorded in the local ledger, grouped, with exact totals")
    p.add_argument("--db", metavar="PATH",
                   help=f"ledger file (default: ${semconv.ENV_LEDGER_PATH}, "
                        "else $XDG_DATA_HOME/otel-llm-cost/ledger.db)")
    p.add_argument("--since", type=parse_since, metavar="WHEN",
                   help="only calls since 30m / 24h / 7d / 2w ago, or an ISO date (UTC); default: all")
    p.add_argument("--by", choices=sorted(_GROUP_KEYS), default="model")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.set_defaults(func=_cmd_report)

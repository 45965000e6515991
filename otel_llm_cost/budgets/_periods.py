"""Budget periods: a calendar day, week or month in a declared time zone, or a rolling window.

Why a time zone. "$10 a month" means the user's (or the business's) month: a budget
declared in ``Europe/Paris`` starts its month at 00:00 Paris time, which is 23:00 or
22:00 UTC the day before depending on daylight saving. A period is computed from an
aware ``datetime`` (the enforcer's clock, injectable for tests) as a half-open interval
``[start, end)`` of aware datetimes; the ledger is read with their UTC nanoseconds.

A rolling window (``rolling:24h``, ``rolling:7d``, ``rolling:30m``) is the last so much
time up to now: it has no reset, spend ages out of it call by call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Period", "parse_period", "zone", "CALENDAR", "to_unix_nano"]

#: The calendar periods, by name.
CALENDAR = ("day", "week", "month")
_ROLLING = re.compile(r"^rolling:(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def zone(name: str) -> ZoneInfo | timezone:
    """The time zone named ``name`` (IANA, e.g. ``Europe/Paris``; ``UTC``); ValueError if unknown."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Paris, or UTC)") from exc


@dataclass(frozen=True, slots=True)
class Period:
    """``day``, ``week`` (from Monday), ``month``, or a rolling window of ``window``."""

    kind: str
    tz: str = "UTC"
    window: timedelta | None = None
    #: A rolling window as declared (``rolling:24h`` stays that, not ``rolling:1d``).
    label: str = ""

    @property
    def name(self) -> str:
        if self.window is None:
            return self.kind
        if self.label:
            return self.label
        seconds = int(self.window.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds % size == 0:
                return f"rolling:{seconds // size}{unit}"
        return f"rolling:{seconds}s"  # never from parse_period (minutes at least)

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """The period holding ``now`` (aware): ``[start, end)``; a rolling window ends at ``now``."""
        if now.tzinfo is None:
            raise ValueError("a budget's clock must return an aware datetime")
        if self.window is not None:
            return now - self.window, now
        local = now.astimezone(zone(self.tz))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
        if self.kind == "day":
            start, end = midnight, _add_days(midnight, 1)
        elif self.kind == "week":
            start = _add_days(midnight, -midnight.weekday())
            end = _add_days(start, 7)
        else:
            start = midnight.replace(day=1)
            year, month = divmod(start.month, 12)  # December -> January of the next year
            end = start.replace(year=start.year + year, month=month + 1)
        # Wall-clock arithmetic, then re-attached: a day across a DST change is 23 or 25 hours.
        return _normal(start), _normal(end)


def _add_days(moment: datetime, days: int) -> datetime:
    return (moment.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=moment.tzinfo, fold=0)


def _normal(moment: datetime) -> datetime:
    """The same wall time, with the offset that applies on that date (UTC round trip)."""
    return moment.astimezone(UTC)


def parse_period(text: str, tz: str = "UTC") -> Period:
    """``day``, ``week``, ``month`` or ``rolling:<n><m|h|d>``; ValueError otherwise."""
    name = text.strip().lower()
    zone(tz)  # checked here, so a bad declaration fails when it is made
    if name in CALENDAR:
        return Period(name, tz)
    match = _ROLLING.match(name)
    if match is None:
        raise ValueError(f"unknown budget period {text!r} (day, week, month, or rolling:<n>m|h|d "
                         f"such as rolling:24h)")
    count = int(match.group(1))
    if count <= 0:
        raise ValueError(f"a rolling budget window must be positive: {text!r}")
    return Period("rolling", tz, timedelta(**{_UNITS[match.group(2)]: count}), f"rolling:{count}{match.group(2)}")


def to_unix_nano(moment: datetime) -> int:
    """An aware datetime in the ledger's unit (``end_time_unix_nano``), exactly."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000

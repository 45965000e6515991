"""Immutable snapshots of what a session (or a request collector) has spent.

A running tally changes under the lock of the store; users get these frozen copies so
that what they put into a response body or a log line cannot change under them.
``cost`` is ``None`` whenever any call could not be priced: an unknown price must not
read as a smaller total. The priced part is always there, as ``priced_cost``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..cost import format_usd
from ..usage import Usage

__all__ = ["ModelUsage", "UsageSummary", "SessionSummary"]


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """The share of one model (catalog key, else the model name) in a session."""

    calls: int
    priced_cost: Decimal
    unpriced_calls: int
    usage: Usage

    @property
    def cost(self) -> Decimal | None:
        return None if self.unpriced_calls else self.priced_cost

    def as_dict(self) -> dict[str, Any]:
        cost = self.cost
        return {
            "calls": self.calls,
            "cost_usd": None if cost is None else format_usd(cost),
            "priced_cost_usd": format_usd(self.priced_cost),
            "unpriced_calls": self.unpriced_calls,
            "tokens": self.usage.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """Token usage and cost of a set of LLM calls."""

    #: Exact total, or None when a call was unpriced (see ``unpriced_reason``).
    cost: Decimal | None
    #: Exact total of the calls that could be priced.
    priced_cost: Decimal
    unpriced_reason: str | None
    usage: Usage
    calls: int
    unpriced_calls: int
    estimated_calls: int
    errors: int
    by_model: Mapping[str, ModelUsage] = field(default_factory=dict)

    @property
    def tokens(self) -> dict[str, int]:
        """Tokens by type: input, output, cache_read, cache_write, cache_write_1h, reasoning."""
        return self.usage.as_dict()

    @property
    def lower_bound(self) -> bool:
        """Some call's estimate was a floor (reasoning model, unmeasured image): read
        the tokens and cost as "at least"."""
        return self.usage.lower_bound

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (money as decimal strings, never floats)."""
        return {
            "cost_usd": None if self.cost is None else format_usd(self.cost),
            "priced_cost_usd": format_usd(self.priced_cost),
            "unpriced_reason": self.unpriced_reason,
            "tokens": self.tokens,
            "calls": self.calls,
            "unpriced_calls": self.unpriced_calls,
            "estimated_calls": self.estimated_calls,
            "errors": self.errors,
            "by_model": {name: m.as_dict() for name, m in self.by_model.items()},
            # Only when true, so readers of the older shape see nothing new.
            **({"lower_bound": True} if self.lower_bound else {}),
        }


@dataclass(frozen=True, slots=True)
class SessionSummary(UsageSummary):
    """A :class:`UsageSummary` of one session, with who and how long."""

    session_id: str | None = None
    user_id: str | None = None
    duration_s: float = 0.0
    #: Wall-clock start, seconds since the epoch.
    started_at: float = 0.0
    ended: bool = False

    def as_dict(self) -> dict[str, Any]:
        out = UsageSummary.as_dict(self)
        out.update(session_id=self.session_id, user_id=self.user_id,
                   duration_s=round(self.duration_s, 6), ended=self.ended)
        return out

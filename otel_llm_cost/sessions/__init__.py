"""Sessions: roll per-call cost up per session, user and request; budgets.

``session()`` opens a session in the current context; every LLM call made in it is
counted there by the sessions observer (our calls) or the :class:`SessionSpanProcessor`
(spans of other tools); ``end_session()`` and ``current_usage()`` read the totals.
See docs/sessions.md.
"""

from __future__ import annotations

from ._asgi import UsageMiddleware
from ._budget import BudgetCrossing, BudgetExceeded
from ._context import SessionScope, current_session, current_usage, end_session, session, track
from ._processor import SessionSpanProcessor
from ._setup import configure, install, post_instrument
from ._store import STORE, Session
from ._summary import ModelUsage, SessionSummary, UsageSummary


def set_limits(max_sessions: int | None = None, idle_timeout_s: float | None = None) -> None:
    """Bound live sessions (default 100 000, least recently active evicted) and idle time (30 min)."""
    STORE.set_limits(max_sessions, idle_timeout_s)


__all__ = [
    "session",
    "track",
    "end_session",
    "current_usage",
    "current_session",
    "set_limits",
    "Session",
    "SessionScope",
    "SessionSummary",
    "UsageSummary",
    "ModelUsage",
    "BudgetCrossing",
    "BudgetExceeded",
    "SessionSpanProcessor",
    "UsageMiddleware",
    "configure",
    "install",
    "post_instrument",
]

"""Sessions: roll per-call cost up per session, user and request; budgets.

``session()`` opens a session in the current context; the :class:`SessionSpanProcessor`
adds every ended LLM span to the sessions open where it started; ``end_session()``
and ``current_usage()`` read the totals. See docs/sessions.md.
"""

from __future__ import annotations

from ..instrumentation import _hooks
from ..instrumentation._hooks import BudgetExceeded
from ._asgi import UsageMiddleware
from ._budget import BudgetCrossing, _before_end
from ._context import (
    _before_call,
    _span_attributes,
    current_session,
    current_usage,
    end_session,
    session,
    track,
)
from ._store import STORE, Session
from ._summary import ModelUsage, SessionSummary, UsageSummary


def _install_hooks() -> None:
    """Plug into the instrumentations (idempotent): ids on spans, hard budgets, crossings."""
    _hooks.register(before_call=_before_call, span_attributes=_span_attributes, before_end=_before_end)


_install_hooks()

from ._processor import SessionSpanProcessor  # noqa: E402
from ._setup import configure, install, post_instrument  # noqa: E402


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

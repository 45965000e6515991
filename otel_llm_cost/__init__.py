"""otel-llm-cost: exact token usage and cost of LLM calls, as OpenTelemetry spans and metrics.

The public API is what ``__all__`` lists; modules whose names start with ``_`` are
private. Instrumentors live in :mod:`otel_llm_cost.instrumentation`, the extension
point for code that wants to see every call in :mod:`otel_llm_cost.observers`.
"""

from __future__ import annotations

from ._version import __version__
from .cost import Cost, format_usd, price_usage
from .pricing import add_aliases, get_catalog, load_prices
from .record import CallRecord
from .sessions import (
    BudgetExceeded,
    Session,
    SessionScope,
    SessionSummary,
    UsageSummary,
    configure,
    current_usage,
    end_session,
    session,
    track,
)
from .usage import Usage

__all__ = [
    "BudgetExceeded",
    "CallRecord",
    "Cost",
    "Session",
    "SessionScope",
    "SessionSummary",
    "Usage",
    "UsageSummary",
    "__version__",
    "add_aliases",
    "configure",
    "current_usage",
    "end_session",
    "format_usd",
    "get_catalog",
    "load_prices",
    "price_usage",
    "session",
    "track",
]

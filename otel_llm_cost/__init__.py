"""otel-llm-cost: exact token usage and cost of LLM calls, as OpenTelemetry spans and metrics."""

from __future__ import annotations

__version__ = "0.1.0"

from .cost import Cost, format_usd, price_usage  # noqa: E402
from .instrumentation._hooks import BudgetExceeded  # noqa: E402
from .pricing import add_aliases, get_catalog, load_prices  # noqa: E402
from .usage import Usage  # noqa: E402
from .sessions import (  # noqa: E402
    Session,
    SessionSummary,
    UsageSummary,
    configure,
    current_usage,
    end_session,
    session,
    track,
)

__all__ = [
    "__version__",
    "Cost",
    "Usage",
    "BudgetExceeded",
    "price_usage",
    "format_usd",
    "get_catalog",
    "load_prices",
    "add_aliases",
    "session",
    "track",
    "end_session",
    "current_usage",
    "configure",
    "Session",
    "SessionSummary",
    "UsageSummary",
]

"""otel-llm-cost: exact token usage and cost of LLM calls, as OpenTelemetry spans and metrics.

The public API is what ``__all__`` lists; modules whose names start with ``_`` are
private. Instrumentors live in :mod:`otel_llm_cost.instrumentation`, the extension
point for code that wants to see every call in :mod:`otel_llm_cost.observers`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
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

#: Where each public name lives. Imported on first use (PEP 562), so that a command that
#: needs none of them (``otel-llm-cost report`` reads the ledger only) does not pay for the
#: OpenTelemetry SDK, wrapt and the session machinery at start-up.
_HOMES = {
    "Cost": "cost", "format_usd": "cost", "price_usage": "cost",
    "add_aliases": "pricing", "get_catalog": "pricing", "load_prices": "pricing",
    "CallRecord": "record", "Usage": "usage",
    **dict.fromkeys(("BudgetExceeded", "Session", "SessionScope", "SessionSummary", "UsageSummary", "configure",
                     "current_usage", "end_session", "session", "track"), "sessions"),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


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


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

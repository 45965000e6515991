"""Exact LLM usage and cost in every LangServe response, and a client to read it.

Server, one line instead of ``langserve.add_routes``::

    from otel_llm_cost.integrations.langserve import add_routes
    add_routes(app, rag_chain, path="/rag")

Client::

    from otel_llm_cost.integrations.langserve import capture_usage
    with capture_usage(remote) as usage:
        remote.invoke({"question": "..."})
    usage.last.usage["cost_usd"]

The parts, for apps that compose them differently: :func:`with_usage` (the Runnable
wrapper that tallies each invocation), :class:`LangServeUsageMiddleware` (writes the
tallies into responses). The numbers need the session processor on the tracer
provider (``otel_llm_cost.configure()``) and the provider instrumentations on.
See docs/langserve.md.
"""

from __future__ import annotations

import logging
from typing import Any

from ._langchain_runnable import UsageBinding, with_usage
from ._langserve_asgi import BUDGETS_KEY, USAGE_KEY, LangServeUsageMiddleware
from ._langserve_client import RemoteUsage, UsageCapture, capture_usage

__all__ = [
    "add_routes",
    "with_usage",
    "UsageBinding",
    "LangServeUsageMiddleware",
    "capture_usage",
    "UsageCapture",
    "RemoteUsage",
    "USAGE_KEY",
    "BUDGETS_KEY",
]

_log = logging.getLogger("otel_llm_cost")


def install_middleware(app: Any, budgets: bool = False) -> bool:
    """Add :class:`LangServeUsageMiddleware` to a Starlette/FastAPI app once (with
    ``budgets=True`` if any caller asked for it); False if not an app."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    if not isinstance(app, Starlette):
        return False
    ours = [m for m in app.user_middleware if m.cls is LangServeUsageMiddleware]
    if not ours:
        app.add_middleware(LangServeUsageMiddleware, budgets=budgets)
    elif budgets and not ours[0].kwargs.get("budgets"):
        # Before the app starts its middleware list is plain data: the one entry is replaced.
        app.user_middleware[app.user_middleware.index(ours[0])] = Middleware(LangServeUsageMiddleware, budgets=True)
    return True


def add_routes(app: Any, runnable: Any, *args: Any, budgets: bool = False, **kwargs: Any) -> None:
    """``langserve.add_routes`` with usage and cost in the responses; same arguments.

    ``budgets=True`` also puts, beside the usage, where the declared budgets the request's
    calls fell under stand (``metadata.budgets``; see ``otel_llm_cost.budgets``).
    On an ``APIRouter`` (no middleware there) add ``LangServeUsageMiddleware`` to the
    app that includes the router yourself.
    """
    import langserve

    if not install_middleware(app, budgets):
        _log.info("otel_llm_cost: %r is not an app; add LangServeUsageMiddleware to the app "
                  "that includes it, or responses will carry no usage", type(app).__name__)
    langserve.add_routes(app, with_usage(runnable), *args, **kwargs)

"""An ASGI middleware that collects each HTTP request's LLM usage for ``current_usage()``."""

from __future__ import annotations

from typing import Any

from ._context import track

__all__ = ["UsageMiddleware"]


class UsageMiddleware:
    """Open a ``track()`` scope around every HTTP request.

    Plain ASGI (no ``BaseHTTPMiddleware``), so the scope is in the very context the
    endpoint runs in, and sync endpoints get it through Starlette's threadpool, which
    copies the context. Handlers then call ``otel_llm_cost.current_usage()``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        with track():
            await self.app(scope, receive, send)

"""Extension points the session layer plugs into, without the instrumentations importing it.

The instrumentations call these on every LLM call; with nothing registered each is a
loop over an empty tuple. Registered functions are ours (the session module), so a
failure in them is logged and swallowed — except :class:`BudgetExceeded`, which a
hard budget raises from ``before_call`` on purpose, before any request is sent.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

_log = logging.getLogger("otel_llm_cost")

_before_call: tuple[Callable[[], None], ...] = ()
_span_attributes: tuple[Callable[[], Mapping[str, Any]], ...] = ()
_before_end: tuple[Callable[[Any, dict, Any, Any], None], ...] = ()


class BudgetExceeded(RuntimeError):
    """Raised before an LLM call is sent when its session is over a hard budget."""


def register(*, before_call: Callable[[], None] | None = None,
             span_attributes: Callable[[], Mapping[str, Any]] | None = None,
             before_end: Callable[[Any, dict, Any, Any], None] | None = None) -> None:
    """Add hooks (idempotent per function object)."""
    global _before_call, _span_attributes, _before_end
    if before_call is not None and before_call not in _before_call:
        _before_call = _before_call + (before_call,)
    if span_attributes is not None and span_attributes not in _span_attributes:
        _span_attributes = _span_attributes + (span_attributes,)
    if before_end is not None and before_end not in _before_end:
        _before_end = _before_end + (before_end,)


def before_call() -> None:
    """Run before a request is sent; only :class:`BudgetExceeded` escapes."""
    for hook in _before_call:
        try:
            hook()
        except BudgetExceeded:
            raise
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error in a before-call hook (ignored)")


def span_attributes() -> dict[str, Any]:
    """Attributes every LLM span of the current context carries (session.id, user.id …)."""
    if not _span_attributes:
        return {}
    out: dict[str, Any] = {}
    for hook in _span_attributes:
        try:
            out.update(hook())
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error in a span-attributes hook (ignored)")
    return out


def before_end(span: Any, attributes: dict, cost: Any, usage: Any) -> None:
    """Run on a live span right before it ends, with its final attributes, cost and usage."""
    for hook in _before_end:
        try:
            hook(span, attributes, cost, usage)
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error in a before-end hook (ignored)")

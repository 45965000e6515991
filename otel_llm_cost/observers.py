"""The one extension point: code that wants to see every LLM call.

An observer receives each finished call as a :class:`~otel_llm_cost.record.CallRecord`
(``on_call_end``), in the thread that ended the call, right before our span ends —
whether or not the span is sampled, because accounting must not depend on tracing
decisions. It may also look at a call before its request is sent
(``before_call``): returning attributes puts them on the call's span, and raising
:class:`CallRefused` (for example :class:`~otel_llm_cost.sessions.BudgetExceeded`)
stops the request from being sent — the only way our code may raise into the
application. Any other exception of an observer is logged and swallowed.

Sessions and budgets are observers; the per-call metrics are recorded from the same
record. Modeled on ``opentelemetry-util-genai``'s completion hook: a small typed
protocol, called through a wrapper that can never break the application.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from .record import CallRecord

__all__ = ["CallObserver", "CallRefused", "add_observer", "remove_observer", "before_call", "started", "notify"]

_log = logging.getLogger("otel_llm_cost")


class CallRefused(RuntimeError):
    """Raised by an observer's ``before_call`` to stop a call before it is sent."""


@runtime_checkable
class CallObserver(Protocol):
    """Sees every LLM call; both methods must be cheap and must not block."""

    def before_call(self) -> Mapping[str, Any] | None:
        """Before the request: attributes for the span, or raise :class:`CallRefused`."""

    def on_call_end(self, record: CallRecord) -> None:
        """After the response (or the failure), before the span ends."""


_observers: tuple[CallObserver, ...] = ()
#: The observers' optional ``on_call_start`` hooks, found when one is added, not per call.
_start_hooks: tuple[tuple[CallObserver, Any], ...] = ()
_lock = threading.Lock()
#: Per thread, between ``before_call`` and the call's start (synchronous: no await
#: between them): the request being opened, and what an observer holds for the call
#: until it ends (a hard budget's reservation). A thread-local, not a ContextVar: no
#: allocation per call.
_pending = threading.local()


def _after_fork_in_child() -> None:
    """A forked child gets a fresh lock: a thread of the parent may have held this one
    at the fork, and the child's copy would then never be released. The registered
    observers are kept (the tuple is replaced whole, never mutated in place)."""
    global _lock, _pending
    _lock = threading.Lock()
    _pending = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def add_observer(observer: CallObserver) -> None:
    """Register ``observer`` (once; adding it again does nothing)."""
    global _observers
    with _lock:
        if observer not in _observers:
            _set((*_observers, observer))


def remove_observer(observer: CallObserver) -> None:
    with _lock:
        _set(tuple(o for o in _observers if o is not observer))


def _set(registered: tuple[CallObserver, ...]) -> None:
    """Replace the registered observers (lock held); each tuple is replaced whole, never mutated."""
    global _observers, _start_hooks
    hooks = []
    for observer in registered:
        hook = getattr(observer, "on_call_start", None)
        if hook is not None:
            hooks.append((observer, hook))
    _start_hooks = tuple(hooks)
    _observers = registered


def observers() -> tuple[CallObserver, ...]:
    return _observers


def request() -> Any:
    """The keywords of the SDK call being opened (for ``before_call``), or None."""
    return getattr(_pending, "request", None)


def hold(held: Any) -> None:
    """From ``before_call``: something to give back when the call ends (it has ``release()``)."""
    _pending.held = held


def take_held() -> Any:
    """What ``before_call`` held for the call now starting (it goes on the call)."""
    held = getattr(_pending, "held", None)
    if held is not None:
        _pending.held = None
    return held


def _release_held() -> None:
    held = take_held()
    if held is not None:
        try:
            held.release()
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error releasing %r (ignored)", held)


def before_call(request: Any = None) -> dict[str, Any]:
    """Run every observer's ``before_call``; only :class:`CallRefused` escapes.

    ``request``: the SDK method's keywords, which an observer may read through
    :func:`request` (a hard budget reserves the call's worst case from them).
    """
    if getattr(_pending, "held", None) is not None:
        _release_held()  # a hold nobody took (a refused or untraced call): given back
    _pending.request = request
    out: dict[str, Any] = {}
    for observer in _observers:
        try:
            attributes = observer.before_call()
        except CallRefused:
            _pending.request = None
            _release_held()
            raise
        except Exception:  # noqa: BLE001 - an observer's bug must not reach the application
            _log.exception("otel_llm_cost: error in %r.before_call (ignored)", observer)
            continue
        if attributes:
            out.update(attributes)
    _pending.request = None
    return out


def started(context: Any) -> None:
    """A call's span has started in ``context``: run each observer's optional
    ``on_call_start(context)``. Every started call is later ended (``notify``), so an
    observer can count calls in flight — sessions wait for streams read after their block."""
    for observer, hook in _start_hooks:
        try:
            hook(context)
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error in %r.on_call_start (ignored)", observer)


def notify(record: CallRecord) -> None:
    """Hand ``record`` to every observer; errors are logged and swallowed."""
    for observer in _observers:
        try:
            observer.on_call_end(record)
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error in %r.on_call_end (ignored)", observer)

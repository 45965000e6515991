"""Process exit: calls still open are ended, and queued telemetry is flushed.

Two ways a process loses what it has not exported yet:

* **Normal exit with a stream half-read.** The SDK's ``TracerProvider`` shuts down at
  ``atexit``; a call whose stream was never finished has not ended, so its span and its
  cost never reach the exporter. We register, after the providers exist (at the first
  LLM call), an ``atexit`` hook that ends every call still open (``partial``) — atexit
  runs hooks last-registered first, so ours runs before the providers' shutdown.
* **SIGTERM with Python's default action** (``docker stop``, Kubernetes, systemd on a
  plain process): the process dies at once, no ``atexit``, and every span queued in the
  ``BatchSpanProcessor`` is lost. :func:`install_sigterm_flush` (run by ``configure()``
  and the zero-code hook) installs a handler *only if the application has none*
  (``SIG_DFL``): it ends open calls, flushes the global providers (at most
  :data:`FLUSH_TIMEOUT_S`), then restores the default action and re-sends SIGTERM to
  itself, so the process still dies by SIGTERM with the exit status it always had.
  An application that handles SIGTERM itself keeps its handler; it should flush there.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import weakref
from typing import Any

__all__ = ["track_open", "untrack", "end_open_calls", "install_sigterm_flush", "FLUSH_TIMEOUT_S"]

_log = logging.getLogger("otel_llm_cost")

#: Longest a SIGTERM waits for the flush (``docker stop`` allows 10 s before SIGKILL).
FLUSH_TIMEOUT_S = 5.0

_open: weakref.WeakSet[Any] = weakref.WeakSet()
_atexit_registered = False


def track_open(call: Any) -> None:
    """Note a call that has started; the first one registers the atexit hook."""
    global _atexit_registered
    _open.add(call)
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(end_open_calls)


def untrack(call: Any) -> None:
    _open.discard(call)


def end_open_calls() -> int:
    """End every call still open (marked ``partial``); returns how many."""
    ended = 0
    for call in list(_open):
        try:
            call.partial = True
            call.end()
            ended += 1
        except Exception:  # noqa: BLE001 - at exit, never raise
            _log.exception("otel_llm_cost: error ending an open call at exit (ignored)")
    return ended


def _flush_providers(timeout_s: float) -> None:
    from opentelemetry import metrics, trace

    millis = int(timeout_s * 1000)
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        flush = getattr(provider, "force_flush", None)
        if flush is None:
            continue
        try:
            flush(millis)
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error flushing telemetry on SIGTERM (ignored)")


def _on_sigterm(signum: int, frame: Any) -> None:
    try:
        end_open_calls()
        _flush_providers(FLUSH_TIMEOUT_S)
    finally:
        # Then exactly what would have happened without us: the default action.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def install_sigterm_flush() -> bool:
    """Flush on SIGTERM if the application left it to the default action; whether installed."""
    if not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
        return False  # signal handlers can only be set from the main thread
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is _on_sigterm:
            return True
        if current is not signal.SIG_DFL:
            return False  # the application's own choice (a handler, or SIG_IGN)
        signal.signal(signal.SIGTERM, _on_sigterm)
        return True
    except (ValueError, OSError):  # e.g. an embedded interpreter that owns its signals
        _log.debug("otel_llm_cost: could not install the SIGTERM flush", exc_info=True)
        return False

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

The handler runs in the main thread, between two bytecodes of whatever it interrupted —
possibly inside one of our recordings, holding the fork gate (``_recording.GATE``, a
plain lock), or inside the SDK holding a lock of its own. Waiting there for such a lock
would wait forever on the interrupted frame. So the handler does no work itself: it
hands each step to a new thread (``_thread.start_new_thread``, which takes no lock the
interrupted frame could hold) and waits for it at most a bounded time
(:data:`END_CALLS_TIMEOUT_S`, then :data:`FLUSH_TIMEOUT_S`); a step that cannot finish
because the interrupted frame holds what it needs is abandoned at its bound, and the
process dies by SIGTERM all the same. The flush runs even when ending the open calls
could not finish, so the spans already queued still leave.
"""

from __future__ import annotations

import _thread
import atexit
import contextvars
import logging
import os
import signal
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["track_open", "untrack", "end_open_calls", "install_sigterm_flush", "FLUSH_TIMEOUT_S",
           "END_CALLS_TIMEOUT_S"]

_log = logging.getLogger("otel_llm_cost")

#: Longest a SIGTERM waits for the flush (``docker stop`` allows 10 s before SIGKILL).
FLUSH_TIMEOUT_S = 5.0
#: Longest a SIGTERM waits for the open calls to end before flushing what is queued.
END_CALLS_TIMEOUT_S = 1.0

#: Weak references to the calls still open. A plain set of ``weakref.ref`` whose
#: callback drops a dead one (what ``weakref.WeakSet`` does, without its Python-level
#: bookkeeping on every call): two C calls per LLM call.
_open: set[weakref.ref[Any]] = set()
_atexit_registered = False


def track_open(call: Any) -> None:
    """Note a call that has started; the first one registers the atexit hook."""
    global _atexit_registered
    _open.add(weakref.ref(call, _open.discard))
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(end_open_calls)


def untrack(call: Any) -> None:
    # A new reference to the same live object is equal to the stored one.
    _open.discard(weakref.ref(call))


def end_open_calls() -> int:
    """End every call still open (marked ``partial``); returns how many."""
    ended = 0
    for ref in list(_open):
        call = ref()
        if call is None:
            continue
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


def _in_a_thread(work: Callable[[], object], timeout_s: float) -> bool:
    """Run ``work`` in a new thread and wait for it at most ``timeout_s``; whether it finished.

    ``_thread`` rather than ``threading.Thread``: starting the latter takes the threading
    module's own lock, which the interrupted frame may hold (it may be starting a thread).
    """
    done = _thread.allocate_lock()
    done.acquire()
    context = contextvars.copy_context()  # the interrupted frame's, as if it ran here

    def run() -> None:
        try:
            context.run(work)
        except Exception:  # noqa: BLE001 - on the way out, never raise
            _log.exception("otel_llm_cost: error while flushing on SIGTERM (ignored)")
        finally:
            done.release()

    _thread.start_new_thread(run, ())
    return done.acquire(timeout=timeout_s)


def _on_sigterm(signum: int, frame: Any) -> None:
    try:
        if not _in_a_thread(end_open_calls, END_CALLS_TIMEOUT_S):
            _log.warning("otel_llm_cost: SIGTERM: the calls still open could not be ended in %.0f s; "
                         "flushing what is queued", END_CALLS_TIMEOUT_S)
        _in_a_thread(lambda: _flush_providers(FLUSH_TIMEOUT_S), FLUSH_TIMEOUT_S + 1.0)
    except Exception:  # noqa: BLE001 - e.g. no thread could be started: die as without us
        pass
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

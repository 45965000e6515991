"""Work our finalizers hand off, so that nothing of ours runs under a lock it may hold.

A stream proxy's ``__del__`` ends its call (a stream broken out of and dropped). The
cyclic garbage collector runs finalizers at whatever allocation triggers it — also one
made while the same thread is inside a lock: the session store's, a metric
instrument's. Ending a call there would take that lock again and wait on itself. So
a finalizer ends its call at once only when it runs at a point of the program (the
last reference dropped), and during a cyclic collection only puts the work on a
``queue.SimpleQueue`` — whose ``put`` is documented safe from ``__del__`` and weakref
callbacks — for a daemon thread of ours to do outside any lock.

The thread is started at a safe point (when a stream proxy is made), never from a
finalizer; a forked child starts its own at its first stream.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ensure_worker", "run_or_hand_off", "wait_idle"]

_log = logging.getLogger("otel_llm_cost")

_pending: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.SimpleQueue()
#: True while the cyclic collector runs in this process (set by a ``gc.callbacks`` hook).
_collecting = False
_started = False
_start_lock = threading.Lock()
_hooked = False


def _on_gc(phase: str, info: Any) -> None:
    global _collecting
    _collecting = phase == "start"


def ensure_worker() -> None:
    """Start the worker thread if this process has none yet (cheap when it has)."""
    if not _started:
        _start()


def _start() -> None:
    global _started, _hooked
    with _start_lock:
        if _started:
            return
        if not _hooked:
            gc.callbacks.append(_on_gc)
            _hooked = True
        threading.Thread(target=_work, name="otel_llm_cost-finalizers", daemon=True).start()
        _started = True


def run_or_hand_off(fn: Callable[..., Any], *args: Any) -> None:
    """From a finalizer: run ``fn(*args)`` now, or hand it to the worker during a collection."""
    if not _collecting:
        fn(*args)
    else:
        _pending.put((fn, args))


def _work() -> None:
    while True:
        item = _pending.get()
        if item is None:
            return
        fn, args = item
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - never let our bug reach the application
            _log.exception("otel_llm_cost: error ending a collected stream's call (ignored)")


def wait_idle(timeout_s: float = 5.0) -> bool:
    """Wait until the work handed off so far is done (the queue is first in, first out)."""
    ensure_worker()
    done = threading.Event()
    _pending.put((done.set, ()))
    return done.wait(timeout_s)


def _after_fork_in_child() -> None:
    """The parent's worker thread is not in the child, and the parent's pending work is
    the parent's: a fresh queue, and a worker started at the child's first stream."""
    global _pending, _started, _start_lock, _collecting
    _pending = queue.SimpleQueue()
    _started = False
    _collecting = False
    _start_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

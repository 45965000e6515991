"""The gate our metric recordings pass through, closed while the process forks.

Recording a metric point takes the OpenTelemetry SDK's own locks (the aggregation's,
its exemplar reservoir's). ``fork()`` copies only the forking thread: a lock another
thread held at that instant stays held for ever in the child, whose first LLM call
then hangs in ``Counter.add`` (opentelemetry-python issue 4345). Those locks are the
SDK's, and we neither replace nor patch them. Instead every recording of ours holds
:data:`GATE`, and ``os.register_at_fork`` takes it before the fork and gives it back
after, in parent and child: the fork waits for the recordings in progress to finish
and none starts until it is done, so no thread of ours is inside the SDK's locks when
it happens. A plain lock: one uncontended acquire per recorded call.

What the gate cannot cover — the SDK's metric reader collecting in its own thread, or
the application recording its own instruments — is said in ``docs/reliability.md``.
"""

from __future__ import annotations

import os
import threading

__all__ = ["GATE"]

#: Held around each call's (or session's) metric recordings, and across ``fork()``.
GATE = threading.Lock()


def _before_fork() -> None:
    GATE.acquire()


def _after_fork() -> None:
    GATE.release()  # in the child the forking thread is the holder: released as in the parent


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork()
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)

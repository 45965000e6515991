"""One workload set up three ways — bare, ours, the ``sdk-floor`` — for the counting benches.

``bench.call_counts`` (cProfile) and ``bench.instructions`` (callgrind) count the same
three loops; this holds their common set-up so both count exactly the same thing.
Ours and the floor each get telemetry of their own, as in the timed bench (one process
each): ours adds a ``SessionSpanProcessor`` to its tracer provider, which would otherwise
stay on and be counted in the floor's calls too. Nothing is ever exported: the
exporters point at a closed port, and the counting processes exit without shutdown.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: An endpoint nothing listens on: the counting processes never flush.
_NOWHERE = "http://127.0.0.1:9"


class Rig:
    """A workload's client call, and the context managers that instrument it."""

    def __init__(self, workload: str) -> None:
        from bench._transport import CannedTransport, anthropic_client, openai_client
        from bench.workloads import WORKLOADS

        fn, self.provider, _ = WORKLOADS[workload]
        self.workload = workload
        self._telemetry: dict[str, Any] = {}
        transport = CannedTransport()
        client, aclient = openai_client(transport), anthropic_client(transport)

        def call() -> None:
            fn(client, aclient)

        self.call = call

    def warm(self, n: int = 20) -> None:
        for _ in range(n):
            self.call()

    @contextmanager
    def _instrumented(self, name: str) -> Iterator[Any]:
        from bench.workloads import IMPLS

        if name not in self._telemetry:
            from bench.workloads import _telemetry

            self._telemetry[name] = _telemetry(_NOWHERE)[:2]
        tracer_provider, meter_provider = self._telemetry[name]
        kwargs = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
        impl = IMPLS[name](tracer_provider, kwargs)
        impl.workload = self.workload
        impl.instrumentors[self.provider].instrument(**kwargs)
        try:
            yield impl
        finally:
            impl.instrumentors[self.provider].uninstrument()

    @contextmanager
    def ours(self) -> Iterator[None]:
        """Ours instrumented, inside a session, as in the timed bench."""
        with self._instrumented("ours") as impl, impl.scope():
            yield

    @contextmanager
    def peer(self, name: str) -> Iterator[None]:
        """A peer instrumentation (run in its own venv, ``bench/_venvs.py``), as in the timed bench."""
        with self._instrumented(name) as impl, impl.scope():
            yield

    @contextmanager
    def floor(self) -> Iterator[None]:
        """Our span and metric points through the plain SDK, no code of ours (``bench/_floor.py``)."""
        with self._instrumented("sdk-floor"):
            yield

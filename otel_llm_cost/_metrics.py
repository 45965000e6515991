"""The per-call metrics: created once per meter provider, recorded once per LLM call.

Both our own instrumentations and the session processor (for priced foreign spans)
record through :class:`CallMetrics`, so a call is counted in one place by one rule.
Metric attributes stay low-cardinality: provider, model, operation, component,
status — plus only the span attributes a user allow-lists in
``OTEL_LLM_COST_METRIC_ATTRIBUTES`` (e.g. ``user.id,tenant``). Never ids or text.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import deque
from typing import Any, Callable, Iterable, Mapping

from opentelemetry import metrics, trace
from opentelemetry.context import Context

from . import __version__, semconv
from .cost import Cost
from .usage import Usage

__all__ = ["CallMetrics", "allowed_metric_attributes"]


def allowed_metric_attributes() -> tuple[str, ...]:
    raw = os.environ.get(semconv.ENV_METRIC_ATTRIBUTES, "")
    return tuple(k.strip() for k in raw.split(",") if k.strip())


#: Distinct attribute sets one summed counter keeps (the SDK's default cardinality limit).
_MAX_ATTRIBUTE_SETS = 2000
_OVERFLOW = (("otel.metric.overflow", True),)


#: Per SDK meter: its summed counters by name, and its ``_Deferred`` queue (key: the class).
_PER_METER: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PER_METER_LOCK = threading.Lock()
_log = logging.getLogger("otel_llm_cost")

_EMPTY_CONTEXT = Context()
#: Queued histogram points at which the background worker is woken to record them.
_DRAIN_AT = 2048
#: Queued points one meter holds at most; past this, calls record directly (the worker
#: cannot keep up), so memory stays bounded (~300 bytes a point).
_MAX_DEFERRED = 16384
#: Points the worker records per hold of the drain lock (a collection waits at most that).
_DRAIN_BATCH = 1024


def _is_sdk(meter: Any) -> bool:
    return type(meter).__module__.startswith("opentelemetry.sdk.")


def _per_meter(meter: Any, key: Any, make: Callable[[], Any]) -> Any:
    """The one object ``key`` of an SDK meter, made on first use and shared after.

    A meter keeps only the first callback registered under a name, so every
    ``CallMetrics`` on one meter (the instrumentors', the session processor's) must
    share its observable instruments and what feeds them.
    """
    with _PER_METER_LOCK:
        owned = _PER_METER.setdefault(meter, {})
        obj = owned.get(key)
        if obj is None:
            obj = owned[key] = make()
        return obj


class _Deferred:
    """The histogram points of one SDK meter, recorded into the SDK off the call's path.

    Why: the SDK's ``Histogram.record`` validates, hashes and aggregates on every point
    — three points per LLM call were a third of what we added to a call (``bench``).
    Nobody can see a point before a collection, so a call only queues its points. They
    are recorded into the same SDK histograms by whichever comes first: the first
    callback of a collection (in the reader's thread, before the SDK aggregates:
    ``SynchronousMeasurementConsumer.collect`` runs every callback first, and
    ``record`` takes none of its locks), or a background worker woken once
    ``_DRAIN_AT`` points wait (busy applications between two collections). A
    collection waits for the worker's current batch, so it exports every point queued
    before it. The exported histograms are the same points; their exemplars point to
    the LLM call's own span. Bounded: past ``_MAX_DEFERRED`` queued points, calls
    record synchronously.
    """

    __slots__ = ("_queue", "__weakref__")

    def __init__(self, meter: Any) -> None:
        self._queue: deque = deque()
        _QUEUES.add(self)
        # An observable instrument with no observations exports nothing; it exists only
        # to be called at the start of every collection of this meter's provider.
        meter.create_observable_gauge("llm_cost.internal.flush", callbacks=[self._collect])

    @classmethod
    def of(cls, meter: Any) -> "_Deferred | None":
        """The meter's one queue (``None`` off the SDK: nothing collects, record directly)."""
        return _per_meter(meter, cls, lambda: cls(meter)) if _is_sdk(meter) else None

    def put(self, record: Callable[..., None], args: tuple) -> None:
        queue = self._queue
        waiting = len(queue)
        if waiting >= _MAX_DEFERRED:
            record(*args)
            return
        queue.append((record, args))
        if waiting >= _DRAIN_AT and not _WAKE.is_set():
            _wake_worker()

    def _collect(self, options: Any = None) -> Iterable[metrics.Observation]:
        with _DRAIN_LOCK:  # the worker's batch in flight lands before this collection
            self._record(len(self._queue) + _DRAIN_BATCH)
        return ()

    def _record(self, most: int) -> None:
        pop = self._queue.popleft  # thread-safe against concurrent appends
        for _ in range(most):
            try:
                record, args = pop()
            except IndexError:
                return
            try:
                record(*args)
            except Exception:  # noqa: BLE001 - one bad point must not stop the others
                _log.exception("otel_llm_cost: error recording a histogram point (ignored)")


#: Every live queue: the worker drains them; a forked child empties them (points queued
#: before ``fork()`` are the parent's to export, as its SDK aggregations are).
_QUEUES: weakref.WeakSet = weakref.WeakSet()
_WAKE = threading.Event()
_DRAIN_LOCK = threading.Lock()
_WORKER_LOCK = threading.Lock()
_worker: threading.Thread | None = None


def _wake_worker() -> None:
    global _worker
    if _worker is None or not _worker.is_alive():
        with _WORKER_LOCK:
            if _worker is None or not _worker.is_alive():
                _worker = threading.Thread(target=_work, name="otel_llm_cost.metrics", daemon=True)
                _worker.start()
    _WAKE.set()


def _work() -> None:
    while True:
        _WAKE.wait()
        _WAKE.clear()
        for queue in list(_QUEUES):
            while queue._queue:
                with _DRAIN_LOCK:
                    queue._record(_DRAIN_BATCH)


def _forget_parents_points() -> None:
    """In a forked child: no worker (threads do not survive fork(); the child starts its
    own when needed), fresh locks (one may have been held by a parent thread), empty queues."""
    global _worker, _WAKE, _DRAIN_LOCK, _WORKER_LOCK
    _worker = None
    _WAKE, _DRAIN_LOCK, _WORKER_LOCK = threading.Event(), threading.Lock(), threading.Lock()
    for queue in list(_QUEUES):
        queue._queue.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents_points)


class _Sum:
    """A monotonic counter summed in-process and handed to the SDK when it collects.

    Why not ``Counter.add``: the SDK validates, copies and hashes the attribute dict on
    every ``add`` — 12–16 µs per call with our 6–7 attributes (CPython 3.11, SDK 1.45),
    three times per LLM call, which was a third of our whole per-call cost. An
    ``ObservableCounter`` exports the same monotonic Sum per attribute set (either
    temporality); adding becomes a dict update under a lock. Bounded like the SDK:
    past ``_MAX_ATTRIBUTE_SETS`` sets, new ones go to ``otel.metric.overflow=true``.
    """

    __slots__ = ("_lock", "_totals", "__weakref__")

    def __init__(self, meter: Any, name: str, unit: str, description: str) -> None:
        self._lock = threading.Lock()
        self._totals: dict[tuple, list] = {}
        meter.create_observable_counter(name, callbacks=[self._observe], unit=unit, description=description)

    @classmethod
    def counter(cls, meter: Any, name: str, unit: str, description: str) -> Any:
        """The meter's one summed counter ``name`` (or a plain ``Counter`` off the SDK).

        Shared by every ``CallMetrics`` on one SDK meter, as one ``Counter`` would be.
        The API's proxy meters (used before a global provider is set) are new
        objects on every ``get_meter`` and cannot be shared: they keep ``Counter``.
        """
        if not _is_sdk(meter):
            return meter.create_counter(name, unit=unit, description=description)
        return _per_meter(meter, name, lambda: cls(meter, name, unit, description))

    def add(self, amount: float, attributes: Mapping[str, Any]) -> None:
        # Our attribute dicts are built in a fixed key order, so the items are the key.
        key = tuple(attributes.items())
        with self._lock:
            entry = self._totals.get(key)
            if entry is None:
                if len(self._totals) >= _MAX_ATTRIBUTE_SETS:
                    key = _OVERFLOW
                    entry = self._totals.get(key)
                if entry is None:
                    entry = self._totals[key] = [dict(key), 0]
            entry[1] += amount

    def _observe(self, options: Any = None) -> Iterable[metrics.Observation]:
        with self._lock:
            current = [(attrs, total) for attrs, total in self._totals.values()]
        return [metrics.Observation(total, attrs) for attrs, total in current]


class CallMetrics:
    """The instruments of one meter provider, and the rule for recording a call."""

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        meter = metrics.get_meter(semconv.SCOPE_NAME, __version__, meter_provider)
        self.token_usage = meter.create_histogram(
            semconv.METRIC_TOKEN_USAGE,
            unit=semconv.UNIT_TOKEN,
            description="Number of input and output tokens used per LLM call.",
            explicit_bucket_boundaries_advisory=list(semconv.TOKEN_USAGE_BUCKETS),
        )
        self.duration = meter.create_histogram(
            semconv.METRIC_OPERATION_DURATION,
            unit=semconv.UNIT_SECONDS,
            description="Duration of LLM client operations.",
            explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS),
        )
        self.spend = _Sum.counter(meter, semconv.METRIC_SPEND, semconv.UNIT_USD,
                                  "Exact spend on LLM calls, by cost component.")
        self.cache_savings = _Sum.counter(meter, semconv.METRIC_CACHE_SAVINGS, semconv.UNIT_USD,
                                          "What cache reads saved against the input rate.")
        self.calls = _Sum.counter(meter, semconv.METRIC_CALLS, semconv.UNIT_CALL,
                                  "LLM calls, by pricing status and usage source.")
        self.extra_keys = allowed_metric_attributes()
        self._sets: dict[tuple, _AttributeSets] = {}
        self._deferred = _Deferred.of(meter)

    def record(
        self,
        span_attributes: Mapping[str, Any],
        usage: Usage | None,
        cost: Cost,
        duration_s: float | None,
        span_context: Any = None,
    ) -> None:
        """Record one finished call, described by its span attributes.

        ``span_context`` is the call's span's, which histogram exemplars point to.
        """
        get = span_attributes.get
        source = usage.source if usage is not None else semconv.SOURCE_REPORTED
        key = (
            get(semconv.GEN_AI_PROVIDER_NAME) or get(semconv.GEN_AI_SYSTEM) or "unknown",
            get(semconv.GEN_AI_OPERATION_NAME) or "unknown",
            get(semconv.GEN_AI_REQUEST_MODEL) or "unknown",
            get(semconv.GEN_AI_RESPONSE_MODEL) or None,
            get(semconv.ERROR_TYPE) or None,
            cost.status,
            source,
        )
        sets = self._sets.get(key) if not self.extra_keys and _plain(key) else None
        if sets is None:
            sets = _AttributeSets(key, span_attributes, self.extra_keys)
            if not self.extra_keys and _plain(key):
                if len(self._sets) >= _MAX_CACHED_SETS:
                    self._sets.clear()
                self._sets[key] = sets
        if duration_s is not None or usage is not None:
            tokens = None if usage is None else (usage.input_tokens, usage.output_tokens)
            args = (duration_s, tokens, sets, span_context)
            if self._deferred is None:
                self._histograms(*args)
            else:
                self._deferred.put(self._histograms, args)
        self.calls.add(1, sets.status)
        for component, usd in cost.components.items():
            if usd:
                # The counter API takes a float; the exact value lives on the span.
                self.spend.add(float(usd), sets.component(component))
        if cost.cache_savings:
            self.cache_savings.add(float(cost.cache_savings), sets.base)

    def _histograms(self, duration_s: float | None, tokens: tuple[int, int] | None,
                    sets: "_AttributeSets", span_context: Any) -> None:
        # Built here, where it may run in the reader's thread: the queue keeps only the
        # small SpanContext, never the span (nor the context holding it).
        context = _EMPTY_CONTEXT if span_context is None else trace.set_span_in_context(
            trace.NonRecordingSpan(span_context), _EMPTY_CONTEXT)
        if duration_s is not None:
            self.duration.record(duration_s, sets.timing, context=context)
        if tokens is not None:
            self.token_usage.record(tokens[0], sets.input, context=context)
            self.token_usage.record(tokens[1], sets.output, context=context)


#: Distinct (provider, operation, model, … status) combinations whose dicts are kept.
_MAX_CACHED_SETS = 1024


def _plain(key: tuple) -> bool:
    """Cacheable: every part a str or None (no unhashable values, no ``1 == True`` clash)."""
    for part in key:
        if part is not None and type(part) is not str:
            return False
    return True


class _AttributeSets:
    """The metric attribute dicts of one kind of call, built once and reused.

    Metric attributes are low-cardinality by design, so the same few dicts serve every
    call of a kind; the dicts are never mutated after they are built.
    """

    __slots__ = ("base", "timing", "input", "output", "status", "_components")

    def __init__(self, key: tuple, span_attributes: Mapping[str, Any], extra_keys: tuple[str, ...]) -> None:
        provider, operation, model, response_model, error_type, status, source = key
        base = {
            semconv.GEN_AI_PROVIDER_NAME: provider,
            semconv.GEN_AI_OPERATION_NAME: operation,
            semconv.GEN_AI_REQUEST_MODEL: model,
        }
        for extra in extra_keys:
            value = span_attributes.get(extra)
            if isinstance(value, (str, bool, int, float)):
                base[extra] = value
        timing = dict(base)
        if response_model:
            timing[semconv.GEN_AI_RESPONSE_MODEL] = response_model
        if error_type:
            timing[semconv.ERROR_TYPE] = error_type
        self.base = base
        self.timing = timing
        self.input = {**timing, semconv.GEN_AI_TOKEN_TYPE: "input"}
        self.output = {**timing, semconv.GEN_AI_TOKEN_TYPE: "output"}
        self.status = {**base, semconv.LLM_COST_STATUS: status, semconv.LLM_COST_USAGE_SOURCE: source}
        if error_type:
            self.status[semconv.ERROR_TYPE] = error_type
        self._components: dict[str, dict[str, Any]] = {}

    def component(self, component: str) -> dict[str, Any]:
        attrs = self._components.get(component)
        if attrs is None:
            attrs = self._components[component] = {**self.base, semconv.LLM_COST_COMPONENT: component}
        return attrs

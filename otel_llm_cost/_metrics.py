"""The per-call metrics: created once per meter provider, recorded once per LLM call.

Both our own instrumentations and the session processor (for priced foreign spans)
record through :class:`CallMetrics`, so a call is counted in one place by one rule.
Metric attributes stay low-cardinality: provider, model, operation, component,
status — plus only the span attributes a user allow-lists in
``OTEL_LLM_COST_METRIC_ATTRIBUTES`` (e.g. ``user.id,tenant``). Never ids or text.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, Iterable, Mapping

from opentelemetry import metrics

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


_SUMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SUMS_LOCK = threading.Lock()


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

        A meter keeps only the first callback registered under a name, so every
        ``CallMetrics`` on one SDK meter (the instrumentors', the session
        processor's) must share one ``_Sum``, as they would share one ``Counter``.
        The API's proxy meters (used before a global provider is set) are new
        objects on every ``get_meter`` and cannot be shared: they keep ``Counter``.
        """
        if not type(meter).__module__.startswith("opentelemetry.sdk."):
            return meter.create_counter(name, unit=unit, description=description)
        with _SUMS_LOCK:
            sums = _SUMS.setdefault(meter, {})
            if name not in sums:
                sums[name] = cls(meter, name, unit, description)
            return sums[name]

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

    def record(
        self,
        span_attributes: Mapping[str, Any],
        usage: Usage | None,
        cost: Cost,
        duration_s: float | None,
    ) -> None:
        """Record one finished call, described by its span attributes."""
        base = {
            semconv.GEN_AI_PROVIDER_NAME: span_attributes.get(semconv.GEN_AI_PROVIDER_NAME)
            or span_attributes.get(semconv.GEN_AI_SYSTEM) or "unknown",
            semconv.GEN_AI_OPERATION_NAME: span_attributes.get(semconv.GEN_AI_OPERATION_NAME) or "unknown",
            semconv.GEN_AI_REQUEST_MODEL: span_attributes.get(semconv.GEN_AI_REQUEST_MODEL) or "unknown",
        }
        for key in self.extra_keys:
            value = span_attributes.get(key)
            if isinstance(value, (str, bool, int, float)):
                base[key] = value
        error_type = span_attributes.get(semconv.ERROR_TYPE)
        timing = dict(base)
        if span_attributes.get(semconv.GEN_AI_RESPONSE_MODEL):
            timing[semconv.GEN_AI_RESPONSE_MODEL] = span_attributes[semconv.GEN_AI_RESPONSE_MODEL]
        if error_type:
            timing[semconv.ERROR_TYPE] = error_type
        if duration_s is not None:
            self.duration.record(duration_s, timing)
        if usage is not None:
            self.token_usage.record(usage.input_tokens, {**timing, semconv.GEN_AI_TOKEN_TYPE: "input"})
            self.token_usage.record(usage.output_tokens, {**timing, semconv.GEN_AI_TOKEN_TYPE: "output"})
        status = {
            **base,
            semconv.LLM_COST_STATUS: cost.status,
            semconv.LLM_COST_USAGE_SOURCE: usage.source if usage is not None else semconv.SOURCE_REPORTED,
        }
        if error_type:
            status[semconv.ERROR_TYPE] = error_type
        self.calls.add(1, status)
        for component, usd in cost.components.items():
            if usd:
                # The counter API takes a float; the exact value lives on the span.
                self.spend.add(float(usd), {**base, semconv.LLM_COST_COMPONENT: component})
        if cost.cache_savings:
            self.cache_savings.add(float(cost.cache_savings), base)

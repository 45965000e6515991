"""The per-call metrics: created once per meter provider, recorded once per LLM call.

Plain SDK instruments — two semantic-convention ``Histogram`` s and the cost
``Counter`` s — recorded in the call's own context, so exemplars point to the call's
span and a user's ``View`` s select and re-aggregate them like any other instrument.
The duration histogram carries the call's pricing status and usage source, so its
count is the call count the unpriced and estimated-usage alerts divide; the separate
``llm_cost.calls`` counter is opt-in (``docs/metrics.md``: every point costs the SDK
about 10 µs). Our own
instrumentations and the session processor (for priced foreign spans) record through
:meth:`CallMetrics.on_call_end`, from a :class:`~otel_llm_cost.record.CallRecord`, so
a call is counted in one place by one rule. Metric attributes stay low-cardinality:
provider, model, operation, component, status — plus only the span attributes a user
allow-lists (``metric_attributes`` in :mod:`otel_llm_cost.config`, e.g.
``user.id,tenant``). Never ids or text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context

from . import semconv
from ._recording import GATE
from ._version import __version__
from .cost import Cost
from .record import CallRecord
from .usage import Usage

__all__ = ["CallMetrics"]

_EMPTY_CONTEXT = Context()


class CallMetrics:
    """The instruments of one meter provider, and the rule for recording a call."""

    def __init__(self, meter_provider: metrics.MeterProvider | None = None,
                 metric_attributes: tuple[str, ...] = (), calls: bool = False) -> None:
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
        self.spend = meter.create_counter(semconv.METRIC_SPEND, unit=semconv.UNIT_USD,
                                          description="Exact spend on LLM calls, by cost component.")
        self.cache_savings = meter.create_counter(
            semconv.METRIC_CACHE_SAVINGS, unit=semconv.UNIT_USD,
            description="What cache reads saved against the input rate.")
        self.calls = meter.create_counter(semconv.METRIC_CALLS, unit=semconv.UNIT_CALL,
                                          description="LLM calls, by pricing status and usage source.")
        self.extra_keys = tuple(metric_attributes)
        #: Record ``llm_cost.calls`` (``metric_calls``, off by default): one point per call
        #: that repeats the duration histogram's count and labels (``docs/metrics.md``).
        self.record_calls = calls
        self._sets: dict[tuple[Any, ...], _AttributeSets] = {}
        self._response_models: set[Any] = set()

    def on_call_end(self, record: CallRecord, context: Context | None = None) -> None:
        """Record one finished call (ours or a priced foreign span); ``context``: one
        whose current span is the call's, if the caller has it at hand."""
        self.record(record.attributes, record.usage, record.cost, record.duration_s,
                    span=record.span, span_context=record.span_context, context=context)

    def record(
        self,
        span_attributes: Mapping[str, Any],
        usage: Usage | None,
        cost: Cost,
        duration_s: float | None,
        *,
        span: Any = None,
        span_context: Any = None,
        context: Context | None = None,
    ) -> None:
        """Record one finished call, described by its span attributes.

        Recorded in the call's context (``context``, whose current span is the call's;
        else one made for its live ``span``, or a non-recording span for
        ``span_context``), which exemplars point to.
        """
        get = span_attributes.get
        source = usage.source if usage is not None else semconv.SOURCE_REPORTED
        response_model = get(semconv.GEN_AI_RESPONSE_MODEL) or None
        if type(response_model) is str and response_model not in self._response_models:
            # The reply names the model: a proxy or a bug can send a new one each call,
            # and every distinct value is a series the SDK keeps in memory.
            if len(self._response_models) < semconv.MAX_METRIC_RESPONSE_MODELS:
                self._response_models.add(response_model)
            else:
                response_model = semconv.OVERFLOW_VALUE
        floor = semconv.ESTIMATE_LOWER_BOUND if usage is not None and usage.lower_bound else None
        key = (
            get(semconv.GEN_AI_PROVIDER_NAME) or get(semconv.GEN_AI_SYSTEM) or "unknown",
            get(semconv.GEN_AI_OPERATION_NAME) or "unknown",
            get(semconv.GEN_AI_REQUEST_MODEL) or "unknown",
            response_model,
            get(semconv.ERROR_TYPE) or None,
            cost.status,
            source,
            floor,
        )
        sets = None
        if not self.extra_keys:
            try:
                # Only plain keys are ever stored, and a plain key equals only a plain key:
                # the lookup comes first, the check only for a key not cached yet.
                sets = self._sets.get(key)
            except TypeError:  # an unhashable attribute value (a list): not cached
                pass
        if sets is None:
            sets = _AttributeSets(key, span_attributes, self.extra_keys)
            if not self.extra_keys and _plain(key):
                if len(self._sets) >= _MAX_CACHED_SETS:
                    self._sets.clear()
                self._sets[key] = sets
        if context is not None:
            pass
        elif span is not None:
            context = trace.set_span_in_context(span, _EMPTY_CONTEXT)
        elif span_context is not None:
            context = trace.set_span_in_context(trace.NonRecordingSpan(span_context), _EMPTY_CONTEXT)
        else:
            context = _EMPTY_CONTEXT
        with GATE:  # a fork waits for this recording: see _recording
            if duration_s is not None:
                self.duration.record(duration_s, sets.status, context=context)
            if usage is not None:
                self.token_usage.record(usage.input_tokens, sets.input, context=context)
                if sets.output is not None:
                    self.token_usage.record(usage.output_tokens, sets.output, context=context)
            if self.record_calls:
                self.calls.add(1, sets.calls, context=context)
            components = sets._components
            for component, usd in cost.components.items():
                if usd:
                    # The counter API takes a float; the exact value lives on the span.
                    self.spend.add(float(usd), components.get(component) or sets.component(component),
                                   context=context)
            if cost.cache_savings:
                self.cache_savings.add(float(cost.cache_savings), sets.base, context=context)


#: Operations whose replies are not tokens: their usage has no output side to record
#: (the conventions' ``gen_ai.client.token.usage`` for embeddings is input only).
_NO_OUTPUT_OPERATIONS = frozenset({"embeddings"})

#: Distinct (provider, operation, model, … status) combinations whose dicts are kept.
_MAX_CACHED_SETS = 1024


def _plain(key: tuple[Any, ...]) -> bool:
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

    __slots__ = ("base", "input", "output", "status", "calls", "_components")

    def __init__(self, key: tuple[Any, ...], span_attributes: Mapping[str, Any], extra_keys: tuple[str, ...]) -> None:
        provider, operation, model, response_model, error_type, status, source, floor = key
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
        self.input = {**timing, semconv.GEN_AI_TOKEN_TYPE: "input"}
        #: None where the operation produces no tokens (embeddings): no output point.
        self.output: dict[str, Any] | None = (
            None if operation in _NO_OUTPUT_OPERATIONS else {**timing, semconv.GEN_AI_TOKEN_TYPE: "output"})
        labels = {semconv.LLM_COST_STATUS: status, semconv.LLM_COST_USAGE_SOURCE: source}
        if floor:  # the call's tokens and cost are "at least" figures
            labels[semconv.LLM_COST_ESTIMATE] = floor
        #: The duration histogram's attributes: its count is the call count by status.
        self.status = {**timing, **labels}
        #: The opt-in ``llm_cost.calls`` counter's, as they were when it was on by default.
        self.calls = {**base, **labels}
        if error_type:
            self.calls[semconv.ERROR_TYPE] = error_type
        self._components: dict[str, dict[str, Any]] = {}

    def component(self, component: str) -> dict[str, Any]:
        attrs = self._components.get(component)
        if attrs is None:
            attrs = self._components[component] = {**self.base, semconv.LLM_COST_COMPONENT: component}
        return attrs

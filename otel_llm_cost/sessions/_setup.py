"""Wiring: attach the session processor to SDK providers, in code or zero-code.

* zero-code — ``opentelemetry-instrument`` runs every ``opentelemetry_post_instrument``
  entry point after the configurator built the SDK providers from ``OTEL_*``
  variables; ours (:func:`post_instrument`) attaches the processor to them.
* in code — :func:`configure` builds the same providers the distro would (OTLP unless
  ``OTEL_TRACES_EXPORTER``/``OTEL_METRICS_EXPORTER`` say otherwise) when none are set
  yet, attaches the processor and turns on every installed provider instrumentation.

Both put the exporters behind
:class:`~otel_llm_cost.span_cost.CostSpanExporter`, so that GenAI spans other
instrumentations wrote leave with our cost: ``configure()`` when it builds the
providers, the zero-code path through our configurator
(:mod:`otel_llm_cost.configurator`); a provider someone else built has the exporters
public API reaches wrapped and a warning for the others (:mod:`otel_llm_cost.span_cost`).

Both are idempotent: the processor is added once per tracer provider.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import TracerProvider

from .._exit import install_sigterm_flush
from ._processor import SessionSpanProcessor

__all__ = ["install", "configure", "post_instrument"]

_log = logging.getLogger("otel_llm_cost")
_ATTR = "_otel_llm_cost_session_processor"
_OURS = "otel_llm_cost."


def install(tracer_provider: Any = None, meter_provider: Any = None) -> SessionSpanProcessor | None:
    """Add the session processor to ``tracer_provider`` (default: the global one) once.

    Returns None when the provider is not an SDK ``TracerProvider`` (the no-op proxy
    used when nothing configured OpenTelemetry): there is nothing to attach to.
    """
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        _log.warning("otel_llm_cost: no SDK TracerProvider is configured; sessions will stay empty")
        return None
    existing = getattr(provider, _ATTR, None) or _added_by_hand(provider)
    if existing is not None:
        setattr(provider, _ATTR, existing)
        return existing
    processor = SessionSpanProcessor(meter_provider if meter_provider is not None else metrics.get_meter_provider())
    provider.add_span_processor(processor)
    setattr(provider, _ATTR, processor)
    return processor


def _added_by_hand(provider: TracerProvider) -> SessionSpanProcessor | None:
    """A session processor the application added itself (``add_span_processor``)."""
    multi = getattr(provider, "_active_span_processor", None)
    for processor in getattr(multi, "_span_processors", ()):
        if isinstance(processor, SessionSpanProcessor):
            return processor
    return None


def post_instrument() -> None:
    """``opentelemetry_post_instrument`` entry point: never let a failure stop the app."""
    try:
        _report_unresolved_exporters()
        install()
        _wrap_exporters()
    except Exception:  # noqa: BLE001
        _log.exception("otel_llm_cost: could not attach the session processor")
    install_sigterm_flush()


#: The exporter variables the launcher reads -> their entry-point group.
_EXPORTER_GROUPS = {"OTEL_TRACES_EXPORTER": "opentelemetry_traces_exporter",
                    "OTEL_METRICS_EXPORTER": "opentelemetry_metrics_exporter",
                    "OTEL_LOGS_EXPORTER": "opentelemetry_logs_exporter"}
_reported: set[tuple[str, str]] = set()


def _unresolved(variable: str, name: str, installed: list[str]) -> None:
    """One line for an exporter name no installed package provides, with the closest one.

    The launcher's own report of it is a traceback among others; this line names the
    variable, the value and what was probably meant. Said once per name.
    """
    import difflib

    if (variable, name) in _reported:
        return
    _reported.add((variable, name))
    close = difflib.get_close_matches(name, installed, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else f"installed: {', '.join(installed) or 'none'}"
    _log.warning("otel_llm_cost: %s=%s: no installed exporter has that name, so nothing is exported there "
                 "(%s)", variable, name, hint)


def _report_unresolved_exporters() -> None:
    """Under ``opentelemetry-instrument``: report exporter names that resolve to nothing."""
    from importlib.metadata import entry_points

    for variable, group in _EXPORTER_GROUPS.items():
        raw = os.environ.get(variable)
        if not raw:
            continue
        installed = sorted({ep.name for ep in entry_points(group=group)})
        for name in (n.strip() for n in raw.split(",")):
            if name and name != "none" and name not in installed:
                _unresolved(variable, name, installed)


def _wrap_exporters() -> None:
    """Cost on other instrumentations' GenAI spans too, on the global provider's exporters."""
    from ..span_cost import wrap_exporters

    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        wrap_exporters(provider)


def _exporters(group: str, variable: str) -> list[Any]:
    """The exporters named in ``variable`` (default ``otlp``), loaded from their entry points
    as ``opentelemetry-instrument`` does; ``none`` names none. An unknown name is logged."""
    from importlib.metadata import entry_points

    names = [n.strip() for n in os.environ.get(variable, "otlp").split(",") if n.strip()]
    out = []
    for name in names:
        if name == "none":
            continue
        available = entry_points(group=group)
        found = [ep for ep in available if ep.name == name]
        if not found:
            _unresolved(variable, name, sorted({ep.name for ep in available}))
            continue
        try:
            out.append(found[0].load()())
        except Exception:  # noqa: BLE001 - a broken exporter must not stop the application
            _log.exception("otel_llm_cost: could not start the %s exporter %r", group, name)
    return out


def _build_sdk_providers() -> None:
    """SDK providers from the standard ``OTEL_*`` variables (OTLP by default), set globally."""
    from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    from ..configurator import cost_batch_processor

    resource = Resource.create()
    tracer_provider = TracerProvider(resource=resource)
    for exporter in _exporters("opentelemetry_traces_exporter", OTEL_TRACES_EXPORTER):
        tracer_provider.add_span_processor(cost_batch_processor(exporter))
    trace.set_tracer_provider(tracer_provider)
    readers = [e if isinstance(e, MetricReader) else PeriodicExportingMetricReader(e)
               for e in _exporters("opentelemetry_metrics_exporter", OTEL_METRICS_EXPORTER)]
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))


def _instrument_providers() -> list[str]:
    """Turn on each of our ``opentelemetry_instrumentor`` entry points whose SDK is installed.

    An SDK that is not installed is skipped quietly (a debug line): most applications
    use one or two of the SDKs we support. Instrumenting never imports the SDK itself;
    the wrappers are put in place when the application imports it.
    """
    from importlib.metadata import entry_points

    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    done = []
    for ep in entry_points(group="opentelemetry_instrumentor"):
        if not ep.value.startswith(_OURS):
            continue
        try:
            instrumentor = ep.load()()
            conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
            if conflict is not None:
                _log.debug("otel_llm_cost: not instrumenting %s: %s", ep.name, conflict)
                continue
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument()
            done.append(ep.name)
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: could not instrument %s", ep.name)
    return done


def configure(
    *,
    capture_content: bool | None = None,
    openai_include_usage: bool | None = None,
    prices_files: Any = None,
    model_aliases: Any = None,
    metric_attributes: Any = None,
    tiktoken_dir: Any = None,
    provider_hosts: Any = None,
    price_source: str | None = None,
    fallback_prices_files: Any = None,
    trust_baggage: bool | None = None,
    proposed_cost_attributes: bool | None = None,
    metric_calls: bool | None = None,
    ledger_attributes: Any = None,
) -> SessionSpanProcessor | None:
    """One call for code setups: settings, SDK providers, sessions, instrumentations.

    Each keyword mirrors an environment variable (see :mod:`otel_llm_cost.config`) and
    wins over it; ``None`` leaves the variable in charge. SDK providers are built from
    the standard ``OTEL_*`` variables (OTLP by default) only if none are set yet. If
    SIGTERM has Python's default action, it now first flushes the providers (see
    :mod:`otel_llm_cost._exit`).
    """
    from .. import config

    config.set_overrides(capture_content=capture_content, openai_include_usage=openai_include_usage,
                         prices_files=prices_files, model_aliases=model_aliases,
                         metric_attributes=metric_attributes, tiktoken_dir=tiktoken_dir,
                         provider_hosts=provider_hosts, price_source=price_source,
                         fallback_prices_files=fallback_prices_files, trust_baggage=trust_baggage,
                         proposed_cost_attributes=proposed_cost_attributes, metric_calls=metric_calls,
                         ledger_attributes=ledger_attributes)
    if (prices_files is not None or model_aliases is not None or price_source is not None
            or fallback_prices_files is not None):
        from ..pricing import reset_catalog

        reset_catalog()
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        _build_sdk_providers()
    processor = install()
    try:
        _wrap_exporters()  # the application's own provider, if it built one
    except Exception:  # noqa: BLE001
        _log.exception("otel_llm_cost: could not wrap the span exporters")
    _instrument_providers()
    install_sigterm_flush()  # only where the application left SIGTERM to the default action
    return processor

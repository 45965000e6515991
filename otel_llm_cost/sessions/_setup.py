"""Wiring: attach the session processor to SDK providers, in code or zero-code.

* zero-code — ``opentelemetry-instrument`` runs every ``opentelemetry_post_instrument``
  entry point after the configurator built the SDK providers from ``OTEL_*``
  variables; ours (:func:`post_instrument`) attaches the processor to them.
* in code — :func:`configure` builds the same providers the distro would (OTLP unless
  ``OTEL_TRACES_EXPORTER``/``OTEL_METRICS_EXPORTER`` say otherwise) when none are set
  yet, attaches the processor and turns on every installed provider instrumentation.

Both are idempotent: the processor is added once per tracer provider.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import TracerProvider

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
    existing = getattr(provider, _ATTR, None)
    if existing is not None:
        return existing
    processor = SessionSpanProcessor(meter_provider if meter_provider is not None else metrics.get_meter_provider())
    provider.add_span_processor(processor)
    setattr(provider, _ATTR, processor)
    return processor


def post_instrument() -> None:
    """``opentelemetry_post_instrument`` entry point: never let a failure stop the app."""
    try:
        install()
    except Exception:  # noqa: BLE001
        _log.exception("otel_llm_cost: could not attach the session processor")


def _build_sdk_providers() -> None:
    """What ``opentelemetry-distro`` does: SDK providers from ``OTEL_*``, OTLP by default."""
    from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
    from opentelemetry.sdk._configuration import _initialize_components

    _initialize_components(
        trace_exporter_names=[] if os.environ.get(OTEL_TRACES_EXPORTER) else ["otlp"],
        metric_exporter_names=[] if os.environ.get(OTEL_METRICS_EXPORTER) else ["otlp"],
    )


def _instrument_providers() -> list[str]:
    """Turn on each of our ``opentelemetry_instrumentor`` entry points whose SDK is installed."""
    from importlib.metadata import entry_points

    done = []
    for ep in entry_points(group="opentelemetry_instrumentor"):
        if not ep.value.startswith(_OURS):
            continue
        try:
            instrumentor = ep.load()()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument()  # skips quietly when its library is missing
            if instrumentor.is_instrumented_by_opentelemetry:
                done.append(ep.name)
        except ModuleNotFoundError:
            continue
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: could not instrument %s", ep.name)
    return done


def configure() -> SessionSpanProcessor | None:
    """One call for code setups: SDK providers from env (if none yet), sessions, instrumentations."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        _build_sdk_providers()
    processor = install()
    _instrument_providers()
    return processor

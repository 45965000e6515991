"""The ``opentelemetry_configurator`` entry point: the SDK pipeline with cost on every GenAI span.

Under ``opentelemetry-instrument`` a *configurator* builds the SDK providers from the
``OTEL_*`` variables. :class:`CostConfigurator` builds exactly what the OpenTelemetry
distro's configurator builds (it is the SDK's ``_OTelSDKConfigurator``, the class the
SDK asks distros to subclass), with one difference: each exporter is put behind its
``BatchSpanProcessor`` wrapped in :class:`~otel_llm_cost.span_cost.CostSpanExporter`,
through the configurator's public ``export_span_processor`` argument. That is how GenAI
spans other instrumentations write leave with our cost on the zero-code path without
touching a processor after it was built.

``opentelemetry-instrument`` runs one configurator: the one ``OTEL_PYTHON_CONFIGURATOR``
names, else the first it finds. Ours never takes the place of another package's own
configurator (a vendor distro's): picked only because it came first, it hands the work
to that configurator, and foreign spans then leave without cost (the post-instrument hook
says so once, see :func:`otel_llm_cost.span_cost.wrap_exporters`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

__all__ = ["CostConfigurator", "NAME"]

_log = logging.getLogger("otel_llm_cost")

#: Our entry point's name: ``OTEL_PYTHON_CONFIGURATOR=otel_llm_cost`` selects it.
NAME = "otel_llm_cost"
_GROUP = "opentelemetry_configurator"
_SELECTOR = "OTEL_PYTHON_CONFIGURATOR"


def cost_batch_processor(exporter: SpanExporter, *args: Any, **kwargs: Any) -> SpanProcessor:
    """The SDK's default export processor, with ``exporter`` wrapped (ours are left as they are)."""
    from .span_cost import CostSpanExporter, needs_wrapping

    return BatchSpanProcessor(CostSpanExporter(exporter) if needs_wrapping(exporter) else exporter, *args, **kwargs)


def _builds_the_sdk_default(configurator: Any) -> bool:
    """Whether ``configurator`` builds what the SDK's base configurator builds (the distro's does)."""
    return isinstance(configurator, _OTelSDKConfigurator) and (
        type(configurator)._configure is _OTelSDKConfigurator._configure)


def _other_configurator() -> Any:
    """The first other package's configurator that builds more than the SDK default, or None."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=_GROUP):
        if ep.name == NAME:
            continue
        try:
            configurator = ep.load()()
        except Exception:  # noqa: BLE001 - theirs failing to load is theirs to report
            _log.debug("otel_llm_cost: could not load the configurator %s", ep.name, exc_info=True)
            continue
        if not _builds_the_sdk_default(configurator):
            return configurator
    return None


class CostConfigurator(_OTelSDKConfigurator):
    """The SDK's configurator with each span exporter wrapped in ``CostSpanExporter``."""

    def _configure(self, **kwargs: Any) -> None:
        if os.environ.get(_SELECTOR, "").strip() != NAME:
            other = _other_configurator()
            if other is not None:
                _log.debug("otel_llm_cost: handing the SDK set-up to %r", other)
                other.configure(**kwargs)
                return
        if _takes_export_span_processor():
            kwargs.setdefault("export_span_processor", cost_batch_processor)
        super()._configure(**kwargs)


def _takes_export_span_processor() -> bool:
    """Whether this SDK's configurator takes ``export_span_processor`` (opentelemetry-python
    PR #4806, November 2025). An older SDK builds its default pipeline: foreign spans then
    leave without cost, which the post-instrument hook says once."""
    import inspect

    from opentelemetry.sdk import _configuration

    try:
        return "export_span_processor" in inspect.signature(_configuration._initialize_components).parameters
    except (AttributeError, TypeError, ValueError):
        return False

"""The cost ledger: every LLM call as one row, in an embedded SQLite file or a shared
PostgreSQL database (``OTEL_LLM_COST_LEDGER_URL=postgresql://…``).

Enable it with ``OTEL_TRACES_EXPORTER=otlp,llm_cost_ledger`` (it is registered in the
``opentelemetry_traces_exporter`` entry-point group) or add
``BatchSpanProcessor(LedgerSpanExporter())`` to a tracer provider; read it with
``otel-llm-cost report`` and ``otel-llm-cost session ID``; trim it with
``otel-llm-cost ledger prune``.

The exporter is imported on first use (PEP 562): reading the ledger (``report``) needs
neither it nor the OpenTelemetry SDK it imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._schema import CURRENT_VERSION, LedgerError, default_path, resolve_path

if TYPE_CHECKING:
    from ._exporter import LedgerSpanExporter

__all__ = ["LedgerSpanExporter", "LedgerError", "CURRENT_VERSION", "default_path", "resolve_path"]


def __getattr__(name: str) -> Any:
    if name != "LedgerSpanExporter":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ._exporter import LedgerSpanExporter

    globals()[name] = LedgerSpanExporter
    return LedgerSpanExporter

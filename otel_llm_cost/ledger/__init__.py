"""The cost ledger: every LLM call as one row, in an embedded SQLite file or a shared
PostgreSQL database (``OTEL_LLM_COST_LEDGER_URL=postgresql://…``).

Enable it with ``OTEL_TRACES_EXPORTER=otlp,llm_cost_ledger`` (it is registered in the
``opentelemetry_traces_exporter`` entry-point group) or add
``BatchSpanProcessor(LedgerSpanExporter())`` to a tracer provider; read it with
``otel-llm-cost report`` and ``otel-llm-cost session ID``; trim it with
``otel-llm-cost ledger prune``.
"""

from __future__ import annotations

from ._exporter import LedgerSpanExporter
from ._schema import CURRENT_VERSION, LedgerError, default_path, resolve_path

__all__ = ["LedgerSpanExporter", "LedgerError", "CURRENT_VERSION", "default_path", "resolve_path"]

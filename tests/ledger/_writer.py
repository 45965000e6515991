"""One writer process of the concurrency test (importable, so ``spawn`` can run it)."""

from __future__ import annotations

from decimal import Decimal

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_llm_cost import semconv as s
from otel_llm_cost.ledger import LedgerSpanExporter


def cost_of(process: int, index: int) -> Decimal:
    """A distinct, many-digit cost per span: a float sum of these would not be exact."""
    return Decimal(f"0.{process}{index:04d}0000017")


def write(path: str, process: int, count: int, barrier, exporters: int = 1) -> None:
    """``count`` calls from one process; ``exporters`` > 1 sends every span to the ledger
    that many times, by separate exporters and batches (as a second pipeline would)."""
    provider = TracerProvider(resource=Resource.create({s.SERVICE_NAME: f"worker-{process}"}))
    # Small batches and a short delay: many interleaved transactions from every process.
    for n in range(exporters):
        provider.add_span_processor(BatchSpanProcessor(
            LedgerSpanExporter(path), max_export_batch_size=25 + 7 * n, schedule_delay_millis=5))
    tracer = provider.get_tracer("otel_llm_cost")
    barrier.wait()
    for index in range(count):
        with tracer.start_as_current_span("chat gpt-4o", attributes={
            s.GEN_AI_OPERATION_NAME: "chat",
            s.GEN_AI_PROVIDER_NAME: "openai",
            s.GEN_AI_REQUEST_MODEL: "gpt-4o",
            s.GEN_AI_USAGE_INPUT_TOKENS: index + 1,
            s.GEN_AI_USAGE_OUTPUT_TOKENS: 1,
            s.LLM_COST_USD: str(cost_of(process, index)),
            s.LLM_COST_STATUS: s.STATUS_PRICED,
            s.SESSION_ID: f"p{process}",
        }):
            pass
        if index % 1000 == 999:
            # Let the exporters catch up: a producer faster than its export queue makes
            # the SDK drop spans ("Queue full"), which is not what this measures.
            provider.force_flush()
    provider.shutdown()

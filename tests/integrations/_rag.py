"""A small two-LLM-call RAG chain, real telemetry pipelines, and what the wire server charges.

The chain: condense the question (ChatOpenAI, one request), retrieve from an in-memory
keyword retriever (no embeddings, no network), answer (ChatOpenAI with
``streaming=True``). Both models ask for streamed usage, as a LangServe app should.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Any

import httpx
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnablePassthrough
from langchain_openai import ChatOpenAI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost import semconv
from otel_llm_cost.sessions import install
from tests.wire._common import prompt_tokens

#: gpt-4o list prices, USD per token (input, output); the catalog is not asked.
GPT4O = (Decimal("2.50") / 1_000_000, Decimal("10.00") / 1_000_000)
#: claude-sonnet-4 list prices, USD per token (input, output).
SONNET = (Decimal("3.00") / 1_000_000, Decimal("15.00") / 1_000_000)

DOCS = [
    Document(page_content="OpenTelemetry spans carry token usage and exact cost"),
    Document(page_content="LangServe serves LangChain runnables over HTTP"),
    Document(page_content="Prometheus scrapes metrics from the collector"),
]


class KeywordRetriever(BaseRetriever):
    """Documents sharing the most words with the query: deterministic, offline."""

    documents: list[Document]
    k: int = 2

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[Document]:
        words = set(query.lower().split())
        ranked = sorted(self.documents, key=lambda d: -len(words & set(d.page_content.lower().split())))
        return ranked[: self.k]


def _join(docs: list[Document]) -> str:
    return "\n".join(d.page_content for d in docs)


def rag_chain(openai_base_url: str) -> Runnable:
    """question -> condense (LLM) -> retrieve -> answer (streamed LLM) -> str."""
    # An httpx client of its own: langchain-openai otherwise shares a cached one per
    # base URL, which another test's asyncio.run() may have tied to a closed loop.
    common = dict(model="gpt-4o", base_url=openai_base_url, api_key="test", max_retries=0,
                  stream_usage=True, http_async_client=httpx.AsyncClient(timeout=30))
    condense = (ChatPromptTemplate.from_messages([("user", "Rewrite as one question: {question}")])
                | ChatOpenAI(**common) | StrOutputParser())
    answer = (ChatPromptTemplate.from_messages(
        [("system", "Answer from the context:\n{context}"), ("user", "{question} {standalone}")])
        | ChatOpenAI(streaming=True, **common) | StrOutputParser())
    retriever = KeywordRetriever(documents=DOCS)
    return (RunnablePassthrough.assign(standalone=condense)
            | RunnablePassthrough.assign(context=itemgetter("standalone") | retriever | _join)
            | answer)


class Telemetry:
    """In-memory spans and metrics on an SDK tracer provider with the session processor."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        install(self.tracer_provider, self.meter_provider)

    def llm_spans(self) -> list[Any]:
        return [s for s in self.exporter.get_finished_spans()
                if s.instrumentation_scope.name == semconv.SCOPE_NAME]


@dataclass(frozen=True)
class Expected:
    """Usage and cost of a set of calls, as the report dicts spell them."""

    calls: int
    input: int
    output: int
    cost: Decimal

    def check(self, report: dict) -> None:
        """``report`` (a ``UsageSummary.as_dict()``) says exactly this."""
        assert report["calls"] == self.calls, report
        assert report["tokens"]["input"] == self.input, report
        assert report["tokens"]["output"] == self.output, report
        assert report["unpriced_calls"] == 0 and report["estimated_calls"] == 0, report
        assert report["cost_usd"] is not None and Decimal(report["cost_usd"]) == self.cost, report


def from_spans(spans: Iterable[Any]) -> Expected:
    """The sum of what the provider spans recorded: the source of truth."""
    spans = list(spans)
    return Expected(
        calls=len(spans),
        input=sum(s.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] for s in spans),
        output=sum(s.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] for s in spans),
        cost=sum((Decimal(s.attributes[semconv.LLM_COST_USD]) for s in spans), Decimal(0)),
    )


def from_wire(requests: Iterable[Any], rates: tuple[Decimal, Decimal] = GPT4O,
              output_per_call: int = 1) -> Expected:
    """What the wire server charged for ``requests`` (default replies: one output token)."""
    requests = list(requests)
    inputs = sum(prompt_tokens(r.body) for r in requests)
    outputs = output_per_call * len(requests)
    return Expected(len(requests), inputs, outputs, inputs * rates[0] + outputs * rates[1])

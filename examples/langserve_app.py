"""A LangServe RAG app whose every response says what its LLM calls cost.

Run (OpenAI by default; needs OPENAI_API_KEY)::

    pip install "otel-llm-cost[openai,langserve]" langchain-openai uvicorn
    OTEL_TRACES_EXPORTER=console OTEL_METRICS_EXPORTER=none python examples/langserve_app.py

Any OpenAI-compatible server works: set ``OPENAI_BASE_URL`` (e.g. a vLLM, Ollama or
LiteLLM proxy at ``http://localhost:11434/v1``) and ``RAG_MODEL`` to a model it serves.
A model missing from the price catalog is still counted, with ``cost_usd: null``
(add its price with ``OTEL_LLM_COST_PRICES_FILE``, see docs/prices.md).

Then::

    curl -s localhost:8000/rag/invoke -H 'content-type: application/json' \\
         -d '{"input": {"question": "What do spans carry?"}}' | jq .metadata.usage
    curl -sN localhost:8000/rag/stream -H 'content-type: application/json' \\
         -d '{"input": {"question": "What do spans carry?"}}'      # last event before `end`
"""

from __future__ import annotations

import os
from operator import itemgetter

from fastapi import FastAPI
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnablePassthrough
from langchain_openai import ChatOpenAI
from typing_extensions import TypedDict

import otel_llm_cost
from otel_llm_cost.integrations.langserve import add_routes

# SDK providers from OTEL_* variables (OTLP by default), the session processor, and
# every installed provider instrumentation. Do this before serving.
otel_llm_cost.configure()

DOCS = [
    Document(page_content="otel-llm-cost puts token usage and exact cost on OpenTelemetry spans."),
    Document(page_content="LangServe serves LangChain runnables over HTTP with invoke, batch and stream."),
    Document(page_content="Sessions add up the cost of every LLM call made while they are open."),
]


class KeywordRetriever(BaseRetriever):
    """Stands in for a vector store: the documents sharing most words with the query."""

    documents: list[Document]
    k: int = 2

    def _get_relevant_documents(self, query: str, *, run_manager) -> list[Document]:
        words = set(query.lower().split())
        return sorted(self.documents, key=lambda d: -len(words & set(d.page_content.lower().split())))[: self.k]


class Question(TypedDict):
    question: str


def build_chain():
    model = os.environ.get("RAG_MODEL", "gpt-4o-mini")
    # base_url None = api.openai.com, or OPENAI_BASE_URL, which ChatOpenAI reads itself.
    llm = ChatOpenAI(model=model, stream_usage=True)
    condense = (ChatPromptTemplate.from_messages([("user", "Rewrite as one standalone question: {question}")])
                | llm | StrOutputParser())
    answer = (ChatPromptTemplate.from_messages([("system", "Answer only from this context:\n{context}"),
                                                ("user", "{standalone}")])
              | ChatOpenAI(model=model, streaming=True, stream_usage=True) | StrOutputParser())
    retrieve = itemgetter("standalone") | KeywordRetriever(documents=DOCS) | (
        lambda docs: "\n".join(d.page_content for d in docs))
    chain = RunnablePassthrough.assign(standalone=condense) | RunnablePassthrough.assign(context=retrieve) | answer
    return chain.with_types(input_type=Question)  # so LangServe's input schema keeps "question"


app = FastAPI(title="RAG with cost")
add_routes(app, build_chain(), path="/rag")  # the one line: langserve.add_routes + usage

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))

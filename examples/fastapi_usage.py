"""Return each request's LLM token usage and exact cost in the API response.

Run::

    pip install "otel-llm-cost[openai]" fastapi uvicorn
    OPENAI_API_KEY=... uvicorn examples.fastapi_usage:app
    curl 'localhost:8000/ask?q=why+is+the+sky+blue'

(``OPENAI_BASE_URL`` may point at any OpenAI-compatible server.) Spans and metrics go
where the standard ``OTEL_*`` variables say (OTLP by default; ``OTEL_TRACES_EXPORTER=console``
to see them).
"""

from __future__ import annotations

import openai
from fastapi import FastAPI

import otel_llm_cost
from otel_llm_cost.sessions import UsageMiddleware

otel_llm_cost.configure()  # SDK providers from OTEL_*, session processor, provider instrumentations

app = FastAPI()
app.add_middleware(UsageMiddleware)  # a track() scope around every request
client = openai.AsyncOpenAI()
MODEL = "gpt-4o-mini"


@app.get("/ask")
async def ask(q: str, user: str = "anonymous") -> dict:
    # Every LLM call made while handling this request is counted, streamed or not.
    async with otel_llm_cost.session(user_id=user):
        notes = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"List facts relevant to: {q}"}])
        stream = await client.chat.completions.create(
            model=MODEL, stream=True, stream_options={"include_usage": True},
            messages=[{"role": "system", "content": notes.choices[0].message.content or ""},
                      {"role": "user", "content": q}])
        answer = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    # cost_usd is a decimal string, or null with unpriced_reason when a model has no price.
    return {"answer": answer, "usage": otel_llm_cost.current_usage().as_dict()}

"""A two-call application for the quick start: point it at ``otel-llm-cost simulator``.

    otel-llm-cost simulator &                      # prints the variables below
    export OPENAI_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=simulator
    export ANTHROPIC_BASE_URL=http://127.0.0.1:8765 ANTHROPIC_API_KEY=simulator
    OTEL_TRACES_EXPORTER=llm_cost_ledger OTEL_METRICS_EXPORTER=none python examples/simulator_app.py

The SDKs read their base URL and key from the environment, so the same file runs
unchanged against the real APIs.
"""

from __future__ import annotations

import anthropic
import openai

import otel_llm_cost

otel_llm_cost.configure()

question = "What does a span cost?"
with otel_llm_cost.session(session_id="quickstart", user_id="you") as s:
    reply = openai.OpenAI().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    print("openai:   ", (reply.choices[0].message.content or "")[:60], "...")
    message = anthropic.Anthropic().messages.create(
        model="claude-sonnet-4-6", max_tokens=200, messages=[{"role": "user", "content": question}])
    text = "".join(block.text for block in message.content if isinstance(block, anthropic.types.TextBlock))
    print("anthropic:", text[:60], "...")

summary = s.summary()
tokens = summary.tokens
print(f"session {summary.session_id}: {summary.calls} calls, {tokens['input']} input and {tokens['output']} output "
      f"tokens, cost {summary.cost} USD")

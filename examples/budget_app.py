"""Tell each user what they spent this month, and stop them at their limit.

Run::

    pip install "otel-llm-cost[openai]" fastapi uvicorn
    export OTEL_TRACES_EXPORTER=llm_cost_ledger          # every call becomes a ledger row
    export OTEL_LLM_COST_BUDGETS="user:* 10 per month hard tz=Europe/Paris"
    OPENAI_API_KEY=... uvicorn examples.budget_app:app
    curl -H 'X-User: alice' 'localhost:8000/ask?q=why+is+the+sky+blue'
    curl -H 'X-User: alice' localhost:8000/spend

Every worker and every service that shares the ledger (``OTEL_LLM_COST_LEDGER_URL=
postgresql://…`` for a fleet) shares the budget: a call that would take alice past $10
this (Paris) month is refused before it is sent. See docs/budgets.md.
"""

from __future__ import annotations

from decimal import Decimal

import openai
from fastapi import FastAPI, Header, HTTPException

import otel_llm_cost
from otel_llm_cost import budgets

otel_llm_cost.configure()  # SDK providers from OTEL_*, the ledger exporter, OTEL_LLM_COST_BUDGETS

app = FastAPI()
client = openai.AsyncOpenAI()
MODEL = "gpt-4o-mini"


def used(user: str) -> dict[str, object]:
    """What the user spent this month and what is left, exactly."""
    spent = budgets.spend(user=user, period="month")
    message = f"you have used ${spent.total:.2f}"
    if spent.limit is not None:
        message += f" of ${spent.limit:.2f} this month"
    return {"message": message, "spent_usd": _usd(spent.total), "limit_usd": _usd(spent.limit),
            "remaining_usd": _usd(spent.remaining), "by_model": {m: _usd(v) for m, v in spent.by_model.items()},
            "unpriced_calls": spent.unpriced_calls}


def _usd(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount, "f")  # exact, never "8E-7"


@app.get("/ask")
async def ask(q: str, x_user: str = Header()) -> dict[str, object]:
    with otel_llm_cost.session(user_id=x_user):
        try:
            reply = await client.chat.completions.create(
                model=MODEL, max_tokens=300, messages=[{"role": "user", "content": q}])
        except budgets.BudgetExceeded:
            raise HTTPException(402, f"{used(x_user)['message']}; your monthly budget is used up") from None
    return {"answer": reply.choices[0].message.content, "spend": used(x_user)}


@app.get("/spend")
async def spend(x_user: str = Header()) -> dict[str, object]:
    return used(x_user)

"""One process of the fleet race: THREADS threads call the real OpenAI SDK (over HTTP to
the wire server) for one user until that user's monthly hard budget refuses them — or,
with ``tenant``, each thread as its own user of the tenant ``racers``, until the tenant's
monthly hard budget refuses them.

    python -m tests.budgets._racer LEDGER_URL WIRE_URL THREADS LIMIT DEFAULT_RESERVATION [tenant]

Spans go to the shared ledger through a ``BatchSpanProcessor``, as in production: a
finished call's row lands seconds later, and until then its settled hold counts. Prints
one JSON line: calls sent and calls refused.
"""

from __future__ import annotations

import json
import os
import sys
import threading

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import otel_llm_cost
from otel_llm_cost import budgets
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.ledger import LedgerSpanExporter


def main() -> None:
    url, wire, threads, limit, default_reservation = sys.argv[1:6]
    tenant = sys.argv[6:7] == ["tenant"]
    import openai

    provider = TracerProvider(resource=Resource.create({"service.name": "racer"}))
    provider.add_span_processor(BatchSpanProcessor(LedgerSpanExporter(url, attributes=["tenant"])))
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    scope = "tenant:racers" if tenant else "user:racer"
    budgets.set_budgets(f"{scope} {limit} per month hard on_unavailable=closed", ledger=url,
                        default_reservation_usd=default_reservation, timeout_s=5)
    client = openai.OpenAI(base_url=wire + "/v1", api_key="test", max_retries=0)
    sent = refused = errors = 0
    lock = threading.Lock()
    start = threading.Barrier(int(threads))

    def run() -> None:
        nonlocal sent, refused, errors
        start.wait()
        user = f"racer-{os.getpid()}-{threading.get_ident()}" if tenant else "racer"
        with otel_llm_cost.session(user_id=user, attributes={"tenant": "racers"}):
            misses = 0
            while misses < 3:
                try:
                    client.chat.completions.create(model="gpt-4o", max_tokens=1,
                                                   messages=[{"role": "user", "content": "race"}])
                except budgets.BudgetExceeded:
                    misses += 1
                    with lock:
                        refused += 1
                    continue
                except Exception:  # noqa: BLE001 - counted; the test fails on any
                    with lock:
                        errors += 1
                    return
                with lock:
                    sent += 1

    workers = [threading.Thread(target=run) for _ in range(int(threads))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    provider.shutdown()  # the last rows are written before we report
    print(json.dumps({"sent": sent, "refused": refused, "errors": errors}), flush=True)


if __name__ == "__main__":
    main()

"""``otel-llm-cost simulate``: steady, priced LLM traffic for dashboards, with no API key.

Serves the built-in local :mod:`simulator <otel_llm_cost._simulator>` (canned replies,
made-up token counts, not a model) and drives a repeating mix of calls through the REAL
``openai`` and ``anthropic`` SDKs, instrumented and exported the way an application
would be: :func:`otel_llm_cost.configure` builds the OpenTelemetry SDK from the standard
``OTEL_*`` variables (OTLP to ``localhost:4317`` by default). So the Collector, Prometheus
and the dashboards show real spans and metrics of simulated calls: chats, streams, cache
reads and writes, estimated usage, an unpriced model, sessions of three users with
budgets that get crossed.

It exists because the simulator is private and a user would otherwise have to write a
launcher to see the dashboards move. Defaults chosen for that use: service name
``otel-llm-cost-simulate`` and a 5 s metric export interval unless the ``OTEL_*``
variables say otherwise.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
from decimal import Decimal
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

__all__ = ["add_command", "run", "MIX"]

SYSTEM = "You are a terse assistant for an online bookshop. Prices include VAT; shipping is free above 30 EUR."
#: One session's calls: (sdk, model, how). Repeated for each user in turn.
MIX: tuple[tuple[str, str, str], ...] = (
    ("openai", "gpt-4o-mini", "chat"),
    ("openai", "gpt-4o-mini", "stream"),
    ("anthropic", "claude-sonnet-4-6", "cached"),
    ("anthropic", "claude-haiku-4-5", "stream"),
    ("openai", "gpt-4o", "stream-no-usage"),  # usage estimated locally
    ("openai", "sim-unpriced-1", "chat"),  # no price in the catalog
)
USERS = ("alice", "bob", "carol")


class _Costs(SpanProcessor):
    """Span processor adding up what our spans recorded, for the closing summary."""

    def __init__(self) -> None:
        self.calls = 0
        self.unpriced = 0
        self.cost = Decimal(0)
        self._lock = threading.Lock()

    def on_end(self, span: Any) -> None:
        from . import semconv

        if span.instrumentation_scope is None or span.instrumentation_scope.name != semconv.SCOPE_NAME:
            return
        with self._lock:
            self.calls += 1
            if semconv.LLM_COST_USD in span.attributes:
                self.cost += Decimal(span.attributes[semconv.LLM_COST_USD])
            else:
                self.unpriced += 1


def _call(clients: dict, sdk: str, model: str, how: str, n: int) -> None:
    prompt = f"Question {n}: where is my order?"
    if sdk == "openai":
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        if how == "chat":
            clients["openai"].chat.completions.create(model=model, messages=messages)
            return
        extra = {} if how == "stream-no-usage" else {"stream_options": {"include_usage": True}}
        for _ in clients["openai"].chat.completions.create(model=model, messages=messages, stream=True, **extra):
            pass
        return
    system: Any = SYSTEM
    if how == "cached":
        system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    kwargs = {"model": model, "max_tokens": 256, "system": system, "messages": [{"role": "user", "content": prompt}]}
    if how == "stream":
        with clients["anthropic"].messages.stream(**kwargs) as stream:
            for _ in stream.text_stream:
                pass
    else:
        clients["anthropic"].messages.create(**kwargs)


def run(calls: int, rate: float, budget: str, out=sys.stdout, err=sys.stderr) -> dict:
    """Drive ``calls`` calls (0: until interrupted) at ``rate`` per second (0: no pause)."""
    os.environ.setdefault("OTEL_SERVICE_NAME", "otel-llm-cost-simulate")
    os.environ.setdefault("OTEL_METRIC_EXPORT_INTERVAL", "5000")
    import anthropic
    import openai
    from opentelemetry import metrics, trace

    from . import configure
    from ._simulator import Simulator
    from .sessions import session

    configure()
    costs = _Costs()
    tracer_provider = trace.get_tracer_provider()
    if isinstance(tracer_provider, TracerProvider):  # what configure() builds from OTEL_*
        tracer_provider.add_span_processor(costs)
    started = time.monotonic()
    try:
        with Simulator() as sim:
            clients = {"openai": openai.OpenAI(base_url=sim.openai_base_url, api_key="simulator", max_retries=0),
                       "anthropic": anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="simulator",
                                                        max_retries=0)}
            print(f"simulator on {sim.base_url} (not a model); exporting to "
                  f"{os.environ.get('OTEL_EXPORTER_OTLP_ENDPOINT', 'localhost:4317 (OTLP default)')}; "
                  "Ctrl-C to stop", file=err, flush=True)
            n = 0
            for s in itertools.count():
                user = USERS[s % len(USERS)]
                with session(session_id=f"sim-{os.getpid()}-{s}", user_id=user, budget_usd=budget):
                    for sdk, model, how in MIX:
                        if calls and n >= calls:
                            break
                        n += 1
                        _call(clients, sdk, model, how, n)
                        if rate > 0:
                            time.sleep(1 / rate)
                if calls and n >= calls:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        # Export everything still queued before exiting.
        for provider in (tracer_provider, metrics.get_meter_provider()):
            for name in ("force_flush", "shutdown"):
                if hasattr(provider, name):
                    getattr(provider, name)()
    return {"calls": costs.calls, "priced_cost_usd": str(costs.cost), "unpriced_calls": costs.unpriced,
            "seconds": round(time.monotonic() - started, 3)}


def _cmd_simulate(args: argparse.Namespace) -> int:
    summary = run(args.calls, args.rate, args.budget)
    if args.format == "json":
        print(json.dumps(summary))
    else:
        print(f"{summary['calls']} calls, {summary['priced_cost_usd']} USD priced, "
              f"{summary['unpriced_calls']} unpriced, in {summary['seconds']}s")
    return 0


#: Bounds of the options: refused past them, never clamped.
MAX_CALLS = 10**9
MAX_RATE = 10_000.0


def _calls(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of calls (a whole number >= 0)") from None
    if not 0 <= value <= MAX_CALLS:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range (0 to {MAX_CALLS})")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate (calls per second, a number >= 0)") from None
    if not 0 <= value <= MAX_RATE:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} is out of range (0 to {MAX_RATE:g} calls per second)")
    return value


def add_command(sub: argparse._SubParsersAction) -> None:
    """Register ``simulate`` with the ``otel-llm-cost`` command (see ``cli._COMMANDS``)."""
    p = sub.add_parser("simulate", help="drive steady simulated LLM traffic, exported over OTLP (OTEL_* env vars)")
    p.add_argument("--calls", type=_calls, default=0, help="stop after N calls (default: run until Ctrl-C)")
    p.add_argument("--rate", type=_rate, default=2.0, help="calls per second (0: as fast as possible; default 2)")
    p.add_argument("--budget", default="0.001", help="each session's soft budget in USD (default 0.001: crossed)")
    p.add_argument("--format", choices=["table", "json"], default="table", help="the closing summary's format")
    p.set_defaults(func=_cmd_simulate)

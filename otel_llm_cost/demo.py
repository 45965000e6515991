"""``otel-llm-cost demo``: see the whole thing work in one command, offline, in seconds.

A scripted multi-turn, multi-model conversation runs through the REAL ``openai`` and
``anthropic`` SDKs against the built-in local :mod:`simulator <otel_llm_cost._simulator>`
— clearly not a real model — with the instrumentations, the session roll-up and the
ledger exporter on, wired the way an application would wire them. It prints each
call's cost as its span ends, the session summary, and ``otel-llm-cost report`` over
the calls it just recorded.

The demo writes to a fresh ledger under the system temp directory unless ``--db`` is
given, so trying it never adds simulated spend to the user's real ledger.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from . import _demo_text as text
from ._simulator import Simulator

__all__ = ["add_command", "run", "SCRIPT", "SYSTEM_PROMPT", "Turn"]

SYSTEM_PROMPT = ("You are a terse assistant for an online bookshop. Answer in two sentences. "
                 "Catalogue policy: prices include VAT; shipping is free above 30 EUR; returns within 30 days.")
USER_ID = "demo-user"


@dataclass(frozen=True)
class Turn:
    """One scripted call: which SDK, which model, how it is made, what the user says."""

    sdk: str  # "openai" | "anthropic"
    model: str
    prompt: str
    #: What this step shows, printed on its line.
    shows: str
    stream: bool = False
    #: OpenAI streams: ask for the final usage chunk (``stream_options.include_usage``).
    stream_usage: bool = True
    #: Mark the system prompt cacheable (Anthropic ``cache_control``).
    cache: bool = False


#: The conversation. The same system prompt every time, so later turns hit the cache;
#: ``sim-unpriced-1`` has no catalog price, to show an unpriced call honestly.
SCRIPT: tuple[Turn, ...] = (
    Turn("openai", "gpt-4o-mini", "Do you ship to Norway?", "chat"),
    Turn("openai", "gpt-4o-mini", "And how long does it take?", "stream + usage, cached prompt", stream=True),
    Turn("anthropic", "claude-sonnet-4-6", "Summarise our return policy for a customer email.",
         "chat, cache write", cache=True),
    Turn("anthropic", "claude-sonnet-4-6", "Now make it friendlier.", "stream, cache read",
         stream=True, cache=True),
    Turn("openai", "gpt-4o", "Draft a one-line apology for a late parcel.", "stream, no usage: estimated",
         stream=True, stream_usage=False),
    Turn("openai", "sim-unpriced-1", "Classify this message: 'where is my order?'", "unknown model"),
)


def _openai_call(client: Any, turn: Turn, history: list[dict]) -> str:
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, *history, {"role": "user", "content": turn.prompt}]
    if not turn.stream:
        return client.chat.completions.create(model=turn.model, messages=messages).choices[0].message.content
    extra = {"stream_options": {"include_usage": True}} if turn.stream_usage else {}
    stream = client.chat.completions.create(model=turn.model, messages=messages, stream=True, **extra)
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def _anthropic_call(client: Any, turn: Turn, history: list[dict]) -> str:
    system: Any = SYSTEM_PROMPT
    if turn.cache:
        system = [{"type": "text", "text": SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}]
    messages = [*history, {"role": "user", "content": turn.prompt}]
    kwargs = {"model": turn.model, "max_tokens": 256, "system": system, "messages": messages}
    if not turn.stream:
        return client.messages.create(**kwargs).content[0].text
    with client.messages.stream(**kwargs) as stream:
        return "".join(stream.text_stream)


class _Telemetry:
    """The OpenTelemetry SDK set up as an application would: providers, processors, instrumentors.

    Nothing here is global: the providers are handed to the instrumentors, so the demo
    leaves the process's global OpenTelemetry configuration untouched.
    """

    def __init__(self, ledger: Path) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from .instrumentation.anthropic import AnthropicInstrumentor
        from .instrumentation.openai import OpenAIInstrumentor
        from .ledger import LedgerSpanExporter
        from .sessions import SessionSpanProcessor

        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])
        self.tracer_provider = TracerProvider(resource=Resource.create({"service.name": "otel-llm-cost-demo"}))
        self.tracer_provider.add_span_processor(SessionSpanProcessor(self.meter_provider))
        self.calls = text.CallLog()
        self.tracer_provider.add_span_processor(self.calls)
        self.tracer_provider.add_span_processor(BatchSpanProcessor(LedgerSpanExporter(ledger)))
        self.instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
        for instrumentor in self.instrumentors:
            instrumentor.instrument(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider)

    def close(self) -> None:
        """Uninstrument, write every span to the ledger, stop the exporter's thread."""
        for instrumentor in self.instrumentors:
            instrumentor.uninstrument()
        self.tracer_provider.force_flush()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def _converse(sim: Simulator, calls: text.CallLog, progress: TextIO) -> list[dict]:
    """Run :data:`SCRIPT`; print one line per call as it ends; return the calls seen."""
    import anthropic
    import openai

    clients: dict[str, openai.OpenAI | anthropic.Anthropic] = {
        "openai": openai.OpenAI(base_url=sim.openai_base_url, api_key="simulator", max_retries=0),
        "anthropic": anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="simulator", max_retries=0),
    }
    history: list[dict] = []
    seen: list[dict] = []
    try:
        for n, turn in enumerate(SCRIPT, 1):
            call = _openai_call if turn.sdk == "openai" else _anthropic_call
            before = len(calls.spans)
            reply = call(clients[turn.sdk], turn, history)
            history += [{"role": "user", "content": turn.prompt}, {"role": "assistant", "content": reply}]
            spans = calls.spans[before:]
            record = text.call_record(turn, spans[-1] if spans else None)
            seen.append(record)
            print(text.call_line(n, len(SCRIPT), record), file=progress, flush=True)
    finally:
        for client in clients.values():
            client.close()
    return seen


def run(ledger: Path, fmt: str = "table", out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the demo, writing the ledger at ``ledger``; ``fmt`` is ``table`` or ``json``."""
    from .ledger._render import render
    from .ledger._report import ReportError, load_report
    from .sessions import end_session, session

    # In JSON mode stdout carries one document; the progress lines go to stderr.
    progress = out if fmt == "table" else err
    started = time.perf_counter()
    since = datetime.now(UTC).replace(microsecond=0)
    session_id = f"demo-{since:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    telemetry = _Telemetry(ledger)
    try:
        with Simulator() as sim:
            print(f"Local LLM SIMULATOR on {sim.base_url} — canned replies, made-up token counts, no real "
                  f"model, no API key.\nReal openai/anthropic SDKs, instrumented; ledger: {ledger}\n",
                  file=progress, flush=True)
            # end=False: the session outlives the block so end_session() hands back its summary.
            with session(session_id, user_id=USER_ID, end=False):
                calls = _converse(sim, telemetry.calls, progress)
            summary = end_session(session_id)
    finally:
        telemetry.close()
    try:
        report = load_report(ledger, "model", since)
    except ReportError as exc:
        print(f"otel-llm-cost demo: {exc}", file=err)
        return 1
    elapsed = time.perf_counter() - started
    if fmt == "json":
        out.write(json.dumps({"ledger": str(ledger), "calls": calls, "session": summary and summary.as_dict(),
                              "seconds": round(elapsed, 3),
                              "report": json.loads(render(report, "json"))}, indent=2) + "\n")
        return 0
    out.write("\n" + "\n".join(text.session_lines(summary)) + "\n\n" + render(report, "table"))
    print(f"\nDone in {elapsed:.2f}s. The calls are in {ledger}; explore them with\n"
          f"  otel-llm-cost report --db {ledger} --by session", file=out)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.db:
        ledger = Path(args.db).expanduser()
    else:
        ledger = Path(tempfile.mkdtemp(prefix="otel-llm-cost-demo-")) / "ledger.db"
    try:
        ledger.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"otel-llm-cost demo: cannot create the ledger's directory {ledger.parent} ({exc})",
              file=sys.stderr)
        return 1
    return run(ledger, args.format)


def add_command(sub: argparse._SubParsersAction) -> None:
    """Register ``demo`` with the ``otel-llm-cost`` command (see ``cli._COMMANDS``)."""
    p = sub.add_parser("demo", help="run a scripted multi-model conversation against a local simulator")
    p.add_argument("--db", metavar="PATH",
                   help="ledger to write (default: a new file under the system temp directory, "
                        "never your real ledger)")
    p.add_argument("--format", choices=["table", "json"], default="table",
                   help="json: one document on stdout (progress lines go to stderr)")
    p.set_defaults(func=_cmd_demo)

"""``otel-llm-cost demo``: see the whole thing work in one command, offline, in seconds.

A scripted multi-turn, multi-model conversation (chat, streaming, cached prompt, a model
with no price) runs through the REAL ``openai`` and ``anthropic`` SDKs against the
built-in local :mod:`simulator <otel_llm_cost._simulator>` — clearly not a real model —
with the instrumentation, session roll-up and the ledger on; then it prints each call's
cost, the session summary and ``otel-llm-cost report`` over the demo's own ledger.

SKELETON: the simulator and the script run today; the parts that need the provider
instrumentations and the session layer (being written in parallel) are marked
``TODO(lead)``. Not yet registered in ``cli._COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._simulator import Simulator

__all__ = ["add_command", "run"]

_SYSTEM = ("You are a terse assistant for an online bookshop. Answer in two sentences. "
           "Catalogue policy: prices include VAT; shipping is free above 30 EUR; returns within 30 days.")


@dataclass(frozen=True)
class Turn:
    """One scripted call: which SDK, which model, streamed or not, what the user says."""

    sdk: str  # "openai" | "anthropic"
    model: str
    prompt: str
    stream: bool = False
    #: Mark the system prompt cacheable (Anthropic ``cache_control``).
    cache: bool = False


#: The conversation: the same system prompt every time, so later turns hit the cache;
#: ``sim-unpriced-1`` has no catalog price, to show an unpriced call honestly.
SCRIPT: tuple[Turn, ...] = (
    Turn("openai", "gpt-4o-mini", "Do you ship to Norway?"),
    Turn("openai", "gpt-4o-mini", "And how long does it take?", stream=True),
    Turn("anthropic", "claude-sonnet-4-6", "Summarise our return policy for a customer email.", cache=True),
    Turn("anthropic", "claude-sonnet-4-6", "Now make it friendlier.", stream=True, cache=True),
    Turn("openai", "gpt-4o", "Draft a one-line apology for a late parcel."),
    Turn("openai", "sim-unpriced-1", "Classify this message: 'where is my order?'"),
)


def _openai_call(client: Any, turn: Turn, history: list[dict]) -> str:
    messages = [{"role": "system", "content": _SYSTEM}, *history, {"role": "user", "content": turn.prompt}]
    if not turn.stream:
        return client.chat.completions.create(model=turn.model, messages=messages).choices[0].message.content
    stream = client.chat.completions.create(model=turn.model, messages=messages, stream=True,
                                            stream_options={"include_usage": True})
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def _anthropic_call(client: Any, turn: Turn, history: list[dict]) -> str:
    system: Any = _SYSTEM
    if turn.cache:
        system = [{"type": "text", "text": _SYSTEM, "cache_control": {"type": "ephemeral"}}]
    messages = [*history, {"role": "user", "content": turn.prompt}]
    kwargs = {"model": turn.model, "max_tokens": 256, "system": system, "messages": messages}
    if not turn.stream:
        return client.messages.create(**kwargs).content[0].text
    with client.messages.stream(**kwargs) as stream:
        return "".join(stream.text_stream)


def run(ledger: Path, out: Any = sys.stdout) -> int:
    import anthropic
    import openai

    # TODO(lead): set up telemetry before any client exists:
    #   - TracerProvider + BatchSpanProcessor(LedgerSpanExporter(ledger)) (+ an in-memory
    #     exporter, or a before_end hook, to print each call's cost as it ends);
    #   - OpenAIInstrumentor().instrument(tracer_provider=...), AnthropicInstrumentor()...;
    #   - open a session (sessions API) with user.id "demo-user" around the loop below.
    started = time.perf_counter()
    with Simulator() as sim:
        print(f"Local LLM SIMULATOR on {sim.base_url} (canned replies, no real model, no API key)\n", file=out)
        oa = openai.OpenAI(base_url=sim.openai_base_url, api_key="simulator", max_retries=0)
        an = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="simulator", max_retries=0)
        history: list[dict] = []
        for n, turn in enumerate(SCRIPT, 1):
            call = _openai_call if turn.sdk == "openai" else _anthropic_call
            text = call(oa if turn.sdk == "openai" else an, turn, history)
            history += [{"role": "user", "content": turn.prompt}, {"role": "assistant", "content": text}]
            mode = "stream" if turn.stream else "chat"
            # TODO(lead): print this call's tokens and exact cost from its span.
            print(f"  [{n}/{len(SCRIPT)}] {turn.sdk:<9} {turn.model:<18} {mode:<6} {turn.prompt[:40]}", file=out)
    # TODO(lead): force_flush the tracer provider, print the session summary, then the report:
    #   from .ledger._report import load_report; from .ledger._render import render
    #   out.write(render(load_report(ledger, "model"), "table"))
    print(f"\nDone in {time.perf_counter() - started:.2f}s; ledger: {ledger}", file=out)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    ledger = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="otel-llm-cost-demo-")) / "ledger.db"
    return run(ledger)


def add_command(sub: argparse._SubParsersAction) -> None:
    """Register ``demo`` (TODO(lead): add (".demo", "add_command") to ``cli._COMMANDS``)."""
    p = sub.add_parser("demo", help="run a scripted multi-model conversation against a local simulator")
    p.add_argument("--db", metavar="PATH", help="ledger to write (default: a new temporary file)")
    p.set_defaults(func=_cmd_demo)

"""``python -m bench.estimation``: how close the no-usage estimate comes, and what the
first estimate costs.

    python -m bench.estimation                 # the corpus table
    python -m bench.estimation --first-call    # first-estimate latency, cold vs preloaded
    python -m bench.estimation --json          # the corpus rows, machine-readable

The corpus is a set of realistic OpenAI requests and replies: plain chats, multi-turn
conversations, tool definitions and streamed tool calls, structured output, images
(inline and by URL), ``n > 1``, a reasoning model. Each is estimated twice — by the
previous fallback (message text only, ``tokens.estimate_usage``) and by the current
one (``_estimate_openai``) — and compared with a reference.

Where the reference comes from, honestly: only the two openai-cookbook examples carry
token counts the real API returned (``published``). No API is reachable here, so every
other reference is computed by OpenAI's *documented* rules (``rules``): the cookbook's
``num_tokens_from_messages`` / ``num_tokens_for_tools`` and the vision guide's image
formula, transcribed independently below, plus the tokenizer's count of the generated
text and tool-call arguments. That checks the estimator against the rules, not
against billing; where the rules are silent (structured-output schemas) there is no
reference and the row is shown without an error. A URL image is measured here (we
know its size) but not by the estimator (it never downloads): those rows show the
floor's shortfall. A reasoning model's hidden reasoning has no reference at all.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# --- the corpus --------------------------------------------------------------------------

def _png(width: int, height: int) -> str:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\x00" * 4
    return "data:image/png;base64," + base64.b64encode(raw).decode()


_COOKBOOK_MESSAGES = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate "
                                  "jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch "
                                                          "base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to "
                                                               "do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client "
                                "deliverable."},
]
_WEATHER = {"type": "function", "function": {
    "name": "get_current_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "description": "The unit of temperature to return",
                 "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}}}
_TOOLS = [
    _WEATHER,
    {"type": "function", "function": {
        "name": "search_orders", "description": "Search a customer's orders by status and date range.",
        "parameters": {"type": "object", "properties": {
            "customer_id": {"type": "string", "description": "The customer's id"},
            "status": {"type": "string", "description": "Order status",
                       "enum": ["pending", "shipped", "delivered", "returned"]},
            "since": {"type": "string", "description": "ISO date, inclusive"}}, "required": ["customer_id"]}}},
    {"type": "function", "function": {
        "name": "create_ticket", "description": "Open a support ticket.",
        "parameters": {"type": "object", "properties": {
            "subject": {"type": "string", "description": "One-line summary"},
            "priority": {"type": "string", "description": "How urgent", "enum": ["low", "normal", "high"]},
            "body": {"type": "string", "description": "Full description of the problem."}}}}},
]
_SYSTEM = "You are a concise support assistant for an online bookshop. Answer in at most three sentences."
_TURNS = [
    ("Where is my order 4411? It was due on Monday.",
     "I'm sorry for the delay. Order 4411 left our warehouse on Saturday and is with the courier now."),
    ("Can you tell me which courier, and is there a tracking number?",
     "It is with Parcelway; the tracking number is PW-77120-GB, and you can follow it on their website."),
    ("Thanks. If it doesn't arrive by Friday, what are my options?",
     "If it has not arrived by Friday, reply here and we will either resend it at no cost or refund you in full."),
    ("Great, and can I change the delivery address for my next order?",
     "Yes: update it under Account → Addresses before checkout; orders already placed keep their address."),
]
_SCHEMA = {"type": "json_schema", "json_schema": {"name": "ticket_triage", "strict": True, "schema": {
    "type": "object", "additionalProperties": False, "required": ["category", "urgency", "summary"],
    "properties": {"category": {"type": "string", "enum": ["delivery", "refund", "account", "other"]},
                   "urgency": {"type": "integer", "minimum": 1, "maximum": 5},
                   "summary": {"type": "string"}}}}}


@dataclass
class Case:
    name: str
    kind: str
    model: str
    request: dict[str, Any]
    #: What the model generated: texts and (name, arguments) tool calls, per choice.
    texts: list[str]
    calls: list[tuple[str, str]]
    #: Pixel sizes of URL images, known to the bench but not to the estimator.
    url_sizes: tuple[tuple[int, int], ...] = ()
    #: Token counts the real API returned for this exact input (cookbook), if any.
    published_input: int | None = None


def corpus() -> list[Case]:
    cases: list[Case] = []
    for model, published in (("gpt-4o", 124), ("gpt-4o-mini", 124), ("gpt-4", 129), ("gpt-3.5-turbo", 129)):
        cases.append(Case(f"cookbook conversation {model}", "published", model, {"messages": _COOKBOOK_MESSAGES},
                          ["We're running out of time to do everything for the client."], [], (), published))
    weather_msgs = [{"role": "system", "content": "You are a helpful assistant that can answer to questions "
                                                  "about the weather."},
                    {"role": "user", "content": "What's the weather like in San Francisco?"}]
    for model, published in (("gpt-4o", 101), ("gpt-4o-mini", 101), ("gpt-4", 105), ("gpt-3.5-turbo", 105)):
        cases.append(Case(f"cookbook tools {model}", "published", model,
                          {"messages": weather_msgs, "tools": [_WEATHER]}, [],
                          [("get_current_weather", '{"location": "San Francisco, CA", "unit": "fahrenheit"}')],
                          (), published))
    for model in ("gpt-4o", "gpt-4.1", "gpt-3.5-turbo"):
        for depth in (1, 2, 4):
            messages: list[dict[str, Any]] = [{"role": "system", "content": _SYSTEM}]
            for question, answer in _TURNS[:depth - 1]:
                messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            messages.append({"role": "user", "content": _TURNS[depth - 1][0]})
            kind = "text" if depth == 1 else "multi-turn"
            cases.append(Case(f"{kind} {depth} turn(s) {model}", kind, model, {"messages": messages},
                              [_TURNS[depth - 1][1]], []))
    support = [{"role": "system", "content": _SYSTEM},
               {"role": "user", "content": "My order 4411 hasn't arrived; please open a ticket, it's urgent."}]
    for model in ("gpt-4o", "gpt-4.1-mini", "gpt-4"):
        cases.append(Case(f"tools: 3 definitions, streamed call {model}", "tools", model,
                          {"messages": support, "tools": _TOOLS}, [],
                          [("create_ticket", json.dumps({"subject": "Order 4411 not delivered", "priority": "high",
                                                         "body": "Customer reports order 4411, due Monday, "
                                                                 "has not arrived."}))]))
        cases.append(Case(f"tools: answer in text {model}", "tools", model,
                          {"messages": support, "tools": _TOOLS, "tool_choice": "auto"},
                          ["I've noted that. Could you confirm the email address on the order?"], []))
        cases.append(Case(f"tools: two parallel calls {model}", "tools", model,
                          {"messages": support, "tools": _TOOLS}, [],
                          [("search_orders", '{"customer_id": "c-1093", "status": "shipped"}'),
                           ("get_current_weather", '{"location": "Leeds, UK"}')]))
    for model in ("gpt-4o", "gpt-4o-mini"):
        cases.append(Case(f"structured output {model}", "structured", model,
                          {"messages": support, "response_format": _SCHEMA},
                          ['{"category":"delivery","urgency":4,"summary":"Order 4411 late"}'], []))
    look = "What does this screenshot show? Answer in one sentence."
    for model, size, detail in (("gpt-4o", (1024, 1024), "high"), ("gpt-4o", (2048, 4096), "high"),
                                ("gpt-4o", (1920, 1080), "auto"), ("gpt-4o", (4096, 8192), "low"),
                                ("gpt-4o-mini", (800, 600), "high"), ("gpt-4.1-mini", (1800, 2400), "high"),
                                ("gpt-4.1", (640, 480), "high")):
        content = [{"type": "text", "text": look},
                   {"type": "image_url", "image_url": {"url": _png(*size), "detail": detail}}]
        cases.append(Case(f"image {size[0]}x{size[1]} {detail} {model}", "image", model,
                          {"messages": [{"role": "user", "content": content}]},
                          ["A dashboard with a rising error-rate chart."], []))
    for model, size in (("gpt-4o", (512, 512)), ("gpt-4o", (1024, 768))):
        content = [{"type": "text", "text": look},
                   {"type": "image_url", "image_url": {"url": "https://example.com/shot.png"}}]
        cases.append(Case(f"image by URL {size[0]}x{size[1]} {model}", "image-url", model,
                          {"messages": [{"role": "user", "content": content}]},
                          ["A dashboard with a rising error-rate chart."], [], (size,)))
    cases.append(Case("n=3 choices gpt-4o", "text", "gpt-4o",
                      {"messages": [{"role": "user", "content": "Suggest a name for a bookshop cat."}], "n": 3},
                      ["Inkwell.", "Page Turner, or just Page.", "Marmalade."], []))
    cases.append(Case("reasoning o3-mini", "reasoning", "o3-mini",
                      {"messages": [{"role": "user", "content": "Is 1,000,003 prime? Answer yes or no."}]},
                      ["Yes."], []))
    return cases


# --- the reference: OpenAI's documented rules, transcribed independently ----------------

def _n(text: str, model: str) -> int:
    from otel_llm_cost.tokens import count_tokens

    return count_tokens(text, model)


def _reference_image(model: str, size: tuple[int, int], detail: str) -> int:
    w, h = size
    patch = {"gpt-4.1-mini": 1.62, "gpt-4.1-nano": 2.46, "o4-mini": 1.72}
    for prefix, mult in patch.items():
        if model.startswith(prefix):
            raw = math.ceil(w / 32) * math.ceil(h / 32)
            if raw > 1536:
                f = math.sqrt(1536 * 1024 / (w * h))
                w2, h2 = w * f, h * f
                f2 = min(math.floor(w2 / 32) / (w2 / 32), math.floor(h2 / 32) / (h2 / 32))
                raw = min(1536, math.ceil(w2 * f2 / 32) * math.ceil(h2 * f2 / 32))
            return math.ceil(raw * mult)
    base, tile = (2833, 5667) if model.startswith("gpt-4o-mini") else (85, 170)
    if detail == "low":
        return base
    if max(w, h) > 2048:
        w, h = w * 2048 / max(w, h), h * 2048 / max(w, h)
    if min(w, h) > 768:
        w, h = w * 768 / min(w, h), h * 768 / min(w, h)
    return base + tile * math.ceil(int(w) / 512) * math.ceil(int(h) / 512)


def reference(case: Case) -> tuple[int | None, int | None]:
    """(input, output) by the documented rules; None where no rule exists."""
    if case.kind in ("structured", "reasoning"):
        inp = None
    else:
        model = case.model
        total = 3
        sizes = iter(case.url_sizes)
        for message in case.request["messages"]:
            total += 3 + _n(message["role"], model)
            if "name" in message:
                total += _n(message["name"], model) + 1
            content = message["content"]
            parts = [content] if isinstance(content, str) else content
            for part in parts:
                if isinstance(part, str) or part.get("type") == "text":
                    total += _n(part if isinstance(part, str) else part["text"], model)
                else:
                    image = part["image_url"]
                    size = next(sizes, None)
                    if size is None:
                        from otel_llm_cost._image_size import data_url_bytes, image_size

                        size = image_size(data_url_bytes(image["url"]) or b"")
                    total += _reference_image(model, size, image.get("detail", "auto"))
        tools = case.request.get("tools") or []
        if tools:
            init = 7 if model.startswith(("gpt-4o", "gpt-4.1")) else 10
            for tool in tools:
                f = tool["function"]
                total += init + _n(f["name"] + ":" + f["description"].removesuffix("."), model)
                props = f["parameters"]["properties"]
                if props:
                    total += 3
                    for key, p in props.items():
                        total += 3
                        if "enum" in p:
                            total += -3 + sum(3 + _n(item, model) for item in p["enum"])
                        total += _n(f"{key}:{p['type']}:{p['description'].removesuffix('.')}", model)
            total += 12
        inp = total
    out = None if case.kind == "reasoning" else (
        sum(_n(t, case.model) for t in case.texts)
        + sum(_n(name, case.model) + _n(args, case.model) for name, args in case.calls))
    return inp, out


# --- the two estimators -------------------------------------------------------------------

def _response(case: Case) -> dict[str, Any]:
    choices = [{"index": i, "message": {"role": "assistant", "content": t}} for i, t in enumerate(case.texts)]
    if case.calls:
        calls = [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                 for i, (n, a) in enumerate(case.calls)]
        choices.append({"index": len(choices), "message": {"role": "assistant", "content": None,
                                                           "tool_calls": calls}})
    return {"object": "chat.completion", "choices": choices}


def _old(case: Case) -> tuple[int, int]:
    """The previous fallback: message text only, streamed tool calls invisible."""
    from otel_llm_cost.tokens import estimate_usage

    usage = estimate_usage(case.model, case.request["messages"], "".join(case.texts))
    return usage.input_tokens, usage.output_tokens


def _new(case: Case) -> tuple[int, int, bool]:
    from otel_llm_cost._estimate_openai import Generated, estimate_openai

    usage = estimate_openai(case.model, case.request, Generated().response(_response(case)))
    return usage.input_tokens, usage.output_tokens, usage.lower_bound


def _err(estimate: int, ref: int | None) -> float | None:
    return None if ref is None or ref == 0 else abs(estimate - ref) / ref * 100


def run_corpus() -> list[dict[str, Any]]:
    rows = []
    for case in corpus():
        ref_in, ref_out = reference(case)
        if case.published_input is not None:
            assert ref_in == case.published_input, (case.name, ref_in)  # the transcription matches the API
        old_in, old_out = _old(case)
        new_in, new_out, floor = _new(case)
        ref_total = None if ref_in is None or ref_out is None else ref_in + ref_out
        rows.append({
            "name": case.name, "kind": case.kind, "model": case.model,
            "reference": "published" if case.published_input is not None else "rules" if ref_total else "none",
            "ref_input": ref_in, "ref_output": ref_out,
            "old_input": old_in, "old_output": old_out, "new_input": new_in, "new_output": new_out,
            "lower_bound": floor,
            "old_error_pct": _err(old_in + old_out, ref_total), "new_error_pct": _err(new_in + new_out, ref_total),
        })
    return rows


def _summary(rows: list[dict[str, Any]], key: str) -> str:
    errors = [r[key] for r in rows if r[key] is not None]
    if not errors:
        return "no reference"
    within = sum(e <= 5 for e in errors)
    return f"mean {sum(errors) / len(errors):5.1f} %  worst {max(errors):6.1f} %  within 5 %: {within}/{len(errors)}"


def print_corpus(rows: list[dict[str, Any]]) -> None:
    print(f"{'case':44} {'ref':>9} {'old':>9} {'new':>9}  {'old err':>8} {'new err':>8}")
    for r in rows:
        ref = "-" if r["ref_input"] is None or r["ref_output"] is None else f"{r['ref_input']}+{r['ref_output']}"
        old = f"{r['old_input']}+{r['old_output']}"
        new = ("≥" if r["lower_bound"] else "") + f"{r['new_input']}+{r['new_output']}"

        def pct(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} %"

        print(f"{r['name'][:44]:44} {ref:>9} {old:>9} {new:>9}  {pct(r['old_error_pct']):>8} "
              f"{pct(r['new_error_pct']):>8}")
    print()
    for label, subset in (("all with a reference", rows),
                          ("published API counts only", [r for r in rows if r["reference"] == "published"]),
                          ("excluding floors (URL images)", [r for r in rows if not r["lower_bound"]])):
        print(f"{label}:")
        print(f"  previous fallback: {_summary(subset, 'old_error_pct')}")
        print(f"  current estimate:  {_summary(subset, 'new_error_pct')}")
    print("\nReference: 'published' = input is the prompt_tokens the API returned (openai-cookbook), output by rule;\n"
          "'rules' = OpenAI's documented counting rules, applied independently; '-' = no rule (schemas) or hidden\n"
          "reasoning; '≥' = the estimate is marked a lower bound (llm_cost.estimate=lower_bound).")


# --- first-call latency -------------------------------------------------------------------

_FIRST_CALL = """
import json, sys, time
from otel_llm_cost import tokens
preload = sys.argv[1] == "preload"
t0 = time.perf_counter()
if preload:
    thread = tokens.preload()
    startup = time.perf_counter() - t0
    thread.join()
    loaded = time.perf_counter() - t0
else:
    startup = loaded = 0.0
t1 = time.perf_counter()
tokens.estimate_usage("gpt-4o", [{"role": "user", "content": "hello there"}], "Hello!")
first = time.perf_counter() - t1
t2 = time.perf_counter()
tokens.estimate_usage("gpt-4o", [{"role": "user", "content": "hello again"}], "Hi!")
second = time.perf_counter() - t2
print(json.dumps({"startup_ms": startup * 1e3, "background_load_ms": loaded * 1e3,
                  "first_ms": first * 1e3, "second_ms": second * 1e3}))
"""


def first_call(rounds: int = 5) -> dict[str, dict[str, float]]:
    """Median over fresh processes: the first estimate with a cold vocabulary, and with
    :func:`tokens.preload` run at start-up (its thread finished before the first call,
    as when ``instrument()`` runs at start-up and the first LLM reply comes later)."""
    out = {}
    for mode in ("cold", "preload"):
        runs = []
        for _ in range(rounds):
            proc = subprocess.run([sys.executable, "-c", _FIRST_CALL, mode], capture_output=True, text=True,
                                  cwd=ROOT, check=True)
            runs.append(json.loads(proc.stdout))
        out[mode] = {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.estimation", description=__doc__.split("\n")[0])
    parser.add_argument("--first-call", action="store_true", help="measure the first estimate's latency")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.first_call:
        result = first_call(args.rounds)
        if args.json:
            print(json.dumps(result))
        else:
            for mode, r in result.items():
                print(f"{mode:8} instrument-time cost {r['startup_ms']:7.2f} ms   background load "
                      f"{r['background_load_ms']:7.1f} ms   first estimate {r['first_ms']:7.2f} ms   "
                      f"second {r['second_ms']:6.3f} ms")
        return 0
    started = time.perf_counter()
    rows = run_corpus()
    if args.json:
        print(json.dumps(rows))
    else:
        print_corpus(rows)
        print(f"({len(rows)} cases in {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

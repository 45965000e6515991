"""Instrument/uninstrument cycles: the app sees the bare SDK's result in every state, and
there is exactly one of our spans per call while instrumented, none while not.

Ours next to other instrumentations of the same SDK (which must not be installed in
the user's or the main test environment) is tested in ``tests/peers/``.
"""

from __future__ import annotations

import openai.resources.chat.completions as chat
import pytest
from opentelemetry import context as otel_context

from otel_llm_cost.instrumentation._instrumentor import unwrap_own, wrap
from tests.wire import Reply

from ._harness import (
    INSTRUMENTORS,
    PROVIDERS,
    call,
    client,
    our_spans,
    outcome,
    run,
    usd,
)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_instrument_uninstrument_cycles(wire, instrumented, provider):
    sdk = client(provider, wire)
    scenario = lambda: outcome(lambda: call(provider, sdk))  # noqa: E731
    bare, _ = run(wire, [Reply(text="a b c")], scenario)
    inst = instrumented(INSTRUMENTORS[provider])
    for cycle in range(3):
        before = len(our_spans(inst))
        assert run(wire, [Reply(text="a b c")], scenario)[0] == bare
        spans = our_spans(inst)
        assert len(spans) == before + 1, f"cycle {cycle}: one span per call, not {len(spans) - before}"
        assert usd(spans[-1]) is not None
        inst.uninstrument()
        assert run(wire, [Reply(text="a b c")], scenario)[0] == bare
        assert len(our_spans(inst)) == before + 1, "no span while uninstrumented"
        inst.instrument()
        inst.instrument()  # a second instrument() is a no-op, not a second wrapper
    inst.uninstrument()


def test_uninstrument_restores_the_sdk_method(instrumented):
    original = vars(chat.Completions)["create"]
    inst = instrumented(INSTRUMENTORS["openai"])
    assert vars(chat.Completions)["create"] is not original
    inst.uninstrument()
    assert vars(chat.Completions)["create"] is original


def test_a_context_leaked_by_an_inner_wrapper_does_not_silence_later_calls(wire, instrumented):
    """Another instrumentation wrapped *inside* ours may attach a context during our call
    and restore it only later (the contrib GenAI instrumentations do, when a stream ends):
    the context it restores is the one inside our call. Our later calls must still be
    traced and priced, not taken for calls nested in that finished one."""
    leaked = []

    def inner(wrapped, instance, args, kwargs):
        leaked.append(otel_context.attach(otel_context.set_value("peer-key", "peer", otel_context.get_current())))
        return wrapped(*args, **kwargs)

    installed = wrap(chat.Completions, "create", inner)[2]
    outer = otel_context.attach(otel_context.get_current())  # the test's own context, put back below
    try:
        inst = instrumented(INSTRUMENTORS["openai"])  # ours outside the inner wrapper
        sdk = client("openai", wire)
        for _ in range(3):
            run(wire, [Reply(text="a b c")], lambda: outcome(lambda: call("openai", sdk)))
            otel_context.detach(leaked.pop())  # the inner wrapper restores "its" context late
        spans = our_spans(inst)
        assert len(spans) == 3 and all(usd(sp) is not None for sp in spans)
    finally:
        otel_context.detach(outer)  # what the late restores left current was our finished call's
        unwrap_own(chat.Completions, "create", installed)  # only the inner wrapper

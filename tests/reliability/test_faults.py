"""Our own code failing inside a wrapped call: the call still returns (or streams) exactly
what the SDK gave, the failure is logged, and the span still ends once.

Faults are injected through legitimate extension points, not by patching our code:
a faulty observer (``observers.add_observer``: failing before the call or at its end —
the conftest removes it after each test) and the process-wide price catalog
(``pricing.set_catalog`` with a catalog whose lookups raise).
"""

from __future__ import annotations

import logging

import pytest

from otel_llm_cost import observers
from otel_llm_cost import semconv as s
from otel_llm_cost.pricing import Catalog, bundled_catalog, set_catalog
from tests.wire import Reply

from ._harness import (
    PROVIDERS,
    assert_cost_consistent,
    bare_then_instrumented,
    call,
    calls_metric,
    client,
    consume,
    our_spans,
    outcome,
)


class Injected(RuntimeError):
    """The fault we inject; it must never reach the application."""


def _raise(*_args):
    raise Injected("injected fault")


class _BrokenCatalog(Catalog):
    """A catalog whose every lookup fails (a bug in pricing, simulated)."""

    def resolve(self, model, provider=None, **kwargs):
        raise Injected("pricing blew up")


class _FaultyObserver:
    """An observer with a bug at one of its two moments."""

    def __init__(self, when: str) -> None:
        self.when = when

    def before_call(self):
        if self.when == "before_call":
            _raise()
        return {"note": "ok"}

    def on_call_end(self, record):
        if self.when == "on_call_end":
            _raise()


FAULTS = {
    "observer_before_call": lambda: observers.add_observer(_FaultyObserver("before_call")),
    "observer_on_call_end": lambda: observers.add_observer(_FaultyObserver("on_call_end")),
    "pricing": lambda: set_catalog(_BrokenCatalog(bundled_catalog().entries().values())),
}


def _scenario(provider, sdk, stream):
    if stream:
        return lambda: consume(call(provider, sdk, stream=True))
    return lambda: outcome(lambda: call(provider, sdk))


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_our_fault_never_reaches_the_app(wire, instrumented, caplog, provider, fault, stream):
    sdk = client(provider, wire)
    caplog.set_level(logging.ERROR, logger="otel_llm_cost")
    scenario = _scenario(provider, sdk, stream)

    def faulty():
        FAULTS[fault]()
        return scenario()

    # The bare run has no instrumentation, so the fault (in our code) cannot act there.
    inst, seen, _ = bare_then_instrumented(wire, instrumented, provider, [Reply(text="a b c")], faulty)
    assert "Injected" not in repr(seen)
    assert any("otel_llm_cost" in r.getMessage() and r.exc_info and r.exc_info[0] is Injected
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    spans = our_spans(inst)
    assert len(spans) == 1
    attrs = spans[0].attributes
    # The call is still counted once, and its cost exactly priced or exactly marked unknown.
    assert calls_metric(inst) == 1
    assert_cost_consistent(spans[0])
    if fault == "pricing":
        assert attrs[s.LLM_COST_STATUS] == s.STATUS_UNKNOWN_MODEL
        assert (attrs[s.GEN_AI_USAGE_INPUT_TOKENS], attrs[s.GEN_AI_USAGE_OUTPUT_TOKENS]) == (13, 3) \
            or provider == "openai" and stream  # an OpenAI stream reports no usage unless asked
    else:
        assert attrs[s.LLM_COST_STATUS] == s.STATUS_PRICED

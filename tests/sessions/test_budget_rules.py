"""Budgets that cannot be enforced as written: bad amounts, and spend we cannot price.

A NaN budget compares false with every spend (never enforced, and two tracebacks per
call); ``'abc'`` used to raise a bare ``decimal.InvalidOperation`` from inside a call.
Both are now a clear ``ValueError`` at ``session()``. And a hard budget over a model
without a price would let every call through silently: once a call may have cost
money we cannot price, the hard budget refuses further calls unless the session says
``allow_unpriced=True``.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

import otel_llm_cost
from otel_llm_cost import BudgetExceeded, observers


@pytest.mark.parametrize("bad", [float("nan"), "NaN", "abc", "inf", Decimal("-1"), "-0.5", True, [1], ""])
@pytest.mark.parametrize("keyword", ["budget_usd", "user_budget_usd"])
def test_a_budget_that_is_not_a_finite_amount_is_a_clear_value_error(bad, keyword, caplog):
    with caplog.at_level(logging.DEBUG, logger="otel_llm_cost"):
        with pytest.raises(ValueError, match=keyword):
            otel_llm_cost.session(user_id="u", **{keyword: bad})
    assert not [r for r in caplog.records if r.exc_info]


def test_bad_thresholds_are_a_clear_value_error():
    with pytest.raises(ValueError, match="thresholds"):
        otel_llm_cost.session(budget_usd="1", thresholds=["half"])


def test_valid_amounts_are_kept_exactly(otel):
    with otel_llm_cost.session(budget_usd=" 0.005 ", hard=True) as s:
        assert s.budget == Decimal("0.005")
    with otel_llm_cost.session(budget_usd=0) as s:
        assert s.budget == 0


def test_hard_budget_refuses_after_an_unpriced_call(otel):
    with otel_llm_cost.session(budget_usd="1", hard=True) as s:
        otel.call(model="my-private-model")  # no price: spend unknown
        with pytest.raises(BudgetExceeded, match="cost is unknown.*allow_unpriced"):
            observers.before_call()
    assert s.calls == 1


def test_hard_budget_for_a_user_refuses_after_an_unpriced_call(otel):
    with otel_llm_cost.session(user_id="zed", user_budget_usd="1", hard=True):
        otel.call(model="my-private-model")
    with otel_llm_cost.session(user_id="zed"):
        with pytest.raises(BudgetExceeded, match="user 'zed'"):
            observers.before_call()


def test_allow_unpriced_counts_the_priced_spend_only(otel):
    # Each call reserves the default 0.01 USD (its request names no model).
    with otel_llm_cost.session(budget_usd="0.015", hard=True, allow_unpriced=True) as s:
        otel.call(model="my-private-model")
        observers.before_call()  # allowed: the unknown spend is ignored on purpose
        otel.call()  # 0.0035
        otel.call()  # 0.0070: another 0.01 no longer fits
        with pytest.raises(BudgetExceeded, match="0.015 USD budget"):
            observers.before_call()
    assert s.calls == 3 and s.priced == Decimal("0.0070")


def test_a_failed_call_that_reported_nothing_does_not_block(otel):
    with otel_llm_cost.session(budget_usd="1", hard=True) as s:
        otel.call(error=RuntimeError("boom"))  # cost nothing, and is known to
        observers.before_call()
        otel.call()
    assert s.calls == 2 and s.unpriced == 0 and s.errors == 1
    assert s.cost == s.priced_cost > 0  # the total stays exact


def test_a_soft_budget_with_unpriced_calls_never_refuses(otel):
    with otel_llm_cost.session(budget_usd="1"):
        otel.call(model="my-private-model")
        observers.before_call()

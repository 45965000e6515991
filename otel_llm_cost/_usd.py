"""Money as exact decimals: the fixed contexts every amount is computed in, and its text.

Why a module of its own. ``cost`` prices calls and so imports the price catalog; the
ledger's report only adds amounts up and prints them, and used to import the catalog
for these few names (a large part of ``otel-llm-cost report``'s start-up). ``cost``
re-exports them, so ``from otel_llm_cost.cost import MONEY, format_usd`` is unchanged.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow

__all__ = ["PRICING", "MONEY", "format_usd"]

#: Wide enough that no product of a token count and a rate is ever rounded. Every field
#: is given: ``Context()`` would copy the rest from ``decimal.DefaultContext``, which the
#: application may have changed.
PRICING = Context(prec=60, rounding=ROUND_HALF_EVEN, Emin=MIN_EMIN, Emax=MAX_EMAX, capitals=1, clamp=0,
                  flags=[], traps=[InvalidOperation, DivisionByZero, Overflow])
#: The context of every sum and product of money outside pricing (session and user
#: totals, per-model rows, budget thresholds and reservations): fixed here, never the
#: application's ``decimal.getcontext()`` — an application that sets ``prec = 3`` for
#: itself must not round our totals nor move our budget decisions. 80 digits hold the
#: sum of any number of exact call costs a process can make. (Comparisons of finite
#: Decimals are exact in any context.)
MONEY = Context(prec=80, rounding=ROUND_HALF_EVEN, Emin=MIN_EMIN, Emax=MAX_EMAX, capitals=1, clamp=0,
                flags=[], traps=[InvalidOperation, DivisionByZero, Overflow])


def format_usd(value: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros: ``0.00484``, ``12``."""
    return format(value.normalize(PRICING), "f")

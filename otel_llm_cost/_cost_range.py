"""The declared range of a cost: what any cost we emit or store can be.

Why a range. A cost is exact ``Decimal`` text on spans (``llm_cost.usd``) and in the
ledger; ``Decimal`` accepts ``1e-999990``, and plain decimal text of it is a megabyte.
So a cost is a whole number of 10**:data:`COST_EXPONENT` USD (10⁻⁴²), from 0 to
:data:`MAX_COST` USD, and its text is at most 52 characters. The unit is that fine so
that every rate a price file may hold (at most 40 significant digits, at most 100,000
USD per 1M tokens, hence no digit below 10⁻³⁶ per 1M tokens, which the price file
reader enforces) prices a call exactly: tokens × rate / 10⁶ is a whole number of units.
A cost from elsewhere is quantized to the unit (half-even; only digits below 10⁻⁴² USD
are touched) or, out of range, treated as unknown. A provider-reported cost is held to a narrower range
(``cost.refused_cost_reason``).
"""

from __future__ import annotations

from decimal import Context, Decimal

__all__ = ["COST_EXPONENT", "MAX_COST", "bounded_cost"]

#: The finest digit a cost keeps: 10**COST_EXPONENT USD.
COST_EXPONENT = -42
#: The largest cost of one call anything stores or emits (USD); above it a cost is unknown.
MAX_COST = Decimal(10) ** 9
_UNIT = Decimal(1).scaleb(COST_EXPONENT)
#: Holds any in-range cost at the unit without rounding (10 + 42 digits).
_CTX = Context(prec=60)


def bounded_cost(number: Decimal) -> Decimal | None:
    """``number`` in the declared range (0 to :data:`MAX_COST` USD), quantized to
    10**:data:`COST_EXPONENT` USD; None outside it (an unknown cost, never a huge string).

    Comparisons and ``adjusted()`` never expand the number, so ``1e-999990`` or
    ``1e+999990`` cost a few operations, not a megabyte of digits.
    """
    if not number.is_finite() or number > MAX_COST:
        return None
    if number.is_zero():
        return Decimal(0)
    if number < 0:
        return None
    if number.adjusted() < COST_EXPONENT:
        return None  # below the unit: zero it is not, and no digit of it can be kept
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if exponent < COST_EXPONENT:
        number = number.quantize(_UNIT, context=_CTX)
    return number

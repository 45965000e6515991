"""Exact money in the ledger: decimal text for the record, whole pico-dollars for summing.

Why two representations. ``cost_usd`` keeps every call's exact ``Decimal`` as text; a
database cannot sum text exactly (SQLite's ``SUM`` would read it as binary floats), so a
report used to fetch every row and add the decimals in Python, which is what made large
reports slow. ``cost_pico`` holds the same amount as an integer number of
**pico-dollars** (1 pUSD = 10⁻¹² USD), which every database sums exactly and fast.

Why 10⁻¹² is fine enough. Catalog rates are USD per 1M tokens with at most 5 decimal
places (``0.01875``), so ``tokens × rate / 10⁶`` has at most 11 decimal places: every
catalog cost is a whole number of pico-dollars. A user's price file may be finer; then
:func:`to_pico` returns ``None``, the column stays NULL, and the report sums that row's
``cost_usd`` as a ``Decimal`` instead. Nothing is ever rounded.

Why the sum is exact (the proof the report relies on). For each row with a non-NULL
``cost_pico`` = p, p = cost × 10¹² exactly (checked here with integer arithmetic) and
0 ≤ p < 2⁶³. A report computes, in SQL, ``hi = Σ (p div 10⁶)`` and ``lo = Σ (p mod 10⁶)``
over those rows; since p = 10⁶·(p div 10⁶) + (p mod 10⁶) for every p ≥ 0 and the sum is
linear, Σ p = 10⁶·hi + lo, and Σ cost = (10⁶·hi + lo)·10⁻¹², computed in Python integers
and ``Decimal`` without rounding (:func:`from_parts`). Rows with NULL ``cost_pico`` but a
cost are added as decimals. The split keeps SQLite's 64-bit integer sums far from
overflow: ``hi`` is in micro-dollars (it overflows only past 9.2·10¹² USD) and ``lo`` is
below 10⁶ per row (it overflows only past 9.2·10¹² rows), whereas a plain ``SUM(p)``
would overflow past 9.2 million USD. SQLite raises on integer overflow rather than
wrapping, and the report then falls back to decimal sums, so even that cannot give a
wrong number. PostgreSQL sums ``bigint`` into ``numeric`` and cannot overflow at all.
"""

from __future__ import annotations

from decimal import Decimal

from .._usd import MONEY

__all__ = ["UNIT_EXPONENT", "SPLIT", "to_pico", "from_parts", "MAX_PICO"]

#: ``cost_pico`` counts units of 10**UNIT_EXPONENT USD.
UNIT_EXPONENT = -12
#: The report sums ``cost_pico div SPLIT`` and ``cost_pico mod SPLIT`` separately.
SPLIT = 10**6
#: The largest value a 64-bit signed integer column holds.
MAX_PICO = 2**63 - 1
#: Wide enough that no ledger total is ever rounded.
_CTX = MONEY  # fixed: never the application's decimal context


def to_pico(cost: Decimal | None) -> int | None:
    """``cost`` in whole pico-dollars, or None when it is not exactly one (or absent/negative/huge)."""
    if cost is None or not cost.is_finite() or cost.is_signed():
        return None
    sign, digits, exponent = cost.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    mantissa = int("".join(map(str, digits)) or "0")
    shift = exponent - UNIT_EXPONENT  # cost = mantissa · 10**exponent = mantissa · 10**shift pUSD
    if shift >= 0:
        value = mantissa * 10**shift
    else:
        value, rest = divmod(mantissa, 10**-shift)
        if rest:
            return None  # finer than a pico-dollar: keep it out of the integer sums
    return value if value <= MAX_PICO else None


def from_parts(hi: int | Decimal | None, lo: int | Decimal | None) -> Decimal:
    """Σ cost from the SQL sums ``hi = Σ p div SPLIT`` and ``lo = Σ p mod SPLIT`` (see above)."""
    total = int(hi or 0) * SPLIT + int(lo or 0)
    return Decimal(total).scaleb(UNIT_EXPONENT, _CTX)

"""Exact cost arithmetic: tokens × USD-per-1M rates, in ``Decimal``, by component.

No float touches a price: rates are parsed from decimal strings, multiplied by integer
token counts in a wide context and shifted by six places, which is exact. The float
``gen_ai.usage.cost`` span attribute is derived from the exact value at the very end,
for tools that read it; ``llm_cost.usd`` carries the exact string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import semconv
from ._cost_range import COST_EXPONENT, MAX_COST, bounded_cost
from ._usd import MONEY, PRICING, format_usd
from .pricing import Catalog, ModelPrice, get_catalog
from .usage import CHARGES, PER_CALL_CHARGES, Usage

__all__ = ["MONEY", "Cost", "compute_cost", "cost_attributes", "price_usage", "format_usd", "reported_cost",
           "refused_cost_reason", "with_reported_cost", "COST_EXPONENT", "MAX_COST", "bounded_cost"]

#: A reported cost above this (USD, one call) is taken for a unit mistake and ignored.
_MAX_REPORTED = Decimal(100_000)
#: A reported cost below this (USD) but above zero is refused: no provider bills less than
#: a pico-dollar for a call; such a number is an encoding or unit error (``1e-17000``).
_MIN_REPORTED = Decimal("1e-12")

#: Every product of a token count and a rate (``_usd.PRICING``: wide enough that none is rounded).
_CTX = PRICING
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Cost:
    """The priced result of one call (or the honest absence of a price)."""

    #: ``priced`` | ``unknown_model`` | ``no_usage``
    status: str
    #: Exact USD, or None when the cost is unknown — never 0 for "unknown".
    usd: Decimal | None
    #: Exact USD per component (``input``, ``cache_read``, ``cache_write``, ``output``, ``reasoning``;
    #: ``input_audio``, ``output_audio``, ``output_image`` for tokens at their own rates;
    #: ``web_search``, ``web_search_preview``, ``file_search`` for tool calls billed per call;
    #: ``request`` for a per-call fee, ``provider`` for a reported cost that differs from ours).
    components: Mapping[str, Decimal] = field(default_factory=dict)
    #: The catalog key the model resolved to.
    model: str | None = None
    #: Catalog version or override file that supplied the price.
    catalog: str | None = None
    #: Why there is no price (``unknown_model: 'my-model'``), for humans.
    reason: str | None = None
    #: What cache reads saved against paying the input rate for them (USD, exact).
    cache_savings: Decimal = _ZERO
    #: ``local`` (our price) or ``provider`` (the response's own cost, which wins).
    source: str = semconv.COST_SOURCE_LOCAL
    #: With a provider-reported cost: our own price of the call, when we have one.
    local_usd: Decimal | None = None
    #: Charges the call reported that its price entry has no rate for: ``web_search`` …
    #: (left out of ``usd``), ``service_tier`` (priced at the standard rates).
    unpriced: tuple[str, ...] = ()

    @property
    def priced(self) -> bool:
        return self.status == semconv.STATUS_PRICED


def _times(tokens: int, rate: Decimal) -> Decimal:
    return _CTX.multiply(Decimal(tokens), rate).scaleb(-6, _CTX)


def _per_call(calls: int, per_thousand: Decimal) -> Decimal:
    return _CTX.multiply(Decimal(calls), per_thousand).scaleb(-3, _CTX)


def compute_cost(usage: Usage | None, price: ModelPrice | None, *,
                 model: str | None = None, service_tier: str | None = None) -> Cost:
    """Price ``usage`` with ``price``; unknown model or missing usage yields no number."""
    if price is None:
        return Cost(semconv.STATUS_UNKNOWN_MODEL, None,
                    reason=f"{semconv.STATUS_UNKNOWN_MODEL}: no price for model {model!r}"[:300])
    if usage is None:
        return Cost(semconv.STATUS_NO_USAGE, None, model=price.key, catalog=price.origin,
                    reason=f"{semconv.STATUS_NO_USAGE}: the provider reported no usage")
    rates = price.rates if not service_tier and not price.tiers else price.rates_for(usage.input_tokens, service_tier)
    unpriced: list[str] = []
    if service_tier and service_tier not in price.service_tiers:
        unpriced.append("service_tier")  # no published rate for the tier: the standard one
    # Audio input is part of the uncached input and billed at its own rate (never both).
    audio_in = usage.input_audio_tokens
    # _times, inline for the two components of every call.
    uncached = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens  # uncached_input_tokens
    components = {"input": _CTX.multiply(Decimal(uncached - audio_in), rates.input).scaleb(-6, _CTX)}
    if audio_in:
        components["input_audio"] = _times(audio_in, _or(rates.input_audio, rates.input))
    savings = _ZERO
    if usage.cache_read_tokens:
        components["cache_read"] = _times(usage.cache_read_tokens, rates.cache_read)
        savings = _CTX.subtract(_times(usage.cache_read_tokens, rates.input), components["cache_read"])
    if usage.cache_write_tokens:
        write_5m = usage.cache_write_tokens - usage.cache_write_1h_tokens
        components["cache_write"] = _CTX.add(
            _times(write_5m, rates.cache_write_5m), _times(usage.cache_write_1h_tokens, rates.cache_write_1h)
        )
    media_out = usage.output_audio_tokens + usage.output_image_tokens
    if price.reasoning_separate and usage.reasoning_tokens:
        components["output"] = _times(usage.output_tokens - usage.reasoning_tokens - media_out, rates.output)
        components["reasoning"] = _times(usage.reasoning_tokens, rates.reasoning)
    else:
        components["output"] = _CTX.multiply(Decimal(usage.output_tokens - media_out), rates.output).scaleb(-6, _CTX)
    if usage.output_audio_tokens:
        components["output_audio"] = _times(usage.output_audio_tokens, _or(rates.output_audio, rates.output))
    if usage.output_image_tokens:
        components["output_image"] = _times(usage.output_image_tokens, _or(rates.output_image, rates.output))
    # Per-call charges (``PER_CALL_CHARGES``), looked up only when one was counted.
    for charge in (PER_CALL_CHARGES if usage.web_search_calls or usage.web_search_preview_calls
                   or usage.file_search_calls else ()):
        calls = getattr(usage, CHARGES[charge][0])
        if calls:
            per_thousand = price.per_1k_calls.get(charge)
            if per_thousand is None:
                unpriced.append(charge)  # counted on the span, left out of the total: never invented
            else:
                components[charge] = _per_call(calls, per_thousand)
    if price.per_request:
        components["request"] = price.per_request
    total = _ZERO
    for value in components.values():
        total = _CTX.add(total, value)
    return Cost(semconv.STATUS_PRICED, total, components, model=price.key, catalog=price.origin,
                cache_savings=savings, unpriced=tuple(unpriced))


def _or(rate: Decimal | None, text_rate: Decimal) -> Decimal:
    """A modality's own rate, or the text rate where the entry has none."""
    return text_rate if rate is None else rate


def price_usage(model: str | None, usage: Usage | None, *, provider: str | None = None,
                service_tier: str | None = None, catalog: Catalog | None = None,
                when: datetime | None = None, strict: bool = False) -> Cost:
    """Resolve ``model`` in the catalog (the process-wide one by default) and price ``usage``.

    ``when`` is the request's time: the price in force then applies, so a price change
    never re-prices a past call. ``strict``: the endpoint's provider is unknown, price
    only from our own list.
    """
    price = (catalog or get_catalog()).resolve(model, provider, when=when, service_tier=service_tier,
                                               strict=strict)
    return compute_cost(usage, price, model=model, service_tier=service_tier)


def refused_cost_reason(value: Any) -> str | None:
    """Why a provider-reported cost is not used as the call's cost, or None when it is usable."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return f"not a number ({type(value).__name__})"
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except ArithmeticError:
        return "not a number"
    if not number.is_finite():
        return "not finite"
    if number < 0:
        return "negative"
    if number > _MAX_REPORTED:
        return f"above {_MAX_REPORTED} USD"
    if not number.is_zero() and number < _MIN_REPORTED:
        return f"nonzero below {_MIN_REPORTED} USD"
    return None


def reported_cost(value: Any) -> Decimal | None:
    """A provider's own cost of a call (OpenRouter ``usage.cost``, USD) as an exact Decimal.

    JSON numbers arrive as floats; ``str(float)`` is the shortest text that reads back
    the same, i.e. the digits the provider sent. Anything else (a bool, NaN, a negative
    or absurd amount, a nonzero amount below a pico-dollar: see
    :func:`refused_cost_reason`) is not a cost and is ignored: our own price stands.
    Digits past 10**:data:`COST_EXPONENT` USD (float noise) are quantized away.
    """
    if refused_cost_reason(value) is not None:
        return None
    number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    return bounded_cost(number)


def with_reported_cost(cost: Cost, reported: Decimal, source: str = semconv.COST_SOURCE_PROVIDER) -> Cost:
    """The provider's number wins; ours is kept beside it (``local_usd``) when known.

    ``source`` says whose number it is: the provider's response (``provider``) or the
    foreign span that carried it (``span``).

    Where both agree the breakdown by component is ours; where they differ the one
    component is ``provider``, so components always sum to ``usd``.
    """
    local = cost.usd
    components = dict(cost.components) if local == reported else {"provider": reported}
    return Cost(semconv.STATUS_PRICED, reported, components, model=cost.model, catalog=cost.catalog,
                cache_savings=cost.cache_savings if local == reported else _ZERO,
                source=source, local_usd=local,
                unpriced=cost.unpriced if local == reported else ())


def cost_attributes(cost: Cost, *, proposed: bool = False) -> dict[str, Any]:
    """The span attributes that state ``cost``: ``llm_cost.*`` and ``gen_ai.usage.cost``.

    One function for our spans and for the foreign spans the exporter wrapper prices,
    so both leave with the same names. ``proposed``: also the ``gen_ai.usage.cost.*``
    attributes of the open semantic-conventions proposal.
    """
    attrs: dict[str, Any] = {semconv.LLM_COST_STATUS: cost.status}
    if cost.model:
        attrs[semconv.LLM_COST_MODEL] = cost.model
    if cost.catalog:
        attrs[semconv.LLM_COST_CATALOG] = cost.catalog
    if cost.usd is not None:
        attrs[semconv.LLM_COST_USD] = format(cost.usd.normalize(_CTX), "f")  # format_usd, inline (every call)
        attrs[semconv.GEN_AI_USAGE_COST] = float(cost.usd)
        if proposed:
            attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] = float(cost.usd)
            attrs[semconv.GEN_AI_USAGE_COST_CURRENCY] = "USD"
            attrs[semconv.GEN_AI_USAGE_COST_SOURCE] = cost.source
        prefix = semconv.LLM_COST_COMPONENT_PREFIX
        for component, usd in cost.components.items():
            attrs[prefix + component] = format(usd.normalize(_CTX), "f")
        if cost.source != semconv.COST_SOURCE_LOCAL:
            attrs[semconv.LLM_COST_COST_SOURCE] = cost.source
            if cost.local_usd is not None:
                attrs[semconv.LLM_COST_LOCAL_USD] = format_usd(cost.local_usd)
    if cost.unpriced:
        attrs[semconv.LLM_COST_UNPRICED] = list(cost.unpriced)
    return attrs

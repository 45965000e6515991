"""Hard budgets that hold under concurrency: reserve a call's worst case, settle its cost.

Checking "spent < budget" before a call lets every call already in flight through: 16
threads racing one session spent 6.75× its budget before refusals began. So, like a
card authorization, a call under a hard budget first *reserves* its worst-case cost
(its input, bounded above by the UTF-8 bytes of the request's text — a BPE token is at
least one byte — plus its ``max_tokens``, at the model's prices) against every hard
budget of its chain, and is refused when that does not fit beside the spend and the
other calls' reservations. When it ends, its exact cost is counted and the
reservation *settled* (released). A call whose worst case cannot be known is reserved
at a documented default and says so on its span (``llm_cost.budget.reservation``):

* no ``max_tokens`` (nor an equivalent) in the request: :data:`DEFAULT_MAX_OUTPUT_TOKENS`
  output tokens at the model's price — ``default_max_tokens``;
* no model in the request, or a model we cannot price: :data:`DEFAULT_RESERVATION_USD`
  — ``default``.

The interface — :class:`Reservations`: ``reserve`` / ``settle`` / ``release`` — is small on
purpose: here the holds live in the process (:class:`LocalReservations`, under the
session store's lock); a fleet-wide budget keeps them in the shared ledger instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from ..cost import MONEY, price_usage
from ..usage import Usage
from ._budget import BudgetExceeded
from ._store import STORE, Session

__all__ = ["Reservation", "Reservations", "LocalReservations", "RESERVATIONS", "worst_case",
           "DEFAULT_MAX_OUTPUT_TOKENS", "DEFAULT_RESERVATION_USD"]

#: Output tokens reserved for a request that names no output limit.
DEFAULT_MAX_OUTPUT_TOKENS = 4096
#: Reserved for a call whose model is not in the request or has no price.
DEFAULT_RESERVATION_USD = Decimal("0.01")
_ZERO = Decimal(0)

SOURCE_MAX_TOKENS = "max_tokens"
SOURCE_DEFAULT_MAX_TOKENS = "default_max_tokens"
SOURCE_DEFAULT = "default"

#: Request keywords holding the prompt's text (OpenAI, Anthropic, Gemini, Bedrock).
_TEXT_KEYS = ("messages", "input", "contents", "system", "instructions", "prompt")
#: Request keywords bounding the output (OpenAI chat/Responses, Anthropic, Gemini config, Bedrock).
_LIMIT_KEYS = ("max_completion_tokens", "max_tokens", "max_output_tokens", "maxTokens")
#: Per message: the chat format's framing tokens, generously.
_PER_ITEM = 8
_MAX_WALK = 10_000


class Reservation:
    """One call's hold on the hard budgets of its chain."""

    __slots__ = ("owner", "holds", "usd", "source")

    def __init__(self, owner: Reservations, holds: tuple[Session, ...], usd: Decimal, source: str) -> None:
        self.owner = owner
        self.holds = holds
        #: None once settled or released.
        self.usd: Decimal | None = usd
        self.source = source

    def release(self) -> None:
        self.owner.release(self)


class Reservations(Protocol):
    """Where reservations are held: in the process, or (fleet budgets) in a shared ledger."""

    def reserve(self, chain: tuple[Session, ...], usd: Decimal, source: str) -> Reservation | None:
        """Hold ``usd`` on each hard budget of ``chain``, or raise :class:`BudgetExceeded`."""

    def settle(self, reservation: Reservation, usd: Decimal | None) -> None:
        """The call ended costing ``usd`` (already counted in its tallies): drop the hold."""

    def release(self, reservation: Reservation) -> None:
        """The call was never sent: drop the hold."""


class LocalReservations:
    """Holds kept on the tallies themselves (``Session.reserved``), under the store's lock."""

    def reserve(self, chain: tuple[Session, ...], usd: Decimal, source: str) -> Reservation | None:
        with STORE.lock:
            holds = []
            for t in chain:
                budget = t.budget
                if not t.hard or budget is None:
                    continue
                if t.unpriced and not t.allow_unpriced:
                    raise BudgetExceeded(
                        f"{t.kind} {t.id!r} has a hard budget of {budget} USD and {t.unpriced} call(s) whose "
                        f"cost is unknown ({t.unpriced_reason}); pass allow_unpriced=True to count priced "
                        f"spend only")
                committed = MONEY.add(t.priced, t.reserved)
                if committed >= budget or MONEY.add(committed, usd) > budget:
                    raise BudgetExceeded(
                        f"{t.kind} {t.id!r} has spent {t.priced} USD and holds {t.reserved} USD for calls in "
                        f"flight of its {budget} USD budget; this call may cost up to {usd} USD ({source})")
                holds.append(t)
            if not holds:
                return None
            for t in holds:
                t.reserved = MONEY.add(t.reserved, usd)
        return Reservation(self, tuple(holds), usd, source)

    def settle(self, reservation: Reservation, usd: Decimal | None) -> None:
        self.release(reservation)

    def release(self, reservation: Reservation) -> None:
        with STORE.lock:
            held = reservation.usd
            if held is None:
                return
            reservation.usd = None
            for t in reservation.holds:
                t.reserved = MONEY.subtract(t.reserved, held)


RESERVATIONS: Reservations = LocalReservations()


def worst_case(request: Mapping[str, Any] | None) -> tuple[Decimal, str]:
    """The most the call described by ``request`` (the SDK method's keywords) can cost."""
    if not request:
        return DEFAULT_RESERVATION_USD, SOURCE_DEFAULT
    model = request.get("model") or request.get("modelId")
    if not isinstance(model, str) or not model:
        return DEFAULT_RESERVATION_USD, SOURCE_DEFAULT
    limit = _output_limit(request)
    source = SOURCE_MAX_TOKENS
    if limit is None:
        limit, source = DEFAULT_MAX_OUTPUT_TOKENS, SOURCE_DEFAULT_MAX_TOKENS
    input_bound = _input_bound(request)
    cost = price_usage(model, Usage(input_bound, limit))
    if cost.usd is None:
        return DEFAULT_RESERVATION_USD, SOURCE_DEFAULT
    return cost.usd, source


def _output_limit(request: Mapping[str, Any]) -> int | None:
    places: list[Any] = [request]
    for nested in ("config", "generation_config", "inferenceConfig"):
        value = request.get(nested)
        if value is not None:
            places.append(value)
    for place in places:
        for key in _LIMIT_KEYS:
            value = place.get(key) if isinstance(place, Mapping) else getattr(place, key, None)
            if type(value) is int and value > 0:
                return value
    return None


def _input_bound(request: Mapping[str, Any]) -> int:
    """An upper bound of the prompt's tokens: its text's UTF-8 bytes plus framing."""
    total = _PER_ITEM
    stack = [request.get(k) for k in _TEXT_KEYS]
    seen = 0
    while stack and seen < _MAX_WALK:
        item = stack.pop()
        seen += 1
        if isinstance(item, str):
            total += len(item.encode("utf-8", "surrogatepass"))
        elif isinstance(item, Mapping):
            total += _PER_ITEM
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif item is not None:
            parts = getattr(item, "parts", None) or getattr(item, "text", None)  # SDK objects (Gemini)
            if parts is not None:
                stack.append(parts)
    return total


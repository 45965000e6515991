"""The provider contract: everything a provider module must say, and nothing else.

A provider module (``openai.py``, ``anthropic.py``, ``gemini.py``) answers four
questions about its SDK, with two small classes:

* a **request** — :meth:`CallSpec.start` opens the call's span from the arguments of
  the wrapped method (model, parameters, server), without reading the network;
* a **response** — :meth:`CallSpec.result` reads a complete response (usage, model,
  id, finish reasons) and ends the call, or hands back a proxied stream;
* a **stream event** — :meth:`StreamAccumulator.on_item` sees each item the SDK
  yields, untouched, and :meth:`StreamAccumulator.finish` writes what the items said
  into the call when the stream ends, however it ends;
* an **error** — :meth:`CallSpec.read_error` reads what a raised SDK error still
  says of a billed response (most providers: nothing).

Everything else — when spans start and end, proxies, pricing, metrics, observers,
safety — is shared (:mod:`._shared`, :mod:`._call`, :mod:`._streams`,
:mod:`._deferred`) and the same for every provider. See ``docs/adding-a-provider.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._call import LLMCall, Telemetry

__all__ = ["CallSpec", "Spec", "StreamAccumulator"]


class CallSpec(Protocol):
    """How one wrapped SDK method's calls are read."""

    def start(self, telemetry: Telemetry, instance: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> LLMCall | None:
        """Open the call from the request (never reads the network)."""

    def result(self, call: LLMCall, value: Any) -> Any:
        """Read a complete result and end the call, or return a proxied stream."""

    def read_error(self, call: LLMCall, exc: BaseException) -> None:
        """Read what a raised SDK error says of a billed response, before the call fails."""


class Spec:
    """A convenient base for :class:`CallSpec`: no error carries a response."""

    def read_error(self, call: LLMCall, exc: BaseException) -> None:
        return None


class StreamAccumulator(Protocol):
    """Follows one stream: sees each item, then concludes into the call."""

    def on_item(self, item: Any) -> None:
        """One item exactly as the SDK yields it (never changed, never kept beyond need)."""

    def finish(self, call: LLMCall, completed: bool) -> None:
        """Write the response attributes and usage (or an estimator) into ``call``."""

"""Switching an instrumentation on and off between rounds, even when its ``uninstrument`` leaks.

The honest way to alternate is ``instrument()`` / ``uninstrument()``, and that is
what the bench does — *if* ``uninstrument()`` really restores the SDK. Some
instrumentors leave wrappers behind (measured: OpenLLMetry 0.62.4 with openai 3.x),
and then every ``instrument()`` stacks another layer and the "bare" rounds are not
bare. For those the bench instruments exactly once and swaps the SDK's attributes
between the snapshot taken before and the one taken after ``instrument()``: the same
two states, reached without the leaking call.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Toggle"]

_Key = tuple[Any, str]


def _snapshot(prefixes: tuple[str, ...]) -> dict[_Key, Any]:
    """Every module global and class attribute of the SDK packages, by identity."""
    state: dict[_Key, Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(prefixes):
            continue
        namespace = getattr(module, "__dict__", {})
        for attr, value in list(namespace.items()):
            state[(module, attr)] = value
            if isinstance(value, type) and getattr(value, "__module__", "") == name:
                for cls_attr, cls_value in list(vars(value).items()):
                    state[(value, cls_attr)] = cls_value
    return state


def _diff(a: dict[_Key, Any], b: dict[_Key, Any]) -> dict[_Key, tuple[Any, Any]]:
    """Attributes present in both states whose object changed (wrapped or replaced).

    Modules and classes that appear only later were imported lazily, not patched.
    """
    return {key: (a[key], b[key]) for key in a.keys() & b.keys()
            if a[key] is not b[key] and not key[1].startswith("__")}


class Toggle:
    """``on()`` / ``off()`` for one instrumentor; ``mode`` says which way it is done."""

    def __init__(self, instrumentor: Any, kwargs: dict[str, Any], prefixes: tuple[str, ...]) -> None:
        self._instrumentor = instrumentor
        self._kwargs = kwargs
        before = _snapshot(prefixes)
        instrumentor.instrument(**kwargs)
        after = _snapshot(prefixes)
        instrumentor.uninstrument()
        leftover = _diff(before, _snapshot(prefixes))
        #: ``instrument`` (clean uninstrument) or ``swap`` (uninstrument left wrappers behind).
        self.mode = "instrument" if not leftover else "swap"
        self.leaked = sorted(f"{getattr(owner, '__name__', owner)}.{attr}" for owner, attr in leftover)
        self._changes = _diff(before, after)
        if self.mode == "swap":
            self._apply(0)  # back to the exact pre-instrumentation state

    def _apply(self, index: int) -> None:
        for (owner, attr), values in self._changes.items():
            setattr(owner, attr, values[index])

    def on(self) -> None:
        if self.mode == "instrument":
            self._instrumentor.instrument(**self._kwargs)
        else:
            self._apply(1)

    def off(self) -> None:
        if self.mode == "instrument":
            self._instrumentor.uninstrument()
        else:
            self._apply(0)

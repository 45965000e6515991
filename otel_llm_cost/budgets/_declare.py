"""Declared budgets: who (a scope), how much (exact USD), over what (a period), and how.

A budget is declared in code (:class:`Budget`) or in ``OTEL_LLM_COST_BUDGETS`` — one
budget per line (or separated by ``;``), inline or in a file the variable names::

    user:*        10    per month  hard  tz=Europe/Paris
    user:alice    2.50  per day    soft  thresholds=0.5,0.9,1
    service:chat  500   per day    hard  on_unavailable=closed
    tenant:*      100   per month  hard
    attr:plan=free 20   per day
    app           2000  per rolling:7d

Scopes: ``user:<id>`` or ``user:*`` (each user their own limit), ``service:<name>`` or
``service:*`` (the resource's ``service.name``), ``attr:<attribute>=<value>`` or
``attr:<attribute>=*`` (a span attribute the ledger keeps, ``OTEL_LLM_COST_LEDGER_ATTRIBUTES``;
``tenant:<value>`` is ``attr:tenant=<value>``), ``app`` (every call in the ledger).
A budget with no ``hard``/``soft`` word is soft. Amounts are exact decimals (``$`` and
``usd`` are allowed around them). Errors name the line and what is wrong, and a bad
declaration changes nothing: the budgets in force stay in force.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ..ledger._values import storable
from ._periods import Period, parse_period

__all__ = ["Budget", "BudgetDeclarationError", "parse_budgets", "read_declaration", "SCOPES",
           "ON_UNAVAILABLE", "EACH"]

#: The scopes a budget can limit (``attr``: an allow-listed attribute the ledger keeps).
SCOPES = ("user", "service", "attr", "app")
#: Scope words that name an attribute scope: ``tenant`` is ``attr`` of attribute ``tenant``.
ATTRIBUTE_SCOPES = ("tenant",)
#: Attributes with a scope of their own (ledger columns): not ``attr`` scopes.
_OWN_SCOPE = {"user.id": "user", "service.name": "service", "session.id": "a session budget"}
#: What a hard budget does when the ledger cannot be read in time.
ON_UNAVAILABLE = ("open", "closed")
#: The scope id meaning "each one separately".
EACH = "*"
_DEFAULT_THRESHOLDS = (Decimal("0.5"), Decimal("0.8"), Decimal(1))
_MAX_ID = 256


class BudgetDeclarationError(ValueError):
    """A budget declaration is invalid; nothing was changed."""


@dataclass(frozen=True)
class Budget:
    """A spend limit for a scope over a period.

    ``scope`` is ``user``, ``service``, ``attr`` (with ``attribute``, the span attribute
    whose value it limits; ``scope="tenant"`` is ``attr`` of ``tenant``) or ``app``; ``id``
    the user, service or attribute value it limits, or ``*`` (the default) for each of
    them separately. ``hard`` refuses a call before it is
    sent (:class:`~otel_llm_cost.sessions.BudgetExceeded`) when its worst case does not fit;
    a soft budget announces crossings of ``thresholds`` (fractions of ``limit_usd``).
    ``on_unavailable`` is what a hard budget does when the ledger cannot be read in time:
    ``open`` (the call goes, with a warning) or ``closed`` (it is refused).
    """

    scope: str
    limit_usd: Decimal | int | str
    period: Period | str = "month"
    id: str = EACH
    hard: bool = False
    tz: str = "UTC"
    thresholds: tuple[Decimal, ...] = field(default=_DEFAULT_THRESHOLDS)
    on_unavailable: str = "open"
    #: A name for metrics, alerts and the CLI; derived from the rest when not given.
    name: str = ""
    #: The attribute of an ``attr`` budget (e.g. ``tenant``).
    attribute: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.scope in ATTRIBUTE_SCOPES:
            if self.attribute and self.attribute != self.scope:
                raise BudgetDeclarationError(f"a {self.scope} budget limits the attribute {self.scope!r}, "
                                             f"not {self.attribute!r}")
            set_(self, "attribute", self.scope)
            set_(self, "scope", "attr")
        if self.scope not in SCOPES:
            raise BudgetDeclarationError(f"unknown budget scope {self.scope!r} (one of {', '.join(SCOPES)})")
        if self.scope == "app":
            set_(self, "id", "")
        elif not isinstance(self.id, str) or not self.id or len(self.id) > _MAX_ID:
            raise BudgetDeclarationError(f"a {self.scope} budget needs an id (or '*' for each {self.scope})")
        if self.scope == "attr":
            name = self.attribute
            if not isinstance(name, str) or not name or len(name) > _MAX_ID or any(c.isspace() or c in "=;#"
                                                                                   for c in name):
                raise BudgetDeclarationError(f"an attr budget needs an attribute name (attr:<name>=<value>), "
                                             f"not {name!r}")
            if name in _OWN_SCOPE:
                raise BudgetDeclarationError(f"{name} has a scope of its own: {_OWN_SCOPE[name]}")
        elif self.attribute:
            raise BudgetDeclarationError(f"a {self.scope} budget takes no attribute")
        try:
            limit = Decimal(str(self.limit_usd).strip().lstrip("$").removesuffix("usd").removesuffix("USD").strip())
        except InvalidOperation:
            raise BudgetDeclarationError(f"budget limit {self.limit_usd!r} is not a decimal amount of USD") from None
        if not limit.is_finite() or limit <= 0:
            raise BudgetDeclarationError(f"budget limit {self.limit_usd!r} must be a positive amount of USD")
        set_(self, "limit_usd", limit)
        try:
            period = self.period if isinstance(self.period, Period) else parse_period(str(self.period), self.tz)
            if isinstance(self.period, Period) and self.tz != "UTC" and period.tz == "UTC":
                period = Period(period.kind, self.tz, period.window, period.label)
            parse_period(period.name if period.window else period.kind, period.tz)
        except ValueError as exc:
            raise BudgetDeclarationError(str(exc)) from None
        set_(self, "period", period)
        set_(self, "tz", period.tz)
        try:
            thresholds = tuple(sorted({Decimal(str(t)) for t in self.thresholds}))
        except InvalidOperation:
            raise BudgetDeclarationError(f"budget thresholds {self.thresholds!r} must be fractions") from None
        if any(not t.is_finite() or t <= 0 for t in thresholds):
            raise BudgetDeclarationError(f"budget thresholds {self.thresholds!r} must be positive fractions")
        set_(self, "thresholds", thresholds)
        if self.on_unavailable not in ON_UNAVAILABLE:
            raise BudgetDeclarationError(f"on_unavailable={self.on_unavailable!r}: one of open, closed")
        if not self.name:
            who = self.scope if self.scope == "app" else f"{self.scope}:{self.id}"
            if self.scope == "attr":
                who = (f"{self.attribute}:{self.id}" if self.attribute in ATTRIBUTE_SCOPES
                       else f"attr:{self.attribute}={self.id}")
            set_(self, "name", f"{who}/{self.period_name}")

    @property
    def limit(self) -> Decimal:
        """``limit_usd`` as the exact ``Decimal`` it was normalised to."""
        limit = self.limit_usd
        assert isinstance(limit, Decimal)
        return limit

    @property
    def period_name(self) -> str:
        period = self.period
        assert isinstance(period, Period)
        return period.name

    @property
    def each(self) -> bool:
        """Whether every user (service) has this limit separately."""
        return self.id == EACH

    def applies_to(self, scope_id: str | None) -> bool:
        """Whether the call of this user (service, attribute value) falls under the budget;
        ids compare as the ledger stores them (``_values.storable``, the one function)."""
        if self.scope == "app":
            return True
        return scope_id is not None and (self.each or scope_id == self.id or storable(scope_id) == storable(self.id))


_WORD = re.compile(r"^(\w+)=(.*)$")


def parse_budgets(text: str, source: str = "OTEL_LLM_COST_BUDGETS") -> tuple[Budget, ...]:
    """Every budget in ``text`` (the syntax above), or :class:`BudgetDeclarationError`."""
    budgets: list[Budget] = []
    names: set[str] = set()
    for number, raw in enumerate(re.split(r"[;\n]", text), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            budget = _parse_line(line)
        except BudgetDeclarationError as exc:
            raise BudgetDeclarationError(f"{source}, budget {number} ({line!r}): {exc}") from None
        if budget.name in names:
            raise BudgetDeclarationError(f"{source}, budget {number} ({line!r}): a budget named "
                                         f"{budget.name!r} is declared twice")
        names.add(budget.name)
        budgets.append(budget)
    return tuple(budgets)


def _parse_line(line: str) -> Budget:
    words = line.split()
    if len(words) < 2:
        raise BudgetDeclarationError("expected '<scope> <amount> [per <period>] [hard|soft] [key=value …]'")
    scope, _, ident = words[0].partition(":")
    options: dict[str, object] = {"scope": scope.lower(), "limit_usd": words[1]}
    if scope.lower() == "attr":
        attribute, equals, value = ident.partition("=")
        if not equals or not attribute:
            raise BudgetDeclarationError("an attribute budget is declared attr:<attribute>=<value> "
                                         "(or =* for each value)")
        options.update(attribute=attribute, id=value or EACH)
    elif scope.lower() != "app":
        options["id"] = ident or EACH
    elif ident:
        raise BudgetDeclarationError("the app scope takes no id")
    rest = words[2:]
    period, tz = "month", "UTC"
    i = 0
    while i < len(rest):
        word = rest[i]
        lowered = word.lower()
        if lowered == "per" and i + 1 < len(rest):
            period = rest[i + 1]
            i += 2
            continue
        if lowered in ("hard", "soft"):
            options["hard"] = lowered == "hard"
        elif (match := _WORD.match(word)) is not None:
            key, value = match.group(1).lower(), match.group(2)
            if key == "tz":
                tz = value
            elif key == "thresholds":
                options["thresholds"] = tuple(v for v in value.split(",") if v)
            elif key == "on_unavailable":
                options["on_unavailable"] = value.lower()
            elif key == "name":
                options["name"] = value
            else:
                raise BudgetDeclarationError(f"unknown option {key!r} (tz, thresholds, on_unavailable, name)")
        else:
            raise BudgetDeclarationError(f"unexpected {word!r}")
        i += 1
    return Budget(period=period, tz=tz, **options)  # type: ignore[arg-type]


#: The largest declaration file read.
_MAX_FILE = 1 << 20


def read_declaration(value: str) -> tuple[Budget, ...]:
    """The budgets of ``OTEL_LLM_COST_BUDGETS``: inline, or ``@path`` / a path to a file."""
    value = value.strip()
    if not value:
        return ()
    path: str | None = None
    if value.startswith("@"):
        path = value[1:].strip()
    elif "\n" not in value and ";" not in value and (value.startswith(("/", "./", "~")) or os.path.isfile(value)):
        path = value
    if path is None:
        return parse_budgets(value)
    file = Path(path).expanduser()
    try:
        if not file.is_file():
            raise BudgetDeclarationError(f"OTEL_LLM_COST_BUDGETS names {file}, which is not a file")
        with file.open("rb") as handle:
            data = handle.read(_MAX_FILE + 1)
    except OSError as exc:
        raise BudgetDeclarationError(f"OTEL_LLM_COST_BUDGETS: cannot read {file} ({exc})") from None
    if len(data) > _MAX_FILE:
        raise BudgetDeclarationError(f"OTEL_LLM_COST_BUDGETS: {file} is over {_MAX_FILE} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BudgetDeclarationError(f"OTEL_LLM_COST_BUDGETS: {file} is not UTF-8 text") from None
    return parse_budgets(text, str(file))


def check_unique(budgets: Iterable[Budget]) -> tuple[Budget, ...]:
    out = tuple(budgets)
    names = [b.name for b in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise BudgetDeclarationError(f"a budget named {dup!r} is declared twice")
    for b in out:
        if not isinstance(b, Budget):
            raise BudgetDeclarationError(f"not a Budget: {b!r}")
    return out

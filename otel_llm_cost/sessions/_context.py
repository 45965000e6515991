"""Which sessions are open in the current context, and the ``session()`` / ``track()`` scopes.

The innermost open session lives in the OpenTelemetry context (itself a contextvar),
so it follows the code the way a parent span does: into asyncio tasks created inside
the block, into threads given the context (``contextvars.copy_context().run``, or the
OTel threading instrumentation), and into explicit ``context=`` arguments. It carries
its chain — itself, the sessions it is nested in, and their users — so a call is
counted in every open session around it: a parent's total includes its children.

While a session is open its id and user id are also W3C baggage, so
``opentelemetry.propagate.inject`` carries them to the next service, whose LLM spans
then carry ``session.id`` / ``user.id`` and are tallied under the same id there.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import Token
from decimal import Decimal
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context

from .. import observers, semconv
from ._reserve import RESERVATIONS, worst_case
from ._store import KIND_COLLECTOR, KIND_SESSION, KIND_USER, STORE, Session
from ._summary import UsageSummary

__all__ = ["SessionScope", "session", "track", "current_session", "current_chain", "current_usage", "end_session"]

_KEY = otel_context.create_key("otel_llm_cost.session")


def _chain_in(context: otel_context.Context | None) -> tuple[Session, ...] | None:
    """The chain stored under ``_KEY``: only ``SessionScope._open`` sets it, always to a tuple of tallies."""
    if context is None:
        context = otel_context.get_current()
    # Read on every LLM call: the Context (a dict) is read directly, with no ``typing.cast``.
    chain: tuple[Session, ...] | None = context.get(_KEY)  # type: ignore[assignment]
    return chain


def current_session(context: otel_context.Context | None = None) -> Session | None:
    """The innermost open session or collector of ``context`` (default: the current one)."""
    chain = _chain_in(context)
    return chain[0] if chain else None


def current_chain(context: otel_context.Context | None = None) -> tuple[Session, ...] | None:
    """Every tally a call made in ``context`` counts in, innermost first (None: no session)."""
    return _chain_in(context)


def current_usage() -> UsageSummary:
    """Usage and cost recorded so far by the innermost open session or ``track()`` scope.

    With nothing open this is an empty summary (zero calls): open ``track()`` (or the
    ASGI ``UsageMiddleware``) around a request to collect it.
    """
    tally = current_session()
    if tally is None:
        return Session(KIND_COLLECTOR, None).summary()
    with STORE.lock:
        return tally.summary()


def end_session(session_id: str):
    """End a live session by id: records its metrics once, returns its summary (None if not live)."""
    return STORE.end(session_id)


def _to_decimal(value: Any, what: str = "budget_usd") -> Decimal | None:
    if value is None:
        return None
    return _decimal(value, what)


def _decimal(value: Any, what: str) -> Decimal:
    """An amount given to ``session()``: a finite number >= 0, or a clear ``ValueError``.

    Checked where the session is opened, in the application's own code path: a NaN
    budget would compare false with every spend (never enforced), ``'abc'`` would raise
    a bare ``decimal.InvalidOperation`` deep inside a call. Better one clear error at
    the line that wrote the mistake.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number of USD, not {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (ArithmeticError, ValueError, TypeError):
        raise ValueError(f"{what} must be a number of USD, not {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{what} must be a finite number >= 0, not {value!r}")
    return number


class SessionScope:
    """What :func:`session` and :func:`track` return: a ``with`` block (sync or async)
    or a decorator that opens a session (or an anonymous collector) each time it is entered."""

    def __init__(self, *, collector: bool, session_id: str | None = None, user_id: str | None = None,
                 budget_usd: Any = None, user_budget_usd: Any = None, thresholds: Any = None,
                 hard: bool = False, on_budget: Callable[[Any], None] | None = None,
                 attributes: Mapping[str, Any] | None = None, end: bool = True,
                 allow_unpriced: bool = False) -> None:
        self._allow_unpriced = allow_unpriced
        self._collector = collector
        self._session_id = session_id
        self._user_id = user_id
        self._budget = _to_decimal(budget_usd)
        self._user_budget = _to_decimal(user_budget_usd, "user_budget_usd")
        self._thresholds = tuple(sorted(_decimal(t, "thresholds") for t in thresholds)) if thresholds else None
        self._hard = hard
        self._on_budget = on_budget
        self._attributes = dict(attributes or {})
        self._end = end
        self._tokens: list[tuple[Token[otel_context.Context], Session, bool]] = []

    # --- opening / closing ------------------------------------------------------------

    def _open(self) -> Session:
        ctx, tally = self._begin()
        self._tokens.append((otel_context.attach(ctx), tally, True))
        return tally

    def _begin(self) -> tuple[otel_context.Context, Session]:
        """Open the tally and build the context it is current in, without attaching it."""
        from ._observer import ensure_observing

        ensure_observing()
        parent_chain = current_chain() or ()
        if self._collector:
            tally = Session(KIND_COLLECTOR, None)
            created = True
        else:
            user_id = self._user_id or next((t.user_id for t in parent_chain if t.user_id), None)
            attrs = {k: v for k, v in self._attributes.items() if isinstance(v, (str, bool, int, float))}
            tally, created = STORE.open(self._session_id, user_id, attrs)
            if attrs and not created:
                tally.attributes = {**(tally.attributes or {}), **attrs}
        self._configure_budgets(tally)
        # Nested: counted here and in every enclosing session (and their users), once each.
        chain = tuple(t for t in tally.chain if t not in parent_chain) + parent_chain
        if chain[0] is not tally:  # re-entering a session already open further out
            chain = (tally,) + tuple(t for t in chain if t is not tally)
        ctx = otel_context.set_value(_KEY, chain)
        if not self._collector:
            ctx = baggage.set_baggage(semconv.SESSION_ID, tally.id, ctx)
            if tally.user_id:
                ctx = baggage.set_baggage(semconv.USER_ID, tally.user_id, ctx)
        with STORE.lock:
            tally.open_blocks += 1
        return ctx, tally

    def _configure_budgets(self, tally: Session) -> None:
        if self._budget is not None:
            tally.budget = self._budget
            tally.hard = self._hard
            tally.allow_unpriced = self._allow_unpriced
            tally.on_budget = self._on_budget
            if self._thresholds:
                tally.thresholds = self._thresholds
        if self._user_budget is not None and tally.user_id:
            user = next((t for t in tally.chain if t.kind == KIND_USER), None)
            if user is not None:
                user.budget = self._user_budget
                user.hard = self._hard
                user.allow_unpriced = self._allow_unpriced
                user.on_budget = self._on_budget
                if self._thresholds:
                    user.thresholds = self._thresholds

    def _close(self) -> None:
        token, tally, _ = self._tokens.pop()
        otel_context.detach(token)
        self._finish(tally)

    def _finish(self, tally: Session) -> None:
        if STORE.block_exited(tally, self._end and not self._collector):
            STORE.end_session(tally)

    def __enter__(self) -> Session:
        return self._open()

    def __exit__(self, *exc: Any) -> None:
        self._close()

    async def __aenter__(self) -> Session:
        return self._open()

    async def __aexit__(self, *exc: Any) -> None:
        self._close()

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate ``fn``: each call runs in a fresh scope with these settings."""
        make = functools.partial(SessionScope, collector=self._collector, session_id=self._session_id,
                                 user_id=self._user_id, budget_usd=self._budget,
                                 user_budget_usd=self._user_budget, thresholds=self._thresholds,
                                 hard=self._hard, on_budget=self._on_budget,
                                 attributes=self._attributes, end=self._end,
                                 allow_unpriced=self._allow_unpriced)
        # A generator function returns its generator before the body runs: a scope around
        # the call would open and close before the first item. The session instead spans
        # the iteration, and is current only while the body runs (each step attaches and
        # detaches it), so it neither leaks into the consumer's code between items nor
        # breaks when a server advances the generator from a different thread each time.
        if inspect.isasyncgenfunction(fn):
            @functools.wraps(fn)
            async def async_gen_run(*args: Any, **kwargs: Any) -> Any:
                scope = make()
                ctx, tally = scope._begin()
                try:
                    agen = fn(*args, **kwargs)
                    op: Any = agen.asend
                    arg: Any = None
                    while True:
                        token = otel_context.attach(ctx)
                        try:
                            item = await op(arg)
                        except StopAsyncIteration:
                            return
                        finally:
                            otel_context.detach(token)
                        try:
                            arg = yield item
                            op = agen.asend
                        except GeneratorExit:
                            token = otel_context.attach(ctx)
                            try:
                                await agen.aclose()
                            finally:
                                otel_context.detach(token)
                            raise
                        except BaseException as exc:  # thrown in by the consumer: pass it on
                            op, arg = agen.athrow, exc
                finally:
                    scope._finish(tally)
            return async_gen_run

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_run(*args: Any, **kwargs: Any) -> Any:
                scope = make()
                ctx, tally = scope._begin()
                try:
                    gen = fn(*args, **kwargs)
                    op: Any = gen.send
                    arg: Any = None
                    while True:
                        token = otel_context.attach(ctx)
                        try:
                            item = op(arg)
                        except StopIteration as stop:
                            return stop.value
                        finally:
                            otel_context.detach(token)
                        try:
                            arg = yield item
                            op = gen.send
                        except GeneratorExit:
                            token = otel_context.attach(ctx)
                            try:
                                gen.close()
                            finally:
                                otel_context.detach(token)
                            raise
                        except BaseException as exc:  # thrown in by the consumer: pass it on
                            op, arg = gen.throw, exc
                finally:
                    scope._finish(tally)
            return gen_run

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_run(*args: Any, **kwargs: Any) -> Any:
                async with make():
                    return await fn(*args, **kwargs)
            return async_run

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with make():
                return fn(*args, **kwargs)
        return run


def session(session_id: str | None = None, user_id: str | None = None, budget_usd: Any = None, *,
            user_budget_usd: Any = None, thresholds: Any = None, hard: bool = False,
            on_budget: Callable[[Any], None] | None = None,
            attributes: Mapping[str, Any] | None = None, end: bool = True,
            allow_unpriced: bool = False) -> SessionScope:
    """Open a session: a context manager (sync/async) or decorator yielding a :class:`Session`.

    ``session_id`` defaults to a random id; an id already live is joined, not reset.
    ``budget_usd``/``user_budget_usd`` set soft thresholds (``thresholds``, default
    0.5, 0.8, 1.0 of the budget); ``hard=True`` also refuses new calls once over.
    ``attributes`` go on every LLM span of the session, and those allow-listed in
    ``OTEL_LLM_COST_METRIC_ATTRIBUTES`` on its metrics. With ``end=False`` the session
    outlives the block until :func:`end_session` or the idle timeout.

    A hard budget cannot be enforced on spend it cannot see: once a call in the session
    may have cost money but could not be priced (an unknown model, a reply without
    usage), further calls are refused — unless ``allow_unpriced=True``, which counts
    only the priced spend. Amounts must be finite numbers >= 0 (``ValueError``).
    """
    return SessionScope(collector=False, session_id=session_id, user_id=user_id, budget_usd=budget_usd,
                  user_budget_usd=user_budget_usd, thresholds=thresholds, hard=hard,
                  on_budget=on_budget, attributes=attributes, end=end, allow_unpriced=allow_unpriced)


def track() -> SessionScope:
    """Collect the usage of a block (e.g. one HTTP request) for :func:`current_usage`.

    Unlike a session it has no id: it adds nothing to spans or baggage, records no
    session metrics and is not registered anywhere; it dies with its block.
    """
    return SessionScope(collector=True)


# --- what an LLM call made in a session carries ---------------------------------------

#: Where ids from inbound baggage go when baggage is not trusted: on the span for
#: correlation with the caller's traces, under names nothing counts or bills by.
BAGGAGE_SESSION_ID = "llm_cost.baggage.session.id"
BAGGAGE_USER_ID = "llm_cost.baggage.user.id"


def _inbound_ids(context: otel_context.Context | None) -> tuple[str, str | None] | None:
    sid = baggage.get_baggage(semconv.SESSION_ID, context)
    if not sid:
        return None
    uid = baggage.get_baggage(semconv.USER_ID, context)
    cut = semconv.MAX_ATTRIBUTE_CHARS  # a request header anyone can write: bounded
    return str(sid)[:cut], (str(uid)[:cut] if uid else None)


def trust_baggage() -> bool:
    """Whether inbound ``session.id``/``user.id`` baggage may join live sessions.

    Off by default: baggage is a request header any client can write, and a session id
    it names would join that session, spend its (or its user's) budget and bill calls
    to it. Turn it on (``OTEL_LLM_COST_TRUST_BAGGAGE``) only where every inbound hop
    is your own service, or a gateway strips the header from outside traffic.
    """
    from ..config import load

    return load().trust_baggage


def span_attributes(context: otel_context.Context | None = None) -> dict[str, Any]:
    """session.id / user.id (and session attributes) for an LLM span started in ``context``.

    From the innermost open session, else from inbound W3C baggage (a session another
    service opened): as ``session.id``/``user.id`` when baggage is trusted, else under
    ``llm_cost.baggage.*`` so that the span correlates without counting as that session.
    """
    return span_attributes_of(_chain_in(context), context)


def span_attributes_of(chain: tuple[Session, ...] | None, context: otel_context.Context | None) -> dict[str, Any]:
    """:func:`span_attributes` for the ``chain`` already read from ``context`` (one read per call)."""
    if chain:
        for tally in chain:
            if tally.kind == KIND_SESSION:
                out: dict[str, Any] = {semconv.SESSION_ID: tally.id}
                if tally.user_id:
                    out[semconv.USER_ID] = tally.user_id
                if tally.attributes:
                    out.update(tally.attributes)
                return out
    ids = _inbound_ids(context)
    if ids is None:
        return {}
    sid, uid = ids
    trusted = trust_baggage()
    out = {semconv.SESSION_ID if trusted else BAGGAGE_SESSION_ID: sid}
    if uid:
        out[semconv.USER_ID if trusted else BAGGAGE_USER_ID] = uid
    return out


def chain_of(context: otel_context.Context | None = None) -> tuple[Session, ...] | None:
    """The tallies a call made in ``context`` counts in: the open sessions, else — only
    when baggage is trusted — the session named by inbound baggage (looked up or opened here)."""
    return counted_chain(_chain_in(context), context)


def counted_chain(chain: tuple[Session, ...] | None,
                  context: otel_context.Context | None) -> tuple[Session, ...] | None:
    """:func:`chain_of` for the ``chain`` already read from ``context``."""
    if chain:
        return chain
    ids = _inbound_ids(context)
    if ids is None or not trust_baggage():
        return None
    return STORE.lookup(*ids)


def check_budget(context: otel_context.Context | None = None) -> dict[str, Any] | None:
    """Before a call is sent: reserve its worst case against the hard budgets of its
    chain, or refuse it (:class:`BudgetExceeded`). Returns the span attributes that say
    what was reserved, or None when no hard budget applies (see :mod:`._reserve`)."""
    return check_budget_of(_chain_in(context))


def check_budget_of(chain: tuple[Session, ...] | None) -> dict[str, Any] | None:
    """:func:`check_budget` for the ``chain`` already read from the context."""
    if not chain:
        return None
    for t in chain:
        if t.hard and t.budget is not None:
            break
    else:
        return None
    usd, source = worst_case(observers.request())
    reservation = RESERVATIONS.reserve(chain, usd, source)
    if reservation is not None:
        observers.hold(reservation)
    return {semconv.LLM_COST_BUDGET_RESERVED_USD: float(usd), semconv.LLM_COST_BUDGET_RESERVATION: source}

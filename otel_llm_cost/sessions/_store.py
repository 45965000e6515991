"""Running session tallies, and the bounded, thread-safe registry that holds them.

Every counted LLM call is added here by the span processor, under one lock, to each
tally of the chain it belongs to (the open sessions of its context, innermost first,
then their users). Memory is bounded whatever the traffic: live sessions are capped
(least recently active evicted first) and end after an idle timeout; ending a session
records its metrics once and drops it from the registry. Tallies use ``__slots__``
and create their per-model table only when a call arrives, because a million
sessions pass through a long-running server.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from ..cost import MONEY
from ..usage import Usage
from ._summary import ModelUsage, SessionSummary

__all__ = ["Session", "SessionStore", "STORE"]

_log = logging.getLogger("otel_llm_cost")

#: A session's ``unpriced_reason`` when it ended having seen no call while nothing was
#: instrumented (no instrumentor of ours on, no session processor to see a peer's spans).
NO_INSTRUMENTED_CALLS = "no instrumented calls"
_warned_uninstrumented = False


def _nothing_instrumented() -> bool:
    """No instrumentor of ours is on, and no session processor exists to count another
    instrumentation's spans: a session can then see no call at all."""
    from .. import foreign_spans
    from ._processor import SessionSpanProcessor

    return not foreign_spans.any_provider_instrumented() and not SessionSpanProcessor.created
_ZERO = Decimal(0)
DEFAULT_MAX_SESSIONS = 100_000
DEFAULT_IDLE_TIMEOUT_S = 1800.0
#: Rows of a session's per-model table; calls of further models share one row.
MAX_MODELS_PER_SESSION = 64
OTHER_MODELS = "other"
DEFAULT_THRESHOLDS = (Decimal("0.5"), Decimal("0.8"), Decimal("1"))

# Indexes into Session.tokens (a list keeps the tally to one slot for six numbers).
_IN, _OUT, _CR, _CW, _CW1H, _REASON = range(6)

KIND_SESSION = "session"
KIND_USER = "user"
KIND_COLLECTOR = "collector"


def _usage_of(tokens: list[int], estimated: bool, lower_bound: bool = False) -> Usage:
    return Usage(tokens[_IN], tokens[_OUT], tokens[_CR], tokens[_CW], tokens[_CW1H], tokens[_REASON],
                 source="estimated" if estimated else "reported", lower_bound=lower_bound)


class Session:
    """The running tally of one session, user or request collector.

    Read it while it runs (``cost``, ``priced_cost``, ``usage``, ``calls``) or take a
    frozen :meth:`summary`. Numbers change only through the store, under its lock.
    """

    __slots__ = ("kind", "id", "user_id", "attributes", "budget", "thresholds", "hard", "on_budget",
                 "crossed", "user", "priced", "calls", "unpriced", "estimated", "floors", "errors",
                 "unpriced_reason", "tokens", "by_model", "started_at", "_t0", "last_seen", "ended",
                 "ended_after", "open_blocks", "allow_unpriced", "in_flight", "closing", "reserved",
                 "uninstrumented", "__weakref__")

    def __init__(self, kind: str, session_id: str | None, user_id: str | None = None,
                 attributes: Mapping[str, Any] | None = None) -> None:
        self.kind = kind
        self.id = session_id
        self.user_id = user_id
        self.attributes = attributes or None
        self.budget: Decimal | None = None
        self.thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS
        self.hard = False
        #: With a hard budget: let calls through after one whose cost is unknown.
        self.allow_unpriced = False
        #: Our calls started in this tally and not yet ended (a stream read after the
        #: ``with`` block): the session ends when the block and the last of them have.
        self.in_flight = 0
        #: Its last block has exited (with ``end=True``) while calls were still in flight.
        self.closing = False
        self.on_budget: Callable[[Any], None] | None = None
        self.crossed: set[Decimal] | None = None
        #: The user's tally (sessions with a user id only).
        self.user: Session | None = None
        self.priced = _ZERO
        #: Held by calls in flight under this tally's hard budget (``_reserve``): their
        #: worst-case cost, until each ends and is counted.
        self.reserved = _ZERO
        #: ``unpriced``: calls that may have cost money but could not be priced (a failure
        #: that reported no usage cost nothing, and is only one of the ``errors``).
        self.calls = self.unpriced = self.estimated = self.errors = 0
        #: Calls whose estimate is a lower bound: the session's totals are then "at least".
        self.floors = 0
        self.unpriced_reason: str | None = None
        self.tokens = [0, 0, 0, 0, 0, 0]
        self.by_model: dict[str, list] | None = None
        self.started_at = time.time()
        self._t0 = self.last_seen = time.monotonic()
        self.ended = False
        self.ended_after: float | None = None
        self.open_blocks = 0
        #: It ended having seen no call while nothing was instrumented: its cost is
        #: unknown ("no instrumented calls"), not zero.
        self.uninstrumented = False

    @property
    def chain(self) -> tuple[Session, ...]:
        """This tally and its user's: what a call in this session alone counts in."""
        user = self.user
        return (self,) if user is None else (self, user)

    # --- reading -------------------------------------------------------------------

    @property
    def cost(self) -> Decimal | None:
        """Exact running total; None once any call in it could not be priced, or when it
        ended having seen no call with nothing instrumented."""
        return None if self.unpriced or self.uninstrumented else self.priced

    @property
    def priced_cost(self) -> Decimal:
        return self.priced

    @property
    def usage(self) -> Usage:
        return _usage_of(self.tokens, self.estimated > 0, self.floors > 0)

    @property
    def duration_s(self) -> float:
        return self.ended_after if self.ended_after is not None else time.monotonic() - self._t0

    def summary(self) -> SessionSummary:
        by_model = {
            name: ModelUsage(row[0], row[1], row[2], _usage_of(row[3], False))
            for name, row in (self.by_model or {}).items()
        }
        return SessionSummary(
            cost=self.cost, priced_cost=self.priced,
            unpriced_reason=NO_INSTRUMENTED_CALLS if self.uninstrumented else self.unpriced_reason,
            usage=self.usage, calls=self.calls, unpriced_calls=self.unpriced,
            estimated_calls=self.estimated, errors=self.errors, by_model=by_model,
            session_id=self.id, user_id=self.user_id, duration_s=self.duration_s,
            started_at=self.started_at, ended=self.ended,
        )

    def __repr__(self) -> str:
        return f"<Session {self.kind} id={self.id!r} calls={self.calls} cost={self.cost}>"

    # --- writing (store lock held) -----------------------------------------------------

    def _cross(self, usd: Decimal) -> list[Decimal]:
        """Thresholds that spending ``usd`` more crosses for the first time (marks them)."""
        budget = self.budget
        if budget is None or not usd:
            return []
        before = self.priced
        after = MONEY.add(before, usd)
        out = []
        for fraction in self.thresholds:
            limit = MONEY.multiply(fraction, budget)
            if before < limit <= after:
                crossed = self.crossed
                if crossed is None:
                    crossed = self.crossed = set()
                if fraction not in crossed:
                    crossed.add(fraction)
                    out.append(fraction)
        return out

    def _add(self, usd: Decimal | None, usage: Usage | None, model: str, error: bool,
             reason: str | None, now: float) -> None:
        self.calls += 1
        self.last_seen = now
        # A failed call that reported no usage cost nothing (providers do not bill a failed
        # request): it is an error, not an unknown cost, here as in the budget rule and the
        # ledger's report. Any other call without a price makes the total unknown.
        unpriced = usd is None and not (error and usage is None)
        if usd is not None:
            self.priced = MONEY.add(self.priced, usd)
        elif unpriced:
            self.unpriced += 1
            if self.unpriced_reason is None:
                self.unpriced_reason = reason or "unpriced call"
        if error:
            self.errors += 1
        rows = self.by_model
        if rows is None:
            row = None
            rows = self.by_model = {}
        else:
            row = rows.get(model)
        if row is None:
            if len(rows) >= MAX_MODELS_PER_SESSION:
                # The model name comes from the response: a proxy or a bug can send a new
                # one each call, and a live session must not grow without bound.
                model = OTHER_MODELS
                row = rows.get(model)
            if row is None:
                row = rows[model] = [0, _ZERO, 0, [0, 0, 0, 0, 0, 0]]
        row[0] += 1
        if usd is not None:
            row[1] = MONEY.add(row[1], usd)
        elif unpriced:
            row[2] += 1
        if usage is not None:
            if usage.source != "reported":
                self.estimated += 1
            if usage.lower_bound:
                self.floors += 1
            i, o, cr = usage.input_tokens, usage.output_tokens, usage.cache_read_tokens
            cw, cw1, r = usage.cache_write_tokens, usage.cache_write_1h_tokens, usage.reasoning_tokens
            t = self.tokens
            t[0] += i; t[1] += o; t[2] += cr; t[3] += cw; t[4] += cw1; t[5] += r  # noqa: E702
            t = row[3]
            t[0] += i; t[1] += o; t[2] += cr; t[3] += cw; t[4] += cw1; t[5] += r  # noqa: E702


class SessionStore:
    """Live sessions and users by id."""

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS,
                 idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S) -> None:
        #: Re-entrant: a thread already inside it (a finalizer or a callback reached while
        #: it is held) takes it again instead of waiting on itself for ever.
        self.lock = threading.RLock()
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.users: OrderedDict[str, Session] = OrderedDict()
        #: Session metrics of the installed processor (see ``_metrics.SessionMetrics``).
        self.metrics: Any = None

    def set_limits(self, max_sessions: int | None = None, idle_timeout_s: float | None = None) -> None:
        if max_sessions is not None:
            self.max_sessions = max(1, int(max_sessions))
        if idle_timeout_s is not None:
            self.idle_timeout_s = float(idle_timeout_s)

    def reset(self) -> None:
        """Forget every session and user without recording anything (tests, forks)."""
        with self.lock:
            self.sessions.clear()
            self.users.clear()

    # --- sessions ----------------------------------------------------------------------

    def open(self, session_id: str | None, user_id: str | None,
             attributes: Mapping[str, Any] | None = None) -> tuple[Session, bool]:
        """The live session ``session_id`` (created if needed); returns (session, created)."""
        sid = session_id or uuid.uuid4().hex
        with self.lock:
            now = time.monotonic()
            ended = self._sweep(now)
            session = self.sessions.get(sid)
            created = session is None
            if session is None:
                session = Session(KIND_SESSION, sid, user_id, attributes)
                self.sessions[sid] = session
                if user_id:
                    session.user = self._user(user_id, now)
                ended.extend(self._evict_over_cap())
            else:
                self.sessions.move_to_end(sid)
                session.last_seen = now
        self._ended(ended)
        if created and self.metrics is not None:
            self.metrics.session_started(session)
        return session, created

    def lookup(self, session_id: str, user_id: str | None) -> tuple[Session, ...]:
        """The chain for a span that names its session only by attribute (baggage, foreign)."""
        return self.open(session_id, user_id)[0].chain

    def end(self, session_id: str) -> SessionSummary | None:
        with self.lock:
            session = self.sessions.pop(session_id, None)
            if session is not None:
                self._close(session, time.monotonic())
        if session is None:
            return None
        self._ended([session])
        return session.summary()

    def end_session(self, session: Session) -> None:
        """End ``session`` if it is still the live one under its id."""
        sid = session.id
        with self.lock:
            if sid is None or self.sessions.get(sid) is not session:
                return
            del self.sessions[sid]
            self._close(session, time.monotonic())
        self._ended([session])

    def user(self, user_id: str) -> Session:
        with self.lock:
            return self._user(user_id, time.monotonic())

    def _user(self, user_id: str, now: float) -> Session:
        user = self.users.get(user_id)
        if user is None:
            user = self.users[user_id] = Session(KIND_USER, user_id, user_id)
            while len(self.users) > self.max_sessions:
                self.users.popitem(last=False)
        else:
            self.users.move_to_end(user_id)
        user.last_seen = now
        return user

    # --- calls -----------------------------------------------------------------------

    def call_started(self, chain: tuple[Session, ...]) -> None:
        """One of our calls started in ``chain``'s sessions (see ``Session.in_flight``)."""
        with self.lock:
            for tally in chain:
                if tally.kind == KIND_SESSION:
                    tally.in_flight += 1

    def call_ended(self, chain: tuple[Session, ...]) -> None:
        """The call ended: a session whose block already exited ends with its last call."""
        with self.lock:
            done = self._calls_ended(chain)
        for tally in done:
            self.end_session(tally)

    @staticmethod
    def _calls_ended(chain: tuple[Session, ...]) -> list[Session]:
        """:meth:`call_ended` with the lock held: the sessions to end now."""
        done = []
        for tally in chain:
            if tally.kind != KIND_SESSION or tally.in_flight <= 0:
                continue
            tally.in_flight -= 1
            if tally.in_flight == 0 and tally.closing and not tally.open_blocks:
                tally.closing = False
                done.append(tally)
        return done

    def block_exited(self, tally: Session, end: bool) -> bool:
        """The last open block of ``tally`` may have exited: whether to end it now.

        With calls still in flight (a stream returned from the block, read after it), the
        session stays live and ends with the last of them, so its metrics and its
        "ended" summary include them.
        """
        with self.lock:
            tally.open_blocks -= 1
            if tally.open_blocks or not end:
                return False
            if tally.in_flight:
                tally.closing = True
                return False
            return True

    def add(self, chain: tuple[Session, ...], usd: Decimal | None, usage: Usage | None, model: str,
            error: bool, reason: str | None) -> list[tuple[Session, Decimal]]:
        """Count one finished call in every tally of ``chain``; returns budget crossings.

        Under the store's lock, so concurrent calls never announce the same crossing
        twice nor miss one.
        """
        return self.add_and_end(chain, usd, usage, model, error, reason, ())[0]

    def add_and_end(self, chain: tuple[Session, ...], usd: Decimal | None, usage: Usage | None, model: str,
                    error: bool, reason: str | None, ended: tuple[Session, ...] | None,
                    ) -> tuple[list[tuple[Session, Decimal]], list[Session]]:
        """:meth:`add`, and :meth:`call_ended` for ``ended`` (the sessions that counted the
        call in flight) under the same lock: one lock per finished call, not two.

        Returns the crossings and the sessions to end now, which the caller ends with
        :meth:`end_sessions` once it has announced the crossings (as :meth:`add` then
        :meth:`call_ended` would). If counting fails, they are ended here and the error
        raised.
        """
        crossings: list[tuple[Session, Decimal]] = []
        done: list[Session] = []
        try:
            with self.lock:
                try:
                    now = time.monotonic()
                    for tally in chain:
                        if usd and tally.budget is not None:
                            crossings.extend((tally, f) for f in tally._cross(usd))
                        tally._add(usd, usage, model, error, reason, now)
                        tid = tally.id  # None only for a track() collector, never registered
                        if tid is None:
                            continue
                        if tally.kind == KIND_SESSION and not tally.ended:
                            if self.sessions.get(tid) is tally:
                                self.sessions.move_to_end(tid)
                        elif tally.kind == KIND_USER and self.users.get(tid) is tally:
                            self.users.move_to_end(tid)
                    # _sweep only when the least recently active session or user is idle.
                    limit = now - self.idle_timeout_s
                    sessions, users = self.sessions, self.users
                    if (sessions and next(iter(sessions.values())).last_seen <= limit) or (
                            users and next(iter(users.values())).last_seen <= limit):
                        swept = self._sweep(now)
                    else:
                        swept = []
                finally:
                    if ended:
                        done = self._calls_ended(ended)
            if swept:
                self._ended(swept)
        except BaseException:
            self.end_sessions(done)
            raise
        return crossings, done

    def end_sessions(self, sessions: list[Session]) -> None:
        """End each of ``sessions`` (from :meth:`add_and_end`)."""
        for tally in sessions:
            self.end_session(tally)

    # --- bounds (lock held) -------------------------------------------------------------

    def _sweep(self, now: float) -> list[Session]:
        """End sessions idle past the timeout; the registry is ordered by activity."""
        ended: list[Session] = []
        limit = now - self.idle_timeout_s
        sessions = self.sessions
        for _ in range(64):  # bounded work per call; the rest goes on the next calls
            if not sessions:
                break
            sid, session = next(iter(sessions.items()))
            if session.last_seen > limit:
                break
            if session.open_blocks:
                session.last_seen = now  # a `with` block still holds it: not idle
                sessions.move_to_end(sid)
                continue
            del sessions[sid]
            self._close(session, now)
            ended.append(session)
        users = self.users
        while users:
            uid, user = next(iter(users.items()))
            if user.last_seen > limit:
                break
            del users[uid]
        return ended

    def _evict_over_cap(self) -> list[Session]:
        ended = []
        now = time.monotonic()
        while len(self.sessions) > self.max_sessions:
            _, session = self.sessions.popitem(last=False)
            self._close(session, now)
            ended.append(session)
        return ended

    @staticmethod
    def _close(session: Session, now: float) -> None:
        session.ended = True
        session.ended_after = now - session._t0
        if session.kind == KIND_SESSION and not session.calls and not session.errors and _nothing_instrumented():
            session.uninstrumented = True

    def _ended(self, sessions: list[Session]) -> None:
        global _warned_uninstrumented
        if not _warned_uninstrumented and any(s.uninstrumented for s in sessions):
            _warned_uninstrumented = True
            sid = next(s.id for s in sessions if s.uninstrumented)
            _log.warning("otel_llm_cost: session %r ended with no LLM call seen, and no LLM SDK is instrumented: "
                         "call otel_llm_cost.configure() at start-up, or run under opentelemetry-instrument. "
                         "Its cost is unknown (%s), not 0. (Said once.)", sid, NO_INSTRUMENTED_CALLS)
            try:
                # A misspelt exporter name makes opentelemetry-instrument give up before it
                # instruments anything: the likeliest cause, named here where we run.
                from ._setup import _report_unresolved_exporters

                _report_unresolved_exporters()
            except Exception:  # noqa: BLE001
                _log.debug("otel_llm_cost: could not check the exporter variables", exc_info=True)
        metrics = self.metrics
        if metrics is None:
            return
        for session in sessions:
            try:
                metrics.session_ended(session)
            except Exception:  # noqa: BLE001
                _log.exception("otel_llm_cost: error recording session metrics (ignored)")


    def _after_fork_in_child(self) -> None:
        """A fresh lock and an empty registry for a forked child.

        ``fork()`` copies only the forking thread: if another thread held the lock at
        that moment, the child's copy stays locked forever and its first session or
        LLM call hangs. The sessions live at the fork are the parent's — it counts them
        and records their metrics — so the child starts with none rather than
        reporting copies of them a second time.
        """
        self.lock = threading.RLock()
        self.sessions = OrderedDict()
        self.users = OrderedDict()


#: The process-wide registry: sessions are per process, like the tracer provider.
STORE = SessionStore()
if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork()
    os.register_at_fork(after_in_child=STORE._after_fork_in_child)

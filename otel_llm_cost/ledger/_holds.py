"""The budgets' holds as part of the ledger (schema 10): their table, the PostgreSQL
check-and-hold function, and the exporter's release of the holds its rows replace.

Why in the ledger's schema. A hard budget holds a call's worst case in
``llm_budget_holds`` before the call is sent and settles it to the exact cost when the
call ends (``budgets._ledger``); the hold counts until the exporter has written the
call's row. The exporter deletes those holds in the transaction that writes the rows
(:func:`release`), so a hot scope does not carry hundreds of settled holds, each an index
probe of ``llm_calls`` in every check, until the budgets' sweep. For that the table must
exist wherever rows are written: schema 10 creates it (``IF NOT EXISTS``: ledgers used
with budgets before have it already) with an index of the settled holds by their row's key.

Why a function on PostgreSQL. A check is a lock per (budget, scope), a read of the
scope's spend (rollups, edge rows, live holds) and a hold inserted only within the limit.
As statements from the client that is five round trips (``BEGIN``, lock, read, insert,
``COMMIT``), each a wait for the server's process to be scheduled: the round trips, not
the work, were most of a check's time. :data:`HOLD_FUNCTION_PG` does it all on the server
in one ``SELECT`` (autocommit: the statement is the transaction, and its advisory lock is
released at its commit). It must be a function rather than one plain statement: a
statement's snapshot is taken before it waits for the lock, so it would not see the hold
the previous holder of the lock committed; each statement inside a ``VOLATILE`` PL/pgSQL
function takes a new snapshot, after the lock. The sums are exact ``numeric`` (bigint
sums of whole pico-dollars, times 10⁻¹², plus the decimal rests), compared with the
limit on the server; the client gets the spend back as a ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ._schema import COLUMNS

__all__ = ["HOLDS_SQLITE", "HOLDS_PG", "HOLD_FUNCTION_PG", "HOLD_CALL_PG", "release"]

_TABLE = """
CREATE TABLE IF NOT EXISTS llm_budget_holds (
    id                 TEXT   PRIMARY KEY,
    budget             TEXT   NOT NULL,
    scope_key          TEXT   NOT NULL,
    usd_pico           BIGINT NOT NULL,
    model              TEXT,
    trace_id           TEXT,
    span_id            TEXT,
    expires_unix_nano  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_budget_holds_key ON llm_budget_holds (budget, scope_key, expires_unix_nano);
CREATE INDEX IF NOT EXISTS llm_budget_holds_call ON llm_budget_holds (trace_id, span_id) WHERE trace_id IS NOT NULL
"""
#: The holds table and its indexes (SQLite reads ``BIGINT`` as an integer column).
HOLDS_SQLITE = HOLDS_PG = _TABLE


def _calls_edge(column: str | None, lo: str, hi: str) -> str:
    """The rows of one edge range of the period, of one user or service (``column``) or of all."""
    scope = f"{column} = p_key AND " if column else ""
    return ("SELECT SUM(cost_pico), SUM(cost_usd) FILTER (WHERE cost_pico IS NULL)\n"
            f"                FROM llm_calls WHERE {scope}end_time_unix_nano >= {lo} AND end_time_unix_nano < {hi}")


def _attribute_edge(lo: str, hi: str) -> str:
    """The rows of one edge range of the period carrying the attribute's value."""
    return ("SELECT SUM(c.cost_pico), SUM(c.cost_usd) FILTER (WHERE c.cost_pico IS NULL)\n"
            "                FROM llm_call_attributes a JOIN llm_calls c ON c.trace_id = a.trace_id"
            " AND c.span_id = a.span_id\n"
            "                WHERE a.name = p_attribute AND a.value = p_key\n"
            f"                AND a.end_time_unix_nano >= {lo} AND a.end_time_unix_nano < {hi}")


def _spend_read(keyed: bool, edges: tuple[str, str]) -> str:
    """One scope kind's read: its whole days' cells, its two edge ranges' rows (``edges``),
    and the live holds whose row is not written yet, summed into ``pico`` and ``rest``.
    Each kind's read stays a static statement of its own in the function (PL/pgSQL prepares
    it once per connection; ``EXECUTE format(…)`` would plan it at every check): the branches
    are written out from this one template, not assembled inside the function."""
    key = "key = p_key AND " if keyed else ""
    return f"""        SELECT COALESCE(SUM(p), 0), COALESCE(SUM(r), 0) INTO pico, rest FROM (
            SELECT SUM(pico_hi) * 1000000 + SUM(pico_lo) AS p, SUM(cost_rest) AS r FROM llm_rollup
                WHERE dim = p_dim AND {key}day >= p_first_day AND day < p_last_day
            UNION ALL {edges[0]}
            UNION ALL {edges[1]}
            UNION ALL SELECT SUM(usd_pico), NULL FROM llm_budget_holds h WHERE budget = p_budget
                AND scope_key = p_scope_key AND expires_unix_nano > p_now AND id <> p_hold_id
                AND NOT EXISTS (SELECT 1 FROM llm_calls c WHERE c.trace_id = h.trace_id
                AND c.span_id = h.span_id)) parts;
"""


def _rows_edges(column: str | None) -> tuple[str, str]:
    return _calls_edge(column, "p_lo1", "p_hi1"), _calls_edge(column, "p_lo2", "p_hi2")


#: One check (``p_limit`` given: hold only within it) or settle (``p_limit`` NULL: always
#: write the hold, replacing the call's in-flight one) under the scope's lock. Returns the
#: scope's committed spend over the window without ``p_hold_id`` — whole UTC days
#: ``[p_first_day, p_last_day)`` from ``llm_rollup``, the edges ``[p_lo1, p_hi1)`` and
#: ``[p_lo2, p_hi2)`` of end times (empty when lo = hi) from the rows, plus the live holds
#: not yet rows — and whether the hold was written. The read is one statement, one
#: snapshot, taken after the lock: the exporter commits a row, its rollups and the deletion
#: of its hold together without the lock, so a call counts once, as a hold or as a row.
#: ``p_kind`` is ``user``, ``service``, ``attr`` or ``app`` (every key of ``p_dim``); each
#: branch is a static statement, which PL/pgSQL prepares once per connection.
HOLD_FUNCTION_PG = ("""
CREATE OR REPLACE FUNCTION llm_budget_hold(
    p_lock TEXT, p_budget TEXT, p_scope_key TEXT, p_kind TEXT, p_dim TEXT, p_key TEXT, p_attribute TEXT,
    p_first_day TEXT, p_last_day TEXT, p_lo1 BIGINT, p_hi1 BIGINT, p_lo2 BIGINT, p_hi2 BIGINT, p_now BIGINT,
    p_hold_id TEXT, p_usd_pico BIGINT, p_usd NUMERIC, p_limit NUMERIC, p_expires BIGINT, p_model TEXT,
    p_trace_id TEXT, p_span_id TEXT, OUT committed NUMERIC, OUT held BOOLEAN)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    pico NUMERIC;
    rest NUMERIC;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_lock, 0));
    IF p_kind = 'user' THEN
""" + _spend_read(True, _rows_edges("user_id")) + """    ELSIF p_kind = 'service' THEN
""" + _spend_read(True, _rows_edges("service")) + """    ELSIF p_kind = 'attr' THEN
""" + _spend_read(True, (_attribute_edge("p_lo1", "p_hi1"), _attribute_edge("p_lo2", "p_hi2"))) + """    ELSE
""" + _spend_read(False, _rows_edges(None)) + """    END IF;
    committed := pico * 0.000000000001 + rest;
    IF p_limit IS NOT NULL AND (committed >= p_limit OR committed + p_usd > p_limit) THEN
        held := false;
        RETURN;
    END IF;
    INSERT INTO llm_budget_holds (id, budget, scope_key, usd_pico, model, trace_id, span_id, expires_unix_nano)
        VALUES (p_hold_id, p_budget, p_scope_key, p_usd_pico, p_model, p_trace_id, p_span_id, p_expires)
        ON CONFLICT (id) DO UPDATE SET usd_pico = excluded.usd_pico, model = excluded.model,
            trace_id = excluded.trace_id, span_id = excluded.span_id,
            expires_unix_nano = excluded.expires_unix_nano;
    held := true;
END
$fn$
""")
#: The one statement a check or a settle sends (psycopg placeholders).
HOLD_CALL_PG = ("SELECT committed, held FROM llm_budget_hold(%s::text, %s::text, %s::text, %s::text, %s::text, "
                "%s::text, %s::text, %s::text, %s::text, %s::bigint, %s::bigint, %s::bigint, %s::bigint, "
                "%s::bigint, %s::text, %s::bigint, %s::numeric, %s::numeric, %s::bigint, %s::text, %s::text, "
                "%s::text)")

_TRACE, _SPAN = COLUMNS.index("trace_id"), COLUMNS.index("span_id")


def release(conn: Any, kind: str, rows: Iterable[Sequence[Any]]) -> None:
    """Delete the holds of the calls whose ``rows`` (in ``COLUMNS`` order) this open
    transaction inserted: from its commit the rows count, and the holds no longer would.

    On PostgreSQL a hold another transaction has locked (a settle replacing it, the sweep
    deleting it) is skipped rather than waited for: the exporter never waits on a budget,
    and a hold left behind does not count (its row exists) until the sweep removes it.
    """
    keys = [(row[_TRACE], row[_SPAN]) for row in rows]
    if not keys:
        return
    if kind == "sqlite":
        conn.executemany("DELETE FROM llm_budget_holds WHERE trace_id = ? AND span_id = ?", keys)
        return
    conn.execute("DELETE FROM llm_budget_holds WHERE id IN (SELECT h.id FROM llm_budget_holds h "
                 "JOIN unnest(%s::text[], %s::text[]) AS k(trace_id, span_id) "
                 "ON h.trace_id = k.trace_id AND h.span_id = k.span_id FOR UPDATE OF h SKIP LOCKED)",
                 ([k[0] for k in keys], [k[1] for k in keys]))

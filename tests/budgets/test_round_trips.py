"""A hard budget's check, and a call's settle, cost one round trip to a PostgreSQL ledger.

Counted, not timed: the budget ledger talks to the real server through a TCP relay that
reads the client's side of the PostgreSQL protocol and counts the messages that each end
a request the client then waits on — a simple ``Query`` (``Q``), or the ``Sync`` (``S``)
that closes an extended-protocol request (parse, bind, execute). Before, a check was five
(``BEGIN``, lock, read, insert, ``COMMIT``).
"""

from __future__ import annotations

import socket
import struct
import threading
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

from otel_llm_cost.budgets._ledger import BudgetLedger, scope_of

#: Startup-phase requests that carry no type byte (SSL and GSS encryption requests).
_UNTYPED_REQUESTS = {80877103, 80877104}


class CountingRelay:
    """Forwards one server's port; counts the client's requests (``Q`` and ``S`` messages)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.requests = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(server, client, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, server, bytearray()), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, parse: bytearray | None) -> None:
        """Copy ``source`` to ``sink``; on the client's side (``parse``) count requests."""
        started = False
        try:
            while data := source.recv(65536):
                if parse is None:
                    sink.sendall(data)
                    continue
                parse += data
                while True:
                    if not started:  # untyped: length (with itself), then a request code
                        if len(parse) < 8:
                            break
                        length, code = struct.unpack("!II", parse[:8])
                        if len(parse) < length:
                            break
                        del parse[:length]
                        started = code not in _UNTYPED_REQUESTS
                        continue
                    if len(parse) < 5:
                        break
                    kind, length = parse[:1], struct.unpack("!I", parse[1:5])[0]
                    if len(parse) < 1 + length:
                        break
                    del parse[:1 + length]
                    if kind in (b"Q", b"S"):
                        with self._lock:
                            self.requests += 1
                sink.sendall(data)  # counted first: the answer cannot come before the count
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def count(self) -> int:
        with self._lock:
            return self.requests

    def close(self) -> None:
        self._listener.close()


def test_a_check_and_a_settle_are_one_round_trip_each_on_postgresql(pg_url):
    url = urlsplit(pg_url)
    relay = CountingRelay(url.hostname or "127.0.0.1", url.port or 5432)
    netloc = url.netloc.rsplit("@", 1)[0] + "@" if "@" in url.netloc else ""
    ledger = BudgetLedger(urlunsplit(url._replace(netloc=f"{netloc}127.0.0.1:{relay.port}",
                                                  query="sslmode=disable&gssencmode=disable")))
    scope = scope_of("user", "ann")
    now = 1_796_000_000 * 10**9  # a day in November 2026
    window = (now - 86_400 * 10**9 * 3 - 3_600 * 10**9, now + 1)  # whole days and two edges
    try:
        # Connect, migrate, and a first check and settle (each prepares its statement on the
        # server, an extra round trip once per connection); from here on, only checks and settles.
        ledger.hold("b", scope, *window, now, "warm", 1, now + 10**12, usd=Decimal(0), limit=Decimal(1))
        ledger.hold("b", scope, *window, now, "warm", 1, now + 10**12, model="gpt-4o", trace_id="w" * 32,
                    span_id="w" * 16)
        before = relay.count()
        results, counts = [], []
        for n in range(10):
            results.append(ledger.hold("b", scope, *window, now, f"c{n}", 10**9, now + 10**12,
                                       usd=Decimal("0.001"), limit=Decimal("0.0055")))
            counts.append(relay.count())
        checks = relay.count() - before
        ledger.hold("b", scope, *window, now, "c0", 5 * 10**8, now + 10**12, model="gpt-4o",
                    trace_id="t" * 32, span_id="s" * 16)
        settles = relay.count() - before - checks
    finally:
        ledger.close()
        relay.close()
    # 0.001 held per call within 0.0055 (plus the warm-up's 1 pico-dollar): five holds, then refusals.
    assert [held for _, held in results] == [True] * 5 + [False] * 5
    assert results[5][0] == Decimal("0.005000000001")
    assert (checks, settles) == (10, 1), (before, counts)

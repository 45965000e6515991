"""Listen ports for the real servers the suite starts (Collector, Prometheus, PostgreSQL, Chromium).

A port taken with ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral range,
the same range every outgoing connection draws its local port from. Between our
releasing such a port and the child process binding it, any client connection of
the suite (an exporter, a scrape, the SDKs) can take it, and the child then fails
with "address already in use". So ports are drawn from below the ephemeral range,
where only listeners live, are checked free by binding them, and are never handed
out twice by this process.
"""

from __future__ import annotations

import os
import random
import socket

_given: set[int] = set()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now, outside the ephemeral range, new to this process."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    high = min(_ephemeral_low(), 65536) - 1
    low = max(1024, high - 12000)
    rng = random.Random(os.getpid() ^ random.getrandbits(32))
    for _ in range(2000):
        port = rng.randint(low, high)
        if port in _given:
            continue
        with socket.socket(family) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port in {low}-{high} on {host}")

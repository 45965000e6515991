"""Shared fixtures: one wire server per session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.wire import WireServer


@pytest.fixture(scope="session")
def wire_server() -> Iterator[WireServer]:
    """The session's fake provider server; shut down (threads joined) at the end."""
    with WireServer.start() as server:
        yield server


@pytest.fixture
def wire(wire_server: WireServer) -> WireServer:
    """The wire server with an empty reply queue and no recorded requests."""
    wire_server.reset()
    return wire_server

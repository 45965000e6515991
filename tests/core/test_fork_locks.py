"""A fork while one of our locks is held (vocabulary preload, price catalog) must not hang the child."""

from __future__ import annotations

import os
import sys
import time

import pytest

from otel_llm_cost import tokens


def _exit_code_of(pid: int, lock: str) -> int:
    """The forked child's exit code; fails the test if it is still running after a
    minute (it exits in well under that, unless it hung on ``lock``)."""
    for _ in range(600):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.1)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child hung on {lock}")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_child_forked_while_a_vocabulary_lock_is_held_can_still_count() -> None:
    lock = tokens._load_locks["cl100k_base"]
    lock.acquire()  # as the preload thread holds it mid-load
    try:
        pid = os.fork()
        if pid == 0:  # the child: counting must not wait for the parent's lock
            code = 0
            try:
                code = 0 if tokens.count_tokens("hello world", "gpt-4") == 2 else 3
            except BaseException:  # noqa: BLE001
                code = 4
            os._exit(code)
    finally:
        lock.release()
    assert _exit_code_of(pid, "the vocabulary lock") == 0, sys.platform


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_child_forked_while_the_catalog_lock_is_held_can_still_price() -> None:
    from otel_llm_cost import pricing
    from otel_llm_cost.cost import price_usage
    from otel_llm_cost.usage import Usage

    catalog = pricing.get_catalog()
    held = (pricing._lock, catalog._lock)
    for lock in held:
        lock.acquire()  # as another thread building or reading the catalog holds them
    try:
        pid = os.fork()
        if pid == 0:
            code = 5
            try:
                pricing.reset_catalog()
                fresh = price_usage("gpt-4o", Usage(1000, 100))
                again = price_usage("gpt-4o-mini", Usage(1000, 100))
                code = 0 if fresh.status == again.status == "priced" else 3
            except BaseException:  # noqa: BLE001
                code = 4
            os._exit(code)
    finally:
        for lock in held:
            lock.release()
    assert _exit_code_of(pid, "a pricing lock") == 0

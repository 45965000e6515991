"""Price files that would block, flood, round, hide a duplicate or slow every call."""

from __future__ import annotations

import json
import os
import threading
import time
from decimal import Decimal

import pytest

from otel_llm_cost.cost import price_usage
from otel_llm_cost.pricing import PriceFileError, _loading, get_catalog, load_prices, read_price_file
from otel_llm_cost.usage import Usage


def _problems(path) -> list[tuple[str, str]]:
    with pytest.raises(PriceFileError) as info:
        read_price_file(path)
    return info.value.problems


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "prices.fifo"
    os.mkfifo(fifo)
    done = threading.Event()
    result: list = []

    def read():
        try:
            read_price_file(fifo)
        except PriceFileError as exc:
            result.append(exc.problems)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(5), "reading a FIFO with no writer blocked"
    assert result == [[("(file)", "not a regular file (a FIFO, device or directory)")]]


def test_dev_zero_is_refused_and_read_once(monkeypatch, caplog):
    calls = []
    real = _loading._read_regular
    monkeypatch.setattr(_loading, "_read_regular", lambda p: calls.append(p) or real(p))
    monkeypatch.setenv("OTEL_LLM_COST_PRICES_FILE", "/dev/zero")
    for _ in range(3):
        assert price_usage("gpt-4o", Usage(10, 10), provider="openai").status == "priced"
    assert calls == ["/dev/zero"]  # the failed load is remembered: never re-read on a call
    assert "not a regular file" in caplog.text


def test_many_digits_are_exact_or_refused(tmp_path):
    rate = "1.234567890123456789012345678901234567"  # 37 significant digits: kept exactly
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"schema": 1, "models": {"m-exact": {"provider": "x", "input": rate,
                                                                    "output": "0"}}}))
    load_prices(path)
    assert get_catalog().resolve("m-exact").rates.input == Decimal(rate)
    assert price_usage("m-exact", Usage(1_000_000, 0)).usd == Decimal(rate)
    # LiteLLM's per-token numbers are shifted by 10**6, which must not round either.
    litellm = tmp_path / "l.json"
    litellm.write_text('{"m-ll": {"input_cost_per_token": "0.000001234567890123456789012345678901",'
                       ' "output_cost_per_token": 0}}')
    assert read_price_file(litellm).entries[0].rates.input == Decimal("1.234567890123456789012345678901")
    path.write_text(json.dumps({"schema": 1, "models": {"m": {"provider": "x", "input": "1." + "1" * 45,
                                                              "output": "0"}}}))
    assert _problems(path) == [("models.m.input", "more than 40 significant digits: refused rather than rounded")]


def test_non_ascii_digits_rejected(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"schema": 1, "models": {"m": {"provider": "x", "input": "\u0661.\u0665",
                                                              "output": "\uff12"}}}))
    assert [entry for entry, _ in _problems(path)] == ["models.m.input", "models.m.output"]


def test_duplicate_and_case_colliding_keys_reported(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"schema": 1, "models": {'
                    '"m1": {"provider": "x", "input": "1", "output": "1"},'
                    '"m1": {"provider": "x", "input": "2", "output": "2"}}}')
    assert _problems(path) == [("m1", "key appears more than once (JSON keeps only the last)")]
    path.write_text(json.dumps({"schema": 1, "models": {
        "My-Model": {"provider": "x", "input": "1", "output": "1"},
        " my-model ": {"provider": "x", "input": "2", "output": "2"}}}))
    assert _problems(path) == [("models. my-model ", "same model as 'My-Model' (names ignore case and spaces)")]


def test_long_alias_chain_is_bounded_at_load_and_calls_stay_fast(tmp_path):
    n = 3000
    aliases = {f"a{i}": f"a{i + 1}" for i in range(n - 1)}
    aliases[f"a{n - 1}"] = "gpt-4o"
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"schema": 1, "models": {}, "aliases": aliases}))
    start = time.perf_counter()
    catalog = load_prices(path)
    assert time.perf_counter() - start < 5
    # The links nearest the model resolve; the far end of an absurd chain is reported, not chased.
    assert catalog.resolve(f"a{n - 1}").key == "gpt-4o"
    assert catalog.resolve("a0") is None
    assert "a0" in catalog.unresolved_aliases
    start = time.perf_counter()
    for _ in range(100):
        price_usage("a0", Usage(10, 10))
    assert time.perf_counter() - start < 0.05


def test_a_rate_finer_than_the_cost_unit_is_refused_not_a_megabyte_cost(tmp_path):
    # "1e-999990" is finite, >= 0 and under the cap; a cost of it written out in full is
    # a ~1 MB string on every span and ledger row.
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"schema": 1, "models": {"m": {"provider": "x", "input": "1e-999990",
                                                              "output": "0"}}}))
    [(entry, reason)] = _problems(path)
    assert entry == "models.m.input" and reason.startswith("finer than 1E-36 USD")
    # The finest rate accepted still prices exactly, in a short string.
    path.write_text(json.dumps({"schema": 1, "models": {"m-fine": {"provider": "x", "input": "1e-36",
                                                                   "output": "0"}}}))
    load_prices(path)
    cost = price_usage("m-fine", Usage(3, 0)).usd
    assert cost == Decimal("3e-42") and len(format(cost, "f")) < 60

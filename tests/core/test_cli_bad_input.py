"""The ``otel-llm-cost`` console script given what a new user types: a closed pipe,
absurd durations, a time zone, a word where a number goes, ``--help``.

Run as the installed script in a subprocess: exit codes, tracebacks and help text are
the process's behaviour.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC
from pathlib import Path

import pytest

from otel_llm_cost import semconv as s
from otel_llm_cost.ledger import LedgerSpanExporter
from tests.ledger._spans import llm_span, provider_with, unix_nano

#: What a process that ran into a closed pipe reports (128 + SIGPIPE), as ``head`` users expect.
EXIT_BROKEN_PIPE = 141


@pytest.fixture(scope="module")
def script() -> str:
    found = shutil.which("otel-llm-cost")
    assert found, "the otel-llm-cost console script is not on PATH (pip install -e '.[test]')"
    return found


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_LLM_COST_")}


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([script, *args], capture_output=True, text=True, env=_env(), timeout=120)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "ledger.db"
    provider = provider_with(LedgerSpanExporter(path))
    tracer = provider.get_tracer(s.SCOPE_NAME)
    from datetime import datetime
    llm_span(tracer, model="gpt-4o", cost="0.001", inp=100, out=10,
             end_ns=unix_nano(datetime(2026, 12, 1, 12, tzinfo=UTC)))
    provider.shutdown()
    return path


@pytest.mark.parametrize("args", [["prices", "--json"], ["prices"], ["report", "--format", "json"],
                                  ["report"], ["--help"]], ids=" ".join)
def test_a_closed_pipe_ends_quietly(script: str, ledger: Path, args: list[str]) -> None:
    """``otel-llm-cost prices --json | head -1``: the reader has gone; no traceback."""
    if args[0] == "report":
        args = [*args, "--db", str(ledger)]
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write: every write fails
    try:
        done = subprocess.run([script, *args], stdout=write, stderr=subprocess.PIPE, text=True,
                              env=_env(), timeout=120)
    finally:
        os.close(write)
    assert done.stderr == ""
    # argparse itself ignores a help text it could not write, and exits 0.
    assert done.returncode == (0 if args == ["--help"] else EXIT_BROKEN_PIPE)


def test_piped_into_head_through_a_shell(script: str) -> None:
    """The same, the way it is typed: the first line arrives, nothing on stderr."""
    done = subprocess.run(["sh", "-c", f"'{script}' prices --json | head -1"], capture_output=True,
                          text=True, env=_env(), timeout=120)
    assert done.stdout == "[\n"
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr


@pytest.mark.parametrize("since", ["99999999999d", "1000000d", "200000w", "9999999999999999999999s"])
def test_a_duration_too_long_is_a_usage_error(script: str, ledger: Path, since: str) -> None:
    done = run(script, "report", "--db", str(ledger), "--since", since)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"argument --since: {since!r} reaches back before the year 1" in done.stderr


def test_ledger_prune_before_too_long_is_a_usage_error(script: str, ledger: Path) -> None:
    done = run(script, "ledger", "prune", "--db", str(ledger), "--before", "1000000d")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "argument --before: '1000000d' reaches back before the year 1" in done.stderr


def test_since_with_an_offset_is_shown_as_its_utc_instant(script: str, ledger: Path) -> None:
    done = run(script, "report", "--db", str(ledger), "--since", "2026-12-01T15:00:00+05:00")
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert "calls since 2026-12-01 10:00 UTC" in first, first
    # It filters from 10:00 UTC: the 12:00 UTC call is in.
    assert "gpt-4o" in done.stdout
    later = run(script, "report", "--db", str(ledger), "--since", "2026-12-01T18:00:00+05:00")
    assert "calls since 2026-12-01 13:00 UTC" in later.stdout and "No LLM calls" in later.stdout


def test_since_with_an_offset_in_json_is_utc(script: str, ledger: Path) -> None:
    import json
    done = run(script, "report", "--db", str(ledger), "--format", "json", "--since", "2026-12-01T15:00:00+05:00")
    assert json.loads(done.stdout)["since"] == "2026-12-01T10:00:00+00:00"


@pytest.mark.parametrize("value", ["abc", "1.5", "", "ten"])
def test_a_token_count_that_is_not_a_number_names_the_option(script: str, value: str) -> None:
    done = run(script, "cost", "--model", "gpt-4o", "--input", "10", "--output", value)
    assert done.returncode == 2
    assert "_nonnegative" not in done.stderr
    assert f"argument --output: {value!r} is not a token count (a whole number >= 0)" in done.stderr


def test_a_negative_token_count_names_the_option(script: str) -> None:
    done = run(script, "cost", "--model", "gpt-4o", "--input", "-3", "--output", "1")
    assert done.returncode == 2
    assert "argument --input: '-3' is not a token count (a whole number >= 0)" in done.stderr


_SUBCOMMANDS = [[], ["price"], ["cost"], ["prices"], ["report"], ["session"], ["ledger"],
                ["ledger", "prune"], ["ledger", "migrate"], ["demo"], ["simulate"]]


@pytest.mark.parametrize("words", _SUBCOMMANDS, ids=lambda w: " ".join(w) or "top")
def test_help_is_plain_text(script: str, words: list[str]) -> None:
    done = run(script, *words, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: otel-llm-cost")
    assert "``" not in done.stdout and not re.search(r":(class|func|data|mod):", done.stdout), done.stdout


def test_the_price_list_shows_hostile_model_names_escaped(script: str, tmp_path: Path) -> None:
    """A price file (say, downloaded) naming a model with terminal escapes and a newline."""
    import json
    hostile = "evil\x1b]0;title\x07\nfake-row\u202e"
    prices = tmp_path / "prices.json"
    entry = {"provider": "openai", "input": "2", "output": "4"}
    prices.write_text(json.dumps({"schema": 1, "models": {hostile: entry}}))
    env = {**_env(), s.ENV_PRICES_FILE: str(prices)}
    done = subprocess.run([script, "prices"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout and "\x07" not in done.stdout
    assert "evil\\x1b]0;title\\x07\\nfake-row\\u202e" in done.stdout
    assert not any(line.startswith("fake-row") for line in done.stdout.splitlines())
    shown = subprocess.run([script, "price", hostile], capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("evil\\x1b]0;title\\x07\\nfake-row\\u202e  (")
    as_json = subprocess.run([script, "prices", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert hostile in [entry["model"] for entry in json.loads(as_json.stdout)]


@pytest.mark.parametrize("option", ["--input", "--output", "--cache-read", "--web-search"])
def test_a_token_count_out_of_range_is_refused_not_clamped(script: str, option: str) -> None:
    args = {"--input": "1", "--output": "1", option: "99999999999999999999"}
    done = run(script, "cost", "--model", "gpt-4o", *[x for kv in args.items() for x in kv])
    assert done.returncode == 2 and done.stdout == ""
    assert (f"argument {option}: '99999999999999999999' is out of range (at most 9223372036854775807"
            in done.stderr), done.stderr


@pytest.mark.parametrize(("option", "value", "error"), [
    ("--rate", "nan", "'nan' is out of range (0 to 10000 calls per second)"),
    ("--rate", "1e400", "'1e400' is out of range"),
    ("--rate", "-1", "'-1' is out of range"),
    ("--calls", "-3", "'-3' is out of range (0 to 1000000000)"),
    ("--calls", "99999999999999999999", "is out of range"),
    ("--calls", "ten", "'ten' is not a number of calls"),
])
def test_simulate_numbers_out_of_range_are_refused(script: str, option: str, value: str, error: str) -> None:
    done = run(script, "simulate", option, value)
    assert done.returncode == 2 and f"argument {option}: " in done.stderr and error in done.stderr, done.stderr

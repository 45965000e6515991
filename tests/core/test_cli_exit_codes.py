"""The command line's exit statuses (docs/cli.md), provider refusal and "did you mean"."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from otel_llm_cost.cli import EXIT_IO, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, _parser, main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_unknown_model_is_not_found_in_price_and_cost_alike(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["price", "gpt4o"]) == EXIT_NOT_FOUND
    assert "did you mean gpt-4o" in capsys.readouterr().err
    assert main(["cost", "--model", "gpt4o", "--input", "1", "--output", "1", "--json"]) == EXIT_NOT_FOUND
    assert "did you mean gpt-4o" in json.loads(capsys.readouterr().out)["reason"]
    assert main(["price", "qwertyuiop"]) == EXIT_NOT_FOUND
    assert "did you mean" not in capsys.readouterr().err  # nothing close: no guess


def test_unknown_provider_is_refused_with_the_known_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["price", "gpt-4o", "--provider", "nosuch"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown --provider 'nosuch'" in err and "groq" in err and "openai" in err
    assert main(["cost", "--model", "gpt-4o", "--input", "1", "--output", "1", "--provider", "grok"]) == EXIT_USAGE
    assert "did you mean groq?" in capsys.readouterr().err
    assert main(["price", "gpt-4o", "--provider", "openai"]) == EXIT_OK


def test_a_provider_declared_for_a_host_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_LLM_COST_PROVIDER_HOSTS", "llm.internal=my-gateway")
    assert main(["price", "gpt-4o", "--provider", "my-gateway"]) == EXIT_OK  # accepted, not refused


def test_contradicting_counts_are_a_usage_error() -> None:
    assert main(["cost", "--model", "gpt-4o", "--input", "1", "--output", "1", "--reasoning", "2"]) == EXIT_USAGE


def test_io_errors(tmp_path: Path) -> None:
    assert main(["prices", "--check", str(tmp_path / "missing.json")]) == EXIT_IO
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    assert main(["report", "--db", str(tmp_path / "junk.db")]) == EXIT_IO


def test_argparse_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as done:
        main(["cost", "--model", "gpt-4o"])
    assert done.value.code == EXIT_USAGE


def test_top_level_help_describes_every_command_and_the_statuses() -> None:
    text = _parser().format_help()
    commands = re.search(r"\{([\w,]+)\}", text)
    assert commands
    for name in commands.group(1).split(","):
        assert re.search(rf"^\s+{name}\s+\S", text, re.M), name  # each with its help line
    assert "ledger" in text and "simulator" in text
    for code in (EXIT_IO, EXIT_USAGE, EXIT_NOT_FOUND):
        assert f"{code} " in text.split("exit status:")[1]


def test_docs_list_every_command_and_status() -> None:
    doc = DOCS.read_text()
    for name in re.search(r"\{([\w,]+)\}", _parser().format_help()).group(1).split(","):  # type: ignore[union-attr]
        assert f"otel-llm-cost {name}" in doc, name
    for code in (EXIT_OK, EXIT_IO, EXIT_USAGE, EXIT_NOT_FOUND):
        assert f"| {code} |" in doc


def test_each_command_starts_with_only_its_own_module() -> None:
    """``cli._COMMANDS`` names the commands each module adds (what lets a command line
    import one module only); the names must be exactly what the modules register."""
    from otel_llm_cost.cli import _COMMANDS

    every = re.search(r"\{([\w,]+)\}", _parser().format_help()).group(1).split(",")  # type: ignore[union-attr]
    assert every == [name for names, _, _ in _COMMANDS for name in names]
    for names, _, _ in _COMMANDS:
        for name in names:
            shown = re.search(r"\{([\w,]+)\}", _parser([name]).format_help()).group(1)  # type: ignore[union-attr]
            assert shown.split(",") == list(names), name


def test_the_report_starts_without_the_catalog_or_the_sdk(tmp_path: Path) -> None:
    """What ``otel-llm-cost report`` imports, in a fresh interpreter: the ledger reader, not the
    price catalog, the OpenTelemetry SDK, the sessions or the exporter."""
    import subprocess
    import sys

    code = ("import sys; from otel_llm_cost.cli import main; main(sys.argv[1:]); "
            "print(sorted(m for m in sys.modules if m.startswith(('otel_llm_cost', 'opentelemetry', 'wrapt'))))")
    out = subprocess.run([sys.executable, "-c", code, "report", "--db", str(tmp_path / "none.db")],
                         capture_output=True, text=True, check=False).stdout
    loaded = set(eval(out.strip().splitlines()[-1]))  # noqa: S307 - our own print of a list of names
    assert "otel_llm_cost.ledger._report" in loaded
    for heavy in ("otel_llm_cost.pricing", "otel_llm_cost.cost", "otel_llm_cost.ledger._exporter",
                  "otel_llm_cost.sessions", "opentelemetry.sdk.trace", "wrapt"):
        assert heavy not in loaded, heavy

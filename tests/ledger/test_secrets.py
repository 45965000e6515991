"""A ledger URL's secrets never show, in any form libpq takes them: ``user:password@``,
``?password=``, ``?sslpassword=`` — in the error log, report headers and ``--help``; and
the URL is named once per message."""

from __future__ import annotations

import json
import logging
import socket

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_llm_cost.cli import main
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.ledger._schema import redact, scrub

from .test_postgres import _sample_spans


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


FORMS = [
    ("postgresql://app:s3cret-pw@127.0.0.1:{port}/costs", "postgresql://app:***@127.0.0.1:{port}/costs"),
    ("postgresql://app@127.0.0.1:{port}/costs?password=s3cret-pw",
     "postgresql://app@127.0.0.1:{port}/costs?password=***"),
    ("postgresql://app@127.0.0.1:{port}/costs?sslmode=disable&sslpassword=s3cret-pw&password=s3cret-pw",
     "postgresql://app@127.0.0.1:{port}/costs?sslmode=disable&sslpassword=***&password=***"),
    ("postgresql://app:s3cret%2Dpw@127.0.0.1:{port}/costs", "postgresql://app:***@127.0.0.1:{port}/costs"),
]


@pytest.mark.parametrize(("url", "shown"), FORMS)
def test_the_exporter_log_masks_every_form_and_names_the_url_once(url: str, shown: str, caplog,
                                                                  tmp_path) -> None:
    port = _closed_port()
    url, shown = url.format(port=port), shown.format(port=port)
    ledger = LedgerSpanExporter(url, spool_dir=tmp_path / "spool")
    with caplog.at_level(logging.DEBUG, logger="otel_llm_cost"):
        assert ledger.export(_sample_spans()) is SpanExportResult.FAILURE
    ledger.shutdown()
    assert "s3cret" not in caplog.text
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].count(shown) == 1, errors
    assert errors[0].count("127.0.0.1:" + str(port)) == 1  # the URL once, not echoed again by the cause


@pytest.mark.parametrize(("url", "shown"), FORMS[1:3])
def test_the_report_header_and_errors_mask_query_secrets(url: str, shown: str, pg_server: str, pg_url: str,
                                                        capsys, monkeypatch) -> None:
    # The real server trusts every local user, so a password in the URL is accepted as it is.
    name = pg_url.rsplit("/", 1)[1]
    real = url.replace("app@127.0.0.1:{port}/costs", f"{pg_server.split('//', 1)[1]}/{name}")
    ledger = LedgerSpanExporter(real)
    assert ledger.export(_sample_spans()) is SpanExportResult.SUCCESS
    ledger.shutdown()
    assert main(["report", "--db", real, "--format", "json"]) == 0
    out = capsys.readouterr()
    assert "s3cret" not in out.out + out.err
    assert json.loads(out.out)["ledger"] == redact(real)
    assert main(["report", "--db", real]) == 0
    assert "s3cret" not in capsys.readouterr().out
    # An error (a database that is not there) names the URL masked, once.
    missing = real.replace(f"/{name}?", "/no_such_db?")
    assert main(["report", "--db", missing]) == 1
    err = capsys.readouterr().err
    assert "s3cret" not in err and err.count(redact(missing)) == 1


def test_help_never_shows_the_configured_url(monkeypatch, capsys) -> None:
    monkeypatch.setenv("OTEL_LLM_COST_LEDGER_URL", "postgresql://app@db/costs?password=s3cret-pw")
    for command in (["report"], ["session"], ["ledger", "prune"], ["ledger", "migrate"], []):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert "s3cret" not in capsys.readouterr().out


def test_scrub_masks_a_secret_the_driver_echoes_in_any_form() -> None:
    url = "postgresql://app:p%40ss@h/db?sslpassword=k3y-k3y"
    text = f"invalid connection option in {url}: p@ss, p%40ss, k3y-k3y"
    assert scrub(text, url) == ("invalid connection option in postgresql://app:***@h/db?sslpassword=***: "
                                "***, ***, ***")

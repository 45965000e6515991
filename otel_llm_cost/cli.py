"""The ``otel-llm-cost`` command: prices, the cost of a call, the ledger's report, a demo and a simulator.

This module is the dispatcher: every command lives next to what it drives (``price``,
``cost`` and ``prices`` in ``_price_cli``, ``report`` in ``ledger._report`` …) and is
registered here through :data:`_COMMANDS`. Only the module of the command being run is
imported (``report`` starts without the price catalog, the OpenTelemetry SDK or the
simulator); ``--help`` and an unknown command import them all. Every command exits with
one of the statuses below (docs/cli.md).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Callable, Sequence

__all__ = ["main", "EXIT_OK", "EXIT_IO", "EXIT_USAGE", "EXIT_NOT_FOUND"]

#: Exit statuses, the same for every command (docs/cli.md).
EXIT_OK = 0
#: A file, database or port that cannot be read, written or opened; a price file with errors.
EXIT_IO = 1
#: The command line is wrong: argparse's own status, also for an unknown ``--provider`` and
#: token counts that contradict each other.
EXIT_USAGE = 2
#: What was asked for is not there: a model with no price, a session with no calls.
EXIT_NOT_FOUND = 3


#: (commands, module, function): each module's function adds those sub-commands, in this
#: order. Imported lazily, only the one a command line names, so a command starts without
#: the others' imports and a missing optional dependency of one never breaks the others.
#: ``tests/core/test_cli_exit_codes.py`` checks the names against what each module adds.
_COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("price", "cost", "prices"), "._price_cli", "add_command"),
    (("report",), ".ledger._report", "add_command"),
    (("session",), ".ledger._session", "add_command"),
    (("ledger",), ".ledger._prune", "add_command"),
    (("budget",), ".budgets._cli", "add_command"),
    (("demo",), ".demo", "add_command"),
    (("simulate",), ".simulate", "add_command"),
    (("simulator",), "._simulator", "add_command"),
]

#: Exit status after the reader of our output went away (``| head``): what a shell shows
#: for a program killed by SIGPIPE (128 + 13), so ``set -o pipefail`` scripts see the same.
EXIT_BROKEN_PIPE = 141


def plain(text: str) -> str:
    """Docstring text for ``--help``: RST literals (````x````) and roles shown as plain text."""
    return re.sub(r"(?::\w+:)?`{1,2}([^`]+)`{1,2}", r"\1", text)


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser: with every command, or, when ``argv`` starts with the name
    of one, with that one's module only (its ``--help`` and errors are the same either way)."""
    parser = argparse.ArgumentParser(
        prog="otel-llm-cost", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Exact LLM call costs: look up prices and price a call, read the spend your "
                    "instrumented apps recorded in the ledger, and try it all offline with a demo "
                    "or a local simulator your own app can call. 'otel-llm-cost COMMAND --help' "
                    "describes a command.",
        epilog=f"exit status: {EXIT_OK} done; {EXIT_IO} a file, database or port could not be read, "
               f"written or opened;\n  {EXIT_USAGE} a usage error (bad arguments, unknown --provider); "
               f"{EXIT_NOT_FOUND} not found (a model with no price, a session with no calls);\n"
               f"  {EXIT_BROKEN_PIPE} the reader of the output went away. Details: docs/cli.md")
    sub = parser.add_subparsers(dest="command", required=True)
    named = argv[0] if argv else None
    wanted = [entry for entry in _COMMANDS if named in entry[0]] or _COMMANDS
    for _names, module, func in wanted:
        add: Callable[[argparse._SubParsersAction], None] = getattr(
            importlib.import_module(module, __package__), func)
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            if argv is None:
                argv = sys.argv[1:]
            args = _parser(argv).parse_args(argv)
            status = int(args.func(args) or 0)
        except SystemExit:  # --help, usage errors: flush their output here too
            sys.stdout.flush()
            raise
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``otel-llm-cost prices | head -1``): not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush fails no more.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # no real stdout (e.g. replaced by a test)
            pass
        return EXIT_BROKEN_PIPE
    return status

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


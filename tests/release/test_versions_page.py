"""The pins are the test run's versions, and the page that shows them is never stale.

``tests/constraints.txt`` holds the main run to fixed versions (issue: a new anthropic
release changed two tests' outcome on a fresh machine); these tests make sure every
requirement of the ``test`` extra is actually pinned there, that the environment running
the tests is the pinned one, and that ``docs/supported-versions.md`` says what the
generator says today.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement

from tests.matrix import run

REPO = Path(__file__).resolve().parents[2]


def _test_extra() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["optional-dependencies"]["test"] + project["dependencies"]]


def test_every_requirement_of_the_test_run_is_pinned() -> None:
    pinned = run.pins()
    missing = [str(r) for r in _test_extra() if (r.marker is None or r.marker.evaluate())
               and run._name(r.name) not in pinned]
    assert missing == []


def test_the_pins_satisfy_what_pyproject_declares() -> None:
    pinned = run.pins()
    wrong = [f"{r} vs {pinned[run._name(r.name)]}" for r in _test_extra()
             if run._name(r.name) in pinned and not r.specifier.contains(pinned[run._name(r.name)], prereleases=True)]
    assert wrong == []


def test_this_run_uses_the_pinned_versions() -> None:
    """``.ci/run`` installs with ``-c tests/constraints.txt``: the SDKs under test are the pins."""
    differ = {}
    for name in ("openai", "anthropic", "google-genai", "boto3", "httpx2", "opentelemetry-sdk"):
        try:
            found = version(name)
        except PackageNotFoundError:
            found = None
        if found != run.pins().get(name):
            differ[name] = (found, run.pins().get(name))
    assert differ == {}, "installed != tests/constraints.txt; install with -c tests/constraints.txt"


def test_supported_versions_page_is_generated_from_the_pins() -> None:
    page = (REPO / "docs" / "supported-versions.md").read_text()
    assert page == run.versions_table(), "regenerate: python tests/matrix/run.py --versions-table"
    assert re.search(r"\| `anthropic` \| `>=[\d.]+` \| " + re.escape(run.pins()["anthropic"]), page)


def test_cell_constraints_free_the_cells_own_pins_only() -> None:
    cell = next(c for c in run.CELLS if c.name == "openai-1.40")
    lines = run.cell_constraints(cell).splitlines()
    assert not any(line.startswith(("openai==", "httpx==")) for line in lines)
    assert f"anthropic=={run.pins()['anthropic']}" in lines
    assert len(lines) == len(run.pins()) - 2

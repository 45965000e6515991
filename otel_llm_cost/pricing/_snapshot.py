"""The bundled LiteLLM snapshot: the default bottom layer of prices, and the script that builds it.

    python -m otel_llm_cost.pricing._snapshot litellm-1.110.2-….whl      # or the JSON file and --version

LiteLLM's ``model_prices_and_context_window.json`` (MIT) lists prices for far more
models than our checked list and genai-prices together. A trimmed copy of it ships in
the package (``litellm_snapshot.json``) and is used only where no layer above has a
price, with the fallback layer's rules (the provider's own key first, at a third party
only that provider's entries, never for an unknown host): see ``docs/prices.md``.

What is kept, and nothing else: the entries of the providers reachable through the
SDKs we instrument (:data:`PROVIDERS`, the population ``bench.coverage`` measures),
in the modes a call of ours has (:data:`MODES`), priced per token, current or retired
(a past ``deprecation_date``) less than :data:`RETIRED_KEPT_DAYS` before the day of the
build — a retired id still has calls in flight, in ledgers and in replays, so it stays
priced and is marked retired (:func:`retired_on`); of each entry only the fields our LiteLLM reader uses
(:func:`kept_field`) plus ``litellm_provider``, ``mode`` and ``deprecation_date``.
The prices stay LiteLLM's JSON numbers, digit for digit: the reader turns each into
an exact ``Decimal`` per 1M tokens through ``str`` (``_loading._price``), as for any
LiteLLM file. The output is deterministic: sorted keys, compact separators.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from collections.abc import Mapping
from datetime import date
from importlib import resources
from typing import Any

from .._files import read_regular
from ._loading import _LITELLM_FIELDS, _LITELLM_TIER_PREFIXES, MAX_FILE_BYTES

__all__ = ["PROVIDERS", "MODES", "FILE_NAME", "RETIRED_KEPT_DAYS", "build", "kept_field", "in_scope", "retired_on",
           "read_bundled", "dumps"]

#: LiteLLM ``litellm_provider`` -> the ``gen_ai.provider.name`` our instrumentation sets.
PROVIDERS: Mapping[str, str] = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex_ai-language-models": "gcp.vertex_ai",
    "vertex_ai-anthropic_models": "gcp.vertex_ai",
    "vertex_ai-embedding-models": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "cerebras": "cerebras",
    "moonshot": "moonshot",
    "zai": "zai",
}
#: The kinds of call we instrument and price per token.
MODES = ("chat", "responses", "embedding")
#: Entries retired (past ``deprecation_date``) at most this many days before the build are
#: kept, marked retired; older ones are gone from the providers' price lists and from traffic.
RETIRED_KEPT_DAYS = 730
#: The bundled file, next to ``prices.json``.
FILE_NAME = "litellm_snapshot.json"
#: Providers whose keys with a further "/" are per-region or per-deployment copies.
_REGIONAL = frozenset(("azure", "gemini", "vertex_ai-language-models", "vertex_ai-anthropic_models",
                       "vertex_ai-embedding-models", "bedrock"))
#: Besides the per-token fields: what places an entry, and its per-call tool prices.
_KEPT = frozenset(("litellm_provider", "mode", "deprecation_date", "search_context_cost_per_query",
                   "file_search_cost_per_1k_calls"))
_WHEEL_JSON = "litellm/model_prices_and_context_window_backup.json"
_WHEEL_NAME = re.compile(r"litellm-(\d+(?:\.\d+)*(?:\.post\d+)?)-")


def kept_field(name: str) -> bool:
    """Is this field of a LiteLLM entry kept in the snapshot (read by our LiteLLM reader)?"""
    if name in _KEPT or name in _LITELLM_FIELDS:
        return True
    return name.endswith("_tokens") and any(name.startswith(prefix) for prefix in _LITELLM_TIER_PREFIXES)


def _model_part(key: str, provider: str) -> str:
    prefix = provider + "/"
    return key[len(prefix):] if key.startswith(prefix) else key


def in_scope(key: str, entry: Any, today: date) -> bool:
    """Does this LiteLLM entry belong in the snapshot built on ``today``?"""
    if not isinstance(entry, Mapping) or entry.get("mode") not in MODES:
        return False
    provider = entry.get("litellm_provider")
    if provider not in PROVIDERS or not isinstance(entry.get("input_cost_per_token"), (int, float)):
        return False
    if isinstance(entry["input_cost_per_token"], bool):
        return False
    retired = retired_on(entry, today)
    if retired is not None and (today - retired).days > RETIRED_KEPT_DAYS:
        return False
    # Region- or deployment-scoped duplicates ("azure/eu/…", "bedrock/us-east-1/…"): a
    # call names the model, never the region. (At Fireworks, Together … a "/" is part of
    # the model's own name.)
    return provider not in _REGIONAL or "/" not in _model_part(key, provider)


def retired_on(entry: Mapping[str, Any], today: date) -> date | None:
    """The day the entry's model was retired (its ``deprecation_date``) if before ``today``, else None."""
    deprecated = entry.get("deprecation_date")
    if not isinstance(deprecated, str):
        return None
    try:
        day = date.fromisoformat(deprecated[:10])
    except ValueError:
        return None
    return day if day < today else None


def build(data: Mapping[str, Any], version: str, today: date) -> dict[str, Any]:
    """The snapshot of LiteLLM ``version``'s price data as of ``today``."""
    entries = {
        key: {name: value for name, value in entry.items() if kept_field(name)}
        for key, entry in data.items() if in_scope(key, entry, today)
    }
    return {
        "litellm_version": version,
        "as_of": today.isoformat(),
        "source": "LiteLLM model_prices_and_context_window.json (MIT License, "
                  "https://github.com/BerriAI/litellm), trimmed by otel_llm_cost.pricing._snapshot",
        "entries": entries,
    }


def dumps(snapshot: Mapping[str, Any]) -> str:
    """The file's text: sorted keys, compact, one trailing newline (stable byte for byte)."""
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


def read_bundled() -> dict[str, Any]:
    """The snapshot shipped with the package, decoded."""
    raw = resources.files(__package__).joinpath(FILE_NAME).read_bytes()
    data: dict[str, Any] = json.loads(raw)
    return data


def _read_source(path: str, version: str | None) -> tuple[dict[str, Any], str]:
    if path.endswith(".whl"):
        match = _WHEEL_NAME.search(path.rsplit("/", 1)[-1])
        with zipfile.ZipFile(path) as wheel:
            data = json.loads(wheel.read(_WHEEL_JSON))
        found = version or (match.group(1) if match else None)
    else:
        data = json.loads(read_regular(path, MAX_FILE_BYTES))
        found = version
    if not found:
        raise SystemExit("the LiteLLM version is not in a JSON file's name: give --version")
    return data, found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otel_llm_cost.pricing._snapshot",
                                     description="Build the bundled LiteLLM price snapshot.")
    parser.add_argument("source", help="a litellm wheel, or its model_prices_and_context_window(_backup).json")
    parser.add_argument("--version", help="the litellm release the JSON file comes from")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None,
                        help=f"the build day: entries retired more than {RETIRED_KEPT_DAYS} days before "
                        "it are left out (default: today)")
    parser.add_argument("--out", default=None, help=f"where to write (default: the package's {FILE_NAME})")
    args = parser.parse_args(argv)
    data, version = _read_source(args.source, args.version)
    text = dumps(build(data, version, args.as_of or date.today()))
    out = args.out or str(resources.files(__package__).joinpath(FILE_NAME))
    with open(out, "w", encoding="ascii", newline="\n") as fh:
        fh.write(text)
    kept = len(json.loads(text)["entries"])
    print(f"{out}: litellm {version}, {kept} entries, {len(text.encode())} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

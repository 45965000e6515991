"""Model-name normalisation: the forms one model goes by, most specific first.

Providers and gateways decorate model names: dated snapshots (``gpt-4o-2024-08-06``,
``claude-sonnet-4-20250514``), provider prefixes (``openai/gpt-4o``,
``models/gemini-2.0-flash``), Bedrock IDs (``us.anthropic.claude-3-5-sonnet-20241022-v2:0``),
Vertex versions (``claude-3-5-sonnet-v2@20241022``) and Gemini revision suffixes
(``gemini-1.5-pro-002``). Each rule strips one decoration; the resolver tries the
exact name first and then each stripped form, so a dated snapshot that has a price
of its own is found before its family. There is deliberately no prefix matching:
``gpt-4o-mini`` must never resolve to ``gpt-4o``.
"""

from __future__ import annotations

import re

#: Longer names are not model names; they are never normalised (or cached).
MAX_MODEL_NAME = 256

_RULES = (
    re.compile(r"^(?:[a-z0-9_.-]+/)+"),  # provider/route prefixes: openai/, bedrock/, models/
    re.compile(r"^(?:us|eu|apac|global|us-gov|ap|ca|jp|au)\."),  # Bedrock cross-region profile
    re.compile(r"^(?:anthropic|meta|amazon|mistral|cohere|ai21)\."),  # Bedrock vendor prefix
    re.compile(r"@.*$"),  # Vertex version
    re.compile(r"-v\d+(?::\d+)?$"),  # Bedrock / Vertex model version
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # OpenAI dated snapshot
    re.compile(r"-\d{8}$"),  # Anthropic dated snapshot
    re.compile(r"-\d{3}$"),  # Gemini revision
)


def candidates(model: str) -> list[str]:
    """Names to look up for ``model``, exact (lower-cased) first; empty if unusable."""
    name = model.strip().lower()
    if not name or len(name) > MAX_MODEL_NAME:
        return []
    out = [name]
    for rule in _RULES:
        stripped = rule.sub("", name)
        if stripped and stripped != name:
            name = stripped
            out.append(name)
    return out

"""The provider behind an endpoint: many providers speak OpenAI's API, few charge its prices.

The ``openai`` SDK is pointed at DeepSeek, Groq, OpenRouter, Mistral, xAI … by its
``base_url``. The host names the provider, and so which rates apply: ``gpt-4o`` billed
by OpenRouter is OpenRouter's price, and a Groq ``llama`` model is not priced from any
first-party list. Names are the semantic-convention values of ``gen_ai.provider.name``
where the conventions have one (``deepseek``, ``groq``, ``mistral_ai``, ``x_ai``,
``perplexity``, ``azure.ai.openai``), else a plain lower-case name (``openrouter``).

A host we do not know (a self-hosted vLLM or Ollama, a company gateway) keeps the
SDK's provider, ``openai``, and is priced *strictly*: only from our own list and your
files, by its documented name rules — never by a fuzzy match in another provider's
list, which could be wrong by a large factor. ``OTEL_LLM_COST_PROVIDER_HOSTS``
(``host=provider``) declares what such a host is.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["provider_for_host"]

#: Host (exact) or ``.suffix`` -> provider name.
_HOSTS: dict[str, str] = {
    "api.openai.com": "openai",
    "api.deepseek.com": "deepseek",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral_ai",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
    "openrouter.ai": "openrouter",
    "api.together.xyz": "together",
    "api.together.ai": "together",
    "api.fireworks.ai": "fireworks",
    "api.cerebras.ai": "cerebras",
    "api.moonshot.ai": "moonshot",
    "api.moonshot.cn": "moonshot",
    "api.z.ai": "zai",
    "api.cohere.ai": "cohere",
    "api.cohere.com": "cohere",
    "api.novita.ai": "novita",
    "api.anthropic.com": "anthropic",
    "generativelanguage.googleapis.com": "gcp.gemini",
}
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".openrouter.ai", "openrouter"),
    (".openai.azure.com", "azure.ai.openai"),
    (".cognitiveservices.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.openai"),
    (".azure-api.net", "azure.ai.openai"),
)


def provider_for_host(host: str | None, declared: Iterable[tuple[str, str]] = ()) -> str | None:
    """The provider serving ``host``: a declared one first, then a known one; None if unknown."""
    if not host:
        return None
    host = host.strip().lower().rstrip(".")
    for name, provider in declared:
        if name == host:
            return provider
    known = _HOSTS.get(host)
    if known is not None:
        return known
    for suffix, provider in _SUFFIXES:
        if host.endswith(suffix):
            return provider
    return None

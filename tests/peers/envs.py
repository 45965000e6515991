"""Which peer instrumentations are installed together, one venv per group.

A group is a set of peers whose pins agree; groups whose pins conflict (the OpenTelemetry
project's ``openai-v2`` needs ``opentelemetry-util-genai`` 0.4b0, its GenAI successors
1.3b0) get a venv each. ``tests/matrix/run.py`` builds them and runs ``tests/peers/``
in each with ``OTEL_LLM_COST_PEER_ENV`` naming the group; the tests take the peers to
put next to ours from :data:`PEERS`.
"""

from __future__ import annotations

from tests.matrix.run import Cell

#: group -> provider -> "module:InstrumentorClass" of the peer for that provider's SDK.
PEERS: dict[str, dict[str, str]] = {
    # OpenTelemetry contrib's first GenAI instrumentation of openai.
    "openai-v2": {"openai": "opentelemetry.instrumentation.openai_v2:OpenAIInstrumentor"},
    # Its successors, on opentelemetry-util-genai 1.3b0, one per SDK.
    "contrib-genai": {
        "openai": "opentelemetry.instrumentation.genai.openai:OpenAIInstrumentor",
        "anthropic": "opentelemetry.instrumentation.genai.anthropic:AnthropicInstrumentor",
        "gemini": "opentelemetry.instrumentation.google_genai:GoogleGenAiSdkInstrumentor",
    },
    # OpenTelemetry contrib's botocore instrumentation (its Bedrock Runtime extension).
    "botocore": {"bedrock": "opentelemetry.instrumentation.botocore:BotocoreInstrumentor"},
    # Traceloop's OpenLLMetry.
    "openllmetry": {
        "openai": "opentelemetry.instrumentation.openai:OpenAIInstrumentor",
        "anthropic": "opentelemetry.instrumentation.anthropic:AnthropicInstrumentor",
    },
}

_REQUIREMENTS: dict[str, list[str]] = {
    # It imports ``httpx`` (the old package), which openai >= 3 no longer pulls in.
    "openai-v2": ["opentelemetry-instrumentation-openai-v2==2.4b0", "opentelemetry-util-genai==0.4b0", "httpx"],
    "contrib-genai": ["opentelemetry-instrumentation-genai-openai==1.3b0",
                      "opentelemetry-instrumentation-genai-anthropic==1.3b0",
                      "opentelemetry-instrumentation-google-genai==1.3b0", "opentelemetry-util-genai==1.3b0",
                      # The google-genai peer declares google-genai < 3 and stays off (silently) above.
                      "google-genai<3"],
    "botocore": ["opentelemetry-instrumentation-botocore==0.66b2"],
    "openllmetry": ["opentelemetry-instrumentation-openai==0.62.4",
                    "opentelemetry-instrumentation-anthropic==0.62.4"],
}

TESTS = ["tests/peers/peer_coexistence.py"]

CELLS = [Cell(f"peers-{group}", reqs, TESTS, why=f"next to {group}", env={"OTEL_LLM_COST_PEER_ENV": group})
         for group, reqs in _REQUIREMENTS.items()]

#: Peers of SDKs we do not wrap, whose spans we price (``peer_foreign_spans.py``), in one venv:
#: OpenLLMetry's Mistral (mistralai 1.x only), Cohere (cohere < 6), Groq and Ollama
#: instrumentations, and OpenInference's Mistral one at its last release for mistralai 1.x
#: (1.4.0; 2.x needs mistralai 2), which calls wrapt's 1.x keyword API, hence ``wrapt<2``.
#: genai-prices: the catalog layer that prices Cohere and Groq models (and every non-OpenAI
#: provider's list), as a user with ``[all]`` has it — our package goes in without extras.
FOREIGN = ["genai-prices==0.2.3", "mistralai==1.12.4", "cohere==5.21.1", "groq==1.7.0", "ollama==0.6.3", "wrapt<2",
           "opentelemetry-instrumentation-mistralai==0.62.4", "opentelemetry-instrumentation-cohere==0.62.4",
           "opentelemetry-instrumentation-groq==0.62.4", "opentelemetry-instrumentation-ollama==0.62.4",
           "openinference-instrumentation-mistralai==1.4.0"]
CELLS.append(Cell("peers-foreign", FOREIGN, ["tests/peers/peer_foreign_spans.py"],
                  why="other instrumentations' spans priced", env={"OTEL_LLM_COST_PEER_ENV": "foreign"}))

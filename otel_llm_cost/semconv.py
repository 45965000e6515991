"""Every span attribute and metric name this package emits or reads, in one place.

These names are a public contract: dashboards, alert rules, the session processor,
the ledger and users' own queries depend on them. The ``gen_ai.*`` names follow the
OpenTelemetry GenAI semantic conventions; ``llm_cost.*`` names are ours. Change a
name here and every consumer follows; never spell one of these strings elsewhere.
"""

from __future__ import annotations

from typing import Final

# --- GenAI semantic conventions: request / response --------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # older name, still read from foreign spans
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
GEN_AI_OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"  # only with content capture on
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"  # only with content capture on
#: Operation names of GenAI spans that are not model calls (agents, tools): no cost row.
NON_MODEL_OPERATIONS: Final = frozenset({"execute_tool", "invoke_agent", "create_agent"})
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

# --- GenAI semantic conventions: usage -------------------------------------------
#: All input tokens, cache reads and cache writes included (OpenAI's counting).
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
#: All output tokens, reasoning included.
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
#: Cache writes, by the name the released conventions use; emitted next to its successor.
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
#: Cache writes, by the name semantic-conventions-genai #440 renamed them to (merged, not yet
#: released). We emit both names with the same value and read either, the new one first,
#: until a released convention carries the new name (docs/prices.md, "Names").
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
#: Cost in USD as a double: the attribute OpenLIT and Langfuse already read.
GEN_AI_USAGE_COST: Final = "gen_ai.usage.cost"
#: The cost attributes proposed in semantic-conventions-genai #443 (open): emitted only when
#: ``OTEL_LLM_COST_PROPOSED_COST_ATTRIBUTES`` is on, since an open proposal may still change.
GEN_AI_USAGE_COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
GEN_AI_USAGE_COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
GEN_AI_USAGE_COST_SOURCE: Final = "gen_ai.usage.cost.source"

# Spelled by the Anthropic SDK's own spans. Their gen_ai.usage.input_tokens already includes the cache
# (anthropic 2.12, lib/_tracing/_response.py), and their cache writes use the new name
# (GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS); see Usage.from_anthropic_span_attributes.
ANTHROPIC_USAGE_CACHE_WRITE_5M: Final = "anthropic.usage.cache_creation.ephemeral_5m_input_tokens"
ANTHROPIC_USAGE_CACHE_WRITE_1H: Final = "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"

# --- General attributes ------------------------------------------------------------
SESSION_ID: Final = "session.id"
SERVICE_NAME: Final = "service.name"  # a resource attribute
USER_ID: Final = "user.id"

# --- otel-llm-cost span attributes --------------------------------------------------
#: The exact cost as a decimal string (``"0.00034"``); absent when unknown.
LLM_COST_USD: Final = "llm_cost.usd"
#: ``priced`` | ``unknown_model`` | ``no_usage``
LLM_COST_STATUS: Final = "llm_cost.status"
#: ``reported`` | ``estimated``
LLM_COST_USAGE_SOURCE: Final = "llm_cost.usage_source"
#: ``lower_bound`` on an estimate that is surely below the truth (a reasoning model's
#: hidden reasoning, an image counted at its minimum): read the figures as "at least".
LLM_COST_ESTIMATE: Final = "llm_cost.estimate"
#: The catalog key the model resolved to.
LLM_COST_MODEL: Final = "llm_cost.model"
#: Catalog version, or the override file that supplied the price.
LLM_COST_CATALOG: Final = "llm_cost.catalog"
#: Set (True) when a stream ended before its usage arrived: the numbers are partial.
LLM_COST_PARTIAL: Final = "llm_cost.partial"
#: 1-hour cache writes (a subset of gen_ai.usage.cache_creation.input_tokens).
LLM_COST_CACHE_CREATION_1H_TOKENS: Final = "llm_cost.usage.cache_creation_1h.input_tokens"
#: Tokens billed at a modality's own rate (no semantic-convention names exist for them):
#: audio input (a subset of the uncached input), audio and image output (of the output).
LLM_COST_AUDIO_INPUT_TOKENS: Final = "llm_cost.usage.audio.input_tokens"
LLM_COST_AUDIO_OUTPUT_TOKENS: Final = "llm_cost.usage.audio.output_tokens"
LLM_COST_IMAGE_OUTPUT_TOKENS: Final = "llm_cost.usage.image.output_tokens"
#: Server-side tool calls billed per call (OpenAI ``web_search_call`` / ``file_search_call``
#: output items, Anthropic ``server_tool_use.web_search_requests``).
LLM_COST_WEB_SEARCH_CALLS: Final = "llm_cost.web_search.calls"
LLM_COST_FILE_SEARCH_CALLS: Final = "llm_cost.file_search.calls"
#: Searches by OpenAI's ``web_search_preview`` tool (the request's or response's ``tools``
#: name it): priced apart, $25 per 1,000 on non-reasoning models against $10 for ``web_search``.
LLM_COST_WEB_SEARCH_PREVIEW_CALLS: Final = "llm_cost.web_search_preview.calls"
#: Charges the call reported that its price entry has no rate for (string array):
#: ``web_search`` / ``web_search_preview`` / ``file_search`` are left out of ``llm_cost.usd``; ``service_tier``: the
#: served tier (``llm_cost.service_tier``) has no known rate, the call is priced at standard.
LLM_COST_UNPRICED: Final = "llm_cost.unpriced"
#: Per-component exact cost: ``llm_cost.usd.<component>`` as a decimal string.
LLM_COST_COMPONENT_PREFIX: Final = "llm_cost.usd."
#: Service tier used for pricing (``default``, ``batch``, ``priority``, ``flex``).
LLM_COST_SERVICE_TIER: Final = "llm_cost.service_tier"
#: ``provider`` when the response carried its own cost (OpenRouter's ``usage.cost``) and
#: ``llm_cost.usd`` is that number; absent when the cost is ours (``local``).
LLM_COST_COST_SOURCE: Final = "llm_cost.cost_source"
#: Our own price of the same call, kept next to a provider-reported cost (decimal string).
LLM_COST_LOCAL_USD: Final = "llm_cost.local_usd"
#: LiteLLM's own estimate of a call it made (``response._hidden_params["response_cost"]``),
#: decimal string: a second opinion beside ``llm_cost.usd``, never used instead of it.
LLM_COST_LITELLM_USD: Final = "llm_cost.litellm_usd"
#: True when LiteLLM answered from its own cache: no provider call, nothing billed.
LLM_COST_LITELLM_CACHE_HIT: Final = "llm_cost.litellm_cache_hit"
#: Why the response's own cost (OpenRouter ``usage.cost``) was not used and our price stands:
#: ``nonzero below 1E-12 USD``, ``above 100000 USD``, ``negative``, ``not finite``, ``not a number``.
LLM_COST_REPORTED_COST_REFUSED: Final = "llm_cost.reported_cost_refused"
COST_SOURCE_PROVIDER: Final = "provider"
COST_SOURCE_LOCAL: Final = "local"
#: The foreign span itself carried the cost (OpenInference ``llm.cost.total``, a ``gen_ai.usage.cost``).
COST_SOURCE_SPAN: Final = "span"

STATUS_PRICED: Final = "priced"
STATUS_UNKNOWN_MODEL: Final = "unknown_model"
STATUS_NO_USAGE: Final = "no_usage"
#: On session metrics only: some calls of the session were unpriced (cost = priced part).
STATUS_INCOMPLETE: Final = "incomplete"
SOURCE_REPORTED: Final = "reported"
SOURCE_ESTIMATED: Final = "estimated"
ESTIMATE_LOWER_BOUND: Final = "lower_bound"

#: Cost components, in the order they are reported (``request`` and ``provider`` aside).
COMPONENTS: Final = ("input", "input_audio", "cache_read", "cache_write", "output", "reasoning", "output_audio",
                     "output_image", "web_search", "web_search_preview", "file_search")

# --- Budget span event --------------------------------------------------------------
#: Longest string we put in a span or metric attribute from outside (a model name, a
#: response id, a finish reason, an inbound baggage id): longer ones are cut to this.
MAX_ATTRIBUTE_CHARS: Final = 256
#: Distinct ``gen_ai.response.model`` values one meter provider's metrics keep apart;
#: later new ones are recorded as :data:`OVERFLOW_VALUE`.
MAX_METRIC_RESPONSE_MODELS: Final = 200
OVERFLOW_VALUE: Final = "_OTHER"

BUDGET_EVENT: Final = "llm_cost.budget.crossed"
LLM_COST_BUDGET_SCOPE: Final = "llm_cost.budget.scope"  # session | user
LLM_COST_BUDGET_THRESHOLD: Final = "llm_cost.budget.threshold"  # 0.5, 0.8, 1.0 …
LLM_COST_BUDGET_USD: Final = "llm_cost.budget.usd"
#: A call under a hard budget: the worst case held against it before it was sent,
#: and where that figure came from (``max_tokens`` | ``default_max_tokens`` | ``default``).
LLM_COST_BUDGET_RESERVED_USD: Final = "llm_cost.budget.reserved_usd"
LLM_COST_BUDGET_RESERVATION: Final = "llm_cost.budget.reservation"
LLM_COST_BUDGET_NAME: Final = "llm_cost.budget.name"  # a declared budget (otel_llm_cost.budgets)
LLM_COST_BUDGET_HARD: Final = "llm_cost.budget.hard"
#: On a call held against declared hard budgets: the id of its holds in the ledger.
LLM_COST_BUDGET_HOLD: Final = "llm_cost.budget.hold"

# --- Metric attributes --------------------------------------------------------------
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"  # input | output
LLM_COST_COMPONENT: Final = "llm_cost.component"

# --- Metrics (name, unit) -----------------------------------------------------------
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
UNIT_TOKEN: Final = "{token}"
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
UNIT_SECONDS: Final = "s"
METRIC_SPEND: Final = "llm_cost.spend"
UNIT_USD: Final = "USD"
#: What cache reads saved versus the input rate (USD), by provider and model.
METRIC_CACHE_SAVINGS: Final = "llm_cost.cache.savings"
METRIC_CALLS: Final = "llm_cost.calls"
UNIT_CALL: Final = "{call}"
METRIC_SESSION_COST: Final = "llm_cost.session.cost"
METRIC_SESSION_TOKENS: Final = "llm_cost.session.tokens"
METRIC_SESSION_CALLS: Final = "llm_cost.session.calls"
METRIC_SESSIONS_ACTIVE: Final = "llm_cost.sessions.active"
UNIT_SESSION: Final = "{session}"
METRIC_BUDGET_CROSSINGS: Final = "llm_cost.budget.crossings"
METRIC_BUDGET_REMAINING: Final = "llm_cost.budget.remaining"
METRIC_BUDGET_LIMIT: Final = "llm_cost.budget.limit"
UNIT_CROSSING: Final = "{crossing}"

#: Semantic-convention advice for gen_ai.client.token.usage.
TOKEN_USAGE_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)
#: Semantic-convention advice for gen_ai.client.operation.duration.
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)
#: Money buckets for llm_cost.session.cost, USD 0.0001 … 100.
SESSION_COST_BUCKETS: Final = (
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 50, 100,
)
SESSION_CALLS_BUCKETS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

# --- Instrumentation scope ----------------------------------------------------------
SCOPE_NAME: Final = "otel_llm_cost"
#: Scope of the Anthropic SDK's built-in tracing.
ANTHROPIC_SDK_SCOPE: Final = "com.anthropic.sdk.python"
#: Instrumentation scope of the ``mistralai`` SDK's own tracing (transport-level spans).
MISTRALAI_SDK_SCOPE: Final = "mistralai_sdk_tracer"

# --- Other tools' names, read from foreign spans (never emitted) -------------------
#: OpenLLMetry's older token names (``gen_ai.usage.prompt_tokens`` may be a float).
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_OLD: Final = "gen_ai.usage.cache_read_input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_OLD: Final = "gen_ai.usage.cache_creation_input_tokens"
#: OpenLLMetry's operation, where it sets no ``gen_ai.operation.name`` (``chat``, ``completion``, ``embedding``).
LLM_REQUEST_TYPE: Final = "llm.request.type"
#: OpenInference (Arize): span kind, model, provider and token counts.
OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
LLM_MODEL_NAME: Final = "llm.model_name"
LLM_PROVIDER: Final = "llm.provider"
LLM_SYSTEM: Final = "llm.system"
LLM_TOKEN_COUNT_PROMPT: Final = "llm.token_count.prompt"
LLM_TOKEN_COUNT_COMPLETION: Final = "llm.token_count.completion"
LLM_TOKEN_COUNT_CACHE_READ: Final = "llm.token_count.prompt_details.cache_read"
LLM_TOKEN_COUNT_CACHE_WRITE: Final = "llm.token_count.prompt_details.cache_write"
LLM_TOKEN_COUNT_REASONING: Final = "llm.token_count.completion_details.reasoning"
#: OpenInference's cost of the call (USD), when the writer knew it.
LLM_COST_TOTAL: Final = "llm.cost.total"

# --- Environment variables ----------------------------------------------------------
ENV_CAPTURE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_PRICES_FILE: Final = "OTEL_LLM_COST_PRICES_FILE"
ENV_MODEL_ALIASES: Final = "OTEL_LLM_COST_MODEL_ALIASES"
ENV_METRIC_ATTRIBUTES: Final = "OTEL_LLM_COST_METRIC_ATTRIBUTES"
ENV_LEDGER_ATTRIBUTES: Final = "OTEL_LLM_COST_LEDGER_ATTRIBUTES"
#: ``true`` also records the ``llm_cost.calls`` counter (one more metric point per call).
ENV_METRIC_CALLS: Final = "OTEL_LLM_COST_METRIC_CALLS"
ENV_INCLUDE_USAGE: Final = "OTEL_LLM_COST_OPENAI_INCLUDE_USAGE"
ENV_TIKTOKEN_DIR: Final = "OTEL_LLM_COST_TIKTOKEN_DIR"
ENV_LEDGER_PATH: Final = "OTEL_LLM_COST_LEDGER_PATH"
#: A shared ledger on PostgreSQL (``postgresql://…``); when set it wins over the SQLite path.
ENV_LEDGER_URL: Final = "OTEL_LLM_COST_LEDGER_URL"
#: Where rows wait while a PostgreSQL ledger is unreachable (a directory; ``ledger._spool``).
ENV_LEDGER_SPOOL: Final = "OTEL_LLM_COST_LEDGER_SPOOL"
#: The spool's bound in MiB (default 256); past it a batch is dropped, counted and logged.
ENV_LEDGER_SPOOL_MAX_MB: Final = "OTEL_LLM_COST_LEDGER_SPOOL_MAX_MB"
ENV_BUDGETS: Final = "OTEL_LLM_COST_BUDGETS"
ENV_PROVIDER_HOSTS: Final = "OTEL_LLM_COST_PROVIDER_HOSTS"
ENV_PRICE_SOURCE: Final = "OTEL_LLM_COST_PRICE_SOURCE"
ENV_FALLBACK_PRICES_FILE: Final = "OTEL_LLM_COST_FALLBACK_PRICES_FILE"

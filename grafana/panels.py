"""What the dashboards show: every panel and its PromQL, as plain data.

Kept apart from ``build_dashboards.py`` (which only turns these specs into
Grafana JSON) so the queries can be read, reviewed and tested in one place.
Metric and label names are the verified Prometheus names of docs/metrics.md.

Filtering rule: every selector filters ``job=~"$service"``; selectors on metrics
that carry provider/model labels (spend, calls, token usage, duration) also
filter ``$provider`` and ``$model``. Session and budget metrics are aggregated
per session, not per call, and have no provider/model labels, so filtering them
by model would silently empty the panel; they live on the sessions dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SPEND = "llm_cost_spend_USD_total"
SAVINGS = "llm_cost_cache_savings_USD_total"
TOKENS = "gen_ai_client_token_usage"
DURATION = "gen_ai_client_operation_duration_seconds"
#: The call count: the duration histogram's, which carries each call's pricing status
#: and usage source (docs/metrics.md; ``llm_cost_calls_total`` is opt-in).
CALLS = DURATION + "_count"
#: Only our series of it: another instrumentation writing the same histogram has no
#: ``llm_cost_status``, and a ``!=`` matcher alone would count its calls as unpriced.
OURS = 'llm_cost_status!=""'
SESSION_COST = "llm_cost_session_cost_USD"
SESSION_TOKENS = "llm_cost_session_tokens"
SESSION_CALLS = "llm_cost_session_calls"
SESSIONS_ACTIVE = "llm_cost_sessions_active"
CROSSINGS = "llm_cost_budget_crossings_total"
REMAINING = "llm_cost_budget_remaining_USD"
LIMIT = "llm_cost_budget_limit_USD"

_CALL_FILTER = 'job=~"$service", gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"'
_SERVICE_FILTER = 'job=~"$service"'


def c(metric: str, extra: str = "") -> str:
    """Selector of a per-call metric, filtered by service, provider and model (and, for
    the call count, to our series)."""
    if metric == CALLS:
        extra = f"{OURS}, {extra}" if extra else OURS
    return f"{metric}{{{_CALL_FILTER}{', ' + extra if extra else ''}}}"


def s(metric: str, extra: str = "") -> str:
    """Selector of a session/budget metric, filtered by service only."""
    return f"{metric}{{{_SERVICE_FILTER}{', ' + extra if extra else ''}}}"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # timeseries | stat | bargauge
    unit: str
    queries: tuple[Query, ...]
    description: str = ""
    width: int = 12
    height: int = 8
    stack: bool = False


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    variables: tuple[str, ...]
    rows: tuple[tuple[str, tuple[Panel, ...]], ...] = field(default_factory=tuple)


def _q(expr: str, legend: str = "", instant: bool = False) -> tuple[Query, ...]:
    return (Query(expr, legend, instant),)


def _quantiles(metric: str, sel, by: str = "", qs=(0.5, 0.95)) -> tuple[Query, ...]:
    group = f"le{', ' + by if by else ''}"
    label = f" {{{{{by}}}}}" if by else ""
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({group}) (rate({sel(metric + '_bucket')}[$__rate_interval])))",
            f"p{round(q * 100)}{label}",
        )
        for q in qs
    )


_RATE_H = "[$__rate_interval])) * 3600"
_PROJECTED = f"sum(rate({c(SPEND)}[1h])) * 86400"
_INPUT_SIDE = 'llm_cost_component=~"input|input_audio|cache_read|cache_write"'
_CACHE_READ = 'llm_cost_component="cache_read"'
_UNPRICED = 'llm_cost_status!="priced"'
_ESTIMATED = 'llm_cost_usage_source="estimated"'
_HAS_USER = 'user_id!=""'
_FAILED = 'error_type!=""'

OVERVIEW = Dashboard(
    uid="llm-cost-overview",
    title="LLM cost: overview",
    variables=("service", "provider", "model"),
    rows=(
        ("Spend", (
            Panel("Spend in time range", "stat", "currencyUSD",
                  _q(f"sum(increase({c(SPEND)}[$__range]))", instant=True), width=6, height=4),
            Panel("Projected daily spend (last 1h rate)", "stat", "currencyUSD",
                  _q(_PROJECTED, instant=True), width=6, height=4,
                  description="Spend rate of the last hour × 24h; compare with the daily budget."),
            Panel("Daily budget used (projected)", "stat", "percentunit",
                  _q(f"{_PROJECTED} / $daily_budget_usd", instant=True), width=6, height=4,
                  description="Projected daily spend ÷ daily_budget_usd (grafana/alerts/thresholds.yaml)."),
            Panel("Cache-read share of input-side spend", "stat", "percentunit",
                  _q(f'sum(increase({c(SPEND, _CACHE_READ)}[$__range]))'
                     f" / sum(increase({c(SPEND, _INPUT_SIDE)}[$__range]))", instant=True),
                  width=6, height=4,
                  description="USD paid for cache reads ÷ USD paid for input (audio included), cache reads and "
                              "cache writes. What the reads saved is in \"What cache reads saved\"."),
            Panel("Spend rate by provider / model (USD/h)", "timeseries", "currencyUSD",
                  _q(f"sum by (gen_ai_provider_name, gen_ai_request_model) (rate({c(SPEND)}{_RATE_H}",
                     "{{gen_ai_provider_name}} {{gen_ai_request_model}}"), stack=True),
            Panel("Spend rate by component (USD/h)", "timeseries", "currencyUSD",
                  _q(f"sum by (llm_cost_component) (rate({c(SPEND)}{_RATE_H}",
                     "{{llm_cost_component}}"), stack=True,
                  description="input, cache_read, cache_write, output, reasoning."),
            Panel("Projected daily spend vs. budget", "timeseries", "currencyUSD",
                  (Query(_PROJECTED, "projected USD/day"),
                   Query("vector($daily_budget_usd)", "daily budget"))),
            Panel("Cache-read spend by model (USD/h)", "timeseries", "currencyUSD",
                  _q(f"sum by (gen_ai_request_model) "
                     f'(rate({c(SPEND, _CACHE_READ)}{_RATE_H}',
                     "{{gen_ai_request_model}}")),
            Panel("What cache reads saved", "timeseries", "currencyUSD",
                  _q(f"sum by (gen_ai_provider_name, gen_ai_request_model) (rate({c(SAVINGS)}{_RATE_H}",
                     "{{gen_ai_provider_name}} {{gen_ai_request_model}}"), width=24, stack=True,
                  description="USD/h not paid thanks to cache reads: cache-read tokens × "
                              "(input price − cache-read price), exact per call (llm_cost.cache.savings)."),
        )),
        ("Top spenders", (
            Panel("Top models by spend", "bargauge", "currencyUSD",
                  _q(f"topk(10, sum by (gen_ai_provider_name, gen_ai_request_model) "
                     f"(increase({c(SPEND)}[$__range])))",
                     "{{gen_ai_provider_name}} {{gen_ai_request_model}}", instant=True)),
            Panel("Top users by spend", "bargauge", "currencyUSD",
                  _q(f"topk(10, sum by (user_id) (increase({c(SPEND, _HAS_USER)}[$__range])))",
                     "{{user_id}}", instant=True),
                  description="Needs user.id in OTEL_LLM_COST_METRIC_ATTRIBUTES (the allow-list)."),
        )),
        ("Tokens and latency", (
            Panel("Tokens by type (tokens/min)", "timeseries", "short",
                  _q(f"sum by (gen_ai_token_type) (rate({c(TOKENS + '_sum')}[$__rate_interval])) * 60",
                     "{{gen_ai_token_type}}"), stack=True, width=8),
            Panel("Tokens by model (tokens/min)", "timeseries", "short",
                  _q(f"sum by (gen_ai_request_model, gen_ai_token_type) "
                     f"(rate({c(TOKENS + '_sum')}[$__rate_interval])) * 60",
                     "{{gen_ai_request_model}} {{gen_ai_token_type}}"), width=8),
            Panel("Call latency p50 / p95", "timeseries", "s",
                  _quantiles(DURATION, c), width=8),
        )),
        ("Calls and data quality", (
            Panel("Unpriced and estimated call share", "timeseries", "percentunit",
                  (Query(f'sum(rate({c(CALLS, _UNPRICED)}[$__rate_interval]))'
                         f" / sum(rate({c(CALLS)}[$__rate_interval]))", "unpriced"),
                   Query(f'sum(rate({c(CALLS, _ESTIMATED)}[$__rate_interval]))'
                         f" / sum(rate({c(CALLS)}[$__rate_interval]))", "estimated usage")),
                  description="unpriced: llm_cost_status unknown_model or no_usage (spend undercounted); "
                              "estimated: tokens counted locally, not reported by the provider.",
                  width=8),
            Panel("Unpriced calls by model", "bargauge", "short",
                  _q(f"sum by (gen_ai_request_model, llm_cost_status) "
                     f'(increase({c(CALLS, _UNPRICED)}[$__range]))',
                     "{{gen_ai_request_model}} ({{llm_cost_status}})", instant=True),
                  description="Models that need a price entry (OTEL_LLM_COST_PRICES_FILE) or an alias.",
                  width=8),
            Panel("Calls by status (calls/min)", "timeseries", "short",
                  (Query(f"sum by (llm_cost_status) (rate({c(CALLS)}[$__rate_interval])) * 60",
                         "{{llm_cost_status}}"),
                   Query(f"sum by (error_type) (rate({c(CALLS, _FAILED)}[$__rate_interval])) * 60",
                         "failed: {{error_type}}")),
                  width=8),
        )),
    ),
)

SESSIONS = Dashboard(
    uid="llm-cost-sessions",
    title="LLM cost: sessions and budgets",
    variables=("service",),
    rows=(
        ("Sessions", (
            Panel("Active sessions", "stat", "short",
                  _q(f"sum({s(SESSIONS_ACTIVE)})", instant=True), width=8, height=4),
            Panel("Average session cost", "stat", "currencyUSD",
                  _q(f"sum(increase({s(SESSION_COST + '_sum')}[$__range]))"
                     f" / sum(increase({s(SESSION_COST + '_count')}[$__range]))", instant=True),
                  width=8, height=4),
            Panel("Sessions ended in time range", "stat", "short",
                  _q(f"sum(increase({s(SESSION_COST + '_count')}[$__range]))", instant=True),
                  width=8, height=4),
            Panel("Session cost p50 / p95 / p99", "timeseries", "currencyUSD",
                  _quantiles(SESSION_COST, s, qs=(0.5, 0.95, 0.99)),
                  description="Estimated from llm_cost.session.cost buckets (0.0001 … 100 USD); "
                              "exact to the bucket, not the cent."),
            Panel("Sessions ended (per min)", "timeseries", "short",
                  _q(f"sum by (job) (rate({s(SESSION_COST + '_count')}[$__rate_interval])) * 60",
                     "{{job}}")),
            Panel("Tokens per session p95", "timeseries", "short",
                  _quantiles(SESSION_TOKENS, s, by="gen_ai_token_type", qs=(0.95,))),
            Panel("Calls per session p50 / p95", "timeseries", "short",
                  _quantiles(SESSION_CALLS, s)),
        )),
        ("Budgets", (
            Panel("Budget crossings in time range", "bargauge", "short",
                  _q(f"sum by (llm_cost_budget_scope, llm_cost_budget_threshold) "
                     f"(increase({s(CROSSINGS)}[$__range]))",
                     "{{llm_cost_budget_scope}} ≥ {{llm_cost_budget_threshold}}", instant=True)),
            Panel("Budget crossings (per hour)", "timeseries", "short",
                  _q(f"sum by (llm_cost_budget_scope, llm_cost_budget_threshold) "
                     f"(rate({s(CROSSINGS)}{_RATE_H}",
                     "{{llm_cost_budget_scope}} ≥ {{llm_cost_budget_threshold}}")),
            Panel("Declared budgets: share used this period", "bargauge", "percentunit",
                  _q(f"max by (llm_cost_budget_name) (1 - {s(REMAINING)} / {s(LIMIT)})",
                     "{{llm_cost_budget_name}}", instant=True),
                  description="Budgets declared with OTEL_LLM_COST_BUDGETS or budgets.set_budgets "
                              "(docs/budgets.md), as the busiest process last read them from the ledger."),
            Panel("Declared budgets: remaining (USD)", "timeseries", "currencyUSD",
                  _q(f"min by (llm_cost_budget_name) ({s(REMAINING)})", "{{llm_cost_budget_name}}")),
        )),
    ),
)

DASHBOARDS = (OVERVIEW, SESSIONS)

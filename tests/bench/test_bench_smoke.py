"""The benchmark harness runs and reports well-formed results (never a timing assertion).

Each run is a subprocess, as the harness itself runs it: instrumenting and
uninstrumenting the SDKs round after round must not leak into other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-W", "ignore", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_overhead_runner_measures_every_workload_for_ours() -> None:
    result = _run("-m", "bench.workloads", "--impl", "ours", "--rounds", "2", "--scale", "0.05")
    assert result["impl"] == "ours"
    assert set(result["workloads"]) == set(WORKLOADS)
    for name, w in result["workloads"].items():
        assert w["status"] == "ok", name
        # Instrumented rounds made exactly one span per call; bare rounds made none.
        assert w["spans_per_call"] == 1.0, name
        assert w["spans_in_bare_rounds"] == 0, name
        assert w["toggle"] == "instrument", name  # our uninstrument() restores the SDK
        for clock in ("cpu", "wall"):
            figures = w[clock]
            assert len(figures["bare_rounds_us"]) == len(figures["instrumented_rounds_us"]) == 2
            assert figures["bare_us"] > 0 and figures["instrumented_us"] > 0
            assert abs(figures["instrumented_us"] - figures["bare_us"] - figures["added_us"]) < 0.02
        assert w["export_cpu_us_per_span"] > 0
        assert w["metrics_cpu_us_per_call"] >= 0
    assert result["uninstrument_leaks"] == {}
    # The SDKs really went through the canned transport: warm-up + 2 rounds x 2 modes.
    assert result["requests_served"] > 0


@pytest.mark.parametrize("impl", ["sdk-floor", "sdk-span", "sdk-bare"])
def test_the_sdk_floor_replays_our_span_of_each_workload_through_the_sdk(impl: str) -> None:
    result = _run("-m", "bench.workloads", "--impl", impl, "--rounds", "2", "--scale", "0.05")
    assert set(result["workloads"]) == set(WORKLOADS)
    for name, w in result["workloads"].items():
        assert w["status"] == "ok", name
        assert w["spans_per_call"] == 1.0 and w["spans_in_bare_rounds"] == 0, name
        assert w["toggle"] == "instrument", name  # its uninstrument() restores the SDK too
    assert result["uninstrument_leaks"] == {}


def test_the_floor_span_carries_exactly_our_span_attributes() -> None:
    templates = _run("-c", "import json; from bench._floor import floor_templates; "
                           "print(json.dumps(floor_templates()))")
    assert set(templates) == set(WORKLOADS)
    name, start, end, points = templates["chat"]
    assert name == "chat gpt-4o-mini"
    assert start["gen_ai.request.model"] == "gpt-4o-mini" and "session.id" in start
    assert {"llm_cost.usd", "gen_ai.usage.input_tokens", "gen_ai.response.model"} <= set(end)
    assert not set(start) & set(end)
    recorded = {(metric, attrs.get("gen_ai.token.type") or attrs.get("llm_cost.component"))
                for metric, attrs, _ in points}
    assert {("gen_ai.client.token.usage", "input"), ("gen_ai.client.token.usage", "output"),
            ("gen_ai.client.operation.duration", None),
            ("llm_cost.spend", "input"), ("llm_cost.spend", "output")} <= recorded
    assert all(value > 0 for _, _, value in points)


def test_micro_benchmarks_report_every_figure_and_the_targets() -> None:
    result = _run("-c", "import json; from bench.micro import run; print(json.dumps(run(quick=True)))")
    for name in ("price_resolve_cached", "compute_cost", "price_usage", "usage_from_openai",
                 "usage_from_anthropic", "count_tokens_1k", "stream_chunk_bare", "stream_chunk_proxied",
                 "llm_call_lifecycle", "call_metrics_record", "call_metrics_collect"):
        assert result[name]["median_us"] > 0, name
        assert result[name]["best_us"] <= result[name]["median_us"], name
    assert result["count_tokens_1k_tokens"] > 900  # the text really is about 1k tokens
    assert result["stream_chunk_accumulator"].endswith("ChatAccumulator")
    assert set(result["targets"]) == {"stream_chunk_added", "price_resolve_cached"}
    for target in result["targets"].values():
        assert target["met"] == (target["median_us"] <= target["limit_us"])


def test_memory_benchmark_keeps_live_sessions_at_the_cap() -> None:
    result = _run("-c", "import json; from bench.memory import run; "
                        "print(json.dumps(run(4000, checkpoints=4, cap=1000)))")
    assert result["live_session_cap"] == 1000
    assert [row["sessions"] for row in result["checkpoints"]] == [1000, 2000, 3000, 4000]
    # Every session was opened and never ended; the store still holds only the cap.
    assert [row["live_sessions"] for row in result["checkpoints"]] == [1000, 1000, 1000, 1000]
    assert result["steady_state"]["from_sessions"] == 2000
    assert result["peak_rss_mib"] > 0


def test_the_overhead_run_interleaves_implementations_and_reports_the_spread(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-W", "ignore", "-m", "bench", "overhead", "--impls", "ours", "sdk-floor",
                           "--rounds", "3", "--scale", "0.05", "--only", "chat", "--json", str(out)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())["overhead"]
    for impl in ("ours", "sdk-floor"):
        w = report[impl]["workloads"]["chat"]
        assert w["status"] == "ok" and w["spans_per_call"] == 1.0 and w["spans_in_bare_rounds"] == 0
        cpu = w["cpu"]
        assert len(cpu["bare_rounds_us"]) == len(cpu["instrumented_rounds_us"]) == 3
        assert cpu["added_q1_us"] <= cpu["added_us"] <= cpu["added_q3_us"]
    paired = report["_paired"]["chat"]
    ours = report["ours"]["workloads"]["chat"]["cpu"]
    floor = report["sdk-floor"]["workloads"]["chat"]["cpu"]
    # Round by round: ours minus the floor of the same round index.
    diffs = sorted((oi - ob) - (fi - fb) for ob, oi, fb, fi in zip(
        ours["bare_rounds_us"], ours["instrumented_rounds_us"],
        floor["bare_rounds_us"], floor["instrumented_rounds_us"], strict=True))
    spread = paired["ours_minus_floor_us"]
    assert abs(spread["median"] - diffs[1]) < 0.2
    assert spread["q1"] <= spread["median"] <= spread["q3"]
    assert "ours − floor" in proc.stdout and "IQR of added" in proc.stdout


def test_call_counts_split_the_added_calls_of_ours_and_of_the_floor(tmp_path: Path) -> None:
    out = tmp_path / "counts.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-W", "ignore", "-m", "bench.call_counts", "--calls", "20",
                           "--only", "chat", "anthropic_messages", "--json", str(out)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report) == {"chat", "anthropic_messages"}
    for name, r in report.items():
        assert r["calls"] == 20 and r["bare"] > 0, name
        # Both add function calls; only ours runs code of this package, and its functions are listed.
        assert r["ours_added"] > 0 and r["floor_added"] > 0, name
        assert r["ours_by_place"]["ours"] > 0 and "ours" not in r["floor_by_place"], name
        assert any("instrumentation/" in function for function in r["ours_functions"]), name
    assert "function calls per call" in proc.stdout


def test_the_conversation_benchmark_reports_both_modes() -> None:
    result = _run("-m", "bench.estimation", "--conversation", "4", "--rounds", "1", "--json")
    assert set(result) == {"cold", "warm"}
    assert all(isinstance(v, float) and v > 0 for v in result.values())

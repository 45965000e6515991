"""The corpus of ``python -m bench.estimation``: the estimate meets the published API
counts exactly and the documented rules on every case that is not a marked floor."""
from bench import estimation


def test_corpus_estimates_meet_the_reference():
    rows = estimation.run_corpus()
    published = [r for r in rows if r["reference"] == "published"]
    assert len(published) == 8
    assert all(r["new_input"] == r["ref_input"] for r in published)
    for row in rows:
        if row["new_error_pct"] is not None and not row["lower_bound"]:
            assert row["new_error_pct"] == 0, row
    floors = {r["name"] for r in rows if r["lower_bound"]}
    assert floors == {"image by URL 512x512 gpt-4o", "image by URL 1024x768 gpt-4o", "reasoning o3-mini"}
    # A floor never overshoots the reference.
    for row in rows:
        if row["lower_bound"] and row["ref_input"] is not None:
            assert row["new_input"] <= row["ref_input"]
    # The previous fallback missed most of the tool, image and schema input.
    assert sum(r["old_error_pct"] <= 5 for r in rows if r["old_error_pct"] is not None) < len(rows) // 2


def test_first_call_measurement_runs():
    result = estimation.first_call(rounds=1)
    assert set(result) == {"cold", "preload"}
    assert all(r["first_ms"] > 0 for r in result.values())

"""The HTTP bench runs end to end in its smallest form: the real server in a subprocess, whole projects over
HTTP, raw SpiffWorkflow in the same run, and a JSON result with every figure — never a speed asserted."""

from __future__ import annotations

import json

from bench.http_bench import run


def test_quick_http_bench_writes_every_figure_and_sees_no_error(tmp_path):
    out = tmp_path / "http.json"
    result = run(levels=(1, 2), projects={1: 1, 2: 1}, raw_seconds=0.1, out=out, quiet=True)
    written = json.loads(out.read_text())
    assert written["raw_spiffworkflow"]["tasks_per_s"] > 0
    assert written["raw_spiffworkflow_project"]["completions_per_s"] > 0  # the ceiling on the bundled models
    assert written["statements"]["errors"] == 0 and written["statements"]["completions"] > 0
    assert written["statements"]["statements_per_completion"] > 0
    assert [r["clients"] for r in written["runs"]] == [1, 2]
    for level in written["runs"]:
        assert level["errors"] == 0, level["error_samples"]
        assert level["projects"] == level["clients"], "every client drove its project to the end"
        assert level["completions"] >= 10 * level["clients"]
        for key in ("completions_per_s", "ratio_to_raw", "ratio_to_raw_project", "server_cpu_ms_per_completion"):
            assert level[key] is not None and level[key] > 0, key
        assert set(level["latency_ms"]) == {"p50", "p95", "p99"}
        assert level["latency_ms"]["p50"] <= level["latency_ms"]["p99"]
        assert all(mb > 0 for mb in level["server_peak_rss_mb"])
    assert written["scaling"] == []  # one process only: nothing to compare
    assert result["path"] == str(out)


def test_scaling_compares_each_process_count_with_one_at_the_same_level():
    from bench.http_bench import scaling

    runs = [{"database": "postgresql", "processes": p, "clients": c, "completions_per_s": rate,
             "server_cpu_ms_per_completion": cpu}
            for p, c, rate, cpu in ((1, 8, 50.0, 20.0), (2, 8, 80.0, 22.0), (1, 50, 40.0, 20.0), (2, 50, 60.0, 30.0))]
    rows = {(r["clients"], r["processes"]): r for r in scaling(runs)}
    assert set(rows) == {(8, 2), (50, 2)}
    assert rows[(8, 2)]["throughput_ratio"] == 1.6 and rows[(8, 2)]["cpu_per_completion_ratio"] == 1.1
    assert rows[(50, 2)]["throughput_ratio"] == 1.5 and rows[(50, 2)]["cpu_per_completion_ratio"] == 1.5

"""Tests for pgjax.bench.scaling: the quick run writes complete output files. No timing is asserted (the
machines are shared and noisy); the benchmark itself records its ratios against baselines of the same run."""

from __future__ import annotations

import json
import math

import pytest

from pgjax.bench import scaling as bench_scaling


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-scaling")
    assert bench_scaling.main(["--quick", "--out", str(out)]) == 0
    return out, json.loads((out / bench_scaling.JSON_FILE).read_text(encoding="utf-8"))


def test_quick_run_writes_every_headline_number(quick):
    out, data = quick
    for key in bench_scaling.HEADLINE_KEYS:
        assert _positive(data[key]), (key, data.get(key))
    assert math.isfinite(data["compile_cache_seconds_saved"])
    assert data["quick"] is True and data["big_run"] is None  # the 10^10-sample sweep is full-mode only
    assert not list(out.glob("*.tmp-*")), "temporary files left behind"


def test_quick_run_records_device_load_and_counts(quick):
    _, data = quick
    info = data["device_info"]
    assert info["device_kind"] and info["cpu_cores"] >= 1 and data["device"]
    assert data["load_average"]["start"] is None or len(data["load_average"]["start"]) == 3
    tp = data["throughput"]
    assert set(tp["run_seconds"]) == {"1", str(bench_scaling.SCALE_DEVICES)}
    assert tp["jax_info"]["n_devices"] == bench_scaling.SCALE_DEVICES  # JAX_NUM_CPU_DEVICES reached the worker
    assert tp["bit_identical_across_devices"] is True
    assert data["chunked"]["bit_identical"] is True
    per_core = data["per_core"]
    if per_core["cores"] >= 2:  # one device per core against a plain one-device process, each quick problem
        assert [row["problem"] for row in per_core["rows"]] == [p for p, _, _ in bench_scaling.QUICK["cores_problems"]]
        for row in per_core["rows"]:
            assert row["devices_seen"] == [1, per_core["cores"]]  # JAX_NUM_CPU_DEVICES reached each worker
            assert row["bit_identical"] and row["all_finite"] and _positive(row["speedup"])
    assert data["memory_samples_growth"] == pytest.approx(100)
    for row in data["memory"]["rows"]:
        assert _positive(row["peak_rss_bytes"]) and row["all_finite"]
    cache = data["compile_cache"]["runs"]
    assert cache["cold"][0]["cache_misses"] >= 1 and cache["cold"][0]["cache_hits"] == 0
    assert cache["warm"][0]["cache_hits"] >= 1
    assert cache["no_cache"][0]["cache_hits"] == 0 and cache["no_cache"][0]["cache_misses"] == 0


def test_quick_run_writes_markdown(quick):
    out, data = quick
    markdown = (out / bench_scaling.MARKDOWN_FILE).read_text(encoding="utf-8")
    assert data["device"] in markdown
    for heading in (
        "Throughput on 1 and 4 CPU devices",
        "Peak resident memory",
        "One CPU device per core against one device",
        "Chunked against unchunked",
        "Persistent compilation cache",
    ):
        assert heading in markdown


def test_memory_rows_are_the_median_of_their_repeated_runs(monkeypatch):
    """In the full mode each memory sweep runs in several fresh processes, the grid walked once per repetition;
    a row is its sweep's median run and keeps every run's peak (workers replaced by a fake that returns a peak
    per call, in call order)."""
    from pgjax.bench import scaling

    calls = []

    def fake_worker(task, **_):
        calls.append((task["n_seeds"], task["n"]))
        peak = {1: 300, 2: 100, 3: 200}[sum(1 for c in calls if c == calls[-1])]  # runs 1..3 of this point
        return {"n_seeds": task["n_seeds"], "n": task["n"], "samples": task["n_seeds"] * task["n"],
                "peak_rss_bytes": peak * task["n"], "run": len(calls)}  # fmt: skip

    monkeypatch.setattr(scaling, "_run_worker", fake_worker)
    sizes = dict(memory_n=10, memory_seeds=(1, 100), memory_ns=(1000,), parallel_memory=False, memory_reps=3)
    mem = scaling.measure_memory(sizes, verbose=False)
    grid = [(1, 10), (100, 10), (1, 1000)]
    assert calls == grid * 3  # the whole grid, three times
    assert [(row["n_seeds"], row["n"]) for row in mem["rows"]] == grid
    for row in mem["rows"]:
        assert row["peak_rss_bytes_runs"] == [300 * row["n"], 100 * row["n"], 200 * row["n"]]
        assert row["peak_rss_bytes"] == 200 * row["n"]  # the median run, whole
        assert row["run"] > 2 * len(grid)
    assert mem["reps"] == 3 and mem["peak_rss_ratio_n_grows"] == 100.0

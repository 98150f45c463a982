"""``pgjax bench --all``: the summary with the device through the CLI (no part, the cheapest mode), the budget
guard on a real subprocess, one-line errors, and the comparison against a reference run on made-up tables."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd

from pgjax.bench import all as bench_all
from pgjax.cli import main


def test_cli_writes_the_summary_with_the_device(tmp_path, capsys):
    out = tmp_path / "all"
    code = main(["bench", "--all", "--benchmarks", "none", "--experiments", "none", "--out", str(out)])
    assert code == 0
    result = json.loads((out / bench_all.JSON_FILE).read_text())
    import jax

    assert result["device"]["platform"] == jax.devices()[0].platform
    assert result["device"]["device_kind"] == jax.devices()[0].device_kind
    assert result["within_budget"] and result["benchmarks"] == [] and result["experiments"] == []
    text = (out / bench_all.MARKDOWN_FILE).read_text()
    assert f"device kind `{jax.devices()[0].device_kind}`" in text


def test_bad_flags_are_one_line_errors(tmp_path, capsys):
    assert main(["bench", "--all", "--budget-seconds", "0", "--out", str(tmp_path / "a")]) == 2
    assert main(["bench", "--all", "--benchmarks", "gpu", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "budget" in err[0] and "benchmarks" in err[1]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_budget_stops_a_part_and_skips_the_rest(tmp_path):
    t0 = time.perf_counter()
    row = bench_all.run_part([sys.executable, "-c", "import time; time.sleep(60)"], 1.0, tmp_path / "log")
    assert row["status"] == "stopped" and time.perf_counter() - t0 < 30
    assert bench_all.run_part([sys.executable, "-c", "pass"], 0.0, tmp_path / "log")["status"] == "skipped"
    failed = bench_all.run_part([sys.executable, "-c", "raise SystemExit('boom')"], 30.0, tmp_path / "log")
    assert failed["status"] == "failed" and failed["reason"] == "boom"


def _table(var_lo, var_hi):
    return pd.DataFrame(
        {
            "estimator": ["reinforce", "reinforce", "leave_one_out"],
            "param": ["theta[0]", "theta[1]", "theta[0]"],
            "n": [4, 4, 4],
            "n_seeds": [100, 100, 100],
            "var": (np.asarray(var_lo) + np.asarray(var_hi)) / 2,
            "var_lo": var_lo,
            "var_hi": var_hi,
        }
    )


def test_compare_gives_throughput_ratios_and_interval_agreement(tmp_path):
    """Rows matched on the key columns; the second reinforce cell's intervals are disjoint; an experiment run with
    other arguments is not compared."""
    ref, out = tmp_path / "cpu", tmp_path / "gpu"
    for folder, lo, hi in ((ref, [1.0, 1.0, 2.0], [2.0, 2.0, 3.0]), (out, [1.5, 2.5, 2.9], [2.5, 3.0, 4.0])):
        (folder / "experiments" / "x").mkdir(parents=True)
        _table(lo, hi).to_parquet(folder / "experiments" / "x" / "table.parquet")
    row = {
        "status": "ok",
        "table": "experiments/x/table.parquet",
        "args": ["run", "x", "--n-seeds", "100"],
        "wall_s": 2.0,
    }
    reference = {
        "device": {"device_kind": "cpu"},
        "benchmarks": [{"name": "score", "throughput": 1e8, "quick": True}],
        "experiments": [
            {"name": "x", **row, "wall_s": 20.0},
            {"name": "y", **row, "args": ["run", "y", "--n-seeds", "5"]},
        ],
    }
    (ref / bench_all.JSON_FILE).write_text(json.dumps(reference))
    result = {
        "benchmarks": [
            {"name": "score", "throughput": 6e9, "quick": True, "unit": "samples/s", "status": "ok", "wall_s": 1.0}
        ],
        "experiments": [{"name": "x", **row}, {"name": "y", **row, "args": ["run", "y", "--n-seeds", "6"]}],
    }
    comp = bench_all.compare(result, out, ref / bench_all.JSON_FILE)
    assert comp["throughput_ratio"]["score"]["ratio"] == 60.0
    assert comp["experiments"] == {"x": {"cells": 3, "intervals_overlap": 2, "fraction": 2 / 3, "wall_s_ratio": 0.1}}
    text = bench_all.render_markdown(
        {
            **result,
            "device": {},
            "quick": True,
            "budget_seconds": 480,
            "wall_seconds": 3,
            "load_average": {"before": None, "after": None},
            "comparison": comp,
        }
    )
    assert "**60x**" in text and "| x | 3 | 2 | 0.667 | 0.1 |" in text

"""The interval-coverage experiment through the CLI: its table, summary, figure and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from pgjax import cli
from pgjax import io as pio

SMALL = ["--problems", "bandit", "--ns", "1", "16", "--rs", "100", "400", "--replications", "10"]


def test_interval_coverage_through_cli(tmp_path, capsys):
    out = tmp_path / "ic"
    assert cli.main(["run", "interval-coverage", *SMALL, "--out", str(out)]) == 0
    table = pio.read_frame(out, "table")
    summary = pio.read_frame(out, "summary")
    assert (out / "coverage.png").is_file() and (out / "manifest.json").is_file()
    # The exact-variance estimators of the bandit, both quantities, every method, n, R and coordinate.
    assert set(table["estimator"]) == {"reinforce", "constant_baseline", "optimal_baseline_exact", "pathwise"}
    assert set(table["method"]) == {"tail", "tail-bootstrap", "delta"} and set(table["quantity"]) == {
        "variance",
        "ratio",
    }
    assert set(table["n"]) == {1, 16} and set(table["R"]) == {100, 400}
    # 10 replications at R = 400 are 4000 seeds, cut into 40 blocks at R = 100.
    assert set(table.loc[table["R"] == 400, "replications"]) == {10}
    assert set(table.loc[table["R"] == 100, "replications"]) == {40}
    np.testing.assert_allclose(table["coverage"] + table["miss_below"] + table["miss_above"], 1.0)
    assert ((table["coverage_lo"] <= table["coverage"]) & (table["coverage"] <= table["coverage_hi"])).all()
    # REINFORCE has no ratio row against itself; the exact ratio is var(estimator) / var(reinforce).
    assert not ((table["quantity"] == "ratio") & (table["estimator"] == "reinforce")).any()
    ratio = table[(table["quantity"] == "ratio") & (table["estimator"] == "pathwise") & (table["param"] == "theta[0]")]
    np.testing.assert_allclose(ratio["exact"], 4.0 / 28.44950625, rtol=1e-6)
    var = table[(table["quantity"] == "variance") & (table["estimator"] == "pathwise") & (table["param"] == "theta[0]")]
    np.testing.assert_allclose(var["exact"] * var["n"], 4.0, rtol=1e-6)
    # The tail interval is never shorter than the plug-in one on the same blocks.
    key = ["quantity", "estimator", "param", "n", "R"]
    tail = table[table["method"] == "tail"].set_index(key)["log_width"]
    delta = table[table["method"] == "delta"].set_index(key)["log_width"]
    assert (tail >= delta - 1e-9).all()
    assert summary["cells"].sum() == len(table)


@pytest.mark.parametrize(
    "args,field",
    [(["--problems", "cartpole"], "problems"), (["--rs", "10"], "rs"), (["--replications", "3"], "replications")],
)
def test_interval_coverage_bad_input(tmp_path, capsys, args, field):
    assert cli.main(["run", "interval-coverage", *args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0], err
    assert not (tmp_path / "x" / "table.parquet").exists()

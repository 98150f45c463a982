"""Tests for the reproduction of Mohamed et al. (2020), Figures 2 and 3 (pgjax/experiments/mohamed2020*.py).

The statistical check (Monte Carlo variance against the exact curve) uses the pathwise and coupled
measure-valued estimators, whose estimates have light tails, at R = 2000 seeds: reject when
|s^2 - exact| > z se(s^2) with z = unbiasedness_z(cells), Bonferroni over all cells, so the test fails by chance
with probability about 1e-6.
"""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

import pgjax
from pgjax import io as pio
from pgjax.analysis.stats import unbiasedness_z, variance_se
from pgjax.errors import ConfigError
from pgjax.estimators import make_estimator
from pgjax.experiment import discover
from pgjax.experiments import mohamed2020, mohamed2020_fig2, mohamed2020_fig3

SMALL = mohamed2020_fig2.Config(
    functions=("quadratic", "cos"),
    estimators=("pathwise", "measure_valued_coupled"),
    curve_points=7,
    mc_points=3,
    n_seeds=2000,
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    result = mohamed2020_fig2.run(SMALL)
    out = tmp_path_factory.mktemp("fig") / "out"
    mohamed2020_fig2.save(result, out, argv=["pgjax", "run", "mohamed2020-fig2"])
    return result, out


def test_experiments_are_discovered_with_the_papers_defaults():
    found = discover()
    assert "mohamed2020-fig2" in found and "mohamed2020-fig3" in found and "test-function-variance" in found
    assert mohamed2020_fig2.Config().functions == ("quadratic",)
    assert mohamed2020_fig3.Config().functions == ("exp", "cos")
    assert mohamed2020_fig2.Config().estimators == mohamed2020.PAPER_ESTIMATORS
    assert (mohamed2020_fig2.Config().mu, mohamed2020_fig2.Config().sigma) == (1.0, 1.0)


def test_k_grids_cover_the_papers_ranges():
    np.testing.assert_allclose(mohamed2020.k_grid("quadratic", 13)[[0, 6, -1]], [-3, 0, 3])
    exp = mohamed2020.k_grid("exp", 9)
    np.testing.assert_allclose(exp[[0, 4, -1]], [0.1, 1.0, 10.0])
    np.testing.assert_allclose(np.diff(np.log(exp)), np.log(10) / 4)
    np.testing.assert_allclose(mohamed2020.k_grid("cos", 10)[[0, -1]], [0.5, 5.0])


def test_outputs_are_written_and_read_back(saved):
    result, out = saved
    for name in (
        "table.parquet",
        "table.csv",
        "table.md",
        "raw.npz",
        "manifest.json",
        "values.parquet",
        "values.csv",
        "values.md",
        "figure2.png",
        "figure2.pdf",
    ):
        assert (out / name).is_file(), name
    table = pio.read_table(out)
    assert list(table.columns[: len(pio.TABLE_COLUMNS)]) == list(pio.TABLE_COLUMNS)
    assert {"function", "k"} <= set(table.columns) and set(table["n"]) == {1}
    assert len(table) == 2 * 3 * 2 * 2  # functions x k x estimators x params
    values = mohamed2020.read_values(out)
    assert list(values.columns) == list(mohamed2020.VALUES_COLUMNS)
    curve = values[values["grid"] == "curve"]
    assert len(curve) == 2 * 7 * 2 * 2 and curve["var_mc"].isna().all()
    mc = values[values["grid"] == "mc"].reset_index(drop=True)
    np.testing.assert_array_equal(mc["var_mc"], table["var"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["figure"] == "figure2" and manifest["experiment"] == "mohamed2020-fig2"
    raw = pio.read_raw_grid(out)  # function and k are data, not parts of parameter names
    assert raw.axes == ["function", "k"] and raw.param_names == ["mu", "sigma"]
    assert raw.estimates.shape == (2 * 3 * 2, 2000, 2)  # (function, k, estimator) cells
    for function in ("quadratic", "cos"):
        cells = raw.index[(raw.index["function"] == function) & (raw.index["estimator"] == "pathwise")]
        np.testing.assert_array_equal(cells["k"].to_numpy(float), mohamed2020.k_grid(function, 3))
    with np.load(out / pio.RAW_FILE) as npz:
        assert not any("k=" in str(v) for key in npz.files if npz[key].dtype.kind == "U" for v in npz[key].ravel())
    assert manifest["ragged"] and [(s["function"], s["k"]) for s in manifest["settings"]] == [
        (f, float(k)) for f in ("quadratic", "cos") for k in mohamed2020.k_grid(f, 3)
    ]
    (out / "figure2.png").unlink()
    mohamed2020.draw(out)  # figures are redrawn from the saved tables alone
    assert (out / "figure2.png").is_file()


def test_monte_carlo_variances_agree_with_the_exact_curves(saved):
    result, out = saved
    table = result.table
    z = unbiasedness_z(len(table))
    for setting, entry in result.sweep:  # one setting per (function, k)
        for name in ("pathwise", "measure_valued_coupled"):
            x = entry.sweep.estimates[name][1].astype(np.float64)
            rows = table[
                (table["estimator"] == name) & (table["function"] == setting["function"]) & (table["k"] == setting["k"])
            ]
            exact = rows["var_exact"].to_numpy()
            assert len(rows) == 2 and np.all(np.abs(x.var(axis=0, ddof=1) - exact) <= z * variance_se(x)), name
    # the exact values at the Monte Carlo points are the curves' values at the same k
    values = result.values
    for _, group in values.groupby(["function", "estimator", "param"]):
        curve = group[group["grid"] == "curve"]
        mc = group[group["grid"] == "mc"]
        common = np.intersect1d(np.round(curve["k"], 9), np.round(mc["k"], 9))
        assert len(common) == 3  # the ends and the middle of the range are on both grids
        a = curve.set_index(np.round(curve["k"], 9)).loc[common, "var_exact"].to_numpy()
        b = mc.set_index(np.round(mc["k"], 9)).loc[common, "var_exact"].to_numpy()
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_grid_over_k_matches_the_engine_seed_for_seed():
    """estimates_over_k (k traced, vmapped) gives the same per-seed numbers as pgjax.run_sweep on the problem
    with that k fixed (float32 rounding apart)."""
    config = mohamed2020.Config()
    problem = mohamed2020.base_problem(config, "cos")
    params = problem.init_params()
    for name in ("measure_valued_coupled",):
        per_k = mohamed2020.estimates_over_k(problem, params, make_estimator(name), [0.5, 2.75], 64, seed=3)
        fixed = problem.with_k(2.75)
        sweep = pgjax.run_sweep(fixed, params, {name: make_estimator(name)}, ns=[1], n_seeds=64, seed=3)
        np.testing.assert_allclose(per_k[1], sweep.estimates[name][1], rtol=2e-5, atol=1e-6)


def test_exact_over_k_matches_the_estimators_own_exact_variances():
    config = mohamed2020.Config()
    problem = mohamed2020.base_problem(config, "exp")
    estimators = {n: make_estimator(n) for n in mohamed2020.CURVE_ESTIMATORS}
    grad, variances = mohamed2020.exact_over_k(problem, estimators, [0.3, 4.0])
    for j, k in [(1, 4.0)]:
        fixed = problem.with_k(k)
        with jax.enable_x64(True):
            params = fixed.init_params()
        for name, estimator in estimators.items():
            own = estimator.single_sample_variance(fixed, params)
            own = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(own)])
            np.testing.assert_allclose(variances[name][j], own, rtol=1e-11, err_msg=name)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"functions": ()}, "functions"),
        ({"functions": ("sine",)}, "functions"),
        ({"functions": ("exp", "exp")}, "functions"),
        ({"estimators": ("leave_one_out",)}, "estimators"),
        ({"sigma": 0.0}, "sigma"),
        ({"mu": float("inf")}, "mu"),
        ({"curve_points": 1}, "curve_points"),
        ({"mc_points": 0}, "mc_points"),
        ({"n_seeds": 1}, "n_seeds"),
        ({"quadrature_panels": 4}, "quadrature_panels"),
    ],
)
def test_config_errors_name_the_field(changes, field):
    with pytest.raises(ConfigError) as info:
        mohamed2020_fig3.run(dataclasses.replace(mohamed2020_fig3.Config(), **changes))
    assert info.value.field == field


def test_over_k_is_one_row_of_k_major_estimates_and_fusing_keeps_each_estimator():
    """OverK returns (K * P,), k-major; the engine knows its width; a fused sweep splits back into the
    estimators' own (R, K * P) blocks, equal to separate programs to float32 rounding."""
    from pgjax.engine import sweep as engine

    config = mohamed2020.Config()
    problem = mohamed2020.base_problem(config, "quadratic")
    params = problem.init_params()
    ks = (-1.0, 0.5, 2.0)
    estimators = {n: make_estimator(n) for n in ("reinforce", "pathwise")}
    assert engine._output_width(mohamed2020.OverK(estimators["pathwise"], ks), problem, params, 1) == 6
    fused = mohamed2020.sweep_over_k(problem, params, estimators, ks, 40, seed=2, fuse=True)
    alone = mohamed2020.sweep_over_k(problem, params, estimators, ks, 40, seed=2, fuse=False)
    assert fused.execution["compiles"] == 1 and alone.execution["compiles"] == 2
    for name in estimators:
        assert fused.estimates[name][1].shape == (40, 6)
        np.testing.assert_allclose(fused.estimates[name][1], alone.estimates[name][1], rtol=1e-6, atol=1e-6)
    per_k = mohamed2020.estimates_over_k(problem, params, estimators["pathwise"], ks, 40, seed=2)  # (K, R, P)
    np.testing.assert_array_equal(per_k[1], alone.estimates["pathwise"][1][:, 2:4])

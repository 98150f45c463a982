"""End-to-end tests of the LQR experiments: lqr-variance, lqr-horizon, lqr-gae (small configs), their saved
outputs and figures, their config errors and the CLI's handling of them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pgjax import cli, experiment
from pgjax import io as pio
from pgjax.analysis import stats
from pgjax.errors import ConfigError
from pgjax.experiments import lqr_gae, lqr_horizon, lqr_pgpe, lqr_variance
from pgjax.plotting.variance import figures_skipped

ALPHA = 1e-6


def test_experiments_are_discovered():
    found = experiment.discover()
    for module in (lqr_variance, lqr_horizon, lqr_gae, lqr_pgpe):
        assert found[module.NAME] == module.__name__


def test_lqr_variance_end_to_end(tmp_path):
    """A small run: the n-trajectory variances equal exact / n (family-wise false-failure rate 1e-6 over all
    estimators x coordinates x n), every estimator is unbiased (same rate), and the outputs are written."""
    config = lqr_variance.Config(
        horizon=4,
        n_seeds=2000,
        ns=(1, 8),
        estimators=("reinforce", "optimal_baseline_exact", "reward_to_go", "value_baseline", "gae", "pathwise"),
    )
    result = lqr_variance.run(config)
    table = result.table
    assert set(table["estimator"]) == set(config.estimators)
    assert np.all(np.isfinite(table["var_exact"]))
    z = stats.unbiasedness_z(len(table), ALPHA)
    sweep = result.sweep
    for row in table.itertuples():
        x = sweep.estimates[row.estimator][row.n][:, sweep.param_names.index(row.param)].astype(np.float64)
        se_var = float(stats.variance_se(x))
        assert abs(row.var - row.var_exact) < z * se_var, (row.estimator, row.param, row.n)
        assert abs(row.bias) < z * row.bias_se, (row.estimator, row.param, row.n)
    out = lqr_variance.HOOKS.save(result, tmp_path / "v")
    for name in ("table.parquet", "table.md", "raw.npz", "manifest.json", "figure.png", "bias.png"):
        assert (out / name).is_file(), name
    assert pio.read_manifest(out)["objective_J"] < 0


def test_lqr_horizon_end_to_end(tmp_path):
    """Exact variances off (they are tested in lqr-variance and test_trajectory_estimators.py)."""
    config = lqr_horizon.Config(
        horizons=(1, 3), n=4, n_seeds=400, estimators=("reinforce", "reward_to_go", "value_baseline"), exact=False
    )
    result = lqr_horizon.run(config)
    table = result.table
    assert sorted(table["horizon"].unique()) == [1, 3]
    assert np.all(np.isnan(table["var_exact"]))
    # at H = 1 reward-to-go is REINFORCE: the same estimates, ratio exactly 1
    h1 = table[(table["horizon"] == 1) & (table["estimator"] == "reward_to_go")]
    np.testing.assert_allclose(h1["var_ratio"], 1.0, rtol=1e-5)
    grid = result.sweep  # one sweep per horizon, each with its own exact gradient
    assert grid.axis_names == ("horizon",) and list(grid.settings) == [(1,), (3,)]
    for (horizon,), entry in grid.settings.items():
        assert set(entry.sweep.estimates) == set(config.estimators)
        rows = table[table["horizon"] == horizon]
        np.testing.assert_array_equal(
            rows["true_grad"].to_numpy()[: len(entry.sweep.param_names)], entry.sweep.true_grad
        )
    assert not np.allclose(grid.sweep(horizon=1).true_grad, grid.sweep(horizon=3).true_grad)
    with figures_skipped():  # as `pgjax run --no-figures`: the figures are drawn once, by draw below
        out = lqr_horizon.save(result, tmp_path / "h")
    assert not list(out.glob("*.png"))
    paths = lqr_horizon.draw(out)
    assert {p.name for p in paths} == {"figure.png", "figure.pdf", "bias.png", "bias.pdf"}
    assert "horizon" in pio.read_table(out).columns
    assert (out / "figure.png").is_file() and (out / "bias.pdf").is_file()


def test_lqr_gae_end_to_end(tmp_path):
    config = lqr_gae.Config(
        horizon=4, lambdas=(0.0, 1.0), critics=("exact", "stationary"), references=("reinforce",), n=4, n_seeds=400
    )
    result = lqr_gae.run(config)
    table = result.table
    gae = table[np.isfinite(table["lam"])]
    assert set(gae["estimator"]) == {"gae[exact]", "gae[stationary]"}
    scale = np.abs(table["true_grad"]).max()
    # exact critic: exactly unbiased for every lambda; stationary critic: unbiased at lambda = 1 only
    assert np.all(np.abs(gae.loc[gae["critic"] == "exact", "bias_exact"]) < 1e-8 * scale)
    stationary = gae[gae["critic"] == "stationary"]
    assert np.all(np.abs(stationary.loc[stationary["lam"] == 1.0, "bias_exact"]) < 1e-8 * scale)
    assert np.any(np.abs(stationary.loc[stationary["lam"] == 0.0, "bias_exact"]) > 1e-3 * scale)
    assert set(table.loc[table["critic"] == "", "estimator"]) == {"reinforce"}
    assert np.all(np.isfinite(gae["var_ratio"]))  # against the shared reinforce, on the same seeds
    # one fused program ran: its execution record is counted once, not once per (critic, lambda) setting
    carriers = [s for s in (result.sweep.shared, *result.sweep.settings.values()) if s.sweep.execution]
    assert len(carriers) == 1 and result.sweep.execution["sweeps"] == 1
    assert result.sweep.execution["compiles"] == carriers[0].sweep.execution["compiles"]
    with figures_skipped():  # as `pgjax run --no-figures`: the figures are drawn once, by draw below
        out = lqr_gae.save(result, tmp_path / "g")
    # the saved quality table: the shared reinforce row (its critic "" in the table) and every GAE setting get
    # exact values; the stationary critic's exact bias at lambda = 0 adds to its exact NSE
    quality = pio.read_quality(out)
    assert len(quality) == 5 and quality[["nse_exact", "noise_scale_exact"]].notna().all().all()
    g2 = (table["true_grad"].iloc[:3] ** 2).sum()
    for (critic, lam), rows in gae.groupby(["critic", "lam"]):
        row = quality[(quality["critic"] == critic) & (quality["lam"] == lam)].iloc[0]
        expected = (rows["var_exact"].sum() + (rows["bias_exact"] ** 2).sum()) / g2
        assert row["nse_exact"] == pytest.approx(expected, rel=1e-12), (critic, lam)
        assert row["noise_scale_exact"] == pytest.approx(4 * rows["var_exact"].sum() / g2, rel=1e-12)
    assert not list(out.glob("*.png"))
    paths = lqr_gae.draw(out)
    assert (out / "figure.png").is_file() and len(paths) == 4
    raw = pio.read_raw_grid(out)  # critic and lambda as data beside each cell
    assert raw.axes == ["critic", "lam"]
    assert set(raw.index["estimator"]) == {"reinforce", "gae[exact]", "gae[stationary]"}
    np.testing.assert_array_equal(
        raw.cell("gae[stationary]", 4, critic="stationary", lam=0.0),
        result.sweep.sweep(critic="stationary", lam=0.0).estimates["gae[stationary]"][4],
    )


def test_lqr_pgpe_end_to_end(tmp_path):
    config = lqr_pgpe.Config(
        system="scalar", gain=(-0.5,), x0=(1.0,), sigma_k=(0.3,), horizon=3, ns=(2, 4), n_seeds=300
    )
    result = lqr_pgpe.run(config)
    assert set(result.table["param"]) == {"K_mean[0,0]", "log_sigma_K[0,0]"}
    assert set(result.table["estimator"]) == set(lqr_pgpe.ESTIMATORS)
    with figures_skipped():  # as `pgjax run --no-figures`: the figures are drawn once, by the draw hook below
        out = lqr_pgpe.save(result, tmp_path / "p")
    assert not list(out.glob("*.png"))
    paths = lqr_pgpe.HOOKS.draw(out)
    assert len(paths) == 6 and all(path.is_file() for path in paths)  # figure, bias and ratio, as PNG and PDF


@pytest.mark.parametrize(
    "module, kwargs, field",
    [
        (lqr_variance, dict(sigma=-1.0), "sigma"),
        (lqr_variance, dict(estimators=("nope",)), "estimators"),
        (lqr_variance, dict(gain=(1.0,)), "gain"),
        (lqr_variance, dict(gae_lambda=2.0), "gae_lambda"),
        (lqr_variance, dict(ns=(0,)), "ns"),
        (lqr_horizon, dict(horizons=(0, 5)), "horizons"),
        (lqr_horizon, dict(n_seeds=1), "n_seeds"),
        (lqr_gae, dict(lambdas=(1.5,)), "lambdas"),
        (lqr_gae, dict(critics=("oracle",)), "critics"),
        (lqr_gae, dict(references=("gae",)), "references"),
        (lqr_pgpe, dict(ns=(3,)), "ns"),
        (lqr_pgpe, dict(sigma_k=(0.0,)), "sigma_k"),
    ],
)
def test_bad_configs_name_the_field(module, kwargs, field):
    with pytest.raises(ConfigError) as err:
        module.Config(**kwargs).validate()
    assert err.value.field == field


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    out = tmp_path / "never"
    code = cli.main(["run", "lqr-horizon", "--horizons", "0", "5", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pgjax: error: --horizons")
    assert not out.exists()
    assert math.isfinite(lqr_variance.Config().sigma)


def test_cli_runs_and_replots_with_the_experiments_own_figures(tmp_path, capsys):
    out = tmp_path / "h"
    code = cli.main(
        [
            "run",
            "lqr-horizon",
            "--horizons",
            "1",
            "2",
            "--n",
            "2",
            "--n-seeds",
            "50",
            "--estimators",
            "reinforce",
            "reward_to_go",
            "--no-exact",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert {"figure.png", "bias.png", "table.parquet", "raw.npz", "manifest.json"} <= {p.name for p in out.iterdir()}
    # the horizon is an axis: a column of the table and an array of raw.npz, never packed into a name
    table = pio.read_table(out)
    assert sorted(table["horizon"].unique()) == [1, 2] and table["horizon"].dtype == np.int64
    assert set(table["estimator"]) == {"reinforce", "reward_to_go"} and table["true_grad"].notna().all()
    raw = pio.read_raw_grid(out)
    assert raw.axes == ["horizon"] and sorted(raw.index["horizon"].unique()) == [1, 2]
    with np.load(out / pio.RAW_FILE) as npz:
        assert not any("H=" in key or "[" in key for key in npz.files)
        assert not any("H=" in str(v) for key in npz.files if npz[key].dtype.kind == "U" for v in npz[key].ravel())
    settings = pio.read_manifest(out)["settings"]
    assert [s["horizon"] for s in settings] == [1, 2] and all(np.all(np.isfinite(s["true_grad"])) for s in settings)
    before = (out / "figure.png").stat().st_mtime_ns
    assert cli.main(["plot", str(out)]) == 0
    assert (out / "figure.png").stat().st_mtime_ns >= before
    assert "figure.png" in capsys.readouterr().out

"""The sweep over named axes (pgjax.engine.grid): a grid on the Gaussian bandit gives the per-seed numbers of separate
run_sweep calls, a table with one column per axis and the full product of two axes; bad axes give one clear
ConfigError; raw.npz keeps the axis values as data; lqr-horizon through the CLI packs no setting into names."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from pgjax import cli, experiment
from pgjax import io as pio
from pgjax.engine import run_sweep
from pgjax.engine.grid import GridSweep, Setting, SettingSweep, check_axes, run_grid
from pgjax.errors import ConfigError
from pgjax.estimators import ConstantBaseline, Reinforce
from pgjax.problems import LinearGaussianBandit, exact_gradient

ESTIMATORS = {"reinforce": Reinforce(), "constant_baseline_0": ConstantBaseline(baseline=0.0)}
NS = (2, 8)
R = 48
SEED = 5
SIGMAS = (0.5, 2.0)


def bandit(sigma: float, shift: float = 0.0) -> LinearGaussianBandit:
    return LinearGaussianBandit(state_mean=(1.0 + shift, 0.5), sigma0=sigma)


def build(setting) -> Setting:
    problem = bandit(setting["sigma"], setting.get("shift", 0.0))
    return Setting(problem=problem, params=problem.init_params(), estimators=ESTIMATORS)


@pytest.fixture(scope="module")
def sigma_grid():
    return run_grid(build, {"sigma": SIGMAS}, NS, R, seed=SEED, chunk_size=16)


def test_a_fused_grid_has_the_numbers_of_the_unfused_one(sigma_grid):
    """run_grid(fuse=True) compiles each setting's estimators as one program: the same per-seed numbers, keyed by
    estimator as before, with one compilation per setting and micro-batch size instead of one per estimator."""
    fused = run_grid(build, {"sigma": SIGMAS}, NS, R, seed=SEED, chunk_size=16, fuse=True)
    for sigma in SIGMAS:
        got, want = fused.sweep(sigma=sigma), sigma_grid.sweep(sigma=sigma)
        assert list(got.estimates) == list(want.estimates) == list(ESTIMATORS)
        for name in ESTIMATORS:
            for n in NS:
                np.testing.assert_array_equal(got.estimates[name][n], want.estimates[name][n])
        assert got.execution["fused"] and not want.execution["fused"]
        assert got.execution["compiles"] * len(ESTIMATORS) == want.execution["compiles"]


def test_grid_matches_separate_sweeps(sigma_grid):
    """Each setting's per-seed estimates are those of its own run_sweep (bit for bit), and the table is the
    separate sweeps' tables stacked, with a sigma column."""
    tables = []
    for sigma in SIGMAS:
        problem = bandit(sigma)
        alone = run_sweep(problem, problem.init_params(), ESTIMATORS, NS, R, seed=SEED, chunk_size=16)
        got = sigma_grid.sweep(sigma=sigma)
        for name in ESTIMATORS:
            for n in NS:
                np.testing.assert_array_equal(got.estimates[name][n], alone.estimates[name][n])
        np.testing.assert_array_equal(got.true_grad, alone.true_grad)
        table = experiment.summarise_sweep(alone, experiment="toy", problem_name=problem.describe())
        table["sigma"] = sigma
        tables.append(table)
    want = pd.concat(tables, ignore_index=True)
    got = experiment.summarise_grid(sigma_grid, experiment="toy")
    assert list(got.columns) == [*want.columns[:-1], "sigma"]
    assert_frame_equal(got, want, check_exact=True)


def test_two_axes_give_the_full_product():
    axes = {"sigma": SIGMAS, "shift": (0.0, 1.0)}
    built = []

    def recording(setting):
        built.append(dict(setting))
        return build(setting)

    grid = run_grid(recording, axes, NS, R, seed=SEED, chunk_size=16)  # the shift-0 settings are sigma_grid's
    product = [(s, h) for s in axes["sigma"] for h in axes["shift"]]
    assert list(grid.settings) == product
    assert built == [{"sigma": s, "shift": h} for s, h in product]
    table = experiment.summarise_grid(grid, experiment="toy")
    assert list(table.columns[-2:]) == ["sigma", "shift"]
    assert len(table) == len(product) * len(ESTIMATORS) * len(NS) * 3  # 3 params: theta[0], theta[1], log_sigma
    for (sigma, shift), rows in table.groupby(["sigma", "shift"], sort=False):
        problem = bandit(sigma, shift)  # each setting carries its own exact gradient (no NaN placeholder)
        grad = exact_gradient(problem, problem.init_params())
        want = np.concatenate([np.ravel(np.asarray(g, np.float64)) for g in (grad.theta, grad.log_sigma)])
        np.testing.assert_allclose(rows["true_grad"].to_numpy()[:3], want, rtol=1e-12)
    assert table["true_grad"].notna().all()
    assert table["sigma"].dtype == np.float64 and set(table["shift"]) == {0.0, 1.0}


@pytest.mark.parametrize(
    "axes, field, words",
    [
        ({}, "axes", "at least one named axis"),
        ({"sigma": ()}, "sigma", "empty axis"),
        ({"sigma": (0.5, 1.0, 0.5)}, "sigma", "twice"),
        ({"sigma": (0.5, float("nan"))}, "sigma", "finite"),
        ({"sigma": ([0.5],)}, "sigma", "str, int, float or bool"),
        ({"sigma": "abc"}, "sigma", "list or tuple"),
        ({"estimator": ("a",)}, "estimator", "already has that column"),
        ({"": (1,)}, "axes", "non-empty string"),
    ],
)
def test_bad_axes_give_one_clear_error(axes, field, words):
    def never(setting):
        raise AssertionError("nothing is built for bad axes")

    with pytest.raises(ConfigError) as err:
        run_grid(never, axes, (1,), 2)
    assert err.value.field == field and words in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_axis_values_keep_their_type():
    assert check_axes({"k": (np.int64(1), 2), "flag": (True, False), "c": ("a", "b")}) == {
        "k": (1, 2),
        "flag": (True, False),
        "c": ("a", "b"),
    }
    assert check_axes({"x": (1, 1.5, True)}) == {"x": (1, 1.5, True)}  # 1 and True are different values


def test_shared_reference_and_raw_file(sigma_grid, tmp_path):
    """A shared setting's estimator is the ratio reference of every setting (as if it were in the setting's
    own sweep), its rows leave the axis empty, and raw.npz stores each cell with its axis value as data."""
    problem = bandit(1.0)
    alone = run_sweep(problem, problem.init_params(), {"reinforce": Reinforce()}, NS, R, seed=SEED)
    own = {s: sigma_grid.sweep(sigma=s) for s in SIGMAS}
    settings = {  # the settings without their own reinforce
        (s,): SettingSweep(sweep=_with(own[s], {"constant_baseline_0": own[s].estimates["constant_baseline_0"]}))
        for s in SIGMAS
    }
    grid = GridSweep.from_sweeps({"sigma": SIGMAS}, settings, shared=alone)
    table = experiment.summarise_grid(grid, experiment="toy")
    shared_rows = table[table["sigma"].isna()]
    assert set(shared_rows["estimator"]) == {"reinforce"} and np.all(shared_rows["var_ratio"] == 1.0)
    for sigma in SIGMAS:
        merged = _with(own[sigma], {"reinforce": alone.estimates["reinforce"], **settings[(sigma,)].sweep.estimates})
        want = experiment.summarise_sweep(merged, experiment="toy", problem_name="")
        want = want[want["estimator"] != "reinforce"].reset_index(drop=True)
        got = table[table["sigma"] == sigma].drop(columns="sigma").reset_index(drop=True)
        assert_frame_equal(got, want, check_exact=True)
        assert np.all(np.isfinite(got["var_ratio"]))

    experiment.write_raw(tmp_path, grid)
    raw = pio.read_raw_grid(tmp_path)
    assert raw.axes == ["sigma"] and list(raw.index.columns) == ["sigma", "estimator", "n"]
    assert raw.estimates.shape == (len(NS) * (1 + len(SIGMAS)), R, 3)
    np.testing.assert_array_equal(raw.cell("reinforce", 8), alone.estimates["reinforce"][8])
    for sigma in SIGMAS:
        cell = raw.cell("constant_baseline_0", 2, sigma=sigma)
        np.testing.assert_array_equal(cell, sigma_grid.sweep(sigma=sigma).estimates["constant_baseline_0"][2])
    assert raw.index["sigma"].isna().sum() == len(NS)
    with pytest.raises(pio.ResultsError, match="read_raw_grid"):
        pio.read_raw(tmp_path)


def _with(sweep, estimates):
    return dataclasses.replace(sweep, estimates=estimates)


def test_grid_needs_the_full_product(sigma_grid):
    with pytest.raises(ValueError, match="one setting per element"):
        GridSweep.from_sweeps({"sigma": (*SIGMAS, 3.0)}, {(s,): sigma_grid.sweep(sigma=s) for s in SIGMAS})


def test_a_ragged_grid_keeps_the_settings_it_lists_in_their_order(sigma_grid):
    """Where one axis's values depend on another's, a ragged grid holds just those settings."""
    sweeps = {("b", 2.0): sigma_grid.sweep(sigma=2.0), ("a", 0.5): sigma_grid.sweep(sigma=0.5)}
    sweeps[("a", 2.0)] = sigma_grid.sweep(sigma=2.0)
    grid = GridSweep.from_sweeps({"family": ("a", "b"), "sigma": SIGMAS}, sweeps, ragged=True)
    assert list(grid.settings) == [("b", 2.0), ("a", 0.5), ("a", 2.0)]
    table = experiment.summarise_grid(grid, experiment="t")
    per_setting = len(table) // 3
    assert list(table["family"][::per_setting]) == ["b", "a", "a"] and table["sigma"].dtype == np.float64
    assert_frame_equal(
        table.iloc[:per_setting].drop(columns=["family", "sigma"]),
        experiment.summarise_sweep(sigma_grid.sweep(sigma=2.0), experiment="t", problem_name=""),
    )
    index, estimates, _ = grid.stacked()
    assert list(index[["family", "sigma"]].drop_duplicates().itertuples(index=False, name=None)) == list(sweeps)
    with pytest.raises(ValueError, match="no setting takes the values \\['c'\\]"):
        GridSweep.from_sweeps({"family": ("a", "b", "c"), "sigma": SIGMAS}, sweeps, ragged=True)
    with pytest.raises(ValueError, match="not a value of \\['sigma'\\]"):
        GridSweep.from_sweeps({"family": ("a", "b"), "sigma": (0.5,)}, sweeps, ragged=True)


def test_nonfinite_cells_are_reported_with_their_setting(sigma_grid):
    bad = sigma_grid.sweep(sigma=2.0).estimates["reinforce"][8].copy()
    bad[:3, 0] = np.nan
    sweeps = {(s,): sigma_grid.sweep(sigma=s) for s in SIGMAS}
    sweeps[(2.0,)] = _with(sweeps[(2.0,)], {"reinforce": {8: bad}})
    report = cli.nonfinite_report(SimpleNamespace(sweep=GridSweep.from_sweeps({"sigma": SIGMAS}, sweeps)))
    assert report[1:] == ["  reinforce at n = 8 (sigma = 2.0): 3 of 48 seeds"]

"""An estimator from another package takes part in every experiment family its contract fits.

The test writes, in a temporary folder, a package with ONE estimator module (a score-function estimator
written only against the core Problem contract, through ``pgjax.estimators.score_function.draw`` and
``weighted_score_mean``) and a ``*.dist-info/entry_points.txt`` that registers it under the
``pgjax.estimators`` entry-point group, puts the folder on sys.path, and runs it through ``pgjax run`` on the
bandit family (bandit-variance), the LQR family (lqr-variance) and the gymnax family (cartpole-variance).
Nothing in pgjax names it: the registry finds it, each experiment accepts it because its contract fits.

The toy estimator is (1/n) sum_i (r_i - 1) psi_i: i.i.d. over samples, with the exact single-sample variance
E[r^2 psi^2] - 2 E[r psi^2] + E[psi^2] - g^2 where the problem gives exact score moments (the bandit and LQR
do), so its ``var_exact`` is finite there; an environment has no exact moments (and cartpole-variance no
exact variances at all), so there it is NaN.

A second toy estimator of the same package, ``shifted_reinforce_gaussian`` (the same formula), gives its exact
moments only through the contract's ``gaussian_moments`` (LQR's exact Gaussian representation), with no
``single_sample_variance`` of its own: on lqr-variance it gets an exact variance column too, equal to the first
toy's, which comes from the problem's score moments by another route.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from pgjax import cli
from pgjax.estimators import base

TOY = '''
"""A toy estimator in a package of its own."""

import dataclasses
from typing import ClassVar

import jax

from pgjax.estimators.base import Estimator
from pgjax.estimators.gaussian_terms import product_moments, score_return_terms
from pgjax.estimators.score_function import draw, weighted_score_mean
from pgjax.problems.base import ExactScoreMoments, exact_gradient


@dataclasses.dataclass(frozen=True)
class ShiftedReinforce(Estimator):
    """(1/n) sum_i (r_i - 1) psi_i: unbiased for any fixed shift, since E[psi] = 0."""

    name: ClassVar[str] = "shifted_reinforce"
    iid: ClassVar[bool] = True

    def __call__(self, key, params, problem, n):
        outcome, rewards = draw(key, params, problem, n)
        return weighted_score_mean(params, problem, outcome, rewards - 1.0)

    def single_sample_variance(self, problem, params):
        if not isinstance(problem, ExactScoreMoments):
            return None
        grad = exact_gradient(problem, params)
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda x: jax.numpy.asarray(x, jax.numpy.float64), params)
            mom = problem.score_moments(p64)
            return jax.tree.map(
                lambda r2, r1, p2, g: jax.device_get(r2 - 2 * r1 + p2 - g**2), mom.r2_psi2, mom.r_psi2, mom.psi2, grad
            )


@dataclasses.dataclass(frozen=True)
class ShiftedReinforceGaussian(Estimator):
    """The same estimator, whose exact moments come from the trajectory's Gaussian representation."""

    name: ClassVar[str] = "shifted_reinforce_gaussian"
    iid: ClassVar[bool] = True
    gaussian_moments_known: ClassVar[bool] = True

    def __call__(self, key, params, problem, n):
        outcome, rewards = draw(key, params, problem, n)
        return weighted_score_mean(params, problem, outcome, rewards - 1.0)

    def gaussian_moments(self, problem, params, rep):
        return product_moments(*score_return_terms(problem, params, rep, 1.0))
'''

NAME = "shifted_reinforce"
GAUSSIAN = "shifted_reinforce_gaussian"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The package ``pgjax_toy_estimators`` (module ``toy``) registered under ``pgjax.estimators`` for this
    test only: the registry is restored, and the modules are forgotten, afterwards."""
    package = tmp_path / "pgjax_toy_estimators"
    package.mkdir()
    (package / "__init__.py").write_text('"""Toy estimators."""\n')
    (package / "toy.py").write_text(textwrap.dedent(TOY))
    dist = tmp_path / "pgjax_toy_estimators-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pgjax-toy-estimators\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[pgjax.estimators]\n{NAME} = pgjax_toy_estimators.toy:ShiftedReinforce\n"
        f"{GAUSSIAN} = pgjax_toy_estimators.toy:ShiftedReinforceGaussian\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    monkeypatch.setattr(base, "BROKEN", {})
    base.reload_plugins()
    yield tmp_path
    base.reload_plugins()
    for module in ("pgjax_toy_estimators.toy", "pgjax_toy_estimators"):
        sys.modules.pop(module, None)


def _run(out, *args) -> pd.DataFrame:
    assert cli.main(["run", *args, "--no-figures", "--out", str(out)]) == 0
    return pd.read_parquet(out / "table.parquet")


def _toy_rows(table: pd.DataFrame) -> pd.DataFrame:
    assert NAME in set(table["estimator"]) and "reinforce" in set(table["estimator"])
    rows = table[table["estimator"] == NAME]
    assert len(rows) > 0 and np.isfinite(rows["mean"].to_numpy(float)).all()
    assert np.isfinite(rows["var"].to_numpy(float)).all() and (rows["var"].to_numpy(float) > 0).all()
    return rows


def test_the_plugin_is_registered_with_its_contract(plugin):
    registry = base.registry()
    assert NAME in registry and GAUSSIAN in registry and not base.BROKEN
    assert registry[NAME].__module__ == "pgjax_toy_estimators.toy"
    assert list(registry)[-2:] == [NAME, GAUSSIAN]  # after pgjax's own, whose order (the experiments' defaults)
    # is unchanged
    assert getattr(registry[NAME].__call__, "__pgjax_checked__", False)  # the contract's boundary checks apply


def test_the_plugin_runs_on_the_bandit_with_exact_variances(plugin, tmp_path):
    table = _run(
        tmp_path / "bandit",
        "bandit-variance",
        *("--estimators", "reinforce", NAME),
        *("--n-seeds", "200", "--ns", "1", "8", "--chunk-size", "200"),
    )
    rows = _toy_rows(table)
    exact = rows["var_exact"].to_numpy(float)
    assert np.isfinite(exact).all()
    # Exact variance against the measured one: within its (wide, 200-seed) interval, coordinate by coordinate.
    assert ((rows["var_lo"] <= rows["var_exact"]) & (rows["var_exact"] <= rows["var_hi"])).mean() >= 0.75


def test_the_plugin_runs_on_lqr_with_exact_variances(plugin, tmp_path):
    table = _run(
        tmp_path / "lqr",
        "lqr-variance",
        *("--estimators", "reinforce", NAME, GAUSSIAN),
        *("--horizon", "3", "--n-seeds", "64", "--ns", "1", "4", "--chunk-size", "64"),
    )
    rows = _toy_rows(table)
    assert np.isfinite(rows["var_exact"].to_numpy(float)).all()
    # The Gaussian-moment toy: same estimates (same formula, same keys) and the same exact variance, reached only
    # through its gaussian_moments.
    gaussian = table[table["estimator"] == GAUSSIAN]
    assert len(gaussian) == len(rows)
    np.testing.assert_array_equal(gaussian["mean"].to_numpy(float), rows["mean"].to_numpy(float))
    np.testing.assert_allclose(gaussian["var_exact"].to_numpy(float), rows["var_exact"].to_numpy(float), rtol=1e-9)


def test_the_plugin_runs_on_a_gymnax_environment(plugin, tmp_path):
    table = _run(
        tmp_path / "cartpole",
        "cartpole-variance",
        *("--estimators", "reinforce", NAME),
        *("--horizon", "10", "--snapshots", "0", "--n-seeds", "8", "--ns", "2", "--chunk-size", "8"),
        *("--reference-episodes", "4", "--reference-batches", "4"),
    )
    rows = _toy_rows(table)
    # An environment has no exact moments: no exact variance for anyone.
    assert "var_exact" not in rows or rows["var_exact"].isna().all()


def test_an_estimator_whose_contract_does_not_fit_is_refused_with_the_reason(plugin, capsys):
    code = cli.main(["run", "lqr-variance", "--estimators", "measure_valued", "--out", "/nonexistent/never-written"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--estimators: measure_valued needs a problem with Gaussian structure" in err
    assert len(err.strip().splitlines()) == 1

"""``pgjax run bandit-variance`` as a user runs it: the Gaussian-structure estimators (measure-valued,
delta-method control variates) on the bandit's Gaussian action, and constant_baseline's default b = the exact
J (as lqr-variance's), which suits every reward (the old default, -2, suited only the quadratic reward)."""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
import pytest

from pgjax import cli
from pgjax import io as pio
from pgjax.estimators import GAUSSIAN_ESTIMATORS, ConstantBaseline, Reinforce
from pgjax.experiments import bandit_variance, variance_vs_n

#: The README's gaussian_bump example: s ~ N((1, 0.5), 0.5^2 I), theta = (0.2, -0.3), sigma = 1, r = exp(-a^2).
EXAMPLE = ["--reward", "gaussian_bump", "--state-std", "0.5"]
ESTIMATORS = ["constant_baseline", "measure_valued", "delta_cv_score_est"]


def bump_objective() -> float:
    """J = E[exp(-a^2)] for a ~ N(M, V) in closed form, computed here without pgjax: M = theta . m,
    V = sigma^2 + sum_c theta_c^2 std^2, J = exp(-M^2 / (1 + 2V)) / sqrt(1 + 2V)."""
    mean = 0.2 * 1.0 - 0.3 * 0.5
    var = 1.0 + 0.5**2 * (0.2**2 + 0.3**2)
    return math.exp(-(mean**2) / (1 + 2 * var)) / math.sqrt(1 + 2 * var)


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bandit-cli") / "run"
    code = cli.main(
        [
            "run",
            "bandit-variance",
            *EXAMPLE,
            "--estimators",
            *ESTIMATORS,
            "--ns",
            "4",
            "--n-seeds",
            "16",
            "--no-figures",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def test_gaussian_estimators_run_on_the_bandit(example_run):
    table = pio.read_table(example_run)
    assert set(table["estimator"]) == set(ESTIMATORS)
    estimates, names, _ = pio.read_raw(example_run)
    assert names == ["theta[0]", "theta[1]", "log_sigma"]
    for name in ESTIMATORS:
        assert estimates[name][4].shape == (16, 3) and np.all(np.isfinite(estimates[name][4])), name


def test_every_gaussian_estimator_is_accepted_by_the_config():
    """No estimator of the Gaussian registry is refused ("unknown estimator") by bandit-variance."""
    config = dataclasses.replace(bandit_variance.Config(), estimators=tuple(GAUSSIAN_ESTIMATORS))
    _, _, estimators = variance_vs_n.build(config)
    assert list(estimators) == list(GAUSSIAN_ESTIMATORS)


def test_constant_baseline_defaults_to_the_exact_objective(example_run):
    manifest = pio.read_manifest(example_run)
    assert manifest["config"]["baseline"] is None
    assert manifest["constant_baseline_b"] == pytest.approx(bump_objective(), rel=1e-6)
    # On this example b = J keeps constant_baseline within 2.5x of REINFORCE's exact variance; the old
    # default b = -2 made it about 50 times worse.
    table = pio.read_table(example_run).set_index(["estimator", "param"])
    used = table.loc["constant_baseline"].loc[["theta[0]", "theta[1]", "log_sigma"], "var_exact"].to_numpy() * 4
    problem, params, _ = variance_vs_n.build(bandit_variance.Config(reward="gaussian_bump", state_std=0.5))
    single = lambda est: np.concatenate(
        [np.ravel(v) for v in jax.tree.leaves(est.single_sample_variance(problem, params))]
    )
    reinforce, old = single(Reinforce()), single(ConstantBaseline(-2.0))
    assert np.all(used / reinforce < 2.5), used / reinforce  # var_exact in the table is at n = 4
    assert np.all(old / reinforce > 40), old / reinforce


def test_an_explicit_baseline_is_used_as_given():
    config = bandit_variance.Config(baseline=-2.0, estimators=("constant_baseline",))
    assert variance_vs_n.build(config)[2]["constant_baseline"] == ConstantBaseline(baseline=-2.0)


def test_a_non_finite_baseline_is_one_line_exit_2(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["run", "bandit-variance", "--baseline", "nan", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("pgjax: error:") and "--baseline" in err[0], err
    assert not out.exists()

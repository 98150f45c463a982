"""Tests for the delta-method control variates (pgjax.estimators.control_variates).

Statistical tests use R = 4000 seeds of n = 16-sample estimates, all four estimators and three test functions in
one compiled call. Unbiasedness: reject when |mean - true| > z sd / sqrt(R) for any of the 4 coordinates,
z = unbiasedness_z(4) (Bonferroni): false-failure probability about 1e-6 per test. Variance (coefficient 1):
reject when |s^2 - exact / n| > z se(s^2), se kurtosis-robust (pgjax.analysis.stats.variance_se), same z.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.analysis.stats import unbiasedness_z, variance_ratio_ci, variance_se
from pgjax.errors import ConfigError
from pgjax.estimators import check_estimators, make_estimator
from pgjax.estimators.control_variates import (
    _loo_coefficient,
    delta_expectation,
    delta_quadratic,
    taylor_expansion,
)
from pgjax.problems import Antithetic, GaussianTestFunction, LinearGaussianBandit, SoftmaxBandit, exact_gradient
from pgjax.problems.gaussian_test_functions import quadrature_rule
from pgjax.tree_util import ravel

NAMES = ("delta_cv_score", "delta_cv_score_est", "delta_cv_pathwise", "delta_cv_pathwise_est")
PROBLEMS = {
    "quadratic": GaussianTestFunction.build("quadratic", -1.0, mu=[1.0, 0.3], sigma=[1.0, 0.7]),
    "exp": GaussianTestFunction.build("exp", 0.5, mu=[1.0, 0.3], sigma=[1.0, 0.7]),
    "cos": GaussianTestFunction.build("cos", 2.0, mu=[1.0, 0.3], sigma=[1.0, 0.7]),
}
N, R = 16, 4000
Z = unbiasedness_z(4)


@pytest.fixture(scope="module")
def estimates(seed_estimates):
    return seed_estimates(PROBLEMS, NAMES, N, R)


def truth(problem):
    return np.asarray(ravel(exact_gradient(problem, problem.init_params())), np.float64)


@pytest.mark.parametrize("function", ["exp", "cos"])
@pytest.mark.parametrize("name", NAMES)
def test_unbiased(estimates, function, name):
    x = estimates[function, name]
    half_width = Z * x.std(axis=0, ddof=1) / np.sqrt(R)
    assert np.all(np.abs(x.mean(axis=0) - truth(PROBLEMS[function])) <= half_width)


@pytest.mark.parametrize("name", NAMES)
def test_exact_for_a_quadratic(estimates, name):
    """f = (x - k)^2 equals its second-order expansion, so every estimate is the exact gradient (zero variance),
    whatever the coefficient. Tolerance: float32 rounding; with the estimated coefficient, a_i and b_i (up to
    |f psi| ~ 1e3 in the tails) are rounded separately before a_i - beta b_i, so allow 1e-3."""
    x = estimates["quadratic", name]
    tol = 1e-3 if name.endswith("_est") else 2e-5
    np.testing.assert_allclose(x, np.tile(truth(PROBLEMS["quadratic"]), (R, 1)), rtol=tol, atol=tol)


@pytest.mark.parametrize("function", ["exp", "cos"])
@pytest.mark.parametrize("name", ["delta_cv_score", "delta_cv_pathwise"])
def test_variance_matches_exact(estimates, function, name):
    problem = PROBLEMS[function]
    x = estimates[function, name]
    with jax.enable_x64(True):
        params = problem.init_params()
    single = make_estimator(name).single_sample_variance(problem, params)
    want = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(single)]) / N
    assert np.all(np.abs(x.var(axis=0, ddof=1) - want) <= Z * variance_se(x))


def test_estimated_coefficient_lowers_the_variance(estimates):
    """Where the coefficient 1 is a poor choice (cos(2x): the expansion is poor far from mu), the estimated
    coefficient has a lower variance on the same seeds, for every coordinate: the upper end of the paired
    variance ratio's interval at level 1 - 1e-6 is below 1."""
    for base in ("score", "pathwise"):
        fixed = estimates["cos", f"delta_cv_{base}"]
        learned = estimates["cos", f"delta_cv_{base}_est"]
        _, _, hi = variance_ratio_ci(learned, fixed, confidence=1 - 1e-6)
        assert np.all(hi < 1.0), (base, hi)


def test_expectation_of_the_expansion_matches_its_closed_form():
    """E[h] = f(mu0) + (mu - mu0) . grad + 1/2 sum H_dd ((mu - mu0)^2 + sigma^2), checked by quadrature, also
    with the expansion point away from the mean; its gradient at mu = mu0 is (grad f(mu0), sigma * H_dd)."""
    problem = GaussianTestFunction.build("cos", 1.3, mu=[0.2, -1.0], sigma=[0.6, 1.4])
    with jax.enable_x64(True):
        mu0 = jnp.array([0.5, -0.7])
        value, grad, hess = taylor_expansion(problem.f, mu0)
        np.testing.assert_allclose(grad, -1.3 * np.sin(1.3 * np.asarray(mu0)), rtol=1e-12)
        np.testing.assert_allclose(hess, -(1.3**2) * np.cos(1.3 * np.asarray(mu0)), rtol=1e-12)
        h = delta_quadratic(value, grad, hess, mu0)
        nodes, weights = quadrature_rule("normal", 48)
        for mu, sigma in [(jnp.array([0.2, -1.0]), jnp.array([0.6, 1.4])), (mu0, jnp.array([1.0, 0.3]))]:
            z1, z2 = np.meshgrid(nodes, nodes, indexing="ij")
            x = jnp.stack([mu[0] + sigma[0] * z1, mu[1] + sigma[1] * z2], axis=-1)
            by_quadrature = float(jnp.sum(jnp.outer(weights, weights) * h(x)))
            assert float(delta_expectation(value, grad, hess, mu0, mu, sigma)) == pytest.approx(
                by_quadrature, rel=1e-12
            )
        d_mu, d_sigma = jax.grad(lambda m, s: delta_expectation(value, grad, hess, mu0, m, s), (0, 1))(mu0, sigma)
        np.testing.assert_allclose(d_mu, grad, rtol=1e-12)
        np.testing.assert_allclose(d_sigma, sigma * hess, rtol=1e-12)


def test_leave_one_out_coefficient():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    got = np.asarray(_loo_coefficient(jnp.asarray(a), jnp.asarray(b)))
    regression = lambda x, y: np.cov(x, y)[0, 1] / np.var(y, ddof=1)
    for i in range(7):
        keep = np.arange(7) != i
        for c in range(3):
            assert got[i, c] == pytest.approx(regression(a[keep, c], b[keep, c]), rel=1e-4)
    groups = np.arange(8) % 4  # antithetic pairs (i, i + 4)
    a, b = rng.normal(size=(8, 2)), rng.normal(size=(8, 2))
    got = np.asarray(_loo_coefficient(jnp.asarray(a), jnp.asarray(b), groups))
    for i in range(8):
        keep = groups != groups[i]
        for c in range(2):
            assert got[i, c] == pytest.approx(regression(a[keep, c], b[keep, c]), rel=1e-4)
    shifted = np.asarray(_loo_coefficient(jnp.asarray(b + 3.0), jnp.asarray(b)))
    np.testing.assert_allclose(shifted, 1.0, rtol=1e-5)  # a = b + constant: beta = 1 exactly


@pytest.mark.parametrize("base", ["score", "pathwise"])
def test_estimated_coefficient_falls_back_to_one_below_five_samples(base):
    problem = PROBLEMS["cos"]
    params = problem.init_params()
    key = jax.random.key(3)
    fixed, learned = make_estimator(f"delta_cv_{base}"), make_estimator(f"delta_cv_{base}_est")
    run = jax.jit(
        lambda k: (
            fixed(k, params, problem, 4),
            learned(k, params, problem, 4),
            fixed(k, params, Antithetic(problem), 8),
            learned(k, params, Antithetic(problem), 8),
            fixed(k, params, problem, 5),
            learned(k, params, problem, 5),
        )
    )
    a, b, c, d, e, f = run(key)
    np.testing.assert_array_equal(ravel(a), ravel(b))  # 4 samples
    np.testing.assert_array_equal(ravel(c), ravel(d))  # 4 antithetic pairs
    assert not np.array_equal(ravel(e), ravel(f))  # 5 samples: estimated


def test_cost_accounting_and_refusal_on_problems_without_gaussian_structure():
    assert make_estimator("delta_cv_score").function_evaluations(dim=2, n=4) == 1 + 4 / 4
    softmax = SoftmaxBandit()  # discrete actions: no Gaussian to expand around
    for name in NAMES:
        with pytest.raises(ConfigError) as info:
            check_estimators([make_estimator(name)], softmax)
        assert info.value.field == "estimators"
        assert "test-function-variance" in str(info.value) and "bandit-variance" in str(info.value)
        assert make_estimator(name).single_sample_variance(softmax, softmax.init_params()) is None
    bandit = LinearGaussianBandit.build(state=[1.0, 0.5], theta=[0.2, -0.3], sigma=1.0)
    check_estimators([make_estimator(name) for name in NAMES], bandit)  # Gaussian, but no exact variance
    for name in NAMES:
        assert make_estimator(name).single_sample_variance(bandit, bandit.init_params()) is None
    assert (
        make_estimator("delta_cv_score_est").single_sample_variance(PROBLEMS["cos"], PROBLEMS["cos"].init_params())
        is None
    )

"""Tests for the measure-valued gradient estimators (pgjax.estimators.measure_valued).

Statistical tests use R = 4000 seeds of n = 16-sample estimates, all estimators and test functions in one
compiled call (common random numbers). Unbiasedness: reject when |mean - true| > z sd / sqrt(R) for any of the
4 coordinates, z = unbiasedness_z(4) (Bonferroni), so each test fails by chance with probability about 1e-6.
Variance: reject when |s^2 - exact / n| > z se(s^2), se the kurtosis-robust standard error of a sample
variance (pgjax.analysis.stats.variance_se), same z and rate (asymptotically).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.analysis.stats import unbiasedness_z, variance_ratio_ci, variance_se
from pgjax.errors import ConfigError
from pgjax.estimators import check_estimators, make_estimator
from pgjax.estimators.measure_valued import MeasureValued, MeasureValuedCoupled, auxiliary_draws
from pgjax.experiments import mohamed2020
from pgjax.problems import GaussianTestFunction, LinearGaussianBandit, SoftmaxBandit, exact_gradient
from pgjax.tree_util import ravel

NAMES = ("measure_valued", "measure_valued_coupled")
PROBLEMS = {
    "quadratic": GaussianTestFunction.build("quadratic", -1.0, mu=[1.0, 0.3], sigma=[1.0, 0.7]),
    "exp": GaussianTestFunction.build("exp", 2.0, mu=[1.0, 0.3], sigma=[1.0, 0.7]),
    "cos": GaussianTestFunction.build("cos", 1.5, mu=[1.0, 0.3], sigma=[1.0, 0.7]),
}
N, R = 16, 4000
Z = unbiasedness_z(4)


@pytest.fixture(scope="module")
def estimates(seed_estimates):
    return seed_estimates(PROBLEMS, NAMES, N, R)


@pytest.mark.parametrize("function", list(PROBLEMS))
@pytest.mark.parametrize("name", NAMES)
def test_unbiased(estimates, function, name):
    problem = PROBLEMS[function]
    x = estimates[function, name]
    truth = np.asarray(ravel(exact_gradient(problem, problem.init_params())), np.float64)
    half_width = Z * x.std(axis=0, ddof=1) / np.sqrt(R)
    assert np.all(np.abs(x.mean(axis=0) - truth) <= half_width), (x.mean(axis=0), truth, half_width)


@pytest.mark.parametrize("function", list(PROBLEMS))
@pytest.mark.parametrize("name", NAMES)
def test_variance_matches_exact(estimates, function, name):
    problem = PROBLEMS[function]
    x = estimates[function, name]
    with jax.enable_x64(True):
        params = problem.init_params()
    single = make_estimator(name).single_sample_variance(problem, params)
    want = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(single)]) / N
    got = x.var(axis=0, ddof=1)
    assert np.all(np.abs(got - want) <= Z * variance_se(x)), (got, want)


def test_coupling_lowers_the_sigma_variance_on_the_papers_grids():
    """Coupling the positive and negative parts (Mohamed et al. 2020, Section 7.2) pays when they are
    positively correlated. At the paper's settings (mu = sigma = 1, its k ranges) it lowers the exact
    variance of the sigma-gradient for all three functions at every k; for mu only where f is close to even
    about mu (see the next test)."""
    estimators = {n: make_estimator(n) for n in NAMES}
    config = mohamed2020.Config()
    for function in ("quadratic", "exp", "cos"):
        problem = mohamed2020.base_problem(config, function)
        _, var = mohamed2020.exact_over_k(problem, estimators, mohamed2020.k_grid(function, 25))
        assert np.all(var["measure_valued_coupled"][:, 1] <= var["measure_valued"][:, 1] * (1 + 1e-12)), function


def test_coupling_for_the_mean_helps_only_near_k_equal_mu():
    """For f = (x - k)^2: Var_coupled = 16 d^2 Var(w) / (2 pi), Var_uncoupled = (8 d^2 Var(w) + 8 sigma^2) / (2 pi)
    with d = mu - k, Var(w) = 2 - pi / 2: coupling helps iff |k - mu| < sigma / sqrt(2 - pi / 2)."""
    boundary = 1.0 / np.sqrt(2 - np.pi / 2)
    for k, helps in [(1.0, True), (1.0 + 0.9 * boundary, True), (1.0 + 1.1 * boundary, False), (-3.0, False)]:
        problem = GaussianTestFunction.build("quadratic", k, mu=1.0, sigma=1.0)
        with jax.enable_x64(True):
            params = problem.init_params()
        coupled = MeasureValuedCoupled().single_sample_variance(problem, params).mu[0]
        uncoupled = MeasureValued().single_sample_variance(problem, params).mu[0]
        assert (coupled < uncoupled) == helps, (k, coupled, uncoupled)


def test_coupling_lowers_the_measured_sigma_variance(estimates):
    """On the same seeds (paired), the coupled estimator's measured sigma-variance is below the uncoupled one's:
    the upper end of the paired ratio's interval at level 1 - 1e-6 is < 1, for every function."""
    for function in PROBLEMS:
        a = estimates[function, "measure_valued_coupled"][:, 2:]
        b = estimates[function, "measure_valued"][:, 2:]
        _, _, hi = variance_ratio_ci(a, b, confidence=1 - 1e-6)
        assert np.all(hi < 1.0), (function, hi)


def test_auxiliary_draws_have_the_right_laws():
    """w ~ Rayleigh(1): E w^2 = 2; m ~ double-sided Maxwell: E m^2 = 3, E m^4 = 15, symmetric; m u ~ N(0, 1);
    w' = w when coupled. Tolerances: 6 standard errors of each mean (200 000 draws)."""
    w, w2, m, u = jax.jit(lambda k: auxiliary_draws(k, (200_000,), jnp.float32, coupled=False))(jax.random.key(1))
    w, w2, m, u = (np.asarray(v, np.float64) for v in (w, w2, m, u))
    se = lambda v: 6 * v.std() / np.sqrt(v.size)
    for value, target in [
        (w**2, 2.0),
        (w2**2, 2.0),
        (m**2, 3.0),
        (m**4, 15.0),
        (m, 0.0),
        ((m * u) ** 2, 1.0),
        ((m * u) ** 4, 3.0),
        (u, 0.5),
        (w * w2, np.pi / 2),
    ]:
        assert abs(value.mean() - target) <= se(value), (target, value.mean())
    same = auxiliary_draws(jax.random.key(1), (10,), jnp.float32, coupled=True)
    np.testing.assert_array_equal(same[0], same[1])


def test_log_sigma_estimates_follow_the_chain_rule():
    """With the same key, the log sigma estimate is sigma times the sigma estimate (d/dlog sigma = sigma d/dsigma)."""
    plain = GaussianTestFunction.build("cos", 1.2, mu=[0.4, 1.0], sigma=[0.5, 2.0])
    logs = dataclasses.replace(plain, scale="log_sigma")
    key = jax.random.key(7)
    for cls in (MeasureValued, MeasureValuedCoupled):
        a, b = jax.jit(lambda k: (cls()(k, plain.init_params(), plain, 32), cls()(k, logs.init_params(), logs, 32)))(
            key
        )
        np.testing.assert_allclose(b.mu, a.mu, rtol=1e-5)
        np.testing.assert_allclose(b.log_sigma, a.sigma * np.array([0.5, 2.0]), rtol=1e-4, atol=1e-6)


class _Counting(GaussianTestFunction):
    """Records, at trace time, how many points f is evaluated at."""

    def f(self, x):
        _CALLS.append(int(np.prod(x.shape[:-1])))
        return super().f(x)


_CALLS: list[int] = []


@pytest.mark.parametrize("cls", [MeasureValued, MeasureValuedCoupled])
def test_function_evaluations_per_sample(cls):
    """Counted, not assumed: 4 D evaluations of f per sample with coupling, 3 D + 1 without (D = 3)."""
    problem = _Counting(function="cos", k=1.0, mu0=(0.0, 1.0, 2.0), sigma0=(1.0, 1.0, 1.0))
    _CALLS.clear()
    jax.eval_shape(lambda key: cls()(key, problem.init_params(), problem, 5), jax.random.key(0))
    assert sum(_CALLS) / 5 == cls.function_evaluations(3) == (12 if cls.coupled else 10)


def test_problems_without_gaussian_structure_are_refused():
    """A discrete-action problem has no Gaussian to differentiate: refused, with where the estimator works."""
    softmax = SoftmaxBandit()
    for name in NAMES:
        estimator = make_estimator(name)
        with pytest.raises(ConfigError) as info:
            check_estimators({name: estimator}, softmax)
        assert info.value.field == "estimators" and name in str(info.value)
        assert "test-function-variance" in str(info.value) and "bandit-variance" in str(info.value)
        with pytest.raises(ConfigError):
            estimator(jax.random.key(0), softmax.init_params(), softmax, 4)
        assert estimator.single_sample_variance(softmax, softmax.init_params()) is None


def test_no_exact_variance_on_the_bandit():
    """The bandit has Gaussian structure but no per-coordinate test function: no exact variance, no guess."""
    bandit = LinearGaussianBandit.build(state=[1.0, 0.5], theta=[0.2, -0.3], sigma=1.0)
    check_estimators({name: make_estimator(name) for name in NAMES}, bandit)
    for name in NAMES:
        assert make_estimator(name).single_sample_variance(bandit, bandit.init_params()) is None

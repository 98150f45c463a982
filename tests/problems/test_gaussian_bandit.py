"""The Gaussian-structure estimators (measure-valued, delta-method control variates) on the linear-Gaussian
bandit, whose action a = theta . s + sigma eps is Gaussian: marginally a ~ N(M, V), M = theta . m,
V = sigma^2 + sum_c theta_c^2 v_c (pgjax.problems.bandit, "Gaussian structure").

Statistical tests use R = 4000 seeds of n = 8-sample estimates, all problems and estimators in one compiled
call (common random numbers). Unbiasedness: reject when |mean - true| > z sd / sqrt(R) for any of the 3
coordinates, z = unbiasedness_z(3) (Bonferroni), so each test fails by chance with probability about 1e-6.
Power: the same test rejects the estimates of a bandit whose Gaussian has the wrong scale (sigma instead of
sqrt V with a random state), the mistake the marginal law is there to avoid.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.analysis.stats import unbiasedness_z
from pgjax.estimators import GAUSSIAN_ESTIMATORS
from pgjax.problems import LinearGaussianBandit, exact_gradient
from pgjax.problems.gaussian_test_functions import gaussian_variable
from pgjax.tree_util import ravel

NAMES = tuple(GAUSSIAN_ESTIMATORS)
SETTING = dict(state=[1.0, 0.5], theta=[0.2, -0.3], sigma=0.8)


@dataclasses.dataclass(frozen=True)
class _WrongScale(LinearGaussianBandit):
    """A deliberately wrong Gaussian view: sigma as the action's std, ignoring the state's spread."""

    def gaussian(self, params):
        mean, _ = self.action_moments(params)
        return mean[None], jnp.exp(params.log_sigma)[None]


PROBLEMS = {
    "bump-fixed": LinearGaussianBandit.build(**SETTING, reward="gaussian_bump"),
    "bump-random": LinearGaussianBandit.build(**SETTING, state_std=0.6, reward="gaussian_bump"),
    "quadratic-random": LinearGaussianBandit.build(**SETTING, state_std=0.6, reward="quadratic"),
}
WRONG = {
    "wrong-scale": _WrongScale(
        **{f.name: getattr(PROBLEMS["bump-random"], f.name) for f in dataclasses.fields(LinearGaussianBandit)}
    )
}
N, R = 8, 4000
Z = unbiasedness_z(3)


@pytest.fixture(scope="module")
def estimates(seed_estimates):
    return seed_estimates({**PROBLEMS, **WRONG}, NAMES, N, R)


def truth(problem):
    """The exact gradient, flattened on the host so that it keeps its float64 digits."""
    grad = exact_gradient(problem, problem.init_params())
    return np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in jax.tree.leaves(grad)])


def test_the_gaussian_view_is_the_actions_law():
    """Fixed state: (theta . s, sigma) exactly; random state: (M, sqrt V) of the marginal law; the Gaussian
    variable is the action; and f is the reward."""
    fixed, random = PROBLEMS["bump-fixed"], PROBLEMS["bump-random"]
    mu, std = fixed.gaussian(fixed.init_params())
    np.testing.assert_allclose(mu, [0.2 * 1.0 - 0.3 * 0.5], rtol=1e-6)
    np.testing.assert_array_equal(std, np.float32([0.8]))
    params = random.init_params()
    mu, std = random.gaussian(params)
    np.testing.assert_allclose(std, [np.sqrt(0.8**2 + 0.6**2 * (0.2**2 + 0.3**2))], rtol=1e-6)
    outcome = random.sample(params, random.sample_noise(jax.random.key(0), 5))
    x = gaussian_variable(random, outcome)
    assert x.shape == (5, 1)
    np.testing.assert_array_equal(x[:, 0], outcome.action)
    np.testing.assert_array_equal(random.f(x), random.reward(outcome))


@pytest.mark.parametrize("problem", ["bump-fixed", "bump-random"])
@pytest.mark.parametrize("name", NAMES)
def test_unbiased(estimates, problem, name):
    x = estimates[problem, name]
    half_width = Z * x.std(axis=0, ddof=1) / np.sqrt(R)
    assert np.all(np.abs(x.mean(axis=0) - truth(PROBLEMS[problem])) <= half_width), (x.mean(0), half_width)


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("delta_cv")])
def test_delta_method_is_exact_for_the_quadratic_reward(estimates, name):
    """r(a) = -(a - 1)^2 equals its own second-order expansion, so with a random state too every estimate is
    the exact gradient (f - h = 0). With beta = 1: the engine's float32 estimates, to float32 rounding. With
    the estimated coefficient, float32 leave-one-out sums (total minus own) cancel when one sample dominates
    the batch, which moves some seeds' estimates by up to a few percent; so those are checked in float64."""
    want = truth(PROBLEMS["quadratic-random"])
    if not name.endswith("_est"):
        np.testing.assert_allclose(estimates["quadratic-random", name], np.tile(want, (R, 1)), rtol=2e-5, atol=2e-5)
        return
    problem, estimator = PROBLEMS["quadratic-random"], GAUSSIAN_ESTIMATORS[name]()
    params = problem.init_params()
    with jax.enable_x64(True):
        params = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), params)  # the float32 params, widened
        got = jax.jit(jax.vmap(lambda key: ravel(estimator(key, params, problem, N))))(
            jax.random.split(jax.random.key(0), 64)
        )
    np.testing.assert_allclose(np.asarray(got), np.tile(want, (64, 1)), rtol=1e-9, atol=1e-9)


def test_power_a_wrong_gaussian_scale_is_rejected(estimates):
    """With sigma in place of sqrt V, the measure-valued estimates target the wrong gradient; the test above
    rejects them (the true gradient is the same problem's)."""
    x = estimates["wrong-scale", "measure_valued_coupled"]
    half_width = Z * x.std(axis=0, ddof=1) / np.sqrt(R)
    assert np.any(np.abs(x.mean(axis=0) - truth(PROBLEMS["bump-random"])) > half_width)

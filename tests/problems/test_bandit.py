"""Tests for the linear-Gaussian bandit's exact values: J, grad J, quadrature and the exact score moments.

Exact checks (float64) have tolerances set by floating point; statistical checks compare with a Monte Carlo
mean m of N draws and reject when |m - exact| > z * sd / sqrt(N), with z from
:func:`pgjax.analysis.stats.unbiasedness_z` Bonferroni-corrected over every check in the family, so that a correct
implementation fails a family by chance with probability about 1e-6. Keys and seeds are fixed, so every run
is reproducible. Each statistical family also shows its power: it rejects a deliberately wrong answer.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from pgjax.analysis.stats import unbiasedness_z
from pgjax.problems import (
    BanditParams,
    GaussianBump,
    LinearGaussianBandit,
    Reward,
    exact_gradient,
)
from pgjax.problems.quadrature import gauss_hermite, gaussian_expectation
from pgjax.tree_util import ravel

STATE = (1.0, 0.5)
THETA = (0.6, -0.4)
SIGMA = 0.8
STATE_STD = (0.6, 0.3)
REWARD_NAMES = ("quadratic", "linear", "gaussian_bump")

PROBLEMS = {
    f"{reward}-{kind}": LinearGaussianBandit.build(
        state=STATE, theta=THETA, sigma=SIGMA, state_std=std, reward=reward, reward_target=1.0
    )
    for kind, std in (("fixed", 0.0), ("random", STATE_STD))
    for reward in REWARD_NAMES
}


def _params64(problem):
    """The problem's default params in float64 (call inside ``jax.enable_x64(True)``)."""
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), problem.init_params())


def _numpy_reward(name, a):
    """r(a) and r'(a) written independently of pgjax, in numpy float64."""
    if name == "quadratic":
        return -((a - 1.0) ** 2), -2.0 * (a - 1.0)
    if name == "linear":
        return a, np.ones_like(a)
    if name == "gaussian_bump":
        r = np.exp(-(a**2))
        return r, -2.0 * a * r
    raise ValueError(name)


@dataclasses.dataclass(frozen=True)
class BumpByQuadrature(GaussianBump):
    """exp(-a^2) without its closed form: E[r] falls back to the base class's Gauss-Hermite quadrature."""

    closed_form = False

    def gaussian_expectation(self, mean, var, num_nodes: int = 64):
        return Reward.gaussian_expectation(self, mean, var, num_nodes)


# ------------------------------------------------------------------------------------------------------
# 1. J exact: against Monte Carlo, and grad J against finite differences
# ------------------------------------------------------------------------------------------------------

MC_DRAWS = 1 << 20
# Family: the 6 problems, one check each (plus the power checks, which must reject). False-failure rate of
# the family ~1e-6 (normal approximation to the mean of 2^20 draws with finite variance).
Z_J = unbiasedness_z(len(PROBLEMS), 1e-6)


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_objective_matches_monte_carlo(name):
    problem = PROBLEMS[name]
    index = list(PROBLEMS).index(name)
    params = problem.init_params()
    noise = problem.sample_noise(jax.random.key(100 + index), MC_DRAWS)
    rewards = np.asarray(problem.reward(problem.sample(params, noise)), dtype=np.float64)
    assert rewards.shape == (MC_DRAWS,)
    mean, se = rewards.mean(), rewards.std(ddof=1) / np.sqrt(MC_DRAWS)
    with jax.enable_x64(True):
        p64 = _params64(problem)
        exact = float(problem.objective(p64))
        # Power: a J that is off by moving the params 0.05 along sign(grad J) (what a wrong closed form or a
        # wrong marginal action variance would look like) is rejected by the same test.
        grad = exact_gradient(problem, p64)
        moved = jax.tree.map(lambda p, g: p + 0.05 * jnp.sign(g), p64, grad)
        wrong = float(problem.objective(moved))
    assert abs(mean - exact) <= Z_J * se, (name, mean, exact, se)
    assert abs(mean - wrong) > Z_J * se, (name, mean, wrong, se)


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_gradient_matches_central_finite_differences(name):
    problem = PROBLEMS[name]
    with jax.enable_x64(True):
        flat, unravel = ravel_pytree(_params64(problem))
        objective = lambda x: problem.objective(unravel(x))
        auto = np.asarray(jax.grad(objective)(flat))
        h = 1e-5
        eye = np.eye(flat.size)
        fd = np.array([(float(objective(flat + h * e)) - float(objective(flat - h * e))) / (2 * h) for e in eye])
        via_helper = np.asarray(ravel(exact_gradient(problem, problem.init_params())))
    # Central differences: truncation ~h^2 J'''/6 ~ 1e-10, rounding ~1e-16 / h ~ 1e-11.
    np.testing.assert_allclose(auto, fd, rtol=1e-6, atol=1e-9)
    assert via_helper.dtype == np.float64
    np.testing.assert_allclose(via_helper, auto, rtol=1e-6, atol=1e-9)  # params given in float32 there


def test_exact_gradient_closed_form_for_quadratic_fixed_state():
    """J = -((theta . s - c)^2 + sigma^2): grad_theta = -2 (theta . s - c) s, grad_log_sigma = -2 sigma^2."""
    problem = PROBLEMS["quadratic-fixed"]
    g = exact_gradient(problem, problem.init_params())
    delta = np.dot(STATE, THETA) - 1.0
    np.testing.assert_allclose(g.theta, -2 * delta * np.asarray(STATE), rtol=1e-6)
    np.testing.assert_allclose(g.log_sigma, -2 * SIGMA**2, rtol=1e-6)


# ------------------------------------------------------------------------------------------------------
# 2. Quadrature
# ------------------------------------------------------------------------------------------------------

MEANS = (-3.0, -1.5, 0.0, 0.4, 2.0, 3.0)
VARIANCES = (0.05, 0.3, 1.0, 2.0)


def test_gauss_hermite_is_exact_for_polynomials():
    """K nodes integrate z^k exactly for k <= 2K - 1: E[z^(2j)] = (2j - 1)!!, odd moments 0."""
    for k in (8, 16, 64):
        nodes, weights = gauss_hermite(k)
        assert nodes.shape == weights.shape == (k,)
        for power in range(0, min(2 * k, 24)):
            expected = 0.0 if power % 2 else float(np.prod(np.arange(power - 1, 0, -2)))
            terms = weights * nodes**power
            # Odd powers cancel between +x and -x nodes: the rounding is relative to sum |terms|.
            assert abs(np.sum(terms) - expected) <= 1e-13 * np.sum(np.abs(terms)), (k, power)


def test_quadrature_matches_closed_form_value_and_gradient():
    """At 64 nodes, quadrature E[exp(-a^2)] and its gradient in (mean, var) match the closed form to 1e-10."""
    quad, closed = BumpByQuadrature(), GaussianBump()
    assert not quad.closed_form and closed.closed_form
    with jax.enable_x64(True):
        f_quad = lambda m, v: quad.gaussian_expectation(m, v, 64)
        g_quad = jax.jit(jax.grad(f_quad, argnums=(0, 1)))
        g_closed = jax.jit(jax.grad(closed.gaussian_expectation, argnums=(0, 1)))
        for m in MEANS:
            for v in VARIANCES:
                m64, v64 = jnp.float64(m), jnp.float64(v)
                assert abs(float(f_quad(m64, v64)) - float(closed.gaussian_expectation(m64, v64))) < 1e-10, (m, v)
                dq, dc = g_quad(m64, v64), g_closed(m64, v64)
                np.testing.assert_allclose(np.asarray(dq), np.asarray(dc), rtol=0, atol=1e-10, err_msg=f"{m},{v}")


def test_quadrature_error_decreases_with_nodes():
    """Error of the K-node rule falls with K until it reaches rounding; wider Gaussians need more nodes."""
    quad, closed = BumpByQuadrature(), GaussianBump()
    nodes = (8, 16, 32, 64, 128)
    with jax.enable_x64(True):
        for m in MEANS:
            for v in VARIANCES + (4.0,):
                m64, v64 = jnp.float64(m), jnp.float64(v)
                exact = float(closed.gaussian_expectation(m64, v64))
                errors = [abs(float(quad.gaussian_expectation(m64, v64, k)) - exact) for k in nodes]
                for coarse, fine in zip(errors, errors[1:]):
                    assert fine < coarse or coarse < 1e-14, (m, v, errors)
                assert errors[-1] < 1e-12, (m, v, errors)
                assert errors[0] > 1e-8 or v <= 0.3, (m, v, errors)  # the coarse rule is visibly inexact


@pytest.mark.parametrize(
    "state,theta,sigma,state_std",
    [
        (STATE, THETA, SIGMA, (0.0, 0.0)),
        (STATE, THETA, SIGMA, STATE_STD),
        ((-0.7, 2.0, 0.3), (0.1, 0.5, -1.2), 0.5, (0.2, 0.1, 0.4)),
    ],
)
def test_bandit_objective_by_quadrature_matches_closed_form(state, theta, sigma, state_std):
    """A reward without a closed form gets J and grad J from 64-node quadrature, equal to the closed form."""
    kwargs = dict(state_mean=state, state_std=state_std, theta0=theta, sigma0=sigma)
    by_quadrature = LinearGaussianBandit(reward_function=BumpByQuadrature(), **kwargs)
    closed = LinearGaussianBandit(reward_function=GaussianBump(), **kwargs)
    with jax.enable_x64(True):
        p64 = _params64(closed)
        _, var = closed.action_moments(p64)
        assert float(var) <= 2.0  # inside the range where 64 nodes are accurate to 1e-10
        assert abs(float(by_quadrature.objective(p64)) - float(closed.objective(p64))) < 1e-10
        gq = ravel(jax.grad(by_quadrature.objective)(p64))
        gc = ravel(jax.grad(closed.objective)(p64))
        np.testing.assert_allclose(np.asarray(gq), np.asarray(gc), rtol=0, atol=1e-10)
        # ... and fewer nodes give a visibly worse answer (the node count is really used).
        coarse = dataclasses.replace(by_quadrature, quadrature_nodes=8)
        assert abs(float(coarse.objective(p64)) - float(closed.objective(p64))) > 1e-9


def test_gaussian_expectation_helper_on_numpy_function():
    """The module-level helper integrates a numpy/jnp polynomial exactly: E[a^4] = m^4 + 6 m^2 v + 3 v^2."""
    with jax.enable_x64(True):
        m, v = 0.7, 1.3
        value = float(gaussian_expectation(lambda a: a**4, m, v, 8))
    assert abs(value - (m**4 + 6 * m**2 * v + 3 * v**2)) < 1e-12


# ------------------------------------------------------------------------------------------------------
# 2b. Exact score moments
# ------------------------------------------------------------------------------------------------------


def _moments_vector(moments) -> dict[str, np.ndarray]:
    return {k: np.asarray(ravel(v), dtype=np.float64) for k, v in moments._asdict().items() if v is not None}


@pytest.mark.parametrize("reward", ["quadratic", "linear"])
@pytest.mark.parametrize(
    "state,theta,sigma,target",
    [(STATE, THETA, SIGMA, 1.0), ((-0.7, 2.0, 0.3), (0.1, 0.5, -1.2), 1.7, -0.5)],
)
def test_score_moments_fixed_state_match_polynomial_closed_forms(closed_forms, reward, state, theta, sigma, target):
    """score_moments (quadrature) equals exact polynomial algebra (see ``conftest.fixed_state_closed_forms``)."""
    problem = LinearGaussianBandit.build(state=state, theta=theta, sigma=sigma, reward=reward, reward_target=target)
    expected = closed_forms(state, theta, sigma, reward, target)
    with jax.enable_x64(True):
        got = _moments_vector(problem.score_moments(_params64(problem)))
    for key in ("psi2", "r_psi2", "r2_psi2", "dr2"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-10, atol=1e-12, err_msg=key)
    grad = np.asarray(ravel(exact_gradient(problem, problem.init_params())))
    np.testing.assert_allclose(grad, expected["grad"], rtol=1e-6, atol=1e-9)  # init_params is float32


MOMENT_DRAWS = 1 << 20
MOMENT_KEYS = ("psi2", "r_psi2", "r2_psi2", "dr2")
# Family: 3 rewards x 4 moments x 3 coordinates = 36 checks; false-failure rate ~1e-6 for all of them
# together (normal approximation to means of 2^20 draws with finite variance).
Z_MOMENTS = unbiasedness_z(len(REWARD_NAMES) * len(MOMENT_KEYS) * 3, 1e-6)


def _monte_carlo_score_moments(reward: str, seed: int):
    """Per-draw values of the four moment integrands, written independently of pgjax (numpy float64).

    Returns dict key -> (sum, sum of squares) over MOMENT_DRAWS draws, each of shape (d + 1,).
    """
    rng = np.random.default_rng(seed)
    theta, sigma = np.asarray(THETA), SIGMA
    mean, std = np.asarray(STATE), np.asarray(STATE_STD)
    sums = {k: [np.zeros(3), np.zeros(3)] for k in MOMENT_KEYS}
    chunk = 1 << 20
    for _ in range(MOMENT_DRAWS // chunk):
        s = mean + std * rng.standard_normal((chunk, 2))
        eps = rng.standard_normal(chunk)
        a = s @ theta + sigma * eps
        r, dr = _numpy_reward(reward, a)
        psi = np.column_stack([eps[:, None] * s / sigma, eps**2 - 1.0])
        path = np.column_stack([dr[:, None] * s, dr * sigma * eps])
        values = {
            "psi2": psi**2,
            "r_psi2": r[:, None] * psi**2,
            "r2_psi2": (r**2)[:, None] * psi**2,
            "dr2": path**2,
        }
        for k, x in values.items():
            sums[k][0] += x.sum(axis=0)
            sums[k][1] += (x * x).sum(axis=0)
    return sums


@pytest.mark.parametrize("reward", REWARD_NAMES)
def test_score_moments_random_state_match_monte_carlo(reward):
    problem = PROBLEMS[f"{reward}-random"]
    with jax.enable_x64(True):
        got = _moments_vector(problem.score_moments(_params64(problem)))
        # Power: the moments of the same policy with the state noise ignored (a plausible bug) must be rejected.
        fixed = dataclasses.replace(problem, state_std=(0.0, 0.0))
        wrong = _moments_vector(fixed.score_moments(_params64(fixed)))
    sums = _monte_carlo_score_moments(reward, seed=7 + REWARD_NAMES.index(reward))
    rejected_wrong = 0
    for key in MOMENT_KEYS:
        total, total_sq = sums[key]
        mean = total / MOMENT_DRAWS
        se = np.sqrt((total_sq / MOMENT_DRAWS - mean**2) / (MOMENT_DRAWS - 1))
        bad = np.abs(mean - got[key]) > Z_MOMENTS * se
        assert not bad.any(), (key, mean, got[key], se)
        rejected_wrong += int((np.abs(mean - wrong[key]) > Z_MOMENTS * se).sum())
    assert rejected_wrong >= 6, rejected_wrong


def test_action_moments_and_log_prob():
    """Marginal action moments M = theta . m, V = sigma^2 + sum theta^2 v; log_prob is the normal log-density."""
    problem = PROBLEMS["quadratic-random"]
    with jax.enable_x64(True):
        mean, var = problem.action_moments(_params64(problem))
    np.testing.assert_allclose(float(mean), np.dot(STATE, THETA), rtol=1e-12)
    np.testing.assert_allclose(float(var), SIGMA**2 + np.sum(np.square(THETA) * np.square(STATE_STD)), rtol=1e-12)
    params = problem.init_params()
    outcome = problem.sample(params, problem.sample_noise(jax.random.key(3), MC_DRAWS))  # same shapes as above
    assert outcome.state.shape == (MC_DRAWS, 2) and outcome.action.shape == (MC_DRAWS,)
    lp = np.asarray(problem.log_prob(params, outcome), dtype=np.float64)
    loc = np.asarray(outcome.state, dtype=np.float64) @ np.asarray(params.theta, dtype=np.float64)
    log_sigma = np.float64(params.log_sigma)
    z = (np.asarray(outcome.action, np.float64) - loc) / np.exp(log_sigma)
    np.testing.assert_allclose(lp, -0.5 * z**2 - log_sigma - 0.5 * np.log(2 * np.pi), rtol=1e-5, atol=1e-5)
    fixed = PROBLEMS["quadratic-fixed"]
    out = fixed.sample(fixed.init_params(), fixed.sample_noise(jax.random.key(4), MC_DRAWS))
    assert out.state.shape == (2,) and out.action.shape == (MC_DRAWS,)


def test_params_pytree():
    params = PROBLEMS["linear-fixed"].init_params()
    assert isinstance(params, BanditParams)
    assert params.theta.shape == (2,) and params.log_sigma.shape == ()
    np.testing.assert_allclose(float(params.log_sigma), np.log(SIGMA), rtol=1e-6)


@pytest.mark.parametrize("reward", ["quadratic", "gaussian_bump"])
def test_one_pass_score_mean_is_the_autodiff_weighted_score_mean(reward):
    """The fixed-state bandit's closed-form one-pass score mean (the fast path's) equals the gradient of the
    surrogate mean(w log pi) to float64 rounding, at n = 1, 7 (fewer than 8 blocks), 8, 1003 (not a multiple
    of 8); a random state has no one-pass form."""
    from pgjax.problems.base import OnePassScores

    with jax.enable_x64(True):
        bandit = LinearGaussianBandit.build(state=(0.5, 1.5, -0.7), theta=(0.2, -0.1, 0.4), sigma=0.7, reward=reward)
        assert isinstance(bandit, OnePassScores)
        params = bandit.init_params()
        for n in (1, 7, 8, 1003):
            outcome = bandit.sample(params, bandit.sample_noise(jax.random.key(n), n))
            weights = bandit.reward(outcome) - 0.3
            autodiff = jax.grad(lambda p: jnp.mean(weights * bandit.log_prob(p, outcome)))(params)
            one_pass = bandit.score_mean_one_pass(params, outcome, weights)
            np.testing.assert_allclose(ravel(one_pass), ravel(autodiff), rtol=1e-12, atol=1e-14)
        random_state = dataclasses.replace(bandit, state_std=(0.1, 0.2, 0.3))
        outcome = random_state.sample(params, random_state.sample_noise(jax.random.key(0), 5))
        assert random_state.score_mean_one_pass(params, outcome, jnp.ones(5)) is None

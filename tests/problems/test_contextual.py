"""The contextual bandit and the target-matching task: exact J, grad J, score moments and baseline moments.

Exact checks (float64) have tolerances set by floating point. Statistical checks compare a Monte Carlo mean m of
N draws with its exact value and reject when |m - exact| > z * sd / sqrt(N), z from
:func:`pgjax.analysis.stats.unbiasedness_z` Bonferroni-corrected over every check of the family, so that a
correct implementation fails a family by chance with probability about 1e-6; each family also rejects a
deliberately wrong answer (power). Keys are fixed, so every run is reproducible.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from pgjax.analysis.stats import unbiasedness_z
from pgjax.errors import ConfigError
from pgjax.problems import ContextualBandit, LinearGaussianBandit, TargetMatching
from pgjax.problems.target_matching import TargetMatchingOutcome
from pgjax.tree_util import ravel

#: The contextual family's default problem (correlated state, state-dependent target, state cost).
CONTEXTUAL = ContextualBandit.build(
    state=(1.0, 0.5),
    theta=(0.2, -0.3),
    sigma=1.0,
    state_std=0.5,
    state_corr=0.3,
    reward_weights=(1.0, -0.5),
    state_cost=0.5,
)
TARGET = TargetMatching(dim=3, target=1.0, mu0=0.2, sigma0=0.7)
MC_DRAWS = 1 << 18


def _p64(problem):
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), problem.init_params())


def _flat(tree) -> np.ndarray:
    return np.asarray(ravel(tree), np.float64)


def test_contextual_matches_the_action_only_bandit():
    """With w = 0, kappa = 0 and a diagonal Sigma the contextual bandit is the linear-Gaussian bandit with the
    quadratic reward, whose moments come from Gauss-Hermite quadrature: J, grad J and every score moment agree
    to rounding (two independent computations: cumulants of quadratics against tensor quadrature)."""
    # d = 2 like CONTEXTUAL, so the jitted moment programs compiled here serve the other tests too
    state, theta, sigma, std = (1.0, -0.3), (0.6, 0.9), 0.8, 0.6
    ctx = ContextualBandit.build(state=state, theta=theta, sigma=sigma, state_std=std, reward_offset=1.0)
    bandit = LinearGaussianBandit.build(
        state=state, theta=theta, sigma=sigma, state_std=std, reward="quadratic", reward_target=1.0
    )
    with jax.enable_x64(True):
        p = _p64(ctx)
        assert abs(float(ctx.objective(p)) - float(bandit.objective(p))) < 1e-12
        np.testing.assert_allclose(_flat(jax.grad(ctx.objective)(p)), _flat(jax.grad(bandit.objective)(p)), atol=1e-12)
        mine, theirs = ctx.score_moments(p), jax.jit(bandit.score_moments)(p)
        for field in ("psi2", "r_psi2", "r2_psi2", "dr2"):
            a, b = _flat(getattr(mine, field)), _flat(getattr(theirs, field))
            np.testing.assert_allclose(a, b, rtol=1e-10, err_msg=field)
        # the objective's closed form and the mean of r's quadratic are the same number
        from pgjax.problems.lqr.moments import quadratic_mean

        assert abs(float(quadratic_mean(ctx.quadratics(p)["r"])) - float(ctx.objective(p))) < 1e-12


def test_gradients_match_central_finite_differences():
    for problem in (CONTEXTUAL, TARGET):
        with jax.enable_x64(True):
            flat, unravel = ravel_pytree(_p64(problem))
            objective = jax.jit(lambda x: problem.objective(unravel(x)))
            auto = np.asarray(jax.grad(objective)(flat))
            h = 1e-5
            fd = np.array(
                [(float(objective(flat + h * e)) - float(objective(flat - h * e))) / (2 * h) for e in np.eye(flat.size)]
            )
        # J is a polynomial of degree 2 in theta and in exp(log sigma): truncation ~h^2, rounding ~1e-16 / h
        np.testing.assert_allclose(auto, fd, rtol=1e-7, atol=1e-8)


def test_target_matching_closed_forms():
    """J = -sum((mu - t)^2 + sigma^2) and grad = (-2 (mu - t), -2 sigma^2), derived by hand."""
    with jax.enable_x64(True):
        p = _p64(TARGET)
        assert abs(float(TARGET.objective(p)) + 3 * ((0.2 - 1.0) ** 2 + 0.49)) < 1e-12
        g = jax.grad(TARGET.objective)(p)
    np.testing.assert_allclose(np.asarray(g.mu), -2 * (0.2 - 1.0), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(g.log_sigma), -2 * 0.49, rtol=1e-12)


def _samples(problem, key: int) -> dict[str, np.ndarray]:
    """float64 Monte Carlo samples (N, k) of every quantity whose mean the exact moments give, in one jitted
    program: r, r psi^2, r^2 psi^2, (dr/dparams)^2, ((r - V(s)) psi)^2, ((r - b*(s)) psi)^2 and, on a factorised
    policy, ((r - b_i) psi)^2 (psi, b*, dr: (N, P); b_i of the coordinate's action)."""

    def compute(params):
        noise = jax.tree.map(lambda x: x.astype(jnp.float64), problem.sample_noise(jax.random.key(key), MC_DRAWS))
        outcome = problem.sample(params, noise)
        r = problem.reward(outcome)[:, None]
        rows = lambda tree: jnp.concatenate([x.reshape(MC_DRAWS, -1) for x in jax.tree.leaves(tree)], 1)
        psi = rows(jax.jacfwd(problem.log_prob)(params, outcome))
        dr = rows(jax.jacfwd(lambda p: problem.reward(problem.sample(p, noise)))(params))
        out = {
            "J": r,
            "r_psi2": r * psi**2,
            "r2_psi2": r**2 * psi**2,
            "dr2": dr**2,
            "value": ((r - problem.state_value(params, outcome)[:, None]) * psi) ** 2,
            "optimal": ((r - rows(problem.optimal_state_baseline(params, outcome))) * psi) ** 2,
        }
        if isinstance(problem, TargetMatching):
            b = problem.action_baselines(params, outcome)
            out["action"] = ((r - jnp.concatenate([b, b], 1)) * psi) ** 2
        return out

    with jax.enable_x64(True):
        return {k: np.asarray(v) for k, v in jax.jit(compute)(_p64(problem)).items()}


# Family: for each of the two problems, J and six per-coordinate moments of the scores and baselines
# (P = 3 and 6 coordinates), each compared with its Monte Carlo mean: Bonferroni over all of them.
_CHECKS = 2 * 1 + 6 * (3 + 6)
Z_MOMENTS = unbiasedness_z(_CHECKS, 1e-6)


@pytest.mark.parametrize("problem", [CONTEXTUAL, TARGET], ids=["contextual", "target-matching"])
def test_exact_moments_match_monte_carlo(problem):
    """J, E[r psi^2], E[r^2 psi^2], E[(dr)^2], E[(r - V(s))^2 psi^2], E[(r - b*(s))^2 psi^2] and (target
    matching) E[(r - b_i)^2 psi^2] against float64 Monte Carlo means of 2^18 draws; and each check rejects the
    exact value scaled by 1.5 (power: the products of scores are heavy-tailed, se / mean reaches ~2%)."""
    samples = _samples(problem, 7 if problem is CONTEXTUAL else 8)
    with jax.enable_x64(True):
        p = _p64(problem)
        mom = problem.score_moments(p)
        base = problem.state_baseline_moments(p)
        exact = {
            "J": np.array([float(problem.objective(p))]),
            "r_psi2": _flat(mom.r_psi2),
            "r2_psi2": _flat(mom.r2_psi2),
            "dr2": _flat(mom.dr2),
            "value": _flat(base.value),
            "optimal": _flat(base.optimal),
        }
        if problem is TARGET:
            exact["action"] = _flat(problem.action_baseline_moments(p))
    assert set(samples) == set(exact)
    for name, x in samples.items():
        mean, se = x.mean(0), x.std(0, ddof=1) / np.sqrt(x.shape[0])
        assert np.all(np.abs(mean - exact[name]) <= Z_MOMENTS * se), (name, mean, exact[name], se)
        assert np.all(np.abs(mean - 1.5 * exact[name]) > Z_MOMENTS * se), (name, mean, exact[name], se)


def test_action_baseline_is_the_conditional_expectation():
    """b_i = E[r | a_{-i}]: redrawing a_i alone (the others fixed) and averaging r gives b_i, checked on one
    4-dimensional action against 2^16 redraws of each coordinate (numpy, independent of pgjax's formula)."""
    task = TargetMatching(dim=4, target=0.5, mu0=-0.3, sigma0=1.3)
    rng = np.random.default_rng(3)
    x = -0.3 + 1.3 * rng.standard_normal(4)
    with jax.enable_x64(True):
        b = np.asarray(task.action_baselines(_p64(task), TargetMatchingOutcome(action=jnp.asarray(x[None]))))[0]
    redraw = -0.3 + 1.3 * rng.standard_normal((1 << 16, 4))
    z = unbiasedness_z(4, 1e-6)
    for i in range(4):
        actions = np.repeat(x[None], redraw.shape[0], 0)
        actions[:, i] = redraw[:, i]
        r = -np.sum((actions - 0.5) ** 2, axis=1)
        assert abs(r.mean() - b[i]) <= z * r.std(ddof=1) / np.sqrt(r.size), (i, r.mean(), b[i])
        assert abs(r.mean() - (b[i] + 0.2)) > z * r.std(ddof=1) / np.sqrt(r.size)  # power: 0.2 off is seen


def test_contextual_configuration_errors_name_the_field():
    cases = [
        (dict(state=(), theta=(), sigma=1.0), "state"),
        (dict(state=(1.0, 0.5), theta=(0.2,), sigma=1.0), "theta"),
        (dict(state=(1.0, 0.5), theta=(0.2, 0.1), sigma=0.0), "sigma"),
        (dict(state=(1.0, 0.5), theta=(0.2, 0.1), sigma=1.0, state_std=-1.0), "state_std"),
        (dict(state=(1.0, 0.5, 0.0), theta=(0.2, 0.1, 0.0), sigma=1.0, state_corr=-0.6), "state_corr"),
        (dict(state=(1.0, 0.5), theta=(0.2, 0.1), sigma=1.0, reward_weights=(1.0,)), "reward_weights"),
        (dict(state=(1.0, 0.5), theta=(0.2, 0.1), sigma=1.0, state_cost=-0.1), "state_cost"),
    ]
    for kwargs, field in cases:
        with pytest.raises(ConfigError) as info:
            ContextualBandit.build(**kwargs)
        assert info.value.field == field, (kwargs, info.value.field)
    with pytest.raises(ConfigError) as info:
        TargetMatching(dim=0)
    assert info.value.field == "dims"

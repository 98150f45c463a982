"""Tests for pgjax.problems.lqr: exact objective, gradient, value functions and Gaussian-polynomial moments.

Statistical tests state their false-failure rate; every other test is deterministic (exact identities
checked to float64 rounding).
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy import stats as sps

from pgjax.analysis import stats
from pgjax.errors import ConfigError
from pgjax.estimators import Reinforce
from pgjax.problems.bandit import LinearGaussianBandit
from pgjax.problems.base import exact_gradient
from pgjax.problems.lqr import (
    LinearQuadraticRegulator,
    Quadratic,
    make_system,
    moment2,
    moment3,
    moment4,
)

ALPHA = 1e-6  # family-wise false-failure rate of every statistical test in this file


def flat64(tree) -> np.ndarray:
    """The leaves of a pytree as one float64 numpy vector (ravel_pytree order), without a float32 round trip."""
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


def f64(tree):
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), tree)


def scalar_random():
    """Scalar system with a random start and process noise, discounted."""
    return LinearQuadraticRegulator.scalar(horizon=4, x0_std=0.3, process_std=0.2, discount=0.9)


def double_integrator():
    return make_system(
        "double_integrator", horizon=5, gain=(-0.6, -1.2), sigma=0.5, x0=(1.0, 0.0), x0_std=0.2, process_std=0.05
    )


def full_noise():
    """Two states, two actions, a full (lower-triangular) noise scale and a full initial covariance."""
    return LinearQuadraticRegulator.build(
        A=[[0.9, 0.2], [-0.1, 0.8]],
        B=[[1.0, 0.0], [0.3, 0.5]],
        Q=[[1.0, 0.2], [0.2, 0.5]],
        R=[[0.2, 0.05], [0.05, 0.1]],
        K=[[-0.3, 0.1], [0.05, -0.4]],
        sigma=[0.4, 0.3],
        horizon=3,
        x0=[0.5, -1.0],
        x0_cov=[[0.09, 0.02], [0.02, 0.04]],
        process_std=[0.1, 0.05],
        noise="full",
        scale_offdiag=[0.15],
    )


PROBLEMS = {"scalar_random": scalar_random, "double_integrator": double_integrator, "full_noise": full_noise}


# --------------------------------------------------------------------------------------- exact objective
def test_exact_objective_equals_large_monte_carlo_mean():
    """|mean of R returns - J| < z sd / sqrt(R) for each problem; Bonferroni over the problems, alpha 1e-6."""
    z = stats.unbiasedness_z(len(PROBLEMS), ALPHA)
    for i, build in enumerate(PROBLEMS.values()):
        problem = build()
        params = problem.init_params()
        rollout = jax.jit(lambda p, key: problem.reward(problem.sample(p, problem.sample_noise(key, 100_000))))
        returns = np.asarray(rollout(params, jax.random.key(i)))  # one compiled call, not op-by-op
        with jax.enable_x64(True):
            J = float(problem.objective(f64(params)))
        se = returns.std(ddof=1) / math.sqrt(returns.size)
        assert abs(returns.mean() - J) < z * se, (problem.describe(), returns.mean(), J, se)
        # The test can fail: a 5% error in J would be caught.
        assert abs(1.05 * J - J) > z * se


def _central_differences(J, flat, h):
    """(J(x + h e_i) - J(x - h e_i)) / 2h for every coordinate i, as one compiled, vmapped call."""
    steps = h * jnp.eye(flat.size, dtype=flat.dtype)
    values = jax.jit(jax.vmap(J))(jnp.concatenate([flat + steps, flat - steps]))
    return (values[: flat.size] - values[flat.size :]) / (2 * h)


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_gradient_equals_finite_differences(name):
    """jax.grad(J) against central differences of J in float64 (error O(h^2) ~ 1e-10)."""
    problem = PROBLEMS[name]()
    with jax.enable_x64(True):
        flat, unravel = ravel_pytree(f64(problem.init_params()))
        J = lambda f: problem.objective(unravel(f))
        grad = np.asarray(jax.grad(J)(flat))
        h = 1e-5
        fd = np.asarray(_central_differences(J, flat, h))
    np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-9)
    assert np.all(np.abs(grad) > 1e-6)  # every coordinate matters: the comparison is not vacuous


def test_exact_gradient_helper_and_objective_are_float64_exact():
    problem = double_integrator()
    grad = exact_gradient(problem, problem.init_params())
    assert grad.K.dtype == np.float64 and grad.log_sigma.dtype == np.float64


# --------------------------------------------------------------------------------------- value functions
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_value_functions_satisfy_the_bellman_equation(name):
    """V_t(x) = E[r_t + gamma V_{t+1}(x_{t+1}) | x_t = x], the expectation over (eps_t, w_t) by Gauss-Hermite
    quadrature (3 nodes per normal, exact for these quadratics), at random states and every t; and
    E[V_0(x_0)] = J."""
    problem = PROBLEMS[name]()
    m, a = problem.state_dim, problem.action_dim
    with jax.enable_x64(True):
        params = f64(problem.init_params())
        Ps, cs = (np.asarray(v) for v in problem.value_functions(params))
        K, L = np.asarray(params.K), np.asarray(problem.noise_scale(params))
        A, B, Q, R = (np.asarray(getattr(problem, k)) for k in "ABQR")
        # any W with W W' = process_cov gives the same expectation
        W = np.linalg.cholesky(np.asarray(problem.process_cov)) if problem.process_noise else np.zeros((m, m))
        nodes, weights = np.polynomial.hermite_e.hermegauss(3)
        weights = weights / weights.sum()
        rng = np.random.default_rng(0)
        V = lambda t, x: x @ Ps[t] @ x + cs[t]
        for t in range(problem.horizon):
            for x in rng.normal(size=(3, m)):
                total = 0.0
                for idx in itertools.product(range(3), repeat=a + m):
                    z = nodes[list(idx)]
                    w = np.prod(weights[list(idx)])
                    u = K @ x + L @ z[:a]
                    x_next = A @ x + B @ u + W @ z[a:]
                    total += w * (-(x @ Q @ x + u @ R @ u) + problem.discount * V(t + 1, x_next))
                np.testing.assert_allclose(V(t, x), total, rtol=1e-12, atol=1e-12)
        mu0, S0 = np.asarray(problem.x0_mean), np.asarray(problem.x0_cov)
        np.testing.assert_allclose(
            mu0 @ Ps[0] @ mu0 + np.trace(Ps[0] @ S0) + cs[0], float(problem.objective(params)), rtol=1e-12
        )
        assert np.all(Ps[-1] == 0) and cs[-1] == 0


def test_state_moments_match_the_affine_rollout():
    """x_t = mean_t + X_t xi: the affine map's mean and X X' equal the propagated mean and covariance."""
    problem = full_noise()
    with jax.enable_x64(True):
        params = f64(problem.init_params())
        mus, covs = problem.state_moments(params)
        rep = problem.gaussian_representation(params)
        X = rep["state_map"]
        np.testing.assert_allclose(rep["state_mean"], mus, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(jnp.einsum("tid,tjd->tij", X, X), covs, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------------- the noise density
def test_full_noise_log_prob_is_the_multivariate_normal_density():
    problem = full_noise()
    params = problem.init_params()
    traj = problem.sample(params, problem.sample_noise(jax.random.key(3), 5))
    L = np.asarray(problem.noise_scale(params), np.float64)
    states, actions = np.asarray(traj.states, np.float64), np.asarray(traj.actions, np.float64)  # (H, dim, n)
    expected = np.zeros((problem.horizon, 5))
    for i in range(5):
        for t in range(problem.horizon):
            mean = np.asarray(params.K, np.float64) @ states[t, :, i]
            expected[t, i] = sps.multivariate_normal(mean, L @ L.T).logpdf(actions[t, :, i])
    np.testing.assert_allclose(np.asarray(problem.step_log_probs(params, traj)), expected, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(np.asarray(problem.log_prob(params, traj)), expected.sum(0), rtol=2e-5, atol=1e-4)


def test_sampling_shapes_and_jit():
    problem = double_integrator()
    params = problem.init_params()
    noise = problem.sample_noise(jax.random.key(0), 7)
    assert noise["eps"].shape == (5, 1, 7) and noise["z0"].shape == (2, 7) and noise["w"].shape == (5, 2, 7)
    traj = jax.jit(problem.sample)(params, noise)
    assert traj.states.shape == (5, 2, 7) and traj.actions.shape == (5, 1, 7)
    assert problem.reward(traj).shape == (7,) and problem.rewards_to_go(traj).shape == (5, 7)
    assert problem.step_log_probs(params, traj).shape == (5, 7) and problem.values(params, traj.states).shape == (5, 7)
    np.testing.assert_allclose(problem.rewards_to_go(traj)[0], problem.reward(traj), rtol=1e-5)
    # the noise_from_flat layout is the one the exact moments use
    xi = np.random.default_rng(0).normal(size=(7, problem.noise_dim)).astype(np.float32)
    flat = problem.noise_from_flat(jnp.asarray(xi))
    assert all(flat[k].shape == noise[k].shape for k in noise)
    assert hash(problem) == hash(double_integrator())


# ------------------------------------------------------------------- Gaussian-polynomial moment formulas
def _random_quadratic(rng, D):
    M = rng.normal(size=(D, D))
    return Quadratic(M=jnp.asarray(M + M.T) / 2, b=jnp.asarray(rng.normal(size=D)), c=jnp.asarray(rng.normal()))


@functools.partial(jax.jit, static_argnums=1)
def _mgf_moment_jit(qs, k):
    return _mgf_moment_impl(qs, k)


def _mgf_moment(qs):
    return float(_mgf_moment_jit(tuple(qs), len(qs)))


def _mgf_moment_impl(qs, k):
    """E[q_1 ... q_k] as the mixed derivative at 0 of the closed-form moment-generating function
    E exp(sum_i t_i q_i) = det(I - 2M)^(-1/2) exp(c + b'(I - 2M)^(-1) b / 2), M = sum t_i M_i, etc., by
    nested forward-mode autodiff: an independent route to the same numbers."""
    D = qs[0].b.shape[0]

    def mgf(t):
        M = sum(ti * q.M for ti, q in zip(t, qs))
        b = sum(ti * q.b for ti, q in zip(t, qs))
        c = sum(ti * q.c for ti, q in zip(t, qs))
        A = jnp.eye(D) - 2 * M
        return jnp.exp(-0.5 * jnp.linalg.slogdet(A)[1] + c + 0.5 * b @ jnp.linalg.solve(A, b))

    f = mgf
    for j in range(k):
        f = (lambda g, j: lambda t: jax.jvp(g, (t,), (jnp.eye(k)[j],))[1])(f, j)
    return f(jnp.zeros(k))


def test_moment_formulas_equal_derivatives_of_the_moment_generating_function():
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        for D in (4,):
            qs = [_random_quadratic(rng, D) for _ in range(4)]
            for fn, k in ((moment2, 2), (moment3, 3), (moment4, 4)):
                exact = float(fn(*qs[:k]))
                ref = _mgf_moment(qs[:k])
                assert exact == pytest.approx(ref, rel=1e-9, abs=1e-9), (D, k)
            # repeated arguments, as in E[G^2 psi^2]
            assert float(moment4(qs[0], qs[0], qs[1], qs[1])) == pytest.approx(
                _mgf_moment([qs[0], qs[0], qs[1], qs[1]]), rel=1e-9
            )


def test_gaussian_representation_equals_the_rollout_at_random_noise():
    """Each quadratic of the representation, evaluated at random xi, equals the quantity computed from the
    trajectory that xi drives: per-step rewards, per-step scores (autodiff of log pi) and the pathwise
    gradient (autodiff through the rollout)."""
    problem = full_noise()
    with jax.enable_x64(True):
        params = f64(problem.init_params())
        flat, unravel = ravel_pytree(params)
        rep = problem.gaussian_representation(params)
        evaluate = lambda q, xi: jnp.einsum("...de,d,e->...", q.M, xi, xi) + q.b @ xi + q.c
        for xi in np.random.default_rng(2).normal(size=(3, problem.noise_dim)):
            xi = jnp.asarray(xi)
            traj_of = lambda p: problem.sample(p, problem.noise_from_flat(xi[None]))
            traj = traj_of(params)
            direct = {
                "rewards": problem.step_rewards(traj)[:, 0],
                "scores": jax.jacfwd(lambda f: problem.step_log_probs(unravel(f), traj)[:, 0])(flat),
                "pathwise": jax.grad(lambda f: problem.reward(traj_of(unravel(f)))[0])(flat),
            }
            for key, value in direct.items():
                np.testing.assert_allclose(evaluate(rep[key], xi), value, rtol=1e-10, atol=1e-10, err_msg=key)
            np.testing.assert_allclose(rep["state_mean"] + rep["state_map"] @ xi, traj.states[..., 0], rtol=1e-12)


# ----------------------------------------------------------------------------------- H = 1 is the bandit
def _bandit_pair(state_std: float):
    """LQR with H = 1, Q = 0, R = 1 (reward -u^2) and the bandit with s = x0, theta = K, target 0."""
    state, theta, sigma = (1.0, 0.5), (0.2, -0.3), 0.8
    lqr = LinearQuadraticRegulator.build(
        A=np.eye(2),
        B=[[1.0], [0.0]],
        Q=np.zeros((2, 2)),
        R=1.0,
        K=[theta],
        sigma=sigma,
        horizon=1,
        x0=state,
        x0_std=state_std,
    )
    bandit = LinearGaussianBandit.build(
        state=state, theta=theta, sigma=sigma, state_std=state_std, reward="quadratic", reward_target=0.0
    )
    return lqr, bandit


def test_horizon_one_reduces_to_the_bandit_fixed_state(closed_forms):
    """Same J, gradient and exact moments as the bandit (and as the independent polynomial closed forms);
    the same key draws the same actions, so REINFORCE gives the same estimates."""
    lqr, bandit = _bandit_pair(0.0)
    with jax.enable_x64(True):  # float64 parameters from the start: the same log(sigma) in both problems
        lp64, bp64 = lqr.init_params(), bandit.init_params()
        assert float(lqr.objective(lp64)) == pytest.approx(float(bandit.objective(bp64)), rel=1e-12)
    g_lqr, g_bandit = exact_gradient(lqr, lp64), exact_gradient(bandit, bp64)
    np.testing.assert_allclose(np.ravel(g_lqr.K), g_bandit.theta, rtol=1e-12)
    np.testing.assert_allclose(g_lqr.log_sigma[0], g_bandit.log_sigma, rtol=1e-12)
    with jax.enable_x64(True):
        mom = lqr.score_moments(lp64)
    cf = closed_forms((1.0, 0.5), (0.2, -0.3), 0.8, "quadratic", target=0.0)
    for key in ("psi2", "r_psi2", "r2_psi2", "dr2"):
        np.testing.assert_allclose(flat64(getattr(mom, key)), cf[key], rtol=1e-10, err_msg=key)
    lp, bp = lqr.init_params(), bandit.init_params()
    key = jax.random.key(5)
    est_lqr = Reinforce()(key, lp, lqr, 64)
    est_bandit = Reinforce()(key, bp, bandit, 64)
    np.testing.assert_allclose(np.ravel(est_lqr.K), est_bandit.theta, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(est_lqr.log_sigma[0], est_bandit.log_sigma, rtol=1e-5, atol=1e-5)


def test_horizon_one_reduces_to_the_bandit_random_state():
    """With a Gaussian state, the LQR's exact moments equal the bandit's (computed by quadrature)."""
    lqr, bandit = _bandit_pair(0.4)
    with jax.enable_x64(True):
        lm = lqr.score_moments(lqr.init_params())
        bm = bandit.score_moments(bandit.init_params())
    for key in ("psi2", "r_psi2", "r2_psi2", "dr2"):
        np.testing.assert_allclose(np.ravel(getattr(lm, key).K), getattr(bm, key).theta, rtol=1e-9, err_msg=key)
        np.testing.assert_allclose(getattr(lm, key).log_sigma[0], getattr(bm, key).log_sigma, rtol=1e-9, err_msg=key)


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(horizon=0), "horizon"),
        (dict(sigma=-1.0), "sigma"),
        (dict(gain=(1.0, 2.0, 3.0)), "gain"),
        (dict(x0=(1.0,)), "x0"),
        (dict(x0_std=-0.1), "x0_std"),
        (dict(discount=1.5), "discount"),
    ],
)
def test_bad_system_fields_raise_config_error_naming_the_field(kwargs, field):
    base = dict(horizon=5, gain=(-0.6, -1.2), sigma=0.5, x0=(1.0, 0.0))
    with pytest.raises(ConfigError) as err:
        make_system("double_integrator", **{**base, **kwargs})
    assert err.value.field == field


def test_bad_matrices_raise_config_error():
    with pytest.raises(ConfigError, match="--Q"):
        LinearQuadraticRegulator.build(A=1.0, B=1.0, Q=-1.0, R=0.1, K=-0.5, sigma=0.5, horizon=2, x0=1.0)
    with pytest.raises(ConfigError, match="--noise"):
        LinearQuadraticRegulator.build(A=1.0, B=1.0, Q=1.0, R=0.1, K=-0.5, sigma=0.5, horizon=2, x0=1.0, noise="full")
    with pytest.raises(ConfigError, match="--system"):
        make_system("pendulum", horizon=2, gain=(1.0,), sigma=1.0, x0=(0.0,))


# ------------------------------------------------------------------------------------------------- PGPE
def _pgpe():
    from pgjax.problems.lqr import ParameterExploringLQR

    base = make_system(
        "double_integrator", horizon=4, gain=(-0.6, -1.2), sigma=1.0, x0=(1.0, 0.0), x0_std=0.2, process_std=0.05
    )
    return ParameterExploringLQR(base=base, sigma_K0=(0.2, 0.3))


def test_pgpe_objective_is_exact():
    """The quadrature objective equals (a) a rule with three times the nodes (it is exact, not converging),
    (b) a large Monte Carlo mean (alpha 1e-6), and its gradient equals central differences."""
    from pgjax.problems.lqr import ParameterExploringLQR

    problem = _pgpe()
    with jax.enable_x64(True):
        params = f64(problem.init_params())
        J = float(problem.objective(params))

        class Finer(ParameterExploringLQR):
            @property
            def quadrature_nodes(self):
                return 3 * (self.base.horizon + 1)

        finer = Finer(base=problem.base, sigma_K0=problem.sigma_K0)
        assert float(finer.objective(params)) == pytest.approx(J, rel=1e-12)
        flat, unravel = ravel_pytree(params)
        grad = np.asarray(jax.grad(lambda f: problem.objective(unravel(f)))(flat))
        h = 1e-5
        fd = _central_differences(lambda f: problem.objective(unravel(f)), flat, h)
        np.testing.assert_allclose(grad, np.asarray(fd), rtol=1e-7, atol=1e-9)
    rollout = jax.jit(lambda p, key: problem.reward(problem.sample(p, problem.sample_noise(key, 100_000))))
    returns = np.asarray(rollout(problem.init_params(), jax.random.key(9)), np.float64)
    se = returns.std(ddof=1) / math.sqrt(returns.size)
    assert abs(returns.mean() - J) < stats.unbiasedness_z(1, ALPHA) * se

"""``pgjax.mc``, the home of optax.monte_carlo's API, checked against its documented semantics.

Exact values come from pgjax's Gaussian test functions (``pgjax.problems.gaussian_test_functions``): the
gradient of E[f] in closed form, and the exact single-sample variances of the score-function, pathwise and
(coupled and uncoupled) measure-valued estimators by quadrature. The rows of the per-sample Jacobians are
i.i.d. single-sample estimates, so their mean and variance are tested against those exact values.

False-failure rates: every statistical test below fails by chance with probability at most about 1e-6
(normal approximation; two-sided z from a Bonferroni correction over all coordinates the test checks,
``pgjax.analysis.stats.unbiasedness_z``, or a confidence of 1 - 1e-6 / d for the intervals). The
deterministic identities (the delta method on a quadratic, the moving-average state) use float32 tolerances.
"""

from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import mc
from pgjax.analysis import stats
from pgjax.estimators.measure_valued import MeasureValued, MeasureValuedCoupled
from pgjax.estimators.pathwise import Pathwise
from pgjax.estimators.score_function import Reinforce
from pgjax.problems.gaussian_test_functions import GaussianLogParams, GaussianTestFunction

ROOT = Path(__file__).resolve().parents[2]
ALPHA = 1e-6
MU, SIGMA = (0.5, -1.0), (0.8, 1.3)
N = 20_000  # rows of the per-sample Jacobians

ESTIMATORS = {
    "score_function": (lambda *a: mc.score_function_jacobians(*a), Reinforce()),
    "pathwise": (lambda *a: mc.pathwise_jacobians(*a), Pathwise()),
    "measure_valued_coupled": (lambda *a: mc.measure_valued_jacobians(*a, coupling=True), MeasureValuedCoupled()),
    "measure_valued": (lambda *a: mc.measure_valued_jacobians(*a, coupling=False), MeasureValued()),
}


def problem_of(function: str, k: float) -> GaussianTestFunction:
    return GaussianTestFunction.build(function, k, mu=MU, sigma=SIGMA, scale="log_sigma")


def mc_params(problem: GaussianTestFunction) -> tuple[jax.Array, jax.Array]:
    p = problem.init_params()
    return p.mu, p.log_sigma


def flat(tree) -> np.ndarray:
    """(loc, log_scale) or GaussianLogParams -> one float64 array over the last axis (mu then log sigma)."""
    leaves = [tree.mu, tree.log_sigma] if isinstance(tree, GaussianLogParams) else list(tree)
    return np.concatenate([np.asarray(x, np.float64) for x in leaves], axis=-1)


@pytest.fixture(scope="module")
def quadratic():
    """Per-sample Jacobians of each estimator on the quadratic test function, with the exact gradient and
    exact single-sample variances."""
    problem = problem_of("quadratic", 1.5)
    params = mc_params(problem)
    rng = jax.random.PRNGKey(2020)
    sin, params23 = lambda x: jnp.sum(jnp.sin(x)), (jnp.zeros((2, 3)), jnp.full((2, 3), -0.5))

    @jax.jit
    def run_all(r):
        jacobians = {name: fn(problem.f, params, mc.multi_normal, r, N) for name, (fn, _) in ESTIMATORS.items()}
        other = {
            name: ESTIMATORS[name][0](sin, params23, mc.multi_normal, r, 5) for name in ("score_function", "pathwise")
        }
        return jacobians, other

    jacobians, other = run_all(rng)
    shapes = {name: [x.shape for x in jac] for name, jac in {**jacobians, **other}.items()}
    jacobians = {name: flat(jac) for name, jac in jacobians.items()}
    with jax.enable_x64(True):  # the exact single-sample variances (quadrature), one float64 program
        p64 = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), problem.init_params())
        exact = jax.jit(lambda p: {name: est.exact_variance(problem, p) for name, (_, est) in ESTIMATORS.items()})(p64)
        exact_var = {name: flat(v) for name, v in exact.items()}
    grad = flat(jax.grad(problem.objective)(problem.init_params()))
    return problem, params, jacobians, exact_var, grad, shapes


def test_shapes_follow_the_parameters(quadratic):
    """One (num_samples,) + param.shape array per parameter, for any parameter shape (score function and
    pathwise; shapes (2, 3) here) and for 1-D Gaussians (measure-valued)."""
    _, _, _, _, _, shapes = quadratic
    assert shapes["score_function"] == shapes["pathwise"] == [(5, 2, 3), (5, 2, 3)]
    assert shapes["measure_valued_coupled"] == shapes["measure_valued"] == [(N, 2), (N, 2)]


def test_bad_input_is_refused():
    f = lambda x: jnp.sum(x)
    params = (jnp.zeros(2), jnp.zeros(2))
    other_builder = lambda loc, log_scale: mc.multi_normal(loc, log_scale)
    with pytest.raises(ValueError, match="Unsupported distribution builder"):
        mc.measure_valued_jacobians(f, params, other_builder, jax.random.PRNGKey(0), 4)
    with pytest.raises(ValueError, match="num_samples"):
        mc.score_function_jacobians(f, params, mc.multi_normal, jax.random.PRNGKey(0), 0)


def test_multi_normal_samples_and_log_prob():
    """x = loc + exp(log_scale) eps with one normal draw; the key as key= or seed= (optax <= 0.2.4); log_prob
    is the summed normal log density."""
    loc, log_scale = jnp.array([0.5, -1.0]), jnp.array([0.1, -0.4])
    key = jax.random.PRNGKey(3)

    @jax.jit
    def draws(key):
        dist = mc.multi_normal(loc, log_scale)
        x = dist.sample((4,), key=key)
        reference = loc + jnp.exp(log_scale) * jax.random.normal(key, (4, 2))
        expected = jax.scipy.stats.norm.logpdf(x, loc, jnp.exp(log_scale)).sum(-1)
        return x, dist.sample((4,), seed=key), reference, dist.log_prob(x), expected, dist.params

    x, x_seed, reference, log_prob, expected, params = draws(key)
    np.testing.assert_allclose(x, reference, rtol=1e-6)
    np.testing.assert_array_equal(x, x_seed)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-6)
    assert [np.asarray(p).tolist() for p in params] == [loc.tolist(), log_scale.tolist()]


def test_jacobian_means_are_unbiased(quadratic):
    """The mean of the N i.i.d. rows is within z sd / sqrt(N) of the exact gradient, on every coordinate of
    every estimator (Bonferroni over all of them)."""
    _, _, jacobians, _, grad, _ = quadratic
    z = stats.unbiasedness_z(sum(j.shape[1] for j in jacobians.values()), ALPHA)
    for name, jac in jacobians.items():
        se = jac.std(axis=0, ddof=1) / np.sqrt(N)
        assert np.all(np.abs(jac.mean(axis=0) - grad) <= z * se), (name, jac.mean(axis=0), grad, se)


def test_jacobian_variances_are_the_exact_single_sample_variances(quadratic):
    """The variance of the rows is the estimator's exact single-sample variance (pgjax's quadrature): the
    exact value lies in the kurtosis-adjusted interval of the sample variance at confidence 1 - alpha / d."""
    _, _, jacobians, exact_var, _, _ = quadratic
    d = sum(j.shape[1] for j in jacobians.values())
    for name, jac in jacobians.items():
        _, lo, hi = stats.variance_ci(jac, confidence=1.0 - ALPHA / d, method="delta")
        assert np.all((lo <= exact_var[name]) & (exact_var[name] <= hi)), (name, lo, exact_var[name], hi)


@pytest.fixture(scope="module")
def identities():
    """One compiled program for the deterministic checks: the delta method on the quadratic (pathwise), the
    estimated coefficient, and the moving-average baseline on cos(x) from a given state."""
    quad, wave = problem_of("quadratic", 1.5), problem_of("cos", 1.0)
    quad_params, wave_params = mc_params(quad), mc_params(wave)
    state = (jnp.asarray(0.7), 3)
    _, _, update = mc.moving_avg_baseline(wave.f)

    @jax.jit
    def run(key):
        delta = lambda name: mc.control_variates_jacobians(
            quad.f, mc.control_delta_method, getattr(mc, name), quad_params, mc.multi_normal, key, 64
        )
        moving = lambda estimator: mc.control_variates_jacobians(
            wave.f, mc.moving_avg_baseline, estimator, wave_params, mc.multi_normal, key, 16, state
        )
        wave_jac = lambda fn, function: fn(function, wave_params, mc.multi_normal, key, 16)
        return {
            "delta": {name: delta(name) for name in ("pathwise_jacobians",)},
            "betas": mc.estimate_control_variate_coefficients(
                quad.f, mc.control_delta_method, mc.score_function_jacobians, quad_params, mc.multi_normal, key, 30
            ),
            "beta_jac": mc.score_function_jacobians(quad.f, quad_params, mc.multi_normal, jax.random.split(key)[0], 30),
            "score_cv": moving(mc.score_function_jacobians),
            "path_cv": moving(mc.pathwise_jacobians)[0],
            "state": update(wave_params, mc.multi_normal(*wave_params).sample((16,), key=key), state),
            "plain": wave_jac(mc.score_function_jacobians, wave.f),
            "score": wave_jac(mc.score_function_jacobians, lambda x: 1.0),
            "path": wave_jac(mc.pathwise_jacobians, wave.f),
        }

    grad = flat(jax.grad(quad.objective)(quad.init_params()))
    return run(jax.random.PRNGKey(1)), grad


def test_delta_method_is_exact_on_a_quadratic(identities):
    """For a quadratic f the second-order expansion is f itself, so every row of the control-variate
    Jacobians is the exact gradient (zero variance); here with the pathwise estimator, and with the score
    function in the migration page's example (the last test)."""
    out, grad = identities
    for name, (jac, state) in out["delta"].items():
        assert state is None
        np.testing.assert_allclose(
            flat(jac), np.broadcast_to(grad, (64, grad.size)), rtol=1e-4, atol=1e-4, err_msg=name
        )


def test_delta_method_keeps_the_mean_and_reduces_variance():
    """On exp(-k x^2), k = 0.1 (not quadratic, but close to its expansion over the samples), the score function with the delta-method control variate is unbiased
    over R independent n-sample estimates, and its variance is below the plain score function's on the same
    keys (upper end of the paired variance-ratio interval < 1)."""
    problem = problem_of("exp", 0.1)
    params = mc_params(problem)
    reps, n = 4000, 4

    def both(key):
        plain = mc.score_function_jacobians(problem.f, params, mc.multi_normal, key, n)
        cv, _ = mc.control_variates_jacobians(
            problem.f, mc.control_delta_method, mc.score_function_jacobians, params, mc.multi_normal, key, n
        )
        row_mean = lambda jac: jnp.concatenate([j.mean(0) for j in jac])
        return row_mean(plain), row_mean(cv)

    keys = jax.random.split(jax.random.PRNGKey(5), reps)
    plain, cv = (
        np.asarray(a, np.float64) for a in jax.jit(jax.vmap(lambda k: jnp.stack(both(k))))(keys).transpose(1, 0, 2)
    )
    grad = flat(jax.grad(problem.objective)(problem.init_params()))
    d = grad.size
    se = cv.std(axis=0, ddof=1) / np.sqrt(reps)
    assert np.all(np.abs(cv.mean(axis=0) - grad) <= stats.unbiasedness_z(d, ALPHA) * se)
    _, _, hi = stats.variance_ratio_ci(cv, plain, confidence=1.0 - ALPHA / d, method="delta")
    assert np.all(hi < 1.0), hi


@pytest.mark.parametrize(("heuristic", "debias"), [(True, True), (False, True), (True, False)])
def test_moving_avg_baseline_state_updates_as_documented(heuristic, debias):
    """(b, i) -> (b', i + 1), b' = d b + (1 - d) mean f(samples) with d = min(decay, (1 + i) / (10 + i)) under the
    heuristic, divided by 1 - d^(i + 1) with zero-debiasing; computed here in float64 from the formula."""
    f = lambda x: jnp.sum(x**2)
    _, _, update = mc.moving_avg_baseline(
        f, decay=0.9, zero_debias=debias, use_decay_early_training_heuristic=heuristic
    )
    rng = np.random.default_rng(0)
    state, value = (jnp.zeros([]), 0), 0.0
    for i in range(4):
        samples = rng.normal(size=(8, 2)).astype(np.float32)
        state = update(None, jnp.asarray(samples), state)
        decay = min(0.9, (1 + i) / (10 + i)) if heuristic else 0.9
        value = decay * value + (1 - decay) * float(np.mean(np.sum(samples.astype(np.float64) ** 2, axis=1)))
        if debias:
            value /= 1 - decay ** (i + 1)
        assert state[1] == i + 1
        np.testing.assert_allclose(float(state[0]), value, rtol=1e-5)


def test_moving_avg_baseline_in_the_jacobians(identities):
    """With the score function the rows are (f(x_i) - b') grad log p(x_i), b' the state (0.7, 3) updated with
    this batch; the pathwise rows are unchanged (the baseline does not depend on x)."""
    out, _ = identities
    jac, new_state = out["score_cv"]
    assert float(new_state[0]) == pytest.approx(float(out["state"][0]), rel=1e-6) and int(new_state[1]) == 4
    expected = flat(out["plain"]) - float(new_state[0]) * flat(out["score"])
    np.testing.assert_allclose(flat(jac), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(flat(out["path_cv"]), flat(out["path"]))


def test_estimated_coefficient_is_the_covariance_ratio(identities):
    """estimate_cv_coeffs: beta_k = sum_d Cov(G[f], G[h]) / (sum_d Var(G[h]) + 1e-3) over fresh samples
    (key split(rng)[0]); for a quadratic G[h] = G[f], so beta = S / (S + 1e-3), S = sum_d Var(G[f])."""
    out, _ = identities
    for beta, j in zip(out["betas"], out["beta_jac"]):
        s = float(np.var(np.asarray(j, np.float64), axis=0).sum())
        assert float(beta) == pytest.approx(s / (s + 1e-3), rel=1e-4)


def test_migration_doc_runs_and_changes_only_the_imports():
    """docs/coming-from-optax-monte-carlo.md: the after block runs, its delta-method rows are the exact
    gradient, and the before block differs from it only in import lines."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "coming-from-optax-monte-carlo.md").read_text(), re.S)
    assert len(blocks) == 2, "the migration page needs a before and an after Python block"
    before, after = blocks
    code = lambda block: [line for line in block.splitlines() if not line.startswith(("import ", "from "))]
    assert code(before) == code(after)
    assert "from optax import monte_carlo" in before and "from pgjax import mc as monte_carlo" in after
    namespace: dict = {}
    exec(compile(after, "coming-from-optax-monte-carlo.md", "exec"), namespace)
    for rows, exact in zip(namespace["delta"], namespace["true_grad"]):
        np.testing.assert_allclose(rows, np.broadcast_to(exact, rows.shape), rtol=1e-4, atol=1e-4)
    assert namespace["state"][1] == 3

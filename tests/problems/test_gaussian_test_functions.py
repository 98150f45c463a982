"""Tests for pgjax.problems.gaussian_test_functions: closed forms, exact moments by quadrature, antithetic
sampling, and the variance-versus-n experiment on the test functions.

Deterministic tests compare the quadrature against closed forms derived independently of it:
- polynomial algebra for the quadratic (every moment of eps is known exactly);
- Stein's identities for exp and cos: with M(m) = E[h(m + s eps)] in closed form,
  E[h eps^2] = M + s^2 M'' and E[h (eps^2 - 1)^2] = 2 M + 4 s^2 M'' + s^4 M'''' (derivatives in m by autodiff);
- brute-force two-dimensional quadrature for the cross terms of a sum over D = 2 coordinates.
Statistical tests state their false-failure rate (alpha = 1e-6 per test, Bonferroni over coordinates).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy.polynomial import Polynomial

import pgjax
from pgjax.analysis.stats import unbiasedness_z
from pgjax.errors import ConfigError
from pgjax.estimators import make_estimator
from pgjax.problems import Antithetic, GaussianLogParams, GaussianParams, GaussianTestFunction, LinearGaussianBandit
from pgjax.problems.gaussian_test_functions import FUNCTIONS, quadrature_rule

# ----------------------------------------------------------------------------------------------------------
# Independent closed forms
# ----------------------------------------------------------------------------------------------------------


def eps_moment(j: int) -> float:
    return 0.0 if j % 2 else float(math.prod(range(j - 1, 0, -2)))


def expect_poly(p: Polynomial) -> float:
    return float(sum(c * eps_moment(j) for j, c in enumerate(p.coef)))


def quadratic_closed_forms(mu: float, sigma: float, k: float) -> dict:
    """Exact single-sample variances for f = (x - k)^2, D = 1, by polynomial algebra in eps (and, for the
    measure-valued estimator, the moments of the Weibull and double-sided Maxwell: E w^2 = 2, E w = sqrt(pi/2),
    E w^4 = 8, E m^2 = 3, E m^4 = 15)."""
    eps = Polynomial([0.0, 1.0])
    f = (mu + sigma * eps - k) ** 2
    df = 2 * (mu + sigma * eps - k)
    out = {}
    for which, psi, dx in (("mu", eps / sigma, Polynomial([1.0])), ("sigma", (eps**2 - 1) / sigma, eps)):
        grad = expect_poly(f * psi)
        b = expect_poly(f * psi**2) / expect_poly(psi**2)
        out[which] = {
            "grad": grad,
            "reinforce": expect_poly((f * psi) ** 2) - grad**2,
            "optimal_baseline_exact": expect_poly(((f - b) * psi) ** 2) - grad**2,
            "pathwise": expect_poly((df * dx) ** 2) - grad**2,
            "delta_cv_score": 0.0,
            "delta_cv_pathwise": 0.0,
        }
    d = mu - k
    var_w = 2.0 - math.pi / 2.0
    out["mu"]["measure_valued_coupled"] = 16 * d**2 * var_w / (2 * math.pi)
    out["mu"]["measure_valued"] = (8 * d**2 * var_w + 8 * sigma**2) / (2 * math.pi)
    out["sigma"]["measure_valued_coupled"] = 4 * d**2 + 4 * sigma**2
    out["sigma"]["measure_valued"] = 16 * d**2 + 8 * sigma**2
    return out


def _derivatives(fn, m: float, order: int) -> list[float]:
    """[fn(m), fn'(m), ..., fn^(order)(m)] by autodiff in float64."""
    out, g = [], fn
    for _ in range(order + 1):
        out.append(float(g(m)))
        g = jax.grad(g)
    return out


def stein_reinforce_variances(function: str, mu: float, sigma: float, k: float) -> tuple[float, float]:
    """(Var mu, Var sigma) of the one-sample score-function estimate for D = 1, from the closed-form Gaussian
    expectations of g and g^2 and Stein's identities (no quadrature)."""
    with jax.enable_x64(True):
        mean = lambda m, s, kk=k: FUNCTIONS[function].gaussian_expectation(m, s, kk)
        if function == "exp":
            square = lambda m: FUNCTIONS["exp"].gaussian_expectation(m, sigma, 2 * k)
        elif function == "cos":
            square = lambda m: 0.5 * (1.0 + FUNCTIONS["cos"].gaussian_expectation(m, sigma, 2 * k))
        else:
            raise ValueError(function)
        m2 = _derivatives(square, jnp.float64(mu), 4)
        grad_mu = float(jax.grad(mean, 0)(jnp.float64(mu), jnp.float64(sigma)))
        grad_sigma = float(jax.grad(mean, 1)(jnp.float64(mu), jnp.float64(sigma)))
    second_mu = (m2[0] + sigma**2 * m2[2]) / sigma**2
    second_sigma = (2 * m2[0] + 4 * sigma**2 * m2[2] + sigma**4 * m2[4]) / sigma**2
    return second_mu - grad_mu**2, second_sigma - grad_sigma**2


def exact(problem, names):
    """Exact single-sample variances (P,) in float64, at float64 parameters (flattened with numpy:
    pgjax.exact_variances flattens with jax outside 64-bit mode, which rounds to float32)."""
    with jax.enable_x64(True):
        params = problem.init_params()
    out = {}
    for name in names:
        var = make_estimator(name).single_sample_variance(problem, params)
        out[name] = np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in jax.tree.leaves(var)])
    return out


# ----------------------------------------------------------------------------------------------------------
# Quadrature rules and closed forms
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "density, moments",
    [
        ("normal", {0: 1.0, 2: 1.0, 4: 3.0, 8: 105.0}),
        ("weibull", {0: 1.0, 1: math.sqrt(math.pi / 2), 2: 2.0, 4: 8.0}),
        ("maxwell", {0: 1.0, 2: 3.0, 4: 15.0, 6: 105.0}),
        ("uniform", {0: 1.0, 1: 0.5, 3: 0.25}),
    ],
)
def test_quadrature_rules_integrate_moments(density, moments):
    nodes, weights = quadrature_rule(density)
    for j, value in moments.items():
        assert np.sum(weights * nodes**j) == pytest.approx(value, rel=1e-13)


@pytest.mark.parametrize("function, k", [("quadratic", -2.5), ("exp", 0.1), ("exp", 10.0), ("cos", 0.5), ("cos", 5.0)])
@pytest.mark.parametrize("scale", ["sigma", "log_sigma"])
def test_objective_and_gradient_closed_form_match_quadrature(function, k, scale):
    problem = GaussianTestFunction.build(function, k, mu=[1.0, -0.4], sigma=[1.0, 0.6], scale=scale)
    with jax.enable_x64(True):
        params = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), problem.init_params())
        mom = problem.score_moments(params)
        grad = jax.grad(problem.objective)(params)
        nodes, weights = quadrature_rule("normal")
        mu, sigma = problem.gaussian(params)
        x = mu[None, :] + sigma[None, :] * jnp.asarray(nodes)[:, None]
        quad_objective = float(jnp.sum(jnp.asarray(weights)[:, None] * problem.coordinate_function(x)))
        assert float(problem.objective(params)) == pytest.approx(quad_objective, rel=1e-12, abs=1e-14)
        # grad J = E[f psi] (log-derivative identity), by quadrature
        for a, b in zip(jax.tree.leaves(grad), jax.tree.leaves(mom.r_psi)):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-11, atol=1e-13)
        # ... and = E[df/dtheta] (pathwise identity)
        for a, b in zip(jax.tree.leaves(grad), jax.tree.leaves(mom.dr)):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("mu, sigma, k", [(1.0, 1.0, -3.0), (1.0, 1.0, 1.0), (0.3, 1.7, 2.2)])
def test_quadratic_exact_variances_match_polynomial_closed_forms(mu, sigma, k):
    names = [
        "reinforce",
        "optimal_baseline_exact",
        "pathwise",
        "measure_valued",
        "measure_valued_coupled",
        "delta_cv_score",
        "delta_cv_pathwise",
    ]
    problem = GaussianTestFunction.build("quadratic", k, mu=mu, sigma=sigma)
    got = exact(problem, names)
    want = quadratic_closed_forms(mu, sigma, k)
    scale = want["sigma"]["reinforce"]
    for name in names:
        np.testing.assert_allclose(
            got[name], [want["mu"][name], want["sigma"][name]], rtol=1e-10, atol=1e-11 * scale, err_msg=name
        )


@pytest.mark.parametrize(
    "function, k", [("exp", 0.1), ("exp", 1.0), ("exp", 10.0), ("cos", 0.5), ("cos", 2.0), ("cos", 5.0)]
)
def test_reinforce_exact_variance_matches_stein_closed_form(function, k):
    for mu, sigma in [(1.0, 1.0), (-0.5, 0.7)]:
        got = exact(GaussianTestFunction.build(function, k, mu=mu, sigma=sigma), ["reinforce"])["reinforce"]
        np.testing.assert_allclose(got, stein_reinforce_variances(function, mu, sigma, k), rtol=1e-10)


def test_cross_terms_of_a_sum_over_coordinates_match_two_dimensional_quadrature():
    """D = 2: E[(g(x1) + g(x2))^2 psi_c^2] by the factorised formula equals a brute-force 2-D integral."""
    problem = GaussianTestFunction.build("cos", 1.7, mu=[1.0, -0.3], sigma=[0.8, 1.3])
    with jax.enable_x64(True):
        params = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), problem.init_params())
        mom = problem.score_moments(params)
        nodes, weights = quadrature_rule("normal", 48)
        z1, z2 = np.meshgrid(nodes, nodes, indexing="ij")
        w = np.outer(weights, weights)
        mu, sigma = np.asarray(params.mu), np.asarray(params.sigma)
        f = np.cos(1.7 * (mu[0] + sigma[0] * z1)) + np.cos(1.7 * (mu[1] + sigma[1] * z2))
        for c, z in enumerate((z1, z2)):
            psi_mu, psi_sigma = z / sigma[c], (z**2 - 1) / sigma[c]
            assert float(mom.r2_psi2.mu[c]) == pytest.approx(np.sum(w * f**2 * psi_mu**2), rel=1e-12)
            assert float(mom.r2_psi2.sigma[c]) == pytest.approx(np.sum(w * f**2 * psi_sigma**2), rel=1e-12)
            assert float(mom.r_psi2.sigma[c]) == pytest.approx(np.sum(w * f * psi_sigma**2), rel=1e-12)


@pytest.mark.parametrize("function, k", [("quadratic", 3.0), ("exp", 10.0), ("cos", 5.0)])
def test_quadrature_error_is_bounded_by_doubling_the_panels(function, k):
    """The exact variances change by less than 1e-10 (relative; absolute for exact zeros) when the number of
    panels is doubled from the default 96 to 192, at the hardest settings: the sharp peak exp(-k x^2) at large
    k with a wide Gaussian, and the fastest oscillation of cos(k x)."""
    names = [
        "reinforce",
        "optimal_baseline_exact",
        "pathwise",
        "measure_valued",
        "measure_valued_coupled",
        "delta_cv_score",
        "delta_cv_pathwise",
    ]
    for mu, sigma in [(1.0, 1.0), (0.0, 2.0)]:
        coarse = GaussianTestFunction.build(function, k, mu=mu, sigma=sigma)
        fine = dataclasses.replace(coarse, quadrature_panels=192)
        a, b = exact(coarse, names), exact(fine, names)
        scale = float(np.max(b["reinforce"]))
        for name in names:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-10, atol=1e-12 * scale, err_msg=name)


def test_log_sigma_variances_are_sigma_squared_times_sigma_variances():
    names = ["reinforce", "pathwise", "measure_valued_coupled", "delta_cv_score"]
    plain = GaussianTestFunction.build("exp", 2.0, mu=[0.5, 1.0], sigma=[0.7, 1.5])
    logs = dataclasses.replace(plain, scale="log_sigma")
    a, b = exact(plain, names), exact(logs, names)
    sigma2 = np.array([1, 1, 0.49, 2.25])
    for name in names:
        np.testing.assert_allclose(b[name], a[name] * sigma2, rtol=1e-12, err_msg=name)


# ----------------------------------------------------------------------------------------------------------
# The problem interface
# ----------------------------------------------------------------------------------------------------------


def test_interface_shapes_and_parameters():
    problem = GaussianTestFunction.build("cos", 2.0, mu=[1.0, 0.0, -1.0], sigma=0.5)
    params = problem.init_params()
    assert isinstance(params, GaussianParams) and params.mu.shape == (3,) and params.sigma.shape == (3,)
    noise = problem.sample_noise(jax.random.key(0), 5)
    x = problem.sample(params, noise)
    assert x.shape == (5, 3) and problem.reward(x).shape == (5,) and problem.log_prob(params, x).shape == (5,)
    np.testing.assert_allclose(problem.reward(x), np.sum(np.cos(2.0 * np.asarray(x)), axis=1), rtol=1e-6)
    logs = dataclasses.replace(problem, scale="log_sigma").init_params()
    assert isinstance(logs, GaussianLogParams)
    np.testing.assert_allclose(np.exp(logs.log_sigma), 0.5, rtol=1e-6)
    assert "cos(k x)" in problem.describe()


def test_with_k_accepts_a_traced_k():
    problem = GaussianTestFunction.build("exp", 1.0)
    params = problem.init_params()
    ks = jnp.array([0.1, 1.0, 10.0])
    traced = jax.jit(jax.vmap(lambda k: problem.with_k(k).objective(params)))(ks)
    eager = [GaussianTestFunction.build("exp", float(k)).objective(params) for k in ks]
    np.testing.assert_allclose(traced, eager, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"function": "sine", "k": 1.0}, "function"),
        ({"function": "exp", "k": -1.0}, "k"),
        ({"function": "cos", "k": float("nan")}, "k"),
        ({"function": "cos", "k": 1.0, "sigma": -1.0}, "sigma"),
        ({"function": "cos", "k": 1.0, "mu": [1.0, 2.0], "sigma": [1.0, 1.0, 1.0]}, "sigma"),
        ({"function": "cos", "k": 1.0, "scale": "variance"}, "scale"),
    ],
)
def test_bad_problems_raise_config_errors_naming_the_field(kwargs, field):
    with pytest.raises(ConfigError) as info:
        GaussianTestFunction.build(**kwargs)
    assert info.value.field == field


# ----------------------------------------------------------------------------------------------------------
# Antithetic sampling
# ----------------------------------------------------------------------------------------------------------


def test_antithetic_pairs_noise_and_refuses_odd_n():
    problem = Antithetic(GaussianTestFunction.build("cos", 1.0, mu=[0.0, 1.0]))
    noise = problem.sample_noise(jax.random.key(3), 6)
    np.testing.assert_array_equal(noise[3:], -noise[:3])
    assert problem.iid_samples is False and problem.dim == 2 and "antithetic" in problem.describe()
    with pytest.raises(ConfigError) as info:
        problem.sample_noise(jax.random.key(3), 5)
    assert info.value.field == "ns"
    bandit = Antithetic(LinearGaussianBandit.build(state=[1.0, 0.5], theta=[0.2, -0.3], sigma=1.0, state_std=0.5))
    bandit_noise = bandit.sample_noise(jax.random.key(0), 4)
    np.testing.assert_array_equal(bandit_noise["eps"][2:], -bandit_noise["eps"][:2])
    np.testing.assert_array_equal(bandit_noise["z"][2:], -bandit_noise["z"][:2])


def test_antithetic_pathwise_mean_gradient_of_a_quadratic_is_exact():
    """For f = (x - k)^2 the pathwise mu-estimate 2 (x - k) is linear in eps, so each antithetic pair gives the
    exact gradient 2 (mu - k): zero variance, for every seed."""
    problem = Antithetic(GaussianTestFunction.build("quadratic", -1.0, mu=[0.5, 2.0]))
    params = problem.init_params()
    sweep = pgjax.run_sweep(problem, params, {"pathwise": make_estimator("pathwise")}, ns=[2], n_seeds=64)
    np.testing.assert_allclose(sweep.estimates["pathwise"][2][:, :2], np.tile([3.0, 6.0], (64, 1)), rtol=1e-5)


def test_antithetic_estimators_stay_unbiased_and_exact_variances_are_withheld():
    """Antithetic noise works with the measure-valued and delta-method estimators (the estimated coefficient
    leaves out the whole antithetic pair: leaving out sample i alone would bias it) (unbiasedness at
    alpha = 1e-6 per estimator, Bonferroni over the 4 coordinates); exact i.i.d. variances are withheld."""
    problem = Antithetic(GaussianTestFunction.build("cos", 1.5, mu=[1.0, 0.2], sigma=[1.0, 0.8]))
    params = problem.init_params()
    names = ["measure_valued_coupled", "delta_cv_score_est"]
    estimators = {n: make_estimator(n) for n in names}
    sweep = pgjax.run_sweep(problem, params, estimators, ns=[8], n_seeds=3000)
    z = unbiasedness_z(4)
    for name in names:
        x = sweep.estimates[name][8].astype(np.float64)
        half_width = z * x.std(axis=0, ddof=1) / math.sqrt(len(x))
        assert np.all(np.abs(x.mean(axis=0) - sweep.true_grad) <= half_width), name
    assert make_estimator("measure_valued_coupled").single_sample_variance(problem, params) is None
    assert make_estimator("delta_cv_score").single_sample_variance(problem, params) is None


# ----------------------------------------------------------------------------------------------------------
# The variance-versus-n experiment on the test functions
# (its run through the CLI, with the evals_per_sample and work_var columns, exact variances and the cost figure,
# is tests/experiments/test_variance_vs_n.py's test-function case)
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"function": "sine"}, "function"),
        ({"function": "exp", "k": -2.0}, "k"),
        ({"estimators": ("nope",)}, "estimators"),
        ({"antithetic": True, "ns": (2, 3)}, "ns"),
        ({"sigma": (1.0, 2.0, 3.0)}, "sigma"),
    ],
)
def test_test_function_variance_config_errors_name_the_field(changes, field):
    from pgjax.experiments import test_function_variance as tfv

    with pytest.raises(ConfigError) as info:
        dataclasses.replace(tfv.Config(), **changes).validate()
    assert info.value.field == field

"""Control variates by the delta method: a second-order Taylor expansion of f around the Gaussian's mean.

Construction (Paisley, Blei & Jordan 2012; Miller et al. 2017; Mohamed et al. 2020, Section 7.4, control
variates, "delta method"). For x ~ N(mu, diag(sigma^2)) expand f around the expansion point mu0 = mu (held
fixed, i.e. not differentiated):

    h(x) = f(mu0) + (x - mu0) . grad f(mu0) + 1/2 sum_d H_dd(mu0) (x_d - mu0_d)^2,

with the Hessian diagonal H_dd by automatic differentiation (D Hessian-vector products). Its expectation is in
closed form, E_theta[h] = f(mu0) + (mu - mu0) . grad f(mu0) + 1/2 sum_d H_dd ((mu_d - mu0_d)^2 + sigma_d^2),
so grad_theta E[h] is known exactly (at mu0 = mu: grad f(mu0) for mu_d, sigma_d H_dd for sigma_d). With a
base estimator G (score function or pathwise) applied to f and to h on the same samples,

    g = G[f] - beta (G[h] - grad_theta E[h])

is unbiased for grad_theta E[f] for any beta fixed in advance, and exact (zero variance) when f is itself
quadratic with a diagonal Hessian.

The coefficient beta (one per parameter coordinate c) is either fixed at 1, or estimated without bias by
leave-one-out: with per-sample a_ic = G[f](x_i)_c and b_ic = G[h](x_i)_c - grad_c E[h] (mean exactly 0),

    beta_{-i,c} = Cov_{j != i}(a_jc, b_jc) / Var_{j != i}(b_jc),     g_c = (1/n) sum_i (a_ic - beta_{-i,c} b_ic),

(sample covariance and variance over the other n - 1 samples) which estimates the variance-minimising
beta*_c = Cov(a, b) / Var(b) without using sample i, so E[beta_{-i} b_i] = E[beta_{-i}] E[b_i] = 0 and g stays
unbiased. When the samples come in dependent groups (antithetic pairs: ``problem.sample_groups(n)``), the
whole group of sample i is left out instead. With fewer than 4 other samples (groups) the ratio has infinite
variance (1 / Var_{-i}(b) has infinite mean below 3 degrees of freedom), so below 5 independent samples the
estimated coefficient falls back to beta = 1. The estimated versions are not averages of i.i.d. terms, so they have no exact single-sample
variance.

Cost accounting (per n-sample estimate): the base estimator's n evaluations of f (pathwise: f and its
gradient), plus, once per estimate, f(mu0), grad f(mu0) and D Hessian-vector products at the mean; counting
a gradient or a Hessian-vector product as one evaluation, that is n + 2 + D evaluations, i.e.
1 + (2 + D) / n per sample (:meth:`function_evaluations`). h itself is a quadratic and needs no evaluation of
f. The estimated coefficient reuses the same samples and costs no extra evaluations.

Needs a problem with Gaussian structure (``gaussian(params) -> (mu, sigma)``, ``f(x)``) whose reward is f of
the Gaussian variable x (``gaussian_variable(outcome)``; the bandit's action). The score-function version uses
the problem's own score: on the bandit with a random state, the score of a given s, which keeps
E[h psi] = grad E[h] and so the estimate unbiased.
Randomness: only ``problem.sample_noise(key, n)`` (common random numbers with the other estimators).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.estimators.base import Estimator, register
from pgjax.estimators.score_function import draw
from pgjax.problems.base import (
    ExactScoreMoments,
    GaussianStructure,
    GroupedSamples,
    Params,
    Problem,
    SeparableGaussian,
    iid_samples,
)
from pgjax.tree_util import vary_like

#: With fewer independent samples (or groups) than this, the estimated coefficient is replaced by 1.
MIN_SAMPLES_ESTIMATED_COEFFICIENT = 5


def taylor_expansion(f: Callable[[jax.Array], jax.Array], mu0: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(f(mu0), grad f(mu0), diag Hessian of f at mu0), each by autodiff; mu0 (D,)."""
    value, grad = jax.value_and_grad(f)(mu0)
    # The tangents must vary over the engine's devices like mu0 (which comes from the device-varying params):
    # inside jax.shard_map, the forward-mode rules of mul and integer_pow (x * x, x**2: the quadratic and exp
    # test functions, not cos) reject a constant tangent against a varying primal.
    basis = vary_like(jnp.eye(mu0.shape[-1], dtype=mu0.dtype), mu0)
    hessian_diag = jax.vmap(lambda v: jnp.vdot(v, jax.jvp(jax.grad(f), (mu0,), (v,))[1]))(basis)
    return value, grad, hessian_diag


def delta_quadratic(
    value: jax.Array, grad: jax.Array, hessian_diag: jax.Array, mu0: jax.Array
) -> Callable[[jax.Array], jax.Array]:
    """h(x) = value + (x - mu0) . grad + 1/2 sum_d hessian_diag_d (x_d - mu0_d)^2, for x (..., D)."""

    def h(x: jax.Array) -> jax.Array:
        dx = x - mu0
        return value + jnp.sum(dx * grad, axis=-1) + 0.5 * jnp.sum(hessian_diag * dx**2, axis=-1)

    return h


def delta_expectation(
    value: jax.Array,
    grad: jax.Array,
    hessian_diag: jax.Array,
    mu0: jax.Array,
    mu: jax.Array,
    sigma: jax.Array,
) -> jax.Array:
    """E[h(x)] for x ~ N(mu, diag(sigma^2)), in closed form (differentiable in mu and sigma)."""
    dm = mu - mu0
    return value + jnp.sum(dm * grad) + 0.5 * jnp.sum(hessian_diag * (dm**2 + sigma**2))


def _loo_coefficient(a: jax.Array, b: jax.Array, groups: np.ndarray | None = None) -> jax.Array:
    """beta_{-i} = Cov_{-i}(a, b) / Var_{-i}(b) along axis 0: the regression coefficient of a on b over the
    samples outside G(i), with G(i) = {i} or the group of sample i (``groups``: (n,) integer ids); 1 where
    that variance is 0. Centred, so a shift of a by a constant does not change it."""
    # Shift by the batch means first: the formula is shift-invariant (so beta_{-i} still uses no information
    # from sample i), and the float32 sums below then do not cancel catastrophically.
    a = a - jnp.mean(a, axis=0)
    b = b - jnp.mean(b, axis=0)
    parts = jnp.stack([a, b, a * b, b * b])  # (4, n, ...)
    total = jnp.sum(parts, axis=1, keepdims=True)
    if groups is None:
        own, size = parts, 1
    else:
        ids = jnp.asarray(groups)
        own = jax.vmap(lambda p: jax.ops.segment_sum(p, ids, int(np.max(groups)) + 1)[ids])(parts)
        size = np.bincount(groups)[groups].reshape((-1,) + (1,) * (a.ndim - 1))
    s_a, s_b, s_ab, s_bb = total - own
    m = a.shape[0] - size  # samples outside the group
    cov = s_ab - s_a * s_b / m
    var = s_bb - s_b**2 / m
    return jnp.where(var > 0, cov / jnp.where(var > 0, var, 1.0), 1.0)


def _groups(problem: Problem, n: int) -> tuple[np.ndarray | None, int]:
    """(group ids or None for independent samples, number of independent groups)."""
    if not isinstance(problem, GroupedSamples):
        return None, n
    groups = np.asarray(problem.sample_groups(n))
    return groups, len(np.unique(groups))


class _DeltaMethodCV(Estimator):
    """Shared code of the delta-method control-variate estimators (see the module docstring)."""

    base: ClassVar[str]  # "score_function" or "pathwise"
    estimate_coefficient: ClassVar[bool]
    requires: ClassVar[tuple[type, ...]] = (GaussianStructure,)

    @classmethod
    def function_evaluations(cls, dim: int, n: int = 1) -> float:
        """1 + (2 + D) / n evaluations per sample (see the module docstring)."""
        return 1.0 + (2.0 + dim) / n

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        self.check(problem)
        mu0 = jax.lax.stop_gradient(problem.gaussian(params)[0])
        value, grad_f, hess = taylor_expansion(problem.f, mu0)
        h = delta_quadratic(value, grad_f, hess, mu0)
        grad_eh = jax.grad(lambda p: delta_expectation(value, grad_f, hess, mu0, *problem.gaussian(p)))(params)
        groups, independent = _groups(problem, n)
        estimated = self.estimate_coefficient and independent >= MIN_SAMPLES_ESTIMATED_COEFFICIENT

        if self.base == "score_function":
            outcome, rewards = draw(key, params, problem, n)
            h_values = h(problem.gaussian_variable(outcome))
            if not estimated:  # (1/n) sum (f_i - h_i) psi_i + grad E[h], one backward pass
                residual = jax.lax.stop_gradient(rewards - h_values)
                g = jax.grad(lambda p: jnp.mean(residual * problem.log_prob(p, outcome)))(params)
                return jax.tree.map(jnp.add, g, grad_eh)
            scores = jax.jacfwd(problem.log_prob)(params, outcome)  # leaves (n, *leaf)
            per_f = jax.tree.map(lambda s: _times(rewards, s), scores)
            per_h = jax.tree.map(lambda s: _times(h_values, s), scores)
        else:
            noise = problem.sample_noise(key, n)

            def residual(
                p: Params, noise: object
            ) -> tuple[jax.Array, jax.Array]:  # f - h at the samples, differentiable in p; noise may be a pytree
                outcome = problem.sample(p, noise)
                return problem.reward(outcome), h(problem.gaussian_variable(outcome))

            if not estimated:
                g = jax.grad(lambda p: jnp.mean(jnp.subtract(*residual(p, noise))))(params)
                return jax.tree.map(jnp.add, g, grad_eh)
            one = lambda e: jax.tree.map(lambda v: v[None], e)  # one sample's noise, as a batch of 1
            per_f = jax.vmap(lambda e: jax.grad(lambda p: residual(p, one(e))[0][0])(params))(noise)
            per_h = jax.vmap(lambda e: jax.grad(lambda p: residual(p, one(e))[1][0])(params))(noise)

        def combine(a: jax.Array, b_raw: jax.Array, expected: jax.Array) -> jax.Array:
            b = b_raw - expected
            return jnp.mean(a - jax.lax.stop_gradient(_loo_coefficient(a, b, groups)) * b, axis=0)

        return jax.tree.map(combine, per_f, per_h, grad_eh)

    def single_sample_variance(self, problem: Problem, params: Params) -> Params | None:
        """Exact single-sample variance for beta = 1, by quadrature (float64): the base estimator's variance
        for the residual r = f - h, coordinate by coordinate (f - h is again a sum over coordinates of
        g(x_d) - q_d(x_d), q_d the per-coordinate Taylor polynomial). None for the estimated coefficient,
        for problems without ``coordinate_function`` / ``score_moments``, or for non-i.i.d. samplers."""
        if self.estimate_coefficient or not (
            isinstance(problem, SeparableGaussian)
            and isinstance(problem, ExactScoreMoments)
            and isinstance(problem, GaussianStructure)
            and iid_samples(problem)
        ):
            return None
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), params)
            return jax.device_get(self.exact_variance(problem, p64))

    def exact_variance(self, problem: Problem, params: Params) -> Params:
        """The single-sample variance (beta = 1), shaped like params, as a traceable function; see
        :meth:`single_sample_variance`. Use float64 params for full accuracy."""
        mom = problem.score_moments(params, coordinate_fn=delta_residual(problem, params))
        if self.base == "score_function":
            second, first = mom.r2_psi2, mom.r_psi
        else:
            second, first = mom.dr2, mom.dr
        return jax.tree.map(lambda s, f: s - f**2, second, first)


def _times(values: jax.Array, leaf: jax.Array) -> jax.Array:
    """values (n,) times a per-sample leaf (n, ...), broadcasting over the leaf's trailing axes."""
    return values.reshape(values.shape + (1,) * (leaf.ndim - 1)) * leaf


def delta_residual(problem: SeparableGaussian, params: Params) -> Callable[[jax.Array], jax.Array]:
    """The per-coordinate residual x -> g(x_d) - q_d(x_d) of the delta expansion at mu (x of shape (K, D)),
    with q_d(x) = g(mu_d) + g'(mu_d)(x - mu_d) + g''(mu_d)(x - mu_d)^2 / 2."""
    mu = problem.gaussian(params)[0]
    g = problem.coordinate_function
    g1 = jax.vmap(jax.grad(g))(mu)
    g2 = jax.vmap(jax.grad(jax.grad(g)))(mu)
    g0 = g(mu)
    return lambda x: g(x) - (g0 + g1 * (x - mu) + 0.5 * g2 * (x - mu) ** 2)


@register
@dataclasses.dataclass(frozen=True)
class DeltaCVScore(_DeltaMethodCV):
    """Score function with the delta-method control variate, beta = 1:
    g = (1/n) sum_i (f(x_i) - h(x_i)) psi_i + grad E[h] (Paisley et al. 2012; Mohamed et al. 2020, Section 7.4).
    Unbiased; exact for quadratic f. See the module docstring."""

    name: ClassVar[str] = "delta_cv_score"
    base: ClassVar[str] = "score_function"
    estimate_coefficient: ClassVar[bool] = False
    iid: ClassVar[bool] = True


@register
@dataclasses.dataclass(frozen=True)
class DeltaCVScoreEstimated(_DeltaMethodCV):
    """Score function with the delta-method control variate and a leave-one-out estimated coefficient
    beta_{-i,c} (unbiased; beta = 1 below 5 independent samples). See the module docstring."""

    name: ClassVar[str] = "delta_cv_score_est"
    base: ClassVar[str] = "score_function"
    estimate_coefficient: ClassVar[bool] = True


@register
@dataclasses.dataclass(frozen=True)
class DeltaCVPathwise(_DeltaMethodCV):
    """Pathwise estimator with the delta-method control variate, beta = 1:
    g = (1/n) sum_i grad_theta [f - h](x(theta, eps_i)) + grad E[h] (Miller et al. 2017; Mohamed et al. 2020,
    Section 7.4). Unbiased; exact for quadratic f. See the module docstring."""

    name: ClassVar[str] = "delta_cv_pathwise"
    base: ClassVar[str] = "pathwise"
    estimate_coefficient: ClassVar[bool] = False
    iid: ClassVar[bool] = True


@register
@dataclasses.dataclass(frozen=True)
class DeltaCVPathwiseEstimated(_DeltaMethodCV):
    """Pathwise estimator with the delta-method control variate and a leave-one-out estimated coefficient
    (unbiased; beta = 1 below 5 independent samples). See the module docstring."""

    name: ClassVar[str] = "delta_cv_pathwise_est"
    base: ClassVar[str] = "pathwise"
    estimate_coefficient: ClassVar[bool] = True

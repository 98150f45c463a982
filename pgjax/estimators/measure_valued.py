"""Measure-valued gradient estimators for the mean and scale of a diagonal Gaussian.

The measure-valued derivative (Pflug 1989; Heidergott & Vazquez-Abad 2000; Mohamed et al. 2020, Section 6,
eq. 44) writes the derivative of a density as a scaled difference of two densities,

    d/dtheta_c p(x; theta) = c_theta (p+(x) - p-(x)),   so   d/dtheta_c E_p[f] = c_theta (E_{p+}[f] - E_{p-}[f]),

and estimates the two expectations by sampling. For a Gaussian coordinate x_c ~ N(mu_c, sigma_c^2) the
decompositions are (Mohamed et al. 2020, Table 1):

    mean   c = 1 / (sigma_c sqrt(2 pi)),  p+ : x_c = mu_c + sigma_c w,  p- : x_c = mu_c - sigma_c w',
           w, w' ~ Weibull(shape 2, scale sqrt 2) (density w exp(-w^2/2) on w > 0, i.e. Rayleigh(1));
    scale  c = 1 / sigma_c,               p+ : x_c = mu_c + sigma_c m,  p- : x_c = mu_c + sigma_c eps,
           m ~ double-sided Maxwell (density m^2 exp(-m^2/2) / sqrt(2 pi)), eps ~ N(0, 1).

Only coordinate c is replaced; the others keep the values of the shared base sample x ~ N(mu, sigma^2), so
the estimate of coordinate c is, per sample,

    g_mu_c    = (f(x with x_c <- mu_c + sigma_c w_c) - f(x with x_c <- mu_c - sigma_c w'_c)) / (sigma_c sqrt(2 pi)),
    g_sigma_c = (f(x with x_c <- mu_c + sigma_c m_c) - f(x with x_c <- [negative part]))       / sigma_c.

Coupling (Mohamed et al. 2020, Section 7.2, common random numbers): the positive and negative parts may share
their randomness. ``measure_valued_coupled`` reuses the Weibull draw (w' = w) and takes the scale's negative
part as mu_c + sigma_c m_c u_c with u_c ~ U[0, 1] (m u is exactly N(0, 1) when m is double-sided Maxwell), as in
the paper's Figures 2 and 3. ``measure_valued`` (uncoupled) draws w' independently and uses the base sample x
itself as the scale's negative part.

Cost: 2 evaluations of f per sample and parameter coordinate, i.e. 2 D evaluations of f for the mean and 2 D
for the scale (4 D per sample for both; the uncoupled estimator shares its D scale negative parts, the base
sample f(x), so it needs 3 D + 1). See :meth:`function_evaluations`.

Randomness: the base sample comes from ``problem.sample_noise(key, n)`` (common random numbers with every
other estimator); the Weibull, Maxwell and uniform draws come from ``fold_in(key, 1)`` (see
:func:`auxiliary_draws`).

The estimators need a problem with Gaussian structure (``gaussian(params) -> (mu, sigma)``, ``f(x)``, and
``gaussian_variable(outcome)`` where an outcome is more than x: the bandit's action) and return the gradient for
the problem's own parameters through the chain rule (e.g. d/dlog sigma = sigma d/dsigma; for the bandit,
through the action's marginal mean theta . m and standard deviation).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import jax.scipy.special

from pgjax.estimators.base import Estimator, register
from pgjax.problems.base import GaussianStructure, Params, Problem, SeparableGaussian, iid_samples
from pgjax.problems.gaussian_test_functions import rule

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def replace_coordinate(x: jax.Array, values: jax.Array) -> jax.Array:
    """x (n, D), values (n, D) -> (n, D, D): entry [i, c] is x_i with coordinate c set to values[i, c]."""
    dim = x.shape[-1]
    return jnp.where(jnp.eye(dim, dtype=bool)[None], values[:, :, None], x[:, None, :])


def auxiliary_draws(
    key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype, coupled: bool
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(w, w', m, u), each of ``shape``: Rayleigh(1) draws w and w' (w' = w when coupled), a double-sided
    Maxwell m and a U[0, 1] u, all from one flat draw of 9 standard normals per entry: w = |(z1, z2)|,
    w' = |(z3, z4)|, m = sign(z5) |(z6, z7, z8)|, u = Phi(z9). (One flat draw, reshaped, compiles several
    times faster on CPU than random arrays with a short trailing axis.)"""
    size = math.prod(shape)
    z = jax.random.normal(key, (9 * size,), dtype).reshape((9,) + tuple(shape))
    w = jnp.sqrt(z[0] ** 2 + z[1] ** 2)
    w_neg = w if coupled else jnp.sqrt(z[2] ** 2 + z[3] ** 2)
    m = jnp.sign(z[4]) * jnp.sqrt(z[5] ** 2 + z[6] ** 2 + z[7] ** 2)
    u = jax.scipy.special.ndtr(z[8])
    return w, w_neg, m, u


class _MeasureValued(Estimator):
    """Shared code of the coupled and uncoupled measure-valued estimators (see the module docstring)."""

    coupled: ClassVar[bool]
    requires: ClassVar[tuple[type, ...]] = (GaussianStructure,)
    iid: ClassVar[bool] = True

    @classmethod
    def function_evaluations(cls, dim: int, n: int = 1) -> float:
        """Evaluations of f per sample: 4 D coupled, 3 D + 1 uncoupled (the mean's 2 D plus the scale's)."""
        return 4.0 * dim if cls.coupled else 3.0 * dim + 1.0

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        self.check(problem)
        mu, sigma = jax.lax.stop_gradient(problem.gaussian(params))
        outcome = problem.sample(params, problem.sample_noise(key, n))
        x = jax.lax.stop_gradient(problem.gaussian_variable(outcome))  # (n, D)
        w, w_neg, m, u = auxiliary_draws(jax.random.fold_in(key, 1), x.shape, x.dtype, self.coupled)

        f_plus = problem.f(replace_coordinate(x, mu + sigma * w))  # (n, D)
        f_minus = problem.f(replace_coordinate(x, mu - sigma * w_neg))
        grad_mu = jnp.mean(f_plus - f_minus, axis=0) / (sigma * _SQRT_2PI)

        f_plus = problem.f(replace_coordinate(x, mu + sigma * m))
        if self.coupled:
            f_minus = problem.f(replace_coordinate(x, mu + sigma * m * u))
        else:
            f_minus = problem.f(x)[:, None]
        grad_sigma = jnp.mean(f_plus - f_minus, axis=0) / sigma

        _, vjp = jax.vjp(problem.gaussian, params)
        (grad,) = vjp((grad_mu, grad_sigma))
        return grad

    def single_sample_variance(self, problem: Problem, params: Params) -> Params | None:
        """Exact variance of a one-sample estimate by quadrature (float64), for problems that are sums of a
        per-coordinate function (``coordinate_function``); None otherwise or for non-i.i.d. samplers.

        Since only coordinate c differs between the two parts, the other coordinates cancel and
        Var(g_c) = c_theta^2 E[(g(x+) - g(x-))^2] - (grad_c)^2, a one-dimensional integral over the Weibull or
        Maxwell variable (two-dimensional, Maxwell x uniform, for the coupled scale).
        """
        if not (isinstance(problem, SeparableGaussian) and iid_samples(problem)):
            return None
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), params)
            return jax.device_get(self.exact_variance(problem, p64))

    def exact_variance(self, problem: Problem, params: Params) -> Params:
        """The single-sample variance, shaped like params, as a traceable function (jit / vmap over k);
        see :meth:`single_sample_variance`. Use float64 params for full accuracy."""
        var_mu, var_sigma = self.gaussian_variances(problem, params)
        return problem.to_params(params, var_mu, var_sigma, order=2)

    def gaussian_variances(self, problem: SeparableGaussian, params: Params) -> tuple[jax.Array, jax.Array]:
        """Single-sample variances (D,), (D,) of the estimates for mu and sigma, by quadrature."""
        mu, sigma = problem.gaussian(params)
        dtype = mu.dtype
        panels = problem.quadrature_panels
        g = problem.coordinate_function
        expect = lambda w, a, axis=0: jnp.sum(w * a, axis=axis)
        wn, ww = rule("weibull", panels, dtype)
        mn, mw = rule("maxwell", panels, dtype)
        zn, zw = rule("normal", panels, dtype)
        ww, mw, zw = ww[:, None], mw[:, None], zw[:, None]
        plus_mu = g(mu + sigma * wn[:, None])  # (K, D)
        minus_mu = g(mu - sigma * wn[:, None])
        plus_sigma = g(mu + sigma * mn[:, None])
        if self.coupled:
            first_mu = expect(ww, plus_mu - minus_mu)
            second_mu = expect(ww, (plus_mu - minus_mu) ** 2)
            un, uw = rule("uniform", panels, dtype)
            minus_sigma = g(mu + sigma * mn[:, None, None] * un[None, :, None])  # (Km, Ku, D)
            diff = plus_sigma[:, None, :] - minus_sigma
            weight = mw[:, :, None] * uw[None, :, None]
            first_sigma = jnp.sum(weight * diff, axis=(0, 1))
            second_sigma = jnp.sum(weight * diff**2, axis=(0, 1))
        else:
            first_mu = expect(ww, plus_mu) - expect(ww, minus_mu)
            second_mu = (
                expect(ww, plus_mu**2) - 2 * expect(ww, plus_mu) * expect(ww, minus_mu) + expect(ww, minus_mu**2)
            )
            normal = g(mu + sigma * zn[:, None])
            first_sigma = expect(mw, plus_sigma) - expect(zw, normal)
            second_sigma = (
                expect(mw, plus_sigma**2) - 2 * expect(mw, plus_sigma) * expect(zw, normal) + expect(zw, normal**2)
            )
        c_mu = 1.0 / (sigma * _SQRT_2PI)
        var_mu = c_mu**2 * (second_mu - first_mu**2)
        var_sigma = (second_sigma - first_sigma**2) / sigma**2
        return var_mu, var_sigma


@register
@dataclasses.dataclass(frozen=True)
class MeasureValued(_MeasureValued):
    """Measure-valued derivative for a Gaussian's mean and scale, uncoupled (Mohamed et al. 2020, Section 6,
    Table 1): independent Weibull draws w, w' for the mean's parts, the base sample as the scale's negative
    part. Unbiased; 3 D + 1 evaluations of f per sample. See the module docstring for the formulas."""

    name: ClassVar[str] = "measure_valued"
    coupled: ClassVar[bool] = False


@register
@dataclasses.dataclass(frozen=True)
class MeasureValuedCoupled(_MeasureValued):
    """Measure-valued derivative with coupled positive and negative parts (Mohamed et al. 2020, Section 6,
    Table 1, with the coupling of Section 7.2 used in its Figures 2 and 3): w' = w for the mean, and
    mu + sigma m u (u ~ U[0, 1]) as the negative part for the scale. Unbiased; 4 D evaluations of f per
    sample. See the module docstring for the formulas."""

    name: ClassVar[str] = "measure_valued_coupled"
    coupled: ClassVar[bool] = True

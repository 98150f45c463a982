r"""Per-sample Monte Carlo Jacobians of grad_theta E_{p(x; theta)}[f(x)], with optax.monte_carlo's interface.

``optax.monte_carlo`` (removed in optax 0.2.7) ported the estimators of Mohamed, Rosca, Figurnov & Mnih
(2020), "Monte Carlo Gradient Estimation in Machine Learning", to JAX. These functions keep its names,
argument order and outputs: for ``params`` a sequence of arrays (``dist_builder(*params)`` builds p), each
returns a list or tuple with one array per parameter, of shape ``(num_samples,) + param.shape``, whose row i
is the estimate from sample i alone. The mean over rows is the gradient estimate; the rows are i.i.d., so
their variance is the single-sample variance of the estimator. f does not depend on theta (wrap it in
``jax.lax.stop_gradient`` and apply the chain rule outside if it does). With ``multi_normal`` and the same key
the samples are those optax drew, so the numbers are optax's up to floating-point rounding.

    score function (Mohamed et al. 2020, Section 4; Williams 1992)   J_i = f(x_i) grad_theta log p(x_i; theta)
    pathwise       (Section 5; Kingma & Welling 2014)                 J_i = grad_theta f(x(theta, eps_i))
    measure-valued (Section 6, Table 1)                               J_i = c_theta (f(x_i^+) - f(x_i^-))

The score-function rows are pgjax's REINFORCE (:mod:`pgjax.estimators.score_function`: ``draw`` and
``weighted_score_mean``) on one sample each; the pathwise rows are the Jacobian of the per-sample rewards
whose mean pgjax's ``Pathwise`` differentiates; the measure-valued rows replace one coordinate of the base
sample at a time (:func:`pgjax.estimators.measure_valued.replace_coordinate`) with optax's draws.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import chex
import jax
import jax.numpy as jnp

from pgjax.estimators.measure_valued import replace_coordinate
from pgjax.estimators.score_function import draw, weighted_score_mean
from pgjax.mc.distributions import multi_normal

Function = Callable[[jax.Array], Any]
Params = Sequence[jax.Array]


@dataclasses.dataclass(frozen=True)
class DistributionProblem:
    """``E_{p(x; params)}[function(x)]`` with p = ``dist_builder(*params)`` as a pgjax problem (the part of the
    :class:`~pgjax.problems.base.Problem` contract that the estimators use; there is no exact objective).

    The noise of ``num_samples`` samples is the key itself: ``sample(params, key)`` is
    ``dist_builder(*params).sample((num_samples,), key=key)``, which is differentiable in params for a
    reparameterisable distribution such as :func:`multi_normal`.
    """

    function: Function
    dist_builder: Callable[..., Any]
    num_samples: int
    name: str = "distribution"

    def sample_noise(self, key: jax.Array, n: int) -> jax.Array:
        if n != self.num_samples:
            raise ValueError(f"num_samples: this problem draws {self.num_samples} samples (asked for {n})")
        return key

    def sample(self, params: Params, noise: jax.Array) -> jax.Array:
        return self.dist_builder(*params).sample((self.num_samples,), key=noise)

    def log_prob(self, params: Params, outcome: jax.Array) -> jax.Array:
        return self.dist_builder(*params).log_prob(outcome)

    def reward(self, outcome: jax.Array) -> jax.Array:
        """function(x_i) for each sample, mapped with ``jax.vmap`` (function need not be vectorised)."""
        return jax.vmap(self.function)(outcome)


def _check_num_samples(num_samples: int) -> None:
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples: must be an integer >= 1 (got {num_samples!r})")


def score_function_jacobians(
    function: Function, params: Params, dist_builder: Callable[..., Any], rng: jax.Array, num_samples: int
) -> Sequence[jax.Array]:
    r"""Score-function (likelihood-ratio, REINFORCE) Jacobians (Mohamed et al. 2020, Section 4):

        J_i = f(x_i) \nabla_\theta \log p(x_i; \theta),    x_i ~ p(.; \theta) i.i.d., i = 1..num_samples.

    Needs only log p differentiable in theta; f may be anything (discrete x too). Returns, like params, one
    array per parameter of shape ``(num_samples,) + param.shape``.
    """
    _check_num_samples(num_samples)
    problem = DistributionProblem(function, dist_builder, num_samples)
    outcome, rewards = draw(rng, params, problem, num_samples)
    one = lambda x, r: weighted_score_mean(params, problem, x[None], r[None])
    return jax.vmap(one)(outcome, rewards)


def pathwise_jacobians(
    function: Function, params: Params, dist_builder: Callable[..., Any], rng: jax.Array, num_samples: int
) -> Sequence[jax.Array]:
    r"""Pathwise (reparameterisation) Jacobians (Mohamed et al. 2020, Section 5):

        J_i = \nabla_\theta f(g(\epsilon_i, \theta)),    x_i = g(\epsilon_i, \theta) = dist.sample(...).

    Needs a reparameterisable ``dist_builder`` (``sample`` differentiable in the parameters) and a
    differentiable f. Forward-mode Jacobian of the vector (f(x_1), ..., f(x_n)); its row mean is pgjax's
    ``Pathwise`` estimate. Returns one array per parameter of shape ``(num_samples,) + param.shape``.
    """
    _check_num_samples(num_samples)
    problem = DistributionProblem(function, dist_builder, num_samples)
    noise = problem.sample_noise(rng, num_samples)
    return jax.jacfwd(lambda p: problem.reward(problem.sample(p, noise)))(params)


def _measure_valued_parts(
    function: Function, dist: Any, rng: jax.Array, num_samples: int
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """(mean, std, base samples x (n, D), positive-part key, negative-part key), as optax drew them."""
    mean, log_std = dist.params
    if jnp.ndim(mean) != 1:
        raise ValueError(f"measure-valued Jacobians need 1-D Gaussian parameters (got shape {jnp.shape(mean)})")
    x = dist.sample((num_samples,), key=rng)
    pos_rng, neg_rng = jax.random.split(rng)
    return mean, jnp.exp(log_std), x, pos_rng, neg_rng


def _coordinatewise(function: Function, x: jax.Array, values: jax.Array) -> jax.Array:
    """f(x_i with coordinate c set to values[i, c]) for every i, c -> (n, D)."""
    return jax.vmap(jax.vmap(function))(replace_coordinate(x, values))


def measure_valued_estimation_mean(
    function: Function, dist: Any, rng: jax.Array, num_samples: int, coupling: bool = True
) -> jax.Array:
    r"""Measure-valued Jacobians for the mean of a diagonal Gaussian (Mohamed et al. 2020, Table 1):

        J_ic = (f(x_i; x_ic <- \mu_c + \sigma_c w_ic) - f(x_i; x_ic <- \mu_c - \sigma_c w'_ic)) / (\sqrt{2\pi}\sigma_c),

    w, w' ~ Weibull(scale \sqrt 2, concentration 2) (w' = w with ``coupling``). Returns (num_samples, D).
    """
    mean, std, x, pos_rng, neg_rng = _measure_valued_parts(function, dist, rng, num_samples)
    weibull = lambda key: jax.random.weibull_min(key, scale=math.sqrt(2.0), concentration=2.0, shape=x.shape)
    pos = weibull(pos_rng)
    neg = pos if coupling else weibull(neg_rng)
    grads = (_coordinatewise(function, x, mean + std * pos) - _coordinatewise(function, x, mean - std * neg)) / (
        math.sqrt(2.0 * math.pi) * std
    )
    chex.assert_shape(grads, (num_samples, *std.shape))
    return grads


def measure_valued_estimation_std(
    function: Function, dist: Any, rng: jax.Array, num_samples: int, coupling: bool = True
) -> jax.Array:
    r"""Measure-valued Jacobians for the standard deviation of a diagonal Gaussian (Mohamed et al. 2020,
    Table 1):

        J_ic = (f(x_i; x_ic <- \mu_c + \sigma_c m_ic) - f(x_i; x_ic <- \mu_c + \sigma_c m'_ic)) / \sigma_c,

    m ~ double-sided Maxwell; m' = u m with u ~ U[0, 1] under ``coupling`` (exactly N(0, 1)), else m' ~ N(0, 1)
    independent. Returns (num_samples, D).
    """
    mean, std, x, pos_rng, neg_rng = _measure_valued_parts(function, dist, rng, num_samples)
    pos = jax.random.double_sided_maxwell(pos_rng, loc=0.0, scale=1.0, shape=x.shape)
    neg = jax.random.uniform(neg_rng, x.shape) * pos if coupling else jax.random.normal(neg_rng, x.shape)
    grads = (_coordinatewise(function, x, mean + std * pos) - _coordinatewise(function, x, mean + std * neg)) / std
    chex.assert_shape(grads, (num_samples, *std.shape))
    return grads


def _is_multi_normal(dist_builder: Callable[..., Any]) -> bool:
    """True for :func:`multi_normal` and, while optax still has it, ``optax.multi_normal`` (same interface)."""
    import optax

    return dist_builder is multi_normal or dist_builder is getattr(optax, "multi_normal", None)


def measure_valued_jacobians(
    function: Function,
    params: Params,
    dist_builder: Callable[..., Any],
    rng: jax.Array,
    num_samples: int,
    coupling: bool = True,
) -> Sequence[jax.Array]:
    r"""Measure-valued Jacobians (Mohamed et al. 2020, Section 6) for ``params = (loc, log_scale)`` of
    :func:`multi_normal` (or optax's ``multi_normal``), the only distribution supported (as in optax):
    ``[measure_valued_estimation_mean, exp(log_scale) * measure_valued_estimation_std]`` (the chain rule
    d/d log sigma = sigma d/d sigma). ``coupling`` shares the randomness of the positive and negative parts
    (Section 7.2), which reduces the variance. Returns a list of two (num_samples, D) arrays.
    """
    if not _is_multi_normal(dist_builder):
        raise ValueError(
            "Unsupported distribution builder for measure_valued_jacobians! (dist_builder: pgjax.mc.multi_normal "
            "or optax.multi_normal)"
        )
    _check_num_samples(num_samples)
    dist = dist_builder(*params)
    return [
        measure_valued_estimation_mean(function, dist, rng, num_samples, coupling=coupling),
        jnp.exp(dist.log_scale) * measure_valued_estimation_std(function, dist, rng, num_samples, coupling=coupling),
    ]

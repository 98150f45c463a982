"""The pathwise (reparameterisation) gradient estimator."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from pgjax.estimators.base import Estimator, register
from pgjax.problems.base import (
    EpisodeBatches,
    ExactScoreMoments,
    GaussianTrajectories,
    Params,
    Problem,
    exact_gradient,
)
from pgjax.problems.lqr import moment2, quadratic_mean


@register
@dataclasses.dataclass(frozen=True)
class Pathwise(Estimator):
    """Pathwise (reparameterisation) estimator: g = (1/n) sum_i grad_params r(x(params, eps_i)).

    Writes each sample as a differentiable function of parameter-free noise, x = x(params, eps), and
    differentiates the reward through it (Glasserman 1991; Kingma & Welling 2014; Rezende et al. 2014).
    Unbiased when r is differentiable; needs r'(a), which the score-function family does not. For the bandit,
    d r/d theta = r'(a) s and d r/d log sigma = r'(a) sigma eps, so the single-sample variance is
    E[(d r / d param_c)^2] - (grad_c J)^2.
    """

    name: ClassVar[str] = "pathwise"
    #: An environment's episodes are not differentiable in the parameters: the estimate would be 0.
    excludes: ClassVar[tuple[type, ...]] = (EpisodeBatches,)
    iid: ClassVar[bool] = True
    gaussian_moments_known: ClassVar[bool] = True

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        noise = problem.sample_noise(key, n)
        return jax.grad(lambda p: jnp.mean(problem.reward(problem.sample(p, noise))))(params)

    def gaussian_moments(self, problem: GaussianTrajectories, params: Params, rep: dict) -> tuple[jax.Array, jax.Array]:
        """Moments of the single-trajectory pathwise derivative q_c = d(return)/d param_c, which the problem's
        representation holds as one quadratic per coordinate (``rep["pathwise"]``, (P,))."""
        q = rep["pathwise"]
        return quadratic_mean(q), jax.vmap(moment2)(q, q)

    def single_sample_variance(self, problem: Problem, params: Params) -> Params | None:
        if not isinstance(problem, ExactScoreMoments):
            return None
        grad = exact_gradient(problem, params)
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
            mom = problem.score_moments(p64)
            return jax.tree.map(lambda dr2, g: jax.device_get(dr2 - g**2), mom.dr2, grad)

    def exact_variance(self, problem: Problem, params: Params) -> Params:
        """E[(dr/dparam)^2] - g^2, traceable (needs exact score moments)."""
        if not isinstance(problem, ExactScoreMoments):
            return super().exact_variance(problem, params)
        grad = jax.grad(problem.objective)(params)
        return jax.tree.map(lambda d2, g: d2 - g**2, problem.score_moments(params).dr2, grad)

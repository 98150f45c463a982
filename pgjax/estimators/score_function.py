"""Score-function (likelihood-ratio, REINFORCE) gradient estimators and their baselines.

All of them rest on the log-derivative identity grad E_pi[r] = E_pi[r grad log pi] (Williams 1992;
Glynn 1990): with x_1..x_n ~ pi_params i.i.d., rewards r_i and scores psi_i = grad log pi(x_i),

    g = (1/n) sum_i (r_i - b_i) psi_i.

Any baseline b_i that does not depend on x_i keeps g unbiased, because E[psi] = 0. The estimators never
materialise the per-sample scores unless they must: (1/n) sum_i w_i psi_i is the gradient of the
surrogate mean_i(stop_gradient(w_i) log pi(x_i)), which XLA fuses into the sampling loop. Only the
batch-estimated optimal baseline needs psi_i itself.

Every estimator has the signature ``(key, params, problem, n) -> gradient pytree shaped like params`` and
draws its randomness through ``problem.sample_noise(key, n)``, so estimators called with the same key use the
same samples (common random numbers).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from pgjax.problems.base import Params, Problem


def draw(key: jax.Array, params: Params, problem: Problem, n: int):
    """Samples n outcomes (not differentiable in params) and their rewards r, shape (n,)."""
    noise = problem.sample_noise(key, n)
    outcome = jax.lax.stop_gradient(problem.sample(params, noise))
    rewards = problem.reward(outcome)
    return outcome, rewards


def weighted_score_mean(params: Params, problem: Problem, outcome, weights: jax.Array) -> Params:
    """(1/n) sum_i w_i grad log pi(x_i), as the gradient of the surrogate mean(w * log pi); w: (n,)."""
    weights = jax.lax.stop_gradient(weights)
    return jax.grad(lambda p: jnp.mean(weights * problem.log_prob(p, outcome)))(params)


def _subtract_baseline(params, problem, outcome, rewards, baseline) -> Params:
    """(1/n) sum_i (r_i - b_c) psi_ic for a baseline b (scalar or pytree like params), one backward pass.

    Uses (1/n) sum (r_i - b) psi_i = mean(r psi) - b mean(psi), both obtained from one vjp of log pi.
    """
    n = rewards.shape[0]
    _, vjp = jax.vjp(lambda p: problem.log_prob(p, outcome), params)
    cotangents = jnp.stack([rewards, jnp.ones_like(rewards)]) / n
    (both,) = jax.vmap(vjp)(jax.lax.stop_gradient(cotangents))
    mean_r_psi = jax.tree.map(lambda x: x[0], both)
    mean_psi = jax.tree.map(lambda x: x[1], both)
    if isinstance(baseline, (int, float)) or (hasattr(baseline, "ndim") and baseline.ndim == 0):
        return jax.tree.map(lambda a, b: a - baseline * b, mean_r_psi, mean_psi)
    return jax.tree.map(lambda a, b, c: a - c * b, mean_r_psi, mean_psi, baseline)


class _Estimator:
    """Common behaviour: a name, and an optional exact single-sample variance."""

    name: ClassVar[str]
    #: True when the n-sample estimate is the mean of n i.i.d. single-sample estimates, so that its variance
    #: is (single-sample variance) / n.
    iid: ClassVar[bool] = False
    #: False for estimators that are biased at finite n.
    unbiased: ClassVar[bool] = True

    def single_sample_variance(self, problem: Problem, params: Params) -> Params | None:
        """Exact variance of a one-sample estimate, per coordinate (float64), or None if not available."""
        return None


def _score_function_variance(problem, params, baseline) -> Params | None:
    """Var[(r - b) psi_c] = E[r^2 psi^2] - 2 b E[r psi^2] + b^2 E[psi^2] - (grad_c J)^2."""
    if not hasattr(problem, "score_moments"):
        return None
    from pgjax.problems.base import exact_gradient

    grad = exact_gradient(problem, params)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
        mom = problem.score_moments(p64)
        b = baseline(mom) if callable(baseline) else jax.tree.map(lambda _: jnp.float64(baseline), grad)
        return jax.tree.map(
            lambda r2, r1, p2, bb, g: jax.device_get(r2 - 2 * bb * r1 + bb**2 * p2 - g**2),
            mom["r2_psi2"],
            mom["r_psi2"],
            mom["psi2"],
            b,
            grad,
        )


@dataclasses.dataclass(frozen=True)
class Reinforce(_Estimator):
    """Plain score function (REINFORCE; Williams 1992): g = (1/n) sum_i r_i psi_i.

    Unbiased; its single-sample variance is E[r^2 psi_c^2] - (grad_c J)^2.
    """

    name: ClassVar[str] = "reinforce"
    iid: ClassVar[bool] = True

    def __call__(self, key, params, problem, n):
        outcome, rewards = draw(key, params, problem, n)
        return weighted_score_mean(params, problem, outcome, rewards)

    def single_sample_variance(self, problem, params):
        return _score_function_variance(problem, params, 0.0)


@dataclasses.dataclass(frozen=True)
class ConstantBaseline(_Estimator):
    """Score function with a given constant baseline b: g = (1/n) sum_i (r_i - b) psi_i.

    Unbiased for any b fixed in advance (E[psi] = 0; Williams 1992).
    """

    baseline: float = 0.0
    name: ClassVar[str] = "constant_baseline"
    iid: ClassVar[bool] = True

    def __call__(self, key, params, problem, n):
        outcome, rewards = draw(key, params, problem, n)
        # The same float32 path as Reinforce, so b = 0 reproduces it bit for bit.
        return weighted_score_mean(params, problem, outcome, rewards - self.baseline)

    def single_sample_variance(self, problem, params):
        return _score_function_variance(problem, params, self.baseline)


@dataclasses.dataclass(frozen=True)
class BatchMeanBaseline(_Estimator):
    """Score function with the batch-mean baseline: g = (1/n) sum_i (r_i - rbar) psi_i, rbar = mean_j r_j.

    BIASED at finite n, because rbar contains r_i itself: since E[r_j psi_i] = 0 for j != i,
    E[g] = (1 - 1/n) grad J exactly, a bias of -grad J / n (zero at n = 1 would need the estimate 0: at n = 1
    this estimator is identically 0). :class:`LeaveOneOutBaseline` removes the bias.
    """

    name: ClassVar[str] = "batch_mean_baseline"
    unbiased: ClassVar[bool] = False

    def __call__(self, key, params, problem, n):
        outcome, rewards = draw(key, params, problem, n)
        return weighted_score_mean(params, problem, outcome, rewards - jnp.mean(rewards))

    @staticmethod
    def exact_bias(true_grad, n: int):
        """E[g] - grad J = -grad J / n."""
        return jax.tree.map(lambda g: -g / n, true_grad)


@dataclasses.dataclass(frozen=True)
class LeaveOneOutBaseline(_Estimator):
    """Leave-one-out baseline (RLOO; Kool, van Hoof & Welling 2019; Salimans & Knowles 2014).

    g = (1/n) sum_i (r_i - b_i) psi_i with b_i = (1/(n-1)) sum_{j != i} r_j, unbiased because b_i is
    independent of x_i. Algebraically r_i - b_i = n/(n-1) (r_i - rbar), so it is the batch-mean estimator
    rescaled by n/(n-1). At n = 1 there is no other sample: the baseline is 0 (plain REINFORCE).
    """

    name: ClassVar[str] = "leave_one_out"

    def __call__(self, key, params, problem, n):
        outcome, rewards = draw(key, params, problem, n)
        if n == 1:
            weights = rewards
        else:
            weights = (rewards - jnp.mean(rewards)) * (n / (n - 1))
        return weighted_score_mean(params, problem, outcome, weights)


@dataclasses.dataclass(frozen=True)
class OptimalBaselineExact(_Estimator):
    """Score function with the exact variance-minimising constant baseline, one per coordinate c:

        b*_c = E[r psi_c^2] / E[psi_c^2]        (Greensmith, Bartlett & Baxter 2004; Peters & Schaal 2008)

    computed from the problem's exact moments (``problem.score_moments``), so the estimator is unbiased and
    has the smallest single-sample variance of any constant baseline:
    Var_c = E[r^2 psi_c^2] - E[r psi_c^2]^2 / E[psi_c^2] - (grad_c J)^2.
    """

    name: ClassVar[str] = "optimal_baseline_exact"
    iid: ClassVar[bool] = True

    @staticmethod
    def baseline(problem, params) -> Params:
        mom = problem.score_moments(params)
        return jax.tree.map(lambda a, b: a / b, mom["r_psi2"], mom["psi2"])

    def __call__(self, key, params, problem, n):
        outcome, rewards = draw(key, params, problem, n)
        baseline = jax.lax.stop_gradient(self.baseline(problem, params))
        return _subtract_baseline(params, problem, outcome, rewards, baseline)

    def single_sample_variance(self, problem, params):
        return _score_function_variance(
            problem, params, lambda mom: jax.tree.map(lambda a, b: a / b, mom["r_psi2"], mom["psi2"])
        )


@dataclasses.dataclass(frozen=True)
class OptimalBaselineBatch(_Estimator):
    """The variance-minimising baseline estimated from the same batch, per coordinate c:

        b_c = sum_j r_j psi_jc^2 / sum_j psi_jc^2,    g_c = (1/n) sum_i (r_i - b_c) psi_ic.

    BIASED at finite n (b_c depends on every x_i, including the one it multiplies); the bias is O(1/n) and
    is measured, not assumed, by the experiments. At n = 1, b_c = r_1 and the estimate is identically 0.
    Needs the per-sample scores psi_i (one Jacobian of log pi), so it costs more than the others.
    """

    name: ClassVar[str] = "optimal_baseline_batch"
    unbiased: ClassVar[bool] = False

    def __call__(self, key, params, problem, n):
        if n == 1:  # b_c = r_1 exactly, so the estimate is exactly 0 (avoid 1e-8 rounding residue)
            return jax.tree.map(jnp.zeros_like, params)
        outcome, rewards = draw(key, params, problem, n)
        # Forward mode: one JVP per parameter coordinate, O(n P); reverse mode would cost O(n^2).
        scores = jax.jacfwd(problem.log_prob)(params, outcome)  # leaves (n, *leaf_shape)

        def per_leaf(psi):
            r = rewards.reshape((n,) + (1,) * (psi.ndim - 1))
            psi2 = jnp.sum(psi**2, axis=0)
            b = jnp.sum(r * psi**2, axis=0) / jnp.where(psi2 > 0, psi2, 1.0)
            return jnp.mean((r - b) * psi, axis=0)

        return jax.tree.map(per_leaf, scores)

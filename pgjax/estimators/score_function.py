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
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from pgjax.estimators.base import Estimator, EstimatorOptions, register, sum_over_sub_batches
from pgjax.estimators.gaussian_terms import product_moments, score_return_terms
from pgjax.problems.base import (
    ExactScoreMoments,
    GaussianTrajectories,
    OnePassScores,
    Params,
    Problem,
    ScoreMoments,
)
from pgjax.threefry import is_fast


def draw(key: jax.Array, params: Params, problem: Problem, n: int) -> tuple[Any, jax.Array]:
    """Samples n outcomes (not differentiable in params) and their rewards r, shape (n,)."""
    noise = problem.sample_noise(key, n)
    outcome = jax.lax.stop_gradient(problem.sample(params, noise))
    rewards = problem.reward(outcome)
    return outcome, rewards


def weighted_score_mean(
    params: Params, problem: Problem, outcome: Any, weights: jax.Array, key: jax.Array | None = None
) -> Params:
    """(1/n) sum_i w_i grad log pi(x_i), as the gradient of the surrogate mean(w * log pi); w: (n,).

    ``key``: the key the samples were drawn with. On the engine's fast path (a :mod:`pgjax.threefry` key), a
    problem with :class:`~pgjax.problems.base.OnePassScores` gives the same mean in closed form as one
    reduction, which reads each sample once instead of once per score sum: on the bandit benchmark's CPU the
    estimate then costs little more than drawing its normals (``pgjax bench``). Its last bits may differ from
    autodiff's (another summation order), as the fast path allows; every other key keeps autodiff.
    """
    weights = jax.lax.stop_gradient(weights)
    if key is not None and is_fast(key) and isinstance(problem, OnePassScores):
        one_pass = problem.score_mean_one_pass(params, outcome, weights)
        if one_pass is not None:
            return one_pass
    return jax.grad(lambda p: jnp.mean(weights * problem.log_prob(p, outcome)))(params)


def _subtract_baseline(
    params: Params, problem: Problem, outcome: Any, rewards: jax.Array, baseline: float | jax.Array | Params
) -> Params:
    """(1/n) sum_i (r_i - b_c) psi_ic for a baseline b (scalar or pytree like params), one backward pass.

    Uses (1/n) sum (r_i - b) psi_i = mean(r psi) - b mean(psi), both obtained from one vjp of log pi.
    """
    n = rewards.shape[0]
    _, vjp = jax.vjp(lambda p: problem.log_prob(p, outcome), params)
    cotangents = jnp.stack([rewards, jnp.ones_like(rewards)]) / n
    (both,) = jax.vmap(vjp)(jax.lax.stop_gradient(cotangents))
    mean_r_psi = jax.tree.map(lambda x: x[0], both)
    mean_psi = jax.tree.map(lambda x: x[1], both)
    if isinstance(baseline, (int, float)) or (isinstance(baseline, (jax.Array, np.ndarray)) and baseline.ndim == 0):
        return jax.tree.map(lambda a, b: a - baseline * b, mean_r_psi, mean_psi)
    return jax.tree.map(lambda a, b, c: a - c * b, mean_r_psi, mean_psi, baseline)


def centred_sub_batched(
    key: jax.Array, params: Params, problem: Problem, n: int, block: int, scale: float = 1.0
) -> Params:
    """scale * (1/n) sum_i (r_i - rbar) psi_i, rbar = (1/n) sum_j r_j, over sub-batches of at most ``block``
    samples (:func:`pgjax.estimators.base.sum_over_sub_batches`), in two passes over the same blocks:
    rbar = (1/n) sum_b sum_{i in b} r_i, then sum_b m_b (1/m_b) sum_{i in b} (r_i - rbar) psi_i (each block's term
    the gradient of the surrogate as in one call). The centred form, as in the one-call estimate, avoids the
    cancellation of sum r psi - rbar sum psi. Costs two draws of every sample."""

    def reward_sum(block_key: jax.Array, m: int) -> jax.Array:
        return jnp.sum(draw(block_key, params, problem, m)[1])

    rbar = sum_over_sub_batches(reward_sum, key, n, block) / n

    def centred_sum(block_key: jax.Array, m: int) -> Params:
        outcome, rewards = draw(block_key, params, problem, m)
        grad = weighted_score_mean(params, problem, outcome, (rewards - rbar) * scale, block_key)
        return jax.tree.map(lambda x: x * m, grad)

    return jax.tree.map(lambda x: x / n, sum_over_sub_batches(centred_sum, key, n, block))


#: The estimator contract's base class under its former private name.
_Estimator = Estimator


def _score_function_variance(
    problem: Problem, params: Params, baseline: float | Callable[[ScoreMoments], Params]
) -> Params | None:
    """Var[(r - b) psi_c] = E[r^2 psi^2] - 2 b E[r psi^2] + b^2 E[psi^2] - (grad_c J)^2."""
    if not isinstance(problem, ExactScoreMoments):
        return None
    from pgjax.problems.base import exact_gradient

    grad = exact_gradient(problem, params)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
        mom = problem.score_moments(p64)
        b = baseline(mom) if callable(baseline) else jax.tree.map(lambda _: jnp.float64(baseline), grad)
        return jax.tree.map(
            lambda r2, r1, p2, bb, g: jax.device_get(r2 - 2 * bb * r1 + bb**2 * p2 - g**2),
            mom.r2_psi2,
            mom.r_psi2,
            mom.psi2,
            b,
            grad,
        )


@register
@dataclasses.dataclass(frozen=True)
class Reinforce(Estimator):
    """Plain score function (REINFORCE; Williams 1992): g = (1/n) sum_i r_i psi_i.

    Unbiased; its single-sample variance is E[r^2 psi_c^2] - (grad_c J)^2.
    """

    name: ClassVar[str] = "reinforce"
    iid: ClassVar[bool] = True
    gaussian_moments_known: ClassVar[bool] = True

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        outcome, rewards = draw(key, params, problem, n)
        return weighted_score_mean(params, problem, outcome, rewards, key)

    def gaussian_moments(self, problem: GaussianTrajectories, params: Params, rep: dict) -> tuple[jax.Array, jax.Array]:
        """Moments of g_c = (sum_t psi_tc) G over one trajectory, G its discounted return."""
        return product_moments(*score_return_terms(problem, params, rep))

    def single_sample_variance(self, problem: Problem, params: Params) -> Params | None:
        return _score_function_variance(problem, params, 0.0)

    def exact_variance(self, problem: Problem, params: Params) -> Params:
        """E[r^2 psi^2] - g^2, traceable (needs exact score moments)."""
        if not isinstance(problem, ExactScoreMoments):
            return super().exact_variance(problem, params)
        grad = jax.grad(problem.objective)(params)
        return jax.tree.map(lambda r2, g: r2 - g**2, problem.score_moments(params).r2_psi2, grad)


@register
@dataclasses.dataclass(frozen=True)
class ConstantBaseline(Estimator):
    """Score function with a given constant baseline b: g = (1/n) sum_i (r_i - b) psi_i.

    Unbiased for any b fixed in advance (E[psi] = 0; Williams 1992).
    """

    baseline: float = 0.0
    name: ClassVar[str] = "constant_baseline"
    iid: ClassVar[bool] = True
    gaussian_moments_known: ClassVar[bool] = True

    @classmethod
    def from_options(cls, options: EstimatorOptions) -> ConstantBaseline:
        return cls(baseline=float(options.baseline))

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        outcome, rewards = draw(key, params, problem, n)
        # The same float32 path as Reinforce, so b = 0 reproduces it bit for bit.
        return weighted_score_mean(params, problem, outcome, rewards - self.baseline, key)

    def gaussian_moments(self, problem: GaussianTrajectories, params: Params, rep: dict) -> tuple[jax.Array, jax.Array]:
        """Moments of g_c = (sum_t psi_tc) (G - b) over one trajectory."""
        return product_moments(*score_return_terms(problem, params, rep, self.baseline))

    def single_sample_variance(self, problem: Problem, params: Params) -> Params | None:
        return _score_function_variance(problem, params, self.baseline)


@register
@dataclasses.dataclass(frozen=True)
class BatchMeanBaseline(Estimator):
    """Score function with the batch-mean baseline: g = (1/n) sum_i (r_i - rbar) psi_i, rbar = mean_j r_j.

    BIASED at finite n, because rbar contains r_i itself: since E[r_j psi_i] = 0 for j != i,
    E[g] = (1 - 1/n) grad J exactly, a bias of -grad J / n (zero at n = 1 would need the estimate 0: at n = 1
    this estimator is identically 0). :class:`LeaveOneOutBaseline` removes the bias.
    """

    name: ClassVar[str] = "batch_mean_baseline"
    unbiased: ClassVar[bool] = False
    sub_batchable: ClassVar[bool] = True

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        outcome, rewards = draw(key, params, problem, n)
        return weighted_score_mean(params, problem, outcome, rewards - jnp.mean(rewards), key)

    def sub_batched(self, key: jax.Array, params: Params, problem: Problem, n: int, block: int) -> Params:
        """(1/n) sum_i (r_i - rbar) psi_i over sub-batches: two passes (:func:`centred_sub_batched`)."""
        return centred_sub_batched(key, params, problem, n, block)

    @staticmethod
    def exact_bias(true_grad: Params, n: int) -> Params:
        """E[g] - grad J = -grad J / n."""
        return jax.tree.map(lambda g: -g / n, true_grad)


@register
@dataclasses.dataclass(frozen=True)
class LeaveOneOutBaseline(Estimator):
    """Leave-one-out baseline (RLOO; Kool, van Hoof & Welling 2019; Salimans & Knowles 2014).

    g = (1/n) sum_i (r_i - b_i) psi_i with b_i = (1/(n-1)) sum_{j != i} r_j, unbiased because b_i is
    independent of x_i. Algebraically r_i - b_i = n/(n-1) (r_i - rbar), so it is the batch-mean estimator
    rescaled by n/(n-1). At n = 1 there is no other sample: the baseline is 0 (plain REINFORCE).
    """

    name: ClassVar[str] = "leave_one_out"
    sub_batchable: ClassVar[bool] = True

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        outcome, rewards = draw(key, params, problem, n)
        if n == 1:
            weights = rewards
        else:
            weights = (rewards - jnp.mean(rewards)) * (n / (n - 1))
        return weighted_score_mean(params, problem, outcome, weights, key)

    def sub_batched(self, key: jax.Array, params: Params, problem: Problem, n: int, block: int) -> Params:
        """n/(n-1) (1/n) sum_i (r_i - rbar) psi_i over sub-batches: two passes (:func:`centred_sub_batched`);
        n > block >= 1, so n >= 2."""
        return centred_sub_batched(key, params, problem, n, block, n / (n - 1))

    def n_sample_variance(self, problem: Problem, params: Params, n: int) -> Params | None:
        """Exact variance of the n-sample estimate on a problem with finitely many outcomes, per coordinate c:

            Var_c = (E[r^2 psi_c^2] - g_c^2) / n - 2 J E[r psi_c^2] / n
                    + (E[r^2] E[psi_c^2] + g_c^2 + (n - 2) J^2 E[psi_c^2]) / (n (n - 1)),

        with J = E[r] and g = grad J; from g = (1/n) sum_i r_i psi_i - (1/(n(n-1))) sum_{i != j} r_j psi_i and
        the independence of the samples (only the pairings i = k, j = l; i = l, j = k; and i = k, j != l of
        E[r_j psi_i r_l psi_k] survive). As n grows it tends to Var[(r - J) psi_c] / n. At n = 1 it is
        REINFORCE's E[r^2 psi_c^2] - g_c^2. The moments are finite sums (:mod:`pgjax.problems.finite`); None on
        a problem without :class:`~pgjax.problems.base.FiniteOutcomes`."""
        from pgjax.problems import finite
        from pgjax.problems.base import FiniteOutcomes

        if not isinstance(problem, FiniteOutcomes):
            return None
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
            e = finite.enumerate_outcomes(problem, p64)
            p, r = jnp.exp(e.log_p), e.reward
            big_j, r2 = jnp.sum(p * r), jnp.sum(p * r**2)

            def per_leaf(s: jax.Array) -> jax.Array:
                psi2 = jnp.tensordot(p, s**2, axes=(0, 0))
                r_psi2 = jnp.tensordot(p * r, s**2, axes=(0, 0))
                r2_psi2 = jnp.tensordot(p * r**2, s**2, axes=(0, 0))
                g = jnp.tensordot(p * r, s, axes=(0, 0))
                if n == 1:
                    return r2_psi2 - g**2
                pairs = (r2 * psi2 + g**2 + (n - 2) * big_j**2 * psi2) / (n * (n - 1))
                return (r2_psi2 - g**2) / n - 2 * big_j * r_psi2 / n + pairs

            return jax.tree.map(lambda s: np.asarray(per_leaf(s), np.float64), e.scores)


@register
@dataclasses.dataclass(frozen=True)
class OptimalBaselineExact(Estimator):
    """Score function with the exact variance-minimising constant baseline, one per coordinate c:

        b*_c = E[r psi_c^2] / E[psi_c^2]        (Greensmith, Bartlett & Baxter 2004; Peters & Schaal 2008)

    computed from the problem's exact moments (``problem.score_moments``), so the estimator is unbiased and
    has the smallest single-sample variance of any constant baseline:
    Var_c = E[r^2 psi_c^2] - E[r psi_c^2]^2 / E[psi_c^2] - (grad_c J)^2.
    """

    name: ClassVar[str] = "optimal_baseline_exact"
    requires: ClassVar[tuple[type, ...]] = (ExactScoreMoments,)
    iid: ClassVar[bool] = True
    gaussian_moments_known: ClassVar[bool] = True

    @staticmethod
    def baseline(problem: Problem, params: Params) -> Params:
        """b*_c = E[r psi_c^2] / E[psi_c^2], shaped like params."""
        mom = problem.score_moments(params)
        return jax.tree.map(lambda a, b: a / b, mom.r_psi2, mom.psi2)

    def pinned(self, problem: Problem, params: Params) -> PinnedOptimalBaseline:
        """The same estimator with b* computed once, now, at ``params`` (see :class:`PinnedOptimalBaseline`)."""
        return PinnedOptimalBaseline().pinned(problem, params)

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        outcome, rewards = draw(key, params, problem, n)
        baseline = jax.lax.stop_gradient(self.baseline(problem, params))
        return _subtract_baseline(params, problem, outcome, rewards, baseline)

    def gaussian_moments(self, problem: GaussianTrajectories, params: Params, rep: dict) -> tuple[jax.Array, jax.Array]:
        """Moments of g_c = (sum_t psi_tc) (G - b*_c) over one trajectory (b* pinned or exact)."""
        b = ravel_pytree(self.baseline(problem, params))[0]
        return product_moments(*score_return_terms(problem, params, rep, b[None]))

    def single_sample_variance(self, problem: Problem, params: Params) -> Params | None:
        return _score_function_variance(
            problem, params, lambda mom: jax.tree.map(lambda a, b: a / b, mom.r_psi2, mom.psi2)
        )

    def exact_variance(self, problem: Problem, params: Params) -> Params:
        """E[r^2 psi^2] - E[r psi^2]^2 / E[psi^2] - g^2, traceable."""
        grad = jax.grad(problem.objective)(params)
        mom = problem.score_moments(params)
        return jax.tree.map(lambda r2, r1, p2, g: r2 - r1**2 / p2 - g**2, mom.r2_psi2, mom.r_psi2, mom.psi2, grad)


@dataclasses.dataclass(frozen=True)
class PinnedOptimalBaseline(OptimalBaselineExact):
    """:class:`OptimalBaselineExact` (per-coordinate b*_c = E[r psi_c^2] / E[psi_c^2]; Peters & Schaal 2008)
    with the option to pin b* to constants computed once (:meth:`pinned`), so that the compiled program does
    not recompute the exact moments (LQR, where they cost a Gaussian-polynomial computation). Same name and
    numbers as the generic estimator; not registered separately: ``OptimalBaselineExact().pinned(...)``
    returns one."""

    values: tuple[float, ...] | None = None

    def pinned(self, problem: Problem, params: Params) -> PinnedOptimalBaseline:
        """A copy with b* computed now (float64) at ``params`` and stored as constants."""
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
            b = np.asarray(ravel_pytree(OptimalBaselineExact.baseline(problem, p64))[0], np.float64)
        return dataclasses.replace(self, values=tuple(float(v) for v in b))

    def baseline(self, problem: Problem, params: Params) -> Params:  # type: ignore[override]
        if self.values is None:
            return OptimalBaselineExact.baseline(problem, params)
        _, unravel = ravel_pytree(params)
        return unravel(jnp.asarray(self.values, ravel_pytree(params)[0].dtype))


@register
@dataclasses.dataclass(frozen=True)
class OptimalBaselineBatch(Estimator):
    """The variance-minimising baseline estimated from the same batch, per coordinate c:

        b_c = sum_j r_j psi_jc^2 / sum_j psi_jc^2,    g_c = (1/n) sum_i (r_i - b_c) psi_ic.

    BIASED at finite n (b_c depends on every x_i, including the one it multiplies); the bias is O(1/n) and
    is measured, not assumed, by the experiments. At n = 1, b_c = r_1 and the estimate is identically 0.
    Needs the per-sample scores psi_i (one Jacobian of log pi), so it costs more than the others.
    """

    name: ClassVar[str] = "optimal_baseline_batch"
    unbiased: ClassVar[bool] = False
    sub_batchable: ClassVar[bool] = True

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        if n == 1:  # b_c = r_1 exactly, so the estimate is exactly 0 (avoid 1e-8 rounding residue)
            return jax.tree.map(jnp.zeros_like, params)
        outcome, rewards = draw(key, params, problem, n)
        # Forward mode: one JVP per parameter coordinate, O(n P); reverse mode would cost O(n^2).
        scores = jax.jacfwd(problem.log_prob)(params, outcome)  # leaves (n, *leaf_shape)

        def per_leaf(psi: jax.Array) -> jax.Array:
            r = rewards.reshape((n,) + (1,) * (psi.ndim - 1))
            psi2 = jnp.sum(psi**2, axis=0)
            b = jnp.sum(r * psi**2, axis=0) / jnp.where(psi2 > 0, psi2, 1.0)
            return jnp.mean((r - b) * psi, axis=0)

        return jax.tree.map(per_leaf, scores)

    def sub_batched(self, key: jax.Array, params: Params, problem: Problem, n: int, block: int) -> Params:
        """The same estimate over sub-batches of at most ``block`` samples, in two passes over the same blocks:
        the sums S_c = sum_j r_j psi_jc^2 and Q_c = sum_j psi_jc^2 give b_c = S_c / Q_c, then
        (1/n) sum_b sum_{i in b} (r_i - b_c) psi_ic in the centred form of the one-call estimate."""

        def scores(block_key: jax.Array, m: int) -> tuple[Params, jax.Array]:
            outcome, rewards = draw(block_key, params, problem, m)
            return jax.jacfwd(problem.log_prob)(params, outcome), rewards

        def weighted(psi: jax.Array, rewards: jax.Array) -> jax.Array:
            return rewards.reshape(rewards.shape + (1,) * (psi.ndim - 1))

        def moments(block_key: jax.Array, m: int) -> tuple[Params, Params]:
            psi, rewards = scores(block_key, m)
            s = jax.tree.map(lambda p: jnp.sum(weighted(p, rewards) * p**2, axis=0), psi)
            return s, jax.tree.map(lambda p: jnp.sum(p**2, axis=0), psi)

        s, q = sum_over_sub_batches(moments, key, n, block)
        baseline = jax.tree.map(lambda a, b: a / jnp.where(b > 0, b, 1.0), s, q)

        def centred(block_key: jax.Array, m: int) -> Params:
            psi, rewards = scores(block_key, m)
            return jax.tree.map(lambda p, b: jnp.sum((weighted(p, rewards) - b) * p, axis=0), psi, baseline)

        return jax.tree.map(lambda x: x / n, sum_over_sub_batches(centred, key, n, block))

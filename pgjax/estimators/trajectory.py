r"""Gradient estimators over trajectories: reward-to-go, time- and state-dependent baselines, GAE.

For a multi-step problem with per-step scores psi_t = grad log pi(u_t | x_t), per-step rewards r_t and
discount gamma (:class:`~pgjax.problems.lqr.LinearQuadraticRegulator`), the objective
J = E[sum_t gamma^t r_t] has the gradient (policy gradient theorem; Sutton et al. 2000)

    grad J = E[ sum_t psi_t gamma^t (G_t - b_t) ],   G_t = sum_{s>=t} gamma^{s-t} r_s,

for any baseline b_t that does not depend on u_t, ..., u_{H-1} (rewards before t are uncorrelated with
psi_t; Williams 1992, Baxter & Bartlett 2001). Every estimator here is the n-trajectory average of
sum_t w_t psi_t with a per-step weight w_t (the "learning signal"), computed, as in
:mod:`pgjax.estimators.score_function`, as the gradient of the surrogate mean_i sum_t stop_grad(w_it)
log pi(u_it | x_it): one backward pass, no per-sample score arrays.

Plain REINFORCE with the total return, constant and leave-one-out baselines, the exact variance-minimising
constant baseline and the pathwise estimator need nothing trajectory-specific: the generic estimators of
:mod:`pgjax.estimators` apply because the problem's ``log_prob`` is the trajectory's total log-probability
and its ``reward`` the total discounted return. They are in :data:`TRAJECTORY_ESTIMATORS` too.

Exact moments. For LQR every single-trajectory estimate is a sum of products of quadratic polynomials of
the trajectory's standard normals (see :mod:`pgjax.problems.lqr`), so :func:`exact_moments` gives its exact
mean and variance per coordinate (float64), for every estimator whose weights are fixed quadratics of the
state: all of them except the learned value baseline (whose pilot batch is shared by the n trajectories).
Each estimator gives its own moments through the contract's
:meth:`~pgjax.estimators.base.Estimator.gaussian_moments` (the trajectory estimators here through their terms
(p, a), the generic ones in their own modules), so :func:`exact_moments` names no estimator class.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jax.flatten_util import ravel_pytree

from pgjax.errors import ConfigError
from pgjax.estimators.base import (
    Estimator,
    EstimatorOptions,
    Fused,
    builtin,
    exact_moments,
    has_exact_moments,
    register,
)
from pgjax.estimators.gaussian_terms import broadcast_p, product_moments
from pgjax.estimators.score_function import PinnedOptimalBaseline
from pgjax.problems.base import (
    ExactScoreMoments,
    FoldedRollout,
    GaussianTrajectories,
    ParameterExploring,
    Params,
    Trajectories,
)
from pgjax.problems.lqr import (
    Quadratic,
    Trajectory,
    combine,
    evaluate_quadratic_values,
    moment2,
    moment3,
)
from pgjax.returns import discounted_reverse_cumsum, gae_advantages, reverse_cumsum_matrix, td_residuals

#: Critics (value functions) that GAE and the value baselines can use.
VALUES = ("exact", "stationary", "learned")


# ----------------------------------------------------------------------------------------------- helpers
def rollout(key: jax.Array, params: Params, problem: Trajectories, n: int) -> Trajectory:
    """n trajectories drawn through ``problem.sample_noise(key, n)`` (common random numbers with every
    estimator called with the same key), not differentiable in params."""
    return jax.lax.stop_gradient(problem.sample(params, problem.sample_noise(key, n)))


def weighted_step_score_mean(params: Params, problem: Trajectories, traj: Trajectory, weights: jax.Array) -> Params:
    """(1/n) sum_i sum_t w_ti psi_ti for time-major weights (H, n), as the gradient of the surrogate
    sum_t mean_i w_ti log pi_ti."""
    weights = jax.lax.stop_gradient(weights)
    n = weights.shape[1]
    return jax.grad(lambda p: jnp.sum(weights * problem.step_log_probs(p, traj)) / n)(params)


def mean_step_scores(params: Params, problem: Trajectories, traj: Trajectory) -> jax.Array:
    """(1/n) sum_i psi_{it} per time step and coordinate, shape (H, P) (forward mode, P passes)."""
    flat, unravel = ravel_pytree(params)
    return jax.jacfwd(lambda f: jnp.mean(problem.step_log_probs(unravel(f), traj), axis=1))(flat)


def _critic(problem: GaussianTrajectories, params: Params, value: str) -> tuple[jax.Array, jax.Array]:
    """(P (H+1, m, m), c (H+1,)) of an exact-form critic: 'exact' V_t, or 'stationary' V_0 at every t < H."""
    Ps, cs = problem.value_functions(params)
    if value == "stationary":
        H = problem.horizon
        Ps = jnp.concatenate([jnp.broadcast_to(Ps[0], (H,) + Ps.shape[1:]), Ps[-1:]])
        cs = jnp.concatenate([jnp.broadcast_to(cs[0], (H,)), cs[-1:]])
    return Ps, cs


def _quadratic_features(states: jax.Array) -> jax.Array:
    """phi(x) = (x_i x_j for i <= j, x, 1) for batch-minor states (..., m, n): shape (..., F, n),
    F = m (m + 1) / 2 + m + 1."""
    m = states.shape[-2]
    rows, cols = np.triu_indices(m)
    quad = states[..., rows, :] * states[..., cols, :]
    ones = jnp.ones(states.shape[:-2] + (1,) + states.shape[-1:], states.dtype)
    return jnp.concatenate([quad, states, ones], axis=-2)


def _svd(a: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    return tuple(jnp.linalg.svd(a, full_matrices=False))


@custom_vmap
def svd_one_at_a_time(a: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The thin SVD (u, s, vt) of one matrix; vmapped, it decomposes the matrices one after another on a CPU
    (a loop of single-matrix LAPACK calls) and as one batched call elsewhere.

    Why: jaxlib 0.10's CPU LAPACK kernels split a batch of matrices over XLA's intra-op thread pool and block
    their own pool thread until the parts finish. When every pool thread runs such a kernel at once (one
    program per CPU device, one device per core), no thread is left to run the parts and the process hangs.
    A single matrix is decomposed in the calling thread. The factors of each matrix are the same either way
    (bit for bit; ``tests/estimators/test_trajectory_estimators.py``)."""
    return _svd(a)


@svd_one_at_a_time.def_vmap
def _svd_vmap(axis_size: int, in_batched: list[bool], a: jax.Array):
    del axis_size, in_batched  # one argument, batched whenever this rule runs
    out = jax.lax.platform_dependent(a, cpu=lambda a: jax.lax.map(svd_one_at_a_time, a), default=jax.vmap(_svd))
    return out, (True, True, True)


def least_squares(a: jax.Array, b: jax.Array) -> jax.Array:
    """The minimum-norm least-squares solution x of a x ~ b, a (n, F), b (n,): x = V S^+ U' b from the thin SVD,
    singular values below eps * max(n, F) * s_max treated as zero (the cut-off of ``numpy.linalg.lstsq``)."""
    u, s, vt = svd_one_at_a_time(a)
    cutoff = jnp.array(float(jnp.finfo(a.dtype).eps) * max(a.shape), s.dtype) * s[0]
    keep = (s > 0) & (s >= cutoff)
    s_inv = jnp.where(keep, 1 / jnp.where(keep, s, 1), 0)
    highest = jax.lax.Precision.HIGHEST
    return jnp.matmul(vt.T, s_inv * jnp.matmul(u.T, b, precision=highest), precision=highest)


def fit_quadratic_values(states: jax.Array, returns_to_go: jax.Array) -> jax.Array:
    """Least-squares fit of G_t ~ phi(x_t)' beta_t for each t: states (H, m, n), returns (H, n) -> (H, F).
    A critic's fit is a constant of the estimate (its pilot batch is independent), so no gradient flows
    through it."""
    states, returns_to_go = jax.lax.stop_gradient((states, returns_to_go))
    phi = jnp.swapaxes(_quadratic_features(states), -1, -2)  # (H, n, F)
    return jax.vmap(least_squares)(phi, returns_to_go)


def learned_values(problem: Trajectories, params: Params, key: jax.Array, n_pilot: int, states: jax.Array) -> jax.Array:
    """V-hat_t(x_t) for states (H, m, n) from a per-time quadratic fitted on an independent pilot batch of
    ``n_pilot`` trajectories drawn with ``fold_in(key, 1)``; shape (H, n)."""
    pilot = rollout(jax.random.fold_in(key, 1), params, problem, n_pilot)
    beta = fit_quadratic_values(pilot.states, problem.rewards_to_go(pilot))
    return jnp.sum(_quadratic_features(states) * beta[:, :, None], axis=1)


# ------------------------------------------------------------------------------------------- estimators
class _TrajectoryEstimator(Estimator):
    """An estimator (1/n) sum_i sum_t w_it psi_it whose single-trajectory estimate has exact moments (on a
    problem with :class:`~pgjax.problems.base.GaussianTrajectories`): it gives its terms (p, a), and the
    contract's :meth:`~pgjax.estimators.base.Estimator.gaussian_moments` and ``single_sample_variance`` follow."""

    requires: ClassVar[tuple[type, ...]] = (Trajectories, GaussianTrajectories)
    gaussian_moments_known: ClassVar[bool] = True

    def terms(self, problem: GaussianTrajectories, params: Params, rep: dict[str, Any]) -> tuple[Quadratic, Quadratic]:
        """(p, a), Quadratic batches (k, P): the single-trajectory estimate is g_c = sum_k p_kc a_kc."""
        raise NotImplementedError

    def gaussian_moments(
        self, problem: GaussianTrajectories, params: Params, rep: dict[str, Any]
    ) -> tuple[jax.Array, jax.Array] | None:
        if not self.gaussian_moments_known:
            return None
        return product_moments(*self.terms(problem, params, rep))


def _discounted_scores(problem: GaussianTrajectories, params: Params, rep: dict[str, Any]) -> Quadratic:
    disc = problem.discounts(params.K.dtype)
    return rep["scores"].scale(disc[:, None])  # (H, P): gamma^t psi_t


def _forward_reward_to_go(key: jax.Array, params: Params, problem: FoldedRollout, n: int) -> Params:
    """(1/n) sum_i sum_s gamma^s r_is Psi_is, Psi_s = sum_{t<=s} psi_t, folded into the rollout."""
    from pgjax.problems.lqr import _vary_like

    params = jax.lax.stop_gradient(params)
    flat, unravel = ravel_pytree(params)
    P = flat.shape[0]
    dtype = flat.dtype
    discounts = problem.discounts(dtype)
    basis = _vary_like(jnp.eye(P, dtype=dtype), flat)  # tangents must vary like params inside shard_map

    def accumulate(
        carry: tuple[jax.Array, jax.Array], t: jax.Array, x: jax.Array, u: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        psi_sum, total = carry  # (P, n) each
        step = Trajectory(states=x[None], actions=u[None])
        log_pi = lambda f: problem.step_log_probs(unravel(f), step)[0]
        psi = jax.vmap(lambda e: jax.jvp(log_pi, (flat,), (e,))[1])(basis)  # (P, n)
        psi_sum = psi_sum + psi
        reward = problem.step_rewards(step)[0] * discounts[t]
        return psi_sum, total + reward * psi_sum

    zeros = jnp.zeros((P, n), dtype)
    _, total = problem.fold(params, problem.sample_noise(key, n), accumulate, (zeros, zeros))
    return unravel(jnp.mean(total, axis=-1))


@register
@dataclasses.dataclass(frozen=True)
class RewardToGo(_TrajectoryEstimator):
    """Reward-to-go (GPOMDP; Baxter & Bartlett 2001; the policy gradient theorem form, Sutton et al. 2000):

        g = (1/n) sum_i sum_t gamma^t psi_it G_it,    G_t = sum_{s>=t} gamma^{s-t} r_s.

    Unbiased: the rewards before t, which REINFORCE with the total return multiplies psi_t by, have zero
    correlation with psi_t and only add variance.

    On a problem with a ``fold`` method (LQR) and ``forward=True`` (the default) the estimate is computed in
    ONE pass over time, fused into the rollout, by the identity sum_t psi_t G_t = sum_s gamma^s r_s Psi_s
    with the running score sums Psi_s = sum_{t<=s} psi_t (forward-mode derivatives of log pi, P per step):
    nothing of size (H, n) is stored, no backward pass, no reverse sum. Same draws, same number (up to
    float rounding) as the two-pass form (``forward=False``: roll out, reverse-sum the rewards, one backward
    pass through the surrogate), which is faster when P is large.
    """

    forward: bool = True
    name: ClassVar[str] = "reward_to_go"
    #: Runs on any trajectories (an environment's episodes too); exact moments need GaussianTrajectories.
    requires: ClassVar[tuple[type, ...]] = (Trajectories,)
    iid: ClassVar[bool] = True

    def __call__(self, key: jax.Array, params: Params, problem: Trajectories, n: int) -> Params:
        if self.forward and isinstance(problem, FoldedRollout):
            return _forward_reward_to_go(key, params, problem, n)
        traj = rollout(key, params, problem, n)
        r = problem.step_rewards(traj) * problem.discounts(traj.states.dtype)[:, None]
        return weighted_step_score_mean(params, problem, traj, discounted_reverse_cumsum(r, 1.0))

    def terms(self, problem: GaussianTrajectories, params: Params, rep: dict[str, Any]) -> tuple[Quadratic, Quadratic]:
        H, P = rep["scores"].shape
        W = reverse_cumsum_matrix(H, problem.discount, params.K.dtype)
        return _discounted_scores(problem, params, rep), broadcast_p(combine(W, rep["rewards"]), P)


@register
@dataclasses.dataclass(frozen=True)
class RewardToGoOptimalBaseline(_TrajectoryEstimator):
    """Reward-to-go with the variance-minimising time-dependent baseline of Peters & Schaal (2008, GPOMDP
    with optimal baseline, their eq. for b_k^h), one per step k and coordinate c:

        g_c = (1/n) sum_i sum_k (gamma^k r_ik - b_kc) Psi_ikc,   Psi_kc = sum_{t<=k} psi_tc,
        b_kc = E[Psi_kc^2 gamma^k r_k] / E[Psi_kc^2],

    which is reward-to-go (sum_k gamma^k r_k Psi_k = sum_t psi_t sum_{k>=t} gamma^k r_k) minus the
    zero-mean term sum_k b_kc Psi_kc. The b_kc are computed EXACTLY from Gaussian moments
    (:mod:`pgjax.problems.lqr`) at the current parameters, never from the samples, so the estimator is
    unbiased.
    """

    values: tuple[tuple[float, ...], ...] | None = None
    name: ClassVar[str] = "reward_to_go_optimal"
    iid: ClassVar[bool] = True

    def pinned(self, problem: GaussianTrajectories, params: Params) -> RewardToGoOptimalBaseline:
        """A copy whose b_kc are computed now (float64) and stored as constants: a smaller compiled program.
        At other parameters the pinned copy stays unbiased (any fixed baseline does) but is no longer optimal."""
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
            b = np.asarray(self.exact_baselines(problem, p64), np.float64)
        return dataclasses.replace(self, values=tuple(tuple(float(v) for v in row) for row in b))

    def baselines(self, problem: GaussianTrajectories, params: Params, rep: dict[str, Any] | None = None) -> jax.Array:
        """b_kc, shape (H, P): the pinned values, or computed exactly from ``params``."""
        if self.values is not None:
            b = jnp.asarray(self.values, params.K.dtype)
            if b.shape != (problem.horizon, ravel_pytree(params)[0].shape[0]):
                raise ValueError(f"pinned baselines have shape {b.shape}, expected (H, P)")
            return b
        return self.exact_baselines(problem, params, rep)

    @staticmethod
    def exact_baselines(problem: GaussianTrajectories, params: Params, rep: dict[str, Any] | None = None) -> jax.Array:
        """b_kc = E[Psi_kc^2 gamma^k r_k] / E[Psi_kc^2] from exact Gaussian moments, shape (H, P)."""
        rep = problem.gaussian_representation(params) if rep is None else rep
        H = problem.horizon
        dtype = params.K.dtype
        cumulative = combine(jnp.tril(jnp.ones((H, H), dtype)), rep["scores"])  # Psi_k, (H, P)
        disc_r = rep["rewards"].scale(problem.discounts(dtype))  # (H,)
        num = jax.vmap(lambda psi_k, r_k: jax.vmap(lambda s: moment3(s, s, r_k))(psi_k))(cumulative, disc_r)
        den = jax.vmap(jax.vmap(moment2))(cumulative, cumulative)
        return num / den

    def __call__(self, key: jax.Array, params: Params, problem: Trajectories, n: int) -> Params:
        traj = rollout(key, params, problem, n)
        r = problem.step_rewards(traj) * problem.discounts(traj.states.dtype)[:, None]
        plain = weighted_step_score_mean(params, problem, traj, discounted_reverse_cumsum(r, 1.0))
        b = jax.lax.stop_gradient(self.baselines(problem, params))  # (H, P)
        B = discounted_reverse_cumsum(b, 1.0)  # B_tc = sum_{k>=t} b_kc
        correction = jnp.sum(B * mean_step_scores(params, problem, traj), axis=0)  # (P,)
        flat, unravel = ravel_pytree(plain)
        return unravel(flat - correction)

    def terms(self, problem: GaussianTrajectories, params: Params, rep: dict[str, Any]) -> tuple[Quadratic, Quadratic]:
        H = problem.horizon
        dtype = params.K.dtype
        cumulative = combine(jnp.tril(jnp.ones((H, H), dtype)), rep["scores"])
        disc_r = broadcast_p(rep["rewards"].scale(problem.discounts(dtype)), cumulative.shape[1])
        return cumulative, disc_r.shift(-self.baselines(problem, params, rep))


@register
@dataclasses.dataclass(frozen=True)
class ValueBaseline(_TrajectoryEstimator):
    """Reward-to-go with the exact state-value baseline (Sutton et al. 2000; Greensmith et al. 2004):

        g = (1/n) sum_i sum_t gamma^t psi_it (G_it - V_t(x_it)),   V_t(x) = x' P_t x + c_t exactly.

    Unbiased: V_t(x_t) does not depend on u_t. (Not the variance-optimal state-dependent baseline, which
    weights by ||psi_t||^2, but the one actor-critic methods approximate.)
    """

    name: ClassVar[str] = "value_baseline"
    iid: ClassVar[bool] = True

    def __call__(self, key: jax.Array, params: Params, problem: Trajectories, n: int) -> Params:
        traj = rollout(key, params, problem, n)
        disc = problem.discounts(traj.states.dtype)
        advantage = problem.rewards_to_go(traj) - problem.values(params, traj.states)
        return weighted_step_score_mean(params, problem, traj, advantage * disc[:, None])

    def terms(self, problem: GaussianTrajectories, params: Params, rep: dict[str, Any]) -> tuple[Quadratic, Quadratic]:
        H, P = rep["scores"].shape
        W = reverse_cumsum_matrix(H, problem.discount, params.K.dtype)
        Ps, cs = problem.value_functions(params)
        values = problem.critic_quadratics(rep, Ps[:-1], cs[:-1])
        return _discounted_scores(problem, params, rep), broadcast_p(combine(W, rep["rewards"]) - values, P)


@register
@dataclasses.dataclass(frozen=True)
class LearnedValueBaseline(Estimator):
    """Reward-to-go with a learned state-value baseline V-hat_t(x) = phi(x)' beta_t, phi(x) = (x_i x_j, x, 1),
    fitted per time step by least squares to the rewards-to-go of an independent pilot batch of
    ``n_pilot`` trajectories (drawn with ``fold_in(key, 1)``):

        g = (1/n) sum_i sum_t gamma^t psi_it (G_it - V-hat_t(x_it)).

    Unbiased for any fit, because the pilot batch is independent of the n trajectories. The n estimates
    share one fit, so the n-sample variance is not the single-sample variance over n (``iid`` is False);
    the pilot costs ``n_pilot`` extra trajectories per estimate.
    """

    n_pilot: int = 64
    name: ClassVar[str] = "learned_value_baseline"
    #: The quadratic critic reads batch-minor states (H, m, n), as LQR's trajectories have them.
    requires: ClassVar[tuple[type, ...]] = (Trajectories, GaussianTrajectories)

    @classmethod
    def from_options(cls, options: EstimatorOptions) -> LearnedValueBaseline:
        if options.n_pilot < 2:
            raise ConfigError("n_pilot", f"must be >= 2 (got {options.n_pilot})")
        return cls(n_pilot=int(options.n_pilot))

    def __call__(self, key: jax.Array, params: Params, problem: Trajectories, n: int) -> Params:
        traj = rollout(key, params, problem, n)
        disc = problem.discounts(traj.states.dtype)
        baseline = learned_values(problem, params, key, self.n_pilot, traj.states)
        advantage = problem.rewards_to_go(traj) - baseline
        return weighted_step_score_mean(params, problem, traj, advantage * disc[:, None])


@register
@dataclasses.dataclass(frozen=True)
class GAE(_TrajectoryEstimator):
    """Generalised advantage estimation, GAE(gamma, lambda) (Schulman et al. 2016, eq. 16), with a critic V:

        g = (1/n) sum_i sum_t gamma^t psi_it A_it,   A_t = sum_{l>=0} (gamma lambda)^l delta_{t+l},
        delta_t = r_t + gamma V_{t+1}(x_{t+1}) - V_t(x_t),   V_H = 0.

    At lambda = 1, A_t = G_t - V_t(x_t) (the value baseline): unbiased for any critic. For lambda < 1 the
    estimator is unbiased when V is the policy's exact value function (then E[delta_t | x_t, u_t] is the
    true advantage; Schulman et al. 2016, Prop. 1) and biased otherwise. Critics (``value``):

    - ``exact``: the exact V_t (unbiased for every lambda; lower variance as lambda falls);
    - ``stationary``: V_0 used at every t < H, a time-agnostic critic as most actor-critic code uses for
      a finite-horizon task; misspecified, so biased for lambda < 1 (bias and variance both exact);
    - ``learned``: a per-time quadratic fitted on an independent pilot batch (as in
      :class:`LearnedValueBaseline`). The quadratic features contain the true V_t, so the least-squares fit
      is conditionally unbiased and, since the estimate is affine in the fitted coefficients, the estimator
      is unbiased on average over pilot batches for every lambda; its variance is measured, not exact.
    """

    lam: float = 0.95
    value: str = "exact"
    n_pilot: int = 64
    name: ClassVar[str] = "gae"

    @classmethod
    def from_options(cls, options: EstimatorOptions) -> GAE:
        return cls(lam=float(options.lam), value=options.value, n_pilot=int(options.n_pilot))

    def __post_init__(self) -> None:
        if not (0.0 <= self.lam <= 1.0):
            raise ConfigError("lam", f"must be in [0, 1] (got {self.lam})")
        if self.value not in VALUES:
            raise ConfigError("value", f"must be one of {', '.join(VALUES)} (got {self.value!r})")
        if self.n_pilot < 2:
            raise ConfigError("n_pilot", f"must be >= 2 (got {self.n_pilot})")

    @property
    def iid(self) -> bool:  # type: ignore[override]
        return self.value != "learned"

    @property
    def unbiased(self) -> bool:  # type: ignore[override]
        return self.value != "stationary" or self.lam == 1.0

    @property
    def gaussian_moments_known(self) -> bool:  # type: ignore[override]
        return self.value != "learned"

    def critic_values(
        self, problem: GaussianTrajectories, params: Params, traj: Trajectory, key: jax.Array
    ) -> jax.Array:
        """The critic's V_t(x_t) on a batch of trajectories, shape (H, n)."""
        if self.value == "learned":
            return learned_values(problem, params, key, self.n_pilot, traj.states)
        Ps, cs = _critic(problem, params, self.value)
        return evaluate_quadratic_values(Ps[:-1], cs[:-1], traj.states)

    def advantages(self, problem: GaussianTrajectories, params: Params, traj: Trajectory, key: jax.Array) -> jax.Array:
        """A_t (H, n) for a batch of trajectories (no termination, V_H = 0)."""
        values = self.critic_values(problem, params, traj, key)
        return gae_advantages(problem.step_rewards(traj), None, values, problem.discount, self.lam)

    def residuals(self, problem: GaussianTrajectories, params: Params, traj: Trajectory, key: jax.Array) -> jax.Array:
        """TD residuals delta_t = r_t + gamma V_{t+1}(x_{t+1}) - V_t(x_t), V_H = 0, shape (H, n)."""
        values = self.critic_values(problem, params, traj, key)
        return td_residuals(problem.step_rewards(traj), values, problem.discount)

    def __call__(self, key: jax.Array, params: Params, problem: Trajectories, n: int) -> Params:
        traj = rollout(key, params, problem, n)
        disc = problem.discounts(traj.states.dtype)
        advantages = self.advantages(problem, params, traj, key)
        return weighted_step_score_mean(params, problem, traj, advantages * disc[:, None])

    def terms(self, problem: GaussianTrajectories, params: Params, rep: dict[str, Any]) -> tuple[Quadratic, Quadratic]:
        if self.value == "learned":
            raise ValueError("the learned critic has no exact moments")
        H, P = rep["scores"].shape
        dtype = params.K.dtype
        Ps, cs = _critic(problem, params, self.value)
        values = problem.critic_quadratics(rep, Ps[:-1], cs[:-1])  # V_t(x_t), (H,)
        shift = jnp.asarray(np.eye(H, k=1), dtype)  # (S v)_t = v_{t+1}, 0 at t = H-1 (V_H = 0)
        delta = rep["rewards"] + combine(problem.discount * shift, values) - values
        W = reverse_cumsum_matrix(H, problem.discount * self.lam, dtype)
        return _discounted_scores(problem, params, rep), broadcast_p(combine(W, delta), P)


@register
@dataclasses.dataclass(frozen=True)
class SymmetricPGPE(Estimator):
    """PGPE with symmetric sampling (Sehnke et al. 2010, Sec. 2.3), for
    :class:`~pgjax.problems.lqr.ParameterExploringLQR`: the n episodes come in n/2 pairs with gains
    K' = K_mean +- sigma_K xi that share the rest of their randomness (initial state, process noise), and

        g_K_mean      = mean over pairs of (r+ - r-) / 2 * xi / sigma_K,
        g_log_sigma_K = mean over pairs of ((r+ + r-) / 2 - b_i) (xi^2 - 1),

    b_i the mean of (r+ + r-) / 2 over the OTHER pairs (leave-one-out, so unbiased; 0 with one pair).
    Unbiased because xi -> -xi leaves a pair's distribution unchanged. n must be even.
    """

    name: ClassVar[str] = "pgpe_symmetric"
    requires: ClassVar[tuple[type, ...]] = (ParameterExploring,)

    def __call__(self, key: jax.Array, params: Params, problem: ParameterExploring, n: int) -> Params:
        if n % 2:
            raise ValueError(f"symmetric PGPE needs an even number of episodes (got n = {n})")
        half = n // 2
        noise = problem.sample_noise(key, half)
        mirrored = dict(noise, xi=-noise["xi"])
        r_plus = problem.reward(jax.lax.stop_gradient(problem.sample(params, noise)))
        r_minus = problem.reward(jax.lax.stop_gradient(problem.sample(params, mirrored)))
        xi = noise["xi"]
        sigma = jnp.exp(params.log_sigma_K)[..., None]
        g_mean = jnp.mean(0.5 * (r_plus - r_minus) * xi / sigma, axis=-1)
        average = 0.5 * (r_plus + r_minus)
        baseline = (jnp.sum(average) - average) / (half - 1) if half > 1 else jnp.zeros_like(average)
        g_log_sigma = jnp.mean((average - baseline) * (xi**2 - 1.0), axis=-1)
        return dataclasses.replace(params, K_mean=g_mean, log_sigma_K=g_log_sigma)


@dataclasses.dataclass(frozen=True)
class GAEGrid(Estimator):
    """GAE for several lambdas from the SAME trajectories and critic: returns the tuple of the estimates of
    ``GAE(lam, value)`` for ``lam`` in ``lams`` (each as the separate estimator would compute it from the
    same key), at the cost of one rollout, one critic and one batched backward pass. Its output is not shaped
    like params, so it is not in :data:`TRAJECTORY_ESTIMATORS`: run it through the engine under a tuple
    key of one name per lambda (``lams`` order), which splits its columns (:func:`pgjax.engine.run_sweep`)."""

    lams: tuple[float, ...]
    value: str = "exact"
    n_pilot: int = 64
    name: ClassVar[str] = "gae_grid"
    #: Its output is a tuple of gradients, one per member.
    params_shaped: ClassVar[bool] = False
    requires: ClassVar[tuple[type, ...]] = (Trajectories, GaussianTrajectories)

    def __post_init__(self) -> None:
        for lam in self.lams:
            GAE(lam=lam, value=self.value, n_pilot=self.n_pilot)  # validates

    def __call__(self, key: jax.Array, params: Params, problem: Trajectories, n: int) -> tuple[Params, ...]:
        traj = rollout(key, params, problem, n)
        disc = problem.discounts(traj.states.dtype)
        delta = GAE(lam=1.0, value=self.value, n_pilot=self.n_pilot).residuals(problem, params, traj, key)
        weights = jnp.stack(
            [discounted_reverse_cumsum(delta, problem.discount * lam) * disc[:, None] for lam in self.lams]
        )  # (L, H, n)
        _, vjp = jax.vjp(lambda p: problem.step_log_probs(p, traj), params)
        (grads,) = jax.vmap(vjp)(jax.lax.stop_gradient(weights) / n)
        return tuple(jax.tree.map(lambda g, j=j: g[j], grads) for j in range(len(self.lams)))


# ------------------------------------------------------------------------------------ fused compilation
# ---------------------------------------------------------------------------------------------- registry
#: The capabilities of a trajectory problem (LQR): an estimator that needs no other runs on it.
TRAJECTORY_CAPABILITIES = frozenset({ExactScoreMoments, Trajectories, FoldedRollout, GaussianTrajectories})

#: Estimators for trajectory problems by name, in registration order: the registered pgjax estimators whose
#: requirements a trajectory problem (LQR) meets (derived from the one registry, pgjax.estimators.base).
TRAJECTORY_ESTIMATORS = {
    name: cls
    for name, cls in builtin().items()
    if set(cls.requires) <= TRAJECTORY_CAPABILITIES and not set(cls.excludes) & TRAJECTORY_CAPABILITIES
}


def make_trajectory_estimator(
    name: str, *, baseline: float = 0.0, lam: float = 0.95, value: str = "exact", n_pilot: int = 64
) -> Estimator:
    """The trajectory estimator called ``name``. ``baseline`` is the b of ``constant_baseline``; ``lam`` and
    ``value`` configure ``gae``; ``n_pilot`` is the pilot batch of the learned critics."""
    if name not in TRAJECTORY_ESTIMATORS:
        raise ConfigError("estimators", f"unknown estimator {name!r}; choose from {', '.join(TRAJECTORY_ESTIMATORS)}")
    options = EstimatorOptions(baseline=float(baseline), lam=float(lam), value=value, n_pilot=int(n_pilot))
    return TRAJECTORY_ESTIMATORS[name].from_options(options)


__all__ = [
    "Fused",
    "GAE",
    "GAEGrid",
    "LearnedValueBaseline",
    "PinnedOptimalBaseline",
    "RewardToGo",
    "RewardToGoOptimalBaseline",
    "SymmetricPGPE",
    "TRAJECTORY_ESTIMATORS",
    "VALUES",
    "ValueBaseline",
    "exact_moments",
    "fit_quadratic_values",
    "has_exact_moments",
    "learned_values",
    "least_squares",
    "make_trajectory_estimator",
    "mean_step_scores",
    "rollout",
    "weighted_step_score_mean",
]

"""Parameter-exploring policy gradients (PGPE; Sehnke et al. 2010) on the LQR systems: the noise is in the
gain of a deterministic policy, drawn once per episode, instead of in the actions.

Its exact objective is a Gauss-Hermite average of the deterministic return
(:meth:`~pgjax.problems.lqr.regulator.LinearQuadraticRegulator.objective_for`), and its rollout reuses the
regulator's fused matrix helpers, so it lives beside the regulator in :mod:`pgjax.problems.lqr`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from pgjax.errors import ConfigError
from pgjax.problems.lqr.regulator import LinearQuadraticRegulator, Trajectory, _apply, _psd_sqrt, _vary_like


@struct.dataclass
class PGPEParams:
    """Hyper-parameters of PGPE: K_mean (a, m), the mean of the gain distribution; log_sigma_K (a, m), the
    log of its per-entry standard deviations."""

    K_mean: jax.Array
    log_sigma_K: jax.Array


@struct.dataclass
class PGPEOutcome:
    """A batch of n episodes: gains (a, m, n), the K' each episode used; traj, the deterministic rollouts."""

    gains: jax.Array
    traj: Trajectory


@dataclasses.dataclass(frozen=True)
class ParameterExploringLQR:
    """Parameter-exploring policy gradients (PGPE; Sehnke et al. 2010) on an LQR system: the noise is in the
    parameters, not the actions. Each episode draws a gain K' = K_mean + sigma_K * xi (xi ~ N(0, I), entry by
    entry) once and runs the DETERMINISTIC policy u_t = K' x_t; the reward is the episode's return. The
    objective is the smoothed return

        J(K_mean, sigma_K) = E_xi[ J_det(K_mean + sigma_K * xi) ],

    with J_det(K) the exact return of u = K x (moment propagation, :meth:`LinearQuadraticRegulator.objective_for`
    with no action noise). J_det is a polynomial of degree at most 2H in the entries of K, so a tensor-product
    Gauss-Hermite rule with H + 1 nodes per entry integrates it EXACTLY; that is :meth:`objective` (its cost,
    (H + 1)^(a m) evaluations of J_det, limits it to small systems: ``quadrature_nodes`` caps it).

    The interface is the bandit's: ``log_prob`` is log N(K'; K_mean, sigma_K^2) summed over entries (the score
    of the episode), ``reward`` the return, so REINFORCE, leave-one-out and pathwise (through K' and the
    rollout) apply unchanged; :class:`pgjax.estimators.trajectory.SymmetricPGPE` is Sehnke et al.'s symmetric
    sampling. The action-noise ``base.sigma0`` and ``base.noise`` are not used.
    """

    base: LinearQuadraticRegulator
    sigma_K0: tuple[float, ...] = (0.1,)
    max_quadrature_points: int = 200_000
    name: str = "lqr_pgpe"

    def __post_init__(self):
        a, m = self.base.action_dim, self.base.state_dim
        sig = tuple(self.sigma_K0)
        if len(sig) not in (1, a * m) or not all(math.isfinite(s) and s > 0 for s in sig):
            raise ConfigError("sigma_k", f"must be 1 or a m = {a * m} numbers > 0 (got {sig})")
        if self.quadrature_nodes ** (a * m) > self.max_quadrature_points:
            raise ConfigError(
                "horizon",
                f"the exact PGPE objective needs (H + 1)^(a m) = {self.quadrature_nodes}^{a * m} "
                f"quadrature points, over {self.max_quadrature_points}: use a shorter horizon or fewer gains",
            )

    @property
    def horizon(self) -> int:
        return self.base.horizon

    @property
    def sample_cost(self) -> int:
        """One sample is an episode: H steps (:class:`pgjax.problems.base.SampleCost`)."""
        return self.base.horizon

    @property
    def quadrature_nodes(self) -> int:
        """H + 1 Gauss-Hermite nodes per gain entry: exact for J_det's degree 2H."""
        return self.base.horizon + 1

    def init_params(self) -> PGPEParams:
        dtype = jnp.result_type(float)
        a, m = self.base.action_dim, self.base.state_dim
        sig = np.broadcast_to(np.asarray(self.sigma_K0, np.float64), (a * m,)).reshape(a, m)
        return PGPEParams(K_mean=jnp.asarray(self.base.K0, dtype), log_sigma_K=jnp.asarray(np.log(sig), dtype))

    def sample_noise(self, key: jax.Array, n: int) -> dict:
        """``xi`` (a, m, n) gain noise, plus the base problem's ``z0`` / ``w`` (no action noise)."""
        key_traj, key_gain = jax.random.split(key)
        a, m = self.base.action_dim, self.base.state_dim
        noise = {"xi": jax.random.normal(key_gain, (a, m, n))}
        base = self.base.sample_noise(key_traj, n)
        noise.update({k: v for k, v in base.items() if k != "eps"})
        return noise

    def gains(self, params: PGPEParams, noise: dict) -> jax.Array:
        """K' = K_mean + sigma_K * xi, shape (a, m, n)."""
        return params.K_mean[..., None] + jnp.exp(params.log_sigma_K)[..., None] * noise["xi"]

    def rollout(self, gains: jax.Array, noise: dict) -> Trajectory:
        """Deterministic rollouts u_t = K'_i x_t of n episodes with per-episode gains (a, m, n)."""
        base = self.base
        dtype = gains.dtype
        A, B = base._const(base.A, dtype), base._const(base.B, dtype)
        n = gains.shape[-1]
        proc = None
        if base.process_noise:
            proc = _apply(base._const(_psd_sqrt(np.asarray(base.process_cov)), dtype), noise["w"])

        def step(x, noise_x):
            u = jnp.sum(gains * x[None, :, :], axis=1)  # (a, n)
            x_next = _apply(A, x) + _apply(B, u)
            if noise_x is not None:
                x_next = x_next + noise_x
            return x_next, (x, u)

        eps_like = {"eps": jnp.zeros((1, 1, n), dtype), **{k: v for k, v in noise.items() if k == "z0"}}
        x0 = _vary_like(base.initial_states(eps_like, dtype), gains, proc)
        _, (xs, us) = jax.lax.scan(step, x0, proc, length=base.horizon)
        return Trajectory(states=xs, actions=us)

    def sample(self, params: PGPEParams, noise: dict) -> PGPEOutcome:
        gains = self.gains(params, noise)
        return PGPEOutcome(gains=gains, traj=self.rollout(gains, noise))

    def log_prob(self, params: PGPEParams, outcome: PGPEOutcome) -> jax.Array:
        """sum over entries of log N(K'_ij; K_mean_ij, sigma_ij^2), shape (n,)."""
        z = (outcome.gains - params.K_mean[..., None]) * jnp.exp(-params.log_sigma_K)[..., None]
        per_entry = -0.5 * z**2 - params.log_sigma_K[..., None] - 0.5 * math.log(2.0 * math.pi)
        return jnp.sum(per_entry, axis=(0, 1))

    def reward(self, outcome: PGPEOutcome) -> jax.Array:
        """The episode's discounted return, shape (n,)."""
        return self.base.reward(outcome.traj)

    def objective(self, params: PGPEParams) -> jax.Array:
        """J = E_xi[J_det(K_mean + sigma_K xi)] by the exact tensor-product Gauss-Hermite rule."""
        from pgjax.problems.quadrature import gauss_hermite

        a, m = self.base.action_dim, self.base.state_dim
        nodes, weights = gauss_hermite(self.quadrature_nodes)
        grid = np.array(list(itertools.product(nodes, repeat=a * m)))  # (k^(a m), a m)
        w = np.prod(np.array(list(itertools.product(weights, repeat=a * m))), axis=1)
        dtype = params.K_mean.dtype
        gains = params.K_mean + jnp.exp(params.log_sigma_K) * jnp.asarray(grid, dtype).reshape(-1, a, m)
        values = jax.vmap(self.base.objective_for)(gains)
        return jnp.asarray(w, dtype) @ values

    def describe(self) -> str:
        sig = ", ".join(f"{v:g}" for v in self.sigma_K0)
        return f"PGPE on {self.base.describe().split(', sigma=')[0]}, sigma_K=({sig})"

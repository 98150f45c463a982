"""A one-step continuous bandit with a linear-Gaussian policy.

State s in R^d, either fixed or drawn from a diagonal Gaussian N(m, diag(v)); action a ~ N(theta . s, sigma^2)
with learnable theta (d,) and log sigma (scalar); reward r(a) (see :mod:`pgjax.problems.rewards`).

Exact objective. Given s, a is Gaussian with mean theta . s; integrating s out, a ~ N(M, V) with
M = theta . m and V = sigma^2 + sum_c theta_c^2 v_c. Hence J(theta, log sigma) = E_{a ~ N(M, V)}[r(a)], a
one-dimensional Gaussian expectation: closed form for the built-in rewards, Gauss-Hermite quadrature
otherwise. The true gradient is jax.grad(J).

Scores (psi = grad log pi(a | s)), with a = theta . s + sigma eps:
    psi_theta     = (a - theta . s) s / sigma^2 = eps s / sigma,
    psi_log_sigma = (a - theta . s)^2 / sigma^2 - 1 = eps^2 - 1.

Exact second moments (used for the variance-minimising baseline and exact single-sample variances) are
computed by tensor-product Gauss-Hermite quadrature over three independent standard normals: z1 (the state
noise along the direction that moves theta . s), eps (action noise), and w (the rest of s_c, which enters
only polynomially). With tau^2 = sum_c theta_c^2 v_c and u_c = theta_c sqrt(v_c) / tau,
    theta . s = M + tau z1,   s_c = m_c + sqrt(v_c) (u_c z1 + sqrt(1 - u_c^2) w),
which reproduces the joint law of (a, eps, s_c) exactly for every coordinate c.

Gaussian structure. The action is Gaussian: a = theta . s + sigma eps, and marginally (the state integrated
out) a ~ N(M, V), and J depends on the parameters only through (M, V). So the bandit offers what the
measure-valued and delta-method estimators need, in one dimension (D = 1): ``gaussian(params)`` returns
(M, sqrt V) as arrays of shape (1,), ``f(x) = r(x[..., 0])``, and ``gaussian_variable(outcome)`` is the action
as an (n, 1) array. The measure-valued estimators then differentiate E_{a ~ N(M, V)}[r(a)] and map the result
to (theta, log sigma) by the chain rule; with a fixed state M = theta . s and sqrt V = sigma. With a random
state, the delta-method control variates keep the bandit's own (conditional) score and sampler and expand r
around M: E_s E_{a|s}[h(a) psi] = grad E[h(a)] still holds, so they stay unbiased.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from pgjax.errors import ConfigError
from pgjax.problems.base import ScoreMoments, one_pass_mean
from pgjax.problems.quadrature import gauss_hermite
from pgjax.problems.rewards import Quadratic, Reward, make_reward


@struct.dataclass
class BanditParams:
    """Policy parameters: theta (d,), the weights of the mean theta . s; log_sigma (), log of the std."""

    theta: jax.Array
    log_sigma: jax.Array


@struct.dataclass
class BanditOutcome:
    """A batch of n draws: state (n, d), or (d,) when the state is fixed; action (n,)."""

    state: jax.Array
    action: jax.Array


@dataclasses.dataclass(frozen=True)
class LinearGaussianBandit:
    """One-step bandit, a ~ N(theta . s, sigma^2), s fixed or ~ N(state_mean, diag(state_std^2)).

    Attributes:
      state_mean: m, the state (fixed state) or the mean of the state distribution; length d.
      state_std: per-coordinate std of the state distribution (length d); all zeros = fixed state.
      reward_function: the reward r(a).
      theta0, sigma0: the default policy returned by :meth:`init_params`.
      quadrature_nodes: Gauss-Hermite nodes per dimension for exact moments (and J when r has no closed form).
    """

    state_mean: tuple[float, ...] = (1.0, 0.5)
    state_std: tuple[float, ...] = (0.0, 0.0)
    reward_function: Reward = Quadratic(1.0)
    theta0: tuple[float, ...] = (0.2, -0.3)
    sigma0: float = 1.0
    quadrature_nodes: int = 64
    name: str = "linear_gaussian_bandit"

    def __post_init__(self) -> None:
        d = len(self.state_mean)
        if d < 1:
            raise ConfigError("state", "must have at least one coordinate")
        if len(self.state_std) != d:
            raise ConfigError("state_std", f"must have the state's length {d} (got {len(self.state_std)})")
        if any(not math.isfinite(v) or v < 0 for v in self.state_std):
            raise ConfigError("state_std", f"must be finite and >= 0 (got {self.state_std})")
        if any(not math.isfinite(v) for v in self.state_mean):
            raise ConfigError("state", f"must be finite (got {self.state_mean})")
        if len(self.theta0) != d:
            raise ConfigError("theta", f"must have the state's length {d} (got {len(self.theta0)})")
        if any(not math.isfinite(v) for v in self.theta0):
            raise ConfigError("theta", f"must be finite (got {self.theta0})")
        if not (math.isfinite(self.sigma0) and self.sigma0 > 0):
            raise ConfigError("sigma", f"must be > 0 (got {self.sigma0})")
        if self.quadrature_nodes < 8:
            raise ConfigError("quadrature_nodes", f"must be >= 8 (got {self.quadrature_nodes})")

    @classmethod
    def build(
        cls,
        *,
        state: Sequence[float],
        theta: Sequence[float],
        sigma: float,
        state_std: float | Sequence[float] = 0.0,
        reward: str | Reward = "quadratic",
        reward_target: float = 1.0,
    ) -> LinearGaussianBandit:
        """Validating constructor; ``state_std`` may be a scalar (same for every coordinate)."""
        state = tuple(float(x) for x in state)
        if isinstance(state_std, (int, float)):
            state_std = (float(state_std),) * len(state)
        if isinstance(reward, str):
            reward = make_reward(reward, target=reward_target)
        return cls(
            state_mean=state,
            state_std=tuple(float(x) for x in state_std),
            reward_function=reward,
            theta0=tuple(float(x) for x in theta),
            sigma0=float(sigma),
        )

    # ----------------------------------------------------------------------------------------- sizes
    @property
    def dim(self) -> int:
        return len(self.state_mean)

    @property
    def fixed_state(self) -> bool:
        return all(v == 0.0 for v in self.state_std)

    def init_params(self) -> BanditParams:
        return BanditParams(
            theta=jnp.asarray(self.theta0, dtype=jnp.result_type(float)),
            log_sigma=jnp.asarray(math.log(self.sigma0), dtype=jnp.result_type(float)),
        )

    # -------------------------------------------------------------------------------------- sampling
    def sample_noise(self, key: jax.Array, n: int) -> dict:
        """eps (n,) action noise and, for a random state, z (n, d) state noise; all N(0, 1)."""
        key_state, key_action = jax.random.split(key)
        eps = jax.random.normal(key_action, (n,))
        if self.fixed_state:
            return {"eps": eps}
        return {"eps": eps, "z": jax.random.normal(key_state, (n, self.dim))}

    def states(self, noise: dict) -> jax.Array:
        """s = m + sqrt(v) z, shape (n, d); the fixed state (d,) when there is no state noise."""
        mean = jnp.asarray(self.state_mean)
        if self.fixed_state:
            return mean
        return mean + jnp.asarray(self.state_std) * noise["z"]

    def sample(self, params: BanditParams, noise: dict) -> BanditOutcome:
        """a = theta . s + sigma eps, differentiable in params (reparameterisation)."""
        state = self.states(noise)
        action = state @ params.theta + jnp.exp(params.log_sigma) * noise["eps"]
        return BanditOutcome(state=state, action=action)

    def log_prob(self, params: BanditParams, outcome: BanditOutcome) -> jax.Array:
        """log N(a; theta . s, sigma^2), shape (n,)."""
        mean = outcome.state @ params.theta
        z = (outcome.action - mean) * jnp.exp(-params.log_sigma)
        return -0.5 * z**2 - params.log_sigma - 0.5 * math.log(2.0 * math.pi)

    def score_mean_one_pass(
        self, params: BanditParams, outcome: BanditOutcome, weights: jax.Array
    ) -> BanditParams | None:
        """(1/n) sum_i w_i psi_i in closed form, as one reduction (:class:`pgjax.problems.base.OnePassScores`);
        None for a random state (its theta part is a matrix-vector product, not one sum).

        With d_i = a_i - theta . s, the scores are psi_theta = d_i s / sigma^2 and
        psi_log_sigma = d_i^2 / sigma^2 - 1 (module docstring), so the estimate is
        (mean(w d) s / sigma^2, mean(w d^2 / sigma^2 - w)). The two means are the real and imaginary parts of ONE
        complex mean: a complex sum adds the real and the imaginary parts separately, and it reads each sample
        once (summed blockwise, :func:`pgjax.problems.base.one_pass_mean`).
        """
        if not self.fixed_state:
            return None
        inv_var = jnp.exp(-2.0 * params.log_sigma)
        d = outcome.action - outcome.state @ params.theta
        wd = weights * d
        both = one_pass_mean(jax.lax.complex(wd, wd * d * inv_var - weights))
        return BanditParams(theta=jnp.real(both) * inv_var * outcome.state, log_sigma=jnp.imag(both))

    def reward(self, outcome: BanditOutcome) -> jax.Array:
        """r(a), shape (n,)."""
        return self.reward_function(outcome.action)

    # ------------------------------------------------------------------------------ Gaussian structure
    def gaussian(self, params: BanditParams) -> tuple[jax.Array, jax.Array]:
        """(M, sqrt V), each of shape (1,): mean and std of the action's marginal law, differentiable in params
        (sqrt V = sigma itself when the state is fixed)."""
        mean, var = self.action_moments(params)
        std = jnp.exp(params.log_sigma) if self.fixed_state else jnp.sqrt(var)
        return mean[None], std[None]

    def f(self, x: jax.Array) -> jax.Array:
        """The reward as a function of the Gaussian variable x = (a,): x (..., 1) -> (...)."""
        return self.reward_function(x[..., 0])

    def gaussian_variable(self, outcome: BanditOutcome) -> jax.Array:
        """The Gaussian variable of a batch of outcomes: the actions, shape (n, 1)."""
        return outcome.action[..., None]

    # --------------------------------------------------------------------------------- exact values
    def action_moments(self, params: BanditParams) -> tuple[jax.Array, jax.Array]:
        """(M, V): mean and variance of the marginal action distribution."""
        mean = jnp.asarray(self.state_mean) @ params.theta
        var = jnp.exp(2.0 * params.log_sigma) + jnp.sum(params.theta**2 * jnp.asarray(self.state_std) ** 2)
        return mean, var

    def objective(self, params: BanditParams) -> jax.Array:
        """J = E[r(a)] with a ~ N(M, V) exactly (closed form, or quadrature for rewards without one)."""
        mean, var = self.action_moments(params)
        return self.reward_function.gaussian_expectation(mean, var, self.quadrature_nodes)

    def score_moments(self, params: BanditParams) -> ScoreMoments:
        """Exact per-coordinate moments by quadrature (see module docstring), each shaped like params.

        Returns a :class:`~pgjax.problems.base.ScoreMoments` with
          ``psi2``    E[psi_c^2],
          ``r_psi2``  E[r psi_c^2],
          ``r2_psi2`` E[r^2 psi_c^2],
          ``dr2``     E[(d r(a(params, noise)) / d param_c)^2], the pathwise second moment.
        Call it with 64-bit floats enabled (``jax.enable_x64``) for full accuracy.
        """
        k = self.quadrature_nodes
        eps_nodes, eps_w = gauss_hermite(k)
        if self.fixed_state:
            z1_nodes, z1_w = np.zeros(1), np.ones(1)
            w_nodes, w_w = np.zeros(1), np.ones(1)
        else:
            z1_nodes, z1_w = gauss_hermite(k)
            w_nodes, w_w = gauss_hermite(4)  # s_c enters only to degree 2 in w: 4 nodes are exact
        dtype = params.theta.dtype
        as_ = lambda x, shape: jnp.asarray(x, dtype).reshape(shape)
        z1 = as_(z1_nodes, (-1, 1, 1, 1))
        eps = as_(eps_nodes, (1, -1, 1, 1))
        w = as_(w_nodes, (1, 1, -1, 1))
        weight = as_(np.einsum("i,j,k->ijk", z1_w, eps_w, w_w), (len(z1_w), len(eps_w), len(w_w), 1))

        theta, sigma = params.theta, jnp.exp(params.log_sigma)
        m = jnp.asarray(self.state_mean, dtype)
        sd = jnp.asarray(self.state_std, dtype)
        tau = jnp.sqrt(jnp.sum(theta**2 * sd**2))
        u = jnp.where(tau > 0, theta * sd / jnp.where(tau > 0, tau, 1.0), 0.0)
        mu = m @ theta + tau * z1  # (K1, 1, 1, 1)
        action = mu + sigma * eps  # (K1, K, 1, 1)
        s = m + sd * (u * z1 + jnp.sqrt(jnp.clip(1.0 - u**2, 0.0)) * w)  # (K1, 1, Kw, d)
        r = self.reward_function(action)
        dr = jax.grad(lambda a: jnp.sum(self.reward_function(a)))(action)

        expect = lambda f: jnp.sum(weight * f, axis=(0, 1, 2))
        psi_theta = eps * s / sigma
        psi_ls = (eps**2 - 1.0)[..., 0]
        expect_ls = lambda f: jnp.sum(weight[..., 0] * f)

        return ScoreMoments(
            psi2=BanditParams(theta=expect(psi_theta**2), log_sigma=expect_ls(psi_ls**2)),
            r_psi2=BanditParams(theta=expect(r * psi_theta**2), log_sigma=expect_ls(r[..., 0] * psi_ls**2)),
            r2_psi2=BanditParams(theta=expect(r**2 * psi_theta**2), log_sigma=expect_ls(r[..., 0] ** 2 * psi_ls**2)),
            dr2=BanditParams(theta=expect(dr**2 * s**2), log_sigma=expect_ls((dr[..., 0] * sigma * eps[..., 0]) ** 2)),
        )

    def describe(self) -> str:
        state = "s = (" + ", ".join(f"{x:g}" for x in self.state_mean) + ")"
        if not self.fixed_state:
            state = "s ~ N((" + ", ".join(f"{x:g}" for x in self.state_mean) + "), diag(std^2))"
        return f"a ~ N(theta . s, sigma^2), {state}, {self.reward_function.describe()}"

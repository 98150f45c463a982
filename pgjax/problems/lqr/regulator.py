r"""Finite-horizon linear-quadratic control with a Gaussian policy: exact objective, values and moments.

The problem. State x_t in R^m, action u_t in R^a, horizon H, discount gamma in (0, 1]:

    x_0 ~ N(x0_mean, x0_cov)                        (x0_cov = 0: a fixed initial state)
    u_t = K x_t + L eps_t,  eps_t ~ N(0, I_a)       (Gaussian policy; L = diag(sigma), or lower-triangular
                                                     with diagonal sigma and free entries below: "full" noise)
    x_{t+1} = A x_t + B u_t + w_t,  w_t ~ N(0, process_cov)
    r_t = -(x_t' Q x_t + u_t' R u_t),   return G = sum_{t<H} gamma^t r_t.

Learnable parameters (:class:`LQRParams`): the gain K (a, m), log sigma (a,) and, with full noise, the
strictly-lower entries of L (a (a-1) / 2,), row by row.

Exact objective. With A_K = A + B K and Sigma_u = L L', the mean mu_t and covariance S_t of x_t propagate
exactly,

    mu_{t+1} = A_K mu_t,   S_{t+1} = A_K S_t A_K' + B Sigma_u B' + process_cov,

and E[r_t] = -(tr(Q_K S_t) + mu_t' Q_K mu_t + tr(R Sigma_u)) with Q_K = Q + K' R K. So
J(K, sigma) = sum_t gamma^t E[r_t] without sampling, and the true gradient is jax.grad(J).

Exact value functions. For the fixed policy, V_t(x) = E[sum_{s>=t} gamma^{s-t} r_s | x_t = x] = x' P_t x + c_t
with P_H = 0, c_H = 0 and the backward (Lyapunov) recursion

    P_t = -Q_K + gamma A_K' P_{t+1} A_K,
    c_t = -tr(R Sigma_u) + gamma (tr(P_{t+1} (B Sigma_u B' + process_cov)) + c_{t+1}).

(P_t is negative semi-definite: rewards are costs with a minus sign.) E[V_0(x_0)] = J.

Exact moments of estimators. One trajectory is a deterministic function of a standard normal vector
xi in R^D, the concatenation [z_0 (m, if x_0 is random), eps_0..eps_{H-1} (H a), z^w_0..z^w_{H-1} (H m, if
there is process noise)], with x_0 = x0_mean + x0_cov^{1/2} z_0 and w_t = process_cov^{1/2} z^w_t. At a fixed
policy every state and action is affine in xi, so every per-step reward r_t, per-step score
psi_t = grad log pi(u_t | x_t), value V_t(x_t), TD residual and reward-to-go is a QUADRATIC polynomial
q(xi) = xi' M xi + b' xi + c. :meth:`LinearQuadraticRegulator.gaussian_representation` extracts (M, b, c) for
all of them by automatic differentiation at xi = 0 (exact, because they are exactly quadratic). The exact
moments of sums of products of such quadratics are in :mod:`pgjax.problems.lqr.moments`;
:meth:`LinearQuadraticRegulator.score_moments` uses them for the whole-trajectory score, and
:mod:`pgjax.estimators.trajectory` for the per-step estimators.

This module holds the problem (:class:`LinearQuadraticRegulator`, its :class:`LQRParams` and
:class:`Trajectory`), the small fused matrix helpers its rollout and :mod:`pgjax.problems.lqr.pgpe` share,
and :func:`evaluate_quadratic_values`, which the trajectory estimators use for quadratic critics.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.flatten_util import ravel_pytree
from jax.typing import DTypeLike

from pgjax.errors import ConfigError
from pgjax.problems.base import ScoreMoments
from pgjax.problems.lqr.moments import Quadratic, combine, moment2, moment3, moment4, quadratic_coefficients
from pgjax.returns import discounts as discount_factors
from pgjax.returns import returns_to_go
from pgjax.tree_util import vary_like

Matrix = tuple[tuple[float, ...], ...]


_vary_like = vary_like  # kept under its old name for the trajectory estimators


def _apply(M: jax.Array, x: jax.Array) -> jax.Array:
    """M x along the dimension axis of batch-minor x (..., k, n) -> (..., j, n), for the small matrices of
    this problem: written as a broadcast multiply and sum so that XLA fuses it with its neighbours instead of
    calling a matmul on 1 x 1 or 2 x 2 operands."""
    if M.shape == (1, 1):
        return x * M[0, 0]
    return jnp.sum(M[:, :, None] * x[..., None, :, :], axis=-2)


def _quad_form(x: jax.Array, M: jax.Array) -> jax.Array:
    """x' M x along the dimension axis of batch-minor x (..., k, n) -> (..., n), fused like :func:`_apply`."""
    if M.shape == (1, 1):
        return M[0, 0] * x[..., 0, :] ** 2
    return jnp.sum(x * _apply(M, x), axis=-2)


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    vals, vecs = np.linalg.eigh(cov)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


@struct.dataclass
class LQRParams:
    """Policy parameters: K (a, m) the feedback gain; log_sigma (a,) log of the noise scales sigma (the
    diagonal of L); scale_offdiag (a (a-1) / 2,) the strictly-lower entries of L row by row (full noise
    only, else None)."""

    K: jax.Array
    log_sigma: jax.Array
    scale_offdiag: jax.Array | None = None


@struct.dataclass
class Trajectory:
    """A batch of n trajectories, time-major and batch-minor: states (H, m, n) = x_0..x_{H-1}; actions
    (H, a, n) = u_0..u_{H-1}. Time first keeps the rollout's scan output as it is (no transposes); the batch
    last keeps the minor (vectorised) axis long: on a CPU this layout makes the estimators about three
    times faster than (n, H, m)."""

    states: jax.Array
    actions: jax.Array


def _as_matrix(value, rows: int | None, cols: int | None, field: str) -> Matrix:
    arr = np.atleast_2d(np.asarray(value, dtype=np.float64))
    if arr.ndim != 2:
        raise ConfigError(field, f"must be a matrix (got shape {np.shape(value)})")
    if rows is not None and cols is not None and arr.shape == (1, 1) and (rows, cols) != (1, 1):
        if rows == cols:
            arr = arr[0, 0] * np.eye(rows)
    if (rows is not None and arr.shape[0] != rows) or (cols is not None and arr.shape[1] != cols):
        raise ConfigError(field, f"must have shape ({rows}, {cols}) (got {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(field, "must be finite")
    return tuple(tuple(float(x) for x in row) for row in arr)


def _cov_from(value, std, m: int, field: str) -> Matrix:
    if value is None:
        std = np.broadcast_to(np.asarray(std, np.float64), (m,))
        if np.any(~np.isfinite(std)) or np.any(std < 0):
            raise ConfigError(field.replace("cov", "std"), f"must be finite and >= 0 (got {std.tolist()})")
        return tuple(tuple(float(x) for x in row) for row in np.diag(std**2))
    return _as_matrix(value, m, m, field)


@dataclasses.dataclass(frozen=True)
class LinearQuadraticRegulator:
    """Finite-horizon LQR with the Gaussian policy u = K x + L eps (see the module docstring).

    A frozen, hashable dataclass (static under ``jax.jit``) with the interface of
    :class:`~pgjax.problems.bandit.LinearGaussianBandit`: ``log_prob`` is the log-density of a whole
    trajectory's actions, sum_t log pi(u_t | x_t), shape (n,), and ``reward`` its discounted return (n,), so
    the generic estimators of :mod:`pgjax.estimators` apply (REINFORCE with the total return, constant and
    leave-one-out baselines, the exact optimal constant baseline via :meth:`score_moments`, pathwise via
    :meth:`sample`). The per-step methods (:meth:`step_log_probs`, :meth:`step_rewards`,
    :meth:`rewards_to_go`, :meth:`values`) serve the trajectory estimators of
    :mod:`pgjax.estimators.trajectory`. Build one with :meth:`build` (validating, accepts arrays and scalars)
    or :meth:`scalar` / :meth:`double_integrator`.
    """

    A: Matrix = ((1.0,),)
    B: Matrix = ((1.0,),)
    Q: Matrix = ((1.0,),)
    R: Matrix = ((0.1,),)
    horizon: int = 10
    discount: float = 1.0
    x0_mean: tuple[float, ...] = (1.0,)
    x0_cov: Matrix = ((0.0,),)
    process_cov: Matrix = ((0.0,),)
    K0: Matrix = ((-0.5,),)
    sigma0: tuple[float, ...] = (0.5,)
    noise: str = "diagonal"
    scale_offdiag0: tuple[float, ...] = ()
    name: str = "lqr"

    def __post_init__(self):
        m, a = self.state_dim, self.action_dim
        for field, mat, shape in (
            ("A", self.A, (m, m)),
            ("B", self.B, (m, a)),
            ("Q", self.Q, (m, m)),
            ("R", self.R, (a, a)),
            ("x0_cov", self.x0_cov, (m, m)),
            ("process_cov", self.process_cov, (m, m)),
            ("K", self.K0, (a, m)),
        ):
            arr = np.asarray(mat, dtype=np.float64)
            if arr.shape != shape:
                raise ConfigError(field, f"must have shape {shape} (got {arr.shape})")
            if not np.all(np.isfinite(arr)):
                raise ConfigError(field, "must be finite")
        for field, mat in (("Q", self.Q), ("R", self.R), ("x0_cov", self.x0_cov), ("process_cov", self.process_cov)):
            arr = np.asarray(mat, dtype=np.float64)
            if not np.allclose(arr, arr.T, rtol=0, atol=1e-12 * max(1.0, np.abs(arr).max())):
                raise ConfigError(field, "must be symmetric")
            if np.linalg.eigvalsh(arr).min() < -1e-12 * max(1.0, np.abs(arr).max()):
                raise ConfigError(field, "must be positive semi-definite")
        if len(self.x0_mean) != m or not all(math.isfinite(v) for v in self.x0_mean):
            raise ConfigError("x0", f"must be {m} finite numbers (got {self.x0_mean})")
        if isinstance(self.horizon, bool) or int(self.horizon) != self.horizon or self.horizon < 1:
            raise ConfigError("horizon", f"must be an integer >= 1 (got {self.horizon})")
        if not (math.isfinite(self.discount) and 0.0 < self.discount <= 1.0):
            raise ConfigError("discount", f"must be in (0, 1] (got {self.discount})")
        if len(self.sigma0) != a or not all(math.isfinite(s) and s > 0 for s in self.sigma0):
            raise ConfigError("sigma", f"must be {a} numbers > 0 (got {self.sigma0})")
        if self.noise not in ("diagonal", "full"):
            raise ConfigError("noise", f"must be 'diagonal' or 'full' (got {self.noise!r})")
        if self.noise == "full":
            if a < 2:
                raise ConfigError("noise", "'full' needs at least 2 action dimensions (a 1-d scale is diagonal)")
            if len(self.scale_offdiag0) != a * (a - 1) // 2:
                raise ConfigError("scale_offdiag", f"must have a (a - 1) / 2 = {a * (a - 1) // 2} entries")
        elif self.scale_offdiag0:
            raise ConfigError("scale_offdiag", "is only used with noise='full'")

    # ------------------------------------------------------------------------------------- constructors
    @classmethod
    def build(
        cls,
        *,
        A,
        B,
        Q,
        R,
        K,
        sigma,
        horizon: int,
        x0,
        x0_std: float | Sequence[float] = 0.0,
        x0_cov=None,
        process_std: float | Sequence[float] = 0.0,
        process_cov=None,
        discount: float = 1.0,
        noise: str = "diagonal",
        scale_offdiag: Sequence[float] = (),
    ) -> LinearQuadraticRegulator:
        """Validating constructor. Matrices may be nested sequences, arrays or scalars (a 1 x 1 matrix; for
        Q, R and covariances a scalar means that multiple of the identity). ``x0_std`` / ``process_std`` give
        diagonal covariances; ``x0_cov`` / ``process_cov`` override them with full ones."""
        A_ = np.atleast_2d(np.asarray(A, np.float64))
        m = A_.shape[0]
        B_ = np.asarray(B, np.float64)
        B_ = B_.reshape(m, -1) if B_.ndim < 2 else B_
        a = B_.shape[1]
        x0 = np.broadcast_to(np.asarray(x0, np.float64), (m,))
        sigma = np.broadcast_to(np.asarray(sigma, np.float64), (a,))
        K_ = np.asarray(K, np.float64).reshape(a, m) if np.size(K) == a * m else np.asarray(K, np.float64)
        return cls(
            A=_as_matrix(A_, m, m, "A"),
            B=_as_matrix(B_, m, a, "B"),
            Q=_as_matrix(Q, m, m, "Q"),
            R=_as_matrix(R, a, a, "R"),
            horizon=int(horizon),
            discount=float(discount),
            x0_mean=tuple(float(v) for v in x0),
            x0_cov=_cov_from(x0_cov, x0_std, m, "x0_cov"),
            process_cov=_cov_from(process_cov, process_std, m, "process_cov"),
            K0=_as_matrix(K_, a, m, "K"),
            sigma0=tuple(float(s) for s in sigma),
            noise=noise,
            scale_offdiag0=tuple(float(s) for s in scale_offdiag),
        )

    @classmethod
    def scalar(
        cls,
        *,
        a: float = 1.0,
        b: float = 1.0,
        q: float = 1.0,
        r: float = 0.1,
        k: float = -0.5,
        sigma: float = 0.5,
        horizon: int = 10,
        x0: float = 1.0,
        x0_std: float = 0.0,
        process_std: float = 0.0,
        discount: float = 1.0,
    ) -> LinearQuadraticRegulator:
        """The scalar system x' = a x + b u + w, u = k x + sigma eps, r = -(q x^2 + r u^2)."""
        return cls.build(
            A=a,
            B=b,
            Q=q,
            R=r,
            K=k,
            sigma=sigma,
            horizon=horizon,
            x0=x0,
            x0_std=x0_std,
            process_std=process_std,
            discount=discount,
        )

    @classmethod
    def double_integrator(
        cls,
        *,
        dt: float = 0.2,
        q: Sequence[float] = (1.0, 0.1),
        r: float = 0.1,
        K: Sequence[float] = (-0.6, -1.2),
        sigma: float = 0.5,
        horizon: int = 20,
        x0: Sequence[float] = (1.0, 0.0),
        x0_std: float = 0.2,
        process_std: float = 0.05,
        discount: float = 1.0,
    ) -> LinearQuadraticRegulator:
        """Two states (position, velocity), one action (force): x' = [[1, dt], [0, 1]] x + [[0], [dt]] u + w,
        r = -(q_pos p^2 + q_vel v^2 + r u^2)."""
        return cls.build(
            A=[[1.0, dt], [0.0, 1.0]],
            B=[[0.0], [dt]],
            Q=np.diag(q),
            R=r,
            K=[list(K)],
            sigma=sigma,
            horizon=horizon,
            x0=x0,
            x0_std=x0_std,
            process_std=process_std,
            discount=discount,
        )

    @property
    def sample_cost(self) -> int:
        """One sample is a trajectory: H steps (:class:`pgjax.problems.base.SampleCost`)."""
        return self.horizon

    def with_horizon(self, horizon: int) -> LinearQuadraticRegulator:
        """The same system and policy with another horizon."""
        return dataclasses.replace(self, horizon=int(horizon))

    # -------------------------------------------------------------------------------------------- sizes
    @property
    def state_dim(self) -> int:
        return len(self.A)

    @property
    def action_dim(self) -> int:
        return len(self.B[0])

    @property
    def random_start(self) -> bool:
        return bool(np.any(np.asarray(self.x0_cov) != 0.0))

    @property
    def process_noise(self) -> bool:
        return bool(np.any(np.asarray(self.process_cov) != 0.0))

    @property
    def noise_dim(self) -> int:
        """D, the number of standard normals behind one trajectory."""
        m, a, H = self.state_dim, self.action_dim, self.horizon
        return (m if self.random_start else 0) + H * a + (H * m if self.process_noise else 0)

    def _const(self, value, dtype) -> jax.Array:
        return jnp.asarray(np.asarray(value, np.float64), dtype)

    def init_params(self) -> LQRParams:
        dtype = jnp.result_type(float)
        offdiag = None
        if self.noise == "full":
            offdiag = jnp.asarray(self.scale_offdiag0, dtype)
        return LQRParams(
            K=jnp.asarray(self.K0, dtype),
            log_sigma=jnp.log(jnp.asarray(self.sigma0, dtype)),
            scale_offdiag=offdiag,
        )

    def noise_scale(self, params: LQRParams) -> jax.Array:
        """L (a, a): diag(sigma) plus, with full noise, the strictly-lower entries; Sigma_u = L L'."""
        L = jnp.diag(jnp.exp(params.log_sigma))
        if self.noise == "full":
            rows, cols = np.tril_indices(self.action_dim, -1)
            L = L.at[rows, cols].set(params.scale_offdiag)
        return L

    def discounts(self, dtype: DTypeLike | None = None) -> jax.Array:
        """gamma^t, t = 0..H-1, shape (H,) (computed in float64 on the host, then rounded to ``dtype``)."""
        return discount_factors(self.horizon, self.discount, dtype or jnp.result_type(float), on_host=True)

    # ----------------------------------------------------------------------------------------- sampling
    def sample_noise(self, key: jax.Array, n: int) -> dict:
        """Standard normals, batch-minor: ``eps`` (H, a, n) action noise; ``z0`` (m, n) initial-state noise
        (random start only); ``w`` (H, m, n) process noise (only with process noise).

        The action noise is drawn exactly as :class:`~pgjax.problems.bandit.LinearGaussianBandit` draws its
        action noise (``key_state, key_action = split(key)``), so with H = 1, a fixed state and no process
        noise the two problems draw identical actions from the same key.
        """
        key_state, key_action = jax.random.split(key)
        m, a, H = self.state_dim, self.action_dim, self.horizon
        noise = {"eps": jax.random.normal(key_action, (H, a, n))}
        key_z0, key_w = jax.random.split(key_state)
        if self.random_start:
            noise["z0"] = jax.random.normal(key_z0, (m, n))
        if self.process_noise:
            noise["w"] = jax.random.normal(key_w, (H, m, n))
        return noise

    def noise_from_flat(self, xi: jax.Array) -> dict:
        """The noise dict of :meth:`sample_noise` from flat standard normals xi (n, D) (the layout of the
        module docstring)."""
        m, a, H = self.state_dim, self.action_dim, self.horizon
        n = xi.shape[0]
        start = 0
        noise = {}
        if self.random_start:
            noise["z0"] = xi[:, :m].T
            start = m
        noise["eps"] = jnp.transpose(xi[:, start : start + H * a].reshape(n, H, a), (1, 2, 0))
        start += H * a
        if self.process_noise:
            noise["w"] = jnp.transpose(xi[:, start : start + H * m].reshape(n, H, m), (1, 2, 0))
        return noise

    def initial_states(self, noise: dict, dtype: DTypeLike) -> jax.Array:
        """x_0 (m, n)."""
        n = noise["eps"].shape[-1]
        mean = self._const(self.x0_mean, dtype)
        if not self.random_start:
            return jnp.broadcast_to(mean[:, None], (self.state_dim, n))
        return mean[:, None] + _apply(self._const(_psd_sqrt(np.asarray(self.x0_cov)), dtype), noise["z0"])

    def sample(self, params: LQRParams, noise: dict) -> Trajectory:
        """Rolls out n trajectories with ``lax.scan`` over time, differentiably in params (the reparameterised
        path that the pathwise estimator backpropagates through)."""
        return self._scan(params, noise, None, None)

    def fold(self, params: LQRParams, noise: dict, fn: Callable[..., Any], init: Any) -> Any:
        """The rollout of :meth:`sample`, folding ``carry = fn(carry, t, x_t, u_t)`` over its steps instead of
        storing them (x_t (m, n), u_t (a, n)); returns the final carry. Lets an estimator accumulate what it
        needs in the same pass over time, with nothing of size (H, n) in memory."""
        return self._scan(params, noise, fn, init)

    def _scan(self, params: LQRParams, noise: dict, fn, init):
        dtype = params.K.dtype
        A, B = self._const(self.A, dtype), self._const(self.B, dtype)
        eps = noise["eps"]  # (H, a, n)
        if self.noise == "diagonal":
            act_noise = eps * jnp.exp(params.log_sigma)[:, None]
        else:
            act_noise = _apply(self.noise_scale(params), eps)
        if self.process_noise:
            W = self._const(_psd_sqrt(np.asarray(self.process_cov)), dtype)
            proc = _apply(W, noise["w"])  # (H, m, n)
        else:
            proc = None
        K = params.K

        def transition(x, noise_u, noise_x):
            u = _apply(K, x) + noise_u
            x_next = _apply(A, x) + _apply(B, u)
            if noise_x is not None:
                x_next = x_next + noise_x
            return u, x_next

        x0 = _vary_like(self.initial_states(noise, dtype), params, act_noise, proc)
        if fn is None:

            def step(x, inputs):
                u, x_next = transition(x, *inputs)
                return x_next, (x, u)

            _, (xs, us) = jax.lax.scan(step, x0, (act_noise, proc))
            return Trajectory(states=xs, actions=us)

        def fold_step(state, inputs):
            x, carry = state
            t, noise_u, noise_x = inputs
            u, x_next = transition(x, noise_u, noise_x)
            return (x_next, fn(carry, t, x, u)), None

        init = _vary_like(init, params, act_noise, proc)
        times = jnp.arange(self.horizon)
        (_, carry), _ = jax.lax.scan(fold_step, (x0, init), (times, act_noise, proc))
        return carry

    # ---------------------------------------------------------------------------- densities and rewards
    def standardized_actions(self, params: LQRParams, traj: Trajectory) -> jax.Array:
        """eps_t = L^{-1} (u_t - K x_t), shape (H, a, n)."""
        resid = traj.actions - _apply(params.K, traj.states)
        if self.noise == "diagonal":
            return resid * jnp.exp(-params.log_sigma)[:, None]
        L = self.noise_scale(params)
        flat = jnp.moveaxis(resid, -2, 0)  # (a, ..., n)
        z = jax.scipy.linalg.solve_triangular(L, flat.reshape(self.action_dim, -1), lower=True)
        return jnp.moveaxis(z.reshape(flat.shape), 0, -2)

    def step_log_probs(self, params: LQRParams, traj: Trajectory) -> jax.Array:
        """log pi(u_t | x_t) = log N(u_t; K x_t, L L'), shape (H, n)."""
        z = self.standardized_actions(params, traj)
        a = self.action_dim
        return -0.5 * jnp.sum(z**2, axis=-2) - jnp.sum(params.log_sigma) - 0.5 * a * math.log(2.0 * math.pi)

    def log_prob(self, params: LQRParams, traj: Trajectory) -> jax.Array:
        """log-density of the trajectory's actions given its states, sum_t log pi(u_t | x_t), shape (n,).

        The dynamics' densities do not depend on the policy parameters, so this has the same gradient (the
        score sum_t psi_t) as the log-density of the whole trajectory."""
        return jnp.sum(self.step_log_probs(params, traj), axis=0)

    def step_rewards(self, traj: Trajectory) -> jax.Array:
        """r_t = -(x_t' Q x_t + u_t' R u_t), undiscounted, shape (H, n)."""
        dtype = traj.states.dtype
        Q, R = self._const(self.Q, dtype), self._const(self.R, dtype)
        x, u = traj.states, traj.actions
        return -(_quad_form(x, Q) + _quad_form(u, R))

    def reward(self, traj: Trajectory) -> jax.Array:
        """The discounted return G = sum_t gamma^t r_t, shape (n,)."""
        return self.discounts(traj.states.dtype) @ self.step_rewards(traj)

    def rewards_to_go(self, traj: Trajectory) -> jax.Array:
        """G_t = sum_{s>=t} gamma^{s-t} r_s, shape (H, n)."""
        return returns_to_go(self.step_rewards(traj), self.discount)

    # ---------------------------------------------------------------------------------- exact values
    def _policy_matrices(self, params: LQRParams):
        L = self.noise_scale(params)
        return self._matrices_for(params.K, L @ L.T)

    def _matrices_for(self, K: jax.Array, cov_u: jax.Array):
        dtype = K.dtype
        A, B = self._const(self.A, dtype), self._const(self.B, dtype)
        Q, R = self._const(self.Q, dtype), self._const(self.R, dtype)
        A_K = A + B @ K
        Q_K = Q + K.T @ R @ K
        step_noise = B @ cov_u @ B.T + self._const(self.process_cov, dtype)
        return A_K, Q_K, R, cov_u, step_noise

    def state_moments(self, params: LQRParams) -> tuple[jax.Array, jax.Array]:
        """Exact mean (H, m) and covariance (H, m, m) of x_0..x_{H-1} under the policy."""
        L = self.noise_scale(params)
        return self._moments_for(params.K, L @ L.T)

    def _moments_for(self, K: jax.Array, cov_u: jax.Array) -> tuple[jax.Array, jax.Array]:
        dtype = K.dtype
        A_K, _, _, _, step_noise = self._matrices_for(K, cov_u)

        def step(carry, _):
            mu, S = carry
            return (A_K @ mu, A_K @ S @ A_K.T + step_noise), (mu, S)

        init = _vary_like((self._const(self.x0_mean, dtype), self._const(self.x0_cov, dtype)), K, cov_u)
        _, (mus, covs) = jax.lax.scan(step, init, None, length=self.horizon)
        return mus, covs

    def expected_step_rewards(self, params: LQRParams) -> jax.Array:
        """E[r_t] = -(tr(Q_K S_t) + mu_t' Q_K mu_t + tr(R Sigma_u)), shape (H,)."""
        L = self.noise_scale(params)
        return self._expected_step_rewards_for(params.K, L @ L.T)

    def _expected_step_rewards_for(self, K: jax.Array, cov_u: jax.Array) -> jax.Array:
        _, Q_K, R, cov_u, _ = self._matrices_for(K, cov_u)
        mus, covs = self._moments_for(K, cov_u)
        quad = jnp.einsum("ij,tji->t", Q_K, covs) + jnp.einsum("ti,ij,tj->t", mus, Q_K, mus)
        return -(quad + jnp.trace(R @ cov_u))

    def objective(self, params: LQRParams) -> jax.Array:
        """J = E[sum_t gamma^t r_t], exactly, by moment propagation (no sampling)."""
        return self.expected_step_rewards(params) @ self.discounts(params.K.dtype)

    def objective_for(self, K: jax.Array, cov_u: jax.Array | None = None) -> jax.Array:
        """J of the policy u = K x + noise with covariance ``cov_u``; None: the deterministic policy u = K x."""
        if cov_u is None:
            cov_u = jnp.zeros((self.action_dim, self.action_dim), K.dtype)
        return self._expected_step_rewards_for(K, cov_u) @ self.discounts(K.dtype)

    def value_functions(self, params: LQRParams) -> tuple[jax.Array, jax.Array]:
        """(P, c) with V_t(x) = x' P_t x + c_t for t = 0..H: P (H+1, m, m), c (H+1,), P_H = 0, c_H = 0."""
        dtype = params.K.dtype
        A_K, Q_K, R, cov_u, step_noise = self._policy_matrices(params)
        g = self.discount
        act_cost = jnp.trace(R @ cov_u)

        def step(carry, _):
            P_next, c_next = carry
            P = -Q_K + g * A_K.T @ P_next @ A_K
            c = -act_cost + g * (jnp.trace(P_next @ step_noise) + c_next)
            return (P, c), (P, c)

        m = self.state_dim
        terminal = _vary_like((jnp.zeros((m, m), dtype), jnp.zeros((), dtype)), params)
        _, (Ps, cs) = jax.lax.scan(step, terminal, None, length=self.horizon, reverse=True)
        return jnp.concatenate([Ps, terminal[0][None]]), jnp.concatenate([cs, terminal[1][None]])

    def values(self, params: LQRParams, states: jax.Array) -> jax.Array:
        """V_t(x_t) for states (H, m, n) at times 0..H-1, shape (H, n)."""
        Ps, cs = self.value_functions(params)
        return evaluate_quadratic_values(Ps[:-1], cs[:-1], states)

    # -------------------------------------------------------------------------- exact estimator moments
    def gaussian_representation(self, params: LQRParams) -> dict:
        """Every per-step quantity of one trajectory as a quadratic in its standard normals xi (D,).

        Returns a dict with
          ``state_mean`` (H, m), ``state_map`` (H, m, D): x_t = state_mean_t + state_map_t xi;
          ``rewards``  Quadratic (H,): r_t (undiscounted);
          ``scores``   Quadratic (H, P): psi_{t,c} = d log pi(u_t | x_t) / d param_c (ravel_pytree order);
          ``pathwise`` Quadratic (P,): d G / d param_c along the reparameterised path.
        Call with float64 params (``jax.enable_x64``) for exact values.
        """
        return _gaussian_representation(self, params)

    def affine_rollout(self, params: LQRParams) -> tuple[jax.Array, jax.Array]:
        """One trajectory as an affine function of its standard normals xi (D,).

        Returns (zeta, Z): zeta (H, m + a) and Z (H, m + a, D) with (x_t, u_t) = zeta_t + Z_t xi, from the
        recursion x_{t+1} = A x_t + B u_t + W z^w_t, u_t = K x_t + L eps_t on means and linear maps.
        """
        dtype = params.K.dtype
        m, a, H, D = self.state_dim, self.action_dim, self.horizon, self.noise_dim
        A, B = self._const(self.A, dtype), self._const(self.B, dtype)
        K, L = params.K, self.noise_scale(params)
        start = m if self.random_start else 0
        eps_sel = np.zeros((H, a, D))
        for t in range(H):
            eps_sel[t, :, start + t * a : start + (t + 1) * a] = np.eye(a)
        w_map = np.zeros((H, m, D))
        if self.process_noise:
            W = _psd_sqrt(np.asarray(self.process_cov))
            off = start + H * a
            for t in range(H):
                w_map[t, :, off + t * m : off + (t + 1) * m] = W
        X0 = np.zeros((m, D))
        if self.random_start:
            X0[:, :m] = _psd_sqrt(np.asarray(self.x0_cov))

        def step(carry, inputs):
            mu, X = carry
            sel, wmap = inputs
            nu, U = K @ mu, K @ X + L @ sel
            return (A @ mu + B @ nu, A @ X + B @ U + wmap), (jnp.concatenate([mu, nu]), jnp.concatenate([X, U]))

        init = _vary_like((self._const(self.x0_mean, dtype), self._const(X0, dtype)), params)
        _, (zeta, Z) = jax.lax.scan(step, init, (self._const(eps_sel, dtype), self._const(w_map, dtype)))
        return zeta, Z

    def _gaussian_representation(self, params: LQRParams) -> dict:
        dtype = params.K.dtype
        m, a = self.state_dim, self.action_dim
        flat, unravel = ravel_pytree(params)
        zeta, Z = self.affine_rollout(params)
        cost = jax.scipy.linalg.block_diag(self._const(self.Q, dtype), self._const(self.R, dtype))

        # r_t = -(z_t' C z_t), z_t = (x_t, u_t) = zeta_t + Z_t xi.
        rewards = Quadratic(
            M=-jnp.einsum("tid,ij,tje->tde", Z, cost, Z),
            b=-2.0 * jnp.einsum("tid,ij,tj->td", Z, cost, zeta),
            c=-jnp.einsum("ti,ij,tj->t", zeta, cost, zeta),
        )

        # psi_c(x, u) = d log N(u; K x, L L') / d param_c is a quadratic h_c(z) of z = (x, u); compose with z_t.
        def score_of_z(z):
            traj = Trajectory(states=z[:m].reshape(1, m, 1), actions=z[m:].reshape(1, a, 1))
            return jax.jacfwd(lambda f: self.step_log_probs(unravel(f), traj)[0, 0])(flat)  # (P,)

        h = quadratic_coefficients(score_of_z, m + a, dtype)  # batch (P,) over z in R^(m+a)
        scores = Quadratic(
            M=jnp.einsum("tid,pij,tje->tpde", Z, h.M, Z),
            b=2.0 * jnp.einsum("tid,pij,tj->tpd", Z, h.M, zeta) + jnp.einsum("tid,pi->tpd", Z, h.b),
            c=jnp.einsum("ti,pij,tj->tp", zeta, h.M, zeta) + jnp.einsum("pi,ti->tp", h.b, zeta) + h.c,
        )

        # dG/dparam_c = sum_t gamma^t (-2) z_t' C dz_t/dparam_c, with dz_t/dparam_c = dzeta + dZ xi affine in xi.
        dzeta, dZ = jax.jacfwd(lambda f: self.affine_rollout(unravel(f)))(flat)  # (H, k, P), (H, k, D, P)
        disc = self.discounts(dtype)
        cross = jnp.einsum("t,tid,ij,tjep->pde", disc, Z, cost, dZ)
        pathwise = Quadratic(
            M=-(cross + jnp.swapaxes(cross, -1, -2)),
            b=-2.0
            * (
                jnp.einsum("t,tid,ij,tjp->pd", disc, Z, cost, dzeta)
                + jnp.einsum("t,tidp,ij,tj->pd", disc, dZ, cost, zeta)
            ),
            c=-2.0 * jnp.einsum("t,ti,ij,tjp->p", disc, zeta, cost, dzeta),
        )
        return {
            "state_mean": zeta[:, :m],
            "state_map": Z[:, :m],
            "rewards": rewards,
            "scores": scores,
            "pathwise": pathwise,
        }

    @staticmethod
    def critic_quadratics(rep: dict, Ps: jax.Array, cs: jax.Array) -> Quadratic:
        """V_t(x_t) = x_t' P_t x_t + c_t as quadratics in xi, for P (H, m, m), c (H,): a batch (H,)."""
        mu, X = rep["state_mean"], rep["state_map"]
        M = jnp.einsum("tid,tij,tje->tde", X, Ps, X)
        b = 2.0 * jnp.einsum("tid,tij,tj->td", X, Ps, mu)
        c = jnp.einsum("ti,tij,tj->t", mu, Ps, mu) + cs
        return Quadratic(M=0.5 * (M + jnp.swapaxes(M, -1, -2)), b=b, c=c)

    def score_moments(self, params: LQRParams) -> ScoreMoments:
        """Exact moments of the whole-trajectory score psi_c = sum_t psi_{t,c} and the return G = r, each
        shaped like params, as :meth:`LinearGaussianBandit.score_moments` gives them (so the generic
        estimators' exact variances and the exact optimal constant baseline work on this problem):
        ``psi2`` E[psi_c^2], ``r_psi2`` E[G psi_c^2], ``r2_psi2`` E[G^2 psi_c^2], ``dr2`` E[(dG/dparam_c)^2].
        Call with 64-bit floats enabled for full accuracy."""
        return _score_moments(self, params)

    def _score_moments(self, params: LQRParams) -> ScoreMoments:
        rep = self.gaussian_representation(params)
        _, unravel = ravel_pytree(params)
        moments = _score_moments_from_rep(
            rep["rewards"], rep["scores"], rep["pathwise"], self.discounts(params.K.dtype)
        )
        return ScoreMoments(**{k: unravel(v) for k, v in moments.items()})

    # ------------------------------------------------------------------------------------------ display
    def describe(self, horizon: str | None = None) -> str:
        """One line; ``horizon`` replaces the H value (e.g. "1-50" for a horizon sweep)."""
        m, a = self.state_dim, self.action_dim
        parts = [f"LQR m={m}, a={a}, H={self.horizon if horizon is None else horizon}"]
        if self.discount != 1.0:
            parts.append(f"gamma={self.discount:g}")
        parts.append("x0 ~ N" if self.random_start else "x0 fixed")
        if self.process_noise:
            parts.append("process noise")
        if self.noise == "full":
            parts.append("full noise scale")
        K = ", ".join(f"{v:g}" for row in self.K0 for v in row)
        sig = ", ".join(f"{v:g}" for v in self.sigma0)
        parts.append(f"K=({K}), sigma=({sig})")
        return ", ".join(parts)


_gaussian_representation = jax.jit(LinearQuadraticRegulator._gaussian_representation, static_argnums=0)
_score_moments = LinearQuadraticRegulator._score_moments


@jax.jit
def _score_moments_from_rep(rewards: Quadratic, scores: Quadratic, pathwise: Quadratic, discounts) -> dict:
    """Moments of the total score S_c = sum_t psi_tc and the return G (compiled once per shape, shared by
    all problems of that shape)."""
    H = discounts.shape[0]
    ret = combine(discounts[None], rewards)[0]
    score = combine(jnp.ones((1, H), discounts.dtype), scores)[0]  # Quadratic (P,)
    return {
        "psi2": jax.vmap(moment2)(score, score),
        "r_psi2": jax.vmap(lambda s: moment3(ret, s, s))(score),
        "r2_psi2": jax.vmap(lambda s: moment4(ret, ret, s, s))(score),
        "dr2": jax.vmap(moment2)(pathwise, pathwise),
    }


def evaluate_quadratic_values(Ps: jax.Array, cs: jax.Array, states: jax.Array) -> jax.Array:
    """x_t' P_t x_t + c_t for batch-minor states (H, m, n), P (H, m, m), c (H,): shape (H, n)."""
    if states.shape[-2] == 1:
        return Ps[:, 0, 0, None] * states[:, 0] ** 2 + cs[:, None]
    Px = jnp.sum(Ps[:, :, :, None] * states[:, None, :, :], axis=2)  # (H, m, n)
    return jnp.sum(states * Px, axis=1) + cs[:, None]

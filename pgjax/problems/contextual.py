"""A contextual linear-Gaussian bandit: the reward depends on the state as well as on the action.

State s ~ N(m, Sigma) in R^d (Sigma = L L', L lower triangular), action a | s ~ N(theta . s, sigma^2), with
learnable theta (d,) and log sigma (scalar), reward a quadratic of (s, a)
(:class:`StateActionQuadratic`):

    r(s, a) = q_aa a^2 + a (q_as . s) + s' Q_ss s + q_a a + q_s . s + q_0,

by default the target matching r = -(a - w . s - c)^2 - kappa |s|^2 (:meth:`StateActionQuadratic.target_matching`).
The action-only bandit of :mod:`pgjax.problems.bandit` is the case w = 0, kappa = 0 (and a diagonal Sigma).

Everything is a polynomial of one standard normal vector. With xi = (u, eps) ~ N(0, I_{d+1}),

    s = m + L u,    a = theta . s + sigma eps,

the reward r, the scores psi_theta = eps s / sigma and psi_log_sigma = eps^2 - 1, and the pathwise derivatives
dr/dtheta_c = (dr/da) s_c and dr/dlog sigma = (dr/da) sigma eps are each a quadratic q(xi) = xi' M xi + b' xi + c.
Their exact moments (E[q1 q2], E[q1 q2 q3], E[q1 q2 q3 q4]) come from the joint cumulants of quadratic forms of a
standard normal (Isserlis' theorem in cumulant form), computed by :mod:`pgjax.problems.lqr.moments`; the
coefficients (M, b, c) of each quadratic are read off by autodiff at xi = 0 (exact, since they are quadratics).
The moment methods are jitted functions of arrays (the reward's coefficients, the state's law, the parameters):
one compilation per dimension d instead of one per operation.

Exact objective. (s, a) is jointly Gaussian with mean mu_x = (m, theta . m) and covariance
C = [[Sigma, Sigma theta], [theta' Sigma, theta' Sigma theta + sigma^2]], so with r = x' A x + b' x + q_0,
J = tr(A C) + mu_x' A mu_x + b' mu_x + q_0 (closed form); grad J = jax.grad(J).

Exact state-dependent baselines (:class:`~pgjax.problems.base.StateBaselines`). Given s, write
r = q0(s) + q1(s) eps + q2 eps^2 with q2 = q_aa sigma^2 (the eps^2 coefficient of r). With E[eps^2] = 1,
E[eps^4] = 3, E[eps^6] = 15:

    V(s)          = E[r | s]                                    = q0(s) + q2,
    b*_theta(s)   = E[r psi_theta_c^2 | s] / E[psi_theta_c^2 | s] = E[r eps^2 | s]          = V(s) + 2 q2,
    b*_logsig(s)  = E[r (eps^2 - 1)^2 | s] / 2                  = q0(s) + 5 q2            = V(s) + 4 q2,

(psi_theta_c^2 = eps^2 s_c^2 / sigma^2, so s_c^2 cancels and every theta coordinate has the same b*). The
variance-minimising state-dependent baseline per coordinate (Greensmith, Bartlett & Baxter 2004, "Variance
Reduction Techniques for Gradient Estimates in Reinforcement Learning") thus differs from the value baseline by
a constant whenever the reward is curved in a (q_aa != 0): V(s) is not the variance-minimising baseline. The
second moments E[(r - b(s))^2 psi_c^2] are again E[q1 q1 q2 q2] of quadratics of xi.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from pgjax.errors import ConfigError
from pgjax.problems.bandit import BanditOutcome, BanditParams
from pgjax.problems.base import ScoreMoments, StateBaselineMoments
from pgjax.problems.lqr.moments import Quadratic, moment2, moment3, moment4, quadratic_coefficients, quadratic_mean


def _finite(values, field: str) -> None:
    if any(not math.isfinite(float(v)) for v in np.ravel(np.asarray(values, float))):
        raise ConfigError(field, f"must be finite (got {values})")


@dataclasses.dataclass(frozen=True)
class StateActionQuadratic:
    """r(s, a) = q_aa a^2 + a (q_as . s) + s' Q_ss s + q_a a + q_s . s + q_0, a quadratic of the state s (d,)
    and the scalar action a. Hashable (tuples), so a problem holding it is static under ``jax.jit``."""

    q_aa: float
    q_as: tuple[float, ...]
    q_ss: tuple[tuple[float, ...], ...]
    q_a: float
    q_s: tuple[float, ...]
    q_0: float
    label: str = ""

    @classmethod
    def target_matching(
        cls, weights: Sequence[float], offset: float = 0.0, state_cost: float = 0.0
    ) -> StateActionQuadratic:
        """r = -(a - w . s - c)^2 - kappa |s|^2: match the state-dependent target w . s + c, pay kappa |s|^2."""
        w = np.asarray(weights, float)
        _finite(w, "reward_weights")
        _finite([offset], "reward_offset")
        _finite([state_cost], "state_cost")
        d = w.shape[0]
        q_ss = -np.outer(w, w) - state_cost * np.eye(d)
        words = "-(a - w . s" + (f" - {offset:g}" if offset else "") + ")^2"
        words += f" - {state_cost:g} |s|^2" if state_cost else ""
        return cls(
            q_aa=-1.0,
            q_as=tuple(float(x) for x in 2.0 * w),
            q_ss=tuple(tuple(float(x) for x in row) for row in q_ss),
            q_a=2.0 * float(offset),
            q_s=tuple(float(x) for x in -2.0 * offset * w),
            q_0=-(float(offset) ** 2),
            label=f"r = {words}, w = (" + ", ".join(f"{x:g}" for x in w) + ")",
        )

    @property
    def dim(self) -> int:
        return len(self.q_as)

    def coefficients(self, dtype) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(A, b, q_0) of r = x' A x + b' x + q_0 with x = (s, a): A (d+1, d+1) symmetric, b (d+1,)."""
        d = self.dim
        A = np.zeros((d + 1, d + 1))
        q_ss = np.asarray(self.q_ss, float)
        A[:d, :d] = 0.5 * (q_ss + q_ss.T)
        A[:d, d] = A[d, :d] = 0.5 * np.asarray(self.q_as, float)
        A[d, d] = self.q_aa
        b = np.concatenate([np.asarray(self.q_s, float), [self.q_a]])
        return jnp.asarray(A, dtype), jnp.asarray(b, dtype), jnp.asarray(self.q_0, dtype)

    def __call__(self, state: jax.Array, action: jax.Array) -> jax.Array:
        """r for states (..., d) and actions (...)."""
        q_ss = jnp.asarray(self.q_ss, state.dtype)
        q_as = jnp.asarray(self.q_as, state.dtype)
        q_s = jnp.asarray(self.q_s, state.dtype)
        quad = jnp.einsum("...i,ij,...j->...", state, q_ss, state)
        return self.q_aa * action**2 + action * (state @ q_as) + quad + self.q_a * action + state @ q_s + self.q_0

    def action_derivative(self, state: jax.Array, action: jax.Array) -> jax.Array:
        """dr/da = 2 q_aa a + q_as . s + q_a."""
        return 2.0 * self.q_aa * action + state @ jnp.asarray(self.q_as, state.dtype) + self.q_a

    def describe(self) -> str:
        return self.label or "r = quadratic in (s, a)"


@dataclasses.dataclass(frozen=True)
class ContextualBandit:
    """One-step contextual bandit: s ~ N(state_mean, L L'), a | s ~ N(theta . s, sigma^2), r = r(s, a) quadratic.

    Attributes:
      state_mean: m (length d).
      state_chol: L, the lower-triangular Cholesky factor of the state covariance (d rows of length d).
      reward_function: the quadratic reward r(s, a) (:class:`StateActionQuadratic`).
      theta0, sigma0: the default policy returned by :meth:`init_params`.
    """

    state_mean: tuple[float, ...] = (1.0, 0.5)
    state_chol: tuple[tuple[float, ...], ...] = ((0.5, 0.0), (0.0, 0.5))
    reward_function: StateActionQuadratic = StateActionQuadratic.target_matching((1.0, -0.5), 0.0, 0.5)
    theta0: tuple[float, ...] = (0.2, -0.3)
    sigma0: float = 1.0
    name: str = "contextual_bandit"

    def __post_init__(self) -> None:
        d = len(self.state_mean)
        if d < 1:
            raise ConfigError("state", "must have at least one coordinate")
        _finite(self.state_mean, "state")
        L = np.asarray(self.state_chol, float)
        if L.shape != (d, d):
            raise ConfigError("state_std", f"the state's Cholesky factor must be {d} x {d} (got {L.shape})")
        _finite(L, "state_std")
        if np.any(np.triu(L, 1) != 0) or np.any(np.diag(L) < 0):
            raise ConfigError("state_std", "the state's Cholesky factor must be lower triangular, diagonal >= 0")
        if self.reward_function.dim != d:
            raise ConfigError("reward_weights", f"must have the state's length {d} (got {self.reward_function.dim})")
        if len(self.theta0) != d:
            raise ConfigError("theta", f"must have the state's length {d} (got {len(self.theta0)})")
        _finite(self.theta0, "theta")
        if not (math.isfinite(self.sigma0) and self.sigma0 > 0):
            raise ConfigError("sigma", f"must be > 0 (got {self.sigma0})")

    @classmethod
    def build(
        cls,
        *,
        state: Sequence[float],
        theta: Sequence[float],
        sigma: float,
        state_std: float = 0.5,
        state_corr: float = 0.0,
        reward_weights: Sequence[float] | None = None,
        reward_offset: float = 0.0,
        state_cost: float = 0.0,
    ) -> ContextualBandit:
        """Validating constructor: Sigma = state_std^2 ((1 - rho) I + rho 11') (equicorrelated, rho =
        ``state_corr`` in (-1 / (d - 1), 1)); reward -(a - w . s - c)^2 - kappa |s|^2 (w = ``reward_weights``,
        zeros by default; c = ``reward_offset``; kappa = ``state_cost``)."""
        state = tuple(float(x) for x in state)
        d = len(state)
        if d < 1:
            raise ConfigError("state", "must have at least one coordinate")
        if not (math.isfinite(state_std) and state_std >= 0):
            raise ConfigError("state_std", f"must be >= 0 (got {state_std})")
        low = -1.0 / (d - 1) if d > 1 else -1.0
        if not (math.isfinite(state_corr) and low < state_corr < 1.0) and not (d == 1 and state_corr == 0.0):
            raise ConfigError("state_corr", f"must be in ({low:g}, 1) for d = {d} (got {state_corr})")
        cov = state_std**2 * ((1.0 - state_corr) * np.eye(d) + state_corr * np.ones((d, d)))
        chol = np.linalg.cholesky(cov) if state_std > 0 else np.zeros((d, d))
        weights = (0.0,) * d if reward_weights is None else tuple(float(x) for x in reward_weights)
        if len(weights) != d:
            raise ConfigError("reward_weights", f"must have the state's length {d} (got {len(weights)})")
        if not (math.isfinite(state_cost) and state_cost >= 0):
            raise ConfigError("state_cost", f"must be >= 0 (got {state_cost})")
        return cls(
            state_mean=state,
            state_chol=tuple(tuple(float(x) for x in row) for row in chol),
            reward_function=StateActionQuadratic.target_matching(weights, reward_offset, state_cost),
            theta0=tuple(float(x) for x in theta),
            sigma0=float(sigma),
        )

    # ----------------------------------------------------------------------------------------- sizes
    @property
    def dim(self) -> int:
        return len(self.state_mean)

    def init_params(self) -> BanditParams:
        return BanditParams(
            theta=jnp.asarray(self.theta0, dtype=jnp.result_type(float)),
            log_sigma=jnp.asarray(math.log(self.sigma0), dtype=jnp.result_type(float)),
        )

    # -------------------------------------------------------------------------------------- sampling
    def sample_noise(self, key: jax.Array, n: int) -> dict:
        """z (n, d) state noise and eps (n,) action noise, all N(0, 1)."""
        key_state, key_action = jax.random.split(key)
        return {"z": jax.random.normal(key_state, (n, self.dim)), "eps": jax.random.normal(key_action, (n,))}

    def sample(self, params: BanditParams, noise: dict) -> BanditOutcome:
        """s = m + L z, a = theta . s + sigma eps (differentiable in params: the reparameterisation)."""
        dtype = noise["z"].dtype
        state = jnp.asarray(self.state_mean, dtype) + noise["z"] @ jnp.asarray(self.state_chol, dtype).T
        action = state @ params.theta + jnp.exp(params.log_sigma) * noise["eps"]
        return BanditOutcome(state=state, action=action)

    def log_prob(self, params: BanditParams, outcome: BanditOutcome) -> jax.Array:
        """log N(a; theta . s, sigma^2), shape (n,) (the state's density does not depend on params)."""
        z = (outcome.action - outcome.state @ params.theta) * jnp.exp(-params.log_sigma)
        return -0.5 * z**2 - params.log_sigma - 0.5 * math.log(2.0 * math.pi)

    def reward(self, outcome: BanditOutcome) -> jax.Array:
        """r(s, a), shape (n,)."""
        return self.reward_function(outcome.state, outcome.action)

    # --------------------------------------------------------------------------------- exact values
    def objective(self, params: BanditParams) -> jax.Array:
        """J = tr(A C) + mu_x' A mu_x + b' mu_x + q_0 for x = (s, a) ~ N(mu_x, C) (module docstring)."""
        return _objective(*self._arrays(params.theta.dtype), params)

    def _arrays(self, dtype) -> tuple[jax.Array, ...]:
        """(A, b, q_0, m, L): the reward's coefficients and the state's law as arrays, the inputs of the jitted
        moment functions (so problems of one dimension share their compiled programs)."""
        A, b, c = self.reward_function.coefficients(dtype)
        return A, b, c, jnp.asarray(self.state_mean, dtype), jnp.asarray(self.state_chol, dtype)

    def quadratics(self, params: BanditParams) -> dict[str, Quadratic]:
        """The quadratics of xi = (u, eps) (module docstring): ``r`` (one), ``psi`` and ``dr`` (one per
        coordinate, in ravel order: theta then log sigma) and ``value`` V(s) = E[r | s] (one)."""
        return _quadratics(*self._arrays(params.theta.dtype), params)

    def score_moments(self, params: BanditParams) -> ScoreMoments:
        """Exact E[psi_c^2], E[r psi_c^2], E[r^2 psi_c^2], E[(dr/dparam_c)^2], E[r psi_c], E[dr/dparam_c] from
        the moments of quadratics of a standard normal (module docstring). Call it in float64 (jax.enable_x64)."""
        return _score_moments(*self._arrays(params.theta.dtype), params)

    # ---------------------------------------------------------------------- state-dependent baselines
    def state_value(self, params: BanditParams, outcome: BanditOutcome) -> jax.Array:
        """V(s) = E[r | s] = r(s, theta . s) + q_aa sigma^2, shape (n,)."""
        mean = outcome.state @ params.theta
        return self.reward_function(outcome.state, mean) + _curvature(self.reward_function.q_aa, params)

    def optimal_state_baseline(self, params: BanditParams, outcome: BanditOutcome) -> BanditParams:
        """b*_c(s_i) = V(s_i) + (2 q2 for theta, 4 q2 for log sigma), leaves (n, d) and (n,)."""
        value = self.state_value(params, outcome)
        shift = _optimal_shift(self.reward_function.q_aa, params)
        return BanditParams(theta=value[:, None] + shift[: self.dim], log_sigma=value + shift[-1])

    def state_baseline_moments(self, params: BanditParams) -> StateBaselineMoments:
        """E[(r - V(s))^2 psi_c^2] and E[(r - b*_c(s))^2 psi_c^2], exact (quadratics of xi; float64)."""
        return _state_baseline_moments(*self._arrays(params.theta.dtype), params)

    def describe(self) -> str:
        m = ", ".join(f"{x:g}" for x in self.state_mean)
        return f"a ~ N(theta . s, sigma^2), s ~ N(({m}), Sigma) (d = {self.dim}), {self.reward_function.describe()}"


# ----------------------------------------------------------------------------- exact moments (jitted)
@jax.jit
def _objective(A, b, c, m, L, params: BanditParams) -> jax.Array:
    """:meth:`ContextualBandit.objective`: E[x' A x + b' x + c] = tr(A C) + mu' A mu + b' mu + c."""
    cov_s = L @ L.T
    cross = cov_s @ params.theta
    var_a = params.theta @ cross + jnp.exp(2.0 * params.log_sigma)
    top = jnp.concatenate([cov_s, cross[:, None]], axis=1)
    C = jnp.concatenate([top, jnp.concatenate([cross, var_a[None]])[None, :]], axis=0)
    mu = jnp.concatenate([m, (m @ params.theta)[None]])
    return jnp.sum(A * C) + mu @ A @ mu + b @ mu + c


def _curvature(q_aa: jax.Array, params: BanditParams) -> jax.Array:
    """q2 = q_aa sigma^2, the coefficient of eps^2 in r given s."""
    return q_aa * jnp.exp(2.0 * params.log_sigma)


def _optimal_shift(q_aa: jax.Array, params: BanditParams) -> jax.Array:
    """b*_c(s) - V(s) per coordinate, flat (P,): 2 q2 for theta, 4 q2 for log sigma."""
    q2 = _curvature(q_aa, params)
    d = params.theta.shape[0]
    return jnp.concatenate([jnp.full((d,), 2.0, q2.dtype), jnp.full((1,), 4.0, q2.dtype)]) * q2


@jax.jit
def _quadratics(A, b, c, m, L, params: BanditParams) -> dict[str, Quadratic]:
    """:meth:`ContextualBandit.quadratics` from the arrays of the reward (x' A x + b' x + c, x = (s, a)) and the
    state's law (m, L): s = m + L u, a = theta . s + sigma eps, xi = (u, eps)."""
    d = m.shape[0]
    sigma = jnp.exp(params.log_sigma)

    def standard(xi):
        s = m + L @ xi[:d]
        eps = xi[d]
        return s, eps, s @ params.theta + sigma * eps

    def r_of(xi):
        s, _, a = standard(xi)
        x = jnp.concatenate([s, a[None]])
        return x @ A @ x + b @ x + c

    def psi_of(xi):
        s, eps, _ = standard(xi)
        return jnp.concatenate([eps * s / sigma, (eps**2 - 1.0)[None]])

    def dr_of(xi):
        s, eps, a = standard(xi)
        x = jnp.concatenate([s, a[None]])
        da = 2.0 * A[d] @ x + b[d]  # dr/da
        return jnp.concatenate([da * s, (da * sigma * eps)[None]])

    D = d + 1
    dtype = m.dtype
    r = quadratic_coefficients(r_of, D, dtype)
    # E over eps of xi' M xi + b' xi + c: drop eps's row, column and linear term, add M_ee to c.
    keep = jnp.asarray(np.arange(D) < d, dtype)
    value = Quadratic(M=r.M * keep[:, None] * keep[None, :], b=r.b * keep, c=r.c + r.M[-1, -1])
    return {
        "r": r,
        "psi": quadratic_coefficients(psi_of, D, dtype),
        "dr": quadratic_coefficients(dr_of, D, dtype),
        "value": value,
    }


def _unravel(params: BanditParams, flat: jax.Array) -> BanditParams:
    return ravel_pytree(params)[1](flat)


@jax.jit
def _score_moments(A, b, c, m, L, params: BanditParams) -> ScoreMoments:
    """:meth:`ContextualBandit.score_moments`."""
    q = _quadratics(A, b, c, m, L, params)
    r, psi, dr = q["r"], q["psi"], q["dr"]
    out = dict(
        psi2=jax.vmap(lambda p: moment2(p, p))(psi),
        r_psi2=jax.vmap(lambda p: moment3(r, p, p))(psi),
        r2_psi2=jax.vmap(lambda p: moment4(r, r, p, p))(psi),
        dr2=jax.vmap(lambda g: moment2(g, g))(dr),
        r_psi=jax.vmap(lambda p: moment2(r, p))(psi),
        dr=quadratic_mean(dr),
    )
    return ScoreMoments(**{k: _unravel(params, v) for k, v in out.items()})


@jax.jit
def _state_baseline_moments(A, b, c, m, L, params: BanditParams) -> StateBaselineMoments:
    """:meth:`ContextualBandit.state_baseline_moments`: (r - V) and (r - b*_c) = (r - V) - shift_c are
    quadratics of xi, so each second moment is E[q q psi_c psi_c]."""
    q = _quadratics(A, b, c, m, L, params)
    centred = q["r"] - q["value"]
    psi = q["psi"]
    value = jax.vmap(lambda p: moment4(centred, centred, p, p))(psi)

    def optimal(p, shift):
        rb = centred.shift(-shift)
        return moment4(rb, rb, p, p)

    shifts = _optimal_shift(A[-1, -1], params)
    return StateBaselineMoments(
        value=_unravel(params, value),
        optimal=_unravel(params, jax.vmap(optimal)(psi, shifts)),
    )

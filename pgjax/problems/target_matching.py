"""The high-dimensional target-matching task of Wu et al. (2018), "Variance Reduction for Policy Gradient with
Action-Dependent Factorized Baselines", reduced to one step with exact values.

Action a in R^D from a factorised Gaussian policy pi(a) = prod_i N(a_i; mu_i, sigma_i^2) with learnable means
mu (D,) and log standard deviations log sigma (D,); reward r(a) = -|a - t|^2 for a fixed target t. The paper's
synthetic task (2000-dimensional target matching) uses this reward to compare policies TRAINED with
approximate, learned baselines (it reports learning curves, not variances). Differences here: one step and a
fixed state, so Q(s, a) = r(a) is known exactly and every baseline is exact; nothing is trained; what is
measured is the variance of the gradient estimate itself, at the initial policy, against D.

With a_i = mu_i + sigma_i eps_i, delta_i = mu_i - t_i and X_i = (delta_i + sigma_i eps_i)^2 (independent over i),
r = -sum_i X_i, E[X_i] = delta_i^2 + sigma_i^2, Var[X_i] = 4 delta_i^2 sigma_i^2 + 2 sigma_i^4, and

    J = -sum_i (delta_i^2 + sigma_i^2),   grad_mu_i J = -2 delta_i,   grad_log_sigma_i J = -2 sigma_i^2.

Coordinate c (mu_i or log sigma_i) has the score psi_c = eps_i / sigma_i or eps_i^2 - 1, a function of eps_i
alone; write R_i = sum_{j != i} X_j (independent of eps_i, mean E R_i, variance V R_i). Then

    no baseline (REINFORCE):  E[r^2 psi^2] = E[X_i^2 psi^2] + 2 E R_i E[X_i psi^2] + (V R_i + (E R_i)^2) E[psi^2],
    value baseline V = J:     E[(r - J)^2 psi^2] = E[(X_i - E X_i)^2 psi^2] + V R_i E[psi^2],
    action-dependent (Wu):    b_i = E[r | a_{-i}] = -R_i - E X_i,  E[(r - b_i)^2 psi^2] = E[(X_i - E X_i)^2 psi^2],

so the single-sample variance (each minus (grad_c J)^2) grows like D^2 without a baseline, like D with the
value baseline (the other coordinates' noise, V R_i = sum_{j != i} Var X_j), and does not grow with D with the
action-dependent baseline, which removes every other coordinate's reward exactly. The one-dimensional moments
E[f(eps)] of polynomials of degree <= 8 are computed by 16-node Gauss-Hermite quadrature, exact up to rounding.
With one fixed state, the optimal state-dependent baseline is the constant b*_c = E[r psi_c^2] / E[psi_c^2]
(:class:`pgjax.estimators.OptimalBaselineExact`).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from flax import struct

from pgjax.errors import ConfigError
from pgjax.problems.base import ScoreMoments, StateBaselineMoments
from pgjax.problems.quadrature import gauss_hermite

#: Gauss-Hermite nodes of the exact one-dimensional moments (exact for polynomials of degree <= 31).
QUADRATURE_NODES = 16


@struct.dataclass
class TargetMatchingParams:
    """Policy parameters: mu (D,) the means, log_sigma (D,) the log standard deviations."""

    mu: jax.Array
    log_sigma: jax.Array


@struct.dataclass
class TargetMatchingOutcome:
    """A batch of n actions, (n, D)."""

    action: jax.Array


@dataclasses.dataclass(frozen=True)
class TargetMatching:
    """One-step D-dimensional target matching, r(a) = -|a - t|^2, a ~ N(mu, diag(sigma^2)) (Wu et al. 2018).

    Attributes:
      dim: the action dimension D.
      target: t_i, the same for every coordinate.
      mu0, sigma0: the default policy (every coordinate alike) returned by :meth:`init_params`.
    """

    dim: int = 10
    target: float = 1.0
    mu0: float = 0.0
    sigma0: float = 1.0
    name: str = "target_matching"

    def __post_init__(self) -> None:
        if isinstance(self.dim, bool) or int(self.dim) != self.dim or self.dim < 1:
            raise ConfigError("dims", f"every action dimension must be an integer >= 1 (got {self.dim})")
        for field, value in (("target", self.target), ("mu", self.mu0)):
            if not math.isfinite(value):
                raise ConfigError(field, f"must be finite (got {value})")
        if not (math.isfinite(self.sigma0) and self.sigma0 > 0):
            raise ConfigError("sigma", f"must be > 0 (got {self.sigma0})")

    @property
    def sample_cost(self) -> int:
        """One sample draws D action coordinates (sizes the engine's micro-batch)."""
        return int(self.dim)

    def init_params(self) -> TargetMatchingParams:
        dtype = jnp.result_type(float)
        return TargetMatchingParams(
            mu=jnp.full((self.dim,), self.mu0, dtype), log_sigma=jnp.full((self.dim,), math.log(self.sigma0), dtype)
        )

    # -------------------------------------------------------------------------------------- sampling
    def sample_noise(self, key: jax.Array, n: int) -> dict:
        """eps (n, D), N(0, 1)."""
        return {"eps": jax.random.normal(key, (n, self.dim))}

    def sample(self, params: TargetMatchingParams, noise: dict) -> TargetMatchingOutcome:
        """a = mu + sigma eps (the reparameterisation)."""
        return TargetMatchingOutcome(action=params.mu + jnp.exp(params.log_sigma) * noise["eps"])

    def action_log_probs(self, params: TargetMatchingParams, outcome: TargetMatchingOutcome) -> jax.Array:
        """log N(a_i; mu_i, sigma_i^2), shape (n, D)."""
        z = (outcome.action - params.mu) * jnp.exp(-params.log_sigma)
        return -0.5 * z**2 - params.log_sigma - 0.5 * math.log(2.0 * math.pi)

    def log_prob(self, params: TargetMatchingParams, outcome: TargetMatchingOutcome) -> jax.Array:
        """sum_i log pi_i(a_i), shape (n,)."""
        return jnp.sum(self.action_log_probs(params, outcome), axis=-1)

    def reward(self, outcome: TargetMatchingOutcome) -> jax.Array:
        """-|a - t|^2, shape (n,)."""
        return -jnp.sum((outcome.action - self.target) ** 2, axis=-1)

    # --------------------------------------------------------------------------------- exact values
    def objective(self, params: TargetMatchingParams) -> jax.Array:
        """J = -sum_i ((mu_i - t)^2 + sigma_i^2)."""
        return -jnp.sum((params.mu - self.target) ** 2 + jnp.exp(2.0 * params.log_sigma))

    @functools.partial(jax.jit, static_argnums=0)
    def _moments(self, params: TargetMatchingParams) -> dict[str, TargetMatchingParams]:
        """Per coordinate c (mu_i, log sigma_i): E[psi^2], E[X psi], E[X psi^2], E[X^2 psi^2], E[(X - EX)^2 psi^2],
        E[dr/dc], E[(dr/dc)^2], and E X_i, Var X_i, E R_i, V R_i (module docstring)."""
        dtype = params.mu.dtype
        nodes, weights = (jnp.asarray(x, dtype) for x in gauss_hermite(QUADRATURE_NODES))
        e, w = nodes[:, None], weights[:, None]  # (K, 1) against coordinates (D,)
        sigma = jnp.exp(params.log_sigma)
        delta = params.mu - self.target
        dev = delta + sigma * e  # a_i - t_i, (K, D)
        X = dev**2
        EX = delta**2 + sigma**2
        VX = 4.0 * delta**2 * sigma**2 + 2.0 * sigma**4
        ER = jnp.sum(EX) - EX
        VR = jnp.sum(VX) - VX
        E = lambda f: jnp.sum(w * f, axis=0)
        out = {}
        for name, psi, dr in (("mu", e / sigma, -2.0 * dev), ("log_sigma", e**2 - 1.0, -2.0 * dev * sigma * e)):
            out[name] = {
                "psi2": E(psi**2),
                "x_psi": E(X * psi),
                "x_psi2": E(X * psi**2),
                "x2_psi2": E(X**2 * psi**2),
                "xc2_psi2": E((X - EX) ** 2 * psi**2),
                "dr": E(dr),
                "dr2": E(dr**2),
            }
        pick = lambda key: TargetMatchingParams(mu=out["mu"][key], log_sigma=out["log_sigma"][key])
        both = lambda v: TargetMatchingParams(mu=v, log_sigma=v)
        result = {key: pick(key) for key in out["mu"]}
        result.update(EX=both(EX), ER=both(ER), VR=both(VR))
        return result

    def score_moments(self, params: TargetMatchingParams) -> ScoreMoments:
        """Exact per-coordinate moments (module docstring); r = -(X_i + R_i) with R_i independent of psi_c."""
        m = self._moments(params)
        tm = lambda f, *trees: jax.tree.map(f, *trees)
        return ScoreMoments(
            psi2=m["psi2"],
            r_psi2=tm(lambda xp2, er, p2: -(xp2 + er * p2), m["x_psi2"], m["ER"], m["psi2"]),
            r2_psi2=tm(
                lambda x2p2, xp2, er, vr, p2: x2p2 + 2.0 * er * xp2 + (vr + er**2) * p2,
                m["x2_psi2"],
                m["x_psi2"],
                m["ER"],
                m["VR"],
                m["psi2"],
            ),
            dr2=m["dr2"],
            r_psi=tm(lambda xp: -xp, m["x_psi"]),
            dr=m["dr"],
        )

    # ---------------------------------------------------------------------- state-dependent baselines
    def state_value(self, params: TargetMatchingParams, outcome: TargetMatchingOutcome) -> jax.Array:
        """V = J: the state is fixed, shape (n,)."""
        return jnp.broadcast_to(self.objective(params), outcome.action.shape[:1])

    def optimal_state_baseline(self, params: TargetMatchingParams, outcome: TargetMatchingOutcome):
        """The constant b*_c = E[r psi_c^2] / E[psi_c^2] (one fixed state), leaves (n, D)."""
        mom = self.score_moments(params)
        n = outcome.action.shape[0]
        return jax.tree.map(lambda a, b: jnp.broadcast_to(a / b, (n,) + a.shape), mom.r_psi2, mom.psi2)

    def state_baseline_moments(self, params: TargetMatchingParams) -> StateBaselineMoments:
        """E[(r - J)^2 psi_c^2] = E[(X - EX)^2 psi^2] + V R E[psi^2]; E[(r - b*)^2 psi^2] from the score moments."""
        m = self._moments(params)
        mom = self.score_moments(params)
        value = jax.tree.map(lambda xc, vr, p2: xc + vr * p2, m["xc2_psi2"], m["VR"], m["psi2"])
        optimal = jax.tree.map(lambda r2, r1, p2: r2 - r1**2 / p2, mom.r2_psi2, mom.r_psi2, mom.psi2)
        return StateBaselineMoments(value=value, optimal=optimal)

    # ------------------------------------------------------------------ action-dependent baselines
    def action_baselines(self, params: TargetMatchingParams, outcome: TargetMatchingOutcome) -> jax.Array:
        """b_i = E[r | a_{-i}] = r + (a_i - t)^2 - ((mu_i - t)^2 + sigma_i^2), shape (n, D)."""
        r = self.reward(outcome)
        own = (outcome.action - self.target) ** 2
        mean_own = (params.mu - self.target) ** 2 + jnp.exp(2.0 * params.log_sigma)
        return r[:, None] + own - mean_own

    def action_baseline_moments(self, params: TargetMatchingParams) -> TargetMatchingParams:
        """E[((r - b_i) psi_c)^2] = E[(X_i - E X_i)^2 psi_c^2]: coordinate c moves pi_i only."""
        return self._moments(params)["xc2_psi2"]

    def describe(self) -> str:
        return (
            f"a ~ N(mu, diag(sigma^2)) in R^{self.dim}, mu = {self.mu0:g}, sigma = {self.sigma0:g}, "
            f"r = -|a - t|^2, t = {self.target:g}"
        )

"""Bernoulli vectors: x in {0, 1}^d, x_i ~ Bernoulli(sigmoid(logit_i)) independently, any reward f(x).

The toy problem of Liu, Regier, Tripuraneni, Jordan & McAuliffe (2019, "Rao-Blackwellized Stochastic Gradients
for Discrete Distributions") and Kool, van Hoof & Welling (2020, "Estimating Gradients for Discrete Random
Variables by Sampling without Replacement"), Section 6.1: d = 3, f(x) = sum_i (x_i - p0_i)^2 with
p0 = (0.6, 0.51, 0.48), and ONE logit eta shared by the d coordinates (their ``phi``), at eta = 0 (high
entropy) and eta = -4 (low entropy). Here the logits are either one shared eta (``logits`` of length 1: the
papers' set-up, the gradient is dJ/d eta) or one per coordinate (length d).

With q_i = sigmoid(logit_i), the probability of a vector and its score are

    log p(x) = sum_i [x_i log q_i + (1 - x_i) log(1 - q_i)],    d log p(x) / d logit_i = x_i - q_i

(for a shared eta, the score is sum_i (x_i - q)). The 2^d outcomes are enumerable
(:class:`~pgjax.problems.base.FiniteOutcomes`; outcome j is the vector of the binary digits of j, most
significant first), so the objective J = sum_x p(x) f(x), its gradient and the exact moments of every estimator
are finite sums (:mod:`pgjax.problems.finite`); d is limited to :data:`MAX_DIM`.

Sampling is NOT reparameterised: x_i = [u_i < q_i] with u_i ~ U(0, 1) is a step function of the logits (its
derivative is zero wherever it exists), so only the score-function family estimates the gradient.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from pgjax.errors import ConfigError
from pgjax.problems import finite
from pgjax.problems.base import ScoreMoments

#: Largest d: 2^12 = 4096 outcomes, each enumerated in every exact computation.
MAX_DIM = 12


@struct.dataclass
class BernoulliParams:
    """Policy parameters: logits (m,), m = 1 (one logit shared by every coordinate) or d."""

    logits: jax.Array


@struct.dataclass
class BernoulliOutcome:
    """A batch of n draws: x (n, d), entries 0.0 or 1.0."""

    x: jax.Array


@dataclasses.dataclass(frozen=True)
class SquaredDistance:
    """f(x) = sum_i (x_i - target_i)^2 for x of shape (..., d): the reward of Liu et al. (2019) and Kool et al.
    (2020), with target p0. Hashable by value, so a problem holding it stays a static argument."""

    target: tuple[float, ...] = (0.6, 0.51, 0.48)

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.sum((x - jnp.asarray(self.target, x.dtype)) ** 2, axis=-1)

    def describe(self) -> str:
        return "sum_i (x_i - p0_i)^2, p0 = (" + ", ".join(f"{t:g}" for t in self.target) + ")"


@dataclasses.dataclass(frozen=True)
class BernoulliVector:
    """x in {0, 1}^d, x_i ~ Bernoulli(sigmoid(logit_i)) independently, reward f(x).

    Attributes:
      dim: d (1 <= d <= :data:`MAX_DIM`).
      logits0: the default logits of :meth:`init_params`: length 1 (one logit shared by every coordinate, the
        set-up of Liu et al. 2019 and Kool et al. 2020) or length d (one per coordinate).
      reward_fn: f, any jnp function mapping x (..., d) to (...); hashable (a function, or a frozen dataclass
        such as :class:`SquaredDistance`).
    """

    dim: int = 3
    logits0: tuple[float, ...] = (0.0,)
    reward_fn: Callable[[jax.Array], jax.Array] = SquaredDistance()
    name: str = "bernoulli_vector"

    def __post_init__(self) -> None:
        if not (isinstance(self.dim, int) and 1 <= self.dim <= MAX_DIM):
            raise ConfigError("dim", f"must be an integer in [1, {MAX_DIM}] (got {self.dim!r})")
        if len(self.logits0) not in (1, self.dim):
            raise ConfigError("logits", f"must have 1 (shared) or d = {self.dim} values (got {len(self.logits0)})")
        if any(not math.isfinite(v) for v in self.logits0):
            raise ConfigError("logits", f"must be finite (got {self.logits0})")
        if not callable(self.reward_fn):
            raise ConfigError("reward", f"must be a function of x (got {self.reward_fn!r})")
        target = getattr(self.reward_fn, "target", None)
        if isinstance(self.reward_fn, SquaredDistance) and len(target) != self.dim:
            raise ConfigError("target", f"must have d = {self.dim} values (got {len(target)})")

    @classmethod
    def build(
        cls, *, dim: int, logits: Iterable[float], reward: Callable[[jax.Array], jax.Array] | None = None
    ) -> BernoulliVector:
        """Validating constructor; ``reward`` defaults to the papers' f with p0 = (0.6, 0.51, 0.48) for d = 3."""
        return cls(
            dim=int(dim),
            logits0=tuple(float(v) for v in logits),
            reward_fn=SquaredDistance() if reward is None else reward,
        )

    @property
    def shared(self) -> bool:
        """Whether one logit drives every coordinate."""
        return len(self.logits0) == 1

    @property
    def num_outcomes(self) -> int:
        """N = 2^d."""
        return 2**self.dim

    def init_params(self) -> BernoulliParams:
        return BernoulliParams(logits=jnp.asarray(self.logits0, dtype=jnp.result_type(float)))

    def probabilities(self, params: BernoulliParams) -> jax.Array:
        """q = sigmoid(logits) broadcast to (d,)."""
        return jnp.broadcast_to(jax.nn.sigmoid(params.logits), (self.dim,))

    # -------------------------------------------------------------------------------------- sampling
    def sample_noise(self, key: jax.Array, n: int) -> jax.Array:
        """U(0, 1) noise, shape (n, d)."""
        return jax.random.uniform(key, (n, self.dim))

    def sample(self, params: BernoulliParams, noise: jax.Array) -> BernoulliOutcome:
        """x_i = [u_i < q_i], shape (n, d): a step function of the logits (not reparameterised)."""
        q = jax.lax.stop_gradient(self.probabilities(params))
        return BernoulliOutcome(x=(noise < q).astype(q.dtype))

    def log_prob(self, params: BernoulliParams, outcome: BernoulliOutcome) -> jax.Array:
        """log p(x) = sum_i [x_i log sigmoid(l_i) + (1 - x_i) log sigmoid(-l_i)], shape (n,)."""
        logits = jnp.broadcast_to(params.logits, (self.dim,))
        x = outcome.x.astype(logits.dtype)
        return jnp.sum(x * jax.nn.log_sigmoid(logits) + (1 - x) * jax.nn.log_sigmoid(-logits), axis=-1)

    def reward(self, outcome: BernoulliOutcome) -> jax.Array:
        """f(x), shape (n,)."""
        return self.reward_fn(outcome.x)

    # ------------------------------------------------------------------------------- finite outcomes
    def outcomes(self) -> BernoulliOutcome:
        """All 2^d vectors, shape (2^d, d): row j holds the binary digits of j, most significant first."""
        j = np.arange(self.num_outcomes)[:, None]
        bits = (j >> np.arange(self.dim - 1, -1, -1)[None, :]) & 1
        return BernoulliOutcome(x=jnp.asarray(bits, dtype=jnp.result_type(float)))

    # --------------------------------------------------------------------------------- exact values
    def objective(self, params: BernoulliParams) -> jax.Array:
        """J = sum_x p(x) f(x) over the 2^d vectors, exactly."""
        return finite.objective(self, params)

    def score_moments(self, params: BernoulliParams) -> ScoreMoments:
        """Exact moments of the score by enumeration (:func:`pgjax.problems.finite.score_moments`)."""
        return finite.score_moments(self, params)

    def describe(self) -> str:
        describe = getattr(self.reward_fn, "describe", None)
        f = describe() if callable(describe) else getattr(self.reward_fn, "__name__", "f")
        if self.shared:
            logits = f"one shared logit eta = {self.logits0[0]:g}"
        else:
            logits = "logits = (" + ", ".join(f"{v:g}" for v in self.logits0) + ")"
        return f"x in {{0,1}}^{self.dim}, x_i ~ Bernoulli(sigmoid(logit)), {logits}, f(x) = {f}"

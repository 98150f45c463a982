"""A K-armed bandit with a softmax policy over learnable logits: the discrete-action case.

Arm k is chosen with probability pi_k = softmax(logits)_k and pays a fixed reward r_k. Exact objective and
gradient:

    J(logits) = sum_k pi_k r_k,        dJ/dlogit_j = pi_j (r_j - J).

Score of arm k (psi = grad_logits log pi_k): psi_k = e_k - pi, the one-hot vector of k minus the probabilities.

Sampling is Gumbel-max: with g_1..g_K ~ Gumbel(0, 1) i.i.d., argmax_k (logit_k + g_k) is arm k with
probability pi_k. The noise g does not depend on the parameters, so this problem has the same
``sample_noise`` / ``sample`` split as every pgjax problem, but the sampled arm is a step function of the
logits (its derivative is zero wherever it exists): the pathwise estimator does not apply, and only the
score-function family can estimate the gradient.

Exact moments (for baselines and exact variances) are finite sums over the K arms. The arms are enumerable
(:class:`~pgjax.problems.base.FiniteOutcomes`: ``num_outcomes`` K, ``outcomes()`` the arms 0..K-1), so the
estimators that sample without replacement (:mod:`pgjax.estimators.without_replacement`) run on it too.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

import jax
import jax.numpy as jnp
from flax import struct

from pgjax.errors import ConfigError
from pgjax.problems.base import ScoreMoments


@struct.dataclass
class SoftmaxParams:
    """Policy parameters: logits (K,), with pi = softmax(logits)."""

    logits: jax.Array


@struct.dataclass
class SoftmaxOutcome:
    """A batch of n draws: arm (n,) int32, the chosen arm indices."""

    arm: jax.Array


@dataclasses.dataclass(frozen=True)
class SoftmaxBandit:
    """K-armed bandit, arm ~ softmax(logits), fixed reward per arm.

    Attributes:
      rewards: r_k, the reward of arm k (length K >= 2).
      logits0: the default logits returned by :meth:`init_params` (length K).
    """

    rewards: tuple[float, ...] = (1.0, 2.0, 3.0)
    logits0: tuple[float, ...] = (0.5, 0.0, -0.5)
    name: str = "softmax_bandit"

    def __post_init__(self) -> None:
        k = len(self.rewards)
        if k < 2:
            raise ConfigError("rewards", f"needs at least 2 arms (got {k})")
        if any(not math.isfinite(r) for r in self.rewards):
            raise ConfigError("rewards", f"must be finite (got {self.rewards})")
        if len(self.logits0) != k:
            raise ConfigError("logits", f"must have one logit per arm, {k} (got {len(self.logits0)})")
        if any(not math.isfinite(x) for x in self.logits0):
            raise ConfigError("logits", f"must be finite (got {self.logits0})")

    @classmethod
    def build(cls, *, rewards: Iterable[float], logits: Iterable[float]) -> SoftmaxBandit:
        """Validating constructor from any sequences of numbers."""
        return cls(rewards=tuple(float(r) for r in rewards), logits0=tuple(float(x) for x in logits))

    @property
    def num_arms(self) -> int:
        return len(self.rewards)

    @property
    def num_outcomes(self) -> int:
        """N = K: the outcomes are the arms."""
        return self.num_arms

    def outcomes(self) -> SoftmaxOutcome:
        """Every arm once, 0..K-1 (shape (K,))."""
        return SoftmaxOutcome(arm=jnp.arange(self.num_arms))

    def init_params(self) -> SoftmaxParams:
        return SoftmaxParams(logits=jnp.asarray(self.logits0, dtype=jnp.result_type(float)))

    # -------------------------------------------------------------------------------------- sampling
    def sample_noise(self, key: jax.Array, n: int) -> jax.Array:
        """Gumbel(0, 1) noise, shape (n, K)."""
        return jax.random.gumbel(key, (n, self.num_arms))

    def sample(self, params: SoftmaxParams, noise: jax.Array) -> SoftmaxOutcome:
        """Gumbel-max: arm = argmax_k (logit_k + g_k), shape (n,). A step function of the logits."""
        return SoftmaxOutcome(arm=jnp.argmax(params.logits + noise, axis=-1))

    def probabilities(self, params: SoftmaxParams) -> jax.Array:
        """pi = softmax(logits), shape (K,)."""
        return jax.nn.softmax(params.logits)

    def log_prob(self, params: SoftmaxParams, outcome: SoftmaxOutcome) -> jax.Array:
        """log pi_arm, shape (n,)."""
        return jax.nn.log_softmax(params.logits)[outcome.arm]

    def reward(self, outcome: SoftmaxOutcome) -> jax.Array:
        """r_arm, shape (n,)."""
        return jnp.asarray(self.rewards, dtype=jnp.result_type(float))[outcome.arm]

    # --------------------------------------------------------------------------------- exact values
    def objective(self, params: SoftmaxParams) -> jax.Array:
        """J = sum_k softmax(logits)_k r_k, exactly."""
        return jnp.sum(self.probabilities(params) * jnp.asarray(self.rewards, dtype=params.logits.dtype))

    def scores(self, params: SoftmaxParams) -> jax.Array:
        """psi_k = e_k - pi for every arm k: shape (K, K), row k is the score of arm k."""
        pi = self.probabilities(params)
        return jnp.eye(self.num_arms, dtype=pi.dtype) - pi

    def score_moments(self, params: SoftmaxParams) -> ScoreMoments:
        """Exact per-coordinate moments, finite sums over the arms, each shaped like params.

        Returns a :class:`~pgjax.problems.base.ScoreMoments` with ``psi2`` E[psi_c^2], ``r_psi2`` E[r psi_c^2], ``r2_psi2`` E[r^2 psi_c^2] (the
        moments the score-function estimators use), and ``dr2`` = NaN: the sampled arm does not move
        smoothly with the logits, so the pathwise estimator has no meaning here.
        """
        pi = self.probabilities(params)
        r = jnp.asarray(self.rewards, dtype=pi.dtype)[:, None]
        psi2 = self.scores(params) ** 2  # (K arms, K coordinates)
        expect = lambda f: jnp.sum(pi[:, None] * f, axis=0)
        return ScoreMoments(
            psi2=SoftmaxParams(logits=expect(psi2)),
            r_psi2=SoftmaxParams(logits=expect(r * psi2)),
            r2_psi2=SoftmaxParams(logits=expect(r**2 * psi2)),
            dr2=SoftmaxParams(logits=jnp.full_like(pi, jnp.nan)),
        )

    def describe(self) -> str:
        rewards = ", ".join(f"{r:g}" for r in self.rewards)
        logits = ", ".join(f"{x:g}" for x in self.logits0)
        return f"{self.num_arms}-armed bandit, arm ~ softmax(logits), logits = ({logits}), rewards = ({rewards})"

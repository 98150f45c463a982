"""Two categorical policies over K outcomes: the sampling policy p = softmax(logits) (the problem's parameters)
and a fixed reference q = softmax(reference_logits), for the sample estimators of KL(p || q)
(:mod:`pgjax.estimators.kl`; Schulman 2020, "Approximating KL divergence").

x ~ p is drawn by Gumbel-max, as in the softmax bandit (:mod:`pgjax.problems.softmax_bandit`, whose parameter and
outcome classes it shares): with g_1..g_K ~ Gumbel(0, 1), x = argmax_k (logit_k + g_k), which is
``jax.random.categorical`` draw for draw. It keeps the core problem contract with the fixed reward
r(x) = log q(x), so that its objective is the negative cross-entropy

    J(logits) = E_p[log q(x)] = sum_k p_k log q_k = -KL(p || q) - H(p),

and the :class:`~pgjax.problems.base.ReferencePolicy` capability: ``reference_log_prob`` (log q(x)) and the exact

    KL(p || q) = sum_k p_k (log p_k - log q_k),

the truth the KL estimators are measured against (the engine's reference column, ``run_sweep(...,
reference_gradient=[KL], output_names=("kl",))``). Its outcomes are enumerable
(:class:`~pgjax.problems.base.FiniteOutcomes`), so every moment of an estimator is a finite sum over the K
outcomes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

import jax
import jax.numpy as jnp

from pgjax.errors import ConfigError
from pgjax.problems.softmax_bandit import SoftmaxOutcome, SoftmaxParams


@dataclasses.dataclass(frozen=True)
class KLPair:
    """Sampling policy p = softmax(logits) and fixed reference q = softmax(reference_logits) over K outcomes.

    Attributes:
      reference_logits: the logits of q (length K >= 2, finite).
      logits0: the default logits of p returned by :meth:`init_params` (length K, finite).
    """

    reference_logits: tuple[float, ...] = (0.0, 0.0, 0.0)
    logits0: tuple[float, ...] = (0.5, 0.0, -0.5)
    name: str = "kl_pair"

    def __post_init__(self) -> None:
        k = len(self.reference_logits)
        if k < 2:
            raise ConfigError("reference_logits", f"needs at least 2 outcomes (got {k})")
        if any(not math.isfinite(x) for x in self.reference_logits):
            raise ConfigError("reference_logits", f"must be finite (got {self.reference_logits})")
        if len(self.logits0) != k:
            raise ConfigError("logits", f"must have one logit per outcome, {k} (got {len(self.logits0)})")
        if any(not math.isfinite(x) for x in self.logits0):
            raise ConfigError("logits", f"must be finite (got {self.logits0})")

    @classmethod
    def build(cls, *, logits: Iterable[float], reference_logits: Iterable[float]) -> KLPair:
        """Validating constructor from any sequences of numbers."""
        return cls(reference_logits=tuple(float(x) for x in reference_logits), logits0=tuple(float(x) for x in logits))

    @property
    def num_outcomes(self) -> int:
        return len(self.reference_logits)

    def outcomes(self) -> SoftmaxOutcome:
        """Every outcome once, 0..K-1 (shape (K,))."""
        return SoftmaxOutcome(arm=jnp.arange(self.num_outcomes))

    def init_params(self) -> SoftmaxParams:
        return SoftmaxParams(logits=jnp.asarray(self.logits0, dtype=jnp.result_type(float)))

    def sample_noise(self, key: jax.Array, n: int) -> jax.Array:
        """Gumbel(0, 1) noise, shape (n, K), in the default float dtype (float64 under ``jax.enable_x64``)."""
        return jax.random.gumbel(key, (n, self.num_outcomes), jnp.result_type(float))

    def sample(self, params: SoftmaxParams, noise: jax.Array) -> SoftmaxOutcome:
        """Gumbel-max: x = argmax_k (logit_k + g_k), shape (n,)."""
        return SoftmaxOutcome(arm=jnp.argmax(noise + params.logits, axis=-1))

    def log_prob(self, params: SoftmaxParams, outcome: SoftmaxOutcome) -> jax.Array:
        """log p(x), shape (n,)."""
        return jax.nn.log_softmax(params.logits)[outcome.arm]

    def reference_log_probs(self, dtype=None) -> jax.Array:
        """log q_k of every outcome, shape (K,)."""
        return jax.nn.log_softmax(jnp.asarray(self.reference_logits, dtype=dtype or jnp.result_type(float)))

    def reference_log_prob(self, outcome: SoftmaxOutcome) -> jax.Array:
        """log q(x), shape (n,)."""
        return self.reference_log_probs()[outcome.arm]

    def reward(self, outcome: SoftmaxOutcome) -> jax.Array:
        """r(x) = log q(x), shape (n,)."""
        return self.reference_log_prob(outcome)

    def objective(self, params: SoftmaxParams) -> jax.Array:
        """J = sum_k p_k log q_k, exactly."""
        log_q = self.reference_log_probs(params.logits.dtype)
        return jnp.sum(jax.nn.softmax(params.logits) * log_q)

    def exact_kl(self, params: SoftmaxParams) -> jax.Array:
        """KL(p || q) = sum_k p_k (log p_k - log q_k), exactly (a scalar)."""
        log_p = jax.nn.log_softmax(params.logits)
        return jnp.sum(jnp.exp(log_p) * (log_p - self.reference_log_probs(params.logits.dtype)))

    def describe(self) -> str:
        return f"KL(p || q), p = softmax(logits), fixed q, K = {self.num_outcomes}"

"""The multi-prompt success bandit: the one-step model of RL from verifiable rewards.

P prompts; prompt q has K answers, a softmax policy pi_q = softmax(logits_q) over them, and a fixed set of
correct answers (reward 1; every other answer has reward 0). One sample answers every prompt once; a group of
G samples is G answers per prompt, as in GRPO (Shao et al. 2024, "DeepSeekMath"). The objective is the mean
success probability

    J(logits) = (1/P) sum_q p_q,        p_q = sum_k pi_qk m_qk   (m_qk = 1 if answer k of prompt q is correct),
    dJ/dlogit_qj = (1/P) pi_qj (m_qj - p_q).

With K = 2 answers, one of them correct, and logits (theta_q, 0), p_q = sigmoid(theta_q): the Bernoulli
success model, whose coordinate theta_q is the sigmoid parameterisation (:meth:`SuccessBandit.from_success`).

Scores and the success/failure reduction. The score of answer a is psi = e_a - pi_q (the softmax bandit's,
:mod:`pgjax.problems.softmax_bandit`). Given the reward r of the answer, its mean is

    E[psi_c | r] = (r - p) d_c,     d_c = pi_c (m_c - p) / (p (1 - p)),   so grad_c p = p (1 - p) d_c,

and its conditional variances ``within1`` (among the correct answers) and ``within0`` (among the incorrect ones)
are finite sums over the answers; both vanish when K = 2. Given a group's rewards, its answers' scores are
independent with these moments: every group baseline's exact mean and variance is a finite sum over the number
of successes k ~ Binomial(G, p) (:func:`pgjax.estimators.group.exact_group_moments`).

Sampling is Gumbel-max, as in the softmax bandit: the sampled answer is a step function of the logits, so only
score-function estimators apply.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.flatten_util import ravel_pytree

from pgjax.errors import ConfigError
from pgjax.problems.base import SuccessMoments


@struct.dataclass
class SuccessParams:
    """Policy parameters: logits (P, K), pi_q = softmax(logits[q])."""

    logits: jax.Array


@struct.dataclass
class SuccessOutcome:
    """A batch of n samples: answer (n, P) int, the answer given to each prompt."""

    answer: jax.Array


@dataclasses.dataclass(frozen=True)
class SuccessBandit:
    """P prompts, K answers each, softmax policy per prompt, reward 1 for a correct answer and 0 otherwise.

    Attributes:
      correct: (P, K) 0/1 flags, which answers of each prompt are correct (each prompt needs at least one
        correct and one incorrect answer, so that 0 < p_q < 1).
      logits0: (P, K) default logits returned by :meth:`init_params`.
    """

    correct: tuple[tuple[int, ...], ...] = ((1, 0),)
    logits0: tuple[tuple[float, ...], ...] = ((0.0, 0.0),)
    name: str = "success_bandit"

    def __post_init__(self) -> None:
        if len(self.correct) < 1:
            raise ConfigError("correct", "needs at least one prompt")
        k = len(self.correct[0])
        if k < 2 or any(len(row) != k for row in self.correct):
            raise ConfigError("correct", f"every prompt needs the same number K >= 2 of answers (got {self.correct})")
        for q, row in enumerate(self.correct):
            if any(v not in (0, 1) for v in row):
                raise ConfigError("correct", f"prompt {q}: flags must be 0 or 1 (got {row})")
            if sum(row) in (0, k):
                raise ConfigError("correct", f"prompt {q} needs a correct and an incorrect answer (got {row})")
        if len(self.logits0) != len(self.correct) or any(len(row) != k for row in self.logits0):
            raise ConfigError("logits", f"must be {len(self.correct)} x {k}, like correct")
        if any(not math.isfinite(x) for row in self.logits0 for x in row):
            raise ConfigError("logits", "must be finite")

    @classmethod
    def build(cls, *, correct: Iterable[Iterable[int]], logits: Iterable[Iterable[float]]) -> SuccessBandit:
        """Validating constructor from nested sequences."""
        return cls(
            correct=tuple(tuple(int(v) for v in row) for row in correct),
            logits0=tuple(tuple(float(x) for x in row) for row in logits),
        )

    @classmethod
    def from_success(cls, probabilities: Sequence[float]) -> SuccessBandit:
        """The Bernoulli model: one prompt per success probability p_q in (0, 1), K = 2 answers (the first
        correct), logits (logit p_q, 0), so that theta_q = logits[q, 0] is the sigmoid parameter."""
        probabilities = [float(p) for p in probabilities]
        if not probabilities or any(not (0.0 < p < 1.0) for p in probabilities):
            raise ConfigError("success", f"every success probability must be in (0, 1) (got {probabilities})")
        return cls(
            correct=tuple((1, 0) for _ in probabilities),
            logits0=tuple((math.log(p / (1.0 - p)), 0.0) for p in probabilities),
        )

    @property
    def num_prompts(self) -> int:
        return len(self.correct)

    @property
    def num_answers(self) -> int:
        return len(self.correct[0])

    def init_params(self) -> SuccessParams:
        return SuccessParams(logits=jnp.asarray(self.logits0, dtype=jnp.result_type(float)))

    def _mask(self, dtype) -> jax.Array:
        return jnp.asarray(self.correct, dtype=dtype)

    # -------------------------------------------------------------------------------------- sampling
    def sample_noise(self, key: jax.Array, n: int) -> jax.Array:
        """Gumbel(0, 1) noise, shape (n, P, K)."""
        return jax.random.gumbel(key, (n, self.num_prompts, self.num_answers))

    def sample(self, params: SuccessParams, noise: jax.Array) -> SuccessOutcome:
        """Gumbel-max per prompt: answer = argmax_k (logit_qk + g_qk), shape (n, P)."""
        return SuccessOutcome(answer=jnp.argmax(params.logits + noise, axis=-1))

    def prompt_log_probs(self, params: SuccessParams, outcome: SuccessOutcome) -> jax.Array:
        """log pi_q(answer_q), shape (n, P)."""
        logp = jax.nn.log_softmax(params.logits, axis=-1)  # (P, K)
        return jnp.take_along_axis(logp[None], outcome.answer[..., None], axis=-1)[..., 0]

    def prompt_rewards(self, outcome: SuccessOutcome) -> jax.Array:
        """r_q = m_q(answer_q) in {0, 1}, shape (n, P)."""
        mask = self._mask(jnp.result_type(float))
        return jnp.take_along_axis(mask[None], outcome.answer[..., None], axis=-1)[..., 0]

    def log_prob(self, params: SuccessParams, outcome: SuccessOutcome) -> jax.Array:
        """log of the joint probability of the P answers, sum_q log pi_q(answer_q), shape (n,)."""
        return jnp.sum(self.prompt_log_probs(params, outcome), axis=-1)

    def reward(self, outcome: SuccessOutcome) -> jax.Array:
        """The mean reward over prompts, shape (n,): its expectation is J."""
        return jnp.mean(self.prompt_rewards(outcome), axis=-1)

    # --------------------------------------------------------------------------------- exact values
    def success(self, params: SuccessParams) -> jax.Array:
        """p_q = sum_k softmax(logits_q)_k m_qk, shape (P,)."""
        pi = jax.nn.softmax(params.logits, axis=-1)
        return jnp.sum(pi * self._mask(pi.dtype), axis=-1)

    def objective(self, params: SuccessParams) -> jax.Array:
        """J = (1/P) sum_q p_q, exactly."""
        return jnp.mean(self.success(params))

    def success_moments(self, params: SuccessParams) -> SuccessMoments:
        """The success/failure reduction (:class:`~pgjax.problems.base.SuccessMoments`), flat over the P K
        coordinates (row-major, coordinate c = q K + k), from finite sums over the answers:

            E[psi_c^2 | r = 1] = [pi_c m_c (1 - pi_c)^2 + (p - pi_c m_c) pi_c^2] / p,
            within1_c = E[psi_c^2 | r = 1] - ((1 - p) d_c)^2,

        and the same with m -> 1 - m, p -> 1 - p, (1 - p) d_c -> -p d_c for r = 0."""
        pi = jax.nn.softmax(params.logits, axis=-1)
        m = self._mask(pi.dtype)
        p = jnp.sum(pi * m, axis=-1, keepdims=True)  # (P, 1)
        d = pi * (m - p) / (p * (1.0 - p))

        def second(mask: jax.Array, prob: jax.Array) -> jax.Array:
            own = pi * mask
            return (own * (1.0 - pi) ** 2 + (prob - own) * pi**2) / prob

        within1 = second(m, p) - ((1.0 - p) * d) ** 2
        within0 = second(1.0 - m, 1.0 - p) - (p * d) ** 2
        flat = lambda x: ravel_pytree(SuccessParams(logits=x))[0]
        prompt = np.repeat(np.arange(self.num_prompts), self.num_answers)
        return SuccessMoments(
            success=p[:, 0],
            prompt=jnp.asarray(prompt),
            direction=flat(d),
            within1=flat(jnp.maximum(within1, 0.0)),
            within0=flat(jnp.maximum(within0, 0.0)),
        )

    def describe(self) -> str:
        with jax.enable_x64(True):
            p = np.asarray(self.success(SuccessParams(logits=jnp.asarray(self.logits0, jnp.float64))))
        shown = ", ".join(f"{x:.3g}" for x in p[:6]) + (", ..." if len(p) > 6 else "")
        return (
            f"success bandit: {self.num_prompts} prompt(s), {self.num_answers} answers each, softmax policy, "
            f"reward 1 if correct; p = ({shown})"
        )

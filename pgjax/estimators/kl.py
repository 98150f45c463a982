"""Sample estimators of KL(p || q) between two categorical policies, and their exact moments by enumeration.

With x ~ p and the ratio r = q(x) / p(x) (Schulman 2020, "Approximating KL divergence"):

    k1 = -log r = log p(x)/q(x)          unbiased (E_p[k1] = KL(p || q)), negative for half the draws,
    k2 = (log r)^2 / 2                    biased, always >= 0; E[k2] = KL + O(|log r|^3) for close policies,
    k3 = (r - 1) - log r                  unbiased (E_p[r] = 1), always >= 0 (log r <= r - 1).

k3 is the KL penalty of GRPO (Shao et al. 2024) with r = pi_ref / pi_theta. They estimate a number (a
divergence), not a gradient: registered estimators (:class:`K1`, :class:`K2`, :class:`K3`, ``params_shaped =
False``) that run on a problem with a reference policy (:class:`~pgjax.problems.base.ReferencePolicy`, e.g.
:class:`pgjax.problems.kl_pair.KLPair`) and return the mean of n draws as a 1-element array, which the engine
sweeps with ``output_names=("kl",)`` and the exact KL as its reference (``reference_gradient``).

For categorical p and q over K outcomes, every moment is a finite sum: E_p[k] = sum_x p(x) k(x), Var_p[k] =
sum_x p(x) k(x)^2 - E_p[k]^2 (:func:`exact_kl_moments`); the mean of n independent draws has variance Var / n
(each estimator's ``n_sample_variance``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import ClassVar

import chex
import jax
import jax.numpy as jnp
import numpy as np

from pgjax.estimators.base import Estimator, register
from pgjax.problems.base import FiniteOutcomes, Params, Problem, ReferencePolicy


def _k1(log_r: jax.Array) -> jax.Array:
    return -log_r


def _k2(log_r: jax.Array) -> jax.Array:
    return 0.5 * log_r**2


def _k3(log_r: jax.Array) -> jax.Array:
    return jnp.expm1(log_r) - log_r


#: name -> k(log r), the estimate of one draw from its log-ratio log r = log q(x) - log p(x).
KL_ESTIMATORS: dict[str, Callable[[jax.Array], jax.Array]] = {"k1": _k1, "k2": _k2, "k3": _k3}


def exact_kl(p_logits: jax.Array, q_logits: jax.Array) -> jax.Array:
    """KL(p || q) = sum_x p(x) log(p(x) / q(x)) for p = softmax(p_logits), q = softmax(q_logits), shape (K,)."""
    log_p = jax.nn.log_softmax(p_logits)
    return jnp.sum(jnp.exp(log_p) * (log_p - jax.nn.log_softmax(q_logits)))


@functools.partial(jax.jit, static_argnums=0)
def enumerate_moments(
    term: Callable[[jax.Array], jax.Array], log_p: jax.Array, log_q: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """(E_p[k], Var_p[k]) of ONE draw of k = term(log r), by enumerating the K outcomes: log_p, log_q (K,).
    One compiled program per term and dtype, whatever the policies."""
    values = term(log_q - log_p)
    prob = jnp.exp(log_p)
    mean = jnp.sum(prob * values)
    return mean, jnp.sum(prob * (values - mean) ** 2)


def exact_kl_moments(name: str, p_logits: jax.Array, q_logits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(E_p[k], Var_p[k]) of ONE draw of estimator ``name``, by enumerating the K outcomes."""
    return enumerate_moments(KL_ESTIMATORS[name], jax.nn.log_softmax(p_logits), jax.nn.log_softmax(q_logits))


@jax.jit
def exact_kl_table(p_logits: jax.Array, q_logits: jax.Array) -> dict[str, jax.Array]:
    """KL(p || q) and every estimator's exact (mean, variance) of one draw, as one compiled program:
    ``{"kl": scalar, name: (mean, var)}``."""
    out: dict[str, jax.Array] = {"kl": exact_kl(p_logits, q_logits)}
    for name in KL_ESTIMATORS:
        out[name] = jnp.stack(exact_kl_moments(name, p_logits, q_logits))
    return out


# ---------------------------------------------------------------------------------- registered estimators
@dataclasses.dataclass(frozen=True)
class KLEstimator(Estimator):
    """The mean over n draws x_i ~ p of k(log r_i), log r_i = log q(x_i) - log p(x_i), as a (1,) array: an
    estimate of KL(p || q), not of a gradient (``params_shaped = False``). The draws are the problem's own
    (``sample_noise`` / ``sample``), log p from ``log_prob`` and log q from ``reference_log_prob``."""

    requires: ClassVar[tuple[type, ...]] = (ReferencePolicy,)
    iid: ClassVar[bool] = True
    params_shaped: ClassVar[bool] = False

    @staticmethod
    def term(log_r: jax.Array) -> jax.Array:
        """k(log r) of each draw."""
        raise NotImplementedError

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> jax.Array:
        outcome = problem.sample(params, problem.sample_noise(key, n))
        log_r = problem.reference_log_prob(outcome) - problem.log_prob(params, outcome)
        chex.assert_shape(log_r, (n,))
        return jnp.mean(self.term(log_r))[None]

    def exact_moments(self, problem: Problem, params: Params) -> tuple[float, float]:
        """(E_p[k], Var_p[k]) of ONE draw in float64, by enumerating the outcomes (a problem with
        :class:`~pgjax.problems.base.FiniteOutcomes`); ValueError for one without them."""
        if not isinstance(problem, FiniteOutcomes):
            raise ValueError(f"{self.name}: exact moments need enumerable outcomes; {problem.name} has none")
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
            outcomes = problem.outcomes()  # log p and log q of every outcome: a few cached operations, no new program
            log_q = jnp.asarray(problem.reference_log_prob(outcomes), jnp.float64)
            mean, var = enumerate_moments(self.term, problem.log_prob(p64, outcomes), log_q)
            return float(mean), float(var)

    def single_sample_variance(self, problem: Problem, params: Params) -> np.ndarray | None:
        """Var_p[k] of one draw, shape (1,), float64, where the outcomes are enumerable (else None); the n-draw
        mean has Var / n (the default ``n_sample_variance``: the draws are i.i.d.)."""
        if not isinstance(problem, FiniteOutcomes):
            return None
        return np.array([self.exact_moments(problem, params)[1]], np.float64)


@register
@dataclasses.dataclass(frozen=True)
class K1(KLEstimator):
    """k1 = -log r = log p(x) / q(x): unbiased, E_p[k1] = KL(p || q); negative for some draws, and its
    standard deviation relative to the KL grows without bound as q -> p (Schulman 2020, "Approximating KL
    divergence")."""

    name: ClassVar[str] = "k1"
    unbiased: ClassVar[bool] = True
    term = staticmethod(_k1)


@register
@dataclasses.dataclass(frozen=True)
class K2(KLEstimator):
    """k2 = (log r)^2 / 2: never negative, biased, E_p[k2] = KL(p || q) + O(E|log r|^3) for close policies
    (its mean is an f-divergence that agrees with the KL to second order; Schulman 2020, "Approximating KL
    divergence")."""

    name: ClassVar[str] = "k2"
    unbiased: ClassVar[bool] = False
    term = staticmethod(_k2)


@register
@dataclasses.dataclass(frozen=True)
class K3(KLEstimator):
    """k3 = (r - 1) - log r: unbiased (k1 plus the control variate r - 1, E_p[r] = 1) and never negative
    (log r <= r - 1); GRPO's KL penalty (Schulman 2020, "Approximating KL divergence"; Shao et al. 2024,
    "DeepSeekMath")."""

    name: ClassVar[str] = "k3"
    unbiased: ClassVar[bool] = True
    term = staticmethod(_k3)


#: name -> class of the registered KL estimators, in order.
KL_ESTIMATOR_CLASSES: dict[str, type[KLEstimator]] = {cls.name: cls for cls in (K1, K2, K3)}
#: Which of them are unbiased for KL(p || q) (their ``unbiased``).
UNBIASED: dict[str, bool] = {name: cls.unbiased for name, cls in KL_ESTIMATOR_CLASSES.items()}

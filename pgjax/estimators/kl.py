"""Sample estimators of KL(p || q) between two categorical policies, and their exact moments by enumeration.

With x ~ p and the ratio r = q(x) / p(x) (Schulman 2020, "Approximating KL divergence"):

    k1 = -log r = log p(x)/q(x)          unbiased (E_p[k1] = KL(p || q)), negative for half the draws,
    k2 = (log r)^2 / 2                    biased, always >= 0; E[k2] = KL + O(|log r|^3) for close policies,
    k3 = (r - 1) - log r                  unbiased (E_p[r] = 1), always >= 0 (log r <= r - 1).

k3 is the KL penalty of GRPO (Shao et al. 2024) with r = pi_ref / pi_theta. These estimate a number (a
divergence), not a gradient, so they are plain functions here, not registered gradient estimators; the
``kl-estimators`` experiment samples them directly.

For categorical p and q over K outcomes, every moment is a finite sum: E_p[k] = sum_x p(x) k(x), Var_p[k] =
sum_x p(x) k(x)^2 - E_p[k]^2 (:func:`exact_kl_moments`); the mean of n independent draws has variance Var / n.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

#: name -> k(log r), the estimate of one draw from its log-ratio log r = log q(x) - log p(x).
KL_ESTIMATORS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "k1": lambda log_r: -log_r,
    "k2": lambda log_r: 0.5 * log_r**2,
    "k3": lambda log_r: jnp.expm1(log_r) - log_r,
}
#: Which of them are unbiased for KL(p || q).
UNBIASED = {"k1": True, "k2": False, "k3": True}


def exact_kl(p_logits: jax.Array, q_logits: jax.Array) -> jax.Array:
    """KL(p || q) = sum_x p(x) log(p(x) / q(x)) for p = softmax(p_logits), q = softmax(q_logits), shape (K,)."""
    log_p = jax.nn.log_softmax(p_logits)
    return jnp.sum(jnp.exp(log_p) * (log_p - jax.nn.log_softmax(q_logits)))


def exact_kl_moments(name: str, p_logits: jax.Array, q_logits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(E_p[k], Var_p[k]) of ONE draw of estimator ``name``, by enumerating the K outcomes."""
    log_p = jax.nn.log_softmax(p_logits)
    values = KL_ESTIMATORS[name](jax.nn.log_softmax(q_logits) - log_p)
    prob = jnp.exp(log_p)
    mean = jnp.sum(prob * values)
    return mean, jnp.sum(prob * (values - mean) ** 2)


def sample_kl(key: jax.Array, p_logits: jax.Array, q_logits: jax.Array, n: int) -> dict[str, jax.Array]:
    """Each estimator's mean over the same n draws x ~ p (common random numbers), as name -> scalar."""
    x = jax.random.categorical(key, p_logits, shape=(n,))
    log_r = jax.nn.log_softmax(q_logits)[x] - jax.nn.log_softmax(p_logits)[x]
    return {name: jnp.mean(k(log_r)) for name, k in KL_ESTIMATORS.items()}


def sample_kl_seeds(
    p_logits: jax.Array, q_logits: jax.Array, n: int, n_seeds: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """name -> (n_seeds,) independent n-draw estimates; seed i uses key fold_in(fold_in(key(seed), i), n), the
    engine's scheme (:func:`pgjax.engine.seed_key`). One compiled program per (n, n_seeds, dtype)."""
    out = _sample_seeds(p_logits, q_logits, jnp.asarray(seed, jnp.uint32), n, n_seeds)
    return {name: np.asarray(v, np.float64) for name, v in out.items()}


@functools.partial(jax.jit, static_argnums=(3, 4))
def _sample_seeds(p_logits: jax.Array, q_logits: jax.Array, seed: jax.Array, n: int, n_seeds: int) -> dict:
    base = jax.random.key(seed)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.fold_in(base, i), n))(jnp.arange(n_seeds))
    return jax.vmap(lambda k: sample_kl(k, p_logits, q_logits, n))(keys)


@jax.jit
def exact_kl_table(p_logits: jax.Array, q_logits: jax.Array) -> dict[str, jax.Array]:
    """KL(p || q) and every estimator's exact (mean, variance) of one draw, as one compiled program:
    ``{"kl": scalar, name: (mean, var)}``."""
    out: dict[str, jax.Array] = {"kl": exact_kl(p_logits, q_logits)}
    for name in KL_ESTIMATORS:
        out[name] = jnp.stack(exact_kl_moments(name, p_logits, q_logits))
    return out

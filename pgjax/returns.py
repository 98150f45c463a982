r"""Return and advantage maths: discount factors, discounted reverse sums, returns-to-go, TD residuals, GAE.

The one implementation used by the LQR problem (:mod:`pgjax.problems.lqr`), the environment problem
(:mod:`pgjax.problems.environment`) and the estimators built on them (:mod:`pgjax.estimators.trajectory`,
:mod:`pgjax.estimators.episodic`). A low layer: it imports only jax, numpy and chex.

Conventions. Every function is pure and works on ONE trajectory with the time axis FIRST: rewards ``r``
(H,), critic values ``v`` (H,), the alive mask ``alive`` (H,) (1.0 while the episode had not terminated
before step t, else 0.0; see :func:`pgjax.envs.rollout`). A time-major batch (H, n), one trajectory per
column, is accepted too and gives exactly the columns one would get one trajectory at a time, so callers
may either pass (H, n) arrays (one matrix product for the whole batch, which is what the committed results
were computed with) or ``jax.vmap`` over trajectories. Inputs are checked with chex at the public boundary
(rank 1 or 2, equal shapes, floating dtypes); the checks read static shapes only and cost nothing under
``jit``.

Notation (as in rlax's ``multistep.py``): gamma the discount, lambda the GAE mixing parameter, H the
horizon, and for t = 0..H-1

    G_t     = sum_{s=t}^{H-1} gamma^{s-t} r_s                          (return-to-go)
    delta_t = r_t + gamma V_{t+1} - V_t                                (TD residual; V_H the bootstrap value)
    A_t     = sum_{s=t}^{H-1} (gamma lambda)^{s-t} delta_s             (GAE(lambda); Schulman et al. 2016)

A_t at lambda = 1 is G_t + gamma^{H-t} V_H - V_t (the value baseline) and at lambda = 0 the one-step TD
residual delta_t.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

#: Ranks accepted for time-first arrays: one trajectory (H,) or a time-major batch (H, n).
_RANKS = {1, 2}


def discounts(horizon: int, discount: float, dtype=jnp.float32, *, on_host: bool = False) -> jax.Array:
    """The discount-factor vector d_t = gamma^t for t = 0..H-1, shape (H,).

    By default computed by XLA in ``dtype`` (``gamma ** arange(H)``), as the environment estimators use it.
    With ``on_host=True`` computed by NumPy in float64 and rounded once to ``dtype``, as the LQR problem
    (whose exact moments are float64) uses it. The two differ in the last bit for some gamma and t, so each
    caller keeps the form its committed results were computed with.
    """
    if on_host:
        return jnp.asarray(discount ** np.arange(horizon), dtype)
    return jnp.asarray(discount, dtype) ** jnp.arange(horizon, dtype=dtype)


def reverse_cumsum_matrix(horizon: int, factor: float, dtype) -> jax.Array:
    """The (H, H) matrix W with W[t, s] = factor^(s - t) for s >= t, else 0, so that
    (W x)_t = sum_{s>=t} factor^(s-t) x_s. Built on the host (float64) and rounded once to ``dtype``."""
    t = np.arange(horizon)
    lag = t[None, :] - t[:, None]  # lag[t, s] = s - t
    return jnp.asarray(np.where(lag >= 0, float(factor) ** np.clip(lag, 0, None), 0.0), dtype)


def discounted_reverse_cumsum(x: jax.Array, factor: float) -> jax.Array:
    """y_t = sum_{s=t}^{H-1} factor^{s-t} x_s along the FIRST axis (time, length H).

    Equivalently y_t = x_t + factor y_{t+1}, y_H = 0. Computed as one (H, H) matrix product with
    :func:`reverse_cumsum_matrix` (on a CPU far faster than a reversed scan or ``cumsum``, and it fuses).
    ``x``: (H,) or time-major (H, n); ``factor`` a Python float (the matrix is built on the host).
    """
    chex.assert_rank(x, _RANKS)
    chex.assert_type(x, float)
    return jnp.tensordot(reverse_cumsum_matrix(x.shape[0], factor, x.dtype), x, axes=1)


def returns_to_go(rewards: jax.Array, discount: float) -> jax.Array:
    """G_t = sum_{s=t}^{H-1} gamma^{s-t} r_s (the discounted return-to-go), same shape as ``rewards``
    ((H,) or time-major (H, n)). Rewards after termination must already be 0."""
    return discounted_reverse_cumsum(rewards, discount)


def td_residuals(
    rewards: jax.Array,
    values: jax.Array,
    discount: float,
    alive: jax.Array | None = None,
    bootstrap_value: jax.Array | None = None,
) -> jax.Array:
    """One-step TD residuals delta_t = r_t + gamma V_{t+1} - V_t, same shape as ``rewards``.

    V_H is ``bootstrap_value`` (shape ``values.shape[1:]``), 0 when it is None: the episode ends at the
    horizon. Without ``alive`` (trajectories that never terminate, e.g. LQR) that is all. With ``alive``
    the values are masked first, V_t <- alive_t V_t (a terminated episode is worth 0 from then on), and
    so is the residual, delta_t <- alive_t delta_t (0 at dead steps). The bootstrap value is used as given:
    pass 0 for episodes that terminated.
    """
    chex.assert_rank(rewards, _RANKS)
    chex.assert_type([rewards, values], float)
    chex.assert_equal_shape([rewards, values])
    if alive is not None:
        chex.assert_equal_shape([rewards, alive])
        values = values * alive
    if bootstrap_value is None:
        tail = jnp.zeros_like(values[:1])  # V_H = 0
    else:
        chex.assert_shape(bootstrap_value, values.shape[1:])
        tail = jnp.asarray(bootstrap_value, values.dtype)[None]
    next_values = jnp.concatenate([values[1:], tail], axis=0)
    delta = rewards + discount * next_values - values
    return delta if alive is None else delta * alive


def gae_advantages(
    rewards: jax.Array,
    alive: jax.Array | None,
    values: jax.Array,
    discount: float,
    lam: float,
    bootstrap_value: jax.Array | None = None,
) -> jax.Array:
    """GAE(lambda) advantages A_t = sum_{s=t}^{H-1} (gamma lambda)^{s-t} delta_s (Schulman et al. 2016,
    eq. 16), equivalently A_t = delta_t + gamma lambda A_{t+1}, A_H = 0, with the TD residuals delta_t of
    :func:`td_residuals` (alive mask, V_H = ``bootstrap_value`` or 0). ``alive`` may be None for
    trajectories that never terminate. Same shape as ``rewards`` ((H,) or time-major (H, n))."""
    delta = td_residuals(rewards, values, discount, alive, bootstrap_value)
    return discounted_reverse_cumsum(delta, discount * lam)


def time_major(x: jax.Array) -> jax.Array:
    """A batch of trajectories from batch-major (n, H, ...) to the time-major layout (H, n, ...) that the
    functions above take (rank 2 to 7: up to five trailing axes, e.g. image observations)."""
    chex.assert_rank(x, set(range(2, 8)))
    return jnp.swapaxes(x, 0, 1)


__all__ = [
    "discounted_reverse_cumsum",
    "discounts",
    "gae_advantages",
    "returns_to_go",
    "reverse_cumsum_matrix",
    "td_residuals",
    "time_major",
]

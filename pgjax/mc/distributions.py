"""The diagonal Gaussian of ``optax.utils.multi_normal``, parameterised by its mean and log standard deviation.

``multi_normal(loc, log_scale)`` is the ``dist_builder`` that optax's Monte Carlo gradient estimators were used
with (and the only one its measure-valued estimator accepted): x ~ N(loc, diag(exp(log_scale)^2)),

    sample(shape, key)   x = loc + exp(log_scale) * eps,   eps ~ N(0, I) of shape ``shape + param_shape``
                         (the reparameterisation; one ``jax.random.normal`` draw, as optax drew it, so the same
                         key gives the same samples),
    log_prob(x)          sum over the parameter axes of log N(x_d; loc_d, exp(log_scale_d)^2).

optax's ``sample`` took the key as ``seed=`` up to 0.2.4 and as ``key=`` from 0.2.5; both are accepted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class MultiNormalDiagFromLogScale:
    """N(loc, diag(exp(log_scale)^2)) that exposes its parameters (``params``, ``log_scale``)."""

    def __init__(self, loc: ArrayLike, log_scale: ArrayLike):
        self._mean = jnp.asarray(loc)
        self._log_scale = jnp.asarray(log_scale)
        self._scale = jnp.exp(self._log_scale)
        self._param_shape = jax.lax.broadcast_shapes(self._mean.shape, self._scale.shape)

    def sample(self, shape: Sequence[int], key: jax.Array | None = None, *, seed: jax.Array | None = None) -> jax.Array:
        """x = loc + scale * eps, eps ~ N(0, I) of shape ``tuple(shape) + param_shape``; differentiable in the
        parameters. The key is ``key`` (optax >= 0.2.5) or ``seed`` (optax <= 0.2.4)."""
        if (key is None) == (seed is None):
            raise TypeError("sample needs exactly one of key= or seed=")
        key = seed if key is None else key
        eps = jax.random.normal(key, shape=tuple(shape) + self._param_shape)
        return eps * self._scale + self._mean

    def log_prob(self, x: ArrayLike) -> jax.Array:
        """log density of x (..., *param_shape), summed over the parameter axes -> (...)."""
        z = (jnp.asarray(x) - self._mean) / self._scale
        log_prob = -0.5 * z**2 - self._log_scale - _HALF_LOG_2PI
        return jnp.sum(log_prob, axis=tuple(range(-len(self._param_shape), 0)))

    @property
    def log_scale(self) -> jax.Array:
        return self._log_scale

    @property
    def params(self) -> list[jax.Array]:
        """[loc, log_scale]."""
        return [self._mean, self._log_scale]


def multi_normal(loc: ArrayLike, log_scale: ArrayLike) -> MultiNormalDiagFromLogScale:
    """The diagonal Gaussian N(loc, diag(exp(log_scale)^2)): ``optax.utils.multi_normal``'s interface."""
    return MultiNormalDiagFromLogScale(loc=loc, log_scale=log_scale)

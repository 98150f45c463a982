"""Gauss-Hermite quadrature for expectations under Gaussians.

For z ~ N(0, 1), E[f(z)] ~= sum_k w_k f(x_k) with the probabilists' Gauss-Hermite nodes x_k and weights
w_k / sqrt(2 pi). The rule with K nodes is exact for polynomials of degree <= 2K - 1, and converges
geometrically for the smooth, at most exponentially growing integrands that appear in pgjax.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: jax is imported where it is used
    import jax
    from jax.typing import ArrayLike


@functools.cache
def gauss_hermite(num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (float64, shape (K,)) with sum_k w_k f(x_k) ~= E_{z ~ N(0,1)}[f(z)]."""
    if num_nodes < 1:
        raise ValueError(f"num_nodes must be >= 1 (got {num_nodes})")
    nodes, weights = np.polynomial.hermite_e.hermegauss(num_nodes)
    weights = weights / np.sqrt(2.0 * np.pi)
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def gaussian_expectation(
    f: Callable[[jax.Array], jax.Array], mean: ArrayLike, var: ArrayLike, num_nodes: int = 64
) -> jax.Array:
    """E_{a ~ N(mean, var)}[f(a)] by Gauss-Hermite quadrature; f must act elementwise (jnp or np)."""
    nodes, weights = gauss_hermite(num_nodes)
    import jax.numpy as jnp

    std = jnp.sqrt(var)
    values = f(mean + std * jnp.asarray(nodes, dtype=jnp.result_type(float)))
    return jnp.sum(jnp.asarray(weights, dtype=values.dtype) * values)

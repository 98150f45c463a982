r"""Exact moments of quadratic polynomials q(xi) = xi' M xi + b' xi + c of a standard normal vector xi.

The exact variances of the LQR estimators rest on this. Every per-step quantity of one LQR trajectory is
such a quadratic in the trajectory's standard normals (``gaussian_representation`` of
:class:`~pgjax.problems.lqr.regulator.LinearQuadraticRegulator`), so a single-trajectory estimate
g_c = sum_k p_k a_k is a sum of products of quadratics, and its first two moments are exact finite sums of
traces, from the joint cumulants of quadratic forms of a standard normal
(the log moment-generating function of xi' M xi + b' xi + c is
-1/2 log det(I - 2M) + c + 1/2 b' (I - 2M)^{-1} b; expanding it gives)

    kappa(q1)          = tr M1 + c1,
    kappa(q1,q2)       = 2 tr(M1 M2) + b1' b2,
    kappa(q1,q2,q3)    = 8 tr(M1 M2 M3) + 2 (b2' M1 b3 + b1' M2 b3 + b1' M3 b2),
    kappa(q1,q2,q3,q4) = 16 [tr(M1 M2 M3 M4) + tr(M1 M2 M4 M3) + tr(M1 M3 M2 M4)]
                         + 2 sum_{sigma in S_4} b_sigma1' M_sigma2 M_sigma3 b_sigma4,

and moments from cumulants by summing over set partitions (:func:`moment2`, :func:`moment3`,
:func:`moment4`). This gives exact single-trajectory variances of REINFORCE, reward-to-go, every baseline
that is a fixed quadratic of the state, GAE with a quadratic critic, and the pathwise estimator, at a cost
of O(P H^2 D^3) (``tests/problems/test_lqr.py`` checks the formulas against an independent polynomial (Isserlis)
expansion and against the autodiff derivatives of the moment-generating function).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.typing import DTypeLike


@struct.dataclass
class Quadratic:
    """A batch of quadratic polynomials q(xi) = xi' M xi + b' xi + c of xi ~ N(0, I_D).

    M: (..., D, D) symmetric; b: (..., D); c: (...). Quadratics form a vector space: see :func:`combine`.
    """

    M: jax.Array
    b: jax.Array
    c: jax.Array

    def __getitem__(self, index) -> Quadratic:
        return Quadratic(M=self.M[index], b=self.b[index], c=self.c[index])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.c.shape)

    def __add__(self, other: Quadratic) -> Quadratic:
        return Quadratic(M=self.M + other.M, b=self.b + other.b, c=self.c + other.c)

    def __sub__(self, other: Quadratic) -> Quadratic:
        return Quadratic(M=self.M - other.M, b=self.b - other.b, c=self.c - other.c)

    def scale(self, weights) -> Quadratic:
        """Multiplies each polynomial by ``weights`` (broadcast against the batch shape)."""
        w = jnp.asarray(weights)
        return Quadratic(M=self.M * w[..., None, None], b=self.b * w[..., None], c=self.c * w)

    def shift(self, constant) -> Quadratic:
        """Adds ``constant`` (broadcast against the batch shape) to each polynomial."""
        c = self.c + constant
        shape = c.shape
        return Quadratic(
            M=jnp.broadcast_to(self.M, shape + self.M.shape[-2:]),
            b=jnp.broadcast_to(self.b, shape + self.b.shape[-1:]),
            c=c,
        )


def combine(weights: jax.Array, q: Quadratic, axis_spec: str = "jk") -> Quadratic:
    """Linear combinations sum_k W[j, k] q_k over the leading axis k of ``q``; W: (J, K) -> batch (J, ...)."""
    w = jnp.asarray(weights, q.c.dtype)
    return Quadratic(
        M=jnp.einsum("jk,k...->j...", w, q.M),
        b=jnp.einsum("jk,k...->j...", w, q.b),
        c=jnp.einsum("jk,k...->j...", w, q.c),
    )


def quadratic_coefficients(fn: Callable[[jax.Array], jax.Array], dim: int, dtype: DTypeLike) -> Quadratic:
    """(M, b, c) of a function R^D -> R^shape that is exactly quadratic, by autodiff at xi = 0."""
    zero = jnp.zeros((dim,), dtype)
    c = fn(zero)
    b = jax.jacfwd(fn)(zero)
    hess = jax.jacfwd(jax.jacfwd(fn))(zero)
    M = 0.25 * (hess + jnp.swapaxes(hess, -1, -2))
    return Quadratic(M=M, b=b, c=c)


def quadratic_mean(q: Quadratic) -> jax.Array:
    """E[q] = tr M + c."""
    return jnp.trace(q.M, axis1=-2, axis2=-1) + q.c


def _frob(x, y):
    return jnp.sum(x * y, axis=(-2, -1))


def _mv(M, v):
    return jnp.einsum("...ij,...j->...i", M, v)


def _dot(u, v):
    return jnp.sum(u * v, axis=-1)


def quadratic_cov(q1: Quadratic, q2: Quadratic) -> jax.Array:
    """kappa(q1, q2) = Cov(q1, q2) = 2 tr(M1 M2) + b1' b2 (batched, broadcasting)."""
    return 2.0 * _frob(q1.M, q2.M) + _dot(q1.b, q2.b)


def moment2(q1: Quadratic, q2: Quadratic) -> jax.Array:
    """E[q1 q2]."""
    return quadratic_cov(q1, q2) + quadratic_mean(q1) * quadratic_mean(q2)


def _kappa3(qs, Mb, tr3):
    """Third joint cumulant of qs[i], qs[j], qs[k] given the matrix-vector products Mb[j][i] = M_j b_i."""

    def kappa(i, j, k):
        bpart = _dot(qs[j].b, Mb[i][k]) + _dot(qs[i].b, Mb[j][k]) + _dot(qs[i].b, Mb[k][j])
        return 8.0 * tr3 + 2.0 * bpart

    return kappa


def moment3(q1: Quadratic, q2: Quadratic, q3: Quadratic) -> jax.Array:
    """E[q1 q2 q3] (single polynomials; vmap for batches)."""
    qs = (q1, q2, q3)
    mu = [quadratic_mean(q) for q in qs]
    k2 = lambda i, j: quadratic_cov(qs[i], qs[j])
    Mb = [[_mv(qs[j].M, qs[i].b) for i in range(3)] for j in range(3)]
    tr3 = _frob(q1.M @ q2.M, q3.M)
    k3 = _kappa3(qs, Mb, tr3)(0, 1, 2)
    return mu[0] * mu[1] * mu[2] + k2(0, 1) * mu[2] + k2(0, 2) * mu[1] + k2(1, 2) * mu[0] + k3


_PERMS4 = np.array(list(itertools.permutations(range(4))), dtype=np.int32)  # (24, 4)


def moment4(q1: Quadratic, q2: Quadratic, q3: Quadratic, q4: Quadratic) -> jax.Array:
    """E[q1 q2 q3 q4] (single polynomials; vmap for batches), from joint cumulants (see module docstring)."""
    qs = (q1, q2, q3, q4)
    mu = [quadratic_mean(q) for q in qs]
    k2 = {(i, j): quadratic_cov(qs[i], qs[j]) for i in range(4) for j in range(i + 1, 4)}
    Mb = [[_mv(qs[j].M, qs[i].b) for i in range(4)] for j in range(4)]  # Mb[j][i] = M_j b_i
    m01, m23 = q1.M @ q2.M, q3.M @ q4.M
    m02, m13 = q1.M @ q3.M, q2.M @ q4.M
    tr = {
        (0, 1, 2): _frob(m01, q3.M),
        (0, 1, 3): _frob(m01, q4.M),
        (0, 2, 3): _frob(m23, q1.M),
        (1, 2, 3): _frob(m23, q2.M),
    }
    k3 = {ijk: _kappa3(qs, Mb, t)(*ijk) for ijk, t in tr.items()}
    tr4 = _frob(m01, jnp.swapaxes(m23, -1, -2)) + _frob(m01, m23) + _frob(m02, jnp.swapaxes(m13, -1, -2))
    mb = jnp.stack([jnp.stack(row) for row in Mb])  # (4 [j], 4 [i], D)
    # sum over sigma in S_4 of (M_s2 b_s1) . (M_s3 b_s4)
    left = mb[_PERMS4[:, 1], _PERMS4[:, 0]]
    right = mb[_PERMS4[:, 2], _PERMS4[:, 3]]
    k4 = 16.0 * tr4 + 2.0 * jnp.sum(left * right)
    total = mu[0] * mu[1] * mu[2] * mu[3]
    for (i, j), v in k2.items():
        others = [mu[k] for k in range(4) if k not in (i, j)]
        total = total + v * others[0] * others[1]
    for ijk, v in k3.items():
        (other,) = [k for k in range(4) if k not in ijk]
        total = total + v * mu[other]
    total = total + k4 + k2[(0, 1)] * k2[(2, 3)] + k2[(0, 2)] * k2[(1, 3)] + k2[(0, 3)] * k2[(1, 2)]
    return total


def product_sum_moments(p: Quadratic, a: Quadratic) -> tuple[jax.Array, jax.Array]:
    """First and second moments of S = sum_k p_k a_k for batches p, a with one leading axis k.

    Returns (E[S], E[S^2]); the second moment sums E[p_t a_t p_s a_s] over all pairs (t, s), O(k^2 D^3).
    """
    mean = jnp.sum(jax.vmap(moment2)(p, a))

    def row(t):
        pt, at = p[t], a[t]
        return jnp.sum(jax.vmap(lambda ps, as_: moment4(pt, at, ps, as_))(p, a))

    second = jnp.sum(jax.lax.map(row, jnp.arange(p.c.shape[0])))
    return mean, second

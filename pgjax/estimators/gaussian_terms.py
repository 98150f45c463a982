r"""Building blocks for the exact moments of an estimator on a problem with an exact Gaussian representation.

On LQR (:class:`~pgjax.problems.base.GaussianTrajectories`) every per-step score psi_t and reward r_t of one
trajectory is a quadratic polynomial of the trajectory's standard normals, held in
``rep = problem.gaussian_representation(params)`` (``rep["scores"]`` (H, P), ``rep["rewards"]`` (H,),
``rep["pathwise"]`` (P,); see :mod:`pgjax.problems.lqr`). Most single-trajectory estimates are then

    g_c = sum_k p_kc a_kc,        p, a Quadratic batches (k, P),

and Isserlis' theorem gives E[g_c] and E[g_c^2] exactly (:func:`product_moments`). Each estimator builds its
own (p, a) in its own file and returns the moments from :meth:`pgjax.estimators.base.Estimator.gaussian_moments`;
the functions here are the parts they share.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from pgjax.problems.base import GaussianTrajectories, Params
from pgjax.problems.lqr import Quadratic, combine, product_sum_moments

#: E[S] and E[S^2] of S_c = sum_k p_kc a_kc for batches (P, k): one compiled program per shape (P, k, D).
_product_sum_moments = jax.jit(jax.vmap(product_sum_moments))


def broadcast_p(q: Quadratic, num_params: int) -> Quadratic:
    """A (k,) batch repeated over the P coordinates: (k, P)."""
    return Quadratic(
        M=jnp.broadcast_to(q.M[:, None], q.M.shape[:1] + (num_params,) + q.M.shape[1:]),
        b=jnp.broadcast_to(q.b[:, None], q.b.shape[:1] + (num_params,) + q.b.shape[1:]),
        c=jnp.broadcast_to(q.c[:, None], q.c.shape[:1] + (num_params,)),
    )


def product_moments(p: Quadratic, a: Quadratic) -> tuple[jax.Array, jax.Array]:
    """(E[g_c], E[g_c^2]), (P,) each, of g_c = sum_k p_kc a_kc for Quadratic batches (k, P). The cheap linear
    algebra that built p and a runs eagerly; only the moment sums are compiled, once per shape."""
    swap = lambda q: jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), q)  # (k, P) -> (P, k)
    return _product_sum_moments(swap(p), swap(a))


def score_return_terms(
    problem: GaussianTrajectories, params: Params, rep: dict, baseline: float | jax.Array | None = None
) -> tuple[Quadratic, Quadratic]:
    """(p, a) of the score-function estimate with a constant baseline b over whole trajectories,

        g_c = (sum_t psi_tc) (G - b_c),    G = sum_t gamma^t r_t,

    as Quadratic batches (1, P). ``baseline``: None (b = 0, plain REINFORCE), a number (one b for every
    coordinate) or a (1, P) array (one b per coordinate)."""
    H, P = rep["scores"].shape
    dtype = ravel_pytree(params)[0].dtype
    score = combine(jnp.ones((1, H), dtype), rep["scores"])  # (1, P)
    ret = broadcast_p(combine(problem.discounts(dtype)[None], rep["rewards"]), P)  # (1, P)
    if baseline is None:
        return score, ret
    return score, ret.shift(-baseline)


__all__ = ["broadcast_p", "product_moments", "score_return_terms"]

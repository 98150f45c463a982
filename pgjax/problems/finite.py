"""Exact expectations on a problem with finitely many outcomes (:class:`pgjax.problems.base.FiniteOutcomes`).

With the N outcomes x_1..x_N of ``problem.outcomes()``, their probabilities p_j = exp(log_prob(params, x_j)),
rewards r_j and scores psi_j = grad log p_j, every expectation is a finite sum:

    J = sum_j p_j r_j,    grad J = sum_j p_j r_j psi_j,    E[h(r) psi_c^2] = sum_j p_j h(r_j) psi_jc^2.

:func:`enumerate_outcomes` returns (log p, r, psi) for all N outcomes, :func:`objective` the exact J (differentiable,
so ``jax.grad`` of it is the exact gradient) and :func:`score_moments` the :class:`~pgjax.problems.base.ScoreMoments`
that give the exact variances of the score-function estimators. The cost is N evaluations of log pi and one
Jacobian of N rows, so these are meant for N up to a few thousand (the 2^d Bernoulli vectors with d <= 12).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from pgjax.problems.base import FiniteOutcomes, Params, ScoreMoments


class Enumeration(NamedTuple):
    """All N outcomes of a finite problem at ``params``: ``log_p`` (N,) their log-probabilities, ``reward`` (N,)
    their rewards, ``scores`` a pytree shaped like params with a leading axis N (row j: psi_j = grad log p_j)."""

    log_p: jax.Array
    reward: jax.Array
    scores: Params


def log_probabilities(problem: FiniteOutcomes, params: Params) -> jax.Array:
    """log p_j of every outcome, shape (N,)."""
    return problem.log_prob(params, problem.outcomes())


def enumerate_outcomes(problem: FiniteOutcomes, params: Params) -> Enumeration:
    """log p (N,), r (N,) and the scores (leaves (N, *leaf_shape)) of every outcome, by one Jacobian of log pi."""
    outcomes = problem.outcomes()
    log_p = problem.log_prob(params, outcomes)
    scores = jax.jacrev(lambda p: problem.log_prob(p, outcomes))(params)
    return Enumeration(log_p=log_p, reward=problem.reward(outcomes), scores=scores)


def flat_scores(enumeration: Enumeration) -> jax.Array:
    """The scores as an (N, P) array, coordinates in ``ravel_pytree`` order (the tree's leaves, each row-major)."""
    n = enumeration.log_p.shape[0]
    return jnp.concatenate([leaf.reshape(n, -1) for leaf in jax.tree.leaves(enumeration.scores)], axis=1)


def objective(problem: FiniteOutcomes, params: Params) -> jax.Array:
    """J(params) = sum_j p_j r_j, exactly (differentiable in params)."""
    outcomes = problem.outcomes()
    p = jnp.exp(problem.log_prob(params, outcomes))
    return jnp.sum(p * problem.reward(outcomes))


def score_moments(problem: FiniteOutcomes, params: Params) -> ScoreMoments:
    """Exact moments of the score by enumeration, each shaped like params: ``psi2`` E[psi_c^2], ``r_psi2``
    E[r psi_c^2], ``r2_psi2`` E[r^2 psi_c^2], ``r_psi`` E[r psi_c] (= grad_c J). ``dr2`` is NaN and ``dr`` None:
    the outcome does not move smoothly with the parameters, so the pathwise estimator has no meaning."""
    e = enumerate_outcomes(problem, params)
    p, r = jnp.exp(e.log_p), e.reward

    def expect(weight: jax.Array, power: int) -> Params:
        return jax.tree.map(
            lambda s: jnp.tensordot(p * weight, s**power, axes=(0, 0)),
            e.scores,
        )

    return ScoreMoments(
        psi2=expect(jnp.ones_like(r), 2),
        r_psi2=expect(r, 2),
        r2_psi2=expect(r**2, 2),
        dr2=jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), params),
        r_psi=expect(r, 1),
        dr=None,
    )

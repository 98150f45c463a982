"""Tests of the Bernoulli vectors (pgjax/problems/bernoulli.py) and of the finite-outcome enumeration
(pgjax/problems/finite.py) on them and on the softmax bandit.

The exact objective is checked against central finite differences of itself in float64 (the gradient) and its
probabilities against a sum to one; the sampler against the enumerated probabilities: the frequency of each of
the 2^d outcomes over R draws is within z sqrt(p (1 - p) / R) of p, z = unbiasedness_z(2^d) (Bonferroni over the
outcomes, family-wise false-failure rate about 1e-6).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.analysis.stats import unbiasedness_z
from pgjax.errors import ConfigError
from pgjax.problems import BernoulliVector, SoftmaxBandit, SquaredDistance, exact_gradient, finite
from pgjax.problems.base import ExactScoreMoments, FiniteOutcomes

PROBLEMS = {
    "shared": BernoulliVector(logits0=(-4.0,)),  # the papers' set-up: d = 3, one logit eta (-4: low entropy)
    "per-coordinate": BernoulliVector(
        dim=5, logits0=(0.3, -1.0, 2.0, 0.0, -0.5), reward_fn=SquaredDistance((0.1, 0.9, 0.5, 0.2, 0.7))
    ),
}


def _f64(params):
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_exact_objective_and_gradient_by_enumeration(name):
    problem = PROBLEMS[name]
    assert isinstance(problem, FiniteOutcomes) and isinstance(problem, ExactScoreMoments)
    params = problem.init_params()
    grad = np.asarray(exact_gradient(problem, params).logits, np.float64)
    with jax.enable_x64(True):
        p64 = _f64(params)
        log_p = finite.log_probabilities(problem, p64)
        np.testing.assert_allclose(float(jnp.sum(jnp.exp(log_p))), 1.0, rtol=1e-14)
        x = np.asarray(problem.outcomes().x)
        assert x.shape == (2**problem.dim, problem.dim) and len({tuple(r) for r in x}) == 2**problem.dim
        # J by a separate route: the product of the coordinates' probabilities, written out
        q = np.broadcast_to(1 / (1 + np.exp(-np.asarray(p64.logits))), (problem.dim,))
        prob = np.prod(np.where(x == 1, q, 1 - q), axis=1)
        target = np.asarray(problem.reward_fn.target)
        objective = jax.jit(problem.objective)
        np.testing.assert_allclose(float(objective(p64)), np.sum(prob * np.sum((x - target) ** 2, axis=1)), rtol=1e-13)
        # f = sum_i (x_i - t_i)^2 is separable: dJ/dlogit_i = q_i (1 - q_i) (1 - 2 t_i), summed over i if shared
        closed = q * (1 - q) * (1 - 2 * target)
        np.testing.assert_allclose(
            grad, closed.sum(keepdims=True) if problem.shared else closed, rtol=1e-12, atol=1e-16
        )
        h = 1e-6  # central differences: truncation O(h^2), rounding about eps J / h < 1e-9
        for c in range(grad.size):
            step = np.zeros(grad.size)
            step[c] = h
            up = objective(p64.replace(logits=p64.logits + step))
            down = objective(p64.replace(logits=p64.logits - step))
            np.testing.assert_allclose(float((up - down) / (2 * h)), grad[c], rtol=1e-6, atol=1e-8)
        moments = problem.score_moments(p64)
        np.testing.assert_allclose(np.asarray(moments.r_psi.logits), grad, rtol=1e-12, atol=1e-15)  # E[r psi] = grad J
        assert np.all(np.isnan(np.asarray(moments.dr2.logits)))  # no pathwise derivative


def test_the_sampler_draws_the_enumerated_probabilities():
    problem = BernoulliVector(logits0=(0.3, -1.0, 2.0))
    params = problem.init_params()
    draws = 200_000
    x = np.asarray(problem.sample(params, problem.sample_noise(jax.random.key(7), draws)).x).astype(int)
    index = x @ (1 << np.arange(problem.dim - 1, -1, -1))  # outcome j: the binary digits of j
    freq = np.bincount(index, minlength=problem.num_outcomes) / draws
    with jax.enable_x64(True):
        p = np.exp(np.asarray(finite.log_probabilities(problem, _f64(params))))
    z = unbiasedness_z(problem.num_outcomes)
    assert np.all(np.abs(freq - p) <= z * np.sqrt(p * (1 - p) / draws))
    # not reparameterised: the sample does not move with the logits
    grad = jax.grad(lambda p_: jnp.sum(problem.sample(p_, problem.sample_noise(jax.random.key(1), 4)).x))(params)
    assert np.all(np.asarray(grad.logits) == 0)


def test_the_softmax_bandit_enumerates_its_arms():
    bandit = SoftmaxBandit()
    assert isinstance(bandit, FiniteOutcomes) and bandit.num_outcomes == 3
    params = bandit.init_params()
    with jax.enable_x64(True):
        p64 = _f64(params)
        e = finite.enumerate_outcomes(bandit, p64)
        np.testing.assert_allclose(np.exp(np.asarray(e.log_p)), np.asarray(bandit.probabilities(p64)), rtol=1e-14)
        np.testing.assert_allclose(float(finite.objective(bandit, p64)), float(bandit.objective(p64)), rtol=1e-14)
        np.testing.assert_allclose(np.asarray(finite.flat_scores(e)), np.asarray(bandit.scores(p64)), atol=1e-15)
        mine, its = finite.score_moments(bandit, p64), bandit.score_moments(p64)
        for field in ("psi2", "r_psi2", "r2_psi2"):
            np.testing.assert_allclose(
                np.asarray(getattr(mine, field).logits), np.asarray(getattr(its, field).logits), rtol=1e-13
            )


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(dim=0), "dim"),
        (dict(dim=13), "dim"),
        (dict(dim=3, logits0=(0.0, 1.0)), "logits"),
        (dict(dim=3, logits0=(float("nan"),)), "logits"),
        (dict(dim=2), "target"),  # the default f has 3 targets
        (dict(dim=3, reward_fn=3.0), "reward"),
    ],
)
def test_bad_settings_are_one_config_error_naming_the_field(kwargs, field):
    with pytest.raises(ConfigError) as err:
        BernoulliVector(**kwargs)
    assert err.value.field == field

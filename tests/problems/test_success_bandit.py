"""The success bandit's exact values: J and grad J against sums written out here, and its success/failure
reduction against moments computed directly from the K scores e_a - pi (no sampling, float64 tolerances)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.errors import ConfigError
from pgjax.estimators.group import success_reduction
from pgjax.problems import SuccessBandit
from pgjax.problems.base import ExactSuccessMoments, PromptGroups

CORRECT = [[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 0, 0]]
LOGITS = [[0.3, -0.2, 0.5, -1.0], [1.0, -0.5, 0.2, 0.0], [-2.0, 0.0, 0.5, 0.3]]


def _softmax(x):
    e = np.exp(np.asarray(x, np.float64) - np.max(x, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_objective_gradient_and_reduction_against_direct_sums():
    problem = SuccessBandit.build(correct=CORRECT, logits=LOGITS)
    assert isinstance(problem, PromptGroups) and isinstance(problem, ExactSuccessMoments)
    pi, m = _softmax(LOGITS), np.asarray(CORRECT, np.float64)
    p = (pi * m).sum(axis=1)
    with jax.enable_x64(True):
        params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), problem.init_params())
        objective, grad = jax.jit(jax.value_and_grad(problem.objective))(params)
        assert float(objective) == pytest.approx(p.mean(), abs=1e-14)
    mom, _ = success_reduction(problem, params)  # one compiled program, float64
    np.testing.assert_allclose(np.asarray(grad.logits), pi * (m - p[:, None]) / len(p), atol=1e-14)
    np.testing.assert_allclose(mom.success, p, atol=1e-14)
    # Directly from the scores psi_a = e_a - pi of every answer a, conditioned on its reward.
    for q in range(len(p)):
        scores = np.eye(4) - pi[q]  # row a: the score of answer a
        for r, prob in ((1, p[q]), (0, 1 - p[q])):
            w = pi[q] * (m[q] == r) / prob
            mean = w @ scores
            var = w @ scores**2 - mean**2
            sl = slice(4 * q, 4 * q + 4)
            np.testing.assert_allclose(mean, (r - p[q]) * mom.direction[sl], atol=1e-13)
            np.testing.assert_allclose(var, (mom.within1 if r else mom.within0)[sl], atol=1e-13)
        assert np.all(mom.prompt[4 * q : 4 * q + 4] == q)


def test_bernoulli_model():
    """from_success: K = 2, p_q = sigmoid(logits[q, 0]) and no spread of the score within a reward (the
    sampler is checked through the engine in tests/estimators/test_group.py)."""
    problem = SuccessBandit.from_success([0.1, 0.5, 0.9])
    mom, grad = success_reduction(problem, problem.init_params())
    np.testing.assert_allclose(mom.success, [0.1, 0.5, 0.9], atol=1e-7)  # logit p rounded to float32
    np.testing.assert_allclose(mom.within1, 0.0, atol=1e-14)
    np.testing.assert_allclose(mom.within0, 0.0, atol=1e-14)
    p = mom.success
    np.testing.assert_allclose(grad[::2], p * (1 - p) / 3, atol=1e-15)  # d sigmoid / d theta, over P = 3 prompts


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(correct=[[1, 1]], logits=[[0.0, 0.0]]), "correct"),
        (dict(correct=[[1, 0]], logits=[[0.0, 0.0, 0.0]]), "logits"),
        (dict(correct=[[1, 0, 0], [1, 0]], logits=[[0, 0, 0], [0, 0]]), "correct"),
    ],
)
def test_bad_problems_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as info:
        SuccessBandit.build(**kwargs)
    assert info.value.field == field
    with pytest.raises(ConfigError):
        SuccessBandit.from_success([0.0])

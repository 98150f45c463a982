"""Tests of the estimators that sample without replacement (pgjax/estimators/without_replacement.py) and of the
exact variances of REINFORCE and the leave-one-out baseline on problems with finitely many outcomes.

Exact checks (no randomness): the subset table's P(S) equals the sum of the Plackett-Luce probabilities of the
k! orderings of S; the enumerated mean of every estimator equals the exact gradient (unbiasedness, to float64
rounding), with the enumeration over sets and over ordered tuples giving the same variance; the baseline weights
sum to one; the leave-one-out closed form equals a brute-force enumeration of the N^n draws with replacement.

The Monte Carlo checks through the engine (unbiasedness at alpha = 1e-6 and the exact variances) run on the
output of the kool2020-bernoulli experiment (tests/experiments/test_kool2020_bernoulli.py), whose one compiled
program holds every estimator, and on 1 and 4 devices in tests/estimators/estimator_matrix.py.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.errors import ConfigError
from pgjax.estimators import WITHOUT_REPLACEMENT, make_estimator
from pgjax.estimators import without_replacement as wr
from pgjax.estimators.base import available_on
from pgjax.problems import BernoulliVector, LinearGaussianBandit, SoftmaxBandit, exact_gradient, finite

BERNOULLI = BernoulliVector(logits0=(0.3, -1.0, 2.0))  # 8 outcomes of unequal probabilities, 3 coordinates
LOW_ENTROPY = BernoulliVector(logits0=(-4.0,))  # x = 0 has probability 0.946: the subset table's hard case
SOFTMAX = SoftmaxBandit()
PROBLEMS = {"bernoulli": BERNOULLI, "low-entropy": LOW_ENTROPY, "softmax": SOFTMAX}


def _flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(v, np.float64)) for v in jax.tree.leaves(tree)])


def _enumeration(problem):
    params = problem.init_params()  # float32, as the estimators and exact_gradient get them
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
        e = finite.enumerate_outcomes(problem, p64)
        return np.asarray(e.log_p), np.asarray(e.reward), np.asarray(finite.flat_scores(e))


def test_the_estimators_run_only_on_finite_problems():
    assert set(WITHOUT_REPLACEMENT) <= set(available_on(BERNOULLI)) and set(WITHOUT_REPLACEMENT) <= set(
        available_on(SOFTMAX)
    )
    assert not set(WITHOUT_REPLACEMENT) & set(available_on(LinearGaussianBandit()))
    with pytest.raises(ConfigError, match="at most the problem's 3"):
        make_estimator("unordered_set")(jax.random.key(0), SOFTMAX.init_params(), SOFTMAX, 4)


def test_set_probabilities_are_sums_over_orderings():
    log_p, _, _ = _enumeration(LOW_ENTROPY)
    for k in (2, 3, 8):
        sets = wr.subsets(8, k)
        by_table = wr.set_log_prob(log_p, sets)
        by_orders = np.array(
            [
                np.logaddexp.reduce(wr.plackett_luce_log_prob(log_p, np.array(list(itertools.permutations(s)))))
                for s in sets
            ]
        )
        np.testing.assert_allclose(by_table, by_orders, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.exp(by_table).sum(), 1.0, rtol=1e-12)  # the k-subsets' probabilities
    # the weights: p(s) R(S, s) is the law of the first draw given S, and every baseline row sums to one
    sets = wr.subsets(8, 4)
    np.testing.assert_allclose(wr.unordered_set_weights(log_p, sets, np).sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(wr.unordered_set_baseline_matrix(log_p, sets, np).sum(axis=2), 1.0, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_every_estimator_is_exactly_unbiased_by_enumeration(name):
    problem = PROBLEMS[name]
    params = problem.init_params()
    grad = _flat(exact_gradient(problem, params))
    for estimator_name in WITHOUT_REPLACEMENT:
        estimator = make_estimator(estimator_name)
        for k in sorted({1, 2, 3, problem.num_outcomes - 1, problem.num_outcomes}):
            moments = estimator.exact_moments(problem, params, k)
            np.testing.assert_allclose(
                _flat(moments["mean"]), grad, rtol=1e-9, atol=1e-14, err_msg=f"{estimator_name} {k}"
            )
            if k <= 3:  # the ordered Gumbel-top-k tuples (Plackett-Luce) give the same law
                ordered = estimator.exact_moments(problem, params, k, ordered=True)
                np.testing.assert_allclose(_flat(ordered["var"]), _flat(moments["var"]), rtol=1e-9, atol=1e-18)
        if not estimator.sample_baseline:  # every outcome summed: the exact gradient, variance 0
            assert np.all(np.abs(_flat(estimator.n_sample_variance(problem, params, problem.num_outcomes))) < 1e-25)
        # one sample: REINFORCE (the baselines of sum-and-sample are a second, independent sample)
        if not estimator.sample_baseline:
            reinforce = _flat(make_estimator("reinforce").n_sample_variance(problem, params, 1))
            np.testing.assert_allclose(_flat(estimator.n_sample_variance(problem, params, 1)), reinforce, rtol=1e-9)


@pytest.mark.parametrize("name", ["bernoulli", "softmax"])
def test_leave_one_out_variance_matches_brute_force_enumeration(name):
    problem = PROBLEMS[name]
    params = problem.init_params()
    log_p, r, scores = _enumeration(problem)
    p = np.exp(log_p)
    estimator = make_estimator("leave_one_out")
    for n in (1, 2, 3):
        draws = np.array(list(itertools.product(range(problem.num_outcomes), repeat=n)))  # every n-tuple
        rewards = r[draws]
        weights = rewards if n == 1 else (rewards - rewards.mean(axis=1, keepdims=True)) * n / (n - 1)
        g = np.einsum("tn,tnp->tp", weights, scores[draws]) / n
        prob = np.prod(p[draws], axis=1)
        mean = prob @ g
        np.testing.assert_allclose(mean, _flat(exact_gradient(problem, params)), rtol=1e-9, atol=1e-14)
        var = prob @ (g - mean) ** 2
        np.testing.assert_allclose(_flat(estimator.n_sample_variance(problem, params, n)), var, rtol=1e-9)

"""The state-dependent and action-dependent baselines (pgjax/estimators/state_baselines.py) through the engine.

* Unbiasedness: R = 20000 seed-level single-sample estimates per estimator from :func:`pgjax.engine.run_sweep`;
  reject when |mean - grad J| > z sd / sqrt(R) for any coordinate, z = ``unbiasedness_z`` Bonferroni over every
  coordinate of every estimator tested (alpha = 1e-6).
* Variance: reject when |s^2 - V| > z se(s^2) (:func:`pgjax.analysis.stats.variance_se`, valid for heavy tails),
  V the estimator's exact single-sample variance, z Bonferroni over the same family at 1e-6; power: the same test
  rejects 3 V (score-function estimates are heavy-tailed: se(s^2) / s^2 reaches ~15% at this R).
* Exact inequalities (float64, no sampling): the variance-minimising state-dependent baseline b*(s) has a
  variance below the value baseline V(s) and below the best constant baseline b*, strictly on the default
  contextual bandit; equal to the constant one where the state is fixed, and to V(s) where the reward is linear
  in the action (q2 = 0), exactly as the theory says (pgjax/problems/contextual.py).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from pgjax.analysis.stats import unbiasedness_z, variance_se
from pgjax.engine import run_sweep
from pgjax.estimators import make_estimator
from pgjax.experiment import exact_variances
from pgjax.problems import ContextualBandit, StateActionQuadratic, TargetMatching

R = 20000
CONTEXTUAL = ContextualBandit.build(
    state=(1.0, 0.5),
    theta=(0.2, -0.3),
    sigma=1.0,
    state_std=0.5,
    state_corr=0.3,
    reward_weights=(1.0, -0.5),
    state_cost=0.5,
)
TARGET = TargetMatching(dim=3, target=1.0, mu0=0.2, sigma0=0.7)
CASES = {
    "contextual": (CONTEXTUAL, ("state_value_baseline", "optimal_state_baseline")),
    "target-matching": (TARGET, ("state_value_baseline", "optimal_state_baseline", "action_factorised_baseline")),
}
#: Every coordinate of every (problem, estimator) pair: 3 x 2 + 6 x 3.
Z = unbiasedness_z(3 * 2 + 6 * 3, 1e-6)


@pytest.fixture(scope="module")
def sweeps():
    """One fused engine sweep (n = 1, R seeds) per problem, with the exact variances of its estimators."""
    out = {}
    for case, (problem, names) in CASES.items():
        estimators = {name: make_estimator(name) for name in names}
        params = problem.init_params()
        sweep = run_sweep(problem, params, estimators, (1,), R, seed=11, fuse=True)
        out[case] = (sweep, exact_variances(estimators, problem, params))
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_unbiased_and_variance_matches_exact(sweeps, case):
    sweep, exact = sweeps[case]
    for name in CASES[case][1]:
        x = sweep.estimates[name][1].astype(np.float64)
        mean, sd = x.mean(0), x.std(0, ddof=1)
        assert np.all(np.abs(mean - sweep.true_grad) <= Z * sd / np.sqrt(R)), (case, name, mean, sweep.true_grad)
        s2, se = x.var(0, ddof=1), np.asarray(variance_se(x))
        assert np.all(np.abs(s2 - exact[name]) <= Z * se), (case, name, s2, exact[name], se)
        assert np.all(np.abs(s2 - 3.0 * exact[name]) > Z * se), (case, name, s2, exact[name], se)  # power


def _exact(names, problem):
    return exact_variances({name: make_estimator(name) for name in names}, problem, problem.init_params())


def test_optimal_state_baseline_beats_value_and_constant_baselines_strictly():
    """Var[b*(s)] < Var[V(s)] and < Var[constant b*] for every coordinate of the default contextual bandit
    (its reward is curved in a, q2 = -sigma^2, and depends on s, so b*(s) is neither V(s) nor a constant);
    and on this setting the value baseline is worse than the best constant one for every coordinate: V(s) is
    not the variance-minimising baseline."""
    v = _exact(("optimal_state_baseline", "state_value_baseline", "optimal_baseline_exact", "reinforce"), CONTEXTUAL)
    best = v["optimal_state_baseline"]
    assert np.all(best < v["state_value_baseline"] - 1e-6), v
    assert np.all(best < v["optimal_baseline_exact"] - 1e-6), v
    assert np.all(v["optimal_baseline_exact"] < v["state_value_baseline"]), v
    assert np.all(v["state_value_baseline"] < v["reinforce"]), v


def test_the_inequalities_become_equalities_where_theory_says():
    """Fixed state (std 0): b*(s) is the constant b*, the same variance; reward linear in a (q2 = 0): b*(s) =
    V(s), the same variance; and the target-matching task (one fixed state) gives b*(s) = constant b* too."""
    fixed = ContextualBandit.build(
        state=(1.0, 0.5), theta=(0.2, -0.3), sigma=1.0, state_std=0.0, reward_weights=(1.0, -0.5), state_cost=0.5
    )
    v = _exact(("optimal_state_baseline", "optimal_baseline_exact", "state_value_baseline"), fixed)
    np.testing.assert_allclose(v["optimal_state_baseline"], v["optimal_baseline_exact"], rtol=1e-9)
    assert np.all(v["optimal_state_baseline"] < v["state_value_baseline"] - 1e-6)
    linear = StateActionQuadratic(
        q_aa=0.0, q_as=(1.0, -0.5), q_ss=((-0.5, 0.0), (0.0, -0.5)), q_a=0.3, q_s=(0.2, 0.0), q_0=0.0
    )
    flat = ContextualBandit(reward_function=linear)
    v = _exact(("optimal_state_baseline", "optimal_baseline_exact", "state_value_baseline"), flat)
    np.testing.assert_allclose(v["optimal_state_baseline"], v["state_value_baseline"], rtol=1e-9)
    assert np.all(v["optimal_state_baseline"] < v["optimal_baseline_exact"] - 1e-6)
    v = _exact(("optimal_state_baseline", "optimal_baseline_exact"), TARGET)
    np.testing.assert_allclose(v["optimal_state_baseline"], v["optimal_baseline_exact"], rtol=1e-9)


def test_traceable_exact_variance_equals_the_host_one():
    """exact_variance (traceable: jitted here on the target-matching task, whose program is small; called
    directly on the contextual bandit) and single_sample_variance agree for each new estimator."""
    for case, (problem, names) in CASES.items():
        params = problem.init_params()
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda x: jax.numpy.asarray(x, jax.numpy.float64), params)
            for name in names:
                est = make_estimator(name)
                call = lambda p, est=est, problem=problem: est.exact_variance(problem, p)
                traced = (jax.jit(call) if case == "target-matching" else call)(p64)
                host = est.single_sample_variance(problem, params)
                for a, b in zip(jax.tree.leaves(traced), jax.tree.leaves(host)):
                    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10)


def test_the_new_estimators_need_their_capability():
    """On the action-only bandit (no StateBaselines, no FactorisedActions) each is refused with the reason."""
    from pgjax.estimators.base import unavailable
    from pgjax.problems import LinearGaussianBandit

    bandit = LinearGaussianBandit()
    for name in ("state_value_baseline", "optimal_state_baseline", "action_factorised_baseline"):
        reason = unavailable(make_estimator(name), bandit)
        assert reason is not None and name in reason, reason
    assert unavailable(make_estimator("action_factorised_baseline"), CONTEXTUAL) is not None

"""The exact state / action / trajectory decomposition (Tucker et al., 2018) adds up to the total variance.

The terms come from the conditional (state, action) representation of one branch; the total from the whole
trajectory's representation with no conditioning (:func:`exact_total_variance`): two computations that share
only the quadratic-moment formulas. They must agree to float64 precision.
"""

from __future__ import annotations

import numpy as np
import pytest

from pgjax.estimators import variance_decomposition as vd
from pgjax.problems.lqr import OpenLoopLQG

LAMBDAS = (0.0, 0.7)  # as many as tucker2018-fig1's, so that both share one compiled program


@pytest.fixture(scope="module")
def setup():
    # a small LQG with noise large enough that every term matters, at means away from the initial ones
    problem = OpenLoopLQG.point_mass(horizon=5, sigma_a2=0.05, sigma_s2=0.01, seed=1)
    mu = np.asarray(problem.mu0) + 0.5 * np.asarray(problem.exact_step_gradient(problem.mu0))
    return problem, mu, vd.exact_decomposition(problem, mu, LAMBDAS)


@pytest.mark.parametrize("t", [0, 3])
def test_terms_sum_to_the_total_variance(setup, t):
    problem, mu, terms = setup
    for baseline in vd.BASELINES:
        for lam in (None, *LAMBDAS):
            total = vd.exact_total_variance(problem, mu, t, baseline, lam)
            key = f"total_{baseline}" + ("" if lam is None else f"_gae{lam:g}")
            np.testing.assert_allclose(terms[key][t], total, rtol=1e-10, err_msg=key)


def test_term_structure(setup):
    problem, mu, terms = setup
    # E[g_t] is Tucker et al.'s exact per-step gradient (from the value recursion, not the representation)
    np.testing.assert_allclose(terms["gradient"], np.asarray(problem.exact_step_gradient(mu)), rtol=1e-10)
    assert np.all(terms["sigma_a_q"] == 0.0)
    for name in vd.term_names(LAMBDAS):
        if name != "sigma_a_q":
            assert np.all(terms[name][:-1] > 0), name
    # V(s) is the variance-optimal state baseline only in part, but here it removes most of Sigma_a
    assert np.all(terms["sigma_a_value"] < terms["sigma_a_none"])
    # at the last step the return is r_{T-1}, a function of (s, a): no trajectory term
    np.testing.assert_allclose(terms["sigma_tau_mc"][-1], 0.0, atol=1e-12 * terms["sigma_a_none"][-1].max())


def test_nested_components_are_exact_on_a_balanced_layout():
    # x_ijk = s_i + a_ij + e_ijk with each effect centred exactly within its level, so the mean squares are
    # the effects' sample variances and the estimators are W, B_a - W / K and B_s - B_a / J of them
    rng = np.random.default_rng(0)
    s, a, e = rng.normal(size=(3, 1)), rng.normal(size=(3, 4, 1)), rng.normal(size=(3, 4, 5, 1))
    s, a = s - s.mean(0), a - a.mean(1, keepdims=True)
    e = e - e.mean(2, keepdims=True)
    x = s[:, None, None] + a[:, :, None] + e
    sig_s, sig_a, sig_tau = (np.asarray(v) for v in vd.nested_components(x))
    within = np.mean(np.var(e, axis=2, ddof=1))
    between_a = np.mean(np.var(a, axis=1, ddof=1))
    np.testing.assert_allclose(sig_tau, within, rtol=1e-5)
    np.testing.assert_allclose(sig_a, between_a - within / 5, rtol=1e-5)
    np.testing.assert_allclose(sig_s, np.var(s[:, 0], ddof=1) - between_a / 4, rtol=1e-5)

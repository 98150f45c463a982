"""The group baselines (pgjax.estimators.group): exact moments against a brute-force enumeration of every
answer of every group (float64, no sampling), and against the engine's Monte Carlo.

Statistical checks use one fused sweep of R seeds (module fixture) and reject when a mean is more than
z sd / sqrt(R) from its target, or a variance more than z se(s^2) from its exact value (se from
:func:`pgjax.analysis.stats.variance_se`, valid for non-normal estimates), with z from
:func:`pgjax.analysis.stats.unbiasedness_z` Bonferroni-corrected over every (estimator, coordinate) cell of the
family: each family fails by chance with probability about alpha = 1e-6. The unbiased estimators are tested
against the TRUE gradient; the biased ones against their exact mean, and the test first checks that their exact
bias is large enough to be told apart from zero at this R (so the family can fail)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pgjax.analysis.stats import unbiasedness_z, variance_se
from pgjax.engine import run_sweep
from pgjax.errors import ConfigError
from pgjax.estimators import make_estimator, unavailable
from pgjax.estimators.group import (
    GROUP_ESTIMATORS,
    GroupInfo,
    exact_group_moments,
    optimal_constant_baseline,
    sorted_groups,
    success_reduction,
)
from pgjax.problems import SoftmaxBandit, SuccessBandit

CORRECT = [[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 0, 0]]
LOGITS = [[0.3, -0.2, 0.5, -1.0], [1.0, -0.5, 0.2, 0.0], [-2.0, 0.0, 0.5, 0.3]]
G = 4
R = 20000
ALPHA = 1e-6


@pytest.fixture(scope="module")
def problem():
    return SuccessBandit.build(correct=CORRECT, logits=LOGITS)


@pytest.fixture(scope="module")
def sweep(problem):
    estimators = {name: make_estimator(name) for name in GROUP_ESTIMATORS}
    return run_sweep(problem, problem.init_params(), estimators, [G], R, seed=3, fuse=True)


@pytest.fixture(scope="module")
def exact(problem):
    params = problem.init_params()
    reduction = success_reduction(problem, params)
    return {name: exact_group_moments(make_estimator(name), problem, params, G, reduction) for name in GROUP_ESTIMATORS}


def _brute_force(estimator, problem, groups: int):
    """Mean and variance of the estimate over every joint answer of every group, weighted by its probability."""
    params = problem.init_params()
    logits = np.asarray(params.logits, np.float64)  # the float32 logits the exact moments see
    pi = np.exp(logits - logits.max(axis=1, keepdims=True))
    pi /= pi.sum(axis=1, keepdims=True)
    correct = np.asarray(problem.correct, np.float64)
    P, K = pi.shape
    answers = np.array(list(itertools.product(range(K), repeat=P * groups))).reshape(-1, P, groups)
    prob = np.prod(pi[np.arange(P)[None, :, None], answers], axis=(1, 2))
    rewards = correct[np.arange(P)[None, :, None], answers]  # (N, P, G)
    totals = rewards.sum(axis=2)
    other = (totals.sum(axis=1, keepdims=True) - totals) / ((P - 1) * groups)
    mom, _ = success_reduction(problem, params)
    info = estimator.exact_info(problem, params, groups, mom)
    info = [np.broadcast_to(np.asarray(x, np.float64), (P * K,)) for x in info]
    g = np.zeros((len(prob), P * K))
    for c in range(P * K):
        q, k = divmod(c, K)
        cinfo = GroupInfo(optimal=info[0][c], shrink_weight=info[1][c], other_mean=other[:, q, None])
        adv = estimator.advantages(rewards[:, q, :], cinfo, xp=np)
        psi = (answers[:, q, :] == k) - pi[q, k]
        g[:, c] = (adv * psi).sum(axis=1) / (P * groups)
    mean = prob @ g
    return mean, prob @ (g - mean) ** 2


LOGITS_SMALL = [[0.4, -0.3, 0.1], [-1.0, 0.2, 0.5]]


@pytest.mark.parametrize("name", list(GROUP_ESTIMATORS))
def test_exact_moments_match_brute_force_enumeration(name):
    """The success/failure reduction (sum over k ~ Binomial) against the sum over all 3^6 joint answers of two
    prompts with K = 3 answers (one with two correct answers, so the score varies within a reward) and G = 3."""
    problem = SuccessBandit.build(correct=[[1, 0, 1], [0, 1, 0]], logits=LOGITS_SMALL)
    estimator = make_estimator(name)
    mean, var = _brute_force(estimator, problem, 3)
    ex = exact_group_moments(estimator, problem, problem.init_params(), 3)
    np.testing.assert_allclose(ex["mean"], mean, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(ex["var"], var, rtol=1e-9, atol=1e-15)


def _cells(sweep, exact, names):
    x = {name: np.asarray(sweep.estimates[name][G], np.float64) for name in names}
    return x, unbiasedness_z(len(names) * len(sweep.true_grad), ALPHA)


def test_unbiased_group_baselines_are_unbiased(sweep, exact):
    """RLOO, the shrinkage baseline and the exact optimal constant: every coordinate within z sd / sqrt(R) of
    the TRUE gradient (alpha = 1e-6 over all cells); coordinates whose exact variance is 0 (the optimal
    baseline on a prompt's only correct answer) equal the gradient to float32 rounding."""
    names = [n for n, cls in GROUP_ESTIMATORS.items() if cls.unbiased]
    assert set(names) == {"group_rloo", "group_shrinkage", "group_optimal"}
    x, z = _cells(sweep, exact, names)
    grad = sweep.true_grad
    for name in names:
        m, sd = x[name].mean(axis=0), x[name].std(axis=0, ddof=1)
        np.testing.assert_allclose(exact[name]["mean"], grad, atol=1e-14)
        zero = exact[name]["var"] < 1e-12 * exact[name]["var"].max()  # an exact 0, up to float64 rounding
        assert np.all(np.abs(m - grad)[zero] < 1e-6), name
        assert np.all(np.abs(m - grad)[~zero] < z * sd[~zero] / np.sqrt(R)), (name, (m - grad) / (sd / np.sqrt(R)))
    assert exact["group_optimal"]["var"][5] < 1e-15  # prompt 1's only correct answer: r psi_c is constant


def test_biased_group_baselines_agree_with_their_exact_bias(sweep, exact):
    """Batch mean, Dr. GRPO and GRPO: the Monte Carlo mean within z sd / sqrt(R) of the exact mean on every
    coordinate, where the exact bias itself is more than 2 z sd / sqrt(R) on some coordinate (so an unbiased
    implementation, or one with another bias, would fail). The batch mean's exact mean is (1 - 1/G) grad J."""
    names = ["group_mean", "dr_grpo", "grpo"]
    x, z = _cells(sweep, exact, names)
    grad = sweep.true_grad
    np.testing.assert_allclose(exact["group_mean"]["mean"], (1 - 1 / G) * grad, atol=1e-15)
    for name in names:
        m, se = x[name].mean(axis=0), x[name].std(axis=0, ddof=1) / np.sqrt(R)
        assert np.max(np.abs(exact[name]["bias"]) / se) > 2 * z, name
        assert np.all(np.abs(m - exact[name]["mean"]) < z * se), (name, (m - exact[name]["mean"]) / se)
    np.testing.assert_array_equal(sweep.estimates["dr_grpo"][G], sweep.estimates["group_mean"][G])


def test_exact_variances_agree_with_monte_carlo(sweep, exact):
    """Every estimator and coordinate: |s^2 - Var_exact| < z se(s^2), alpha = 1e-6 over all cells; an exact 0
    is matched by a Monte Carlo variance at float32 rounding."""
    names = list(GROUP_ESTIMATORS)
    x, z = _cells(sweep, exact, names)
    for name in names:
        s2, se = x[name].var(axis=0, ddof=1), variance_se(x[name])
        var = exact[name]["var"]
        zero = var < 1e-12 * var.max()
        assert np.all(s2[zero] < 1e-12), name
        assert np.all(np.abs(s2 - var)[~zero] < z * se[~zero]), (name, ((s2 - var) / se)[~zero])


def test_all_equal_groups_and_conventions():
    """All-equal groups (k = 0 or G) get advantage 0 from the batch mean, RLOO and GRPO (with eps = 0 too), and
    happen with probability p^G + (1 - p)^G; GRPO divides by the Bessel std plus eps; the optimal constant is
    1 - p for K = 2."""
    rewards = sorted_groups(5)
    for name in ("group_mean", "group_rloo", "grpo"):
        adv = make_estimator(name).advantages(rewards, GroupInfo(), xp=np)
        assert np.all(adv[0] == 0) and np.all(adv[-1] == 0), name
    grpo = GROUP_ESTIMATORS["grpo"](eps=0.0)
    assert np.all(np.isfinite(grpo.advantages(rewards, GroupInfo(), xp=np)))
    r = np.array([1.0, 0.0, 0.0, 0.0])
    expected = (r - 0.25) / (np.std(r, ddof=1) + 1e-4)
    np.testing.assert_allclose(make_estimator("grpo").advantages(r, GroupInfo(), xp=np), expected, rtol=1e-14)
    problem = SuccessBandit.from_success([0.1, 0.7])
    ex = exact_group_moments(make_estimator("grpo"), problem, problem.init_params(), 6)
    p = ex["success"]  # 0.1 and 0.7 up to the float32 rounding of their logits
    np.testing.assert_allclose(p, [0.1, 0.1, 0.7, 0.7], rtol=1e-6)
    np.testing.assert_allclose(ex["degenerate"], p**6 + (1 - p) ** 6, rtol=1e-12)
    mom, _ = success_reduction(problem, problem.init_params())
    np.testing.assert_allclose(optimal_constant_baseline(mom), 1 - p, rtol=1e-12)


def test_contract_errors():
    """G < 2, the shrinkage baseline on one prompt, and a problem without prompt groups are refused."""
    one = SuccessBandit.from_success([0.3])
    with pytest.raises(ConfigError) as info:
        exact_group_moments(make_estimator("group_rloo"), one, one.init_params(), 1)
    assert info.value.field == "ns"
    with pytest.raises(ConfigError) as info:
        exact_group_moments(make_estimator("group_shrinkage"), one, one.init_params(), 4)
    assert info.value.field == "estimators"
    assert "prompt groups" in unavailable(make_estimator("grpo"), SoftmaxBandit())

"""Statistical tests of the gradient estimators on the linear-Gaussian bandit, against exact ground truth.

How the tests decide (the rules of pgjax/analysis/stats.py: unbiasedness_z and variance_se):

* Unbiasedness. R seed-level estimates of the P = 3 coordinates (theta[0], theta[1], log_sigma) with mean m and
  standard deviation sd; reject when, for any coordinate, |m - target| > z * sd / sqrt(R). z is
  ``unbiasedness_z(3 * number_of_cells_in_the_family, 1e-6)``: Bonferroni over every coordinate of every
  (problem, estimator, n) cell of the family, so a correct library fails a whole family by chance with
  probability about 1e-6 (normal approximation to a mean of R = 10^4 .. 10^5 i.i.d. values, finite variance).
* Variance. Compare n * s^2 (the measured per-sample variance) with the exact single-sample variance V; reject
  when |n s^2 - V| > z * n * se(s^2), se(s^2) = sqrt((m4 - s^4 (R-3)/(R-1)) / R) from
  :func:`pgjax.analysis.stats.variance_se` (valid for the heavy tails of score-function estimates), z Bonferroni over
  the family at 1e-6 as above.
* Power. Each family also shows it can fail: it rejects a deliberately wrong target (batch_mean_baseline's
  biased mean tested as unbiased; a truth shifted by 2 z standard errors; a variance 50% too large).

Fixed keys everywhere, so a run is reproducible; the rates above are the chance that a correct implementation
would fail for a randomly chosen base seed.

Cost. XLA compile time dominates: sampling noise at one n takes ~1 s to compile on CPU, each estimator on top
of it ~0.2 s, while running 10^5 seeds takes far less. So the three problems of one state kind (fixed /
random) compile ONE program: every estimator of interest runs on the same key -- the engine's per-seed key
``pgjax.engine.seed_key(base, seed, n)``, the same base key for the three rewards, so XLA generates their
common noise once -- vmapped over the seeds, with a per-n plan of which estimators are needed at which n.
(Sharing keys makes the problems' checks dependent; Bonferroni does not need independence.) These tests call
the estimators directly rather than through ``run_sweep``, whose per-estimator programs take about twice as
long to compile; ``tests/engine/test_engine.py`` checks that the engine's estimate for a seed is the estimator called
on that seed's key. With pytest-xdist, each kind's program is computed by one worker and shared
(``computed_once`` in ``conftest.py``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.analysis.stats import unbiasedness_z, variance_se
from pgjax.engine import seed_key
from pgjax.estimators import (
    BatchMeanBaseline,
    ConstantBaseline,
    LeaveOneOutBaseline,
    OptimalBaselineBatch,
    OptimalBaselineExact,
    Pathwise,
    Reinforce,
)
from pgjax.problems import LinearGaussianBandit, exact_gradient
from pgjax.tree_util import ravel

P = 3  # theta[0], theta[1], log_sigma
STATE = (1.0, 0.5)
THETA = (0.6, -0.4)
SIGMA = 0.8
STATE_STD = (0.6, 0.3)
BASELINE = -1.0  # the constant b of constant_baseline

PROBLEMS = {
    f"{reward}-{kind}": LinearGaussianBandit.build(
        state=STATE, theta=THETA, sigma=SIGMA, state_std=std, reward=reward, reward_target=1.0
    )
    for kind, std in (("fixed", 0.0), ("random", STATE_STD))
    for reward in ("quadratic", "linear", "gaussian_bump")
}

ESTIMATORS = {
    "reinforce": Reinforce(),
    "constant_baseline": ConstantBaseline(baseline=BASELINE),
    "leave_one_out": LeaveOneOutBaseline(),
    "optimal_baseline_exact": OptimalBaselineExact(),
    "pathwise": Pathwise(),
    "batch_mean_baseline": BatchMeanBaseline(),
    "optimal_baseline_batch": OptimalBaselineBatch(),
}
UNBIASED = ("reinforce", "constant_baseline", "leave_one_out", "optimal_baseline_exact", "pathwise")
BIASED = ("batch_mean_baseline", "optimal_baseline_batch")
IID = ("reinforce", "constant_baseline", "optimal_baseline_exact", "pathwise")

# Which estimators run at which n. The number of distinct n is what costs compile time (each n samples its own
# noise), so four problems get only n = 1 and n = 4 (unbiasedness at n = 1 and n > 1, the biased estimators at
# n > 1). A fixed state with a polynomial reward (closed forms available) also gets n = 2 and 8 (batch-mean
# bias at n = 2, 4, 8), and it and a random state with a non-polynomial reward get n = 16 and 256 (n x variance
# flat in n; optimal_baseline_batch's bias shrinking with n).
_LEAN = (
    (1, UNBIASED + BIASED),
    (4, UNBIASED + BIASED),
)
_FULL_RANDOM = _LEAN + (
    (16, IID + ("optimal_baseline_batch",)),
    (256, IID),
)
_FULL_FIXED = (
    (1, UNBIASED + BIASED),
    (2, ("leave_one_out",) + BIASED),
    (4, UNBIASED + BIASED),
    (8, ("batch_mean_baseline",)),
    (16, IID + ("optimal_baseline_batch",)),
    (256, IID),
)
PLANS = {name: _LEAN for name in PROBLEMS}
PLANS["quadratic-fixed"] = _FULL_FIXED
PLANS["gaussian_bump-random"] = _FULL_RANDOM
FULL_PROBLEMS = ("quadratic-fixed", "gaussian_bump-random")
# Seeds per n: many where samples are cheap (power), fewer at n = 256 (run time grows with R * n).
SEEDS = {1: 100_000, 2: 50_000, 4: 50_000, 8: 20_000, 16: 20_000, 256: 10_000}


def _cells(labels, min_n=1):
    return [(p, e, n) for p, plan in PLANS.items() for n, es in plan for e in es if e in labels and n >= min_n]


# Families and their Bonferroni z (each family: false-failure rate ~1e-6 in total).
UNBIASED_CELLS = _cells(UNBIASED)
Z_UNBIASED = unbiasedness_z(P * len(UNBIASED_CELLS), 1e-6)
BATCH_MEAN_CELLS = _cells(("batch_mean_baseline",), min_n=2)
Z_BATCH_MEAN = unbiasedness_z(P * len(BATCH_MEAN_CELLS), 1e-6)
VARIANCE_CELLS = _cells(IID)
Z_VARIANCE = unbiasedness_z(P * len(VARIANCE_CELLS), 1e-6)
OBB_CELLS = _cells(("optimal_baseline_batch",), min_n=2)
Z_OBB = unbiasedness_z(P * len(OBB_CELLS), 1e-6)
# float32 allowance: estimates are float32, so a mean can be off by ~1e-7 relative even with zero variance
# (pathwise on the linear reward with a fixed state is the constant s). It is far below every z * se here.
F32 = 1e-6


@dataclasses.dataclass(frozen=True)
class _Bundle:
    """The estimators planned for n, on the same key, their gradients concatenated: (len(labels) * P,)."""

    plan: tuple

    def __call__(self, key, params, problem, n):
        return ravel(tuple(ESTIMATORS[label](key, params, problem, n) for label in dict(self.plan)[n]))


FORMULA_N, FORMULA_SEEDS = 4, 16  # the per-seed samples returned for test_estimator_matches_its_formula


@functools.partial(jax.jit, static_argnames=("problems", "bundles"))
def _run_bundles(problems, bundles, params, keys):
    """For each problem: per planned n, the estimates of its (R_n,) seeds, (R_n, k_n * P) arrays; and the
    samples (state, action) that the first FORMULA_SEEDS seeds draw at n = FORMULA_N.

    Problems of the same state kind share their keys, so XLA compiles their common sampling code once."""
    out = []
    for problem, bundle, p, k in zip(problems, bundles, params, keys):
        estimates = tuple(
            jax.vmap(lambda key, n=n: bundle(key, p, problem, n))(k[j]) for j, (n, _) in enumerate(bundle.plan)
        )
        first = k[[n for n, _ in bundle.plan].index(FORMULA_N)][:FORMULA_SEEDS]
        outcome = jax.vmap(lambda key: problem.sample(p, problem.sample_noise(key, FORMULA_N)))(first)
        out.append((estimates, (outcome.state, outcome.action)))
    return tuple(out)


@functools.partial(jax.jit, static_argnames="num_seeds")
def _keys(base_key, n, num_seeds):
    """The engine's keys for seeds 0..num_seeds-1 at sample size n: seed_key(base_key, i, n), shape (num_seeds,)."""
    return jax.vmap(lambda i: seed_key(base_key, i, n))(jnp.arange(num_seeds, dtype=jnp.uint32))


class Result(NamedTuple):
    name: str
    problem: LinearGaussianBandit
    params: object
    true_grad: np.ndarray  # (P,) float64
    estimates: dict  # (label, n) -> (R, P) float64
    samples: tuple  # (state, action) drawn by seeds 0..FORMULA_SEEDS-1 at n = FORMULA_N

    def get(self, label, n):
        return self.estimates[(label, n)]

    def ns(self, label, min_n=1):
        return sorted(n for (e, n) in self.estimates if e == label and n >= min_n)


# Problems compiled together: one program per state kind (fixed / random), computed by one xdist worker each.
KINDS = {kind: tuple(name for name in PROBLEMS if name.endswith(kind)) for kind in ("fixed", "random")}


def _compute_estimates(kind) -> dict:
    """name -> (label, n) -> (R_n, P) float32 estimates, for the problems of one state kind."""
    names = KINDS[kind]
    base_key = jax.random.key(1000 + list(KINDS).index(kind))
    keys = tuple(tuple(_keys(base_key, jnp.uint32(n), SEEDS[n]) for n, _ in PLANS[name]) for name in names)
    outputs = jax.device_get(
        _run_bundles(
            tuple(PROBLEMS[name] for name in names),
            tuple(_Bundle(PLANS[name]) for name in names),
            tuple(PROBLEMS[name].init_params() for name in names),
            keys,
        )
    )
    result = {}
    for name, (blocks, samples) in zip(names, outputs):
        estimates = result[name] = {"samples": tuple(np.asarray(x) for x in samples)}
        for (n, labels), block in zip(PLANS[name], blocks):
            block = np.asarray(block)
            assert block.shape == (SEEDS[n], P * len(labels))
            for j, label in enumerate(labels):
                estimates[(label, n)] = block[:, P * j : P * (j + 1)]
    return result


#: For ``computed_once`` (conftest.py): each computed by one xdist worker, shared with the others.
EXPENSIVE_COMPUTATIONS = {f"estimators-{kind}": functools.partial(_compute_estimates, kind) for kind in KINDS}


@pytest.fixture(scope="module", params=list(PROBLEMS))
def sweep(request, computed_once) -> Result:
    name = request.param
    kind = next(k for k, names in KINDS.items() if name in names)
    computed = computed_once(f"estimators-{kind}")[name]
    problem = PROBLEMS[name]
    params = problem.init_params()
    estimates = {k: v.astype(np.float64) for k, v in computed.items() if k != "samples"}
    return Result(name, problem, params, _flat(exact_gradient(problem, params)), estimates, computed["samples"])


def _flat(tree) -> np.ndarray:
    """Leaves concatenated in ravel_pytree order, kept in float64 (``ravel`` outside x64 would give float32)."""
    return np.concatenate([np.ravel(np.asarray(leaf, dtype=np.float64)) for leaf in jax.tree.leaves(tree)])


def _mean_se(x):
    return x.mean(axis=0), x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])


def _rejects(x, target, z):
    """Per coordinate: does the unbiasedness test reject ``E[x] = target``?"""
    m, se = _mean_se(x)
    return np.abs(m - target) > z * se + F32 * np.abs(target)


def _exact_variance(label, problem, params):
    return _flat(ESTIMATORS[label].single_sample_variance(problem, params))


# ------------------------------------------------------------------------------------------------------
# Each estimator's formula, recomputed in numpy float64 from the same samples
# ------------------------------------------------------------------------------------------------------


def _numpy_reward(name, a):
    """r(a) and r'(a), written independently of pgjax."""
    if name == "quadratic":
        return -((a - 1.0) ** 2), -2.0 * (a - 1.0)
    if name == "linear":
        return a, np.ones_like(a)
    r = np.exp(-(a**2))
    return r, -2.0 * a * r


def _reference_estimate(label, sweep, state, action, closed_forms):
    """The estimator's formula (see its docstring) from one seed's samples, in numpy float64: (P,)."""
    params, n = sweep.params, action.shape[0]
    theta = np.asarray(params.theta, np.float64)
    sigma = np.exp(np.float64(params.log_sigma))
    s = np.broadcast_to(np.asarray(state, np.float64), (n, theta.size))
    a = np.asarray(action, np.float64)
    eps = (a - s @ theta) / sigma
    psi = np.column_stack([eps[:, None] * s / sigma, eps**2 - 1.0])  # (n, P): grad log pi per sample
    r, dr = _numpy_reward(sweep.name.split("-")[0], a)
    if label == "pathwise":  # d r(theta . s + sigma eps) / d (theta, log sigma)
        return np.column_stack([dr[:, None] * s, dr * sigma * eps]).mean(axis=0)
    if label == "reinforce":
        baseline = np.zeros((n, 1))
    elif label == "constant_baseline":
        baseline = np.full((n, 1), BASELINE)
    elif label == "batch_mean_baseline":
        baseline = np.full((n, 1), r.mean())
    elif label == "leave_one_out":  # b_i = mean of the other rewards
        baseline = ((r.sum() - r) / (n - 1))[:, None]
    elif label == "optimal_baseline_exact":  # b*_c = E[r psi_c^2] / E[psi_c^2]
        if sweep.name == "quadratic-fixed":  # independent closed form
            b = closed_forms(STATE, theta, sigma, "quadratic", 1.0)["b_opt"]
        else:
            with jax.enable_x64(True):
                p64 = jax.tree.map(lambda x: x.astype(np.float64), params)
                b = _flat(OptimalBaselineExact.baseline(sweep.problem, p64))
        baseline = np.broadcast_to(b, (n, P))
    elif label == "optimal_baseline_batch":  # b_c = sum_j r_j psi_jc^2 / sum_j psi_jc^2
        baseline = np.broadcast_to((r[:, None] * psi**2).sum(axis=0) / (psi**2).sum(axis=0), (n, P))
    return ((r[:, None] - baseline) * psi).mean(axis=0)


@pytest.mark.parametrize("label", list(ESTIMATORS))
def test_estimator_matches_its_formula(sweep, label, closed_forms):
    """On the same samples (the first seeds at n = 4), each estimator equals its formula recomputed in numpy, to
    float32 rounding. This pins down what the statistical tests cannot, e.g. which baseline a biased estimator
    uses (optimal_baseline_batch with the batch-mean baseline would also be biased, with a shrinking bias)."""
    states, actions = sweep.samples
    got = sweep.get(label, FORMULA_N)[:FORMULA_SEEDS]
    for seed in range(FORMULA_SEEDS):
        expected = _reference_estimate(label, sweep, states[seed], actions[seed], closed_forms)
        np.testing.assert_allclose(
            got[seed], expected, rtol=2e-5, atol=2e-5 * np.abs(expected).max() + 1e-7, err_msg=f"{label} seed {seed}"
        )


# ------------------------------------------------------------------------------------------------------
# 3. Unbiasedness, and the power of the test
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", UNBIASED)
def test_unbiased(sweep, label):
    for n in sweep.ns(label):
        x = sweep.get(label, n)
        assert np.isfinite(x).all()
        m, se = _mean_se(x)
        assert not _rejects(x, sweep.true_grad, Z_UNBIASED).any(), (
            f"{label} n={n}: mean {m}, truth {sweep.true_grad}, |m-g|/se {np.abs(m - sweep.true_grad) / se}"
        )


def test_unbiasedness_test_rejects_batch_mean(sweep):
    """Power: batch_mean_baseline has E[g] = (1 - 1/n) grad J; tested as if unbiased at its smallest n > 1
    (n = 2, or 4 where n = 2 is not run), it must be rejected on every coordinate where the bias -g/n is large
    against the standard error (all but the linear reward's log_sigma, whose gradient is 0)."""
    n = sweep.ns("batch_mean_baseline", min_n=2)[0]
    x = sweep.get("batch_mean_baseline", n)
    _, se = _mean_se(x)
    detectable = np.abs(sweep.true_grad) / n > (Z_UNBIASED + 5) * se
    assert detectable.sum() >= 2
    rejected = _rejects(x, sweep.true_grad, Z_UNBIASED)
    assert rejected[detectable].all(), (rejected, detectable)


@pytest.mark.parametrize("label", ["reinforce", "pathwise"])
def test_unbiasedness_test_rejects_shifted_truth(sweep, label):
    """Power: the same test rejects a 'truth' shifted by 2 z standard errors (what a slightly wrong exact
    gradient would look like), wherever the estimator is not deterministic."""
    x = sweep.get(label, 1)
    _, se = _mean_se(x)
    random = se > 0
    shifted = sweep.true_grad + 2 * Z_UNBIASED * se
    assert _rejects(x, shifted, Z_UNBIASED)[random].all()


# ------------------------------------------------------------------------------------------------------
# 4. Biased estimators
# ------------------------------------------------------------------------------------------------------


def test_batch_mean_expectation_is_shrunk_gradient(sweep):
    """E[g_batch_mean] = (1 - 1/n) grad J exactly (E[r_j psi_i] = 0 for j != i)."""
    for n in sweep.ns("batch_mean_baseline", min_n=2):
        x = sweep.get("batch_mean_baseline", n)
        target = (1 - 1 / n) * sweep.true_grad
        np.testing.assert_allclose(
            BatchMeanBaseline.exact_bias(sweep.true_grad, n), target - sweep.true_grad, rtol=1e-12
        )
        assert not _rejects(x, target, Z_BATCH_MEAN).any(), (n, _mean_se(x), target)


def test_biased_estimators_are_zero_at_n1(sweep):
    """With one sample, rbar = r_1 and b_c = r_1: both batch estimators are identically 0."""
    for label in BIASED:
        x = sweep.get(label, 1)
        assert np.all(x == 0.0), (label, np.abs(x).max())


def test_optimal_baseline_batch_is_biased(sweep):
    """optimal_baseline_batch is significantly biased at its smallest n > 1 (n = 2, or 4 where 2 is not run)."""
    n = sweep.ns("optimal_baseline_batch", min_n=2)[0]
    x = sweep.get("optimal_baseline_batch", n)
    assert _rejects(x, sweep.true_grad, Z_OBB).any(), _mean_se(x)


@pytest.mark.parametrize("sweep", FULL_PROBLEMS, indirect=True)
def test_optimal_baseline_batch_bias_shrinks_with_n(sweep):
    """|bias| shrinks with n: at each larger n (2 -> 4 -> 16 for the fixed state, 4 -> 16 for the random one)
    it is smaller by more than z combined standard errors, on every coordinate where the bias at the smaller n
    is significant (at least one)."""
    ns = sweep.ns("optimal_baseline_batch", min_n=2)
    assert len(ns) >= 2 and ns[-1] == 16
    for small, large in zip(ns, ns[1:]):
        m_s, se_s = _mean_se(sweep.get("optimal_baseline_batch", small))
        m_l, se_l = _mean_se(sweep.get("optimal_baseline_batch", large))
        bias_s, bias_l = np.abs(m_s - sweep.true_grad), np.abs(m_l - sweep.true_grad)
        significant = bias_s > Z_OBB * se_s
        assert significant.any(), (small, bias_s, se_s)
        shrinks = bias_s - bias_l > Z_OBB * np.sqrt(se_s**2 + se_l**2)
        assert shrinks[significant].all(), (small, large, bias_s, bias_l, se_s, se_l)


def test_leave_one_out_is_rescaled_batch_mean(sweep):
    """On the same key, g_loo = n/(n-1) g_batch_mean exactly (r_i - b_i = n/(n-1) (r_i - rbar)); float32 rounding."""
    for n in sweep.ns("leave_one_out", min_n=2):
        loo = sweep.get("leave_one_out", n)
        scaled = n / (n - 1) * sweep.get("batch_mean_baseline", n)
        scale = np.abs(loo).mean(axis=0)
        np.testing.assert_allclose(loo, scaled, rtol=1e-5, atol=1e-5 * scale.max(), err_msg=f"n={n}")
    # ... and at n = 1 it is plain REINFORCE on the same key.
    np.testing.assert_array_equal(sweep.get("leave_one_out", 1), sweep.get("reinforce", 1))


# ------------------------------------------------------------------------------------------------------
# 5. Variances
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", IID)
def test_variance_matches_exact(sweep, label, closed_forms):
    """n * Var over seeds agrees with the exact single-sample variance at every n (so n * var is flat in n)."""
    exact = _exact_variance(label, sweep.problem, sweep.params)
    assert exact.shape == (P,) and np.all(exact >= -1e-9)
    references = [exact]
    if sweep.name == "quadratic-fixed":  # and with the independent polynomial closed form
        cf = closed_forms(STATE, THETA, SIGMA, "quadratic", 1.0)
        poly = {
            "reinforce": cf["var_reinforce"],
            "constant_baseline": cf["var_constant"](BASELINE),
            "optimal_baseline_exact": cf["var_optimal"],
            "pathwise": cf["var_pathwise"],
        }[label]
        references.append(poly)
    for n in sweep.ns(label):
        x = sweep.get(label, n)
        n_var = n * x.var(axis=0, ddof=1)
        n_se = n * np.asarray(variance_se(x))
        for ref in references:
            # + 1e-9: room for rounding where the variance is exactly 0 (pathwise, linear reward, fixed state).
            bad = np.abs(n_var - ref) > Z_VARIANCE * n_se + 1e-9
            assert not bad.any(), (label, n, n_var, ref, n_se, np.abs(n_var - ref) / n_se)


def test_variance_test_rejects_a_variance_50_percent_too_large(sweep):
    """Power: at n = 1 (R = 100000) the variance test rejects 1.5 x the exact variance, for every estimator and
    coordinate with nonzero variance. (Score-function estimates are so heavy-tailed -- kurtosis in the tens --
    that se(s^2) / s^2 reaches ~6% here, so errors much below 40% are not reliably detectable at this R.)"""
    for label in IID:
        exact = _exact_variance(label, sweep.problem, sweep.params)
        x = sweep.get(label, 1)
        random = exact > 1e-9
        bad = np.abs(x.var(axis=0, ddof=1) - 1.5 * exact) > Z_VARIANCE * np.asarray(variance_se(x))
        assert bad[random].all(), (label, x.var(axis=0, ddof=1), exact, variance_se(x))


@pytest.mark.parametrize("reward", ["quadratic", "linear"])
@pytest.mark.parametrize(
    "state,theta,sigma,target", [(STATE, THETA, SIGMA, 1.0), ((-0.7, 2.0), (0.5, -1.2), 1.7, -0.5)]
)
def test_exact_variances_match_polynomial_closed_forms(closed_forms, reward, state, theta, sigma, target):
    """single_sample_variance (quadrature) equals polynomial algebra, fixed state, for every i.i.d. estimator."""
    problem = LinearGaussianBandit.build(state=state, theta=theta, sigma=sigma, reward=reward, reward_target=target)
    params = problem.init_params()
    # init_params is float32; the closed forms use exactly those float32 values.
    theta32 = np.asarray(params.theta, dtype=np.float64)
    sigma32 = float(np.exp(np.float64(params.log_sigma)))
    cf = closed_forms(state, theta32, sigma32, reward, target)
    scale = np.abs(cf["var_reinforce"]).max()
    cases = {
        Reinforce(): cf["var_reinforce"],
        ConstantBaseline(baseline=0.5): cf["var_constant"](0.5),
        ConstantBaseline(baseline=-2.0): cf["var_constant"](-2.0),
        OptimalBaselineExact(): cf["var_optimal"],
        Pathwise(): cf["var_pathwise"],
    }
    for estimator, expected in cases.items():
        got = _flat(estimator.single_sample_variance(problem, params))
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * scale, err_msg=estimator.name)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: x.astype(np.float64), params)
        b_opt = _flat(OptimalBaselineExact.baseline(problem, p64))
    np.testing.assert_allclose(b_opt, cf["b_opt"], rtol=1e-9)


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_optimal_baseline_exact_minimises_exact_variance(name):
    """Math check: Var(b*) < Var(reinforce), Var(constant b) on every coordinate, and moving the baseline of a
    coordinate away from b*_c in either direction increases that coordinate's exact variance."""
    problem = PROBLEMS[name]
    params = problem.init_params()
    v_opt = _exact_variance("optimal_baseline_exact", problem, params)
    v_reinforce = _exact_variance("reinforce", problem, params)
    v_constant = _exact_variance("constant_baseline", problem, params)
    margin = 1e-9 * np.maximum(v_reinforce, 1.0)
    assert np.all(v_opt < v_reinforce - margin), (v_opt, v_reinforce)
    assert np.all(v_opt < v_constant - margin), (v_opt, v_constant)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: x.astype(np.float64), params)
        b_star = _flat(OptimalBaselineExact.baseline(problem, p64))
    for c in range(P):
        at_optimum = _flat(ConstantBaseline(float(b_star[c])).single_sample_variance(problem, params))
        np.testing.assert_allclose(at_optimum[c], v_opt[c], rtol=1e-9, atol=1e-12)
        for delta in (-0.5, -0.05, 0.05, 0.5):
            moved = ConstantBaseline(float(b_star[c] + delta)).single_sample_variance(problem, params)
            assert _flat(moved)[c] > v_opt[c] + 1e-12, (c, delta)


def test_only_iid_estimators_report_a_single_sample_variance():
    problem = PROBLEMS["quadratic-fixed"]
    params = problem.init_params()
    for label, estimator in ESTIMATORS.items():
        v = estimator.single_sample_variance(problem, params)
        assert (v is not None) == (label in IID), label
        assert estimator.unbiased == (label in UNBIASED), label

"""Tests for pgjax.analysis.bootstrap: IQM, stratified bootstrap, probability of improvement, tables.

Statistical tests use fixed seeds (so a run is reproducible) and bounds whose false-failure probability is
stated where they are made (about 1e-6 each).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from pgjax.analysis import bootstrap as bs

ALPHA = 1e-6  # false-failure probability of each statistical check
Z = -NormalDist().inv_cdf(ALPHA / 2)  # two-sided, ~4.89


# ------------------------------------------------------------------------------------------------- IQM


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 63, 256, 257])
def test_iqm_is_trim_mean_quarter(n):
    rng = np.random.default_rng(n)
    x = rng.standard_t(df=2, size=(n, 3, 5))
    for axis in (0, 1, 2, -1, None):
        if axis is not None and x.shape[axis] == 0:
            continue
        expected = scipy.stats.trim_mean(x, 0.25, axis=axis)
        np.testing.assert_allclose(bs.iqm(x, axis=axis), expected, rtol=1e-14, atol=1e-15)
    # n not divisible by 4: floor(n/4) values are cut from each end, no fractional weights.
    v = np.sort(x[:, 0, 0])
    g = n // 4
    assert bs.iqm(x[:, 0, 0]) == pytest.approx(v[g : n - g].mean(), rel=1e-14, abs=1e-15)


def test_iqm_hand_values():
    assert bs.iqm([1.0, 2.0, 3.0, 5.0]) == 2.5
    assert bs.iqm([0.0, 1.0, 2.0, 3.0, 100.0]) == 2.0  # n = 5: cut one from each end
    assert bs.iqm([7.0, -1.0, 2.0]) == pytest.approx(8.0 / 3.0)  # n < 4: plain mean


def test_aggregate_iqm_pools_runs_and_tasks_per_replicate():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(4, 9, 3, 2))  # (B, runs, tasks, T)
    out = bs.aggregate_iqm(samples)
    assert out.shape == (4, 2)
    for b in range(4):
        for t in range(2):
            assert out[b, t] == pytest.approx(scipy.stats.trim_mean(samples[b, :, :, t], 0.25, axis=None))


# -------------------------------------------------------------------------------- stratified resampling


def disjoint_tasks(runs: int = 40, tasks: int = 4, seed: int = 0) -> np.ndarray:
    """Task t's scores lie in [10 t, 10 t + 1): a value reveals its task."""
    rng = np.random.default_rng(seed)
    return 10.0 * np.arange(tasks) + rng.uniform(size=(runs, tasks))


def test_resampling_never_mixes_tasks():
    scores = disjoint_tasks()
    runs, tasks = scores.shape
    idx = bs.stratified_indices(runs, tasks, 300, seed=3)
    assert idx.shape == (300, runs, tasks)
    samples = bs.resample(scores, idx)
    for t in range(tasks):
        assert np.isin(samples[:, :, t], scores[:, t]).all()

    # Through the public bootstrap: per-task min and max of every replicate stay in the task's range.
    def minmax(s):
        return np.stack([s.min(axis=1), s.max(axis=1)], axis=-1)  # (B, tasks, 2)

    point, lo, hi = bs.stratified_bootstrap(scores, minmax, reps=300, seed=1)
    for t in range(tasks):
        assert 10 * t <= lo[t, 0] and hi[t, 1] < 10 * t + 1


def test_indices_are_uniform_and_independent_across_tasks():
    runs, tasks, reps = 16, 2, 2000
    idx = bs.stratified_indices(runs, tasks, reps, seed=7)
    assert idx.min() == 0 and idx.max() == runs - 1
    assert not np.array_equal(idx[:, :, 0], idx[:, :, 1])
    # Each index is drawn uniformly: chi-square of the counts, per task, at false-failure rate ALPHA / tasks.
    for t in range(tasks):
        counts = np.bincount(idx[:, :, t].ravel(), minlength=runs)
        stat, p = scipy.stats.chisquare(counts)
        assert p > ALPHA / tasks
    # Two tasks' draws are independent: the correlation of the indices is ~ N(0, 1/N).
    a, b = idx[:, :, 0].ravel() - (runs - 1) / 2, idx[:, :, 1].ravel() - (runs - 1) / 2
    corr = float(np.mean(a * b) / np.sqrt(np.mean(a * a) * np.mean(b * b)))
    assert abs(corr) < Z / math.sqrt(a.size)


def naive_replicates(scores, idx, statistic_one):
    """A plain loop over replicates and tasks: the reference for the vectorised bootstrap."""
    out = []
    for b in range(idx.shape[0]):
        sample = np.empty_like(scores)
        for t in range(scores.shape[1]):
            for i in range(scores.shape[0]):
                sample[i, t] = scores[idx[b, i, t], t]
        out.append(statistic_one(sample))
    return np.asarray(out)


def test_vectorised_bootstrap_equals_loop_with_same_indices():
    rng = np.random.default_rng(5)
    scores = rng.lognormal(size=(37, 3, 6))  # (runs, tasks, T), runs not divisible by 4
    reps, seed = 150, 11
    idx = bs.stratified_indices(37, 3, reps, seed=seed)

    def iqm_one(sample):  # rliable's aggregate_iqm on each curve point
        return np.array([scipy.stats.trim_mean(sample[..., k], 0.25, axis=None) for k in range(6)])

    expected = naive_replicates(scores, idx, iqm_one)
    # A tiny block size forces many blocks; the answer must not depend on it.
    for block_bytes in (1, 5000, 10**9):
        got = bs.bootstrap_replicates(scores, bs.aggregate_iqm, idx, block_bytes=block_bytes)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
    point, lo, hi = bs.stratified_bootstrap(scores, bs.aggregate_iqm, reps=reps, seed=seed, block_bytes=7000)
    np.testing.assert_allclose(point, iqm_one(scores), rtol=1e-13)
    np.testing.assert_allclose(lo, np.percentile(expected, 2.5, axis=0), rtol=1e-13)
    np.testing.assert_allclose(hi, np.percentile(expected, 97.5, axis=0), rtol=1e-13)


def test_bootstrap_is_deterministic_and_prefix_stable():
    scores = np.random.default_rng(2).normal(size=(50, 2))
    a = bs.stratified_bootstrap(scores, bs.aggregate_mean, reps=200, seed=4)
    b = bs.stratified_bootstrap(scores, bs.aggregate_mean, reps=200, seed=4, block_bytes=100)
    c = bs.stratified_bootstrap(scores, bs.aggregate_mean, reps=200, seed=5)
    assert a == b
    assert a[1:] != c[1:]
    # Replicate b depends only on (seed, b): more replicates keep the first ones.
    np.testing.assert_array_equal(
        bs.stratified_indices(50, 2, 70, seed=4), bs.stratified_indices(50, 2, 200, seed=4)[:70]
    )


def test_iqm_interval_coverage():
    """Coverage of the 95% percentile interval of the IQM of 256 N(0, 1) runs (true IQM 0).

    400 independent data sets, each its own column ("task") so that the stratified bootstrap resamples each
    one separately and a per-task IQM statistic gives all 400 intervals in one vectorised call. The number
    covering 0 is Binomial(400, c) with c the interval's true coverage; we accept when it lies in the central
    1 - 1e-6 region of Binomial(400, 0.95). (The percentile interval's coverage at n = 256 is close to, not
    exactly, 0.95; a wrong interval -- e.g. half as wide, coverage ~0.68 -- fails by a wide margin.)
    """
    repetitions, runs = 400, 256
    data = np.random.default_rng(2024).standard_normal((runs, repetitions))
    point, lo, hi = bs.stratified_bootstrap(data, lambda s: bs.iqm(s, axis=1), reps=1000, seed=9)
    assert point.shape == lo.shape == hi.shape == (repetitions,)
    covered = int(np.sum((lo <= 0.0) & (0.0 <= hi)))
    low = scipy.stats.binom.ppf(ALPHA / 2, repetitions, 0.95)
    high = scipy.stats.binom.isf(ALPHA / 2, repetitions, 0.95)
    assert low <= covered <= high, (covered, low, high)


def test_bad_inputs_name_the_field():
    ok = np.zeros((8, 1))
    with pytest.raises(ValueError, match="confidence"):
        bs.stratified_bootstrap(ok, bs.aggregate_iqm, confidence=1.0)
    with pytest.raises(ValueError, match="reps"):
        bs.stratified_bootstrap(ok, bs.aggregate_iqm, reps=0)
    with pytest.raises(ValueError, match="scores: all scores must be finite"):
        bs.stratified_bootstrap(np.array([[0.0], [np.nan]]), bs.aggregate_iqm)
    with pytest.raises(ValueError, match="scores: must have shape"):
        bs.stratified_bootstrap(np.zeros(8), bs.aggregate_iqm)
    with pytest.raises(ValueError, match="statistic"):
        bs.stratified_bootstrap(ok, lambda s: s.mean())
    with pytest.raises(ValueError, match="seed"):
        bs.stratified_bootstrap(ok, bs.aggregate_iqm, seed=-1)
    with pytest.raises(ValueError, match="env_steps"):
        bs.learning_curve_table({"a": np.zeros((4, 3))}, np.arange(4))
    with pytest.raises(ValueError, match="x, y"):
        bs.probability_of_improvement(np.zeros((3, 2)), np.zeros((3, 1)))


# ---------------------------------------------------------------------------- probability of improvement


def brute_force_poi(x, y):
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    per_task = []
    for t in range(x.shape[1]):
        xi, yj = x[:, t][:, None], y[:, t][None, :]
        per_task.append(np.mean((xi > yj) + 0.5 * (xi == yj)))
    return float(np.mean(per_task))


def test_probability_of_improvement_equals_pairwise_count():
    rng = np.random.default_rng(8)
    for n, m, tasks in ((1, 1, 1), (7, 12, 1), (30, 25, 3), (64, 64, 2)):
        x = rng.integers(0, 6, size=(n, tasks)).astype(float)  # many ties
        y = rng.integers(0, 6, size=(m, tasks)).astype(float)
        p = bs.probability_of_improvement(x, y)
        assert p == pytest.approx(brute_force_poi(x, y), abs=1e-15)
        assert p + bs.probability_of_improvement(y, x) == pytest.approx(1.0, abs=1e-14)
        u = [scipy.stats.mannwhitneyu(x[:, t], y[:, t], alternative="greater").statistic for t in range(tasks)]
        assert p == pytest.approx(np.mean(u) / (n * m), abs=1e-14)  # rliable's definition
    same = rng.normal(size=(10, 2))
    assert bs.probability_of_improvement(same, same) == 0.5
    assert bs.probability_of_improvement(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0


def test_probability_of_improvement_normal_samples():
    r"""For X ~ N(mu1, 1), Y ~ N(mu2, 1): P(X > Y) = Phi((mu1 - mu2) / sqrt 2).

    The U-statistic estimate has the exact variance (Hoeffding)
    [theta (1 - theta) + (N - 1)(Q1 - theta^2) + (K - 1)(Q2 - theta^2)] / (N K), with
    Q1 = P(X > Y1, X > Y2) and Q2 = P(X1 > Y, X2 > Y); both are P(D1 > 0, D2 > 0) for D_i ~ N(d, 2) with
    correlation 1/2 (d = mu1 - mu2). We reject when the estimate is more than Z = 4.89 of these standard
    errors from theta (false-failure rate ~1e-6; the U statistic is asymptotically normal).
    """
    rng = np.random.default_rng(31)
    n, k = 6000, 4000
    for mu1, mu2 in ((0.0, 0.0), (0.5, 0.0), (-0.3, 0.9)):
        x = rng.normal(mu1, 1.0, size=n)
        y = rng.normal(mu2, 1.0, size=k)
        d = mu1 - mu2
        theta = NormalDist().cdf(d / math.sqrt(2))
        q = scipy.stats.multivariate_normal(mean=[0, 0], cov=[[1, 0.5], [0.5, 1]]).cdf(
            [d / math.sqrt(2), d / math.sqrt(2)]
        )
        var = (theta * (1 - theta) + (n - 1) * (q - theta**2) + (k - 1) * (q - theta**2)) / (n * k)
        p = bs.probability_of_improvement(x, y)
        assert abs(p - theta) < Z * math.sqrt(var), (mu1, mu2, p, theta)


def test_poi_replicates_equal_loop_with_same_indices():
    rng = np.random.default_rng(12)
    x = rng.integers(0, 8, size=(21, 2)).astype(float)
    y = rng.integers(0, 8, size=(17, 2)).astype(float)
    ix = bs.stratified_indices(21, 2, 120, seed=1)
    iy = bs.stratified_indices(17, 2, 120, seed=2)
    expected = [brute_force_poi(bs.resample(x, ix[b : b + 1])[0], bs.resample(y, iy[b : b + 1])[0]) for b in range(120)]
    for block_bytes in (1, 2000, 10**9):
        got = bs.probability_of_improvement_replicates(x, y, ix, iy, block_bytes=block_bytes)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)


def test_poi_interval_coverage():
    """Coverage of the 95% interval of P(X > Y) for X ~ N(0.4, 1), Y ~ N(0, 1) with 64 and 48 runs.

    300 independent data sets; the count of intervals covering the true Phi(0.4 / sqrt 2) must lie in the
    central 1 - 1e-6 region of Binomial(300, 0.95). Resampling x and y with the same indices (or not at all)
    would shrink or distort the interval and fail.
    """
    rng = np.random.default_rng(77)
    theta = NormalDist().cdf(0.4 / math.sqrt(2))
    repetitions = 300
    covered = 0
    for r in range(repetitions):
        x = rng.normal(0.4, 1.0, size=64)
        y = rng.normal(0.0, 1.0, size=48)
        _, lo, hi = bs.probability_of_improvement_interval(x, y, reps=500, seed=r)
        covered += lo <= theta <= hi
    low = scipy.stats.binom.ppf(ALPHA / 2, repetitions, 0.95)
    high = scipy.stats.binom.isf(ALPHA / 2, repetitions, 0.95)
    assert low <= covered <= high, (covered, low, high)


# ------------------------------------------------------------------------------------------------ tables


def training_returns(seed: int = 0, seeds: int = 64, points: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(1, points + 1)
    return {
        name: 500 * (1 - np.exp(-rate * t))[None, :] + rng.normal(0, 40, size=(seeds + extra, points))
        for name, rate, extra in (("reinforce", 0.1, 0), ("reward_to_go", 0.3, 5), ("gae", 0.5, 0))
    }


def test_learning_curve_table():
    returns = training_returns()
    steps = np.arange(1, 8) * 1000
    table = bs.learning_curve_table(returns, steps, reps=300, seed=3)
    assert tuple(table.columns) == bs.CURVE_COLUMNS
    assert len(table) == 3 * 7
    assert table["variant"].tolist() == [v for v in returns for _ in range(7)]
    for name, curve in returns.items():
        rows = table[table["variant"] == name]
        np.testing.assert_array_equal(rows["point"], np.arange(7))
        np.testing.assert_array_equal(rows["env_steps"], steps)
        np.testing.assert_allclose(rows["iqm"], scipy.stats.trim_mean(curve, 0.25, axis=0), rtol=1e-13)
        np.testing.assert_allclose(rows["mean"], curve.mean(axis=0), rtol=1e-13)
        np.testing.assert_allclose(rows["median"], np.median(curve, axis=0), rtol=1e-13)
        assert (rows["n_seeds"] == curve.shape[0]).all()
    assert (table["iqm_lo"] <= table["iqm"]).all() and (table["iqm"] <= table["iqm_hi"]).all()
    assert (table["iqm_lo"] < table["iqm_hi"]).all()
    for col in ("iqm", "iqm_lo", "iqm_hi", "mean", "median"):
        assert table[col].dtype == np.float64
    assert table["point"].dtype == np.int64 and table["n_seeds"].dtype == np.int64
    # Deterministic; and a variant's rows do not depend on the other variants in the table.
    pd.testing.assert_frame_equal(table, bs.learning_curve_table(returns, steps, reps=300, seed=3))
    alone = bs.learning_curve_table({"gae": returns["gae"]}, steps, reps=300, seed=3)
    pd.testing.assert_frame_equal(alone, table[table["variant"] == "gae"].reset_index(drop=True))
    other = bs.learning_curve_table(returns, steps, reps=300, seed=4)
    assert not np.array_equal(other["iqm_lo"], table["iqm_lo"])


def test_final_and_improvement_tables():
    final = {name: curve[:, -1] for name, curve in training_returns(seed=1).items()}
    table = bs.final_table(final, reps=400, seed=0)
    assert tuple(table.columns) == bs.FINAL_COLUMNS
    assert table["variant"].tolist() == list(final)
    for col in ("iqm", "mean"):
        assert (table[f"{col}_lo"] <= table[col]).all() and (table[col] <= table[f"{col}_hi"]).all()
    for row in table.itertuples():
        x = final[row.variant]
        assert row.iqm == pytest.approx(scipy.stats.trim_mean(x, 0.25))
        assert row.mean == pytest.approx(x.mean()) and row.median == pytest.approx(np.median(x))
        assert row.n_seeds == x.size
        # The IQM interval is the stratified bootstrap of that variant alone (its own stream).
        alone = bs.final_table({row.variant: x}, reps=400, seed=0)
        assert (alone["iqm_lo"][0], alone["iqm_hi"][0]) == (row.iqm_lo, row.iqm_hi)

    imp = bs.improvement_table(final, reps=400, seed=0)
    assert tuple(imp.columns) == bs.IMPROVEMENT_COLUMNS
    names = list(final)
    assert list(zip(imp["variant_x"], imp["variant_y"])) == [(a, b) for a in names for b in names if a != b]
    assert ((imp["lo"] <= imp["probability"]) & (imp["probability"] <= imp["hi"])).all()
    assert ((imp["lo"] >= 0) & (imp["hi"] <= 1)).all()
    for row in imp.itertuples():
        assert row.probability == pytest.approx(brute_force_poi(final[row.variant_x], final[row.variant_y]))
        mirror = imp[(imp["variant_x"] == row.variant_y) & (imp["variant_y"] == row.variant_x)].iloc[0]
        assert mirror["probability"] == pytest.approx(1 - row.probability, abs=1e-12)
        assert mirror["lo"] == pytest.approx(1 - row.hi, abs=1e-12)
        assert mirror["hi"] == pytest.approx(1 - row.lo, abs=1e-12)
    # gae clearly improves on reinforce at the final point.
    gae_vs_reinforce = imp[(imp["variant_x"] == "gae") & (imp["variant_y"] == "reinforce")].iloc[0]
    assert gae_vs_reinforce["lo"] > 0.5
    assert len(bs.improvement_table({"only": final["gae"]}, reps=10)) == 0

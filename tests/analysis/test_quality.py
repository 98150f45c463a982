"""The gradient-quality columns (pgjax.analysis.quality) on estimates whose quality is known exactly.

Gaussian estimates x ~ N(g, diag(v)) have NSE = sum(v) / ||g||^2 exactly and, read as the mean of n
i.i.d. samples, the noise scale n sum(v) / ||g||^2; in one dimension the cosines are signs, so
E[cos(x, g)] = 2 Phi(g / s) - 1 and E[cos(x1, x2)] = (2 Phi(g / s) - 1)^2 for independent x1, x2. Numpy only.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from pgjax.analysis import quality as qual
from pgjax.analysis.stats import unbiasedness_z

Z95 = NormalDist().inv_cdf(0.975)


def _se(row: dict, column: str) -> float:
    """The standard error behind a normal 95% interval."""
    return (row[f"{column}_hi"] - row[f"{column}_lo"]) / (2 * Z95)


def test_an_exact_gradient_has_cosine_one_and_no_error():
    g = np.array([0.3, -2.0, 1.5])
    row = qual.quality_row(np.tile(g, (10, 1)), g, 4, exact_var=np.zeros(3), exact_bias=np.zeros(3))
    assert row["cos"] == pytest.approx(1.0) and row["pair_cos"] == pytest.approx(1.0)
    assert row["cos_lo"] == pytest.approx(1.0) and row["pair_cos_hi"] == pytest.approx(1.0)
    assert row["nse"] == 0.0 and row["nse_exact"] == 0.0
    assert row["noise_scale"] == pytest.approx(0.0, abs=1e-20)  # the mean of equal rows, to rounding
    assert row["n_pairs"] == 5 and row["n_seeds"] == 10
    # the opposite direction is cosine -1, and a scaled copy keeps cosine 1 but has an error
    flipped = qual.quality_row(np.tile(-2 * g, (10, 1)), g, 4)
    assert flipped["cos"] == pytest.approx(-1.0) and flipped["pair_cos"] == pytest.approx(1.0)
    assert flipped["nse"] == pytest.approx(9.0)  # ||-3 g||^2 / ||g||^2


def test_one_dimensional_cosines_match_their_exact_means():
    """In 1-D, cos(x, g) = sign(x) for g > 0: E = 2 Phi(g/s) - 1, and the pair cosine sign(x1 x2) has mean
    (2 Phi(g/s) - 1)^2. Checked with z from unbiasedness_z(2) (family-wise false-failure rate 1e-6)."""
    rng = np.random.default_rng(1)
    g, s = 1.0, 1.5
    x = g + s * rng.standard_normal((4000, 1))
    row = qual.quality_row(x, np.array([g]), 1)
    p = 2 * NormalDist().cdf(g / s) - 1
    z = unbiasedness_z(2)
    assert abs(row["cos"] - p) < z * _se(row, "cos"), (row["cos"], p)
    assert abs(row["pair_cos"] - p**2) < z * _se(row, "pair_cos"), (row["pair_cos"], p**2)
    assert row["n_pairs"] == 2000


def test_pairwise_cosine_of_pure_noise_is_zero_and_cosine_to_a_zero_gradient_is_undefined():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3000, 5))
    row = qual.quality_row(x, np.zeros(5), 1)
    assert abs(row["pair_cos"]) < unbiasedness_z(1) * _se(row, "pair_cos")
    assert math.isnan(row["cos"]) and math.isnan(row["nse"]) and math.isnan(row["noise_scale"])


def test_nse_and_noise_scale_intervals_cover_their_exact_values():
    """Coverage of the 95% intervals of nse and noise_scale over 400 independent data sets of 200 Gaussian
    estimates in 3 dimensions (n = 4: the noise scale is 4 sum(v) / ||g||^2). At the nominal coverage 0.95
    (binomial), fewer than 355 of 400 covering has probability 2e-7 and more than 397 has 3e-7; a wrong
    standard error (no sqrt(k), or the variance of the mean instead of its square root) fails."""
    rng = np.random.default_rng(3)
    g, v, n = np.array([1.0, -0.5, 2.0]), np.array([0.8, 2.0, 0.3]), 4
    nse_exact, ns_exact = v.sum() / (g @ g), n * v.sum() / (g @ g)
    covered = {"nse": 0, "noise_scale": 0}
    for _ in range(400):
        x = g + np.sqrt(v) * rng.standard_normal((200, 3))
        row = qual.quality_row(x, g, n, exact_var=v, exact_bias=np.zeros(3))
        assert row["nse_exact"] == pytest.approx(nse_exact) and row["noise_scale_exact"] == pytest.approx(ns_exact)
        covered["nse"] += row["nse_lo"] <= nse_exact <= row["nse_hi"]
        covered["noise_scale"] += row["noise_scale_lo"] <= ns_exact <= row["noise_scale_hi"]
    assert covered["nse"] >= 355 and covered["noise_scale"] >= 355, covered
    assert covered["nse"] <= 397 and covered["noise_scale"] <= 397, covered  # not vacuously wide either


def test_a_bias_adds_to_the_exact_nse_and_rows_with_a_nan_are_left_out():
    g = np.array([1.0, 1.0])
    x = np.array([[1.0, 2.0], [np.nan, 0.0], [3.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    row = qual.quality_row(x, g, 2, exact_var=np.array([0.5, 0.5]), exact_bias=np.array([1.0, 0.0]))
    assert row["n_seeds"] == 4 and row["n_pairs"] == 2
    assert row["nse_exact"] == pytest.approx((1.0 + 1.0) / 2.0)
    assert math.isnan(qual.quality_row(x, g, 2, exact_var=np.array([0.5, 0.5]))["nse_exact"])  # bias unknown


def test_summarise_quality_orders_rows_and_divides_exact_variances_by_n():
    g = np.array([1.0, 0.0])
    rng = np.random.default_rng(4)
    estimates = {"b": {8: rng.standard_normal((6, 2)), 2: rng.standard_normal((6, 2))}, "a": {1: np.ones((6, 2))}}
    table = qual.summarise_quality(
        estimates, g, exact_single_sample_var={"b": np.array([2.0, 6.0])}, exact_bias={"b": np.zeros(2)}
    )
    assert list(table.columns) == list(qual.QUALITY_COLUMNS)
    assert list(zip(table["estimator"], table["n"])) == [("b", 2), ("b", 8), ("a", 1)]
    assert table["nse_exact"].iloc[:2].tolist() == pytest.approx([4.0, 1.0])  # (2 + 6) / n
    assert table["noise_scale_exact"].iloc[:2].tolist() == pytest.approx([8.0, 8.0])  # flat in n
    assert table["nse_exact"].isna().iloc[2] and pd.api.types.is_integer_dtype(table["n_pairs"])

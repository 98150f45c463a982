r"""Gradient quality of a sweep as vector quantities: noise-to-signal ratio, cosine similarities, noise scale.

:mod:`pgjax.analysis.stats` describes every coordinate of an estimate on its own. The quantities here look at
the whole vector: how far an estimate :math:`\hat g` (one seed's n-sample estimate, P coordinates) is from the
true gradient :math:`g`, and in which direction it points. :func:`summarise_quality` gives one row per
(estimator, n) over the ``k`` seeds whose estimate is finite in every coordinate. Everything is float64 numpy.

Normalised squared error (noise-to-signal ratio)
    :math:`\mathrm{NSE} = E\|\hat g - g\|^2 / \|g\|^2`, measured as the mean over seeds of
    :math:`e_i = \|\hat g_i - g\|^2 / \|g\|^2`. Exactly, :math:`\mathrm{NSE} = (\sum_c \mathrm{Var}(\hat g_c)
    + \|b\|^2) / \|g\|^2` with the bias :math:`b = E\hat g - g`; ``nse_exact`` is that value where the exact
    variances (and the exact bias, zero for an unbiased estimator) are known.

Cosine similarity to the true gradient
    :math:`\cos(\hat g, g) = \langle \hat g, g\rangle / (\|\hat g\|\,\|g\|)`, the mean over seeds (a seed
    with :math:`\hat g = 0` has no direction and is left out). A. Ilyas, L. Engstrom, S. Santurkar, D.
    Tsipras, F. Janoos, L. Rudolph and A. Madry (2020), "A Closer Look at Deep Policy Gradients" (ICLR),
    plot it against the number of state-action pairs of an estimate.

Mean pairwise cosine similarity
    The same authors' measure where no true gradient exists: the cosine between two independent estimates.
    Seeds are paired disjointly, (0, 1), (2, 3), ..., so the ``k // 2`` pair cosines are independent and
    their mean has an ordinary standard error. For an unbiased estimator with isotropic covariance
    :math:`\sigma^2 I` in one dimension, :math:`E[\cos] = 2\Phi(g/\sigma) - 1` to the true gradient and
    :math:`E[\cos_{\text{pair}}] = (2\Phi(g/\sigma) - 1)^2` between two estimates; with :math:`g = 0`
    the pair cosine has mean 0 in any dimension (``tests/analysis/test_quality.py`` checks both).

Gradient noise scale
    S. McCandlish, J. Kaplan, D. Amodei and the OpenAI Dota Team (2018), "An Empirical Model of Large-Batch
    Training": :math:`B_{\text{simple}} = \operatorname{tr}(\Sigma) / \|g\|^2` with :math:`\Sigma` the
    covariance of ONE sample's gradient estimate, the batch size at which the noise of the mean gradient
    equals its signal. For an estimator that averages ``n`` i.i.d. samples, :math:`\Sigma = n\,
    \operatorname{Cov}(\hat g)`, so :math:`\operatorname{tr}(\Sigma) = n \sum_c \mathrm{Var}(\hat g_c)`;
    measured with the sample variances over seeds (``noise_scale``), exact from the exact single-sample
    variances (``noise_scale_exact``). For an estimator that is not such an average (batch-mean baselines,
    say) the measured column is still :math:`n \sum_c s_c^2 / \|g\|^2`, the noise scale its n-sample
    covariance would imply.

Confidence intervals (``confidence``, default 0.95), all from the central limit theorem over seeds:

* ``cos`` and ``pair_cos``: the normal interval :math:`\bar c \pm z\,\mathrm{sd}(c)/\sqrt{m}` over the
  ``m`` seeds (pairs), clipped to [-1, 1];
* ``nse`` and ``noise_scale``, positive and right-skewed: the log-scale delta-method interval
  :math:`[\hat\theta e^{-z\,\mathrm{se}/\hat\theta}, \hat\theta e^{+z\,\mathrm{se}/\hat\theta}]` with
  :math:`\mathrm{se} = \mathrm{sd}(u)/\sqrt{k}` for the per-seed terms :math:`u_i = e_i` (NSE) and
  :math:`u_i = n\|\hat g_i - \bar g\|^2 / \|g\|^2` (the influence function of the trace of the sample
  covariance), as for the variance intervals of :mod:`pgjax.analysis.stats`.

Their coverage is measured against exact values in ``tests/analysis/test_quality.py`` (Gaussian estimates,
whose NSE and noise scale are known) and through the engine on the bandit (``tests/experiments/
test_gradient_quality.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import NormalDist

import numpy as np
import pandas as pd

__all__ = ["QUALITY_COLUMNS", "summarise_quality"]

QUALITY_COLUMNS: tuple[str, ...] = (
    "estimator",
    "n",
    "n_seeds",
    "grad_norm2",
    "nse",
    "nse_lo",
    "nse_hi",
    "nse_exact",
    "cos",
    "cos_lo",
    "cos_hi",
    "n_pairs",
    "pair_cos",
    "pair_cos_lo",
    "pair_cos_hi",
    "noise_scale",
    "noise_scale_lo",
    "noise_scale_hi",
    "noise_scale_exact",
)
"""The columns of the table returned by :func:`summarise_quality`, in order."""


def _z(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be in (0, 1) (got {confidence!r})")
    return -NormalDist().inv_cdf((1.0 - confidence) / 2.0)


def _mean_ci(c: np.ndarray, z: float) -> tuple[float, float, float]:
    """Mean of ``c`` with the normal interval mean +- z sd / sqrt(m), clipped to [-1, 1]; NaN below 2 values."""
    c = c[np.isfinite(c)]
    if c.size < 2:
        return (float(c[0]) if c.size else np.nan), np.nan, np.nan
    m, half = float(c.mean()), z * float(c.std(ddof=1)) / np.sqrt(c.size)
    return m, max(m - half, -1.0), min(m + half, 1.0)


def _log_ci(u: np.ndarray, z: float, value: float) -> tuple[float, float]:
    """The log-scale interval of a positive ``value`` whose standard error is sd(u) / sqrt(k)."""
    if u.size < 2 or not value > 0:
        return np.nan, np.nan
    rel = z * float(u.std(ddof=1)) / np.sqrt(u.size) / value
    return value * float(np.exp(-rel)), value * float(np.exp(rel))


def _cosines(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise cosine of (m, P) arrays; NaN where either row is zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(axis=1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))


def quality_row(
    x: np.ndarray,
    true_grad: np.ndarray,
    n: int,
    *,
    exact_var: np.ndarray | None = None,
    exact_bias: np.ndarray | None = None,
    confidence: float = 0.95,
) -> dict[str, float]:
    """The quality columns of one cell: ``x`` (R, P) per-seed n-sample estimates, ``true_grad`` (P,).

    ``exact_var`` (P,): the exact variance of the n-sample estimate (NaN entries: unknown); ``exact_bias``
    (P,): its exact bias. ``nse_exact`` needs both, ``noise_scale_exact`` (``n * sum(exact_var) / ||g||^2``,
    for an i.i.d. average) the first. Rows with a non-finite coordinate are left out (``n_seeds`` counts the
    rest)."""
    z = _z(confidence)
    x = np.asarray(x, np.float64)
    g = np.asarray(true_grad, np.float64)
    if x.ndim != 2 or g.shape != (x.shape[1],):
        raise ValueError(f"estimates must be (R, P) and true_grad (P,) (got {x.shape} and {g.shape})")
    x = x[np.isfinite(x).all(axis=1)]
    k = x.shape[0]
    g2 = float(g @ g)
    row: dict[str, float] = dict.fromkeys(QUALITY_COLUMNS[3:], np.nan)
    row.update(n=int(n), n_seeds=int(k), grad_norm2=g2, n_pairs=int(k // 2))
    if exact_var is not None and g2 > 0:
        v = float(np.sum(np.asarray(exact_var, np.float64)))  # NaN if any coordinate is unknown
        row["noise_scale_exact"] = n * v / g2
        if exact_bias is not None:
            b = np.asarray(exact_bias, np.float64)
            row["nse_exact"] = (v + float(b @ b)) / g2
    if k >= 2:
        dev = x - x.mean(axis=0)
        u = n * (dev * dev).sum(axis=1) / g2 if g2 > 0 else np.full(k, np.nan)
        if g2 > 0:
            ns = float(u.sum()) / (k - 1)  # n tr(S) / ||g||^2, S the sample covariance (ddof = 1)
            row["noise_scale"] = ns
            row["noise_scale_lo"], row["noise_scale_hi"] = _log_ci(u, z, ns)
        pairs = _cosines(x[0 : 2 * (k // 2) : 2], x[1 : 2 * (k // 2) : 2])
        row["pair_cos"], row["pair_cos_lo"], row["pair_cos_hi"] = _mean_ci(pairs, z)
    if g2 > 0 and k >= 1:
        e = ((x - g) ** 2).sum(axis=1) / g2
        row["nse"] = float(e.mean())
        row["nse_lo"], row["nse_hi"] = _log_ci(e, z, row["nse"])
        row["cos"], row["cos_lo"], row["cos_hi"] = _mean_ci(_cosines(x, np.broadcast_to(g, x.shape)), z)
    return row


def summarise_quality(
    estimates: Mapping[str, Mapping[int, np.ndarray]],
    true_grad: np.ndarray,
    *,
    exact_single_sample_var: Mapping[str, np.ndarray] | None = None,
    exact_bias: Mapping[str, np.ndarray] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per (estimator, n) of :data:`QUALITY_COLUMNS` (see the module docstring for the formulas and
    intervals), ordered by estimator (in the order of ``estimates``) then n ascending.

    Args:
      estimates: ``estimates[estimator][n]`` of shape (R, P), row r seed r (pairs: seeds 2j and 2j + 1).
      true_grad: (P,) the gradient the estimates are measured against.
      exact_single_sample_var: ``estimator -> (P,)`` exact one-sample variances, where known.
      exact_bias: ``estimator -> (P,)`` exact biases (zeros for an unbiased estimator), where known; an
        estimator gets ``nse_exact`` only with both.
      confidence: two-sided level of every interval.
    """
    exact = exact_single_sample_var or {}
    bias = exact_bias or {}
    rows = []
    for name, by_n in estimates.items():
        for n in sorted(by_n):
            row = quality_row(
                by_n[n],
                true_grad,
                int(n),
                exact_var=None if name not in exact else np.asarray(exact[name], np.float64) / n,
                exact_bias=bias.get(name),
                confidence=confidence,
            )
            rows.append({"estimator": name, **row})
    return frame(rows)


def frame(rows: list[dict], leading: tuple[str, ...] = ()) -> pd.DataFrame:
    """Rows of :func:`quality_row` (with ``estimator``) as a table with the string columns ``leading``, then
    :data:`QUALITY_COLUMNS`, with their dtypes."""
    table = pd.DataFrame(rows, columns=[*leading, *QUALITY_COLUMNS])
    for column in (*leading, "estimator"):
        table[column] = table[column].astype(str)
    for column in ("n", "n_seeds", "n_pairs"):
        table[column] = table[column].astype("int64")
    for column in QUALITY_COLUMNS:
        if column not in ("estimator", "n", "n_seeds", "n_pairs"):
            table[column] = table[column].astype("float64")
    return table

r"""Per-cell statistics of Monte Carlo gradient estimates: bias, variance, MSE and their confidence intervals.

The engine hands this module, for every estimator and every sample size ``n``, an array of shape ``(R, P)``:
``R`` independent seed-level gradient estimates of ``P`` scalar parameter coordinates. :func:`summarise`
turns them into one tidy table row per (estimator, n, coordinate). Everything is computed on the host in
float64 with numpy; nothing here needs jax.

Notation (per cell, per coordinate), over the ``k`` finite values :math:`x_1..x_k`:

* mean :math:`m = \bar x`, sample variance :math:`s^2 = \sum (x_i - m)^2 / (k-1)`,
* fourth central sample moment :math:`m_4 = \sum (x_i - m)^4 / k`.

Standard error of a sample variance
    Without assuming normality,

    .. math:: \operatorname{se}(s^2) = \sqrt{\bigl(m_4 - s^4 \tfrac{k-3}{k-1}\bigr) / k},

    the plug-in form of the exact :math:`\operatorname{Var}(s^2) = (\mu_4 - \sigma^4 (k-3)/(k-1)) / k`.
    Up to :math:`O(1/k)` it equals ``sd(u) / sqrt(k)`` for the influence function
    :math:`u_i = (x_i - m)^2 - s^2`. For normal data it reduces to :math:`\sigma^2 \sqrt{2/(k-1)}`; for the
    heavy-tailed output of score-function (REINFORCE) estimators, whose kurtosis is often far above 3, it is
    several times larger, and the textbook chi-square interval (which assumes normal data) under-covers
    badly. ``tests/test_stats.py`` measures this.

Variance interval (log scale)
    By the delta method, :math:`\log s^2` is approximately normal with standard error
    :math:`\operatorname{se}(s^2)/s^2`, so

    .. math:: [\,s^2 e^{-z\,\operatorname{se}(s^2)/s^2},\; s^2 e^{+z\,\operatorname{se}(s^2)/s^2}\,],
       \qquad z = \Phi^{-1}(1 - (1-\text{confidence})/2).

    The interval is positive and right-skewed like the sampling distribution of :math:`s^2`. This is the
    kurtosis-adjusted log-scale idea of D. G. Bonett (2006), "Approximate confidence interval for standard
    deviation of nonnormal distributions", Computational Statistics & Data Analysis 50(3):775-782 (here
    without Bonett's small-sample constants). Its coverage approaches the nominal level as ``k`` grows,
    whatever the tails, provided the fourth moment is finite; at finite ``k`` it under-covers somewhat for
    very heavy tails.

Paired variance ratio
    Estimators evaluated on the same seeds (common random numbers) give paired rows ``a_i``, ``b_i``. The
    ratio :math:`r = s_a^2 / s_b^2` on the rows finite in both has, by the delta method on
    :math:`\log r = \log s_a^2 - \log s_b^2`, the paired influence function

    .. math:: d_i = (a_i - m_a)^2 / s_a^2 - (b_i - m_b)^2 / s_b^2, \qquad
       \operatorname{se}(\log r) = \operatorname{sd}(d) / \sqrt{k},

    and the interval :math:`[r e^{-z\,\mathrm{se}},\; r e^{+z\,\mathrm{se}}]`. Pairing cancels the shared
    noise, so a ratio is far better determined than the two variances separately.

Unbiasedness tests across the project reject when :math:`|m - g| > z\,\mathrm{sd}/\sqrt{R}` with the
Bonferroni :math:`z` of :func:`unbiasedness_z`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "summarise",
    "unbiasedness_z",
    "variance_ci",
    "variance_ratio_ci",
    "variance_se",
]

COLUMNS: tuple[str, ...] = (
    "estimator",
    "param",
    "n",
    "n_seeds",
    "n_nonfinite",
    "mean",
    "true_grad",
    "bias",
    "bias_se",
    "var",
    "var_lo",
    "var_hi",
    "n_var",
    "mse",
    "var_exact",
    "var_ratio",
    "var_ratio_lo",
    "var_ratio_hi",
)
"""The columns of the table returned by :func:`summarise`, in order."""


# ----------------------------------------------------------------------------------------------------------
# z values
# ----------------------------------------------------------------------------------------------------------


def _two_sided_z(confidence: float) -> float:
    """z = Phi^-1(1 - (1 - confidence) / 2), after checking 0 < confidence < 1."""
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be in (0, 1) (got {confidence!r})")
    return -NormalDist().inv_cdf((1.0 - confidence) / 2.0)


def unbiasedness_z(d: int, alpha: float = 1e-6) -> float:
    r"""Bonferroni two-sided z for testing ``d`` coordinates at family-wise false-failure rate ``alpha``.

    Returns :math:`z = \Phi^{-1}(1 - \alpha / (2 d))`. A test that rejects when, for any coordinate,
    :math:`|m - g| > z\,\mathrm{sd}/\sqrt{R}` then fails by chance with probability at most about ``alpha``
    (for large ``R``). With the default ``alpha = 1e-6``, ``z`` is about 4.9 for ``d = 1`` and 5.3 for
    ``d = 10``.

    Args:
      d: number of coordinates tested together, ``d >= 1``.
      alpha: family-wise false-failure probability, ``0 < alpha < 1``.

    Returns:
      The scalar ``z`` (float).
    """
    if isinstance(d, bool) or int(d) != d or d < 1:
        raise ValueError(f"d: must be an integer >= 1 (got {d!r})")
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be in (0, 1) (got {alpha!r})")
    # -Phi^-1(q) == Phi^-1(1 - q), computed from the small tail q to keep full precision.
    return -NormalDist().inv_cdf(alpha / (2.0 * int(d)))


# ----------------------------------------------------------------------------------------------------------
# Vectorised moments over axis 0, ignoring masked-out (NaN) entries
# ----------------------------------------------------------------------------------------------------------


def _as_float64(x: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: must be convertible to a float64 array ({e})") from None


def _moments(x: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Moments along axis 0 of ``x`` (shape ``(R, ...)``) over the entries where ``mask`` is True.

    Returns a dict of arrays of shape ``x.shape[1:]``: ``k`` (count, int), ``mean``, ``s2`` (ddof=1),
    ``m4`` (4th central moment, divisor k) and ``centered`` (shape ``(R, ...)``, zero where masked out).
    Entries with ``k < 2`` have NaN mean/s2/m4.
    """
    k = mask.sum(axis=0)
    xz = np.where(mask, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = xz.sum(axis=0) / k
        centered = np.where(mask, x - mean, 0.0)
        c2 = centered * centered
        s2 = c2.sum(axis=0) / (k - 1)
        m4 = (c2 * c2).sum(axis=0) / k
    few = k < 2
    s2 = np.where(few, np.nan, s2)
    m4 = np.where(few, np.nan, m4)
    mean = np.where(few, np.nan, mean)
    return {"k": k, "mean": mean, "s2": s2, "m4": m4, "centered": centered}


def _se_of_s2(k: np.ndarray, s2: np.ndarray, m4: np.ndarray) -> np.ndarray:
    """sqrt((m4 - s2^2 (k-3)/(k-1)) / k), elementwise; NaN where k < 2."""
    with np.errstate(invalid="ignore", divide="ignore"):
        v = (m4 - s2 * s2 * (k - 3) / (k - 1)) / k
    # Mathematically v >= 0 (m4 >= (s2 (k-1)/k)^2 > s2^2 (k-3)/(k-1)); clip rounding noise only.
    return np.sqrt(np.maximum(v, 0.0))


def _log_interval(
    est: np.ndarray, se_log: np.ndarray, z: float
) -> tuple[np.ndarray, np.ndarray]:
    """est * exp(-/+ z * se_log); where est == 0 both ends are 0."""
    with np.errstate(invalid="ignore", over="ignore"):
        lo = est * np.exp(-z * se_log)
        hi = est * np.exp(z * se_log)
    zero = est == 0.0
    return np.where(zero, 0.0, lo), np.where(zero, 0.0, hi)


def _variance_ci_arrays(
    x: np.ndarray, mask: np.ndarray, z: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    mom = _moments(x, mask)
    s2 = mom["s2"]
    se = _se_of_s2(mom["k"], s2, mom["m4"])
    with np.errstate(invalid="ignore", divide="ignore"):
        se_log = se / s2
    lo, hi = _log_interval(s2, se_log, z)
    return s2, lo, hi, mom


def _ratio_ci_arrays(
    a: np.ndarray, b: np.ndarray, z: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paired variance ratio var(a)/var(b) along axis 0 over rows finite in both; NaN where undefined."""
    mask = np.isfinite(a) & np.isfinite(b)
    ma = _moments(a, mask)
    mb = _moments(b, mask)
    k, sa2, sb2 = ma["k"], ma["s2"], mb["s2"]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = sa2 / sb2
        d = ma["centered"] ** 2 / sa2 - mb["centered"] ** 2 / sb2
        d = np.where(mask, d, 0.0)
        d_mean = d.sum(axis=0) / k
        d_c = np.where(mask, d - d_mean, 0.0)
        se_log = np.sqrt((d_c * d_c).sum(axis=0) / (k - 1) / k)
    lo, hi = _log_interval(ratio, se_log, z)
    undefined = (k < 2) | ~(sb2 > 0.0)
    nan = np.full(ratio.shape, np.nan)
    return (
        np.where(undefined, nan, ratio),
        np.where(undefined, nan, lo),
        np.where(undefined, nan, hi),
    )


def _scalar_or_array(v: np.ndarray) -> float | np.ndarray:
    return float(v) if v.ndim == 0 else v


def _check_samples(x: np.ndarray, name: str) -> np.ndarray:
    x = _as_float64(x, name)
    if x.ndim < 1:
        raise ValueError(f"{name}: must have a leading seed axis, shape (R,) or (R, ...) (got a scalar)")
    return x


# ----------------------------------------------------------------------------------------------------------
# Public helpers
# ----------------------------------------------------------------------------------------------------------


def variance_se(x: np.ndarray) -> float | np.ndarray:
    r"""Standard error of the sample variance of ``x``, valid for non-normal data.

    .. math:: \operatorname{se}(s^2) = \sqrt{\bigl(m_4 - s^4 \tfrac{k-3}{k-1}\bigr) / k},

    with :math:`s^2` the sample variance (ddof=1), :math:`m_4` the fourth central sample moment (divisor
    :math:`k`) and :math:`k` the number of finite values. Non-finite values are ignored.

    Args:
      x: shape ``(R,)``, or ``(R, ...)`` to compute one value per trailing index.

    Returns:
      A float for 1-D ``x``, else an array of shape ``x.shape[1:]``. NaN where fewer than 2 values are finite.
    """
    x = _check_samples(x, "x")
    mom = _moments(x, np.isfinite(x))
    return _scalar_or_array(_se_of_s2(mom["k"], mom["s2"], mom["m4"]))


def variance_ci(
    x: np.ndarray, confidence: float = 0.95
) -> tuple[float | np.ndarray, float | np.ndarray, float | np.ndarray]:
    r"""Sample variance of ``x`` and its log-scale, kurtosis-adjusted confidence interval.

    ``lo, hi = s2 * exp(-/+ z * se(s2) / s2)`` with ``se`` from :func:`variance_se` and
    ``z = Phi^-1(1 - (1 - confidence)/2)``; see the module docstring (Bonett 2006). Where ``s2 == 0``,
    ``lo = hi = 0``. Non-finite values are ignored.

    Args:
      x: shape ``(R,)``, or ``(R, ...)`` for one interval per trailing index.
      confidence: two-sided confidence level in (0, 1).

    Returns:
      ``(var, lo, hi)``: floats for 1-D ``x``, else arrays of shape ``x.shape[1:]``. NaN where fewer than 2
      values are finite.
    """
    z = _two_sided_z(confidence)
    x = _check_samples(x, "x")
    s2, lo, hi, _ = _variance_ci_arrays(x, np.isfinite(x), z)
    return _scalar_or_array(s2), _scalar_or_array(lo), _scalar_or_array(hi)


def variance_ratio_ci(
    a: np.ndarray, b: np.ndarray, confidence: float = 0.95
) -> tuple[float | np.ndarray, float | np.ndarray, float | np.ndarray]:
    r"""Paired ratio ``var(a) / var(b)`` and its delta-method confidence interval on the log scale.

    Row ``i`` of ``a`` and of ``b`` must come from the same seed (common random numbers). Only rows where
    both are finite are used. With the paired influence function
    ``d_i = (a_i - m_a)^2 / s_a^2 - (b_i - m_b)^2 / s_b^2`` and ``se = sd(d) / sqrt(k)``, the interval is
    ``ratio * exp(-/+ z * se)``. If ``var(a) == 0`` the ratio and both ends are 0; if ``var(b) == 0`` or
    fewer than 2 rows are usable, all three are NaN.

    Args:
      a: shape ``(R,)`` or ``(R, ...)``.
      b: same shape as ``a``.
      confidence: two-sided confidence level in (0, 1).

    Returns:
      ``(ratio, lo, hi)``: floats for 1-D inputs, else arrays of shape ``a.shape[1:]``.
    """
    z = _two_sided_z(confidence)
    a = _check_samples(a, "a")
    b = _check_samples(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a, b: paired samples must have the same shape (got {a.shape} and {b.shape})")
    r, lo, hi = _ratio_ci_arrays(a, b, z)
    return _scalar_or_array(r), _scalar_or_array(lo), _scalar_or_array(hi)


# ----------------------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------------------


def summarise(
    estimates: Mapping[str, Mapping[int, np.ndarray]],
    param_names: Sequence[str],
    true_grad: np.ndarray,
    *,
    reference: str | None = "reinforce",
    exact_single_sample_var: Mapping[str, np.ndarray] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    r"""Tidy table of bias, variance, MSE and confidence intervals, one row per (estimator, n, param).

    For each cell (estimator, sample size ``n``, coordinate) over its ``n_seeds`` finite seed-level values
    :math:`x_i` (non-finite values are excluded and counted in ``n_nonfinite``):

    * ``mean`` :math:`m`; ``true_grad`` :math:`g`; ``bias = m - g``; ``bias_se = sd / sqrt(n_seeds)``
      (sd with ddof=1);
    * ``var`` = sample variance :math:`s^2` (ddof=1), with ``[var_lo, var_hi]`` the log-scale,
      kurtosis-adjusted interval of :func:`variance_ci`; ``n_var = n * var`` (flat in ``n`` for an
      estimator that averages ``n`` i.i.d. samples);
    * ``mse = mean((x - g)^2)``;
    * ``var_exact = exact_single_sample_var[estimator] / n`` when given, else NaN;
    * ``var_ratio = var / var_reference`` with interval ``[var_ratio_lo, var_ratio_hi]`` from
      :func:`variance_ratio_ci`, paired on the seeds finite in both the estimator and the ``reference``
      estimator at the same ``n``. The reference's own ratio is 1 with interval [1, 1]. NaN where there is
      no reference, it lacks this ``n``, or its variance is 0.

    Cells with fewer than 2 finite values get NaN statistics (no exception).

    Args:
      estimates: ``estimates[estimator][n]`` of shape ``(R, P)``: row ``r`` is seed ``r`` (the same seed
        for every estimator, so that ratios are paired), column ``p`` is coordinate ``param_names[p]``.
        ``R`` may differ between ``n`` but must match the reference's ``R`` at the same ``n``.
      param_names: length ``P``.
      true_grad: shape ``(P,)``, the exact gradient.
      reference: name of the estimator that ratios are taken against; ``None`` or a name not in
        ``estimates`` gives NaN ratio columns.
      exact_single_sample_var: optional ``estimator -> (P,)`` exact variance of a one-sample estimate, for
        estimators that average ``n`` i.i.d. samples; estimators not in it get NaN ``var_exact``.
      confidence: two-sided confidence level in (0, 1) for all intervals.

    Returns:
      A ``pandas.DataFrame`` with columns :data:`COLUMNS` in that order, ordered by estimator (in the
      order of ``estimates``), then ``n`` ascending, then ``param`` (in ``param_names`` order).

    Raises:
      ValueError: for inconsistent shapes, a non-positive ``n`` or a bad ``confidence``.
    """
    z = _two_sided_z(confidence)
    param_names = [str(p) for p in param_names]
    num_params = len(param_names)
    true_grad = _as_float64(true_grad, "true_grad")
    if true_grad.shape != (num_params,):
        raise ValueError(
            f"true_grad: must have shape (P,) = ({num_params},) to match param_names (got {true_grad.shape})"
        )
    exact = {}
    for name, v in (exact_single_sample_var or {}).items():
        v = _as_float64(v, f"exact_single_sample_var[{name!r}]")
        if v.shape != (num_params,):
            raise ValueError(
                f"exact_single_sample_var[{name!r}]: must have shape ({num_params},) (got {v.shape})"
            )
        exact[name] = v

    # Convert and validate everything before computing anything.
    arrays: dict[str, dict[int, np.ndarray]] = {}
    for name, by_n in estimates.items():
        arrays[name] = {}
        for n, x in by_n.items():
            if isinstance(n, bool) or int(n) != n or n < 1:
                raise ValueError(f"estimates[{name!r}]: sample size n must be an integer >= 1 (got {n!r})")
            x = _as_float64(x, f"estimates[{name!r}][{n}]")
            if x.ndim != 2 or x.shape[1] != num_params:
                raise ValueError(
                    f"estimates[{name!r}][{n}]: must have shape (R, P) with P = {num_params} (got {x.shape})"
                )
            arrays[name][int(n)] = x
    ref = arrays.get(reference) if reference is not None else None
    if ref is not None:
        for name, by_n in arrays.items():
            for n, x in by_n.items():
                if n in ref and ref[n].shape[0] != x.shape[0]:
                    raise ValueError(
                        f"estimates[{name!r}][{n}]: has {x.shape[0]} seeds but the reference {reference!r} "
                        f"has {ref[n].shape[0]} at the same n; paired ratios need the same seeds"
                    )

    blocks = []
    nan_p = np.full(num_params, np.nan)
    for name, by_n in arrays.items():
        for n in sorted(by_n):
            x = by_n[n]
            finite = np.isfinite(x)
            s2, lo, hi, mom = _variance_ci_arrays(x, finite, z)
            k = mom["k"]
            with np.errstate(invalid="ignore", divide="ignore"):
                bias_se = np.sqrt(s2 / k)
                dev = np.where(finite, x - true_grad, 0.0)
                mse = (dev * dev).sum(axis=0) / k
            mse = np.where(k < 2, np.nan, mse)
            mean = mom["mean"]
            if ref is not None and n in ref:
                ratio, ratio_lo, ratio_hi = _ratio_ci_arrays(x, ref[n], z)
            else:
                ratio = ratio_lo = ratio_hi = nan_p
            var_exact = exact[name] / n if name in exact else nan_p
            blocks.append(
                {
                    "estimator": np.full(num_params, name, dtype=object),
                    "param": np.array(param_names, dtype=object),
                    "n": np.full(num_params, n, dtype=np.int64),
                    "n_seeds": k.astype(np.int64),
                    "n_nonfinite": (x.shape[0] - k).astype(np.int64),
                    "mean": mean,
                    "true_grad": true_grad,
                    "bias": mean - true_grad,
                    "bias_se": bias_se,
                    "var": s2,
                    "var_lo": lo,
                    "var_hi": hi,
                    "n_var": n * s2,
                    "mse": mse,
                    "var_exact": var_exact,
                    "var_ratio": ratio,
                    "var_ratio_lo": ratio_lo,
                    "var_ratio_hi": ratio_hi,
                }
            )
    if not blocks:
        return pd.DataFrame({c: pd.Series(dtype=_EMPTY_DTYPES.get(c, np.float64)) for c in COLUMNS})
    data = {c: np.concatenate([b[c] for b in blocks]) for c in COLUMNS}
    return pd.DataFrame(data, columns=list(COLUMNS))


_EMPTY_DTYPES = {
    "estimator": object,
    "param": object,
    "n": np.int64,
    "n_seeds": np.int64,
    "n_nonfinite": np.int64,
}

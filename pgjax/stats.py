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

Variance interval (log scale, tail-extrapolated kurtosis; the default, ``method="tail"``)
    By the delta method, :math:`\log s^2` is approximately normal with standard error
    :math:`\operatorname{se}(s^2)/s^2`, so

    .. math:: [\,s^2 e^{-z\,\operatorname{se}(s^2)/s^2},\; s^2 e^{+z\,\operatorname{se}(s^2)/s^2}\,],
       \qquad z = \Phi^{-1}(1 - (1-\text{confidence})/2),

    the kurtosis-adjusted log-scale interval of D. G. Bonett (2006), "Approximate confidence interval for
    standard deviation of nonnormal distributions", Computational Statistics & Data Analysis 50(3):775-782.
    Its weak point is :math:`m_4`: for the heavy tails of score-function estimates (single-sample kurtosis
    in the hundreds), most of :math:`\mu_4` sits in events rarer than :math:`1/k`, so the plug-in
    :math:`m_4` is usually far too small, the interval too short and too low (``method="delta"`` keeps
    that plug-in interval; it covered 0.82 at nominal 0.95 on the default bandit's log sigma at
    ``k = 1000``).

    ``method="tail"`` replaces the plug-in :math:`m_4` by a tail-extrapolated one. Pgjax's estimates are
    smooth functions of Gaussian noise (polynomials of Gaussians for its Gaussian policies), whose tails
    behave like :math:`c\,Z^\gamma` for a standard normal :math:`Z`. In each tail (above and below the
    median) the :math:`m = \lfloor\sqrt{k}\rfloor` largest deviations :math:`y_{(1)} \ge \dots \ge
    y_{(m)}` above the threshold :math:`t = y_{(m+1)}` are fitted by least squares, through the threshold,
    to :math:`\log y_{(i)} - \log t = \gamma\,(\log q_i - \log q_{m+1})` with the Gaussian quantiles
    :math:`q_i = \Phi^{-1}(1 - i/(k+1))`; the empirical contribution of those :math:`m` points to
    :math:`m_4` is replaced by the model's :math:`E[(c Z^\gamma + \delta)^4;\, Z > q_{m+1}]` (with
    :math:`c = t / q_{m+1}^\gamma` and :math:`\delta` the median's offset from the mean), computed by
    Gauss-Laguerre quadrature; :math:`\gamma` is clipped to [0, 6]. The interval uses :math:`\max(m_4, m_4^{\text{tail}})`, so it is never
    shorter than the plug-in one. With fewer than 30 finite values it equals the plug-in interval.
    ``experiments/interval_coverage.py`` measures the coverage of both against exact variances.

Paired variance ratio
    Estimators evaluated on the same seeds (common random numbers) give paired rows ``a_i``, ``b_i``. The
    ratio :math:`r = s_a^2 / s_b^2` on the rows finite in both has, by the delta method on
    :math:`\log r = \log s_a^2 - \log s_b^2`, the paired influence function

    .. math:: d_i = (a_i - m_a)^2 / s_a^2 - (b_i - m_b)^2 / s_b^2, \qquad
       \operatorname{se}(\log r) = \operatorname{sd}(d) / \sqrt{k}

    (``method="delta"``). Pairing cancels the shared noise, so a ratio is far better determined than the
    two variances separately. ``method="tail"`` keeps the empirical correlation :math:`\rho` of
    :math:`(a_i - m_a)^2` and :math:`(b_i - m_b)^2` but takes each log variance's standard error
    :math:`\tau_a, \tau_b` from its tail-extrapolated :math:`m_4`:
    :math:`\operatorname{se}(\log r)^2 = \max(\tau_a^2 + \tau_b^2 - 2\rho\,\tau_a \tau_b,\;
    \operatorname{sd}(d)^2/k)`. The interval is :math:`[r e^{-z\,\mathrm{se}},\; r e^{+z\,\mathrm{se}}]`.

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
    "DEFAULT_INTERVAL",
    "INTERVAL_METHODS",
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


# ----------------------------------------------------------------------------------------------------------
# Tail-extrapolated fourth moment (method="tail"; see the module docstring)
# ----------------------------------------------------------------------------------------------------------

#: Interval methods for variances and paired variance ratios: "tail" (default) and "delta" (plug-in m4).
INTERVAL_METHODS: tuple[str, ...] = ("tail", "delta")
DEFAULT_INTERVAL = "tail"

#: Fewest finite values for which the tail model is fitted; below it the plug-in m4 is used.
TAIL_MIN_COUNT = 30
#: Upper bound of the fitted tail exponent gamma: above the degree (at most 4) of the Gaussian polynomials of
#: pgjax's Gaussian problems, so a fit made before the tail is asymptotic (e.g. just past a zero of
#: (r - b) psi) cannot extrapolate an absurd fourth moment.
_GAMMA_MAX = 6.0
_LAGUERRE = np.polynomial.laguerre.laggauss(80)
_STD_NORMAL = NormalDist()


def _check_method(method: str) -> str:
    if method not in INTERVAL_METHODS:
        raise ValueError(f"method: must be one of {', '.join(INTERVAL_METHODS)} (got {method!r})")
    return method


def _upper_normal_quantiles(probs: np.ndarray) -> np.ndarray:
    """Phi^-1(1 - p) elementwise, from the small tail p for full precision."""
    flat = [-_STD_NORMAL.inv_cdf(float(p)) for p in np.ravel(probs)]
    return np.asarray(flat, dtype=np.float64).reshape(np.shape(probs))


def _tail_fourth_moment(x: np.ndarray, mask: np.ndarray, mean: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Fourth central moment along axis 0 with both tails' top sqrt(k) points replaced by a fitted
    Gaussian-power tail c Z^gamma (module docstring). Shape ``x.shape[1:]``; NaN where k < TAIL_MIN_COUNT."""
    shape = x.shape[1:]
    x2 = x.reshape(x.shape[0], -1)
    mask2 = mask.reshape(x2.shape)
    k1 = np.asarray(k).reshape(-1).astype(np.int64)
    mean1 = np.asarray(mean, dtype=np.float64).reshape(-1)
    out = np.full(k1.shape, np.nan)
    fit = k1 >= TAIL_MIN_COUNT
    if not fit.any():
        return out.reshape(shape)
    cols = np.flatnonzero(fit)
    xs, ms, kc, mc = x2[:, cols], mask2[:, cols], k1[cols], mean1[cols]
    with np.errstate(invalid="ignore"):
        xn = np.where(ms, xs, np.nan)
        median = np.nanmedian(xn, axis=0)
        centered = np.where(ms, xs - mc, 0.0)
        m4 = (centered**4).sum(axis=0) / kc
    m = np.floor(np.sqrt(kc)).astype(np.int64)  # tail points per side
    m_max = int(m.max())
    rows = np.arange(1, m_max + 1)[:, None]  # i = 1..m_max
    valid = rows <= m[None, :]
    # Gaussian quantiles q_i = Phi^-1(1 - i/(k+1)) and the threshold's q_{m+1}, per distinct k.
    q = np.ones((m_max, kc.size))
    q_t = np.ones(kc.size)
    for kk in np.unique(kc):
        j = kc == kk
        mm = int(np.floor(np.sqrt(kk)))
        q[:mm, j] = _upper_normal_quantiles(np.arange(1, mm + 1) / (kk + 1.0))[:, None]
        q_t[j] = _upper_normal_quantiles(np.array([(mm + 1) / (kk + 1.0)]))[0]
    lx = np.where(valid, np.log(q) - np.log(q_t), 0.0)
    nodes, weights = _LAGUERRE
    u = nodes[:, None] / q_t[None, :]  # (L, C): Z = q_t + u
    z_nodes = q_t[None, :] + u
    damp = weights[:, None] * np.exp(-0.5 * u * u)
    pdf_t = np.exp(-0.5 * q_t * q_t) / np.sqrt(2.0 * np.pi)
    for sign in (1.0, -1.0):
        y = sign * (xn - median)  # NaN where masked out
        # the m_max + 1 largest, descending (NaN sorts last): partition, then sort only those
        top = -np.sort(np.partition(-y, m_max, axis=0)[: m_max + 1], axis=0)
        threshold = top[m, np.arange(kc.size)]
        ok = np.isfinite(threshold) & (threshold > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ly = np.where(valid, np.log(top[:m_max]) - np.log(threshold), 0.0)
            gamma = (ly * lx).sum(axis=0) / (lx * lx).sum(axis=0)
        gamma = np.clip(np.nan_to_num(gamma, nan=0.0), 0.0, _GAMMA_MAX)
        scale = np.where(ok, threshold, 0.0) / q_t**gamma
        delta = sign * (median - mc)
        with np.errstate(over="ignore", invalid="ignore"):
            model = pdf_t / q_t * ((scale * z_nodes**gamma + delta) ** 4 * damp).sum(axis=0) / 1.0
            emp = (np.where(valid, top[:m_max] + delta, 0.0) ** 4).sum(axis=0)
        m4 = m4 + np.where(ok & np.isfinite(model), model - emp / kc, 0.0)
    out[cols] = m4
    return out.reshape(shape)


def _se_log_variance(x: np.ndarray, mask: np.ndarray, mom: dict[str, np.ndarray], method: str) -> np.ndarray:
    """Standard error of log s^2 by the delta method, with the plug-in or the tail-extrapolated m4."""
    m4 = mom["m4"]
    if method == "tail":
        tail = _tail_fourth_moment(x, mask, mom["mean"], mom["k"])
        m4 = np.where(np.isfinite(tail), np.fmax(m4, tail), m4)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _se_of_s2(mom["k"], mom["s2"], m4) / mom["s2"]


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
    x: np.ndarray, mask: np.ndarray, z: float, method: str = DEFAULT_INTERVAL
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    mom = _moments(x, mask)
    s2 = mom["s2"]
    se_log = _se_log_variance(x, mask, mom, method)
    lo, hi = _log_interval(s2, se_log, z)
    return s2, lo, hi, mom


def _ratio_ci_arrays(
    a: np.ndarray, b: np.ndarray, z: float, method: str = DEFAULT_INTERVAL
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
        var_log = (d_c * d_c).sum(axis=0) / (k - 1) / k
        if method == "tail":
            tau_a = _se_log_variance(a, mask, ma, "tail")
            tau_b = _se_log_variance(b, mask, mb, "tail")
            ua, ub = ma["centered"] ** 2, mb["centered"] ** 2
            ua_c = np.where(mask, ua - ua.sum(axis=0) / k, 0.0)
            ub_c = np.where(mask, ub - ub.sum(axis=0) / k, 0.0)
            rho = (ua_c * ub_c).sum(axis=0) / np.sqrt((ua_c * ua_c).sum(axis=0) * (ub_c * ub_c).sum(axis=0))
            tail_var = tau_a**2 + tau_b**2 - 2.0 * rho * tau_a * tau_b
            var_log = np.where(np.isfinite(tail_var), np.fmax(var_log, tail_var), var_log)
        se_log = np.sqrt(var_log)
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
    x: np.ndarray, confidence: float = 0.95, method: str = DEFAULT_INTERVAL
) -> tuple[float | np.ndarray, float | np.ndarray, float | np.ndarray]:
    r"""Sample variance of ``x`` and its log-scale, kurtosis-adjusted confidence interval.

    ``lo, hi = s2 * exp(-/+ z * se(s2) / s2)`` with ``z = Phi^-1(1 - (1 - confidence)/2)`` and ``se`` from
    the tail-extrapolated fourth moment (``method="tail"``) or the plug-in one of :func:`variance_se`
    (``method="delta"``); see the module docstring. Where ``s2 == 0``, ``lo = hi = 0``. Non-finite values
    are ignored.

    Args:
      x: shape ``(R,)``, or ``(R, ...)`` for one interval per trailing index.
      confidence: two-sided confidence level in (0, 1).
      method: one of :data:`INTERVAL_METHODS`.

    Returns:
      ``(var, lo, hi)``: floats for 1-D ``x``, else arrays of shape ``x.shape[1:]``. NaN where fewer than 2
      values are finite.
    """
    z = _two_sided_z(confidence)
    x = _check_samples(x, "x")
    s2, lo, hi, _ = _variance_ci_arrays(x, np.isfinite(x), z, _check_method(method))
    return _scalar_or_array(s2), _scalar_or_array(lo), _scalar_or_array(hi)


def variance_ratio_ci(
    a: np.ndarray, b: np.ndarray, confidence: float = 0.95, method: str = DEFAULT_INTERVAL
) -> tuple[float | np.ndarray, float | np.ndarray, float | np.ndarray]:
    r"""Paired ratio ``var(a) / var(b)`` and its delta-method confidence interval on the log scale.

    Row ``i`` of ``a`` and of ``b`` must come from the same seed (common random numbers). Only rows where
    both are finite are used. With the paired influence function
    ``d_i = (a_i - m_a)^2 / s_a^2 - (b_i - m_b)^2 / s_b^2`` and ``se = sd(d) / sqrt(k)``, the interval is
    ``ratio * exp(-/+ z * se)`` (``method="delta"``); ``method="tail"`` (the default) widens ``se`` with the
    tail-extrapolated fourth moments (module docstring). If ``var(a) == 0`` the ratio and both ends are 0; if ``var(b) == 0`` or
    fewer than 2 rows are usable, all three are NaN.

    Args:
      a: shape ``(R,)`` or ``(R, ...)``.
      b: same shape as ``a``.
      confidence: two-sided confidence level in (0, 1).
      method: one of :data:`INTERVAL_METHODS`.

    Returns:
      ``(ratio, lo, hi)``: floats for 1-D inputs, else arrays of shape ``a.shape[1:]``.
    """
    z = _two_sided_z(confidence)
    a = _check_samples(a, "a")
    b = _check_samples(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a, b: paired samples must have the same shape (got {a.shape} and {b.shape})")
    r, lo, hi = _ratio_ci_arrays(a, b, z, _check_method(method))
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
    method: str = DEFAULT_INTERVAL,
) -> pd.DataFrame:
    r"""Tidy table of bias, variance, MSE and confidence intervals, one row per (estimator, n, param).

    For each cell (estimator, sample size ``n``, coordinate) over its ``n_seeds`` finite seed-level values
    :math:`x_i` (non-finite values are excluded and counted in ``n_nonfinite``):

    * ``mean`` :math:`m`; ``true_grad`` :math:`g`; ``bias = m - g``; ``bias_se = sd / sqrt(n_seeds)``
      (sd with ddof=1);
    * ``var`` = sample variance :math:`s^2` (ddof=1), with ``[var_lo, var_hi]`` the log-scale interval of
      :func:`variance_ci` (``method``); ``n_var = n * var`` (flat in ``n`` for an
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
      method: the interval method for variances and ratios, one of :data:`INTERVAL_METHODS`.

    Returns:
      A ``pandas.DataFrame`` with columns :data:`COLUMNS` in that order, ordered by estimator (in the
      order of ``estimates``), then ``n`` ascending, then ``param`` (in ``param_names`` order).

    Raises:
      ValueError: for inconsistent shapes, a non-positive ``n`` or a bad ``confidence``.
    """
    z = _two_sided_z(confidence)
    _check_method(method)
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
            s2, lo, hi, mom = _variance_ci_arrays(x, finite, z, method)
            k = mom["k"]
            with np.errstate(invalid="ignore", divide="ignore"):
                bias_se = np.sqrt(s2 / k)
                dev = np.where(finite, x - true_grad, 0.0)
                mse = (dev * dev).sum(axis=0) / k
            mse = np.where(k < 2, np.nan, mse)
            mean = mom["mean"]
            if ref is not None and n in ref:
                ratio, ratio_lo, ratio_hi = _ratio_ci_arrays(x, ref[n], z, method)
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

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
    badly. ``tests/analysis/test_stats.py`` measures this.

Variance interval (log scale, tail-extrapolated kurtosis; ``method="tail"``)
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
    Gauss-Laguerre quadrature; :math:`\gamma` is clipped to [0, 6]. The interval uses
    :math:`\max(m_4, m_4^{\text{tail}})`, so it is never shorter than the plug-in one. With fewer than 30
    finite values it equals the plug-in interval.
    ``pgjax/experiments/interval_coverage.py`` measures the coverage of both against exact variances.

Variance interval by a tail-model bootstrap-t (``method="tail-bootstrap"``, the default)
    Calibrates the interval by simulation instead of trusting the normal approximation of :math:`\log s^2`
    (which, even with the exact kurtosis, over-covers at kurtosis in the hundreds: the distribution of
    :math:`s^2` is then a rare-jump one, not a normal one). No resampling of the ``k`` observed values can
    produce the rare, large values that carry most of :math:`\mu_4`, so the resampling distribution is
    extended by the fitted tail:

    1. *Model.* Both tails are fitted as for ``method="tail"`` (the :math:`m = \lfloor\sqrt{k}\rfloor`
       largest deviations on each side, through the threshold), except that :math:`\gamma` is the larger
       of that slope and the slope of the outer half alone (an average of a few polynomial-of-Gaussian
       terms looks lighter-tailed before its asymptote). The model distribution keeps the sample
       except its :math:`r = \lceil\sqrt{m}\rceil` outermost points on each side, which are replaced,
       with probability :math:`r/k` per side, by :math:`c Z^\gamma` with :math:`Z > q_{r+1}`. Its variance
       :math:`\sigma^2_{\text{model}}` is exact (Gauss-Laguerre quadrature for the tails).
    2. *Bootstrap.* :data:`BOOTSTRAP_REPLICATES` samples of size ``k`` are drawn from the model: a binomial
       number of exact tail draws, and the sums of :math:`u = (x - \mu)^2` and :math:`u^2` over the kept
       points drawn from their joint central limit. Each gives
       :math:`T^* = (\log s^{*2} - \log \sigma^2_{\text{model}}) / \widehat{\operatorname{se}}^*` with
       the plug-in standard error.
    3. *Interval.* :math:`[\,s^2 e^{-T^*_{1-\alpha/2} \widehat{\operatorname{se}}},\; s^2
       e^{-T^*_{\alpha/2} \widehat{\operatorname{se}}}\,]`: asymmetric, and longer upwards when the sample
       is likely to have missed the tail.

    Paired ratios use a joint tail model: points are ranked by the radius of their two deviations from the
    medians (each divided by its interquartile range); the :math:`m` outermost are templates, at the
    two-sided Gaussian quantiles :math:`q_i = \Phi^{-1}(1 - i/(2(k+1)))` of their ranks; each component's
    deviation there is fitted, for each sign with at least 5 points, by least squares to
    :math:`\log|d| = a + \gamma \log q_i`, and a model tail point is one template moved out to a larger
    latent :math:`Z`, keeping its signs and residual factors. Where the pair's difference :math:`a - b`,
    fitted the same way over the templates (both signs together), grows more slowly than both components (its
    exponent below the smaller of their mean exponents by more than 0.5), the two estimates share their
    leading term (a baseline or control variate changes an estimate by a lighter-tailed term), so beyond the
    outermost template's quantile :math:`q_1` both components of a template grow with the mean of their two
    exponents: extrapolated with their separate local exponents, the ratio of the two would drift without
    bound in the far tail, and the model's ratio would vary far more than the sample's. (On the default
    bandit's exact optimal baseline against REINFORCE on log sigma, kurtosis 174 to 532, separate exponents
    covered 0.98 to 0.99.) The pivot is
    :math:`(\log r^* - \log r_{\text{model}}) / (\operatorname{sd}(d^*)/\sqrt{k})`. The ratio's interval is
    the hull of that bootstrap-t interval and the delta interval below, so never shorter than the delta one
    on either side. The joint tail is refitted from the :math:`\lfloor\sqrt{k}\rfloor` outermost pairs of
    every sample, so the bootstrap's quantiles vary from sample to sample, and against the pivot. On the LQR
    problem's reward-to-go against REINFORCE (:math:`K_{00}`, ``n = 1``, ``k = 1000``), over 200 disjoint
    samples of the coverage sweep, the 97.5% quantile of :math:`T^*` ranged from 1.54 to 3.33 (5th to 95th
    percentile) against the pivot's own 2.08 (over 1000 samples), with correlation -0.37 to the pivot. Over
    1000 samples the bootstrap-t interval alone covered 0.919 there, the delta interval 0.924 and the hull
    0.941. Variances keep the bootstrap-t interval alone: taking the hull there too raised coverage at
    ``n = 16`` to 0.96 to 0.97 on both problems.

    The bootstrap's draws are seeded by a checksum of the columns fitted together (those of one call with the
    same number of finite values), so the same array of estimates always gives the same intervals; one
    column's interval can change, within its Monte Carlo error, when other columns are passed with it. It
    costs about 1 to 3 ms per interval on one CPU core for ``k`` = 400 to 4000.

    The tail model is a continuous power law. A column whose :math:`m = \lfloor\sqrt{k}\rfloor` outermost
    values (largest deviations from the median; for a ratio, in either component) take at most :math:`m/2`
    distinct values has a discrete tail (an estimate built from Bernoulli rewards, say) and keeps the
    ``method="tail"`` interval; so do columns with fewer than :data:`TAIL_MIN_COUNT` finite values. (A
    continuous float32 estimate ties only now and then: its uniforms lie on a grid of :math:`2^{-23}`.)

    ``pgjax/experiments/interval_coverage.py`` measures it against ``"tail"`` and ``"delta"``. Over 1000 to 4000
    intervals per cell, none of its 396 cells lies outside [0.935, 0.965] with its whole Wilson interval (342
    lie inside by their point estimate); pooled, its variance intervals cover 0.943 (bandit) and 0.940 (LQR), its
    ratio intervals 0.951 and 0.952 (README).

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

import zlib
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "DEFAULT_INTERVAL",
    "INTERVAL_LABELS",
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

#: Interval methods for variances and paired variance ratios: "tail-bootstrap" (default), "tail" and "delta"
#: (plug-in m4); the module docstring defines each.
INTERVAL_METHODS: tuple[str, ...] = ("tail", "tail-bootstrap", "delta")
DEFAULT_INTERVAL = "tail-bootstrap"
#: How figures and docs name each interval method, in a few words.
INTERVAL_LABELS: dict[str, str] = {
    "tail": "log scale, tail-extrapolated kurtosis",
    "tail-bootstrap": "bootstrap-t with extrapolated tails",
    "delta": "log scale, plug-in kurtosis",
}

#: Fewest finite values for which the tail model is fitted; below it the plug-in m4 is used.
TAIL_MIN_COUNT = 30
#: Upper bound of the fitted tail exponent gamma: above the degree (at most 4) of the Gaussian polynomials of
#: pgjax's Gaussian problems, so a fit made before the tail is asymptotic (e.g. just past a zero of
#: (r - b) psi) cannot extrapolate an absurd fourth moment.
_GAMMA_MAX = 6.0
_LAGUERRE = np.polynomial.laguerre.laggauss(80)
#: Replicates of the tail-model bootstrap behind every ``method="tail-bootstrap"`` interval.
BOOTSTRAP_REPLICATES = 1000
#: Fewest points of one sign among a component's tail points for that sign to get its own fit (ratio model).
_MIN_SIGN_POINTS = 5
#: How much more slowly (in tail exponent) a pair's difference must grow than both its components for the
#: ratio model to treat their leading tails as shared (:func:`_fit_ratio_model`).
_SHARED_MARGIN = 0.5
_STD_NORMAL = NormalDist()


def _check_method(method: str) -> str:
    if method not in INTERVAL_METHODS:
        raise ValueError(f"method: must be one of {', '.join(INTERVAL_METHODS)} (got {method!r})")
    return method


def _upper_normal_quantiles(probs: np.ndarray) -> np.ndarray:
    """Phi^-1(1 - p) elementwise, from the small tail p for full precision."""
    flat = [-_STD_NORMAL.inv_cdf(float(p)) for p in np.ravel(probs)]
    return np.asarray(flat, dtype=np.float64).reshape(np.shape(probs))


def _through_origin_slope(lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """Least-squares slope of ly on lx through the origin along axis 0, clipped to [0, _GAMMA_MAX]."""
    with np.errstate(invalid="ignore", divide="ignore"):
        g = (ly * lx).sum(axis=0) / (lx * lx).sum(axis=0)
    return np.clip(np.nan_to_num(g, nan=0.0), 0.0, _GAMMA_MAX)


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
        gamma = _through_origin_slope(lx, ly)
        scale = np.where(ok, threshold, 0.0) / q_t**gamma
        delta = sign * (median - mc)
        with np.errstate(over="ignore", invalid="ignore"):
            model = pdf_t / q_t * ((scale * z_nodes**gamma + delta) ** 4 * damp).sum(axis=0) / 1.0
            emp = (np.where(valid, top[:m_max] + delta, 0.0) ** 4).sum(axis=0)
        m4 = m4 + np.where(ok & np.isfinite(model), model - emp / kc, 0.0)
    out[cols] = m4
    return out.reshape(shape)


def _upper_normal_quantiles_fast(u: np.ndarray) -> np.ndarray:
    """Phi^-1(1 - u) for an array of uniforms in (0, 1], vectorised (ndtri is exact to float64 rounding)."""
    from scipy.special import ndtri

    return -ndtri(u)


class _TailModel:
    """A distribution fitted to ``k`` values per column: the sample's body, plus Gaussian-power tails.

    With probability ``p`` a draw is a tail point ``med + coef_j * Z**gamma_j`` for a template ``j`` drawn
    uniformly from ``T`` templates and ``Z`` a standard normal conditioned on ``Z > qt``; otherwise it is one
    of the body points (whose sums the bootstrap draws from their central limit). ``coef`` and ``gamma`` have
    shape ``(T, C, J)``: ``C`` columns, ``J`` components (1 for a variance, 2 for a paired ratio).
    """

    def __init__(self, body, med, coef, gamma, qt, p, gamma_far=None, z_far=np.inf):
        self.body, self.med, self.coef, self.gamma, self.qt, self.p = body, med, coef, gamma, qt, p
        self.gamma_far = gamma if gamma_far is None else gamma_far
        self.z_far = z_far
        self.log_z_far = float(np.log(z_far))
        nodes, weights = _LAGUERRE
        u = nodes / qt
        self.z_nodes = qt + u  # Z = qt + u, u ~ Exp(qt) after the change of variable
        tail_prob = float(_STD_NORMAL.cdf(-qt))
        self.tail_prob = tail_prob
        self.z_weights = weights * np.exp(-0.5 * u * u) * np.exp(-0.5 * qt * qt) / np.sqrt(2 * np.pi) / qt / tail_prob

    def columns(self, cols: slice) -> _TailModel:
        """The same model restricted to the columns ``cols``."""
        return _TailModel(
            self.body[:, cols],
            self.med[cols],
            self.coef[:, cols],
            self.gamma[:, cols],
            self.qt,
            self.p,
            self.gamma_far[:, cols],
            self.z_far,
        )

    def _log_growth(self, log_z: np.ndarray, gamma: np.ndarray, gamma_far: np.ndarray) -> np.ndarray:
        """log of a template's growth factor Z^gamma at latent log Z, where the exponent turns from gamma to
        gamma_far at Z = z_far (:func:`_fit_ratio_model`)."""
        far = np.maximum(log_z - self.log_z_far, 0.0)
        return gamma * np.minimum(log_z, self.log_z_far) + gamma_far * far

    def _tail_moment(self, r: int) -> np.ndarray:
        """E[(coef Z^gamma)^r] over templates and Z | Z > qt, shape (C, J), by Gauss-Laguerre quadrature."""
        with np.errstate(over="ignore", invalid="ignore"):
            if self.log_z_far == np.inf:  # one exponent throughout: the power itself, as always computed
                growth = self.z_nodes[:, None, None, None] ** (r * self.gamma[None])
            else:
                log_z = np.log(self.z_nodes)[:, None, None, None]
                growth = np.exp(r * self._log_growth(log_z, self.gamma[None], self.gamma_far[None]))
            zr = np.einsum("l,ltcj->tcj", self.z_weights, growth)
            return (self.coef**r * zr).mean(axis=0)

    def mean_and_variance(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.p
        d1, d2 = self._tail_moment(1), self._tail_moment(2)
        mean = (1 - p) * self.body.mean(axis=0) + p * (self.med + d1)
        a0 = self.med - mean
        var = (1 - p) * ((self.body - mean) ** 2).mean(axis=0) + p * (a0 * a0 + 2 * a0 * d1 + d2)
        return mean, var

    def bootstrap_sums(self, k: int, mean: np.ndarray, rng: np.random.Generator, b: int) -> np.ndarray:
        """Means over ``k`` model draws of the pivot's features (see :func:`_features`), ``b`` replicates:
        shape (b, C, F)."""
        t, c, _ = self.coef.shape
        fb = _features(self.body - mean)  # (kb, C, F)
        fm = fb.mean(axis=0)
        fc = fb - fm
        cov = np.einsum("kcf,kcg->cfg", fc, fc) / fb.shape[0]
        ev, evec = np.linalg.eigh(cov)
        root = evec * np.sqrt(np.maximum(ev, 0.0))[:, None, :]
        n_tail = rng.binomial(k, self.p, size=(b, c))
        n_body = k - n_tail
        g = rng.standard_normal((b, c, fm.shape[-1]))
        sums = n_body[..., None] * fm + np.sqrt(n_body)[..., None] * np.einsum("cfg,bcg->bcf", root, g)
        # The tail points of all replicates in one flat array: replicate index, template, latent Z.
        rep = np.repeat(np.arange(b * c), n_tail.ravel())
        col = rep % c
        j = rng.integers(0, t, size=rep.size)
        log_z = np.log(_upper_normal_quantiles_fast(rng.random(rep.size) * self.tail_prob))
        with np.errstate(over="ignore", invalid="ignore"):
            log_growth = self._log_growth(log_z[:, None], self.gamma[j, col], self.gamma_far[j, col])
            dev = (self.med - mean)[col] + self.coef[j, col] * np.exp(log_growth)
        feats = _features(dev)
        for f in range(feats.shape[-1]):
            sums[..., f] += np.bincount(rep, weights=feats[:, f], minlength=b * c).reshape(b, c)
        return sums / k


def _features(d: np.ndarray) -> np.ndarray:
    """Per-point features whose means give the pivot: (u, u^2) for one component, (u_a, u_b, u_a^2, u_b^2,
    u_a u_b) for two, with u = d^2 the squared deviation. ``d`` has a trailing component axis."""
    u = d * d
    if u.shape[-1] == 1:
        return np.concatenate([u, u * u], axis=-1)
    ua, ub = u[..., 0], u[..., 1]
    return np.stack([ua, ub, ua * ua, ub * ub, ua * ub], axis=-1)


def _pivot(f: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(log statistic, its plug-in delta-method standard error) from feature means ``f`` (..., F): log s^2
    for one component, log(s_a^2 / s_b^2) for two."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if f.shape[-1] == 2:
            s2, m4 = f[..., 0], f[..., 1]
            return np.log(s2), np.sqrt(np.maximum(m4 - s2 * s2, 0.0) / k) / s2
        sa, sb, a2, b2, ab = (f[..., i] for i in range(5))
        vd = a2 / (sa * sa) + b2 / (sb * sb) - 2.0 * ab / (sa * sb)
        return np.log(sa / sb), np.sqrt(np.maximum(vd, 0.0) / k)


def _replaced(m: int) -> int:
    """How many outermost points (per side) the model replaces: ceil(sqrt(m)). The fit uses all m; the
    points between rank ceil(sqrt(m)) and m stay in the body, which keeps the bootstrap cheap (few exact tail
    draws per replicate) and the model close to the data where the data are dense."""
    return int(np.ceil(np.sqrt(m)))


def _one_sided_fits(x: np.ndarray):
    """Per column and component of ``x`` (k, C, J): the sorted sample, the median, the Gaussian quantiles
    q_1..q_{m+1} of the plotting positions i / (k + 1), and for each side (+1 above the median, -1 below)
    the fit (sign, c, gamma) of its m = floor(sqrt(k)) largest deviations, through the threshold (the
    (m+1)-th), to c Z^gamma. gamma is the larger of two through-threshold slopes: over all m points, and
    over the outer half (through the (m//2+1)-th). An average of a few polynomial-of-Gaussian terms looks
    lighter-tailed before its asymptote, so the outer slope is the better guide there; where the outer slope
    is smaller (a tail that steepens early), the whole-range slope is kept, so the model never extrapolates
    lighter than the whole-range fit."""
    k = x.shape[0]
    m = int(np.floor(np.sqrt(k)))
    h = m // 2
    xs = np.sort(x, axis=0)
    med = np.median(x, axis=0)
    q = _upper_normal_quantiles(np.arange(1, m + 2) / (k + 1.0))
    fits = []
    for sign, dev in ((1.0, xs[::-1] - med), (-1.0, med - xs)):
        thr = dev[m]
        ok = thr > 0
        slopes = []
        for j in (m, h):  # the fit over ranks 1..j, through the threshold at rank j + 1
            lx = (np.log(q[:j]) - np.log(q[j]))[:, None, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                ly = np.log(np.maximum(dev[:j], dev[j])) - np.log(np.where(dev[j] > 0, dev[j], 1.0))
            slopes.append(np.where(dev[j] > 0, _through_origin_slope(lx, ly), 0.0))
        g = np.where(ok, np.maximum(*slopes), 0.0)
        fits.append((sign, sign * np.maximum(thr, 0.0) / q[m] ** g, g))
    return xs, med, q, fits


def _fit_variance_model(x: np.ndarray) -> _TailModel:
    """Two one-sided tails (``x`` is (k, C, 1)) fitted by :func:`_one_sided_fits`; beyond the
    ceil(sqrt(m))-th largest deviation on each side the model replaces the sample."""
    k = x.shape[0]
    xs, med, q, fits = _one_sided_fits(x)
    r = _replaced(q.size - 1)
    coef = np.concatenate([np.broadcast_to(c, (r,) + c.shape) for _, c, _ in fits])
    gamma = np.concatenate([np.broadcast_to(g, (r,) + g.shape) for _, _, g in fits])
    return _TailModel(xs[r : k - r], med, coef, gamma, q[r], 2.0 * r / k)


def _fit_ratio_model(x: np.ndarray) -> _TailModel:
    """Joint tails of a pair (``x`` is (k, C, 2)). Points are ranked by the radius of their two deviations
    from the medians (each divided by its interquartile range); the m = floor(sqrt(k)) outermost are the
    tail, and point i of them sits at the two-sided Gaussian quantile q_i = Phi^-1(1 - i / (2 (k + 1))) of
    its rank. Each component's deviation there is fitted, separately for each sign with at least
    _MIN_SIGN_POINTS points, by least squares to log|dev| = a + gamma log q_i; every outer point is a
    template that keeps its signs and its residual factors, so a model tail point is the pair that one outer
    point would be at a larger latent Z. The ceil(sqrt(m)) outermost points are replaced by the model. Where
    the pair's difference grows more slowly than both components (:func:`_difference_exponent`, by more than
    _SHARED_MARGIN), the components share their leading tail, and beyond the outermost template's quantile
    q_1 both grow with the mean of their two exponents (module docstring)."""
    k = x.shape[0]
    m = int(np.floor(np.sqrt(k)))
    r = _replaced(m)
    med = np.median(x, axis=0)
    dev = x - med
    q75, q25 = np.quantile(x, [0.75, 0.25], axis=0)
    scale = q75 - q25
    sd = x.std(axis=0)
    scale = np.where(scale > 0, scale, np.where(sd > 0, sd, 1.0))
    radius = np.sqrt(((dev / scale) ** 2).sum(axis=-1))
    order = np.argsort(-radius, axis=0, kind="stable")
    top = np.take_along_axis(dev, order[:m, :, None], axis=0)  # (m, C, J)
    body = np.take_along_axis(x, order[r:, :, None], axis=0)
    q = _upper_normal_quantiles(np.arange(1, m + 2) / (2.0 * (k + 1)))
    lq = np.broadcast_to(np.log(q[:m])[:, None, None], top.shape)
    size = np.abs(top)
    nonzero = size > 0
    positive = top > 0
    ly = np.log(np.where(nonzero, size, 1.0))
    intercept = np.zeros(top.shape)
    gamma = np.zeros(top.shape)
    for side in (positive & nonzero, ~positive & nonzero):
        w = side.astype(np.float64)
        n = w.sum(axis=0)
        slope, mx, my = _weighted_slope(w, lq, ly)
        g = np.clip(slope, 0.0, _GAMMA_MAX)
        a = my - g * mx
        fit = (n >= _MIN_SIGN_POINTS) & np.isfinite(g) & np.isfinite(a)
        # Too few points of this sign: no extrapolation, the points keep their observed values.
        intercept = np.where(side, np.where(fit, a, 0.0)[None], intercept)
        gamma = np.where(side, np.where(fit, g, 0.0)[None], gamma)
    residual = np.where(nonzero, size / np.exp(intercept + gamma * lq), 0.0)
    coef = np.where(positive, 1.0, -1.0) * residual * np.exp(intercept) * nonzero
    # Shared leading tail: where the pair's difference grows more slowly than either component, the two
    # estimates share their leading term, so past the outermost template they must grow alike.
    shared = (
        _difference_exponent(top, q[:m]) < np.minimum(gamma[..., 0].mean(0), gamma[..., 1].mean(0)) - _SHARED_MARGIN
    )
    both = shared[None] & (gamma > 0).all(axis=-1)
    gamma_far = np.where(both[..., None], gamma.mean(axis=-1, keepdims=True), gamma)
    return _TailModel(body, med, coef, gamma, q[r], r / k, gamma_far, q[0])


def _difference_exponent(top: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Least-squares slope of log|a - b| on log q over the joint tail's templates ``top`` (m, C, 2), at their
    quantiles ``q`` (m,): how fast the difference of the pair grows in the tail; NaN without two nonzero
    differences."""
    diff = np.abs(top[..., 0] - top[..., 1])
    lq = np.broadcast_to(np.log(q)[:, None], diff.shape)
    return _weighted_slope((diff > 0).astype(np.float64), lq, np.log(np.where(diff > 0, diff, 1.0)))[0]


def _weighted_slope(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares of y on x along axis 0 (weights ``w``, 0 or 1): (slope, weighted mean of x,
    weighted mean of y); NaN where fewer than two distinct x carry weight."""
    with np.errstate(invalid="ignore", divide="ignore"):
        n = w.sum(axis=0)
        mx = (w * x).sum(axis=0) / n
        my = (w * y).sum(axis=0) / n
        return (w * (x - mx) * (y - my)).sum(axis=0) / (w * (x - mx) ** 2).sum(axis=0), mx, my


#: Columns simulated together by the bootstrap (bounds its memory: 1000 x 64 x slots x J floats).
_COLUMN_CHUNK = 64


def _tail_bootstrap_interval(x: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap-t interval (lo, hi) from the tail model, for complete columns ``x`` of shape (k, C, J):
    the variance (J = 1) or the paired variance ratio of component 0 over component 1 (J = 2)."""
    k, c, comps = x.shape
    model = _fit_variance_model(x) if comps == 1 else _fit_ratio_model(x)
    mean, var = model.mean_and_variance()
    truth = np.log(var[:, 0]) if comps == 1 else np.log(var[:, 0] / var[:, 1])
    seed = zlib.crc32(np.ascontiguousarray(x).tobytes())
    rng = np.random.default_rng(seed)
    t_stats = []
    for chunk in range(0, c, _COLUMN_CHUNK):
        cols = slice(chunk, chunk + _COLUMN_CHUNK)
        log_b, se_b = _pivot(model.columns(cols).bootstrap_sums(k, mean[cols], rng, BOOTSTRAP_REPLICATES), k)
        with np.errstate(invalid="ignore", divide="ignore"):
            t_stats.append((log_b - truth[cols]) / se_b)
    # A replicate with a zero standard error gives an infinite T*: kept as a huge finite value, so that the
    # quantiles stay ordered instead of interpolating inf - inf.
    t_stats = np.clip(np.concatenate(t_stats, axis=1), -1e300, 1e300)
    alpha = (1.0 - confidence) / 2.0
    q_lo, q_hi = np.nanquantile(t_stats, [alpha, 1.0 - alpha], axis=0)
    f = _features(x - x.mean(axis=0)).mean(axis=0)
    f[..., :comps] *= k / (k - 1.0)  # sample variances with divisor k - 1
    log_est, se = _pivot(f, k)
    est = np.exp(log_est)
    with np.errstate(invalid="ignore", over="ignore"):
        return est * np.exp(-q_hi * se), est * np.exp(-q_lo * se)


def _continuous_tails(x: np.ndarray) -> np.ndarray:
    """Per column of ``x`` (k, C, J): whether every component's m = floor(sqrt(k)) outermost values (largest
    deviations from the median) take more than m / 2 distinct values. The tail model is a continuous power
    law; an estimate whose outermost values repeat (from Bernoulli rewards, say) has a discrete tail, which the
    model would misdescribe. A tie or two is not enough: float32 estimates of a continuous distribution,
    drawn from uniforms on a grid of 2^-23, tie now and then among their outermost values."""
    k = x.shape[0]
    m = int(np.floor(np.sqrt(k)))
    dev = np.abs(x - np.median(x, axis=0))
    outer = np.take_along_axis(x, np.argsort(-dev, axis=0, kind="stable")[:m], axis=0)
    distinct = 1 + (np.diff(np.sort(outer, axis=0), axis=0) != 0).sum(axis=0)
    return (distinct > m / 2).all(axis=-1)


def _with_tail_bootstrap(
    x: np.ndarray, mask: np.ndarray, z: float, usable: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` of the ``method="tail-bootstrap"`` bootstrap-t interval for every column of ``x``
    (R, ..., J) that has at least TAIL_MIN_COUNT rows finite in ``mask`` (R, ...), is ``usable`` and has
    continuous tails (:func:`_continuous_tails`); NaN in every other column. The finite rows of each column
    are gathered first."""
    shape = np.shape(usable)
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    flat_mask = mask.reshape(flat.shape[:2])
    t_lo = np.full(flat.shape[1], np.nan)
    t_hi = np.full(flat.shape[1], np.nan)
    k = flat_mask.sum(axis=0)
    # Only usable columns are fitted: a constant column (e.g. a batch baseline's zero estimate at n = 1) has
    # no tail to fit and would only produce log(0) warnings.
    k = np.where(np.asarray(usable).reshape(-1), k, 0)
    for kk in np.unique(k[k >= TAIL_MIN_COUNT]):
        cols = np.flatnonzero(k == kk)
        rows = np.argsort(~flat_mask[:, cols], axis=0, kind="stable")[:kk]  # finite rows first, in order
        xk = np.take_along_axis(flat[:, cols], rows[..., None], axis=0)
        continuous = _continuous_tails(xk)
        if not continuous.all():
            cols, xk = cols[continuous], np.ascontiguousarray(xk[:, continuous])
        if cols.size:
            t_lo[cols], t_hi[cols] = _tail_bootstrap_interval(xk, _confidence_of(z))
    return t_lo.reshape(shape), t_hi.reshape(shape)


def _confidence_of(z: float) -> float:
    return 1.0 - 2.0 * _STD_NORMAL.cdf(-z)


def _se_log_variance(x: np.ndarray, mask: np.ndarray, mom: dict[str, np.ndarray], method: str) -> np.ndarray:
    """Standard error of log s^2 by the delta method, with the plug-in or the tail-extrapolated m4."""
    m4 = mom["m4"]
    if method == "tail":
        tail = _tail_fourth_moment(x, mask, mom["mean"], mom["k"])
        m4 = np.where(np.isfinite(tail), np.fmax(m4, tail), m4)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _se_of_s2(mom["k"], mom["s2"], m4) / mom["s2"]


def _log_interval(est: np.ndarray, se_log: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
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
    # tail-bootstrap keeps the tail interval where the bootstrap is not used (few values, discrete tails).
    se_log = _se_log_variance(x, mask, mom, "tail" if method == "tail-bootstrap" else method)
    lo, hi = _log_interval(s2, se_log, z)
    if method == "tail-bootstrap":
        b_lo, b_hi = _with_tail_bootstrap(x[..., None], mask, z, s2 > 0)
        boot = np.isfinite(b_lo)
        lo, hi = np.where(boot, b_lo, lo), np.where(boot, b_hi, hi)
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
        var_log_delta = var_log
        if method in ("tail", "tail-bootstrap"):
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
    if method == "tail-bootstrap":
        # Where the bootstrap is used: the hull of its bootstrap-t interval and the delta interval (module
        # docstring: the bootstrap's quantiles for a ratio vary with the refitted joint tail, against the
        # pivot). Elsewhere the tail interval above is kept.
        b_lo, b_hi = _with_tail_bootstrap(np.stack([a, b], axis=-1), mask, z, (sa2 > 0) & (sb2 > 0))
        d_lo, d_hi = _log_interval(ratio, np.sqrt(var_log_delta), z)
        boot = np.isfinite(b_lo)
        lo = np.where(boot, np.fmin(d_lo, b_lo), lo)
        hi = np.where(boot, np.fmax(d_hi, b_hi), hi)
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

    By default (``method="tail-bootstrap"``) a bootstrap-t interval from a model of the sample with its tails
    extrapolated (``method="tail"`` where the tails are discrete or fewer than :data:`TAIL_MIN_COUNT` values
    are finite). Otherwise ``lo, hi = s2 * exp(-/+ z * se(s2) / s2)`` with
    ``z = Phi^-1(1 - (1 - confidence)/2)`` and ``se`` from the tail-extrapolated fourth moment
    (``method="tail"``) or the plug-in one of :func:`variance_se` (``method="delta"``). The module docstring
    defines each. Where ``s2 == 0``, ``lo = hi = 0``. Non-finite values are ignored.

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
    ``ratio * exp(-/+ z * se)`` (``method="delta"``); ``method="tail"`` widens ``se`` with the
    tail-extrapolated fourth moments; ``method="tail-bootstrap"`` (the default) is the hull of the delta
    interval and a bootstrap-t interval from a joint model of the pairs with their tails extrapolated, or the
    tail interval where either tail is discrete (module docstring). If ``var(a) == 0`` the ratio and both ends are 0; if
    ``var(b) == 0`` or fewer than 2 rows are usable, all three are NaN.

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
    reference_estimates: Mapping[int, np.ndarray] | None = None,
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
      reference_estimates: ``n -> (R, P)`` estimates of a reference estimator measured elsewhere on the same
        seeds (another setting of a grid, say); ratios are taken against them instead of
        ``estimates[reference]``, which must then be None.

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
            raise ValueError(f"exact_single_sample_var[{name!r}]: must have shape ({num_params},) (got {v.shape})")
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
    if reference_estimates is not None:
        if reference is not None:
            raise ValueError("give either reference or reference_estimates, not both")
        ref = {}
        for n, x in reference_estimates.items():
            x = _as_float64(x, f"reference_estimates[{n}]")
            if x.ndim != 2 or x.shape[1] != num_params:
                raise ValueError(f"reference_estimates[{n}]: must have shape (R, {num_params}) (got {x.shape})")
            ref[int(n)] = x
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

"""Figures for the Gaussian test functions: Mohamed et al. (2020), Figures 2 and 3 (single-sample variance
against k, :func:`plot_variance_vs_k`), and the cost-adjusted variance against n (:func:`plot_work_variance`).

Drawn only from a tidy table of plotted values (columns ``function, k, grid, estimator, param, var_exact,
var_mc, var_lo, var_hi, n_seeds``; ``grid`` is ``curve`` for the exact curves and ``mc`` for Monte Carlo
points), as written by ``pgjax/experiments/mohamed2020.py``. For each test function, a block of two panels (variance
of the estimate of the gradient with respect to mu and to sigma, log variance axis; log k axis where the paper
has one) above three small panels with f (solid) and f' (dashed) at three values of k. Exact variances are
lines, Monte Carlo variances are markers with 95% interval bars, each estimator in its fixed colour, marker and
line style of :mod:`pgjax.styles` (the same as in every other figure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from pgjax import styles
from pgjax.plotting.variance import STYLE, dodge_factors, param_label, save_figure, wrap_title

__all__ = ["LABELS", "function_and_derivative", "plot_variance_vs_k", "plot_work_variance"]

#: Legend labels of the estimators (the paper's names for its four).
LABELS = {
    "reinforce": "score function",
    "optimal_baseline_exact": "score function + optimal baseline",
    "pathwise": "pathwise",
    "measure_valued": "measure-valued",
    "measure_valued_coupled": "measure-valued + coupling",
    "delta_cv_score": "score function + delta-method CV",
    "delta_cv_pathwise": "pathwise + delta-method CV",
}

_FUNCTION_TITLES = {
    "quadratic": r"$f(x;k) = (x-k)^2$",
    "exp": r"$f(x;k) = \exp(-kx^2)$",
    "cos": r"$f(x;k) = \cos(kx)$",
}
_PARAM_TITLES = {"mu": r"gradient with respect to $\mu$", "sigma": r"gradient with respect to $\sigma$"}
_CAPTION_PT = 8.5


def _plain(value: float, _pos=None) -> str:
    """Tick label: 1024, 0.3, 1e-05 (no 3x10^0)."""
    return f"{value:g}"


_PLAIN = FuncFormatter(_plain)


def _plain_minor(value: float, pos=None) -> str:
    """Minor log ticks: label 2, 3 and 5 times a decade (0.2, 30, 5e-05); the rest unlabelled."""
    mantissa = value / 10 ** np.floor(np.log10(value)) if value > 0 else 0.0
    return f"{value:g}" if np.any(np.isclose(mantissa, (2.0, 3.0, 5.0))) else ""


_PLAIN_MINOR = FuncFormatter(_plain_minor)


def function_and_derivative(function: str, k: float, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f(x; k), f'(x; k)) of a test function, in closed form (numpy)."""
    if function == "quadratic":
        return (x - k) ** 2, 2.0 * (x - k)
    if function == "exp":
        value = np.exp(-k * x**2)
        return value, -2.0 * k * x * value
    if function == "cos":
        return np.cos(k * x), -k * np.sin(k * x)
    raise ValueError(f"unknown test function {function!r}")


# The small panels: x range and y limits per function.
_CARTOON = {
    "quadratic": ((-5.0, 5.0), (-12.0, 30.0)),
    "exp": ((-3.0, 3.0), (-3.0, 3.0)),
    "cos": ((-5.0, 5.0), (-5.5, 5.5)),
}


def _positive(x: np.ndarray) -> np.ndarray:
    return np.isfinite(x) & (x > 0)


def _panel_limits(rows: pd.DataFrame) -> tuple[float, float]:
    """(bottom, top) of a log variance axis: every plotted value, but at most 4 decades below the largest
    (a variance can be exactly 0, e.g. the coupled measure-valued estimate where f is even about mu)."""
    values = np.concatenate([rows["var_exact"].to_numpy(float), rows["var_lo"].to_numpy(float)])
    values = values[_positive(values)]
    if not values.size:
        return 1e-3, 1.0
    top = float(values.max())
    bottom = max(float(values.min()), top * 1e-4)
    return bottom / 1.6, top * 2.2


def _variance_panel(ax, rows: pd.DataFrame, estimators: Sequence[str], log_k: bool) -> None:
    bottom, top = _panel_limits(rows)
    below = bottom * 1e-3  # where a zero variance is drawn: off the axis, so the curve runs out at the bottom
    looks = styles.style_map(estimators)
    for estimator in estimators:
        style = looks[estimator].kwargs()
        mine = rows[rows["estimator"] == estimator]
        curve = mine[mine["grid"] == "curve"].sort_values("k")
        var = curve["var_exact"].to_numpy(float)
        ax.plot(
            curve["k"].to_numpy(float),
            np.where(var > below, var, below),
            color=style["color"],
            linestyle=style["linestyle"],
            lw=1.6,
            zorder=2,
        )
        points = mine[mine["grid"] == "mc"].sort_values("k")
        k = points["k"].to_numpy(float)
        var = points["var_mc"].to_numpy(float)
        ok = _positive(var)
        lo = np.maximum(points["var_lo"].to_numpy(float)[ok], below)
        hi = points["var_hi"].to_numpy(float)[ok]
        ax.errorbar(
            k[ok],
            var[ok],
            yerr=np.vstack([var[ok] - lo, hi - var[ok]]),
            color=style["color"],
            marker=style["marker"],
            markersize=4.5,
            markeredgecolor="white",
            markeredgewidth=0.6,
            linestyle="none",
            elinewidth=1.0,
            capsize=2.0,
            zorder=3,
        )
    ax.set_yscale("log")
    ax.set_ylim(bottom, top)
    if log_k:
        ax.set_xscale("log")
    ks = rows["k"].to_numpy(float)
    if ks.size:
        pad = (ks.max() / ks.min()) ** 0.02 if log_k else 0.02 * (ks.max() - ks.min())
        ax.set_xlim(ks.min() / pad, ks.max() * pad) if log_k else ax.set_xlim(ks.min() - pad, ks.max() + pad)
    ax.set_xlabel("$k$", labelpad=1)
    ax.tick_params(which="both", direction="out")


def plot_variance_vs_k(
    values: pd.DataFrame,
    stem: str | Path,
    *,
    mu: float,
    sigma: float,
    settings: Mapping[str, Mapping[str, Any]],
    estimators: Sequence[str] | None = None,
) -> list[Path]:
    """Draws the figure and writes ``stem.png`` (200 dpi) and ``stem.pdf`` (TrueType fonts) atomically.

    Args:
      values: the tidy table of plotted values (see the module docstring).
      stem: output path without suffix.
      mu, sigma: the Gaussian's parameters (for the caption and the small panels).
      settings: per function, ``log_k`` (bool) and ``cartoon_k`` (three k for the small panels).
      estimators: which to draw, in this order (default: all, in table order).

    Returns:
      ``[stem.png, stem.pdf]``.
    """
    missing = [
        c
        for c in ("function", "k", "grid", "estimator", "param", "var_exact", "var_mc", "var_lo", "var_hi")
        if c not in values.columns
    ]
    if missing or len(values) == 0:
        raise ValueError(f"values table lacks columns {missing} or has no rows")
    stem = Path(stem)
    functions = list(dict.fromkeys(values["function"]))
    estimators = list(estimators or dict.fromkeys(values["estimator"]))
    params = [p for p in ("mu", "sigma") if p in set(values["param"])] or list(dict.fromkeys(values["param"]))
    mc = values[values["grid"] == "mc"]
    seeds = sorted(set(int(s) for s in mc["n_seeds"])) if len(mc) else []

    block_in = 3.75
    footer_in = 1.05
    width = 7.0
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(width, block_in * len(functions) + footer_in), layout="constrained")
        subfigs = fig.subfigures(len(functions) + 1, 1, height_ratios=[block_in] * len(functions) + [footer_in])
        try:
            for block, function in zip(subfigs[:-1], functions):
                rows = values[values["function"] == function]
                log_k = bool(settings.get(function, {}).get("log_k", False))
                grid = block.add_gridspec(2, 6, height_ratios=[2.7, 1.0])
                top_axes = [block.add_subplot(grid[0, 0:3]), block.add_subplot(grid[0, 3:6])]
                for ax, param in zip(top_axes, params):
                    _variance_panel(ax, rows[rows["param"] == param], estimators, log_k)
                    ax.set_title(_PARAM_TITLES.get(param, param), fontsize=9.5)
                top_axes[0].set_ylabel("variance of a single-sample estimate")
                cartoon_k = list(settings.get(function, {}).get("cartoon_k", []))[:3]
                (x_lo, x_hi), ylim = _CARTOON.get(function, ((-5.0, 5.0), None))
                x = np.linspace(x_lo, x_hi, 801)
                for j, k in enumerate(cartoon_k):
                    ax = block.add_subplot(grid[1, 2 * j : 2 * j + 2])
                    value, slope = function_and_derivative(function, float(k), x)
                    ax.axvline(mu, color="0.75", lw=0.8, linestyle=":", zorder=1)
                    ax.plot(x, value, color="black", lw=1.2, zorder=2)
                    ax.plot(x, slope, color="black", lw=1.0, linestyle=(0, (4, 2)), zorder=2)
                    if ylim is not None:
                        ax.set_ylim(*ylim)
                    ax.set_xlim(x_lo, x_hi)
                    ax.grid(False)
                    ax.tick_params(labelsize=7.5, length=2, pad=1)
                    ax.set_title(f"$k = {float(k):g}$", fontsize=8.5, pad=2)
                block.suptitle(_FUNCTION_TITLES.get(function, function), fontsize=11)

            footer = subfigs[-1]
            looks = styles.style_map(estimators)
            handles = [Line2D([], [], markeredgecolor="white", markersize=5.5, **looks[e].kwargs()) for e in estimators]
            labels = [LABELS.get(e, e) for e in estimators]
            footer.legend(
                handles,
                labels,
                loc="upper center",
                ncol=2,
                frameon=False,
                handlelength=2.6,
                columnspacing=1.6,
                bbox_to_anchor=(0.5, 1.0),
            )
            seeds_text = f"R = {seeds[0]} seeds" if len(seeds) == 1 else "R seeds"
            caption = (
                f"x ~ N(μ, σ²), μ = {mu:g}, σ = {sigma:g}.  Lines: exact variance of a single-sample estimate "
                "(1-D quadrature).\n"
                f"Markers: Monte Carlo variance of n = 1 estimates, {seeds_text} (shared by all k), 95% intervals.\n"
                "Small panels: f (solid) and f′ (dashed) at three values of k; dotted: μ."
            )
            footer.text(
                0.5,
                0.03,
                caption,
                ha="center",
                va="bottom",
                fontsize=_CAPTION_PT,
                color="0.25",
                linespacing=1.45,
                transform=footer.transSubfigure,
            )
            return save_figure(fig, stem)
        finally:
            plt.close(fig)


def plot_work_variance(table: pd.DataFrame, stem: str | Path, *, title: str | None = None) -> list[Path]:
    """Cost-adjusted variance against n: ``work_var = var x n x evals_per_sample``, one log-log panel per
    parameter, 95% bands (the variance interval scaled the same way) and the exact value (dotted) where known.

    For an estimator that averages n i.i.d. terms, work_var is flat in n at (single-sample variance) x
    (evaluations per sample): the variance it reaches per evaluation of f, the fair comparison when the
    estimators cost different numbers of evaluations.

    Args:
      table: a results table with the extra columns ``evals_per_sample`` and ``work_var``.
      stem: output path without suffix; writes ``stem.png`` and ``stem.pdf`` atomically.
      title: figure title (default: the problem).

    Returns:
      ``[stem.png, stem.pdf]``.
    """
    needed = ("estimator", "param", "n", "var", "var_lo", "var_hi", "var_exact", "evals_per_sample", "work_var")
    missing = [c for c in needed if c not in table.columns]
    if missing or len(table) == 0:
        raise ValueError(f"table lacks columns {missing} or has no rows")
    stem = Path(stem)
    estimators = list(dict.fromkeys(table["estimator"]))
    params = list(dict.fromkeys(table["param"]))
    cols = min(len(params), 4 if len(params) != 6 else 3)
    rows_n = -(-len(params) // cols)
    if title is None and "problem" in table.columns and table["problem"].nunique() == 1:
        title = str(table["problem"].iloc[0]).replace("$", r"\$")
    with plt.rc_context(STYLE):
        legend_rows = -(-(len(estimators) + 1) // (3 if cols < 4 else 4))
        footer_in = 0.19 * legend_rows + 0.32
        width = max(3.0 * cols, 6.5)
        title = wrap_title(title, width - 0.3)
        panels_in = 2.7 * rows_n + 0.6 + (0.18 * title.count("\n") if title else 0.0)
        fig = plt.figure(figsize=(width, panels_in + footer_in), layout="constrained")
        top, footer = fig.subfigures(2, 1, height_ratios=[panels_in, footer_in])
        axes = top.subplots(rows_n, cols, squeeze=False, sharex=True).ravel()
        try:
            for ax in axes[len(params) :]:
                ax.remove()
            looks = styles.style_map(estimators)
            shifts, largest = dodge_factors(table["n"].to_numpy(float), len(estimators))
            for ax, param in zip(axes, params):
                for index, estimator in enumerate(estimators):
                    style = looks[estimator].kwargs()
                    mask = (table["param"] == param) & (table["estimator"] == estimator)
                    cell = table[mask].sort_values("n")
                    factor = (cell["n"] * cell["evals_per_sample"]).to_numpy(float)
                    n = cell["n"].to_numpy(float) * shifts[index]
                    work = cell["work_var"].to_numpy(float)
                    ok = _positive(work)
                    if np.any(ok):
                        ax.plot(n[ok], work[ok], markersize=3.5, lw=1.3, zorder=3, **style)
                        lo = (cell["var_lo"].to_numpy(float) * factor)[ok]
                        hi = (cell["var_hi"].to_numpy(float) * factor)[ok]
                        ax.fill_between(n[ok], lo, hi, color=style["color"], alpha=0.18, lw=0, zorder=2)
                    exact = cell["var_exact"].to_numpy(float) * factor
                    good = _positive(exact)
                    if np.any(good):
                        ax.plot(n[good], exact[good], color=style["color"], linestyle=":", lw=1.2, zorder=4)
                ax.set_xscale("log")
                ax.set_yscale("log")
                ns = np.unique(table["n"].to_numpy(float))
                if len(ns) <= 9:
                    ax.xaxis.set_major_locator(FixedLocator(ns))
                    ax.xaxis.set_minor_locator(NullLocator())
                ax.xaxis.set_major_formatter(_PLAIN)
                ax.yaxis.set_major_formatter(_PLAIN)
                ax.yaxis.set_minor_formatter(_PLAIN_MINOR)
                ax.set_title(param_label(str(param)))
                ax.tick_params(which="both", direction="out")
            top.supxlabel("sample size $n$")
            top.supylabel("variance × evaluations of f")
            if title:
                top.suptitle(title, fontsize=9.5)
            handles = [Line2D([], [], markersize=4, **looks[e].kwargs()) for e in estimators]
            handles.append(Line2D([], [], color="0.45", linestyle=":", lw=1.2))
            labels = [str(e) for e in estimators] + ["exact (i.i.d. estimators)"]
            footer.legend(
                handles,
                labels,
                loc="upper center",
                ncol=3 if cols < 4 else 4,
                frameon=False,
                fontsize=8.5,
                handlelength=2.4,
                columnspacing=1.2,
                bbox_to_anchor=(0.5, 1.0),
            )
            seeds = table["n_seeds"].to_numpy() if "n_seeds" in table.columns else np.array([0])
            footer.text(
                0.5,
                0.02,
                f"variance of an n-sample estimate × n × evaluations of f per sample (flat in n for i.i.d. averages); "
                f"R = {int(seeds.min())} seeds; shaded: 95% CI"
                + (f"; markers staggered in n by up to ±{100 * largest:.0f}%." if largest else "."),
                ha="center",
                va="bottom",
                fontsize=_CAPTION_PT,
                color="0.25",
                transform=footer.transSubfigure,
            )
            return save_figure(fig, stem)
        finally:
            plt.close(fig)

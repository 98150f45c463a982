"""Figures of the LQR horizon and GAE experiments, drawn from their saved tables only.

* :func:`draw_horizon` (``lqr-horizon``): variance of the n-trajectory estimate against the horizon H, with
  95% CI bands and the exact variance dotted, and below it the variance ratio against REINFORCE on the same
  seeds with its paired interval; ``bias.png`` shows each estimate's standardised bias (bias / standard
  error) against H.
* :func:`draw_variance` (``lqr-variance``, ``lqr-pgpe``): the standard variance-against-n figure,
  ``bias.png`` as the standardised bias against n (every default estimator is unbiased) and ``ratio.png``,
  the paired variance ratio against REINFORCE (:func:`pgjax.plotting.variance.plot_ratio`).
* :func:`draw_dimension` (``wu2018``): variance of the estimate against the action dimension D, log-log, the
  exact variance as a line and the Monte Carlo variance as points with their 95% intervals, and below it the
  variance ratio against REINFORCE (exact line, paired Monte Carlo interval);
* :func:`draw_gae` (``lqr-gae``): bias, variance, MSE and the paired variance ratio against REINFORCE of
  GAE(lambda) against lambda, one line per critic, exact values dotted, reference estimators as horizontal
  lines; ``bias.png`` the bias alone.

Each writes ``figure.{png,pdf}`` and ``bias.{png,pdf}`` (``draw_variance`` also ``ratio.{png,pdf}``),
replacing the generic figures of :func:`pgjax.plotting.variance.draw_all` where those do not fit the table. Every
estimator has its fixed style of :mod:`pgjax.styles` (the same in every figure); titles name every problem
parameter of the manifest (:func:`pgjax.plotting.variance.figure_title`); every file is written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from pgjax import io as pio
from pgjax import styles
from pgjax.analysis import stats
from pgjax.plotting.variance import (
    STYLE,
    figure_title,
    has_ratios,
    ordered_unique,
    param_label,
    plot_ratio,
    ratio_axis,
    ratio_reference,
    save_figure,
    settings_caption,
    wrap_title,
)
from pgjax.plotting.variance import (
    _wrap as _measured_wrap,
)

__all__ = ["draw_dimension", "draw_gae", "draw_horizon", "draw_variance"]

_GREY = "0.45"


def _style(name: str, names: Sequence[str]) -> dict:
    """Plot keyword arguments of estimator ``name``: its fixed style (:mod:`pgjax.styles`), resolved among
    all the estimators ``names`` of the table, so that it is the same in every figure."""
    return styles.style_map(names)[name].kwargs()


def _width(cols: int, panel_w: float) -> float:
    return max(panel_w * cols, 7.0)


def _legend_columns(labels: Sequence[str], width_in: float) -> int:
    longest = max(len(label) for label in labels)
    per = 0.068 * longest + 0.7  # inches per legend column at 9 pt, handle included
    return max(1, min(len(labels), int(width_in // per)))


def _wrap(lines: Sequence[str], width_in: float) -> list[str]:
    """Caption lines wrapped to ``width_in`` inches (measured in the figure font, breaking after "; ")."""
    with plt.rc_context(STYLE):
        return _measured_wrap(lines, width_in)


def _figure(rows: int, cols: int, legend_rows: int, caption_lines: int, panel=(3.6, 2.5), title: str | None = None):
    width = _width(cols, panel[0])
    title_lines = len(title.split("\n")) if title else 0
    panels_h = panel[1] * rows + 0.5 + 0.2 * title_lines
    footer_h = (legend_rows * 9 * 1.8 + caption_lines * 9 * 1.45 + 14) / 72
    fig = plt.figure(figsize=(width, panels_h + footer_h), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[panels_h, footer_h])
    axes = top.subplots(rows, cols, squeeze=False, sharex=True)
    if title:
        top.suptitle(title)
    return fig, top, bottom, axes


def _footer(bottom, handles, labels, caption: Sequence[str], ncol: int) -> None:
    bottom.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=ncol,
        frameon=False,
        handlelength=2.6,
        columnspacing=1.6,
        borderaxespad=0.1,
    )
    bottom.text(
        0.5,
        0.0,
        "\n".join(caption),
        ha="center",
        va="bottom",
        fontsize=9,
        color="0.25",
        linespacing=1.4,
        transform=bottom.transSubfigure,
    )


def _log_x_ticks(ax, xs) -> None:
    xs = np.unique(np.asarray(xs, float))
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    if len(xs) > 1:
        pad = (xs[-1] / xs[0]) ** 0.04
        ax.set_xlim(xs[0] / pad, xs[-1] * pad)


def _positive(x) -> np.ndarray:
    x = np.asarray(x, float)
    return np.isfinite(x) & (x > 0)


def _handles(names, all_names):
    handles, labels = [], []
    for name in names:
        handles.append(Line2D([], [], **_style(name, all_names)))
        labels.append(str(name).replace("$", r"\$"))
    return handles, labels


def _manifest(folder: Path) -> dict:
    try:
        return pio.read_manifest(folder)
    except pio.ResultsError:
        return {}


def _title(manifest: dict, table: pd.DataFrame, width: float) -> str | None:
    """``experiment: problem`` and the problem parameters the description leaves out, wrapped to ``width``."""
    with plt.rc_context(STYLE):
        return wrap_title(figure_title(manifest, table), width - 0.3)


def _settings(manifest: dict, names) -> list[str]:
    note = settings_caption(manifest, names)
    return [note] if note else []


def _ratio_panel(ax, cell_x, ratio, lo, hi, style, shift=1.0) -> None:
    """Variance ratios with their paired intervals as error bars (log y)."""
    ok = _positive(ratio)
    if not np.any(ok):
        return
    lower = np.where(_positive(lo[ok]), ratio[ok] - lo[ok], 0.0)
    upper = np.where(np.isfinite(hi[ok]), hi[ok] - ratio[ok], 0.0)
    ax.errorbar(
        cell_x[ok] * shift,
        ratio[ok],
        yerr=np.vstack([np.maximum(lower, 0), np.maximum(upper, 0)]),
        capsize=2.0,
        linewidth=1.2,
        elinewidth=0.9,
        zorder=3,
        **style,
    )


# ------------------------------------------------------------------------------------------------ horizon
def draw_horizon(folder: str | Path) -> list[Path]:
    """``figure`` (variance against H and, below, the variance ratio against REINFORCE on the same seeds with
    its paired interval) and ``bias`` (standardised bias against H)."""
    folder = Path(folder)
    table = pio.read_table(folder)
    if "horizon" not in table.columns:
        raise pio.ResultsError(f"{folder / pio.TABLE_FILE}: not an lqr-horizon table (no horizon column)")
    manifest = _manifest(folder)
    estimators = ordered_unique(table["estimator"])
    params = ordered_unique(table["param"])
    horizons = np.sort(table["horizon"].unique()).astype(float)
    n_values = ordered_unique(table["n"])
    seeds = int(table["n_seeds"].min())
    paths: list[Path] = []
    has_ratio = has_ratios(table)
    reference = ratio_reference(table) if has_ratio else None
    rows = 2 if has_ratio else 1
    handles, labels = _handles(estimators, estimators)
    has_exact = np.any(_positive(table["var_exact"]))
    if has_exact:
        handles.append(Line2D([], [], color=_GREY, linestyle=":", linewidth=1.3))
        labels.append("exact")
    width = _width(len(params), 3.6)
    title = _title(manifest, table, width)
    ncol = _legend_columns(labels, width - 0.3)
    stagger = 1.03
    caption = [
        f"n = {', '.join(str(n) for n in n_values)} trajectories per estimate; R = {seeds} seeds per point; "
        f"shaded: 95% CI ({stats.INTERVAL_LABELS[stats.DEFAULT_INTERVAL]}); dotted: exact variance; markers staggered "
        "in H for legibility.",
    ]
    if has_ratio:
        caption.append(
            f"Bottom: variance / variance of {reference} on the same seeds (solid line at 1); bars: "
            "paired 95% CI of the ratio."
        )
    caption += _settings(manifest, estimators)
    caption = _wrap(caption, width - 0.3)
    with plt.rc_context(STYLE):
        fig, top, bottom, axes = _figure(rows, len(params), -(-len(labels) // ncol), len(caption), title=title)
        try:
            for col, param in enumerate(params):
                sub = table[table["param"] == param]
                for idx, est in enumerate(estimators):
                    style = _style(est, estimators)
                    shift = stagger ** (idx - (len(estimators) - 1) / 2)
                    cell = sub[sub["estimator"] == est].sort_values("horizon")
                    h = cell["horizon"].to_numpy(float) * shift
                    ax = axes[0, col]
                    v = cell["var"].to_numpy(float)
                    ok = _positive(v)
                    if np.any(ok):
                        ax.plot(h[ok], v[ok], zorder=3, **style)
                        ax.fill_between(
                            h[ok],
                            cell["var_lo"].to_numpy(float)[ok],
                            cell["var_hi"].to_numpy(float)[ok],
                            color=style["color"],
                            alpha=0.2,
                            linewidth=0,
                            zorder=2,
                        )
                    e = cell["var_exact"].to_numpy(float)
                    good = _positive(e)
                    if np.any(good):
                        ax.plot(h[good], e[good], color=style["color"], linestyle=":", linewidth=1.3, zorder=4)
                    if has_ratio and est != reference:
                        _ratio_panel(
                            axes[1, col],
                            h,
                            cell["var_ratio"].to_numpy(float),
                            cell["var_ratio_lo"].to_numpy(float),
                            cell["var_ratio_hi"].to_numpy(float),
                            style,
                        )
                axes[0, col].set_title(param_label(str(param)))
                for row in range(rows):
                    ax = axes[row, col]
                    ax.set_yscale("log")
                    _log_x_ticks(ax, horizons)
                    ax.tick_params(which="both", direction="out")
                if has_ratio:
                    ref_style = {k: v for k, v in _style(reference, estimators).items() if k != "marker"}
                    axes[1, col].axhline(1.0, linewidth=1.2, zorder=2, **ref_style)
                    ratio_axis(axes[1, col])
            axes[0, 0].set_ylabel("variance of estimate")
            if has_ratio:
                axes[1, 0].set_ylabel(f"variance / {reference}'s")
            top.supxlabel("horizon $H$")
            _footer(bottom, handles, labels, caption, ncol)
            paths += save_figure(fig, folder / "figure")
        finally:
            plt.close(fig)

    # Standardised bias: every estimator here is unbiased, so bias / se should scatter in about +-2.
    paths += _standardised_bias(
        table,
        folder / "bias",
        x="horizon",
        xlabel="horizon $H$",
        stagger=1.04,
        width=width,
        ncol=ncol,
        title=title,
        caption=f"R = {seeds} seeds per point; grey band: |bias| < 2 standard errors (where an unbiased "
        "estimate falls 95% of the time); points staggered in H for legibility.",
    )
    return paths


# ---------------------------------------------------------------------------------------------- dimension
def draw_dimension(folder: str | Path) -> list[Path]:
    """``figure``: per coordinate, the variance of the estimate against the action dimension D (log-log; solid
    line: exact; markers: Monte Carlo with its 95% interval) and, below, the variance ratio against REINFORCE
    (solid line: exact ratio; markers: paired Monte Carlo ratio with its interval)."""
    folder = Path(folder)
    table = pio.read_table(folder)
    if "dim" not in table.columns:
        raise pio.ResultsError(f"{folder / pio.TABLE_FILE}: not a wu2018 table (no dim column)")
    manifest = _manifest(folder)
    estimators = ordered_unique(table["estimator"])
    params = ordered_unique(table["param"])
    dims = np.sort(table["dim"].unique()).astype(float)
    n_values = ordered_unique(table["n"])
    seeds = int(table["n_seeds"].min())
    has_ratio = has_ratios(table)
    reference = ratio_reference(table) if has_ratio else None
    rows = 2 if has_ratio else 1
    handles, labels = _handles(estimators, estimators)
    handles.append(Line2D([], [], color=_GREY, linestyle="-", linewidth=1.3))
    labels.append("exact")
    handles.append(Line2D([], [], color=_GREY, linestyle="none", marker="o"))
    labels.append("Monte Carlo, 95% CI")
    width = _width(len(params), 3.8)
    title = _title(manifest, table, width)
    ncol = _legend_columns(labels, width - 0.3)
    stagger = 1.05
    caption = [
        f"n = {', '.join(str(n) for n in n_values)} samples per estimate; R = {seeds} seeds per point; lines: exact "
        f"variance (closed form); markers: Monte Carlo variance with its 95% CI "
        f"({stats.INTERVAL_LABELS[stats.DEFAULT_INTERVAL]}), staggered in D for legibility; every coordinate of a "
        "block has the law of the one shown."
    ]
    if has_ratio:
        caption.append(
            f"Bottom: variance / variance of {reference} on the same seeds; line: exact; bars: paired 95% CI."
        )
    caption = _wrap(caption, width - 0.3)
    paths: list[Path] = []
    with plt.rc_context(STYLE):
        fig, top, bottom, axes = _figure(
            rows, len(params), -(-len(labels) // ncol), len(caption), panel=(3.8, 2.8), title=title
        )
        try:
            for col, param in enumerate(params):
                sub = table[table["param"] == param]
                ref = sub[sub["estimator"] == reference].set_index("dim")["var_exact"] if has_ratio else None
                for idx, est in enumerate(estimators):
                    style = _style(est, estimators)
                    line = {"color": style["color"], "linestyle": "-", "linewidth": 1.3}
                    dots = {k: v for k, v in style.items() if k != "linestyle"} | {"linestyle": "none"}
                    shift = stagger ** (idx - (len(estimators) - 1) / 2)
                    cell = sub[sub["estimator"] == est].sort_values("dim")
                    d = cell["dim"].to_numpy(float)
                    e = cell["var_exact"].to_numpy(float)
                    good = _positive(e)
                    ax = axes[0, col]
                    if np.any(good):
                        ax.plot(d[good], e[good], zorder=2, **line)
                    v = cell["var"].to_numpy(float)
                    ok = _positive(v)
                    if np.any(ok):
                        lo, hi = cell["var_lo"].to_numpy(float)[ok], cell["var_hi"].to_numpy(float)[ok]
                        yerr = np.vstack(
                            [np.maximum(v[ok] - np.where(_positive(lo), lo, v[ok]), 0), np.maximum(hi - v[ok], 0)]
                        )
                        ax.errorbar(d[ok] * shift, v[ok], yerr=yerr, capsize=2.0, elinewidth=0.9, zorder=3, **dots)
                    if has_ratio and est != reference:
                        exact_ratio = e / ref.reindex(cell["dim"]).to_numpy(float)
                        fine = _positive(exact_ratio)
                        if np.any(fine):
                            axes[1, col].plot(d[fine], exact_ratio[fine], zorder=2, **line)
                        _ratio_panel(
                            axes[1, col],
                            d,
                            cell["var_ratio"].to_numpy(float),
                            cell["var_ratio_lo"].to_numpy(float),
                            cell["var_ratio_hi"].to_numpy(float),
                            dots,
                            shift,
                        )
                axes[0, col].set_title(param_label(str(param)))
                for row in range(rows):
                    ax = axes[row, col]
                    ax.set_yscale("log")
                    _log_x_ticks(ax, dims)
                    ax.tick_params(axis="x", labelrotation=45)
                    ax.tick_params(which="both", direction="out")
                if has_ratio:
                    axes[1, col].axhline(1.0, color=_GREY, linestyle="--", linewidth=1.0, zorder=1)
            axes[0, 0].set_ylabel("variance of estimate")
            if has_ratio:
                axes[1, 0].set_ylabel(f"variance / {reference}'s")
            top.supxlabel("action dimension $D$")
            _footer(bottom, handles, labels, caption, ncol)
            paths += save_figure(fig, folder / "figure")
        finally:
            plt.close(fig)
    return paths


def _standardised_bias(
    table, stem: Path, *, x: str, xlabel: str, stagger: float, width: float, ncol: int, caption: str, title: str | None
) -> list[Path]:
    """bias / standard error of each estimator against ``x`` (log axis), one panel per parameter, with the
    +-2 band where an unbiased estimate falls 95% of the time; points staggered by factors of ``stagger``."""
    estimators = ordered_unique(table["estimator"])
    params = ordered_unique(table["param"])
    xs = np.sort(table[x].unique()).astype(float)
    cap = _wrap([caption], width - 0.3)
    with plt.rc_context(STYLE):
        fig, top, bottom, axes = _figure(1, len(params), -(-len(estimators) // ncol), len(cap), title=title)
        try:
            for col, param in enumerate(params):
                ax = axes[0, col]
                sub = table[table["param"] == param]
                ax.axhspan(-2, 2, color="0.9", zorder=0)
                ax.axhline(0.0, color=_GREY, linewidth=0.8)
                for idx, est in enumerate(estimators):
                    cell = sub[sub["estimator"] == est].sort_values(x)
                    z = cell["bias"].to_numpy(float) / cell["bias_se"].to_numpy(float)
                    shift = stagger ** (idx - (len(estimators) - 1) / 2)
                    ax.plot(cell[x].to_numpy(float) * shift, z, zorder=3, **_style(est, estimators))
                _log_x_ticks(ax, xs)
                ax.set_title(param_label(str(param)))
            axes[0, 0].set_ylabel("bias / standard error")
            top.supxlabel(xlabel)
            h, lab = _handles(estimators, estimators)
            _footer(bottom, h, lab, cap, ncol)
            return save_figure(fig, stem)
        finally:
            plt.close(fig)


# ---------------------------------------------------------------------------------------------------- GAE
def draw_gae(folder: str | Path) -> list[Path]:
    """``figure`` (bias, variance, MSE and the variance ratio against REINFORCE, against lambda) and ``bias``
    (bias against lambda)."""
    folder = Path(folder)
    table = pio.read_table(folder)
    for col in ("lam", "critic"):
        if col not in table.columns:
            raise pio.ResultsError(f"{folder / pio.TABLE_FILE}: not an lqr-gae table (no {col} column)")
    manifest = _manifest(folder)
    params = ordered_unique(table["param"])
    is_gae = np.isfinite(table["lam"].to_numpy(float))
    gae = table[is_gae]
    refs = table[~is_gae]
    names = ordered_unique(table["estimator"])  # styles resolved among every estimator of the table
    critics = ordered_unique(gae["estimator"])
    ref_names = ordered_unique(refs["estimator"]) if len(refs) else []
    lams = np.sort(gae["lam"].unique())
    seeds = int(table["n_seeds"].min())
    n_values = ordered_unique(table["n"])
    has_bias_exact = "bias_exact" in table.columns
    has_ratio = has_ratios(table)
    reference = ratio_reference(table) if has_ratio else None
    ratio_refs = [r for r in ref_names if r != reference]
    rows = 4 if has_ratio else 3

    handles, labels = _handles(critics, names)
    for ref in ref_names:
        style = _style(ref, names)
        handles.append(Line2D([], [], color=style["color"], linestyle=(0, (5, 3)), linewidth=1.2))
        labels.append(f"{ref} (no lambda)")
    handles.append(Line2D([], [], color=_GREY, linestyle=":", linewidth=1.3))
    labels.append("exact")
    width = _width(len(params), 3.6)
    title = _title(manifest, table, width)
    ncol = _legend_columns(labels, width - 0.3)
    stagger = 0.004  # lambda offsets between the critics, so their bars do not overlap
    caption = [
        f"n = {', '.join(str(n) for n in n_values)} trajectories per estimate; R = {seeds} seeds per point; "
        "bars: +-2 standard errors; shaded: 95% CI of the variance; dotted: exact values; dashed: estimators "
        "without lambda.",
        "Critics: exact V_t (unbiased for every lambda), stationary (V_0 at every step: biased for lambda < 1), "
        "learned (per-step quadratic fitted on a pilot batch).",
    ]
    if has_ratio:
        caption.append(
            f"Bottom: variance / variance of {reference} on the same seeds; bars: paired 95% CI of the ratio."
        )
    caption += _settings(manifest, names)
    caption = _wrap(caption, width - 0.3)

    def panel_bias(ax, sub, scale):
        ax.axhline(0.0, color=_GREY, linewidth=0.8, zorder=1)
        for order, est in enumerate(critics):
            style = _style(est, names)
            cell = sub[sub["estimator"] == est].sort_values("lam")
            lam = cell["lam"].to_numpy(float) + stagger * (order - (len(critics) - 1) / 2)
            y = cell["bias"].to_numpy(float) / scale
            err = 2 * cell["bias_se"].to_numpy(float) / scale
            ax.errorbar(lam, y, yerr=err, capsize=2.0, linewidth=1.2, elinewidth=0.9, zorder=3, **style)
            if has_bias_exact:
                e = cell["bias_exact"].to_numpy(float) / scale
                if np.any(np.isfinite(e)):
                    ax.plot(
                        cell["lam"].to_numpy(float), e, color=style["color"], linestyle=":", linewidth=1.3, zorder=4
                    )

    with plt.rc_context(STYLE):
        fig, top, bottom, axes = _figure(rows, len(params), -(-len(labels) // ncol), len(caption), title=title)
        try:
            for col, param in enumerate(params):
                sub = gae[gae["param"] == param]
                ref_sub = refs[refs["param"] == param]
                grad = np.abs(sub["true_grad"].to_numpy(float))
                scale = float(np.nanmax(grad)) if np.any(grad > 0) else 1.0
                panel_bias(axes[0, col], sub, scale)
                axes[0, col].set_title(param_label(str(param)))
                for row, (y, lo, hi) in ((1, ("var", "var_lo", "var_hi")), (2, ("mse", None, None))):
                    ax = axes[row, col]
                    for est in critics:
                        style = _style(est, names)
                        cell = sub[sub["estimator"] == est].sort_values("lam")
                        lam = cell["lam"].to_numpy(float)
                        v = cell[y].to_numpy(float)
                        ok = _positive(v)
                        ax.plot(lam[ok], v[ok], zorder=3, **style)
                        if lo is not None:
                            ax.fill_between(
                                lam[ok],
                                cell[lo].to_numpy(float)[ok],
                                cell[hi].to_numpy(float)[ok],
                                color=style["color"],
                                alpha=0.2,
                                linewidth=0,
                                zorder=2,
                            )
                        exact = cell["var_exact"].to_numpy(float)
                        if y == "mse" and has_bias_exact:
                            exact = exact + cell["bias_exact"].to_numpy(float) ** 2
                        good = _positive(exact)
                        if np.any(good):
                            ax.plot(
                                lam[good], exact[good], color=style["color"], linestyle=":", linewidth=1.3, zorder=4
                            )
                    for ref in ref_names:
                        style = _style(ref, names)
                        value = ref_sub.loc[ref_sub["estimator"] == ref, y].to_numpy(float)
                        if value.size and _positive(value[:1]).all():
                            ax.axhline(value[0], color=style["color"], linestyle=(0, (5, 3)), linewidth=1.2, zorder=2)
                    ax.set_yscale("log")
                if has_ratio:
                    ax = axes[3, col]
                    ref_style = {k: v for k, v in _style(reference, names).items() if k != "marker"}
                    ax.axhline(1.0, linewidth=1.2, zorder=2, **{**ref_style, "linestyle": (0, (5, 3))})
                    for order, est in enumerate(critics):
                        cell = sub[sub["estimator"] == est].sort_values("lam")
                        lam = cell["lam"].to_numpy(float) + stagger * (order - (len(critics) - 1) / 2)
                        _ratio_panel(
                            ax,
                            lam,
                            cell["var_ratio"].to_numpy(float),
                            cell["var_ratio_lo"].to_numpy(float),
                            cell["var_ratio_hi"].to_numpy(float),
                            _style(est, names),
                        )
                    for ref in ratio_refs:
                        style = _style(ref, names)
                        cell = ref_sub[ref_sub["estimator"] == ref]
                        if len(cell) and _positive(cell["var_ratio"].to_numpy(float)[:1]).all():
                            r = cell.iloc[0]
                            ax.axhline(
                                r["var_ratio"], color=style["color"], linestyle=(0, (5, 3)), linewidth=1.2, zorder=2
                            )
                            if np.isfinite(r["var_ratio_lo"]) and np.isfinite(r["var_ratio_hi"]):
                                ax.axhspan(
                                    r["var_ratio_lo"],
                                    r["var_ratio_hi"],
                                    color=style["color"],
                                    alpha=0.15,
                                    linewidth=0,
                                    zorder=0,
                                )
                    ratio_axis(ax)
                for row in range(rows):
                    axes[row, col].set_xlim(lams.min() - 0.03, lams.max() + 0.03)
                    axes[row, col].tick_params(which="both", direction="out")
            axes[0, 0].set_ylabel("bias / |true gradient|")
            axes[1, 0].set_ylabel("variance")
            axes[2, 0].set_ylabel("MSE")
            if has_ratio:
                axes[3, 0].set_ylabel(f"variance / {reference}'s")
            top.supxlabel(r"GAE $\lambda$")
            _footer(bottom, handles, labels, caption, ncol)
            paths = save_figure(fig, folder / "figure")
        finally:
            plt.close(fig)

    with plt.rc_context(STYLE):
        h, lab = _handles(critics, names)
        h.append(Line2D([], [], color=_GREY, linestyle=":", linewidth=1.3))
        lab.append("exact bias")
        cap = _wrap(
            [
                f"R = {seeds} seeds per point; bars: +-2 standard errors; bias relative to the largest "
                "|true gradient| of the panel's coordinate.",
                *_settings(manifest, critics),
            ],
            width - 0.3,
        )
        ncol_b = _legend_columns(lab, width - 0.3)
        fig, top, bottom, axes = _figure(1, len(params), -(-len(lab) // ncol_b), len(cap), title=title)
        try:
            for col, param in enumerate(params):
                sub = gae[gae["param"] == param]
                grad = np.abs(sub["true_grad"].to_numpy(float))
                scale = float(np.nanmax(grad)) if np.any(grad > 0) else 1.0
                panel_bias(axes[0, col], sub, scale)
                axes[0, col].set_title(param_label(str(param)))
                axes[0, col].set_xlim(lams.min() - 0.03, lams.max() + 0.03)
            axes[0, 0].set_ylabel("bias / |true gradient|")
            top.supxlabel(r"GAE $\lambda$")
            _footer(bottom, h, lab, cap, ncol_b)
            paths += save_figure(fig, folder / "bias")
        finally:
            plt.close(fig)
    return paths


# ------------------------------------------------------------------------------------------- lqr-variance
def draw_variance(folder: str | Path) -> list[Path]:
    """``figure``: the standard variance-against-n figure (:func:`pgjax.plotting.variance.plot_variance`); ``bias``: each
    estimate's standardised bias (bias / standard error) against n; ``ratio``: the variance ratio against
    REINFORCE on the same seeds with its paired interval (:func:`pgjax.plotting.variance.plot_ratio`). Every estimator
    of the default run is unbiased, so the relative-bias figure of :func:`pgjax.plotting.variance.plot_bias`, with its
    1/n guide, would only show noise; the standardised bias shows it as noise, in +-2."""
    from pgjax.plotting.variance import plot_variance

    folder = Path(folder)
    table = pio.read_table(folder)
    manifest = _manifest(folder)
    estimators = ordered_unique(table["estimator"])
    title = figure_title(manifest, table)
    notes = _settings(manifest, estimators)
    paths = plot_variance(table, folder / "figure", title=title, notes=notes)
    width = _width(len(ordered_unique(table["param"])), 3.6)
    _, labels = _handles(estimators, estimators)
    paths += _standardised_bias(
        table,
        folder / "bias",
        x="n",
        xlabel="sample size $n$",
        stagger=1.05,
        width=width,
        ncol=_legend_columns(labels, width - 0.3),
        title=_title(manifest, table, width),
        caption=f"R = {int(table['n_seeds'].min())} seeds per point; grey band: |bias| < 2 standard errors "
        "(where an unbiased estimate falls 95% of the time); points staggered in n for legibility.",
    )
    if has_ratios(table):
        paths += plot_ratio(table, folder / "ratio", title=title, notes=notes)
    return paths

"""Figures of the LQR horizon and GAE experiments, drawn from their saved tables only.

* :func:`draw_horizon` (``lqr-horizon``): variance of the n-trajectory estimate against the horizon H, with
  95% CI bands and the exact variance dotted, and the paired variance ratio against REINFORCE;
  ``bias.png`` shows each estimate's standardised bias (bias / standard error) against H.
* :func:`draw_variance` (``lqr-variance``): the standard variance-against-n figure, and ``bias.png`` as the
  standardised bias against n (every default estimator is unbiased).
* :func:`draw_gae` (``lqr-gae``): bias, variance and MSE of GAE(lambda) against lambda, one line per critic,
  exact values dotted, reference estimators as horizontal lines; ``bias.png`` the bias alone.

Each writes ``figure.{png,pdf}`` and ``bias.{png,pdf}``, replacing the generic figures of
:func:`pgjax.plots.draw_all` where those do not fit the table. Colours, markers and the rc style are
those of :mod:`pgjax.plots` (Okabe-Ito palette); every file is written atomically.
``python -m pgjax.plots_lqr DIR ...`` redraws the folders (dispatching on the manifest's experiment name).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator  # noqa: E402

from pgjax import results  # noqa: E402
from pgjax.plots import STYLE, estimator_style, ordered_unique, param_label, save_figure  # noqa: E402

__all__ = ["ESTIMATOR_ORDER", "draw", "draw_gae", "draw_horizon", "draw_variance"]

_GREY = "0.45"






#: Colour order of the LQR estimators, the default order of the lqr-variance experiment, so that an
#: estimator has the same colour and marker in every LQR figure.
ESTIMATOR_ORDER = (
    "reinforce",
    "constant_baseline",
    "optimal_baseline_exact",
    "reward_to_go",
    "reward_to_go_optimal",
    "value_baseline",
    "learned_value_baseline",
    "gae",
    "pathwise",
    "leave_one_out",
    "pgpe_symmetric",
)


def _style_index(name: str, names: Sequence[str]) -> int:
    """Position of ``name`` for :func:`pgjax.plots.estimator_style`: its place in :data:`ESTIMATOR_ORDER`
    (the part before any "[" counts), else after those, in table order."""
    base = str(name).split("[")[0]
    if base in ESTIMATOR_ORDER and "[" not in str(name):
        return ESTIMATOR_ORDER.index(base)
    others = [n for n in names if str(n).split("[")[0] not in ESTIMATOR_ORDER or "[" in str(n)]
    return len(ESTIMATOR_ORDER) + others.index(name)


#: Styles of the GAE critics (colours not used by the reference estimators of the GAE figure).
_CRITIC_STYLES = {
    "gae[exact]": {"color": "#009E73", "marker": "^", "linestyle": "-"},
    "gae[stationary]": {"color": "#D55E00", "marker": "s", "linestyle": "-"},
    "gae[learned]": {"color": "#E69F00", "marker": "v", "linestyle": "-"},
}


def _style(name: str, names: Sequence[str]) -> dict:
    if name in _CRITIC_STYLES:
        return dict(_CRITIC_STYLES[name])
    return estimator_style(_style_index(name, names))


def _width(cols: int, panel_w: float) -> float:
    return max(panel_w * cols, 7.0)


def _legend_columns(labels: Sequence[str], width_in: float) -> int:
    longest = max(len(label) for label in labels)
    per = 0.068 * longest + 0.7  # inches per legend column at 9 pt, handle included
    return max(1, min(len(labels), int(width_in // per)))


def _wrap(lines: Sequence[str], width_in: float) -> list[str]:
    import textwrap

    out: list[str] = []
    for line in lines:
        out.extend(textwrap.wrap(line, width=int(width_in * 15.5)))
    return out


def _figure(rows: int, cols: int, legend_rows: int, caption_lines: int, panel=(3.6, 2.5)):
    width = _width(cols, panel[0])
    panels_h = panel[1] * rows + 0.7
    footer_h = (legend_rows * 9 * 1.8 + caption_lines * 9 * 1.45 + 14) / 72
    fig = plt.figure(figsize=(width, panels_h + footer_h), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[panels_h, footer_h])
    axes = top.subplots(rows, cols, squeeze=False, sharex=True)
    return fig, top, bottom, axes


def _footer(bottom, handles, labels, caption: Sequence[str], ncol: int) -> None:
    bottom.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncol=ncol, frameon=False,
                  handlelength=2.6, columnspacing=1.6, borderaxespad=0.1)  # fmt: skip
    bottom.text(0.5, 0.0, "\n".join(caption), ha="center", va="bottom", fontsize=9, color="0.25",
                linespacing=1.4, transform=bottom.transSubfigure)  # fmt: skip


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
        style = _style(name, all_names)
        handles.append(Line2D([], [], color=style["color"], marker=style["marker"], linestyle=style["linestyle"]))
        labels.append(str(name).replace("$", r"\$"))
    return handles, labels


def _title(table: pd.DataFrame) -> str:
    exp = ordered_unique(table["experiment"])[0] if "experiment" in table else ""
    prob = ordered_unique(table["problem"])[0] if "problem" in table else ""
    return f"{exp}: {prob}".replace("$", r"\$")


# ------------------------------------------------------------------------------------------------ horizon
def draw_horizon(folder: str | Path) -> list[Path]:
    """``figure`` (variance and variance ratio against H) and ``bias`` (standardised bias against H)."""
    folder = Path(folder)
    table = results.read_table(folder)
    if "horizon" not in table.columns:
        raise results.ResultsError(f"{folder / results.TABLE_FILE}: not an lqr-horizon table (no horizon column)")
    estimators = ordered_unique(table["estimator"])
    params = ordered_unique(table["param"])
    horizons = np.sort(table["horizon"].unique()).astype(float)
    n_values = ordered_unique(table["n"])
    seeds = int(table["n_seeds"].min())
    paths: list[Path] = []
    has_ratio = np.any(np.isfinite(table["var_ratio"].to_numpy(float)))
    rows = 2 if has_ratio else 1
    handles, labels = _handles(estimators, estimators)
    has_exact = np.any(_positive(table["var_exact"]))
    if has_exact:
        handles.append(Line2D([], [], color=_GREY, linestyle=":", linewidth=1.3))
        labels.append("exact")
    width = _width(len(params), 3.6)
    ncol = _legend_columns(labels, width - 0.3)
    caption = [
        f"n = {', '.join(str(n) for n in n_values)} trajectories per estimate; R = {seeds} seeds per point; "
        "shaded: 95% CI (kurtosis-adjusted, log scale); dotted: exact variance.",
    ]
    if has_ratio:
        caption.append("Bottom: variance / variance of REINFORCE on the same seeds (paired 95% CI).")
    caption = _wrap(caption, width - 0.3)
    with plt.rc_context(STYLE):
        fig, top, bottom, axes = _figure(rows, len(params), -(-len(labels) // ncol), len(caption))
        try:
            for col, param in enumerate(params):
                sub = table[table["param"] == param]
                for idx, est in enumerate(estimators):
                    style = _style(est, estimators)
                    cell = sub[sub["estimator"] == est].sort_values("horizon")
                    h = cell["horizon"].to_numpy(float)
                    specs = [("var", "var_lo", "var_hi", "var_exact")]
                    if has_ratio:
                        specs.append(("var_ratio", "var_ratio_lo", "var_ratio_hi", None))
                    for row, (y, lo, hi, exact) in enumerate(specs):
                        ax = axes[row, col]
                        v = cell[y].to_numpy(float)
                        ok = _positive(v)
                        if y == "var_ratio" and est == "reinforce":
                            continue
                        if np.any(ok):
                            ax.plot(h[ok], v[ok], zorder=3, **style)
                            ax.fill_between(h[ok], cell[lo].to_numpy(float)[ok], cell[hi].to_numpy(float)[ok],
                                            color=style["color"], alpha=0.2, linewidth=0, zorder=2)  # fmt: skip
                        if exact is not None:
                            e = cell[exact].to_numpy(float)
                            good = _positive(e)
                            if np.any(good):
                                ax.plot(h[good], e[good], color=style["color"], linestyle=":", linewidth=1.3,
                                        zorder=4)  # fmt: skip
                axes[0, col].set_title(param_label(str(param)))
                for row in range(rows):
                    ax = axes[row, col]
                    ax.set_yscale("log")
                    _log_x_ticks(ax, horizons)
                    ax.tick_params(which="both", direction="out")
                if has_ratio:
                    axes[1, col].axhline(1.0, color=_GREY, linewidth=0.8, linestyle=(0, (5, 3)), zorder=1)
            axes[0, 0].set_ylabel("variance of estimate")
            if has_ratio:
                axes[1, 0].set_ylabel("variance / REINFORCE's")
            top.supxlabel("horizon $H$")
            top.suptitle(_title(table))
            _footer(bottom, handles, labels, caption, ncol)
            paths += save_figure(fig, folder / "figure")
        finally:
            plt.close(fig)

    # Standardised bias: every estimator here is unbiased, so bias / se should scatter in about +-2.
    paths += _standardised_bias(
        table, folder / "bias", x="horizon", xlabel="horizon $H$", stagger=1.04, width=width, ncol=ncol,
        caption=f"R = {seeds} seeds per point; grey band: |bias| < 2 standard errors (where an unbiased "
                "estimate falls 95% of the time).",
    )  # fmt: skip
    return paths


def _standardised_bias(table, stem: Path, *, x: str, xlabel: str, stagger: float, width: float, ncol: int,
                       caption: str) -> list[Path]:  # fmt: skip
    """bias / standard error of each estimator against ``x`` (log axis), one panel per parameter, with the
    +-2 band where an unbiased estimate falls 95% of the time; points staggered by factors of ``stagger``."""
    estimators = ordered_unique(table["estimator"])
    params = ordered_unique(table["param"])
    xs = np.sort(table[x].unique()).astype(float)
    cap = _wrap([caption], width - 0.3)
    with plt.rc_context(STYLE):
        fig, top, bottom, axes = _figure(1, len(params), -(-len(estimators) // ncol), len(cap))
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
            top.suptitle(_title(table))
            h, lab = _handles(estimators, estimators)
            _footer(bottom, h, lab, cap, ncol)
            return save_figure(fig, stem)
        finally:
            plt.close(fig)


# ---------------------------------------------------------------------------------------------------- GAE
def draw_gae(folder: str | Path) -> list[Path]:
    """``figure`` (bias, variance, MSE against lambda) and ``bias`` (bias against lambda)."""
    folder = Path(folder)
    table = results.read_table(folder)
    for col in ("lam", "critic"):
        if col not in table.columns:
            raise results.ResultsError(f"{folder / results.TABLE_FILE}: not an lqr-gae table (no {col} column)")
    params = ordered_unique(table["param"])
    is_gae = np.isfinite(table["lam"].to_numpy(float))
    gae = table[is_gae]
    refs = table[~is_gae]
    names = ordered_unique(table["estimator"])  # colours by position in the whole table
    critics = ordered_unique(gae["estimator"])
    ref_names = ordered_unique(refs["estimator"]) if len(refs) else []
    lams = np.sort(gae["lam"].unique())
    seeds = int(table["n_seeds"].min())
    n_values = ordered_unique(table["n"])
    has_bias_exact = "bias_exact" in table.columns

    handles, labels = _handles(critics, names)
    for ref in ref_names:
        style = _style(ref, names)
        handles.append(Line2D([], [], color=style["color"], linestyle=(0, (5, 3)), linewidth=1.2))
        labels.append(f"{ref} (no lambda)")
    handles.append(Line2D([], [], color=_GREY, linestyle=":", linewidth=1.3))
    labels.append("exact")
    width = _width(len(params), 3.6)
    ncol = _legend_columns(labels, width - 0.3)
    caption = _wrap([
        f"n = {', '.join(str(n) for n in n_values)} trajectories per estimate; R = {seeds} seeds per point; "
        "bars: +-2 standard errors; shaded: 95% CI of the variance; dotted: exact values.",
        "Critics: exact V_t (unbiased for every lambda), stationary (V_0 at every step: biased for lambda < 1), "
        "learned (per-step quadratic fitted on a pilot batch).",
    ], width - 0.3)  # fmt: skip

    def panel_bias(ax, sub, scale):
        ax.axhline(0.0, color=_GREY, linewidth=0.8, zorder=1)
        for order, est in enumerate(critics):
            style = _style(est, names)
            cell = sub[sub["estimator"] == est].sort_values("lam")
            lam = cell["lam"].to_numpy(float) + 0.004 * (order - (len(critics) - 1) / 2)
            y = cell["bias"].to_numpy(float) / scale
            err = 2 * cell["bias_se"].to_numpy(float) / scale
            ax.errorbar(lam, y, yerr=err, capsize=2.0, linewidth=1.2, elinewidth=0.9, zorder=3, **style)
            if has_bias_exact:
                e = cell["bias_exact"].to_numpy(float) / scale
                if np.any(np.isfinite(e)):
                    ax.plot(cell["lam"].to_numpy(float), e, color=style["color"], linestyle=":", linewidth=1.3,
                            zorder=4)  # fmt: skip

    with plt.rc_context(STYLE):
        fig, top, bottom, axes = _figure(3, len(params), -(-len(labels) // ncol), len(caption))
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
                            ax.fill_between(lam[ok], cell[lo].to_numpy(float)[ok], cell[hi].to_numpy(float)[ok],
                                            color=style["color"], alpha=0.2, linewidth=0, zorder=2)  # fmt: skip
                        exact = cell["var_exact"].to_numpy(float)
                        if y == "mse" and has_bias_exact:
                            exact = exact + cell["bias_exact"].to_numpy(float) ** 2
                        good = _positive(exact)
                        if np.any(good):
                            ax.plot(lam[good], exact[good], color=style["color"], linestyle=":", linewidth=1.3,
                                    zorder=4)  # fmt: skip
                    for ref in ref_names:
                        style = _style(ref, names)
                        value = ref_sub.loc[ref_sub["estimator"] == ref, y].to_numpy(float)
                        if value.size and _positive(value[:1]).all():
                            ax.axhline(value[0], color=style["color"], linestyle=(0, (5, 3)), linewidth=1.2,
                                       zorder=1)  # fmt: skip
                    ax.set_yscale("log")
                for row in range(3):
                    axes[row, col].set_xlim(lams.min() - 0.03, lams.max() + 0.03)
                    axes[row, col].tick_params(which="both", direction="out")
            axes[0, 0].set_ylabel("bias / |true gradient|")
            axes[1, 0].set_ylabel("variance")
            axes[2, 0].set_ylabel("MSE")
            top.supxlabel(r"GAE $\lambda$")
            top.suptitle(_title(table))
            _footer(bottom, handles, labels, caption, ncol)
            paths = save_figure(fig, folder / "figure")
        finally:
            plt.close(fig)

    with plt.rc_context(STYLE):
        h, lab = _handles(critics, names)
        h.append(Line2D([], [], color=_GREY, linestyle=":", linewidth=1.3))
        lab.append("exact bias")
        cap = _wrap([f"R = {seeds} seeds per point; bars: +-2 standard errors; bias relative to the largest "
                     "|true gradient| of the panel's coordinate."], width - 0.3)  # fmt: skip
        ncol_b = _legend_columns(lab, width - 0.3)
        fig, top, bottom, axes = _figure(1, len(params), -(-len(lab) // ncol_b), len(cap))
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
            top.suptitle(_title(table))
            _footer(bottom, h, lab, cap, ncol_b)
            paths += save_figure(fig, folder / "bias")
        finally:
            plt.close(fig)
    return paths


# ------------------------------------------------------------------------------------------- lqr-variance
def draw_variance(folder: str | Path) -> list[Path]:
    """``figure``: the standard variance-against-n figure (:func:`pgjax.plots.plot_variance`); ``bias``: each
    estimate's standardised bias (bias / standard error) against n. Every estimator of the default run is
    unbiased, so the relative-bias figure of :func:`pgjax.plots.plot_bias`, with its 1/n guide, would
    only show noise; the standardised bias shows it as noise, in +-2."""
    from pgjax.plots import plot_variance

    folder = Path(folder)
    table = results.read_table(folder)
    paths = plot_variance(table, folder / "figure")
    estimators = ordered_unique(table["estimator"])
    width = _width(len(ordered_unique(table["param"])), 3.6)
    _, labels = _handles(estimators, estimators)
    paths += _standardised_bias(
        table, folder / "bias", x="n", xlabel="sample size $n$", stagger=1.05, width=width,
        ncol=_legend_columns(labels, width - 0.3),
        caption=f"R = {int(table['n_seeds'].min())} seeds per point; grey band: |bias| < 2 standard errors "
                "(where an unbiased estimate falls 95% of the time); points staggered in n for legibility.",
    )  # fmt: skip
    return paths


# ------------------------------------------------------------------------------------------------- driver
_DRAWERS = {"lqr-variance": draw_variance, "lqr-pgpe": draw_variance, "lqr-horizon": draw_horizon,
            "lqr-gae": draw_gae}  # fmt: skip


def draw(folder: str | Path) -> list[Path]:
    """Draws the figures of an lqr-horizon or lqr-gae results folder (by the manifest's experiment)."""
    manifest = results.read_manifest(folder)
    experiment = manifest.get("experiment")
    if experiment not in _DRAWERS:
        raise results.ResultsError(f"{folder}: no LQR figures for experiment {experiment!r}")
    return _DRAWERS[experiment](folder)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pgjax.plots_lqr DIR ...``: redraws the LQR figures of each results folder."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m pgjax.plots_lqr DIR [DIR ...]", file=sys.stderr)
        return 2
    for folder in args:
        for path in draw(folder):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

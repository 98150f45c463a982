"""Paper-style figures drawn from a saved results table.

Figures are drawn only from the tidy table of :mod:`pgjax.results` (never from
live arrays), so any figure can be redrawn from a results folder with
:func:`draw_all`. Matplotlib only, Agg backend; style settings are applied with
``rc_context`` (the caller's ``rcParams`` are never changed). PDFs embed their
fonts as TrueType (``pdf.fonttype = 42``), as most publishers ask.

* :func:`plot_variance`: variance across seeds against sample size ``n``,
  log-log, one panel per parameter, with 95% CI bands, exact variance
  (dotted) where known and a ``1/n`` reference.
* :func:`plot_bias`: relative ``|bias|`` against ``n`` with ±2 standard-error
  bars.

Colours are the Okabe-Ito palette (distinguishable with the common forms of
colour blindness), and each estimator also gets its own marker, so figures
survive greyscale printing.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.textpath import TextToPath  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FixedLocator,
    FuncFormatter,
    LogFormatterSciNotation,
    NullFormatter,
    NullLocator,
)

from pgjax import results  # noqa: E402

__all__ = [
    "PALETTE",
    "MARKERS",
    "STYLE",
    "estimator_style",
    "param_label",
    "plot_variance",
    "plot_bias",
    "draw_all",
]

PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow (last: weak on white)
)
"""Okabe-Ito colour-blind-safe palette, in the order estimators get them."""

MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
"""Marker of the estimator with the same index (as in :data:`PALETTE`)."""

_LINESTYLES: tuple[str, ...] = ("-", "--", "-.")
_REFERENCE_COLOR = "0.45"
_REFERENCE_DASH = (0, (5, 3))

STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.which": "major",
    "grid.color": "0.9",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.5,
    "lines.markersize": 5,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.dpi": 200,
    "mathtext.fontset": "dejavusans",
}
"""rcParams applied (via ``rc_context``) while a figure is drawn and saved."""

_DPI = 200
_PANEL_SIZE = (3.1, 2.6)  # inches per panel
_CAPTION_PT = 9
_LEGEND_PT = 9
_HANDLE_LENGTH = 2.6
_COLUMN_SPACING = 1.6
_TEXT_TO_PATH = TextToPath()


def estimator_style(index: int) -> dict[str, Any]:
    """Colour, marker and line style of the estimator at position ``index``.

    Colours and markers repeat after 8 estimators; the line style changes
    then, so any two of up to 24 estimators differ.
    """
    return {
        "color": PALETTE[index % len(PALETTE)],
        "marker": MARKERS[index % len(MARKERS)],
        "linestyle": _LINESTYLES[(index // len(PALETTE)) % len(_LINESTYLES)],
    }


_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
    "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon",
    "phi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi",
    "Sigma", "Upsilon", "Phi", "Psi", "Omega",
}  # fmt: skip
_PARAM_RE = re.compile(
    r"^(?P<log>log_)?(?P<base>[A-Za-z]+)(?:_?(?P<digits>[0-9]+)|\[(?P<index>[0-9]+(?:\s*,\s*[0-9]+)*)\])?$"
)


def _plain_text(text: str) -> str:
    """Text that matplotlib shows literally (no mathtext)."""
    return text.replace("$", r"\$")


def param_label(name: str) -> str:
    r"""Panel title for a parameter name, in mathtext where it is recognised.

    ``theta[0]`` -> ``$\theta_{0}$``, ``log_sigma`` -> ``$\log\sigma$``,
    ``w[1,2]`` -> ``$w_{1,2}$``, ``mu`` -> ``$\mu$``; anything else is shown as
    plain text.
    """
    match = _PARAM_RE.match(name)
    if not match:
        return _plain_text(name)
    base = match["base"]
    if base in _GREEK:
        symbol = "\\" + base
    elif len(base) == 1:
        symbol = base
    else:
        symbol = f"\\mathrm{{{base}}}"
    index = match["index"] or match["digits"]
    if index is not None:
        symbol += "_{" + re.sub(r"\s+", "", index) + "}"
    if match["log"]:
        symbol = r"\log " + symbol
    return f"${symbol}$"


def ordered_unique(values: pd.Series) -> list[Any]:
    """The distinct values in order of first appearance."""
    return list(dict.fromkeys(values.tolist()))


def _check_columns(table: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks columns {missing} needed for this figure")
    if len(table) == 0:
        raise ValueError("table has no rows to plot")


def _grid(num_panels: int) -> tuple[int, int]:
    """(rows, cols): one row up to 4 panels, then two rows, at most 5 columns."""
    if num_panels <= 4:
        cols = num_panels
    elif num_panels <= 10:
        cols = math.ceil(num_panels / 2)
    else:
        cols = 5
    return math.ceil(num_panels / cols), cols


def _positive(x: np.ndarray) -> np.ndarray:
    """Mask of finite, strictly positive entries (plottable on a log axis)."""
    return np.isfinite(x) & (x > 0)


def _seeds_text(table: pd.DataFrame) -> str:
    seeds = table["n_seeds"].to_numpy()
    lo, hi = int(seeds.min()), int(seeds.max())
    return f"R = {lo} seeds per point" if lo == hi else f"R = {lo}–{hi} seeds per point"


def _nonfinite_estimators(table: pd.DataFrame) -> set[str]:
    if "n_nonfinite" not in table.columns:
        return set()
    flagged = table.loc[table["n_nonfinite"] > 0, "estimator"]
    return set(flagged.tolist())


def _default_title(table: pd.DataFrame) -> str | None:
    parts = []
    for col in ("experiment", "problem"):
        if col in table.columns:
            values = ordered_unique(table[col])
            if len(values) == 1:
                parts.append(str(values[0]))
    if not parts:
        return None
    return _plain_text(parts[0] if len(parts) == 1 or parts[0] == parts[1] else f"{parts[0]}: {parts[1]}")


class _LogFormatter(LogFormatterSciNotation):
    """Log-axis labels: decades as ``10^k``; labelled non-decade ticks as
    plain numbers (``3``, ``0.4``) instead of ``3x10^0``.

    Overrides a private matplotlib hook; if a future matplotlib stops calling
    it, labels fall back to matplotlib's own style (no error)."""

    def _non_decade_format(self, sign_string: str, base: str, fx: float, usetex: bool) -> str:
        value = float(base) ** fx
        if 1e-3 <= value < 1e4:
            return rf"$\mathdefault{{{sign_string}{value:.3g}}}$"
        return super()._non_decade_format(sign_string, base, fx, usetex)


def _text_width_in(text: str, size_pt: float) -> float:
    """Rendered width of plain ``text`` in inches at ``size_pt`` (current rc font)."""
    prop = FontProperties(size=size_pt)
    width, _, _ = _TEXT_TO_PATH.get_text_width_height_descent(text, prop, ismath=False)
    return width / 72.0


def _pack(pieces: Sequence[str], width_in: float) -> list[str]:
    """Greedily join ``pieces`` with spaces into lines at most ``width_in`` wide."""
    lines: list[str] = []
    current = ""
    for piece in pieces:
        trial = f"{current} {piece}" if current else piece
        if current and _text_width_in(trial, _CAPTION_PT) > width_in:
            lines.append(current)
            current = piece
        else:
            current = trial
    lines.append(current)
    return lines


def _wrap(lines: Sequence[str], width_in: float) -> list[str]:
    """Wrap caption lines to ``width_in`` inches, preferring breaks after "; "."""
    wrapped: list[str] = []
    for line in lines:
        clauses = line.split("; ")
        for packed in _pack([c + ";" for c in clauses[:-1]] + clauses[-1:], width_in):
            if _text_width_in(packed, _CAPTION_PT) > width_in:
                wrapped.extend(_pack(packed.split(" "), width_in))
            else:
                wrapped.append(packed)
    return wrapped


def _legend_layout(labels: Sequence[str], width_in: float) -> tuple[int, int]:
    """(columns, rows) of the widest legend whose entries fit in ``width_in`` inches.

    Legends fill column by column; a column is as wide as its widest label
    plus the handle and spacing.
    """
    em = _LEGEND_PT / 72.0
    widths = [_text_width_in(label, _LEGEND_PT) for label in labels]
    overhead = (_HANDLE_LENGTH + 0.8 + _COLUMN_SPACING) * em
    for ncol in range(len(labels), 1, -1):
        rows = math.ceil(len(labels) / ncol)
        columns = [widths[j : j + rows] for j in range(0, len(widths), rows)]
        if sum(max(col) + overhead for col in columns) <= width_in:
            return len(columns), rows
    return 1, len(labels)


def _make_figure(
    num_panels: int, legend_labels: Sequence[str], caption: Sequence[str]
) -> tuple[Figure, Any, Any, list[Any], list[str], int]:
    """A figure of panels above a footer for the legend and caption.

    Returns the figure, the panel subfigure, the footer subfigure, the panel
    axes, the wrapped caption lines and the legend's column count. The
    footer has a fixed height in inches, so legend and caption never overlap
    the panels.
    """
    rows, cols = _grid(num_panels)
    width = max(_PANEL_SIZE[0] * cols, 5.2)
    lines = _wrap(caption, width - 0.3)
    ncol, legend_rows = _legend_layout(legend_labels, width - 0.3)
    footer_in = (legend_rows * _LEGEND_PT * 1.75 + len(lines) * _CAPTION_PT * 1.4 + 12) / 72
    panels_in = _PANEL_SIZE[1] * rows + 0.75  # + title and x label
    fig = plt.figure(figsize=(width, panels_in + footer_in), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[panels_in, footer_in])
    axes = top.subplots(rows, cols, sharex=True, squeeze=False).ravel().tolist()
    for ax in axes[num_panels:]:
        ax.remove()
    for index, ax in enumerate(axes[:num_panels]):
        if index + cols >= num_panels:  # nothing below it: show its n labels
            ax.xaxis.set_tick_params(which="both", labelbottom=True)
    return fig, top, bottom, axes[:num_panels], lines, ncol


def _finish_axes(ax: Any, ns: np.ndarray) -> None:
    """Log-log axes; ticks at the sample sizes when there are few of them."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_LogFormatter())
    ax.yaxis.set_minor_formatter(_LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
    unique = np.unique(ns[ns > 0])
    if 0 < len(unique) <= 9:
        ax.xaxis.set_major_locator(FixedLocator(unique))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        if len(unique) > 1:
            pad = (unique[-1] / unique[0]) ** 0.04
            ax.set_xlim(unique[0] / pad, unique[-1] * pad)
    else:
        ax.xaxis.set_major_formatter(_LogFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(which="both", direction="out")


def _decorate(
    top: Any,
    footer: Any,
    handles: list[Any],
    labels: list[str],
    lines: Sequence[str],
    ncol: int,
    *,
    ylabel: str,
    title: str | None,
) -> None:
    """Shared axis labels and title on the panels; legend and caption below."""
    top.supxlabel("sample size $n$")
    top.supylabel(ylabel)
    if title:
        top.suptitle(title)
    footer.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=ncol,
        frameon=False,
        handlelength=_HANDLE_LENGTH,
        columnspacing=_COLUMN_SPACING,
        borderaxespad=0.1,
    )
    footer.text(
        0.5,
        0.0,
        "\n".join(lines),
        ha="center",
        va="bottom",
        fontsize=_CAPTION_PT,
        color="0.25",
        linespacing=1.4,
        transform=footer.transSubfigure,
    )


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Save ``stem.png`` (200 dpi) and ``stem.pdf``, each atomically."""
    paths = []
    for fmt in ("png", "pdf"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=_DPI)
        path = stem.with_name(stem.name + "." + fmt)
        results.atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths


def _reference_line(ax: Any, ns: np.ndarray, anchor_n: float, anchor_y: float) -> None:
    """Dashed grey ``c / n`` through (anchor_n, anchor_y) over the n grid."""
    grid = np.unique(ns[ns > 0]).astype(float)
    if len(grid) < 2:
        return
    ax.plot(
        grid,
        anchor_y * anchor_n / grid,
        linestyle=_REFERENCE_DASH,
        color=_REFERENCE_COLOR,
        linewidth=1.0,
        zorder=1,
    )


def _estimator_handles(
    names: Sequence[str], all_names: Sequence[str], flagged: set[str]
) -> tuple[list[Any], list[str]]:
    handles: list[Any] = []
    labels: list[str] = []
    for name in names:
        style = estimator_style(list(all_names).index(name))
        handles.append(
            Line2D([], [], color=style["color"], marker=style["marker"], linestyle=style["linestyle"])
        )
        label = _plain_text(str(name))
        labels.append(label + " (!)" if name in flagged else label)
    return handles, labels


def _reference_handle() -> Line2D:
    return Line2D([], [], color=_REFERENCE_COLOR, linestyle=_REFERENCE_DASH, linewidth=1.0)


_NONFINITE_NOTE = "(!) non-finite estimates occurred for this estimator and were excluded."


def plot_variance(
    table: pd.DataFrame,
    stem: str | Path,
    *,
    title: str | None = None,
) -> list[Path]:
    """Variance of each estimator against sample size, one log-log panel per parameter.

    Per estimator: the variance across seeds (line and markers) with its 95%
    CI ``[var_lo, var_hi]`` as a shaded band and, where ``var_exact`` is
    known, the exact variance as a thin dotted line of the same colour. A
    dashed grey ``1/n`` line is anchored at the first estimator's
    smallest-``n`` variance (its first plottable point). Points with zero or
    NaN variance are left out. Estimators with non-finite estimates in any
    cell are marked ``(!)`` in the legend and the caption says so.

    Args:
      table: a results table (see :mod:`pgjax.results`); needs at least
        ``estimator, param, n, n_seeds, var, var_lo, var_hi`` (``var_exact``
        and ``n_nonfinite`` are used when present).
      stem: output path without suffix; writes ``stem.png`` (200 dpi) and
        ``stem.pdf`` (TrueType fonts), each atomically. Its folder must exist.
      title: figure title; ``None`` names the experiment and problem when the
        table has one of each, ``""`` gives no title.

    Returns:
      ``[stem.png, stem.pdf]``.

    Raises:
      ValueError: the table is empty or lacks a needed column.
    """
    _check_columns(table, ("estimator", "param", "n", "n_seeds", "var", "var_lo", "var_hi"))
    stem = Path(stem)
    estimators = ordered_unique(table["estimator"])
    params = ordered_unique(table["param"])
    flagged = _nonfinite_estimators(table)
    has_exact = "var_exact" in table.columns and bool(
        np.any(_positive(table["var_exact"].to_numpy(dtype=float)))
    )
    ns_all = table["n"].to_numpy(dtype=float)

    handles, labels = _estimator_handles(estimators, estimators, flagged)
    if has_exact:
        handles.append(Line2D([], [], color=_REFERENCE_COLOR, linestyle=":", linewidth=1.3))
        labels.append("exact variance")
    handles.append(_reference_handle())
    labels.append("1/n")

    caption = _seeds_text(table) + "; shaded: 95% CI (kurtosis-adjusted, log scale)"
    caption += "; dotted: exact variance." if has_exact else "."
    captions = [caption]
    if flagged:
        captions.append(_NONFINITE_NOTE)
    if title is None:
        title = _default_title(table)

    with plt.rc_context(STYLE):
        fig, top, footer, axes, lines, ncol = _make_figure(len(params), labels, captions)
        try:
            for ax, param in zip(axes, params, strict=True):
                rows = table[table["param"] == param]
                anchor: tuple[float, float] | None = None
                for index, estimator in enumerate(estimators):
                    style = estimator_style(index)
                    cell = rows[rows["estimator"] == estimator].sort_values("n")
                    n = cell["n"].to_numpy(dtype=float)
                    var = cell["var"].to_numpy(dtype=float)
                    ok = _positive(var) & (n > 0)
                    if np.any(ok):
                        ax.plot(n[ok], var[ok], zorder=3, **style)
                        if anchor is None:
                            anchor = (n[ok][0], var[ok][0])
                        lo = cell["var_lo"].to_numpy(dtype=float)[ok]
                        hi = cell["var_hi"].to_numpy(dtype=float)[ok]
                        band = _positive(lo) & _positive(hi)
                        ax.fill_between(
                            n[ok],
                            np.where(band, lo, np.nan),
                            np.where(band, hi, np.nan),
                            color=style["color"],
                            alpha=0.2,
                            linewidth=0,
                            zorder=2,
                        )
                    if has_exact:
                        exact = cell["var_exact"].to_numpy(dtype=float)
                        good = _positive(exact) & (n > 0)
                        if np.any(good):
                            ax.plot(
                                n[good],
                                exact[good],
                                color=style["color"],
                                linestyle=":",
                                linewidth=1.3,
                                zorder=4,
                            )
                if anchor is not None:
                    # Drawn a factor 3 above the first estimator's n = 1 point, so it never hides a curve.
                    _reference_line(ax, ns_all, anchor[0], 3.0 * anchor[1])
                _finish_axes(ax, ns_all)
                ax.set_title(param_label(str(param)))
            _decorate(top, footer, handles, labels, lines, ncol, ylabel="variance of estimate", title=title)
            return save_figure(fig, stem)
        finally:
            plt.close(fig)


def plot_bias(
    table: pd.DataFrame,
    stem: str | Path,
    *,
    estimators: Sequence[str] | None = None,
    title: str | None = None,
) -> list[Path]:
    """Relative absolute bias against sample size, one log-log panel per parameter.

    Plots ``|bias| / |true_grad|`` with error bars ``±2 bias_se`` (on the same
    scale) for each chosen estimator, slightly staggered in ``n`` so the bars
    do not overlap, and a dashed grey ``1/n`` line anchored at the first
    chosen estimator's smallest-``n`` point. Where ``true_grad`` is 0 or not
    finite the panel shows absolute ``|bias|`` and says so in its title.
    Lower bar ends at or below 0 (bias consistent with 0) run down to the
    panel's floor. Zero or NaN bias points are left out.

    Args:
      table: a results table; needs ``estimator, param, n, n_seeds, bias,
        bias_se, true_grad``.
      stem: output path without suffix; writes ``stem.png`` and ``stem.pdf``.
      estimators: which estimators to draw, in this order (default: all, in
        table order). Colours and markers follow each estimator's position in
        the whole table, so they match :func:`plot_variance`.
      title: as in :func:`plot_variance`.

    Returns:
      ``[stem.png, stem.pdf]``.

    Raises:
      ValueError: the table is empty or lacks a needed column, or an
        estimator is not in it.
    """
    _check_columns(table, ("estimator", "param", "n", "n_seeds", "bias", "bias_se", "true_grad"))
    stem = Path(stem)
    all_estimators = ordered_unique(table["estimator"])
    chosen = list(all_estimators) if estimators is None else list(estimators)
    unknown = [e for e in chosen if e not in all_estimators]
    if unknown:
        raise ValueError(f"estimators {unknown} are not in the table (have {all_estimators})")
    if not chosen:
        raise ValueError("no estimators to plot")
    params = ordered_unique(table["param"])
    flagged = _nonfinite_estimators(table) & set(chosen)
    sub = table[table["estimator"].isin(chosen)]
    ns_all = sub["n"].to_numpy(dtype=float)

    handles, labels = _estimator_handles(chosen, all_estimators, flagged)
    handles.append(_reference_handle())
    labels.append("1/n")
    captions = [_seeds_text(sub) + "; bars: ±2 standard errors of the bias."]
    if flagged:
        captions.append(_NONFINITE_NOTE)
    if title is None:
        title = _default_title(table)

    with plt.rc_context(STYLE):
        fig, top, footer, axes, lines, ncol = _make_figure(len(params), labels, captions)
        try:
            for ax, param in zip(axes, params, strict=True):
                rows = sub[sub["param"] == param]
                grad = rows["true_grad"].to_numpy(dtype=float)
                grad = np.abs(grad[np.isfinite(grad)])
                scale = float(grad.max()) if grad.size else 0.0
                relative = scale > 0
                scale = scale if relative else 1.0
                series = []
                for order, estimator in enumerate(chosen):
                    cell = rows[rows["estimator"] == estimator].sort_values("n")
                    n = cell["n"].to_numpy(dtype=float)
                    y = np.abs(cell["bias"].to_numpy(dtype=float)) / scale
                    err = 2.0 * cell["bias_se"].to_numpy(dtype=float) / scale
                    ok = _positive(y) & (n > 0)
                    err = np.where(np.isfinite(err[ok]), err[ok], 0.0)
                    series.append((order, estimator, n[ok], y[ok], err))
                lows = [np.concatenate([y, (y - e)[y - e > 0]]) for *_, y, e in series if y.size]
                floor = float(np.concatenate(lows).min()) / 3.0 if lows else None
                anchor: tuple[float, float] | None = None
                for order, estimator, n, y, err in series:
                    if not y.size:
                        continue
                    style = estimator_style(all_estimators.index(estimator))
                    shift = 1.05 ** (order - (len(chosen) - 1) / 2)
                    lower = np.where(y - err > 0, err, y - floor) if floor else err
                    ax.errorbar(
                        n * shift,
                        y,
                        yerr=np.vstack([lower, err]),
                        linewidth=1.2,
                        elinewidth=0.9,
                        capsize=2.0,
                        zorder=3,
                        **style,
                    )
                    if anchor is None:
                        anchor = (n[0], y[0])
                if anchor is not None:
                    _reference_line(ax, ns_all, *anchor)
                _finish_axes(ax, ns_all)
                if floor:
                    ax.set_ylim(bottom=floor / 1.3)
                label = param_label(str(param))
                ax.set_title(label if relative else f"{label} (absolute; true gradient 0)")
            _decorate(
                top,
                footer,
                handles,
                labels,
                lines,
                ncol,
                ylabel="|bias| / |true gradient|",
                title=title,
            )
            return save_figure(fig, stem)
        finally:
            plt.close(fig)


def draw_all(folder: str | Path) -> list[Path]:
    """Redraw every figure of a results folder from its saved table.

    Reads ``<folder>/table.parquet`` with :func:`pgjax.results.read_table`
    and writes ``figure.png``/``figure.pdf`` (:func:`plot_variance`) and
    ``bias.png``/``bias.pdf`` (:func:`plot_bias`) into the folder, each file
    atomically.

    Returns:
      The four paths written.

    Raises:
      ResultsError: the table is missing, corrupt, foreign or empty.
    """
    folder = Path(folder)
    table = results.read_table(folder)
    if len(table) == 0:
        raise results.ResultsError(f"{folder / results.TABLE_FILE}: results table has no rows")
    paths = plot_variance(table, folder / "figure")
    # The manifest may name the estimators worth a bias panel (the biased ones and a comparator).
    try:
        chosen = results.read_manifest(folder).get("bias_estimators")
    except results.ResultsError:
        chosen = None
    present = set(table["estimator"])
    chosen = [name for name in (chosen or []) if name in present] or None
    paths += plot_bias(table, folder / "bias", estimators=chosen)
    return paths

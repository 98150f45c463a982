"""Paper-style figures drawn from a saved results table.

Figures are drawn only from the tidy table of :mod:`pgjax.io` (never from
live arrays), so any figure can be redrawn from a results folder with
:func:`draw_all`. Matplotlib only, Agg backend; style settings are applied with
``rc_context`` (the caller's ``rcParams`` are never changed). PDFs embed their
fonts as TrueType (``pdf.fonttype = 42``), as most publishers ask.

* :func:`plot_variance`: variance across seeds against sample size ``n``,
  log-log, one panel per parameter, with 95% CI bands, exact variance
  (dotted) where known and a ``1/n`` reference.
* :func:`plot_bias`: relative ``|bias|`` against ``n`` with ±2 standard-error
  bars.
* :func:`plot_ratio`: variance relative to REINFORCE's on the same seeds
  against ``n``, log-log, with the paired 95% intervals as error bars and
  the reference as a line at 1.

Every estimator is drawn in its fixed colour, marker and line style of
:mod:`pgjax.styles` (Okabe-Ito colours, distinguishable with the common forms
of colour blindness; markers that survive greyscale printing), the same in
every figure of every experiment. Estimators are staggered slightly in ``n``
so that coinciding lines and intervals stay visible. Titles name the
experiment, the problem and every problem parameter of the run's manifest
that the problem description leaves out (:func:`figure_title`); captions
name the estimators' own settings (:func:`settings_caption`).
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.textpath import TextToPath
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogFormatterSciNotation,
    NullFormatter,
    NullLocator,
)

from pgjax import io as pio
from pgjax import styles
from pgjax.analysis import stats

__all__ = [
    "PALETTE",
    "STYLE",
    "estimator_style",
    "param_label",
    "figure_title",
    "problem_parameters",
    "settings_caption",
    "plot_variance",
    "plot_bias",
    "plot_ratio",
    "draw_variance_figures",
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
"""The Okabe-Ito colour-blind-safe palette (estimators take their colours from :mod:`pgjax.styles`)."""

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
_TITLE_PT = 11  # STYLE["figure.titlesize"]
_LEGEND_PT = 9
_HANDLE_LENGTH = 2.6
_COLUMN_SPACING = 1.6
_TEXT_TO_PATH = TextToPath()


def estimator_style(name: Any, names: Sequence[Any] | None = None) -> dict[str, Any]:
    """Plot keyword arguments of estimator ``name`` among the estimators ``names`` of one figure: its fixed
    style from :data:`pgjax.styles.ESTIMATOR_STYLES`, the same in every figure (see
    :func:`pgjax.styles.style_map` for names not in the registry)."""
    return styles.estimator_style(name, names)


def _style_kwargs(names: Sequence[Any]) -> dict[Any, dict[str, Any]]:
    """name -> plot keyword arguments for every estimator of a table (one call per figure)."""
    return {name: style.kwargs() for name, style in styles.style_map(names).items()}


_GREEK = {
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Pi",
    "Sigma",
    "Upsilon",
    "Phi",
    "Psi",
    "Omega",
}
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


# Config fields that are not problem parameters: what is swept or drawn on an axis, how much is sampled,
# how the run is executed, and the estimators' own settings (those go in the caption, see
# settings_caption). Every other config field is taken to change the numbers and is shown in the title.
_NOT_PROBLEM = frozenset(
    {
        "estimators",
        "ns",
        "n",
        "n_seeds",
        "seed",
        "chunk_size",
        "chunks",
        "fuse",
        "exact",
        "horizons",
        "lambdas",
        "critics",
        "references",
        "snapshots",
        "functions",
        "curve_points",
        "mc_points",
        "quadrature_panels",
        "reference_episodes",
        "reference_batches",
        "bootstrap_reps",
        "log_every",
        "full",
        "target",
        "confidence",
        "title",
        "ylabel",
        "updates",
        "episodes",
        # estimator settings
        "baseline",
        "gae_lambda",
        "gae_value",
        "n_pilot",
        "lam",
        "critic_hidden",
        "critic_learning_rate",
        "critic_epochs",
        "value_scale",
    }
)
# How a config field is written in a title, where not by its name.
_SYMBOLS = {
    "theta": "θ",
    "sigma": "σ",
    "mu": "μ",
    "sigma_k": "σ_K",
    "discount": "γ",
    "horizon": "H",
    "gain": "K",
    "state": "s",
    "train_learning_rate": "training learning rate",
    "train_episodes": "training episodes",
}
# Other names under which a problem description may already give a field's value ("name = value").
_ALIASES = {
    "state": ("s",),
    "horizon": ("H",),
    "gain": ("K",),
    "sigma_k": ("sigma_K",),
    "reward": ("r(a)",),
    "reward_target": ("r(a)",),
    "function": ("f(x)",),
    "discount": ("gamma",),
}


def _format_value(value: Any) -> str | None:
    """A config value as a title shows it, or None for one that says nothing (None, empty)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        items = [_format_value(v) for v in value]
        if not items or any(v is None for v in items):
            return None
        return "(" + ", ".join(items) + ")"  # type: ignore[arg-type]
    if isinstance(value, dict):
        return None
    return str(value)


def _stated(problem: str, key: str, value: Any) -> bool:
    """Whether the problem description already gives this field (``name = ...``, or a string value's text)."""
    for name in (key, _SYMBOLS.get(key, key), *_ALIASES.get(key, ())):
        if re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"\s*=", problem):
            return True
    if isinstance(value, str) and re.search(r"(?<![A-Za-z0-9_])" + re.escape(value) + r"(?![A-Za-z0-9_])", problem):
        return True
    if isinstance(value, bool) and value and key in problem:
        return True
    return False


def problem_parameters(manifest: dict[str, Any]) -> list[str]:
    """``"name = value"`` for each problem parameter of a run that its problem description does not state.

    Every field of the manifest's ``config`` counts as a problem parameter (it may change the numbers)
    except what is swept, sampled or executed and the estimators' own settings (see ``_NOT_PROBLEM``);
    ``False`` switches are left out (the default, off).
    """
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    problem = str(manifest.get("problem") or "")
    out = []
    for key, value in config.items():
        if key in _NOT_PROBLEM or value is False or _stated(problem, key, value):
            continue
        text = _format_value(value)
        if text is not None:
            out.append(f"{_SYMBOLS.get(key, key)} = {text}")
    return out


def figure_title(manifest: dict[str, Any] | None, table: pd.DataFrame | None = None, *, suffix: str = "") -> str | None:
    """The title of a results folder's figures: ``experiment: problem`` (``suffix`` appended), and on a
    second line every problem parameter the problem description does not state
    (:func:`problem_parameters`), so that a figure names everything that changes its numbers.

    ``manifest`` may be None or lack fields; the experiment and problem then come from ``table``.
    """
    manifest = manifest or {}
    first = _default_title(table) if table is not None else None
    experiment, problem = manifest.get("experiment"), manifest.get("problem")
    if isinstance(experiment, str) and isinstance(problem, str):
        first = _plain_text(f"{experiment}: {problem}" if experiment != problem else experiment)
    elif isinstance(experiment, str) and first is None:
        first = _plain_text(experiment)
    if first is None:
        return None
    first += suffix
    parameters = problem_parameters(manifest)
    return first + ("\n" + _plain_text(", ".join(parameters)) if parameters else "")


def settings_caption(manifest: dict[str, Any] | None, names: Sequence[Any]) -> str | None:
    """A caption sentence with the settings of the estimators ``names`` that change their numbers
    (the constant baseline's b, GAE's lambda and critic, the learned critics' pilot batch), or None."""
    manifest = manifest or {}
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    names = [str(n) for n in names]
    parts = []
    b = config.get("baseline")
    if b is None:
        b = manifest.get("constant_baseline_b")
    if "constant_baseline" in names and isinstance(b, (int, float)):
        parts.append(f"constant_baseline: b = {b:.3g}")
    lam = config.get("gae_lambda", config.get("lam"))
    if "gae" in names and isinstance(lam, (int, float)):
        critic = config.get("gae_value")
        parts.append(f"gae: λ = {lam:g}" + (f", {critic} critic" if isinstance(critic, str) else ""))
    learned = (
        "learned_value_baseline" in names
        or "gae[learned]" in names
        or ("gae" in names and config.get("gae_value") == "learned")
    )
    if learned and isinstance(config.get("n_pilot"), int):
        parts.append(f"learned critics fitted on {config['n_pilot']} pilot trajectories")
    return ("Estimator settings: " + "; ".join(parts) + ".") if parts else None


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


def _pack(pieces: Sequence[str], width_in: float, size_pt: float = _CAPTION_PT) -> list[str]:
    """Greedily join ``pieces`` with spaces into lines at most ``width_in`` wide (at ``size_pt``)."""
    lines: list[str] = []
    current = ""
    for piece in pieces:
        trial = f"{current} {piece}" if current else piece
        if current and _text_width_in(trial, size_pt) > width_in:
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


def _figure_width(num_panels: int) -> float:
    """Width in inches of a figure of ``num_panels`` panels (see :func:`_make_figure`)."""
    return max(_PANEL_SIZE[0] * _grid(num_panels)[1], 5.2)


def _make_figure(
    num_panels: int, legend_labels: Sequence[str], caption: Sequence[str], title: str | None = None
) -> tuple[Figure, Any, Any, list[Any], list[str], int]:
    """A figure of panels above a footer for the legend and caption.

    Returns the figure, the panel subfigure, the footer subfigure, the panel
    axes, the wrapped caption lines and the legend's column count. The
    footer has a fixed height in inches, so legend and caption never overlap
    the panels.
    """
    rows, cols = _grid(num_panels)
    width = _figure_width(num_panels)
    lines = _wrap(caption, width - 0.3)
    ncol, legend_rows = _legend_layout(legend_labels, width - 0.3)
    footer_in = (legend_rows * _LEGEND_PT * 1.75 + len(lines) * _CAPTION_PT * 1.4 + 12) / 72
    extra_title = max(0, len(title.split("\n")) - 1) if title else 0
    panels_in = _PANEL_SIZE[1] * rows + 0.75 + 0.2 * extra_title  # + title and x label
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


#: False inside :func:`figures_skipped`: `pgjax run --no-figures` writes tables, raw estimates and the
#: manifest only, and `pgjax plot DIR` draws the figures later from the saved tables.
_FIGURES = contextvars.ContextVar("pgjax_figures", default=True)


@contextlib.contextmanager
def figures_skipped(skip: bool = True) -> Iterator[None]:
    """Within the block (when ``skip``), :func:`save_figure` writes nothing and experiments skip drawing."""
    token = _FIGURES.set(not skip)
    try:
        yield
    finally:
        _FIGURES.reset(token)


def figures_enabled() -> bool:
    """False inside :func:`figures_skipped`."""
    return _FIGURES.get()


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Save ``stem.png`` (200 dpi) and ``stem.pdf``, each atomically (nothing inside :func:`figures_skipped`)."""
    if not figures_enabled():
        plt.close(fig)
        return []
    # A subfigure's background repeats the figure's, and its box's edge at 0 is placed by the layout to within
    # +/- 1e-16 of the figure (the sign varies between runs), which a PDF writes as "0" or "-0": not drawn.
    stack = list(fig.subfigs)
    while stack:
        sub = stack.pop()
        sub.patch.set_visible(False)
        stack.extend(sub.subfigs)
    paths = []
    for fmt in ("png", "pdf"):
        buffer = io.BytesIO()
        # no CreationDate in a PDF: re-drawing the same table gives the same bytes
        fig.savefig(buffer, format=fmt, dpi=_DPI, metadata={"CreationDate": None} if fmt == "pdf" else None)
        path = stem.with_name(stem.name + "." + fmt)
        pio.atomic_write_bytes(path, buffer.getvalue())
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


def wrap_title(title: str | None, width_in: float) -> str | None:
    """A figure title with each line wrapped (at ", ") to ``width_in`` inches."""
    if not title:
        return title
    out: list[str] = []
    for line in title.split("\n"):
        pieces = _split_outside_brackets(line, ", ")
        out.extend(_pack([p + "," for p in pieces[:-1]] + pieces[-1:], width_in, _TITLE_PT))
    return "\n".join(out)


def _split_outside_brackets(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where it is not inside (), [] or {} (a tuple stays on one line)."""
    pieces, depth, start, i = [], 0, 0, 0
    while i < len(text):
        char = text[i]
        depth += char in "([{"
        depth -= char in ")]}"
        if depth <= 0 and text.startswith(separator, i):
            pieces.append(text[start:i])
            start = i = i + len(separator)
            continue
        i += 1
    pieces.append(text[start:])
    return pieces


def _estimator_handles(
    names: Sequence[str], all_names: Sequence[str], flagged: set[str]
) -> tuple[list[Any], list[str]]:
    handles: list[Any] = []
    labels: list[str] = []
    kwargs = _style_kwargs(all_names)
    for name in names:
        handles.append(Line2D([], [], **kwargs[name]))
        label = _plain_text(str(name))
        labels.append(label + " (!)" if name in flagged else label)
    return handles, labels


def _reference_handle() -> Line2D:
    return Line2D([], [], color=_REFERENCE_COLOR, linestyle=_REFERENCE_DASH, linewidth=1.0)


def dodge_factors(xs: np.ndarray, count: int, share: float = 0.25) -> tuple[np.ndarray, float]:
    """Multiplicative x offsets that spread ``count`` series over ``share`` of the smallest gap between
    the distinct positive ``xs`` on a log axis, centred on each x, so that markers and interval bars of
    different estimators at the same x do not hide each other.

    Returns the factors (one per series, in order) and the largest relative offset (for the caption).
    """
    grid = np.unique(np.asarray(xs, dtype=float))
    grid = grid[np.isfinite(grid) & (grid > 0)]
    gap = float(np.min(np.diff(np.log(grid)))) if len(grid) > 1 else math.log(2.0)
    if count < 2:
        return np.ones(max(count, 0)), 0.0
    offsets = share * gap * (np.arange(count) / (count - 1) - 0.5)
    return np.exp(offsets), float(np.expm1(offsets[-1]))


def _dodge_text(largest: float) -> str:
    return f"markers staggered in n by up to ±{100 * largest:.0f}% for legibility"


_NONFINITE_NOTE = "(!) non-finite estimates occurred for this estimator and were excluded."


def _captions_and_title(table, caption: str, largest, notes, flagged: bool, title: str | None):
    """The caption lines under a variance-style figure (the main caption ending with the stagger note, the
    estimator notes, the non-finite note when estimates were dropped) and its title (the table's default
    when none is given)."""
    caption += f"; {_dodge_text(largest)}." if largest else "."
    captions = [caption, *notes]
    if flagged:
        captions.append(_NONFINITE_NOTE)
    return captions, (_default_title(table) if title is None else title)


def plot_variance(
    table: pd.DataFrame,
    stem: str | Path,
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
) -> list[Path]:
    """Variance of each estimator against sample size, one log-log panel per parameter.

    Per estimator, in its fixed style (:mod:`pgjax.styles`): the variance across seeds (line and
    markers) with its 95% CI ``[var_lo, var_hi]`` as a shaded band and, where ``var_exact`` is known, the
    exact variance as a thin dotted line of the same colour. The estimators are staggered slightly in
    ``n`` (a few percent, said in the caption) so that coinciding lines stay visible. A dashed grey
    ``1/n`` line is anchored at the first estimator's smallest-``n`` variance (its first plottable
    point). Points with zero or NaN variance are left out. Estimators with non-finite estimates in any
    cell are marked ``(!)`` in the legend and the caption says so.

    Args:
      table: a results table (see :mod:`pgjax.io`); needs at least
        ``estimator, param, n, n_seeds, var, var_lo, var_hi`` (``var_exact``
        and ``n_nonfinite`` are used when present).
      stem: output path without suffix; writes ``stem.png`` (200 dpi) and
        ``stem.pdf`` (TrueType fonts), each atomically. Its folder must exist.
      title: figure title; ``None`` names the experiment and problem when the
        table has one of each, ``""`` gives no title. A second line (after
        ``"\\n"``) is wrapped to the figure's width.
      notes: further caption lines (e.g. :func:`settings_caption`).

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
    has_exact = "var_exact" in table.columns and bool(np.any(_positive(table["var_exact"].to_numpy(dtype=float))))
    ns_all = table["n"].to_numpy(dtype=float)
    kwargs = _style_kwargs(estimators)
    factors, largest = dodge_factors(ns_all, len(estimators))

    handles, labels = _estimator_handles(estimators, estimators, flagged)
    if has_exact:
        handles.append(Line2D([], [], color=_REFERENCE_COLOR, linestyle=":", linewidth=1.3))
        labels.append("exact variance")
    handles.append(_reference_handle())
    labels.append("1/n")

    caption = _seeds_text(table) + f"; shaded: 95% CI ({stats.INTERVAL_LABELS[stats.DEFAULT_INTERVAL]})"
    caption += "; dotted: exact variance" if has_exact else ""
    captions, title = _captions_and_title(table, caption, largest, notes, flagged, title)

    with plt.rc_context(STYLE):
        title = wrap_title(title, _figure_width(len(params)) - 0.3)
        fig, top, footer, axes, lines, ncol = _make_figure(len(params), labels, captions, title)
        try:
            for ax, param in zip(axes, params, strict=True):
                rows = table[table["param"] == param]
                anchor: tuple[float, float] | None = None
                for index, estimator in enumerate(estimators):
                    style = kwargs[estimator]
                    cell = rows[rows["estimator"] == estimator].sort_values("n")
                    n = cell["n"].to_numpy(dtype=float)
                    x = n * factors[index]
                    var = cell["var"].to_numpy(dtype=float)
                    ok = _positive(var) & (n > 0)
                    if np.any(ok):
                        ax.plot(x[ok], var[ok], zorder=3, **style)
                        if anchor is None:
                            anchor = (n[ok][0], var[ok][0])
                        lo = cell["var_lo"].to_numpy(dtype=float)[ok]
                        hi = cell["var_hi"].to_numpy(dtype=float)[ok]
                        band = _positive(lo) & _positive(hi)
                        ax.fill_between(
                            x[ok],
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
                                x[good],
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
    notes: Sequence[str] = (),
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
        table order). Each is drawn in its fixed style (:mod:`pgjax.styles`,
        resolved among all the table's estimators), as in :func:`plot_variance`.
      title: as in :func:`plot_variance`.
      notes: further caption lines.

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
    kwargs = _style_kwargs(all_estimators)

    handles, labels = _estimator_handles(chosen, all_estimators, flagged)
    handles.append(_reference_handle())
    labels.append("1/n")
    captions = [_seeds_text(sub) + "; bars: ±2 standard errors of the bias.", *notes]
    if flagged:
        captions.append(_NONFINITE_NOTE)
    if title is None:
        title = _default_title(table)

    with plt.rc_context(STYLE):
        title = wrap_title(title, _figure_width(len(params)) - 0.3)
        fig, top, footer, axes, lines, ncol = _make_figure(len(params), labels, captions, title)
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
                        **kwargs[estimator],
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


def ratio_reference(table: pd.DataFrame) -> str | None:
    """The estimator the table's variance ratios are taken against: the one whose ``var_ratio`` and
    interval are exactly 1 wherever finite (:func:`pgjax.analysis.stats.summarise_estimates` gives the reference
    ratio 1 with interval [1, 1]); None when the table has no ratios."""
    if not {"var_ratio", "var_ratio_lo", "var_ratio_hi"} <= set(table.columns):
        return None
    candidates = []
    for name in ordered_unique(table["estimator"]):
        cell = table[table["estimator"] == name]
        values = cell[["var_ratio", "var_ratio_lo", "var_ratio_hi"]].to_numpy(dtype=float)
        finite = values[np.all(np.isfinite(values), axis=1)]
        if finite.size and np.all(finite == 1.0):
            candidates.append(name)
    if not candidates:
        return None
    return styles.REFERENCE_ESTIMATOR if styles.REFERENCE_ESTIMATOR in candidates else candidates[0]


def has_ratios(table: pd.DataFrame) -> bool:
    """Whether the table has a ratio reference and a finite variance ratio of another estimator."""
    reference = ratio_reference(table)
    if reference is None:
        return False
    others = table[table["estimator"] != reference]
    return bool(np.any(_positive(others["var_ratio"].to_numpy(dtype=float))))


def plot_ratio(
    table: pd.DataFrame,
    stem: str | Path,
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
) -> list[Path]:
    """Variance of each estimator relative to the reference's (REINFORCE's) on the same seeds, against
    sample size, one log-log panel per parameter.

    Per estimator, in its fixed style: ``var_ratio`` with its paired 95% interval
    ``[var_ratio_lo, var_ratio_hi]`` as error bars (the estimates of both estimators come from the same
    random numbers, so the interval is that of the ratio, far narrower than two separate variance
    intervals would suggest), staggered slightly in ``n``. The reference itself is the horizontal line at
    1, in its own style; below 1 an estimator has less variance than the reference.

    Args:
      table: a results table with ``var_ratio, var_ratio_lo, var_ratio_hi`` (and ``estimator, param, n,
        n_seeds``); the reference is found by :func:`ratio_reference`.
      stem: output path without suffix; writes ``stem.png`` and ``stem.pdf`` atomically.
      title: as in :func:`plot_variance`.
      notes: further caption lines.

    Returns:
      ``[stem.png, stem.pdf]``.

    Raises:
      ValueError: the table is empty, lacks a needed column or has no variance ratios.
    """
    _check_columns(table, ("estimator", "param", "n", "n_seeds", "var_ratio", "var_ratio_lo", "var_ratio_hi"))
    reference = ratio_reference(table)
    if reference is None or not has_ratios(table):
        raise ValueError("table has no variance ratios to plot (no reference estimator with ratio 1)")
    stem = Path(stem)
    all_estimators = ordered_unique(table["estimator"])
    others = [e for e in all_estimators if e != reference]
    params = ordered_unique(table["param"])
    flagged = _nonfinite_estimators(table)
    ns_all = table["n"].to_numpy(dtype=float)
    kwargs = _style_kwargs(all_estimators)
    factors, largest = dodge_factors(ns_all, len(others))

    handles, labels = _estimator_handles(others, all_estimators, flagged)
    ref_style = {k: v for k, v in kwargs[reference].items() if k != "marker"}
    handles.insert(0, Line2D([], [], linewidth=1.0, **ref_style))
    labels.insert(0, _plain_text(str(reference)) + " (reference, ratio 1)")
    caption = (
        f"Variance / variance of {_plain_text(str(reference))} on the same seeds; {_seeds_text(table)}; "
        "bars: paired 95% CI of the ratio"
    )
    captions, title = _captions_and_title(table, caption, largest, notes, flagged, title)

    with plt.rc_context(STYLE):
        title = wrap_title(title, _figure_width(len(params)) - 0.3)
        fig, top, footer, axes, lines, ncol = _make_figure(len(params), labels, captions, title)
        try:
            for ax, param in zip(axes, params, strict=True):
                rows = table[table["param"] == param]
                ax.axhline(1.0, linewidth=1.3, zorder=2, **ref_style)
                for index, estimator in enumerate(others):
                    cell = rows[rows["estimator"] == estimator].sort_values("n")
                    n = cell["n"].to_numpy(dtype=float)
                    ratio = cell["var_ratio"].to_numpy(dtype=float)
                    ok = _positive(ratio) & (n > 0)
                    if not np.any(ok):
                        continue
                    lo = cell["var_ratio_lo"].to_numpy(dtype=float)[ok]
                    hi = cell["var_ratio_hi"].to_numpy(dtype=float)[ok]
                    y = ratio[ok]
                    lower = np.where(_positive(lo), y - lo, 0.0)
                    upper = np.where(np.isfinite(hi), hi - y, 0.0)
                    ax.errorbar(
                        n[ok] * factors[index],
                        y,
                        yerr=np.vstack([np.maximum(lower, 0.0), np.maximum(upper, 0.0)]),
                        linewidth=1.2,
                        elinewidth=0.9,
                        capsize=2.0,
                        zorder=3,
                        **kwargs[estimator],
                    )
                _finish_axes(ax, ns_all)
                ratio_axis(ax)
                ax.set_title(param_label(str(param)))
            _decorate(
                top,
                footer,
                handles,
                labels,
                lines,
                ncol,
                ylabel=f"variance / {_plain_text(str(reference))}'s (same seeds)",
                title=title,
            )
            return save_figure(fig, stem)
        finally:
            plt.close(fig)


def _plain_number(value: float, _pos: Any = None) -> str:
    return f"{value:g}"


def _plain_minor(value: float, _pos: Any = None) -> str:
    """Minor log tick labels at 2 and 5 times a power of 10 (0.2, 0.5, 2, 5); the rest unlabelled."""
    if not value > 0:
        return ""
    mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
    return f"{value:g}" if any(abs(mantissa - m) < 1e-6 for m in (2.0, 5.0)) else ""


def ratio_axis(ax: Any) -> None:
    """A log y axis of ratios labelled with plain numbers (0.1, 0.2, 0.5, 1, 2), with the 2 and 5 ticks
    labelled when the axis spans at most 2.5 decades, so a ratio can be read off without counting."""
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    ax.yaxis.set_major_formatter(FuncFormatter(_plain_number))
    if lo > 0 and math.log10(hi / lo) <= 2.5:
        ax.yaxis.set_minor_formatter(FuncFormatter(_plain_minor))
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def folder_manifest(folder: Path) -> dict[str, Any]:
    """The folder's manifest, or {} when it has none or an unreadable one (figures then use the table)."""
    try:
        return pio.read_manifest(folder)
    except pio.ResultsError:
        return {}


def draw_variance_figures(
    table: pd.DataFrame,
    folder: Path,
    manifest: dict[str, Any] | None = None,
    *,
    suffix: str = "",
    title_suffix: str = "",
    bias: bool = True,
    bias_estimators: Sequence[str] | None = None,
) -> list[Path]:
    """The standard figures of one variance-against-n table: ``figure{suffix}`` (:func:`plot_variance`),
    ``bias{suffix}`` (:func:`plot_bias`, of ``bias_estimators`` when given; skipped when ``bias`` is
    False) and ``ratio{suffix}`` (:func:`plot_ratio`, when the table has variance ratios). Titles name
    every problem parameter of the manifest (:func:`figure_title`), captions the estimators' settings."""
    folder = Path(folder)
    title = figure_title(manifest, table, suffix=title_suffix)
    names = ordered_unique(table["estimator"])

    def notes(drawn: Sequence[Any]) -> list[str]:
        note = settings_caption(manifest, drawn)
        return [note] if note else []

    paths = plot_variance(table, folder / f"figure{suffix}", title=title, notes=notes(names))
    if bias:
        against = (manifest or {}).get("bias_reference")  # bias measured against an estimate, not the exact gradient
        extra = [f"Bias against the {against}."] if isinstance(against, str) else []
        paths += plot_bias(
            table,
            folder / f"bias{suffix}",
            estimators=bias_estimators,
            title=title,
            notes=extra + notes(bias_estimators or names),
        )
    if has_ratios(table):
        paths += plot_ratio(table, folder / f"ratio{suffix}", title=title, notes=notes(names))
    return paths


def draw_all(folder: str | Path) -> list[Path]:
    """Redraw every figure of a results folder from its saved table and manifest.

    Reads ``<folder>/table.parquet`` with :func:`pgjax.io.read_table`
    and writes ``figure.png``/``figure.pdf`` (:func:`plot_variance`),
    ``bias.png``/``bias.pdf`` (:func:`plot_bias`) and, when the table has
    variance ratios, ``ratio.png``/``ratio.pdf`` (:func:`plot_ratio`) into the
    folder, each file atomically. The titles come from ``manifest.json``
    when there is one (:func:`figure_title`).

    Returns:
      The paths written.

    Raises:
      ResultsError: the table is missing, corrupt, foreign or empty.
    """
    folder = Path(folder)
    table = pio.read_table(folder)
    if len(table) == 0:
        raise pio.ResultsError(f"{folder / pio.TABLE_FILE}: results table has no rows")
    manifest = folder_manifest(folder)
    # The manifest may name the estimators worth a bias panel (the biased ones and a comparator).
    chosen = manifest.get("bias_estimators")
    present = set(table["estimator"])
    chosen = [name for name in (chosen if isinstance(chosen, list) else []) if name in present] or None
    return draw_variance_figures(table, folder, manifest, bias_estimators=chosen)

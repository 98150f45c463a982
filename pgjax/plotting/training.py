"""Figures of policy-gradient training runs, drawn from their saved tables only.

The tables are those of :mod:`pgjax.analysis.bootstrap` (the methodology of Agarwal et al. 2021, "Deep RL at the
Edge of the Statistical Precipice"), saved as parquet in a results folder:

* :func:`plot_learning_curves`: the IQM return of each variant against environment steps, with its 95%
  stratified-bootstrap band (``learning_curve_table`` format), and an optional dashed target line (e.g.
  CartPole's 500).
* :func:`plot_improvement`: the probability of improvement ``P(X > Y)`` of each pair of variants as a
  point with its interval, rliable style, with a dashed line at 1/2 (``improvement_table`` format).
* :func:`draw`: both figures of a folder, from ``curves.parquet`` and ``improvement.parquet``.

Each variant is drawn in its estimator's fixed colour, marker and line style of :mod:`pgjax.styles` (the same
as in the variance figures; several learning rates of one estimator share its colour, with hollow markers and
their own line styles). The rc style and the atomic PNG + PDF (TrueType fonts) saving are those of
:mod:`pgjax.plotting.variance`. Titles name the training settings that change the curves (:func:`training_parameters`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter

from pgjax import io as pio
from pgjax import styles
from pgjax.plotting.variance import (
    STYLE,
    _check_columns,
    _legend_layout,
    _plain_text,
    ordered_unique,
    save_figure,
    wrap_title,
)

__all__ = [
    "CURVES_FILE",
    "IMPROVEMENT_FILE",
    "training_parameters",
    "plot_learning_curves",
    "plot_improvement",
    "draw",
]

CURVES_FILE = "curves.parquet"
IMPROVEMENT_FILE = "improvement.parquet"

_CURVE_NUMERIC = ("point", "env_steps", "iqm", "iqm_lo", "iqm_hi", "n_seeds")
_CURVE_NEEDED = ("variant", *_CURVE_NUMERIC)
_IMPROVEMENT_NUMERIC = ("probability", "lo", "hi")
_IMPROVEMENT_NEEDED = ("variant_x", "variant_y", *_IMPROVEMENT_NUMERIC)

_GREY = "0.45"
_DASH = (0, (5, 3))
_SUBTITLE_PT = 9
_WIDTH = 6.4  # inches


def _percent(confidence: float) -> str:
    return f"{100 * confidence:.4g}%"


def _seeds_text(seeds: np.ndarray) -> str:
    lo, hi = int(np.min(seeds)), int(np.max(seeds))
    return f"{lo} seeds" if lo == hi else f"{lo}–{hi} seeds"


def plot_learning_curves(
    curves: pd.DataFrame,
    path_stem: str | Path,
    *,
    title: str | None = None,
    ylabel: str = "return",
    target: float | None = None,
    confidence: float = 0.95,
) -> list[Path]:
    """IQM learning curves with shaded stratified-bootstrap bands, one line per variant.

    x is environment steps (``env_steps``), y the interquartile mean over seeds (``iqm``) with the band
    ``[iqm_lo, iqm_hi]``. Variants keep their table order for colours (Okabe-Ito) and line styles; the legend
    sits below the axes. A dashed grey horizontal line marks ``target`` when given. The subtitle says
    "IQM over N seeds, 95% stratified bootstrap CI".

    Args:
      curves: a :func:`pgjax.analysis.bootstrap.learning_curve_table` table (``variant, point, env_steps, iqm, iqm_lo,
        iqm_hi, n_seeds`` are needed).
      path_stem: output path without suffix; writes ``path_stem.png`` and ``path_stem.pdf`` atomically.
      title: figure title (none when None).
      ylabel: y-axis label.
      target: y value of a dashed reference line (e.g. 500 for CartPole-v1), or None.
      confidence: the level the intervals were computed at (only for the subtitle).

    Returns:
      ``[path_stem.png, path_stem.pdf]``.

    Raises:
      ValueError: the table is empty or lacks a needed column.
    """
    _check_columns(curves, _CURVE_NEEDED)
    stem = Path(path_stem)
    variants = ordered_unique(curves["variant"])
    looks = styles.style_map(variants)
    labels = [_plain_text(str(v)) for v in variants]
    handles: list[Any] = []
    with plt.rc_context(STYLE):
        legend_labels = labels + ([f"target ({target:g})"] if target is not None else [])
        ncol, legend_rows = _legend_layout(legend_labels, _WIDTH - 0.3)
        title = wrap_title(_plain_text(title), _WIDTH - 0.3) if title else None
        extra = 0.2 * title.count("\n") if title else 0.0
        fig = plt.figure(figsize=(_WIDTH, 3.9 + 0.22 * legend_rows + extra), layout="constrained")
        try:
            ax = fig.subplots()
            for index, variant in enumerate(variants):
                rows = curves[curves["variant"] == variant].sort_values("env_steps")
                x = rows["env_steps"].to_numpy(dtype=float)
                style = looks[variant].kwargs()
                # Markers on every point of short curves; on long ones about 8 per curve, offset between the
                # variants so that curves on top of each other still show each one's markers.
                step = max(1, math.ceil(len(x) / 8))
                markevery = None if len(x) <= 12 else (index * step // max(len(variants), 1) % step, step)
                ax.fill_between(
                    x,
                    rows["iqm_lo"].to_numpy(dtype=float),
                    rows["iqm_hi"].to_numpy(dtype=float),
                    color=style["color"],
                    alpha=0.2,
                    linewidth=0,
                    zorder=2,
                )
                (line,) = ax.plot(x, rows["iqm"].to_numpy(dtype=float), markevery=markevery, zorder=3, **style)
                handles.append(line)
            if target is not None:
                ax.axhline(target, color=_GREY, linestyle=_DASH, linewidth=1.0, zorder=1)
                handles.append(Line2D([], [], color=_GREY, linestyle=_DASH, linewidth=1.0))
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
            ax.set_xlabel("environment steps")
            ax.set_ylabel(_plain_text(ylabel))
            ax.tick_params(direction="out")
            subtitle = (
                f"IQM over {_seeds_text(curves['n_seeds'].to_numpy())}, {_percent(confidence)} stratified bootstrap CI"
            )
            ax.set_title(subtitle, fontsize=_SUBTITLE_PT, color="0.3")
            if title:
                fig.suptitle(title)
            fig.legend(
                handles,
                legend_labels,
                loc="outside lower center",
                ncol=ncol,
                frameon=False,
                handlelength=2.6,
                columnspacing=1.6,
            )
            return save_figure(fig, stem)
        finally:
            plt.close(fig)


def _pairs(table: pd.DataFrame) -> pd.DataFrame:
    """One row per unordered pair: the row whose ``variant_x`` comes first in the variants' order.

    ``P(Y > X) = 1 - P(X > Y)`` (with the mirrored interval), so the other orientation adds nothing.
    """
    order = {v: i for i, v in enumerate(ordered_unique(pd.concat([table["variant_x"], table["variant_y"]])))}
    present = set(zip(table["variant_x"], table["variant_y"]))
    keep = [(y, x) not in present or order[x] < order[y] for x, y in zip(table["variant_x"], table["variant_y"])]
    return table[keep].drop_duplicates(subset=["variant_x", "variant_y"])


def plot_improvement(
    table: pd.DataFrame,
    path_stem: str | Path,
    *,
    title: str | None = None,
    confidence: float = 0.95,
    n_seeds: str | None = None,
) -> list[Path]:
    """Probability of improvement of each pair of variants, rliable style.

    One row per unordered pair ``X vs Y`` (the orientation with ``X`` first in the table's order; the
    mirrored row adds nothing, as ``P(Y > X) = 1 - P(X > Y)``): a point at ``P(X > Y)`` with a horizontal
    bar over its interval, in ``X``'s colour, and the value with its interval printed on the right. A
    dashed vertical line marks 1/2 (no difference); points right of it favour ``X``.

    Args:
      table: a :func:`pgjax.analysis.bootstrap.improvement_table` table (``variant_x, variant_y, probability, lo,
        hi``).
      path_stem: output path without suffix; writes ``path_stem.png`` and ``path_stem.pdf`` atomically.
      title: figure title (none when None).
      confidence: the level the intervals were computed at (only for the subtitle).
      n_seeds: optional text such as ``"256 seeds"`` for the subtitle.

    Returns:
      ``[path_stem.png, path_stem.pdf]``.

    Raises:
      ValueError: the table is empty or lacks a needed column.
    """
    _check_columns(table, _IMPROVEMENT_NEEDED)
    stem = Path(path_stem)
    variants = ordered_unique(pd.concat([table["variant_x"], table["variant_y"]]))
    rows = _pairs(table)
    count = len(rows)
    p = rows["probability"].to_numpy(dtype=float)
    lo = rows["lo"].to_numpy(dtype=float)
    hi = rows["hi"].to_numpy(dtype=float)
    ends = np.concatenate([p, lo, hi, [0.5]])
    ends = ends[np.isfinite(ends)]
    span = max(float(ends.max() - ends.min()), 0.1)
    left = max(0.0, float(ends.min()) - 0.08 * span)
    right = min(1.0, float(ends.max()) + 0.08 * span)
    looks = styles.style_map(variants)
    with plt.rc_context(STYLE):
        title = wrap_title(_plain_text(title), _WIDTH - 0.3) if title else None
        extra = 0.2 * title.count("\n") if title else 0.0
        fig = plt.figure(figsize=(_WIDTH, 1.3 + 0.34 * count + extra), layout="constrained")
        try:
            ax = fig.subplots()
            positions = np.arange(count)[::-1]  # first pair on top
            for pos, (_, row), pi, li, hi_ in zip(positions, rows.iterrows(), p, lo, hi, strict=True):
                look = looks[row["variant_x"]].kwargs()
                color = look["color"]
                ax.plot([li, hi_], [pos, pos], color=color, linewidth=3.0, alpha=0.55, solid_capstyle="butt", zorder=2)
                ax.plot(
                    [pi],
                    [pos],
                    marker=look["marker"],
                    markerfacecolor=look.get("markerfacecolor", color),
                    color=color,
                    markersize=5.5,
                    linestyle="none",
                    zorder=3,
                )
            ax.axvline(0.5, color=_GREY, linestyle=_DASH, linewidth=1.0, zorder=1)
            ax.set_ylim(-0.6, count - 0.4)
            ax.set_xlim(left, right)
            ax.set_yticks(positions)
            ax.set_yticklabels(
                [
                    f"{_plain_text(str(x))}  vs  {_plain_text(str(y))}"
                    for x, y in zip(rows["variant_x"], rows["variant_y"])
                ]
            )
            ax.tick_params(axis="y", length=0)
            ax.grid(axis="y", visible=False)
            right_axis = ax.twinx()
            right_axis.set_ylim(ax.get_ylim())
            right_axis.set_yticks(positions)
            right_axis.set_yticklabels([_interval_text(*v) for v in zip(p, lo, hi, strict=True)])
            right_axis.tick_params(axis="y", length=0, labelsize=8.5, labelcolor="0.3")
            right_axis.grid(False)
            for side in ("top", "left", "right"):
                right_axis.spines[side].set_visible(False)
            ax.spines["left"].set_visible(False)
            ax.set_xlabel("probability of improvement  P(X > Y)")
            subtitle = f"P(X > Y) + ½ P(X = Y), {_percent(confidence)} stratified bootstrap CI"
            if n_seeds:
                subtitle += f", {n_seeds}"
            ax.set_title(subtitle, fontsize=_SUBTITLE_PT, color="0.3")
            if title:
                fig.suptitle(title)
            return save_figure(fig, stem)
        finally:
            plt.close(fig)


def _interval_text(p: float, lo: float, hi: float) -> str:
    def fmt(v: float) -> str:
        return "nan" if not math.isfinite(v) else f"{v:.2f}"

    return f"{fmt(p)} [{fmt(lo)}, {fmt(hi)}]"


# ------------------------------------------------------------------------------------------------- driver


def _read(path: Path, needed: Sequence[str], numeric: Sequence[str], what: str) -> pd.DataFrame:
    """A parquet table with the ``needed`` columns (``numeric`` ones numeric), or a one-line ResultsError."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise pio.ResultsError(f"{path}: no {what} (file not found)")
    try:
        table = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as err:
        message = " ".join(str(err).split())
        raise pio.ResultsError(f"{path}: unreadable {what} ({message})") from err
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise pio.ResultsError(f"{path}: not a {what} (missing columns: {', '.join(missing)})")
    wrong = [c for c in numeric if not pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c])]
    if wrong:
        raise pio.ResultsError(f"{path}: not a {what} (non-numeric columns: {', '.join(wrong)})")
    return table


def _manifest(folder: Path) -> dict[str, Any]:
    """The folder's manifest, or {} when there is none (a present but bad one raises ResultsError)."""
    if not (folder / pio.MANIFEST_FILE).exists():
        return {}
    return pio.read_manifest(folder)


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return f"{value:g}" if isinstance(value, float) else str(value)


def training_parameters(manifest: dict[str, Any]) -> list[str]:
    """``"name = value"`` for each setting of a training run (manifest ``config``) that changes its curves and
    that the title does not already give: horizon, discount, the learning rate (one; several are in the variant
    names), optimiser, gradient clipping when on, the hidden layers of MLP policies, the initial log sigma of
    Gaussian ones, and GAE's lambda and the critic's settings when a variant uses a critic."""
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    policy = str(config.get("policy", ""))
    estimators = [str(e) for e in config.get("estimators", []) or []]
    out = []

    def add(label: str, key: str, when: bool = True) -> None:
        if when and key in config and config[key] is not None:
            out.append(f"{label} = {_fmt(config[key])}")

    add("H", "horizon")
    add("γ", "discount")
    rates = config.get("learning_rates")
    if isinstance(rates, (list, tuple)) and len(rates) == 1:
        out.append(f"learning rate = {_fmt(rates[0])}")
    add("optimiser", "optimiser")
    clipping = config.get("max_grad_norm")
    add("max_grad_norm", "max_grad_norm", isinstance(clipping, (int, float)) and clipping > 0)
    add("policy hidden layers", "hidden", "mlp" in policy)
    add("init_log_sigma", "init_log_sigma", "gaussian" in policy)
    add("GAE λ", "lam", "gae" in estimators)
    critic = any(e in ("value_baseline", "gae") for e in estimators)
    add("critic hidden", "critic_hidden", critic)
    add("critic learning rate", "critic_learning_rate", critic)
    add("critic epochs", "critic_epochs", critic)
    return out


def _title(manifest: dict[str, Any]) -> str | None:
    if isinstance(manifest.get("title"), str):
        first = manifest["title"]
    else:
        parts = [str(manifest[k]) for k in ("experiment", "problem") if isinstance(manifest.get(k), str)]
        if not parts:
            return None
        first = parts[0] if len(parts) == 1 or parts[0] == parts[1] else f"{parts[0]}: {parts[1]}"
    parameters = training_parameters(manifest)
    return first + ("\n" + ", ".join(parameters) if parameters else "")


def _number(manifest: dict[str, Any], key: str) -> float | None:
    """``manifest[key]`` or ``manifest["config"][key]`` when it is a finite real number, else None."""
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    for source in (manifest, config):
        value = source.get(key)
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def draw(folder: str | Path) -> list[Path]:
    """Redraw the training figures of a results folder from its saved tables.

    Reads ``<folder>/curves.parquet`` (:func:`pgjax.analysis.bootstrap.learning_curve_table`) and
    ``<folder>/improvement.parquet`` (:func:`pgjax.analysis.bootstrap.improvement_table`), and writes
    ``figure.{png,pdf}`` (:func:`plot_learning_curves`) and ``improvement.{png,pdf}``
    (:func:`plot_improvement`), each file atomically. The improvement figure is skipped when its table has
    no rows (a single variant: nothing to compare).

    ``manifest.json`` is optional. When present it gives the title (``"title"``, else ``"experiment"`` and
    ``"problem"``) and, at its top level or in its ``"config"``, optionally ``"target"`` (the dashed line),
    ``"confidence"`` (the intervals' level, default 0.95) and ``"ylabel"``.

    Returns:
      The paths written.

    Raises:
      ResultsError: a table is missing, unreadable, lacks a column or has no rows, or the manifest is present
        but unreadable; the one-line message names the file.
    """
    folder = Path(folder)
    curves_path = folder / CURVES_FILE
    improvement_path = folder / IMPROVEMENT_FILE
    curves = _read(curves_path, _CURVE_NEEDED, _CURVE_NUMERIC, "learning-curve table")
    if len(curves) == 0:
        raise pio.ResultsError(f"{curves_path}: learning-curve table has no rows")
    improvement = _read(improvement_path, _IMPROVEMENT_NEEDED, _IMPROVEMENT_NUMERIC, "improvement table")
    manifest = _manifest(folder)
    title = _title(manifest)
    confidence = _number(manifest, "confidence") or 0.95
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    ylabel = next((s["ylabel"] for s in (manifest, config) if isinstance(s.get("ylabel"), str)), "return")
    paths = plot_learning_curves(
        curves,
        folder / "figure",
        title=title,
        ylabel=ylabel,
        target=_number(manifest, "target"),
        confidence=confidence,
    )
    if len(improvement):
        seeds = _seeds_text(curves["n_seeds"].to_numpy()) + " per variant"
        paths += plot_improvement(
            improvement, folder / "improvement", title=title, confidence=confidence, n_seeds=seeds
        )
    return paths

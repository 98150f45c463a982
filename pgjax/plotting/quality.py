"""The figure of the gradient-quality experiment, drawn from its saved ``quality.parquet`` only.

:func:`draw_quality` draws, per setting (one column: LQR with its exact gradient, each CartPole or Pendulum
snapshot with its reference gradient) and against the state-action pairs of one estimate (log scale), three rows: the
mean cosine similarity between an estimate and the true gradient, the mean pairwise cosine between two
independent estimates (Ilyas et al. 2020, "A Closer Look at Deep Policy Gradients", Figs. 2-3), and the
noise-to-signal ratio E||g_hat - g||^2 / ||g||^2 (log scale) with its exact value as a dotted line where
known. Every Monte Carlo point has its 95% interval as an error bar. A dashed vertical line marks the
state-action pairs per update of a standard implementation (the manifest's ``standard_budget``: PPO's
default 2048). Every estimator keeps its fixed style of :mod:`pgjax.styles`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from pgjax import io as pio
from pgjax import styles
from pgjax.plotting.variance import STYLE, ordered_unique, save_figure

__all__ = ["draw_quality"]

_GREY = "0.45"
_ROWS = (
    ("cos", "cosine to the true gradient"),
    ("pair_cos", "mean pairwise cosine"),
    ("nse", "noise-to-signal ratio\nE‖ĝ − g‖² / ‖g‖²"),
)


def _column_title(setting: str) -> str:
    if setting == "lqr":
        return "LQR (exact gradient)"
    if setting.startswith("cartpole-"):
        return f"CartPole, {setting.removeprefix('cartpole-')} policy\n(reference gradient)"
    if setting.startswith("pendulum-"):
        return f"Pendulum, {setting.removeprefix('pendulum-')} policy\n(reference gradient)"
    return setting


def draw_quality(folder: str | Path) -> list[Path]:
    """Writes ``figure.{png,pdf}`` into ``folder`` from its ``quality.parquet`` and ``manifest.json``."""
    folder = Path(folder)
    q = pio.read_quality(folder)
    for column in ("setting", "pairs"):
        if column not in q.columns:
            raise pio.ResultsError(f"{folder / pio.QUALITY_FILE}: no {column} column (not a gradient-quality table)")
    info = pio.read_manifest(folder)
    budget = float(info.get("standard_budget", 2048))
    settings = ordered_unique(q["setting"])
    names = ordered_unique(q["estimator"])
    style = {name: s.kwargs() for name, s in styles.style_map(names).items()}
    cols = len(settings)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            len(_ROWS), cols, figsize=(max(3.3 * cols, 7.0), 2.5 * len(_ROWS) + 1.6), squeeze=False, sharex="col"
        )
        for j, setting in enumerate(settings):
            sub = q[q["setting"] == setting]
            for i, (column, label) in enumerate(_ROWS):
                ax = axes[i][j]
                for k, name in enumerate(names):
                    rows = sub[sub["estimator"] == name].sort_values("n")
                    if rows.empty:
                        continue
                    x = rows["pairs"].to_numpy(float) * (1.0 + 0.04 * (k - (len(names) - 1) / 2))  # dodge
                    y = rows[column].to_numpy(float)
                    lo, hi = rows[f"{column}_lo"].to_numpy(float), rows[f"{column}_hi"].to_numpy(float)
                    yerr = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
                    yerr = np.where(np.isfinite(yerr), yerr, 0.0)
                    ax.errorbar(x, y, yerr=yerr, capsize=2, markersize=4, linewidth=1.0, **style[name])
                    if column == "nse" and rows["nse_exact"].notna().any():
                        ax.plot(
                            rows["pairs"].to_numpy(float),
                            rows["nse_exact"].to_numpy(float),
                            linestyle=":",
                            color=style[name]["color"],
                            linewidth=1.2,
                        )
                ax.axvline(budget, color=_GREY, linestyle="--", linewidth=1.0, zorder=0)
                ax.set_xscale("log")
                if column == "nse":
                    ax.set_yscale("log")
                    ax.axhline(1.0, color="0.75", linewidth=0.8, zorder=0)
                else:
                    ax.axhline(0.0, color="0.75", linewidth=0.8, zorder=0)
                    low = np.nanmin(np.r_[sub[f"{column}_lo"].to_numpy(float), 0.0])
                    ax.set_ylim(max(-1.05, low - 0.05), 1.05)
                if j == 0:
                    ax.set_ylabel(label)
                if i == 0:
                    ax.set_title(_column_title(str(setting)), fontsize=10)
                if i == len(_ROWS) - 1:
                    ax.set_xlabel("state-action pairs per estimate\n(n episodes × mean episode length)")
        handles = [Line2D([], [], **style[name]) for name in names]
        labels = [str(name) for name in names]
        handles += [
            Line2D([], [], color="0.3", linestyle=":", linewidth=1.2),
            Line2D([], [], color=_GREY, linestyle="--", linewidth=1.0),
        ]
        labels += ["exact (LQR)", f"{budget:g} pairs: PPO's default per update"]
        seeds = info.get("n_seeds", {})
        caption = (
            "Points: mean over seeds ("
            + ", ".join(
                f"{label} {seeds.get(key, '?')}"
                for key, label in (("lqr", "LQR"), ("cartpole", "CartPole"), ("pendulum", "Pendulum"))
                if any(str(s).split("-")[0] == key for s in settings)
            )
            + " per point; "
            "pairwise cosines over disjoint seed pairs) with 95% normal intervals (log-scale for the ratio)."
        )
        fig.legend(
            handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False, bbox_to_anchor=(0.5, 0.035)
        )
        fig.text(0.5, 0.005, caption, ha="center", va="bottom", fontsize=8, color="0.25")
        fig.suptitle("Gradient quality against the sample budget (Ilyas et al. 2020)")
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        paths = save_figure(fig, folder / "figure")
        plt.close(fig)
    return paths

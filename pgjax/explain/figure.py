"""The walkthrough's figure: the integrand of the slope, and the noise of one-sample estimates.

Left panel: the density pi(a) (on its own right-hand scale), the score psi(a), the reward r(a) and their product
pi psi r = dpi/dtheta r, shaded, whose area is the exact slope. Right panel: histograms of one-sample
estimates of three estimators with the exact slope marked. PNG bytes without a timestamp.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, MaxNLocator

from pgjax.explain.document import fmt
from pgjax.explain.numbers import Numbers
from pgjax.plotting.variance import PALETTE, STYLE

_BLUE, _VERMILLION, _GREEN, _PURPLE, _ORANGE = PALETTE[:5]
_HISTOGRAMS = (
    ("reinforce", "no baseline", _VERMILLION),
    ("mean_reward_baseline", "baseline b = J", _ORANGE),
    ("pathwise", "pathwise", _BLUE),
)


def _integrand_panel(ax, nb: Numbers) -> None:
    a = nb.curve_action
    product = nb.curve_product
    ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=1)
    ax.fill_between(a, product, 0.0, color=_GREEN, alpha=0.25, linewidth=0, zorder=2)
    ax.plot(a, product, color=_GREEN, linewidth=2.2, zorder=4, label=f"π ψ r = ∂π/∂θ · r  (area {fmt(nb.grad)})")
    ax.plot(a, nb.curve_score, color=_BLUE, linewidth=1.5, zorder=3, label="score ψ(a) = (a - μ) s / σ²")
    ax.plot(a, nb.curve_reward, color=_VERMILLION, linewidth=1.5, zorder=3, label=f"reward r(a) = {nb.reward_text}")
    # Keep the product readable: the score and the reward may leave the frame at the edges.
    scale = max(np.max(np.abs(product)), 1e-12)
    finite = np.concatenate([product, nb.curve_score])
    lo = max(np.min(finite), -3.0 * scale)
    hi = min(np.max(finite), 3.0 * scale)
    pad = 0.12 * (hi - lo)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlim(a[0], a[-1])
    ax.set_xlabel("action a")
    ax.set_title("the slope dJ/dθ is the area under π ψ r", loc="left")

    twin = ax.twinx()
    twin.plot(a, nb.curve_density, color="0.35", linewidth=1.3, linestyle=(0, (4, 2)), label="density π(a)")
    # The density's zero sits on the left axis' zero; its peak reaches about 60% of the height above it.
    left_lo, left_hi = ax.get_ylim()
    top = 1.6 * np.max(nb.curve_density)
    twin.set_ylim(top * left_lo / left_hi, top)
    ticks = [t for t in MaxNLocator(4).tick_values(0.0, np.max(nb.curve_density)) if 0.0 <= t <= top]
    twin.yaxis.set_major_locator(FixedLocator(ticks))
    twin.set_ylabel("density π(a)", color="0.35", loc="top")
    twin.tick_params(axis="y", colors="0.35")
    twin.spines["right"].set_visible(True)
    twin.spines["right"].set_bounds(0.0, top)
    twin.spines["top"].set_visible(False)
    twin.grid(False)
    ax.axvline(nb.mu, color="0.7", linewidth=0.8, linestyle=":", zorder=1)
    ax.text(nb.mu, 0.99, " μ", transform=ax.get_xaxis_transform(), ha="left", va="top", color="0.4", fontsize=9)

    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, loc="upper left", frameon=True, framealpha=0.9, edgecolor="none", fontsize=8)


def _histogram_panel(ax, nb: Numbers) -> None:
    by_key = {v.key: v for v in nb.variance}
    plain = by_key["reinforce"].samples
    lo, hi = np.quantile(plain, [0.005, 0.995])  # the middle 99% of the plain estimates
    lo, hi = min(lo, nb.grad), max(hi, nb.grad)
    bins = np.linspace(lo, hi, 91)
    for key, label, color in _HISTOGRAMS:
        v = by_key[key]
        ax.hist(
            v.samples,
            bins=bins,
            density=True,
            histtype="step",
            linewidth=1.6,
            color=color,
            label=f"{label}: variance {fmt(v.exact, 3)}",
        )
    ax.axvline(nb.grad, color="0.2", linewidth=1.0, linestyle=(0, (5, 3)), label=f"exact slope {fmt(nb.grad)}")
    ax.set_xlim(lo, hi)
    ax.set_yscale("log")
    ax.set_xlabel("one-sample estimate of dJ/dθ")
    ax.set_ylabel("density (log scale)")
    ax.set_title(f"{len(plain):,} one-sample estimates (n = 1): the noise", loc="left")
    ax.legend(loc="upper right", frameon=True, framealpha=0.9, edgecolor="none", fontsize=8)


def draw(nb: Numbers) -> bytes:
    """The figure as PNG bytes (150 dpi, no timestamp or software metadata)."""
    style = dict(STYLE)
    style.update({"axes.grid": True, "font.size": 9})
    with plt.rc_context(style):
        fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 4.2), layout="constrained")
        _integrand_panel(left, nb)
        _histogram_panel(right, nb)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=150, metadata={"Software": None})
        plt.close(fig)
    return buffer.getvalue()

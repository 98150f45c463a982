"""Reproduction of the Bernoulli toy experiment of Kool, van Hoof & Welling (2020), "Estimating Gradients for
Discrete Random Variables by Sampling without Replacement" (ICLR), Section 6.1 and its figure of gradient
variance against the number of function evaluations (set-up from Liu et al. 2019, "Rao-Blackwellized Stochastic
Gradients for Discrete Distributions").

Problem (:class:`pgjax.problems.bernoulli.BernoulliVector`): x in {0, 1}^3, x_i ~ Bernoulli(sigmoid(eta))
independently with ONE logit eta shared by the coordinates, f(x) = sum_i (x_i - p0_i)^2 with
p0 = (0.6, 0.51, 0.48); the quantity is the variance of the estimate of dE[f]/d eta, at eta = 0 (high entropy:
the 8 outcomes are equally likely) and eta = -4 (low entropy: x = 0 has probability 0.946). As in their
notebook, k = 1 ... 8 samples (8 = every outcome).

Estimators: REINFORCE with k samples drawn with replacement and its leave-one-out baseline (their "VIMCO", no
baseline and built-in baseline), deterministic and stochastic sum-and-sample without a baseline and with a sampled
baseline per term ("sample bl", 2k evaluations), and the unordered set estimator without and with its built-in
baseline (:mod:`pgjax.estimators.without_replacement`).

Numbers. The two values of eta are the settings of a grid (axis ``eta``). Both settings use the same problem object
(the logit is a parameter, traced), so the engine compiles each program once for both. Every point is the
variance over R seeds of one estimate with k samples, with its 95% interval (:mod:`pgjax.analysis.stats`); the
exact variance of the k-sample estimate (``var_exact``) comes from each estimator's ``n_sample_variance``: by
enumeration of the draws for the without-replacement estimators, from the closed form for the leave-one-out
baseline, (single-sample variance) / k for REINFORCE. The table has the extra columns ``eta`` and
``evaluations`` (k, or 2k with a sampled baseline), the figure's x axis.

Outputs: the standard table, raw.npz, manifest.json and ``figure.png``/``.pdf`` (drawn from the table only).
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from pgjax import io as pio
from pgjax.engine.grid import Setting, run_grid
from pgjax.errors import ConfigError
from pgjax.estimators import make_estimator
from pgjax.estimators.base import available_on
from pgjax.experiment import ExperimentResult, Hooks, check_estimator_names, check_seeds, save_with, summarise_grid
from pgjax.problems.bernoulli import MAX_DIM, BernoulliVector, SquaredDistance

NAME = "kool2020-bernoulli"

#: The figure's estimators, in the order of Kool et al.'s legend (no baseline first, then with one).
PAPER_ESTIMATORS = (
    "reinforce",
    "sum_and_sample",
    "sum_and_sample_stochastic",
    "unordered_set",
    "leave_one_out",
    "sum_and_sample_baseline",
    "sum_and_sample_stochastic_baseline",
    "unordered_set_baseline",
)

#: Legend labels, Kool et al.'s names.
LABELS = {
    "reinforce": "REINFORCE, with replacement (no bl)",
    "leave_one_out": "REINFORCE, with replacement (built-in bl: RLOO/VIMCO)",
    "sum_and_sample": "Det. sum & sample (no bl)",
    "sum_and_sample_stochastic": "Stoch. sum & sample (no bl)",
    "unordered_set": "Unordered set (no bl)",
    "sum_and_sample_baseline": "Det. sum & sample (sample bl)",
    "sum_and_sample_stochastic_baseline": "Stoch. sum & sample (sample bl)",
    "unordered_set_baseline": "Unordered set (built-in bl)",
}


@dataclasses.dataclass(frozen=True)
class Config:
    """Kool et al. (2020)'s Bernoulli toy: variance of gradient estimators with and without replacement against
    the number of function evaluations, exact lines and Monte Carlo points."""

    dim: int = 3
    """d, the number of Bernoulli coordinates (1 to 12; 2^d outcomes, enumerated exactly)."""
    target: tuple[float, ...] = (0.6, 0.51, 0.48)
    """p0 of f(x) = sum_i (x_i - p0_i)^2 (length d)."""
    etas: tuple[float, ...] = (0.0, -4.0)
    """Values of the logit eta (the paper: 0, high entropy, and -4, low entropy)."""
    shared_logit: bool = True
    """One logit eta shared by the d coordinates (the paper; the gradient is dJ/d eta); False: d logits, all
    eta, and the gradient with respect to each."""
    ns: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    """Samples k per estimate (each from 1 to 2^d)."""
    estimators: tuple[str, ...] = PAPER_ESTIMATORS
    """Estimators (any registered one that runs on the Bernoulli vectors)."""
    n_seeds: int = 2000
    """Seeds R (>= 2): estimates per (eta, estimator, k)."""
    seed: int = 0
    """Base seed of the per-seed keys (the same keys at every eta)."""
    chunk_size: int = 2000
    """Seeds per host-side chunk (>= 1); never changes the numbers."""
    fuse: bool = True
    """Compile all estimators as one program (the same numbers, less compilation on a CPU)."""

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if isinstance(self.dim, bool) or int(self.dim) != self.dim or not 1 <= self.dim <= MAX_DIM:
            raise ConfigError("dim", f"must be an integer in [1, {MAX_DIM}] (got {self.dim})")
        if len(self.target) != self.dim or any(not math.isfinite(t) for t in self.target):
            raise ConfigError("target", f"must be {self.dim} finite numbers (got {self.target})")
        if not self.etas or any(not math.isfinite(e) for e in self.etas):
            raise ConfigError("etas", f"needs at least one finite value (got {self.etas})")
        if len(set(self.etas)) != len(self.etas):
            raise ConfigError("etas", "lists a value twice")
        if not self.ns:
            raise ConfigError("ns", "needs at least one sample size")
        if any(isinstance(n, bool) or int(n) != n or not 1 <= n <= 2**self.dim for n in self.ns):
            raise ConfigError("ns", f"every k must be an integer in [1, 2^d = {2**self.dim}] (got {self.ns})")
        if len(set(self.ns)) != len(self.ns):
            raise ConfigError("ns", "lists a sample size twice")
        problem = self.problem()
        check_estimator_names(self.estimators, available_on(problem))
        if len(set(self.estimators)) != len(self.estimators):
            raise ConfigError("estimators", "lists an estimator twice")
        check_seeds(self.n_seeds, self.chunk_size)

    def problem(self) -> BernoulliVector:
        """The problem (its default logits are unused: each setting passes its own)."""
        logits = (0.0,) if self.shared_logit else (0.0,) * self.dim
        return BernoulliVector(dim=int(self.dim), logits0=logits, reward_fn=SquaredDistance(tuple(self.target)))


def evaluations(estimator, n: int) -> float:
    """Evaluations of f of an n-sample estimate: n times the estimator's per-sample count (2 with a sampled
    baseline)."""
    per = estimator.function_evaluations(1, n)
    return float(n * (1.0 if per is None else per))


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """Runs the grid over eta and returns the result (nothing is written; see :func:`save`)."""
    config.validate()
    problem = config.problem()
    ns = tuple(sorted(int(n) for n in config.ns))
    estimators = {name: make_estimator(name) for name in config.estimators}
    width = len(problem.logits0)

    def params_at(eta: float):
        return problem.init_params().replace(logits=jax.numpy.full((width,), eta, jax.numpy.result_type(float)))

    def describe(eta: float) -> str:
        return dataclasses.replace(problem, logits0=(float(eta),) * width).describe()

    def build(setting) -> Setting:
        eta = setting["eta"]
        return Setting(problem=problem, params=params_at(eta), estimators=estimators, problem_name=describe(eta))

    etas = tuple(float(e) for e in config.etas)
    grid = run_grid(
        build,
        {"eta": etas},
        ns,
        config.n_seeds,
        seed=config.seed,
        chunk_size=config.chunk_size,
        progress=progress,
        execution=execution,
        fuse=config.fuse and len(estimators) > 1,
    )
    reference = "reinforce" if "reinforce" in estimators else None
    table = summarise_grid(grid, experiment=NAME, reference=reference)
    exact = {}
    for eta in etas:
        params = params_at(eta)
        for name, estimator in estimators.items():
            for n in ns:
                var = estimator.n_sample_variance(problem, params, n)
                exact[(eta, name, n)] = np.concatenate(
                    [np.ravel(np.asarray(v, np.float64)) for v in jax.tree.leaves(var)]
                )
    table["var_exact"] = [
        exact[(float(eta), name, int(n))][int(i)]
        for eta, name, n, i in zip(table["eta"], table["estimator"], table["n"], _coordinate_index(table))
    ]
    table["evaluations"] = [evaluations(estimators[name], int(n)) for name, n in zip(table["estimator"], table["n"])]
    table = pio.normalize_table(table)
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=describe(etas[0]).replace(f"eta = {etas[0]:g}", "eta in {" + ", ".join(f"{e:g}" for e in etas) + "}"),
        table=table,
        sweep=grid,
        info={
            "exact_variance_method": (
                "each estimator's n_sample_variance in float64: enumeration of every draw (k-subsets, or the "
                "summed set and the sample) for the without-replacement estimators, the closed form for "
                "leave_one_out, single-sample variance / k for reinforce"
            ),
            "paper": "Kool, van Hoof & Welling (2020), ICLR, Section 6.1 (Bernoulli toy, after Liu et al. 2019)",
        },
    )


def _coordinate_index(table: pd.DataFrame) -> list[int]:
    """The position of each row's coordinate among its (eta, estimator, n) cell's rows (the table keeps the
    sweep's coordinate order within a cell)."""
    return list(table.groupby(["eta", "estimator", "n"], sort=False).cumcount())


# ----------------------------------------------------------------------------------------------------- figure
def draw(folder: str | Path) -> list[Path]:
    """One panel per eta: the variance of each estimator against the number of evaluations of f (including
    the baseline's), exact values as lines, Monte Carlo variances as markers with 95% intervals; log variance
    axis. Drawn from ``table.parquet`` alone."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from pgjax import styles
    from pgjax.plotting.variance import STYLE, save_figure

    folder = Path(folder)
    table = pio.read_table(folder)
    estimators = list(dict.fromkeys(table["estimator"]))
    looks = styles.style_map(estimators)
    etas = list(dict.fromkeys(table["eta"]))
    params = list(dict.fromkeys(table["param"]))
    positive = table[["var_exact", "var"]].to_numpy(float)
    positive = positive[np.isfinite(positive) & (positive > 1e-12)]
    bottom = 10 ** np.floor(np.log10(positive.min())) if positive.size else 1e-6
    top = 10 ** np.ceil(np.log10(positive.max())) if positive.size else 1.0
    below = bottom * 1e-3  # where a zero variance is drawn: off the axis
    legend_rows = math.ceil(len(estimators) / 2)
    footer_in = 0.22 * legend_rows + 0.55  # legend, then the caption
    width_in, panel_in = 4.6 * len(etas), 3.2
    height_in = panel_in * len(params) + footer_in + 0.45
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(params), len(etas), figsize=(width_in, height_in), squeeze=False)
        for row, param in enumerate(params):
            for col, eta in enumerate(etas):
                ax = axes[row][col]
                rows = table[(table["eta"] == eta) & (table["param"] == param)]
                for j, name in enumerate(estimators):
                    mine = rows[rows["estimator"] == name].sort_values("n")
                    style = looks[name].kwargs()
                    x = mine["evaluations"].to_numpy(float)
                    exact = mine["var_exact"].to_numpy(float)
                    ax.plot(
                        x,
                        np.where(exact > below, exact, below),
                        color=style["color"],
                        linestyle=style["linestyle"],
                        lw=1.4,
                        zorder=2,
                    )
                    var = mine["var"].to_numpy(float)
                    # Where the exact variance is 0 (every outcome summed) the Monte Carlo one is float32 rounding.
                    ok = (var > 0) & (exact > 1e-12 * max(float(np.nanmax(exact)), 1e-300))
                    shift = 0.05 * (j - (len(estimators) - 1) / 2)  # staggered, so that intervals do not hide
                    lo = np.maximum(mine["var_lo"].to_numpy(float), below)
                    hi = np.minimum(mine["var_hi"].to_numpy(float), top * 1e3)
                    ax.errorbar(
                        x[ok] + shift,
                        var[ok],
                        yerr=np.vstack([var[ok] - lo[ok], hi[ok] - var[ok]]),
                        color=style["color"],
                        marker=style["marker"],
                        markersize=4.0,
                        markeredgecolor="white",
                        markeredgewidth=0.5,
                        linestyle="none",
                        elinewidth=0.9,
                        capsize=1.5,
                        zorder=3,
                    )
                ax.set_yscale("log")
                ax.set_ylim(bottom, top)
                xmax = float(rows["evaluations"].max())
                ax.set_xlim(0.5, xmax + 0.5)
                ax.set_xticks(np.arange(1, xmax + 1, 1 if xmax <= 8 else 2))
                entropy = {0.0: " (high entropy)", -4.0: " (low entropy)"}.get(float(eta), "")
                ax.set_title(rf"$\eta$ = {eta:g}{entropy}")
                ax.set_xlabel("evaluations of f (incl. baseline)")
                if col == 0:
                    what = r"$\eta$" if param == "logits[0]" and len(params) == 1 else param
                    ax.set_ylabel(f"variance of the estimate of dJ/d{what}")
                ax.grid(True, which="major", alpha=0.3)
        handles = [plt.Line2D([], [], lw=1.4, markersize=5, **looks[name].kwargs()) for name in estimators]
        labels = [LABELS.get(name, name) for name in estimators]
        manifest = pio.read_manifest(folder)
        seeds = int(table["n_seeds"].max())
        title = "Bernoulli toy of Kool et al. (2020): " + str(manifest.get("problem", ""))
        fig.suptitle(
            "\n".join(textwrap.wrap(title, int(width_in * 14))), fontsize=8.5, y=1 - 0.04 / height_in, va="top"
        )
        bottom_frac = footer_in / height_in
        fig.tight_layout(rect=(0, bottom_frac, 1, 1 - 0.4 / height_in))
        fig.legend(
            handles, labels, loc="upper center", bbox_to_anchor=(0.5, bottom_frac), ncol=2, frameon=False, fontsize=8
        )
        caption = (
            f"Lines: exact variance (enumeration). Markers: Monte Carlo variance over {seeds} seeds with 95% "
            "intervals. A zero exact variance (every outcome summed) runs off the bottom, without its Monte Carlo "
            "point (float32 rounding). Sampled baselines (sample bl) cost 2 evaluations per sample."
        )
        fig.text(
            0.5, 0.01, "\n".join(textwrap.wrap(caption, int(width_in * 16))), ha="center", va="bottom", fontsize=7.5
        )
        paths = save_figure(fig, folder / "figure")
        plt.close(fig)
    return paths


def save(result: ExperimentResult, out_dir, *, argv=None):
    """Writes the results folder with the figure (``pgjax run`` calls this)."""
    return save_with(draw, result, out_dir, argv=argv)


def total_work(config: Config) -> int:
    """Progress units: seeds x compiled programs x values of eta."""
    programs = 1 if config.fuse and len(config.estimators) > 1 else len(config.estimators)
    return config.n_seeds * programs * len(config.etas)


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw)

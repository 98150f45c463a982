"""Coverage of pgjax's own 95% intervals for variances and paired variance ratios, against exact values.

For the README's default bandit (``bandit-variance``) and the default LQR problem (``lqr-variance``), every
estimator whose single-sample variance is known exactly, n in ``ns`` and R in ``rs``: one sweep of
``replications x max(rs)`` seeds is cut into disjoint blocks of R seeds; each block gives one interval per
coordinate, exactly as one cell of a results table would (:func:`pgjax.analysis.stats.variance_ci` and
:func:`pgjax.analysis.stats.variance_ratio_ci` against REINFORCE on the same seeds). The coverage of a method in a cell
is the fraction of blocks whose interval contains the exact variance (or the exact ratio), with a 95% Wilson
interval for that binomial proportion. Smaller R gets more blocks from the same seeds (``max(rs) / R``
times as many). Every interval method of :data:`pgjax.analysis.stats.INTERVAL_METHODS` is measured on the same blocks.

The table also gives, per cell, where the misses fall (truth below the interval, or above it), the median
width of the interval on the log scale, and the kurtosis of the seed-level estimates over all seeds of the
sweep, which says how heavy the tails are.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from pgjax import io as pio
from pgjax.analysis import stats
from pgjax.engine import run_sweep
from pgjax.errors import ConfigError
from pgjax.experiment import ExperimentResult, Hooks, check_sample_sizes, exact_variances
from pgjax.experiments import variance_vs_n

NAME = "interval-coverage"
PROBLEMS = ("bandit", "lqr")
#: The target band of the coverage of a nominal 95% interval.
TARGET_BAND = (0.935, 0.965)


@dataclasses.dataclass(frozen=True)
class Config:
    """Coverage of pgjax's 95% variance and variance-ratio intervals against exact variances, on the default
    bandit and LQR problems, for n in ns and R in rs, every interval method."""

    problems: tuple[str, ...] = PROBLEMS
    """Problems: bandit (the bandit-variance default) and/or lqr (the lqr-variance default)."""
    ns: tuple[int, ...] = (1, 2, 16)
    """Sample sizes n (each >= 1) per gradient estimate."""
    rs: tuple[int, ...] = (1000, 4000)
    """Seeds R per interval (each >= 30), as in one table cell."""
    replications: int = 100
    """Independent intervals per cell at the largest R (>= 10); smaller R gets max(rs)/R times as many."""
    full: bool = False
    """The full setting: 1000 replications at the largest R (10x the default's seeds)."""
    confidence: float = 0.95
    """Nominal two-sided confidence level of the intervals."""
    seed: int = 0
    """Base seed of the per-seed keys."""
    chunk_size: int = 4096
    """Seeds per host-side chunk (>= 1); bounds memory, never changes the numbers."""

    @property
    def n_replications(self) -> int:
        return 1000 if self.full else self.replications

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if not self.problems or any(p not in PROBLEMS for p in self.problems):
            raise ConfigError("problems", f"choose from {', '.join(PROBLEMS)} (got {', '.join(self.problems)})")
        if len(set(self.problems)) != len(self.problems):
            raise ConfigError("problems", "lists a problem twice")
        check_sample_sizes(self.ns)
        if not self.rs or min(self.rs) < stats.TAIL_MIN_COUNT:
            raise ConfigError("rs", f"every R must be >= {stats.TAIL_MIN_COUNT} (got {self.rs})")
        if self.replications < 10:
            raise ConfigError("replications", f"must be >= 10 (got {self.replications})")
        if self.n_replications * max(self.rs) > 2**31 - 1:
            raise ConfigError("replications", "times max(rs) must be at most 2^31 - 1 seeds")
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError("confidence", f"must be in (0, 1) (got {self.confidence})")
        if self.chunk_size < 1:
            raise ConfigError("chunk_size", f"must be >= 1 (got {self.chunk_size})")


def _bandit():
    problem, params, estimators = variance_vs_n.build(variance_vs_n.BanditConfig())
    return problem, params, estimators, False


def _lqr():
    problem, params, estimators = variance_vs_n.build(variance_vs_n.LQRConfig())
    return problem, params, estimators, True


#: problem name -> () -> (problem, params, estimators, whether its estimators are compiled as one program).
BUILDERS = {"bandit": _bandit, "lqr": _lqr}


@functools.cache
def _setup(problem_name: str):
    """(problem, params, the estimators measured (those with an exact variance, and REINFORCE), their exact
    single-sample variances, whether the sweep compiles them as one program) of one problem; cached, as both
    :func:`total_work` and :func:`run` need it."""
    problem, params, estimators, fuse = BUILDERS[problem_name]()
    exact = exact_variances(estimators, problem, params)
    chosen = {k: v for k, v in estimators.items() if k in exact or k == "reinforce"}
    return problem, params, chosen, exact, fuse and len(chosen) > 1


def wilson_interval(successes: np.ndarray, trials: np.ndarray, confidence: float = 0.95):
    """Wilson score interval for binomial proportions (elementwise)."""
    z = -NormalDist().inv_cdf((1.0 - confidence) / 2.0)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    # The Wilson interval contains p; clip the rounding of its ends at p = 0 or 1.
    return np.minimum(centre - half, p), np.maximum(centre + half, p)


def _kurtosis(x: np.ndarray) -> np.ndarray:
    c = x - x.mean(axis=0)
    return (c**4).mean(axis=0) / (c**2).mean(axis=0) ** 2


def _coverage_rows(problem_name, estimates, exact, param_names, config, progress=None) -> list[dict]:
    """Rows of the coverage table for one problem: every method, estimator, n, R, coordinate. ``progress``
    is told of each (estimator, n) done, as that many seeds."""
    rows = []
    n_total = config.n_replications * max(config.rs)
    for name, by_n in estimates.items():
        if name not in exact:
            continue
        for n, x_all in by_n.items():
            x_all = np.asarray(x_all, np.float64)[:n_total]
            ref_all = np.asarray(estimates["reinforce"][n], np.float64)[:n_total]
            var_exact = exact[name] / n
            ratio_exact = exact[name] / exact["reinforce"]
            kurt = _kurtosis(x_all)
            for R in sorted(set(config.rs)):
                blocks = n_total // R
                x = x_all[: blocks * R].reshape(blocks, R, -1).transpose(1, 0, 2).reshape(R, -1)
                ref = ref_all[: blocks * R].reshape(blocks, R, -1).transpose(1, 0, 2).reshape(R, -1)
                P = x_all.shape[1]
                for method in stats.INTERVAL_METHODS:
                    _, lo, hi = stats.variance_ci(x, config.confidence, method=method)
                    quantities = [("variance", lo, hi, np.tile(var_exact, blocks))]
                    if name != "reinforce":
                        _, rlo, rhi = stats.variance_ratio_ci(x, ref, config.confidence, method=method)
                        quantities.append(("ratio", rlo, rhi, np.tile(ratio_exact, blocks)))
                    for quantity, lo_q, hi_q, truth in quantities:
                        lo_q = lo_q.reshape(blocks, P)
                        hi_q = hi_q.reshape(blocks, P)
                        truth = truth.reshape(blocks, P)
                        below = (truth < lo_q).sum(axis=0)
                        above = (truth > hi_q).sum(axis=0)
                        covered = blocks - below - above
                        c_lo, c_hi = wilson_interval(covered, np.full(P, blocks), 0.95)
                        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                            width = np.median(np.log(hi_q / lo_q), axis=0)
                        for p in range(P):
                            rows.append(
                                {
                                    "problem": problem_name,
                                    "quantity": quantity,
                                    "method": method,
                                    "estimator": name,
                                    "param": param_names[p],
                                    "n": int(n),
                                    "R": int(R),
                                    "replications": int(blocks),
                                    "kurtosis": float(kurt[p]),
                                    "coverage": covered[p] / blocks,
                                    "coverage_lo": float(c_lo[p]),
                                    "coverage_hi": float(c_hi[p]),
                                    "miss_below": below[p] / blocks,
                                    "miss_above": above[p] / blocks,
                                    "log_width": float(width[p]),
                                    "exact": float(truth[0, p]),
                                }
                            )
            if progress is not None:
                progress(n_total)
    return rows


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """Runs one sweep per problem and measures the coverage (nothing is written; see :func:`save`)."""
    config.validate()
    n_total = config.n_replications * max(config.rs)
    ns = sorted(set(config.ns))
    rows, sweeps, timings = [], {}, {}
    for problem_name in config.problems:
        problem, params, chosen, exact, fused = _setup(problem_name)
        t0 = time.perf_counter()
        sweep = run_sweep(
            problem,
            params,
            chosen,
            ns,
            n_total,
            seed=config.seed,
            chunk_size=config.chunk_size,
            fuse=fused,
            progress=progress,
            **(execution or {}),
        )
        timings[problem_name] = {"sweep_seconds": time.perf_counter() - t0}
        t0 = time.perf_counter()
        rows += _coverage_rows(problem_name, sweep.estimates, exact, sweep.param_names, config, progress)
        timings[problem_name]["statistics_seconds"] = time.perf_counter() - t0
        sweeps[problem_name] = sweep
    table = pd.DataFrame(rows)
    first = sweeps[config.problems[0]]
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem="; ".join(
            f"{p}: default of {'bandit-variance' if p == 'bandit' else 'lqr-variance'}" for p in config.problems
        ),
        table=table,
        sweep=first,
        info={"timings": timings, "target_band": list(TARGET_BAND), "n_seeds_per_problem": n_total},
    )


def total_work(config: Config) -> int:
    """Progress units (steps): a seed through one compiled program of a sweep (the bandit's estimators run one
    program each, LQR's one together), then a seed of one (estimator, n) whose intervals are computed; the
    statistics take most of a run (``timings`` in the manifest), and a log shows them progress too."""
    n_total = config.n_replications * max(config.rs)
    work = 0
    for p in config.problems:
        _, _, chosen, exact, fused = _setup(p)
        work += n_total * ((1 if fused else len(chosen)) + len(exact) * len(set(config.ns)))
    return work


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per problem, quantity and method: the number of cells, how many lie in the target band, the range of
    coverage, and the coverage pooled over all cells."""
    out = []
    for (problem, quantity, method), g in table.groupby(["problem", "quantity", "method"], sort=False):
        inside = ((g["coverage"] >= TARGET_BAND[0]) & (g["coverage"] <= TARGET_BAND[1])).sum()
        out.append(
            {
                "problem": problem,
                "quantity": quantity,
                "method": method,
                "cells": len(g),
                "in_target_band": int(inside),
                "min_coverage": g["coverage"].min(),
                "max_coverage": g["coverage"].max(),
                "pooled_coverage": float(np.average(g["coverage"], weights=g["replications"])),
            }
        )
    return pd.DataFrame(out)


def headline(result: ExperimentResult) -> pd.DataFrame:
    return summary(result.table)


def draw(folder) -> list[Path]:
    """Coverage of every cell against the kurtosis of its estimates, one panel per problem and quantity,
    colour by interval method, marker by R, with Wilson 95% intervals and the target band shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from pgjax.plotting import variance as plots

    folder = Path(folder)
    table = pio.read_frame(folder, "table")
    manifest = pio.read_manifest(folder)
    problems = list(dict.fromkeys(table["problem"]))
    quantities = list(dict.fromkeys(table["quantity"]))
    fig, axes = plt.subplots(
        len(problems), len(quantities), figsize=(5.2 * len(quantities), 3.6 * len(problems)), squeeze=False, sharey=True
    )
    colours = {"tail": "#0072B2", "tail-bootstrap": "#009E73", "delta": "#D55E00"}
    markers = {r: m for r, m in zip(sorted(set(table["R"])), ("o", "s", "^", "D", "v"))}
    low = max(0.5, float(table["coverage_lo"].min()) - 0.01)
    for row, problem in enumerate(problems):
        for col, quantity in enumerate(quantities):
            ax = axes[row, col]
            g = table[(table["problem"] == problem) & (table["quantity"] == quantity)]
            ax.axhspan(*TARGET_BAND, color="0.88", zorder=0)
            ax.axhline(0.95, color="0.35", lw=0.8, zorder=1)
            for (method, R), gm in g.groupby(["method", "R"], sort=False):
                yerr = np.clip([gm["coverage"] - gm["coverage_lo"], gm["coverage_hi"] - gm["coverage"]], 0, None)
                ax.errorbar(
                    gm["kurtosis"],
                    gm["coverage"],
                    yerr=yerr,
                    fmt=markers[R],
                    ms=4,
                    alpha=0.8,
                    color=colours.get(method, "0.3"),
                    mfc="none" if R == min(markers) else None,
                    elinewidth=0.5,
                    label=f"{method}, R = {R}",
                )
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_ylim(low, 1.005)
            ax.set_xlabel("kurtosis of the seed-level estimates")
            if col == 0:
                ax.set_ylabel(f"{problem}: coverage")
            what = "variance" if quantity == "variance" else "variance ratio to REINFORCE"
            ax.set_title(f"{problem}: 95% interval for the {what}", fontsize=9)
            ax.legend(fontsize=6.5, loc="lower left", ncol=2)
    config = manifest["config"]
    reps = 1000 if config["full"] else config["replications"]
    fig.suptitle(
        f"Coverage of pgjax's 95% intervals against exact values: every estimator x coordinate x n in "
        f"{tuple(config['ns'])}\n({reps} intervals per cell at R = {max(config['rs'])}, more at smaller R; "
        f"bars: Wilson 95% intervals; shaded: target [{TARGET_BAND[0]}, {TARGET_BAND[1]}])",
        fontsize=9,
    )
    fig.tight_layout()
    paths = plots.save_figure(fig, folder / "coverage")
    plt.close(fig)
    return paths


def save(result: ExperimentResult, out_dir, *, argv=None, overwrite=None) -> Path:
    """Writes the coverage table, its summary, the manifest and the figure, replacing ``out_dir`` as a whole."""
    from pgjax.experiment import save_frames

    frames = {"table": result.table, "summary": summary(result.table)}
    info = {"interval_methods": list(stats.INTERVAL_METHODS), **result.info}
    return save_frames(result, out_dir, frames, draw, argv=argv, overwrite=overwrite, info=info)


README_MARKERS = ("<!-- excerpt:interval-coverage -->", "<!-- /excerpt:interval-coverage -->")


def readme_excerpt(summary_table: pd.DataFrame) -> str:
    """The README's coverage table: per problem, quantity and method, the cells in the target band, the
    range of coverage and the coverage pooled over cells."""
    lines = [
        "| problem | interval for | method | cells in [0.935, 0.965] | min coverage | max coverage | pooled |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in summary_table.itertuples():
        lines.append(
            f"| {row.problem} | {row.quantity} | {row.method} | {row.in_target_band} of {row.cells} | "
            f"{row.min_coverage:.3f} | {row.max_coverage:.3f} | {row.pooled_coverage:.3f} |"
        )
    return "\n".join(lines)


def readme_with_excerpt(readme: str, summary_table: pd.DataFrame) -> str:
    """``readme`` with the text between the excerpt markers replaced by :func:`readme_excerpt`."""
    from pgjax.io import with_excerpt

    return with_excerpt(readme, README_MARKERS, readme_excerpt(summary_table))


if __name__ == "__main__":  # python -m pgjax.experiments.interval_coverage: refresh the README excerpt
    readme = Path("README.md")
    summary_table = pio.read_frame(Path("results") / NAME, "summary")
    pio.atomic_write_text(readme, readme_with_excerpt(readme.read_text(), summary_table))


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, progress_unit="step", save=save, draw=draw, headline=headline)

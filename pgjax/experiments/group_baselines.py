"""Group baselines of RL from verifiable rewards, settled exactly: bias, variance, MSE and direction of every
group-baseline estimator (:mod:`pgjax.estimators.group`) on the success bandit (:mod:`pgjax.problems.success_bandit`).

Three parts, all on problems whose reward is 1 for a correct answer and 0 otherwise:

1. The (G, p) grid, exact. One prompt per success probability p in ``n_success`` evenly spaced values of
   [``p_min``, ``p_max``] (default 0.01, 0.02, ..., 0.99), K = 2 answers (the Bernoulli model, theta = logit p),
   all in ONE batch of P prompts (so that the shrinkage baseline's cross-prompt mean is the mean of this
   population). For every G in ``groups`` and every estimator: the exact mean, bias and variance of the
   per-prompt update u_q = (1/G) sum_i A_qi psi_qi (= P g on prompt q's coordinates) on theta_q, by
   enumerating the number of successes (:func:`pgjax.estimators.group.exact_group_moments`). Every group
   baseline's mean is c(G, p) grad p (a rescaled gradient on each prompt), so the table gives the scale c, the
   relative bias c - 1, the relative variance Var / (grad theta)^2 and the relative MSE (c - 1)^2 + relative
   variance, which are free of the parameterisation (K = 2 makes the score a function of the reward), and the
   probability p^G + (1 - p)^G that the group's rewards are all equal.
2. Prompts of different difficulty. A batch of prompts (``prompt_success``) with K = 4 answers, one correct,
   the three wrong ones unequally likely (so that the score varies among wrong answers): for every G, the
   per-prompt scale c_q (how each estimator reweights prompt q against the true gradient), and over the whole
   batch the cosine between E[g] and grad J, and the relative MSE ||E g - grad J||^2 + tr Var g over ||grad J||^2.
   The same two batch numbers for the grid's population are in ``batch.parquet`` too.
3. Monte Carlo from the engine. :func:`pgjax.engine.run_sweep` runs every estimator on the grid problem with
   n = G in ``mc_groups`` (one fused program, ``n_seeds`` seeds): per (estimator, G, p), the mean with its
   standard error and the variance with its 95% interval (:func:`pgjax.analysis.stats.variance_ci`), beside
   the exact values (``monte_carlo.parquet``); the figures plot them at the p of ``mc_success`` on the exact lines.

Tables: ``exact.parquet`` (part 1; parquet only, with ``summary`` its rows at a few G and p in every format),
``prompts.parquet`` and ``batch.parquet`` (part 2, and the grid's batch
numbers), ``monte_carlo.parquet`` (part 3). Figures are drawn from the saved tables only.
"""

from __future__ import annotations

import dataclasses
import io
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pgjax import io as pio
from pgjax.analysis import stats
from pgjax.engine import run_sweep
from pgjax.errors import ConfigError
from pgjax.estimators.base import make
from pgjax.estimators.group import GROUP_ESTIMATORS, exact_group_moments, success_reduction
from pgjax.experiment import ExperimentResult, Hooks, check_seeds
from pgjax.problems.success_bandit import SuccessBandit

NAME = "group-baselines"
#: Baselines that use only the sampled rewards; the others (shrinkage's weight, the optimal constant) use the
#: exact success probabilities, which a learner does not have.
PRACTICAL = ("group_mean", "dr_grpo", "group_rloo", "grpo")
#: Relative values below this are float64 rounding of an exact 0 (the oracle baseline's variance for K = 2).
ROUNDING = 1e-12
#: Logits of the three wrong answers of a prompt in part 2 (unequal, so the score varies among them).
WRONG_LOGITS = (0.0, -0.5, -1.0)


@dataclasses.dataclass(frozen=True)
class Config:
    """Exact bias, variance, MSE and direction of the group baselines (group mean, Dr. GRPO, RLOO, GRPO,
    shrinkage, exact optimal) on the success bandit, against G and the success probability, with Monte Carlo
    points from the engine."""

    groups: tuple[int, ...] = tuple(range(2, 65, 2))
    """Group sizes G (each >= 2) of the exact grid."""
    p_min: float = 0.01
    """Smallest success probability of the grid (in (0, 1))."""
    p_max: float = 0.99
    """Largest success probability of the grid (in (0, 1), > p_min)."""
    n_success: int = 99
    """Number of evenly spaced success probabilities in [p_min, p_max] (>= 2); one prompt each."""
    estimators: tuple[str, ...] = tuple(GROUP_ESTIMATORS)
    """Group baselines to compare (any of the registered group estimators)."""
    prompt_success: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.95, 0.98)
    """Success probabilities of the prompts of part 2 (each in (0, 1), at least 2)."""
    mc_groups: tuple[int, ...] = (2, 8, 32)
    """Group sizes G (each >= 2, each in groups) of the engine's Monte Carlo run."""
    mc_success: tuple[float, ...] = (0.1, 0.5, 0.9)
    """Success probabilities at which the figures show the Monte Carlo points (each a grid value)."""
    n_seeds: int = 2000
    """Seeds R of the Monte Carlo run (>= 30, so that variance intervals are defined)."""
    seed: int = 0
    """Base seed of the per-seed keys."""
    chunk_size: int = 1000
    """Seeds per host-side chunk (>= 1); never changes the numbers."""

    def success_grid(self) -> tuple[float, ...]:
        """The grid's success probabilities, rounded to 6 decimals."""
        return tuple(round(float(x), 6) for x in np.linspace(self.p_min, self.p_max, self.n_success))

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if not self.groups or any(isinstance(g, bool) or int(g) != g or g < 2 for g in self.groups):
            raise ConfigError("groups", f"every G must be an integer >= 2 (got {self.groups})")
        if len(set(self.groups)) != len(self.groups):
            raise ConfigError("groups", "lists a group size twice")
        if not (0.0 < self.p_min < 1.0):
            raise ConfigError("p_min", f"must be in (0, 1) (got {self.p_min})")
        if not (self.p_min < self.p_max < 1.0):
            raise ConfigError("p_max", f"must be in (p_min, 1) (got {self.p_max})")
        if self.n_success < 2:
            raise ConfigError("n_success", f"must be >= 2 (got {self.n_success})")
        if not self.estimators or any(name not in GROUP_ESTIMATORS for name in self.estimators):
            raise ConfigError("estimators", f"choose from {', '.join(GROUP_ESTIMATORS)} (got {self.estimators})")
        if len(set(self.estimators)) != len(self.estimators):
            raise ConfigError("estimators", "lists an estimator twice")
        if len(self.prompt_success) < 2 or any(not (0.0 < p < 1.0) for p in self.prompt_success):
            raise ConfigError("prompt_success", f"needs >= 2 probabilities in (0, 1) (got {self.prompt_success})")
        if not self.mc_groups or any(g not in self.groups for g in self.mc_groups):
            raise ConfigError("mc_groups", f"every G must be one of groups (got {self.mc_groups})")
        grid = self.success_grid()
        if any(not any(abs(p - x) < 1e-9 for x in grid) for p in self.mc_success):
            raise ConfigError("mc_success", f"every p must be a value of the grid (got {self.mc_success})")
        if self.n_seeds < stats.TAIL_MIN_COUNT:
            raise ConfigError("n_seeds", f"must be >= {stats.TAIL_MIN_COUNT} (got {self.n_seeds})")
        check_seeds(self.n_seeds, self.chunk_size)


def grid_problem(config: Config) -> SuccessBandit:
    """One prompt per grid probability, K = 2, logits (logit p, 0)."""
    return SuccessBandit.from_success(config.success_grid())


def prompts_problem(config: Config) -> SuccessBandit:
    """The prompts of part 2: K = 4 answers, the first correct with p_q, the wrong ones at :data:`WRONG_LOGITS`."""
    wrong = sum(math.exp(x) for x in WRONG_LOGITS)
    logits = [(math.log(p / (1.0 - p) * wrong), *WRONG_LOGITS) for p in config.prompt_success]
    return SuccessBandit.build(correct=[(1, 0, 0, 0)] * len(logits), logits=logits)


def _theta(values: np.ndarray, problem: SuccessBandit) -> np.ndarray:
    """The coordinate logits[q, 0] of every prompt, from a flat (..., P K) array."""
    return np.asarray(values)[..., :: problem.num_answers]


def exact_rows(config: Config, estimators: dict) -> tuple[pd.DataFrame, list[dict]]:
    """Part 1 (one row per estimator, G, p) and the grid's batch rows (cosine, relative MSE)."""
    problem = grid_problem(config)
    params = problem.init_params()
    reduction = success_reduction(problem, params)
    P = problem.num_prompts
    rows, batch = [], []
    for name, estimator in estimators.items():
        for G in config.groups:
            ex = exact_group_moments(estimator, problem, params, G, reduction)
            batch.append(_batch_row("grid", name, G, ex))
            grad, mean, var = (_theta(ex[k], problem) * s for k, s in (("grad", P), ("mean", P), ("var", P * P)))
            scale = mean / grad
            rel_var = var / grad**2
            for q, p in enumerate(config.success_grid()):
                rows.append(
                    {
                        "estimator": name,
                        "G": int(G),
                        "p": p,
                        "grad": grad[q],
                        "mean": mean[q],
                        "bias": mean[q] - grad[q],
                        "var": var[q],
                        "mse": (mean[q] - grad[q]) ** 2 + var[q],
                        "scale": scale[q],
                        "rel_bias": scale[q] - 1.0,
                        "rel_var": rel_var[q],
                        "rel_mse": (scale[q] - 1.0) ** 2 + rel_var[q],
                        "degenerate": _theta(ex["degenerate"], problem)[q],
                    }
                )
    return pd.DataFrame(rows), batch


def _batch_row(problem: str, name: str, G: int, ex: dict) -> dict:
    grad, mean = ex["grad"], ex["mean"]
    norm = float(grad @ grad)
    return {
        "problem": problem,
        "estimator": name,
        "G": int(G),
        "cosine": float(mean @ grad / math.sqrt(float(mean @ mean) * norm)),
        "norm_ratio": math.sqrt(float(mean @ mean) / norm),
        "rel_mse": float((ex["bias"] @ ex["bias"] + ex["var"].sum()) / norm),
    }


def prompt_rows(config: Config, estimators: dict) -> tuple[pd.DataFrame, list[dict]]:
    """Part 2: one row per estimator, G and prompt (the scale c_q and relative variance on its correct answer's
    logit), and the batch rows."""
    problem = prompts_problem(config)
    params = problem.init_params()
    reduction = success_reduction(problem, params)
    P, K = problem.num_prompts, problem.num_answers
    rows, batch = [], []
    for name, estimator in estimators.items():
        for G in config.groups:
            ex = exact_group_moments(estimator, problem, params, G, reduction)
            batch.append(_batch_row("prompts", name, G, ex))
            grad = ex["grad"].reshape(P, K)
            mean = ex["mean"].reshape(P, K)
            var = ex["var"].reshape(P, K)
            norm2 = np.sum(grad**2, axis=1)
            for q, p in enumerate(config.prompt_success):
                scale = float(mean[q] @ grad[q] / norm2[q])  # E[u_q] = c_q grad_q exactly (module docstring)
                rows.append(
                    {
                        "estimator": name,
                        "G": int(G),
                        "prompt": q,
                        "p": float(p),
                        "scale": scale,
                        "rel_var": float(var[q].sum() / norm2[q]),
                        "share": float(scale * np.sqrt(norm2[q])),
                        "degenerate": float(ex["degenerate"][q * K]),
                    }
                )
    return pd.DataFrame(rows), batch


def monte_carlo(config: Config, estimators: dict, *, progress=None, execution=None):
    """Part 3: the engine's sweep on the grid problem and its rows against the exact values."""
    problem = grid_problem(config)
    params = problem.init_params()
    reduction = success_reduction(problem, params)
    P = problem.num_prompts
    ns = sorted(set(config.mc_groups))
    sweep = run_sweep(
        problem,
        params,
        estimators,
        ns,
        config.n_seeds,
        seed=config.seed,
        chunk_size=config.chunk_size,
        progress=progress,
        fuse=len(estimators) > 1,
        **(execution or {}),
    )
    rows = []
    for name, estimator in estimators.items():
        for G in ns:
            ex = exact_group_moments(estimator, problem, params, G, reduction)
            x = _theta(np.asarray(sweep.estimates[name][G], np.float64), problem) * P
            var, lo, hi = stats.variance_ci(x)
            mean = x.mean(axis=0)
            se = x.std(axis=0, ddof=1) / math.sqrt(x.shape[0])
            exact_mean = _theta(ex["mean"], problem) * P
            exact_var = _theta(ex["var"], problem) * P * P
            grad = _theta(ex["grad"], problem) * P
            for q, p in enumerate(config.success_grid()):
                rows.append(
                    {
                        "estimator": name,
                        "G": int(G),
                        "p": p,
                        "n_seeds": int(x.shape[0]),
                        "grad": grad[q],
                        "mean": mean[q],
                        "mean_se": se[q],
                        "exact_mean": exact_mean[q],
                        "bias": mean[q] - grad[q],
                        "exact_bias": exact_mean[q] - grad[q],
                        "var": var[q],
                        "var_lo": lo[q],
                        "var_hi": hi[q],
                        "exact_var": exact_var[q],
                    }
                )
    return pd.DataFrame(rows), sweep


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """Computes the three parts (nothing is written; see :func:`save`)."""
    config.validate()
    estimators = {name: make(name) for name in config.estimators}
    t0 = time.perf_counter()
    exact, grid_batch = exact_rows(config, estimators)
    prompts, prompt_batch = prompt_rows(config, estimators)
    exact_seconds = time.perf_counter() - t0
    mc, sweep = monte_carlo(config, estimators, progress=progress, execution=execution)
    batch = pd.DataFrame(grid_batch + prompt_batch)
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=(
            f"success bandit: grid of {config.n_success} prompts (K = 2, p in [{config.p_min:g}, {config.p_max:g}]); "
            f"{len(config.prompt_success)} prompts with K = 4"
        ),
        table=exact,
        sweep=sweep,
        info={
            "tables": {"prompts": prompts, "batch": batch, "monte_carlo": mc},
            "exact_seconds": exact_seconds,
            "compile_seconds": sweep.compile_seconds,
            "run_seconds": sweep.run_seconds,
            "execution": sweep.execution,
            "conventions": {
                "grpo": "A = (r - mean) / (std + eps), std with Bessel's correction (ddof 1), eps = 1e-4 (TRL)",
                "dr_grpo": "A = r - mean; length normaliser a constant, 1 for one-action answers (= group_mean)",
                "group_shrinkage": "b = (1 - lam) loo + lam * (other prompts' mean), lam the oracle James-Stein weight",
                "group_optimal": "b*_c = E[r psi_c^2] / E[psi_c^2] from exact success moments (oracle)",
                "units": "per-prompt update u_q = (1/G) sum_i A_i psi_i on theta_q = logits[q, 0] (= P g)",
            },
        },
    )


def total_work(config: Config) -> int:
    """Progress units: seeds of the one fused Monte Carlo program."""
    return config.n_seeds


def save(result: ExperimentResult, out_dir, *, argv=None, overwrite=None) -> Path:
    """Writes the four tables, the manifest and the figures, replacing ``out_dir`` as a whole."""
    from pgjax.experiment import provenance

    info = dict(result.info)
    tables = info.pop("tables")
    manifest = provenance(result, argv, info)
    with pio.staged_output(Path(out_dir), overwrite=overwrite) as stage:
        # the full grid (G x p x estimator) as parquet only: its csv/md/tex renderings would be megabytes; the
        # summary (a few G and p) is the one to read
        buffer = io.BytesIO()
        result.table.to_parquet(buffer, index=False)
        pio.atomic_write_bytes(stage / "exact.parquet", buffer.getvalue())
        pio.write_frame(summary(result.table), stage, "summary")
        for stem, frame in tables.items():
            pio.write_frame(frame, stage, stem)
        pio.write_manifest(stage, manifest)
        draw(stage)
    return Path(out_dir)


#: The group sizes and success probabilities of the summary table (those present in the grid).
SUMMARY_GROUPS = (2, 4, 8, 16, 32, 64)
SUMMARY_SUCCESS = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the exact grid at :data:`SUMMARY_GROUPS` x :data:`SUMMARY_SUCCESS` (those in the grid)."""
    keep = table["G"].isin(SUMMARY_GROUPS) & np.isclose(table["p"].to_numpy()[:, None], SUMMARY_SUCCESS).any(axis=1)
    return table[keep].reset_index(drop=True)


def retable(folder) -> str:
    """Re-renders the csv/md/tex of every table but the parquet-only grid from its parquet file (``pgjax
    table``), and returns the summary as Markdown."""
    folder = Path(folder)
    for stem in ("summary", "prompts", "batch", "monte_carlo"):
        pio.write_frame(pio.read_frame(folder, stem), folder, stem, parquet=False)
    return pio.render_markdown(pio.read_frame(folder, "summary"))


def headline(result: ExperimentResult) -> pd.DataFrame:
    """Per estimator at G = 8 (or the nearest G): relative bias and MSE at p = 0.1 and 0.5."""
    table = result.table
    G = min(table["G"].unique(), key=lambda g: abs(g - 8))
    out = []
    for p in (0.1, 0.5):
        near = table[(table["G"] == G)]
        near = near[np.isclose(near["p"], near["p"].iloc[(near["p"] - p).abs().argmin()])]
        out.append(near[["estimator", "G", "p", "scale", "rel_bias", "rel_var", "rel_mse"]])
    return pd.concat(out, ignore_index=True)


# ------------------------------------------------------------------------------------------------ figures
COLOURS = {
    "group_mean": "#0072B2",
    "dr_grpo": "#56B4E9",
    "group_rloo": "#009E73",
    "grpo": "#D55E00",
    "group_shrinkage": "#CC79A7",
    "group_optimal": "#E69F00",
}
LABELS = {
    "group_mean": "batch mean",
    "dr_grpo": "Dr. GRPO (= batch mean here)",
    "group_rloo": "RLOO",
    "grpo": "GRPO (std, eps = 1e-4)",
    "group_shrinkage": "shrinkage (oracle JS weight)",
    "group_optimal": "exact optimal constant (oracle)",
}


def _style(name: str) -> dict:
    return {
        "color": COLOURS.get(name, "0.3"),
        "label": LABELS.get(name, name),
        "ls": ":" if name == "dr_grpo" else "-",
        "lw": 1.6 if name == "dr_grpo" else 1.2,
    }


def draw(folder) -> list[Path]:
    """bias-variance.png (relative bias, variance and MSE against p at the Monte Carlo G's, engine points with
    intervals), best-baseline.png (which baseline has the lowest MSE over (G, p); GRPO's scale) and prompts.png
    (per-prompt scale at one G; cosine and relative MSE of the batch against G)."""
    folder = Path(folder)
    return _draw_bias_variance(folder) + _draw_best(folder) + _draw_prompts(folder)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw_bias_variance(folder: Path) -> list[Path]:
    from pgjax.plotting import variance as plots

    plt = _plt()
    exact = pio.read_frame(folder, "exact")
    mc = pio.read_frame(folder, "monte_carlo")
    config = pio.read_manifest(folder)["config"]
    gs = sorted(mc["G"].unique())
    fig, axes = plt.subplots(len(gs), 3, figsize=(13, 3.1 * len(gs)), squeeze=False)
    shown = [p for p in config["mc_success"]]
    for row, G in enumerate(gs):
        for name, e in exact[exact["G"] == G].groupby("estimator", sort=False):
            style = _style(name)
            axes[row, 0].plot(e["p"], e["rel_bias"], **style)
            # the oracle optimal baseline's variance is 0 for K = 2: its float64 rounding (< 1e-12) is not drawn
            positive = e["rel_var"] > ROUNDING
            axes[row, 1].plot(e["p"][positive], e["rel_var"][positive], **style)
            positive = e["rel_mse"] > ROUNDING
            axes[row, 2].plot(e["p"][positive], e["rel_mse"][positive], **style)
            m = mc[(mc["G"] == G) & (mc["estimator"] == name)]
            m = m[np.isclose(m["p"].to_numpy()[:, None], np.asarray(shown)[None]).any(axis=1)]
            if m.empty:
                continue
            g2 = m["grad"] ** 2
            kw = dict(fmt="o", ms=3.5, color=style["color"], mfc="white", elinewidth=1, capsize=2, zorder=5)
            axes[row, 0].errorbar(m["p"], m["bias"] / m["grad"], yerr=1.96 * m["mean_se"] / m["grad"].abs(), **kw)
            ok = m["var"] > ROUNDING * g2
            yerr = [(m["var"] - m["var_lo"])[ok] / g2[ok], (m["var_hi"] - m["var"])[ok] / g2[ok]]
            axes[row, 1].errorbar(m["p"][ok], (m["var"] / g2)[ok], yerr=yerr, **kw)
        axes[row, 0].axhline(0.0, color="0.5", lw=0.6)
        axes[row, 0].set_ylabel(f"G = {G}\n(E[u] - grad) / grad")
        axes[row, 1].set_ylabel("Var[u] / grad^2")
        axes[row, 2].set_ylabel("MSE / grad^2")
        for ax in axes[row, 1:]:
            ax.set_yscale("log")
        for ax in axes[row]:
            ax.set_xlim(0, 1)
            ax.grid(alpha=0.3, lw=0.5)
    axes[0, 0].set_title("relative bias (direction: along grad p)", fontsize=9)
    axes[0, 1].set_title("relative variance (exact optimal constant: 0 for K = 2, not drawn)", fontsize=9)
    axes[0, 2].set_title("relative MSE = bias^2 + variance", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("success probability p")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    keep = {label: h for h, label in zip(handles, labels) if not label.startswith("_")}
    fig.legend(keep.values(), keep.keys(), loc="lower center", ncol=len(keep), fontsize=8, frameon=False)
    fig.suptitle(
        "Group baselines on one prompt (Bernoulli success, theta = logit p): exact lines; engine Monte Carlo points "
        f"(R = {config['n_seeds']} seeds, 95% intervals) at p in {tuple(shown)}",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    paths = plots.save_figure(fig, folder / "bias-variance")
    plt.close(fig)
    return paths


def _draw_best(folder: Path) -> list[Path]:
    from matplotlib.colors import ListedColormap

    from pgjax.plotting import variance as plots

    plt = _plt()
    exact = pio.read_frame(folder, "exact")
    practical = [n for n in dict.fromkeys(exact["estimator"]) if n in PRACTICAL and n != "dr_grpo"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    if practical:
        wide = exact[exact["estimator"].isin(practical)].pivot_table(
            index="G", columns=["p", "estimator"], values="rel_mse"
        )
        gs, ps = wide.index.to_numpy(), np.unique(exact["p"])
        cube = wide.to_numpy().reshape(len(gs), len(ps), len(practical))
        order = list(wide.columns.get_level_values("estimator")[: len(practical)])
        best = np.argmin(cube, axis=2)
        cmap = ListedColormap([COLOURS[n] for n in order])
        axes[0].pcolormesh(ps, gs, best, cmap=cmap, vmin=-0.5, vmax=len(order) - 0.5, shading="nearest")
        for name in order:
            axes[0].plot([], [], "s", color=COLOURS[name], label=LABELS[name])
        axes[0].legend(fontsize=7, loc="upper center")
        axes[0].set_title(
            "lowest MSE among the baselines that use only the rewards (Dr. GRPO = batch mean)", fontsize=9
        )
    grpo = exact[exact["estimator"] == "grpo"]
    if not grpo.empty:
        wide = grpo.pivot_table(index="G", columns="p", values="scale")
        mesh = axes[1].pcolormesh(
            wide.columns, wide.index, np.log2(wide.to_numpy()), cmap="RdBu_r", shading="nearest", vmin=-3, vmax=3
        )
        cbar = fig.colorbar(mesh, ax=axes[1])
        cbar.set_label("log2 of GRPO's scale c = E[u] / grad")
        deg = exact[exact["estimator"] == "grpo"].pivot_table(index="G", columns="p", values="degenerate")
        cs = axes[1].contour(deg.columns, deg.index, deg.to_numpy(), levels=[0.1, 0.5, 0.9], colors="k", linewidths=0.7)
        axes[1].clabel(cs, fmt=lambda v: f"P(all equal) = {v:g}", fontsize=6)
        axes[1].set_title(
            "GRPO's scale of the true gradient (contours: probability that a group is all equal)", fontsize=9
        )
    for ax in axes:
        ax.set_xlabel("success probability p")
        ax.set_ylabel("group size G")
    fig.tight_layout()
    paths = plots.save_figure(fig, folder / "best-baseline")
    plt.close(fig)
    return paths


def _draw_prompts(folder: Path) -> list[Path]:
    from pgjax.plotting import variance as plots

    plt = _plt()
    prompts = pio.read_frame(folder, "prompts")
    batch = pio.read_frame(folder, "batch")
    G = min(prompts["G"].unique(), key=lambda g: abs(g - 8))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for name, e in prompts[prompts["G"] == G].groupby("estimator", sort=False):
        axes[0].plot(e["p"], e["scale"], marker="o", ms=3, **_style(name))
    axes[0].axhline(1.0, color="0.5", lw=0.6)
    axes[0].set_xlabel("prompt's success probability p_q")
    axes[0].set_ylabel("scale c_q = E[u_q] . grad_q / |grad_q|^2")
    axes[0].set_title(f"how each baseline weights a prompt (K = 4 answers, G = {G})", fontsize=9)
    axes[0].legend(fontsize=7)
    for name, e in batch[batch["problem"] == "prompts"].groupby("estimator", sort=False):
        axes[1].plot(e["G"], e["cosine"], **_style(name))
        axes[2].plot(e["G"], e["rel_mse"], **_style(name))
    grid = batch[(batch["problem"] == "grid") & (batch["estimator"] == "grpo")]
    if not grid.empty:
        label = f"GRPO, the grid's {len(pio.read_frame(folder, 'exact')['p'].unique())} prompts (K = 2)"
        axes[1].plot(grid["G"], grid["cosine"], color=COLOURS["grpo"], ls="--", lw=1, label=label)
    axes[1].set_title("cosine(E[g], grad J) over the batch", fontsize=9)
    axes[1].set_ylabel("cosine")
    axes[1].legend(fontsize=7)
    axes[2].set_yscale("log")
    axes[2].set_title("relative MSE of the batch: (|bias|^2 + tr Var) / |grad J|^2", fontsize=9)
    for ax in axes[1:]:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("group size G")
    for ax in axes:
        ax.grid(alpha=0.3, lw=0.5)
    p = ", ".join(f"{x:g}" for x in sorted(prompts["p"].unique()))
    fig.suptitle(f"Prompts of different difficulty, one batch (p = {p}): exact values", fontsize=9)
    fig.tight_layout()
    paths = plots.save_figure(fig, folder / "prompts")
    plt.close(fig)
    return paths


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw, retable=retable, headline=headline)

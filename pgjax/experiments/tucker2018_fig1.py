"""Tucker et al. (2018), Figure 1: the state / action / trajectory variance terms on a 2-D point mass (LQG).

Tucker, Bhupatiraju, Gu, Turner, Ghahramani and Levine (2018), "The Mirage of Action-Dependent Baselines in
Reinforcement Learning", Figure 1 and Appendix 9. The set-up is that of their public code (``lqg/lqr.py`` of
brain-research/mirage-rl, ``getPointMassEnv`` and ``testPointMass``): a 2-D point mass (state: position and
velocity, action: force, dt = 0.05, mass 1) from (3, 4, 0.5, -0.5), reward -(|s|^2 + 0.01 |a|^2), horizon 100,
gamma = 0.99, initial-state and process covariance 1e-5 I, an open-loop time-indexed Gaussian policy
a_t ~ N(mu_t, 1e-4 I) with mu_t ~ N(0, 0.3 I) drawn with their seed 3, trained by their optimiser (the exact
per-step gradient, learning rate 0.001, momentum 0.1, the means only) to the ``snapshots``
(:class:`pgjax.problems.lqr.OpenLoopLQG`).

At each snapshot and time step t, the variance of the single-sample gradient in mu_t splits into Sigma_s,
Sigma_a (no baseline, the state value V(s), the action-dependent Q(s, a), which removes it) and Sigma_tau
(Monte Carlo return, GAE(0), GAE(0.99) with the exact V) (:mod:`pgjax.estimators.variance_decomposition`).
Tables: ``exact`` (float64 Gaussian-moment algebra; log of the trace of each term, as Tucker et al. plot),
``monte_carlo`` (nested sampling through the engine: trajectories for the states, several actions per state,
several continuations per state-action; per-seed unbiased estimates, mean with its 95% interval, the exact
value and the z-score), ``summary`` (per snapshot, where each term dominates). Figure: log trace against t
per snapshot, exact lines and Monte Carlo points with intervals.

Differences from their code: every term here is exact (they compute Sigma_s exactly and sample Sigma_a and
Sigma_tau with the exact Q, 20000 samples per t, where their E_a[psi Q | s] term omits the factor 2 and the
p_a term of their own E_grad_mu_fn); their ``get_variances`` stops at t = T - 2, as the figure does here
(the table keeps t = T - 1, where Sigma_tau is 0); the snapshots are this experiment's choice (their script
saves every 10 updates; the paper does not list the ones it shows).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pgjax import io as pio
from pgjax.analysis import stats
from pgjax.engine import run_sweep
from pgjax.errors import ConfigError
from pgjax.estimators import variance_decomposition as vd
from pgjax.experiment import ExperimentResult, Hooks, check_seeds
from pgjax.problems.lqr import OpenLoopLQG

NAME = "tucker2018-fig1"

#: Labels of the terms in the figure (Tucker et al.'s notation).
LABELS = {
    "sigma_s": r"$\Sigma_s$",
    "sigma_a_none": r"$\Sigma_a^{0}$ (no baseline)",
    "sigma_a_value": r"$\Sigma_a^{V(s)}$ (state-value baseline)",
    "sigma_tau_mc": r"$\Sigma_\tau$ (Monte Carlo return)",
}


@dataclasses.dataclass(frozen=True)
class Config:
    """Tucker et al. (2018) Figure 1: log trace of the state, action and trajectory variance terms of the
    policy gradient against the time step, on their 2-D point mass (LQG), exact and Monte Carlo."""

    horizon: int = 100
    """Horizon T (their 100)."""
    discount: float = 0.99
    """Discount gamma (their 0.99)."""
    sigma_a2: float = 1e-4
    """Action variance of the policy (their sigma_a = 0.0001)."""
    sigma_s2: float = 1e-5
    """Initial-state and process variance per coordinate (their sigma_s_sa = 0.00001)."""
    action_cost: float = 0.01
    """Action cost r of the reward -(|s|^2 + r |a|^2) (their 0.01)."""
    policy_seed: int = 3
    """numpy seed of the initial means (their 3)."""
    snapshots: tuple[int, ...] = (0, 100, 1000)
    """Policy updates (their optimiser) at which the terms are computed; each >= 0."""
    learning_rate: float = 1e-3
    """Learning rate of their optimiser (their 0.001)."""
    momentum: float = 0.1
    """Momentum of their optimiser (their 0.1)."""
    lambdas: tuple[float, ...] = (0.0, 0.99)
    """GAE lambdas of the trajectory term (their 0 and 0.99), each in [0, 1]."""
    states: int = 2
    """Monte Carlo: trajectories (states per t) per seed (>= 2)."""
    actions: int = 4
    """Monte Carlo: actions per state (>= 2)."""
    continuations: int = 4
    """Monte Carlo: continuations per (state, action) (>= 2)."""
    n_seeds: int = 96
    """Monte Carlo: seeds R per snapshot (>= 2; 0 = exact lines only)."""
    seed: int = 0
    """Base seed of the Monte Carlo keys."""
    chunk_size: int = 1000
    """Seeds per host-side chunk; never changes a number."""

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if isinstance(self.horizon, bool) or int(self.horizon) != self.horizon or self.horizon < 2:
            raise ConfigError("horizon", f"must be an integer >= 2 (got {self.horizon})")
        if not (0.0 < self.discount <= 1.0):
            raise ConfigError("discount", f"must be in (0, 1] (got {self.discount})")
        for field in ("sigma_a2", "sigma_s2", "learning_rate"):
            if not getattr(self, field) > 0:
                raise ConfigError(field, f"must be > 0 (got {getattr(self, field)})")
        if not self.action_cost >= 0:
            raise ConfigError("action_cost", f"must be >= 0 (got {self.action_cost})")
        if not (0.0 <= self.momentum < 1.0):
            raise ConfigError("momentum", f"must be in [0, 1) (got {self.momentum})")
        if not self.snapshots or min(self.snapshots) < 0 or len(set(self.snapshots)) != len(self.snapshots):
            raise ConfigError("snapshots", f"needs distinct update counts >= 0 (got {self.snapshots})")
        if any(not (0.0 <= lam <= 1.0) for lam in self.lambdas) or len(set(self.lambdas)) != len(self.lambdas):
            raise ConfigError("lambdas", f"needs distinct values in [0, 1] (got {self.lambdas})")
        for field in ("states", "actions", "continuations"):
            if getattr(self, field) < 2:
                raise ConfigError(field, f"must be >= 2 (got {getattr(self, field)})")
        if self.n_seeds != 0:
            check_seeds(self.n_seeds, self.chunk_size)
            if self.n_seeds < 2:
                raise ConfigError("n_seeds", f"must be 0 or >= 2 (got {self.n_seeds})")

    def problem(self) -> OpenLoopLQG:
        return OpenLoopLQG.point_mass(
            horizon=self.horizon,
            discount=self.discount,
            sigma_a2=self.sigma_a2,
            sigma_s2=self.sigma_s2,
            r=self.action_cost,
            seed=self.policy_seed,
        )


def _log(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(x) > 0, np.log(np.maximum(x, 1e-300)), np.nan)


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """Exact terms and Monte Carlo estimates at every snapshot (nothing is written; see :func:`save`)."""
    config.validate()
    problem = config.problem()
    lambdas = tuple(float(lam) for lam in config.lambdas)
    means = problem.train_means(config.snapshots, config.learning_rate, config.momentum)
    exact_rows, mc_rows, timings = [], [], {}
    estimator = vd.NestedLQGDecomposition(actions=config.actions, continuations=config.continuations, lambdas=lambdas)
    mc_names = vd.mc_term_names(lambdas)
    z95 = stats.unbiasedness_z(1, 0.05)
    T = problem.horizon
    for update in sorted(means):
        mu = means[update]
        t0 = time.perf_counter()
        exact = vd.exact_decomposition(problem, mu, lambdas)
        timings[f"exact_{update}"] = time.perf_counter() - t0
        objective = float(_objective(problem, mu))
        for name, value in exact.items():
            trace = value.sum(axis=1)
            for t in range(T):
                exact_rows.append(
                    {
                        "updates": update,
                        "t": t,
                        "term": name,
                        "trace": trace[t],
                        "log_trace": float(_log(trace[t])),
                        **{f"coord{c}": value[t, c] for c in range(value.shape[1])},
                        "objective_J": objective,
                    }
                )
        if config.n_seeds == 0:
            continue
        t0 = time.perf_counter()
        import jax.numpy as jnp

        sweep = run_sweep(
            problem,
            jnp.asarray(mu, jnp.float32),
            {mc_names: estimator},
            (config.states,),
            config.n_seeds,
            seed=config.seed,
            chunk_size=config.chunk_size,
            progress=progress,
            **(execution or {}),
        )
        timings[f"monte_carlo_{update}"] = time.perf_counter() - t0
        for name in mc_names:
            est = np.asarray(sweep.estimates[name][config.states], np.float64).reshape(config.n_seeds, T, -1).sum(-1)
            mean, sd = est.mean(0), est.std(0, ddof=1)
            se = sd / np.sqrt(config.n_seeds)
            target = exact["sigma_a_none" if name == "sigma_a_none_sampled" else name].sum(axis=1)
            for t in range(T):
                mc_rows.append(
                    {
                        "updates": update,
                        "t": t,
                        "term": name,
                        "mean": mean[t],
                        "se": se[t],
                        "lo": mean[t] - z95 * se[t],
                        "hi": mean[t] + z95 * se[t],
                        "exact": target[t],
                        "z": (mean[t] - target[t]) / se[t] if se[t] > 0 else np.nan,
                        "n_seeds": config.n_seeds,
                    }
                )
    exact_table = pd.DataFrame(exact_rows)
    mc_table = pd.DataFrame(mc_rows)
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=problem.describe(),
        table=exact_table,
        sweep=None,
        info={
            "monte_carlo": mc_table,
            "timings": timings,
            "exact_method": "Gaussian-polynomial moments, float64 (pgjax.estimators.variance_decomposition)",
            "monte_carlo_design": {
                "states_per_seed": config.states,
                "actions_per_state": config.actions,
                "continuations_per_action": config.continuations,
                "interval": "mean +- 1.96 se over seeds",
            },
        },
    )


def _objective(problem: OpenLoopLQG, mu):
    import jax

    with jax.enable_x64(True):
        return problem.objective(jax.numpy.asarray(mu, jax.numpy.float64))


def summary(exact: pd.DataFrame, lambdas) -> pd.DataFrame:
    """Per snapshot, from the exact table (t = 0 .. T-2, as Tucker et al.): J, the terms' log traces at t = 0,
    the time steps where Sigma_a^0 exceeds Sigma_tau, where Sigma_a^V exceeds Sigma_tau (what an
    action-dependent baseline could remove beyond V(s), against what it cannot), and the largest ratio
    Sigma_a^V / Sigma_tau over t."""
    rows = []
    for update, g in exact.groupby("updates", sort=True):
        T = int(g["t"].max()) + 1
        g = g[g["t"] <= T - 2]
        tr = {term: gt.sort_values("t")["trace"].to_numpy() for term, gt in g.groupby("term")}
        tau = tr["sigma_tau_mc"]
        row = {"updates": update, "objective_J": float(g["objective_J"].iloc[0]), "T": T}
        for term in (
            "sigma_s",
            "sigma_a_none",
            "sigma_a_value",
            "sigma_tau_mc",
            *(vd.gae_name(lam) for lam in lambdas),
        ):
            row[f"log_{term}_t0"] = float(np.log(tr[term][0]))
        for term in ("sigma_a_none", "sigma_a_value"):
            above = np.flatnonzero(tr[term] > tau)
            row[f"steps_{term}_above_tau"] = int(above.size)
            row[f"last_t_{term}_above_tau"] = int(above.max()) if above.size else -1
        ratio = tr["sigma_a_value"] / tau
        row["max_ratio_value_to_tau"] = float(ratio.max())
        row["t_of_max_ratio"] = int(np.argmax(ratio))
        row["median_ratio_value_to_tau"] = float(np.median(ratio))
        row["median_ratio_none_to_tau"] = float(np.median(tr["sigma_a_none"] / tau))
        for lam in lambdas:
            row[f"median_ratio_gae{lam:g}_to_mc"] = float(np.median(tr[vd.gae_name(lam)] / tau))
        rows.append(row)
    return pd.DataFrame(rows)


def draw(folder) -> list[Path]:
    """One panel per snapshot: log trace of each term against t (t = 0 .. T-2), exact lines and Monte Carlo
    points with 95% intervals (a point whose interval reaches 0 or below is drawn at its upper end as a
    downward triangle)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pgjax.plotting import variance as plots

    folder = Path(folder)
    exact = pio.read_frame(folder, "exact")
    manifest = pio.read_manifest(folder)
    config = manifest["config"]
    lambdas = tuple(config["lambdas"])
    mc = pio.read_frame(folder, "monte_carlo") if (folder / "monte_carlo.parquet").exists() else None
    terms = {**LABELS, **{vd.gae_name(lam): rf"$\Sigma_\tau$ (GAE, $\lambda$ = {lam:g})" for lam in lambdas}}
    colours = ["#0072B2", "#D55E00", "#009E73", "#000000", "#CC79A7", "#E69F00", "#56B4E9"]
    styles = {name: (colours[i % len(colours)], "-" if i < 4 else "--") for i, name in enumerate(terms)}
    updates = sorted(set(exact["updates"]))
    fig, axes = plt.subplots(1, len(updates), figsize=(4.6 * len(updates), 4.4), squeeze=False, sharey=True)
    T = int(exact["t"].max()) + 1
    for ax, update in zip(axes[0], updates):
        g = exact[(exact["updates"] == update) & (exact["t"] <= T - 2)]
        for name, label in terms.items():
            gt = g[g["term"] == name].sort_values("t")
            colour, ls = styles[name]
            ax.plot(gt["t"], gt["log_trace"], color=colour, ls=ls, lw=1.4, label=label)
            if mc is None:
                continue
            m = mc[(mc["updates"] == update) & (mc["term"] == name) & (mc["t"] <= T - 2)].sort_values("t")
            m = m[m["t"] % max(1, T // 20) == 0]
            ok = m["lo"] > 0
            mo = m[ok]
            ax.errorbar(
                mo["t"],
                np.log(mo["mean"]),
                yerr=[np.log(mo["mean"]) - np.log(mo["lo"]), np.log(mo["hi"]) - np.log(mo["mean"])],
                fmt="o",
                ms=3,
                color=colour,
                elinewidth=0.8,
                capsize=1.5,
            )
            up = m[~ok & (m["hi"] > 0)]
            ax.plot(up["t"], np.log(up["hi"]), "v", ms=3.5, color=colour, mfc="none")
        J = float(g["objective_J"].iloc[0])
        ax.set_title(f"#updates = {update} (J = {J:.0f})", fontsize=10)
        ax.set_xlabel("time step t")
        ax.set_xlim(0, T - 1)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(r"log trace of the covariance term")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    n_seeds = config["n_seeds"]
    mc_text = (
        f"points: Monte Carlo, {n_seeds} seeds x {config['states']} states x {config['actions']} actions x "
        f"{config['continuations']} continuations,\n95% intervals (triangles: upper end of an interval reaching 0)"
        if mc is not None
        else "exact only"
    )
    fig.suptitle(
        f"Tucker et al. (2018) Fig. 1: variance terms of the policy gradient in $\\mu_t$, 2-D point mass "
        f"(T = {T}, $\\gamma$ = {config['discount']}); lines: exact;\n{mc_text}. "
        r"The action-dependent baseline Q(s, a) removes $\Sigma_a$ entirely ($\Sigma_a^{Q}$ = 0, not drawn).",
        fontsize=8.5,
    )
    fig.tight_layout()
    paths = plots.save_figure(fig, folder / "figure")
    plt.close(fig)
    return paths


def save(result: ExperimentResult, out_dir, *, argv=None, overwrite=None) -> Path:
    """Writes the exact, Monte Carlo and summary tables, the manifest and the figure, replacing ``out_dir``."""
    from pgjax.experiment import save_frames

    info = dict(result.info)
    mc = info.pop("monte_carlo")
    frames = {"exact": result.table, **({"monte_carlo": mc} if len(mc) else {})}
    frames["summary"] = summary(result.table, result.config.lambdas)
    return save_frames(result, out_dir, frames, draw, argv=argv, overwrite=overwrite, info=info)


def headline(result: ExperimentResult) -> pd.DataFrame:
    return summary(result.table, result.config.lambdas)


def total_work(config: Config) -> int:
    """Progress units: Monte Carlo seeds over all snapshots."""
    return config.n_seeds * len(config.snapshots)


def retable(folder) -> str:
    """The summary table as Markdown (from the saved parquet)."""
    return pio.read_frame(Path(folder), "summary").to_markdown(index=False)


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw, headline=headline, retable=retable)

"""Bias and variance of the sample KL estimators k1, k2, k3 (Schulman 2020, "Approximating KL divergence")
against the exact KL between two categorical policies, as the policies move apart.

p = softmax(z) and q_t = softmax(z + t delta) over K answers, z and delta standard normal vectors drawn once
(``policy_seed``); t runs over ``n_distances`` log-spaced values in [``t_min``, ``t_max``], so the exact
KL(p || q_t) runs from about 1e-5 to about 1. For every t and estimator (:mod:`pgjax.estimators.kl`): the exact
mean, bias and variance of one draw x ~ p by enumerating the K answers, with the relative bias bias / KL, the
relative standard deviation sd / KL and the MSE (``exact.parquet``). At the t of ``mc_distances``,
``n_seeds`` independent estimates of ``n`` draws each give Monte Carlo points: the mean with its standard
error and the variance with its 95% interval, beside the exact values (``monte_carlo.parquet``). They come from
the engine like every other experiment's: the registered estimators k1, k2, k3 (``params_shaped = False``, one
output column ``kl``) on the pair problem :class:`pgjax.problems.kl_pair.KLPair` (p's logits are its parameters,
q_t its fixed reference), one setting per Monte Carlo step (:func:`pgjax.engine.run_grid`, axis ``step``), the
exact KL as the engine's reference and each estimator's exact variance (``n_sample_variance``) beside it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from pgjax import io as pio
from pgjax.analysis import stats
from pgjax.engine import Sweep
from pgjax.engine.grid import Setting, default_sweep, run_grid
from pgjax.errors import ConfigError
from pgjax.estimators.kl import KL_ESTIMATOR_CLASSES, KL_ESTIMATORS, UNBIASED, exact_kl_table
from pgjax.experiment import ExperimentResult, Hooks, check_seeds
from pgjax.problems.kl_pair import KLPair
from pgjax.problems.softmax_bandit import SoftmaxParams

NAME = "kl-estimators"


@dataclasses.dataclass(frozen=True)
class Config:
    """Exact bias and variance of the KL estimators k1, k2, k3 between categorical policies p and q against
    the distance between them, with Monte Carlo points."""

    answers: int = 10
    """Number K of answers (>= 2)."""
    policy_seed: int = 0
    """Seed of the logits z of p and of the direction delta of q_t = softmax(z + t delta)."""
    t_min: float = 0.01
    """Smallest step t (> 0)."""
    t_max: float = 3.0
    """Largest step t (> t_min)."""
    n_distances: int = 41
    """Number of log-spaced steps t in [t_min, t_max] (>= 2)."""
    mc_distances: tuple[int, ...] = (0, 10, 20, 30, 40)
    """Indices of the steps t (0 .. n_distances - 1) that get Monte Carlo points."""
    n: int = 1
    """Draws x ~ p per estimate (>= 1); the variance of the mean of n draws is Var / n."""
    n_seeds: int = 20000
    """Independent estimates R per Monte Carlo point (>= 30)."""
    seed: int = 0
    """Base seed of the per-seed keys."""

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if self.answers < 2:
            raise ConfigError("answers", f"must be >= 2 (got {self.answers})")
        if not (self.t_min > 0 and math.isfinite(self.t_min)):
            raise ConfigError("t_min", f"must be > 0 (got {self.t_min})")
        if not (self.t_max > self.t_min and math.isfinite(self.t_max)):
            raise ConfigError("t_max", f"must be finite and > t_min (got {self.t_max})")
        if self.n_distances < 2:
            raise ConfigError("n_distances", f"must be >= 2 (got {self.n_distances})")
        if any(i < 0 or i >= self.n_distances for i in self.mc_distances):
            raise ConfigError("mc_distances", f"every index must be in [0, {self.n_distances - 1}]")
        if len(set(self.mc_distances)) != len(self.mc_distances):
            raise ConfigError("mc_distances", "lists an index twice")
        if self.n < 1:
            raise ConfigError("n", f"must be >= 1 (got {self.n})")
        if self.n_seeds < stats.TAIL_MIN_COUNT:
            raise ConfigError("n_seeds", f"must be >= {stats.TAIL_MIN_COUNT} (got {self.n_seeds})")
        check_seeds(self.n_seeds, 1)

    def steps(self) -> np.ndarray:
        return np.geomspace(self.t_min, self.t_max, self.n_distances)


def policies(config: Config) -> tuple[np.ndarray, np.ndarray]:
    """(z, delta), each (K,) float64, from ``policy_seed``."""
    rng = np.random.default_rng(config.policy_seed)
    return rng.standard_normal(config.answers), rng.standard_normal(config.answers)


def kl_problem(config: Config, t: float) -> KLPair:
    """The pair (p = softmax(z), q_t = softmax(z + t delta)) at step t: p's logits are the parameters."""
    z, delta = policies(config)
    return KLPair.build(logits=z, reference_logits=z + t * delta)


def _kl_sweep(problem, params, estimators, ns, n_seeds, *, seed, chunk_size, progress, execution) -> Sweep:
    """One setting's sweep (:class:`pgjax.engine.grid.SweepFunction`): the estimators' one output column ``kl``,
    measured against the exact KL(p || q)."""
    against_exact = {"reference_gradient": [float(problem.exact_kl(params))], "output_names": ("kl",)}
    return default_sweep(
        problem,
        params,
        estimators,
        ns,
        n_seeds,
        seed=seed,
        chunk_size=chunk_size,
        progress=progress,
        execution={**(execution or {}), **against_exact},
    )


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """Exact lines and Monte Carlo points (nothing is written; see :func:`save`). The Monte Carlo points are
    the engine's: one setting per Monte Carlo step (:func:`pgjax.engine.run_grid`, axis ``step``), the
    registered estimators k1, k2, k3 fused into one program per setting (the same draws for all three), in
    float64 (``jax.enable_x64``: a KL of 1e-5 is far below float32's rounding of log p); ``execution`` is
    passed to the engine."""
    config.validate()
    z, delta = policies(config)
    steps = config.steps()
    exact_rows, mc_rows = [], []
    t0 = time.perf_counter()
    with jax.enable_x64(True):
        for i, t in enumerate(steps):
            values = jax.device_get(exact_kl_table(jnp.asarray(z), jnp.asarray(z + t * delta)))
            kl = float(values["kl"])
            for name in KL_ESTIMATORS:
                mean, var = (float(v) for v in values[name])
                exact_rows.append(
                    {
                        "step": i,
                        "t": float(t),
                        "kl": kl,
                        "estimator": name,
                        "unbiased": "yes" if UNBIASED[name] else "no",
                        "mean": mean,
                        "bias": mean - kl,
                        "rel_bias": (mean - kl) / kl,
                        "var": var,
                        "rel_std": math.sqrt(var) / kl,
                        "mse": (mean - kl) ** 2 + var,
                    }
                )
    exact_seconds = time.perf_counter() - t0
    exact_at = {(r["step"], r["estimator"]): r for r in exact_rows}
    estimators = {name: cls() for name, cls in KL_ESTIMATOR_CLASSES.items()}

    def build(setting: dict) -> Setting:
        i = setting["step"]
        problem = kl_problem(config, float(steps[i]))
        params = SoftmaxParams(logits=jnp.asarray(z))
        return Setting(
            problem=problem,
            params=params,
            estimators=estimators,
            exact_single_sample_var={name: e.single_sample_variance(problem, params) for name, e in estimators.items()},
            true_grad=np.array([exact_at[(i, "k1")]["kl"]]),
            problem_name=problem.describe(),
            info={"t": float(steps[i])},
        )

    t0 = time.perf_counter()
    with jax.enable_x64(True):  # float64 log-ratios: a KL of 1e-5 is far below float32's rounding of log p
        grid = run_grid(
            build,
            {"step": sorted(config.mc_distances)},
            (config.n,),
            config.n_seeds,
            seed=config.seed,
            progress=progress,
            execution=execution,
            sweep=_kl_sweep,
            fuse=True,
        )
    mc_seconds = time.perf_counter() - t0
    for (i,), entry in grid.settings.items():
        sweep = entry.sweep
        for name in estimators:
            x = np.asarray(sweep.estimates[name][config.n], np.float64)[:, 0]
            var, lo, hi = stats.variance_ci(x)
            row = exact_at[(i, name)]
            mc_rows.append(
                {
                    "step": i,
                    "t": float(steps[i]),
                    "kl": float(sweep.true_grad[0]),
                    "estimator": name,
                    "n": config.n,
                    "n_seeds": config.n_seeds,
                    "mean": float(x.mean()),
                    "mean_se": float(x.std(ddof=1) / math.sqrt(len(x))),
                    "exact_mean": row["mean"],
                    "var": float(var),
                    "var_lo": float(lo),
                    "var_hi": float(hi),
                    "exact_var": float(entry.exact_single_sample_var[name][0]) / config.n,
                }
            )
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=f"KL(p || q_t), p = softmax(z), q_t = softmax(z + t delta), K = {config.answers}",
        table=pd.DataFrame(exact_rows),
        sweep=grid,
        info={
            "monte_carlo": pd.DataFrame(mc_rows),
            "exact_seconds": exact_seconds,
            "monte_carlo_seconds": mc_seconds,
            "execution": grid.execution,
            "estimators": {"k1": "-log r", "k2": "(log r)^2 / 2", "k3": "(r - 1) - log r", "r": "q(x) / p(x), x ~ p"},
        },
    )


def total_work(config: Config) -> int:
    return config.n_seeds * len(config.mc_distances)


def save(result: ExperimentResult, out_dir, *, argv=None, overwrite=None) -> Path:
    """Writes exact.parquet, monte_carlo.parquet, the manifest and the figure, replacing ``out_dir``."""
    from pgjax.experiment import save_frames

    info = dict(result.info)
    frames = {"exact": result.table, "monte_carlo": info.pop("monte_carlo")}
    return save_frames(result, out_dir, frames, draw, argv=argv, overwrite=overwrite, info=info)


def retable(folder) -> str:
    """Re-renders the csv/md/tex of both tables from their parquet files (``pgjax table``); returns the Monte
    Carlo table as Markdown."""
    folder = Path(folder)
    for stem in ("exact", "monte_carlo"):
        pio.write_frame(pio.read_frame(folder, stem), folder, stem, parquet=False)
    return pio.render_markdown(pio.read_frame(folder, "monte_carlo"))


def headline(result: ExperimentResult) -> pd.DataFrame:
    """The exact rows at the Monte Carlo steps."""
    table = result.table
    steps = result.config.mc_distances
    return table[table["step"].isin(steps)][["t", "kl", "estimator", "rel_bias", "rel_std"]]


def draw(folder) -> list[Path]:
    """kl-estimators.png: relative bias, relative sd and relative root-MSE of one draw against the exact KL,
    exact lines and Monte Carlo points with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pgjax.plotting import variance as plots
    from pgjax.styles import estimator_style

    folder = Path(folder)
    exact = pio.read_frame(folder, "exact")
    mc = pio.read_frame(folder, "monte_carlo")
    config = pio.read_manifest(folder)["config"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    n = config["n"]
    for name, e in exact.groupby("estimator", sort=False):
        look = estimator_style(name)
        colour = look["color"]
        label = {"k1": "k1 = -log r", "k2": "k2 = (log r)^2 / 2", "k3": "k3 = (r - 1) - log r"}.get(name, name)
        line = dict(color=colour, ls=look["linestyle"], label=label)
        axes[0].plot(e["kl"], e["rel_bias"], **line)
        axes[1].plot(e["kl"], np.sqrt(e["var"] / n) / e["kl"], **line)
        axes[2].plot(e["kl"], np.sqrt(e["bias"] ** 2 + e["var"] / n) / e["kl"], **line)
        m = mc[mc["estimator"] == name]
        kw = dict(fmt=look["marker"], ms=4, color=colour, mfc="white", capsize=2, zorder=5)
        axes[0].errorbar(m["kl"], (m["mean"] - m["kl"]) / m["kl"], yerr=1.96 * m["mean_se"] / m["kl"], **kw)
        sd, lo, hi = np.sqrt(m["var"]), np.sqrt(m["var_lo"]), np.sqrt(m["var_hi"])
        axes[1].errorbar(m["kl"], sd / m["kl"], yerr=[(sd - lo) / m["kl"], (hi - sd) / m["kl"]], **kw)
    axes[0].axhline(0.0, color="0.5", lw=0.6)
    axes[0].set_ylabel("(E[k] - KL) / KL")
    axes[0].set_title("relative bias", fontsize=9)
    axes[1].set_ylabel("sd[k] / KL")
    axes[1].set_title(f"relative standard deviation (mean of n = {n} draw(s))", fontsize=9)
    axes[2].set_ylabel("sqrt(MSE) / KL")
    axes[2].set_title("relative root mean squared error", fontsize=9)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("exact KL(p || q)  (nats)")
        ax.grid(alpha=0.3, lw=0.5)
    for ax in axes[1:]:
        ax.set_yscale("log")
    axes[1].legend(fontsize=8)
    fig.suptitle(
        f"KL estimators from x ~ p, r = q(x)/p(x), K = {config['answers']} answers: exact lines (enumeration); "
        f"points: R = {config['n_seeds']} estimates, 95% intervals",
        fontsize=9,
    )
    fig.tight_layout()
    paths = plots.save_figure(fig, folder / "kl-estimators")
    plt.close(fig)
    return paths


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw, retable=retable, headline=headline)

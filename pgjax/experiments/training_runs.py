"""Shared code of the training experiments (cartpole-reinforce, pendulum-gaussian, pong-pixels).

Each estimator variant is trained over many seeds in one compiled, vmapped program
(:func:`pgjax.training.train`); the learning curves are summarised with rliable's methodology (Agarwal et
al. 2021): the interquartile mean (IQM) over seeds with a 95% stratified-bootstrap interval, a table of final
returns with intervals, and the probability that one variant beats another (:mod:`pgjax.analysis.bootstrap`).

Outputs (``pgjax run NAME`` writes them to runs/NAME/, or to ``--out``): ``curves`` (IQM per variant and metric block),
``table`` (final returns, and ``auc_*``: the IQM of each seed's mean return over the whole run), ``improvement`` (probability of improvement for
every ordered pair), each as parquet/csv/md/tex; ``raw.npz`` (every seed's metrics); ``figure.png`` (learning
curves), ``improvement.png``; ``manifest.json``.
"""

from __future__ import annotations

import dataclasses
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pgjax import io as pio
from pgjax.errors import ConfigError
from pgjax.estimators.episodic import SIGNALS
from pgjax.experiment import Hooks, check_estimator_names
from pgjax.training import METRICS, TrainSetup, train

#: What one unit of progress is for these experiments.
PROGRESS_UNIT = "update"


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Training of several policy-gradient estimators over many seeds (subclassed per environment)."""

    env: str = "cartpole"
    """Environment: cartpole, pendulum, mountain-car-continuous or pong (or a gymnax id)."""
    policy: str = "linear-softmax"
    """Policy: linear-softmax, mlp-softmax, linear-gaussian, mlp-gaussian or pong-mlp."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the MLP policies."""
    state_dependent_sigma: bool = False
    """Gaussian policies: log sigma from a second head (True) or a free parameter (False)."""
    init_log_sigma: float = 0.0
    """Gaussian policies: initial log sigma."""
    estimators: tuple[str, ...] = (
        "reinforce",
        "reward_to_go",
        "batch_mean_baseline",
        "leave_one_out",
        "value_baseline",
        "gae",
    )
    """Estimator variants to train (see pgjax.estimators.episodic)."""
    n_seeds: int = 256
    """Seeds (independent training runs) per variant."""
    episodes: int = 8
    """Episodes per update (the batch n of each gradient estimate)."""
    horizon: int = 500
    """Steps per episode (fixed; the done-mask zeroes the steps after termination)."""
    updates: int = 100
    """Policy updates per run (a multiple of --log-every)."""
    log_every: int = 5
    """Updates per metrics row (the mean over their batches)."""
    learning_rates: tuple[float, ...] = (0.1,)
    """Policy learning rates, each > 0 (several are vmapped together with the seeds)."""
    optimiser: str = "adam"
    """Policy optimiser: adam, rmsprop or sgd."""
    max_grad_norm: float = 0.0
    """Clip the policy gradient to this global norm (0 = no clipping)."""
    discount: float = 1.0
    """Discount gamma in (0, 1]; the objective is E[sum_t gamma^t r_t]."""
    lam: float = 0.95
    """lambda of gae, in [0, 1]."""
    critic_hidden: tuple[int, ...] = (32,)
    """Hidden layer widths of the critic (value_baseline, gae)."""
    critic_learning_rate: float = 1e-2
    """Adam learning rate of the critic."""
    critic_epochs: int = 4
    """Full-batch critic steps per update."""
    value_scale: float = 100.0
    """The critic predicts V / value_scale (keeps its outputs of order one)."""
    target: float | None = 500.0
    """A return to mark on the learning-curve figure (None: no line)."""
    bootstrap_reps: int = 2000
    """Bootstrap replicates of the intervals."""
    seed: int = 0
    """Base seed: run i of every variant uses key fold_in(key(seed), i)."""
    chunks: int = 10
    """Host-side chunks per run (progress and checkpoint granularity; never changes a number)."""

    def setup(self, estimator: str) -> TrainSetup:
        return TrainSetup(
            env=self.env,
            policy=self.policy,
            hidden=tuple(self.hidden),
            state_dependent_sigma=self.state_dependent_sigma,
            init_log_sigma=self.init_log_sigma,
            estimator=estimator,
            episodes=self.episodes,
            horizon=self.horizon,
            discount=self.discount,
            lam=self.lam,
            optimiser=self.optimiser,
            max_grad_norm=self.max_grad_norm,
            critic_hidden=tuple(self.critic_hidden),
            critic_learning_rate=self.critic_learning_rate,
            critic_epochs=self.critic_epochs,
            value_scale=self.value_scale,
            updates=self.updates,
            log_every=self.log_every,
        )

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        check_estimator_names(self.estimators, SIGNALS)
        if self.n_seeds < 4:
            raise ConfigError("n_seeds", f"must be >= 4 for an interquartile mean (got {self.n_seeds})")
        if not self.learning_rates or min(self.learning_rates) <= 0:
            raise ConfigError("learning_rates", f"every learning rate must be > 0 (got {self.learning_rates})")
        if len(set(self.learning_rates)) != len(self.learning_rates):
            raise ConfigError("learning_rates", "lists a learning rate twice")
        if self.bootstrap_reps < 100:
            raise ConfigError("bootstrap_reps", f"must be >= 100 (got {self.bootstrap_reps})")
        if self.chunks < 1:
            raise ConfigError("chunks", f"must be >= 1 (got {self.chunks})")
        for estimator in self.estimators:
            self.setup(estimator).validate()


@dataclasses.dataclass
class TrainingResult:
    """What a training experiment's ``run`` returns (nothing written yet)."""

    experiment: str
    config: TrainingConfig
    problem: str
    table: pd.DataFrame  # final returns, one row per variant
    curves: pd.DataFrame
    improvement: pd.DataFrame
    raw: dict[str, np.ndarray]
    info: dict


def variant_label(estimator: str, learning_rate: float, learning_rates) -> str:
    """The variant's name in tables: the estimator, with its learning rate when several are trained."""
    return estimator if len(learning_rates) == 1 else f"{estimator}@lr={learning_rate:g}"


def run(experiment: str, config: TrainingConfig, *, progress=None, execution: dict | None = None) -> TrainingResult:
    """Trains every variant and summarises the curves (see the module docstring)."""
    from pgjax.analysis import bootstrap

    config.validate()
    execution = execution or {}
    store = execution.get("store")
    returns, final, raw, timings, steps = {}, {}, {}, {}, {}
    for estimator in config.estimators:
        setup = config.setup(estimator)
        out = train(
            setup,
            config.n_seeds,
            learning_rates=tuple(config.learning_rates),
            seed=config.seed,
            chunk_blocks=max(1, -(-setup.blocks // config.chunks)),
            progress=progress,
            store=store,
            devices=execution.get("devices"),
            seed_range=execution.get("seed_range"),
        )
        if store is not None and out.checkpoint_path is not None:
            (store.loaded if out.resumed_blocks else store.saved).append(Path(out.checkpoint_path).name)
        timings[estimator] = {
            "compile_seconds": out.compile_seconds,
            "run_seconds": out.run_seconds,
            "resumed_blocks": out.resumed_blocks,
        }
        for j, lr in enumerate(out.learning_rates):
            label = variant_label(estimator, lr, out.learning_rates)
            returns[label] = out.metrics["return"][j].astype(np.float64)  # (S, B)
            final[label] = returns[label][:, -1]
            # x axis: environment steps actually taken (alive steps), mean over seeds, cumulative.
            steps[label] = np.cumsum(np.mean(out.metrics["length"][j], axis=0) * setup.episodes * setup.log_every)
            for metric in METRICS:
                raw[f"{label}/{metric}"] = out.metrics[metric][j]
        raw["updates"] = out.updates
    curves = pd.concat(
        [
            bootstrap.learning_curve_table({label: r}, steps[label], reps=config.bootstrap_reps, seed=config.seed)
            for label, r in returns.items()
        ],
        ignore_index=True,
    )
    updates = raw["updates"]
    curves.insert(2, "updates", updates[curves["point"].to_numpy()])
    curves.insert(3, "episodes", updates[curves["point"].to_numpy()] * config.episodes)
    table = bootstrap.final_table(final, reps=config.bootstrap_reps, seed=config.seed)
    # Final returns saturate at the task's maximum; the mean return over the whole run (the area under the
    # learning curve per block) also ranks how fast each variant got there.
    over_run = bootstrap.final_table(
        {k: r.mean(axis=1) for k, r in returns.items()}, reps=config.bootstrap_reps, seed=config.seed
    )
    over_run = over_run[["variant", "iqm", "iqm_lo", "iqm_hi"]].rename(
        columns={"iqm": "auc_iqm", "iqm_lo": "auc_iqm_lo", "iqm_hi": "auc_iqm_hi"}
    )
    table = table.merge(over_run, on="variant", how="left", sort=False)
    improvement = bootstrap.improvement_table(final, reps=config.bootstrap_reps, seed=config.seed)
    problem = (
        f"{config.env} ({config.policy} policy), horizon {config.horizon}, {config.episodes} episodes "
        f"per update, {config.updates} updates, {config.n_seeds} seeds"
    )
    if execution.get("seed_range") is not None:
        start, stop = execution["seed_range"]
        problem += f" (the shard of seeds {start}:{stop})"

    return TrainingResult(
        experiment=experiment,
        config=config,
        problem=problem,
        table=table,
        curves=curves,
        improvement=improvement,
        raw=raw,
        info={
            "timings": timings,
            "final_return": "mean return of the batches of the last metrics block",
            "auc": "IQM over seeds of the mean return over all metrics blocks (area under the curve per block)",
            "x_axis": "environment steps actually taken (alive steps), mean over seeds, cumulative",
        },
    )


def manifest(result: TrainingResult, argv=None) -> dict[str, Any]:
    from pgjax.experiment import _jsonable

    cfg = result.config
    return {
        "schema": pio.SCHEMA,
        "experiment": result.experiment,
        "problem": result.problem,
        "title": f"{result.experiment}: {result.config.env}, {result.config.policy} policy, "
        f"{result.config.episodes} episodes per update",
        "config": _jsonable(dataclasses.asdict(cfg)),
        "command": list(sys.argv if argv is None else argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": pio.environment_info(),
        "seed_scheme": "run i: key fold_in(jax.random.key(seed), i), the same for every variant and learning rate",
        "seed": cfg.seed,
        "n_seeds": cfg.n_seeds,
        "target": cfg.target,
        "statistics": "IQM over seeds with 95% stratified-bootstrap percentile intervals (Agarwal et al. 2021)",
        **_jsonable(result.info),
    }


def save(result: TrainingResult, out_dir, *, argv=None) -> Path:
    """Writes the tables, raw metrics, figures and manifest atomically (staged, then moved)."""
    out_dir = Path(out_dir)
    with pio.staged_output(out_dir) as stage:
        pio.write_frame(result.table, stage, "table")
        pio.write_frame(result.curves, stage, "curves")
        pio.write_frame(result.improvement, stage, "improvement")
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **result.raw)
        pio.atomic_write_bytes(stage / "raw.npz", buffer.getvalue())
        pio.write_manifest(stage, manifest(result, argv))
        draw(stage)
    return out_dir


def draw(folder) -> list[Path]:
    """Redraws the figures from the saved tables (``pgjax plot`` calls this)."""
    from pgjax.plotting import training as plot_training

    return plot_training.draw(folder)


#: The tables a training experiment writes (each as parquet, csv, md and tex).
TABLES = ("table", "curves", "improvement")


def retable(folder) -> str:
    """Re-renders every table of a results folder from its parquet file (``pgjax table`` calls this) and
    returns the Markdown of the final-return table."""
    frames = {stem: pio.read_frame(folder, stem) for stem in TABLES}  # read all before writing any
    for stem, frame in frames.items():
        pio.write_frame(frame, folder, stem, parquet=False)  # the parquet files are the source: kept
    return pio.render_markdown(frames["table"])


def headline(result: TrainingResult) -> pd.DataFrame:
    """What ``pgjax run`` prints: the final-return table."""
    return result.table


def total_work(config: TrainingConfig) -> int:
    return len(config.estimators) * config.updates


def hooks(total_work=total_work) -> Hooks:
    """The hooks of a training experiment (see :class:`pgjax.experiment.Hooks`): its outputs, figures, tables
    and headline are this module's; ``total_work`` may be the experiment's own (one that resolves its config
    first)."""
    return Hooks(
        total_work=total_work,
        progress_unit=PROGRESS_UNIT,
        save=save,
        draw=draw,
        retable=retable,
        headline=headline,
    )

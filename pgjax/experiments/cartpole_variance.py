"""Gradient variance against n on CartPole-v1, at policy snapshots from initial to trained.

The foundation experiment's question (how noisy is each estimator, at what n) asked of a real environment,
where no exact gradient exists. A linear-softmax policy (and a critic, for value_baseline and gae) is
trained with GAE on one seed; at the snapshots (initial, mid-training, trained) every estimator is run for
R seeds x n episodes through :func:`pgjax.engine.run_sweep` (sharding, cells, resume), all estimators from
the same episodes (common random numbers). Bias is measured against a REFERENCE gradient: the mean of
``reference_batches`` independent leave-one-out estimates of ``reference_episodes`` episodes each (unbiased;
drawn from keys disjoint from the sweep's), whose standard error per coordinate is reported in the table
(``reference_se``) next to the fraction of each variance it amounts to (``reference_var_fraction`` =
reference_se^2 / var). ``bias_se`` combines the estimator's standard error with the reference's
(sqrt(var / R + reference_se^2)), so bias z-scores allow for the reference's own noise.

The snapshot is the named axis of a grid (:func:`pgjax.engine.grid.run_grid`), each snapshot's reference gradient
its setting's true gradient: the table has a ``snapshot`` column, and raw.npz holds every estimate with its
snapshot and reference gradient as data (:func:`pgjax.io.read_raw_grid`). Same tables and figures as the
foundation experiment, one figure per snapshot (figure-<snapshot>.png).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import numpy as np

from pgjax import io as pio
from pgjax.engine import Sweep, merge_executions, run_sweep
from pgjax.engine.grid import Setting, run_grid
from pgjax.errors import ConfigError
from pgjax.estimators.base import EstimatorOptions, make, registry
from pgjax.estimators.episodic import SIGNALS, Episodic, EpisodicGrid
from pgjax.experiment import (
    ExperimentResult,
    Hooks,
    check_estimator_names,
    check_sample_sizes,
    check_seeds,
    save_with,
    summarise_grid,
)
from pgjax.plotting import variance as plots
from pgjax.problems.environment import EnvironmentProblem, FrozenTree
from pgjax.training import Trainer, TrainSetup, run_key, train

NAME = "cartpole-variance"
#: Offset of the reference batches' base seed, so that their keys never coincide with the sweep's.
REFERENCE_SEED_OFFSET = 1_000_003


@dataclasses.dataclass(frozen=True)
class Config:
    """Variance of policy-gradient estimators against n on CartPole-v1 at initial, mid-training and trained
    policy snapshots, against a large-batch reference gradient."""

    env: str = "cartpole"
    """Environment (a gymnax name; see pgjax.envs)."""
    policy: str = "linear-softmax"
    """Policy (linear policies keep the table to a few coordinates)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of an mlp-* policy (ignored by the linear ones)."""
    horizon: int = 500
    """Steps per episode."""
    discount: float = 1.0
    """Discount gamma in (0, 1]."""
    lam: float = 0.95
    """lambda of gae."""
    snapshots: tuple[int, ...] = (0, 20, 60)
    """Training updates (GAE, seed 0) at which the policy and critic are frozen; each >= 0."""
    train_learning_rate: float = 0.1
    """Adam learning rate of the training that produces the snapshots."""
    train_episodes: int = 8
    """Episodes per update of that training."""
    estimators: tuple[str, ...] = (
        "reinforce",
        "reward_to_go",
        "batch_mean_baseline",
        "leave_one_out",
        "value_baseline",
        "gae",
    )
    """Estimators to compare (reinforce is the reference of the variance ratios): the learning signals of
    pgjax.estimators.episodic, computed from one rollout, and any other registered estimator whose contract
    an environment meets (run from the same keys, so on the same episodes)."""
    ns: tuple[int, ...] = (2, 4, 8, 16, 32)
    """Episodes per estimate (each >= 2: leave-one-out needs two)."""
    n_seeds: int = 1000
    """Seeds R per (estimator, n)."""
    reference_episodes: int = 64
    """Episodes per reference batch."""
    reference_batches: int = 1024
    """Independent reference batches (the reference's standard error falls as 1/sqrt of this)."""
    seed: int = 0
    """Base seed of the sweep's keys."""
    chunk_size: int = 1000
    """Seeds per host-side chunk; never changes a number."""

    def validate(self) -> None:
        check_estimator_names(self.estimators, {**dict.fromkeys(SIGNALS), **registry()})
        check_sample_sizes(self.ns)
        if min(self.ns) < 2:
            raise ConfigError("ns", f"every n must be >= 2 (leave-one-out needs two episodes; got {min(self.ns)})")
        check_seeds(self.n_seeds, self.chunk_size)
        if not self.snapshots or min(self.snapshots) < 0 or len(set(self.snapshots)) != len(self.snapshots):
            raise ConfigError("snapshots", f"needs distinct update counts >= 0 (got {self.snapshots})")
        if self.reference_episodes < 2 or self.reference_batches < 2:
            raise ConfigError("reference_batches", "and --reference-episodes must be >= 2")
        if self.train_learning_rate <= 0:
            raise ConfigError("train_learning_rate", f"must be > 0 (got {self.train_learning_rate})")
        self.train_setup(1).validate()

    def train_setup(self, updates: int) -> TrainSetup:
        return TrainSetup(
            env=self.env,
            policy=self.policy,
            hidden=self.hidden,
            estimator="gae",
            episodes=self.train_episodes,
            horizon=self.horizon,
            discount=self.discount,
            lam=self.lam,
            critic_hidden=(32,),
            critic_learning_rate=1e-2,
            critic_epochs=4,
            value_scale=100.0,
            updates=max(updates, 1),
            log_every=1,
        )


def snapshot(config: Config, updates: int):
    """(policy params, critic params) of training run 0 after ``updates`` updates, and its last return."""
    setup = config.train_setup(updates)
    if updates == 0:
        state = Trainer(setup).init(run_key(config.seed, 0), config.train_learning_rate)
        last_return = float("nan")
    else:
        out = train(setup, 1, learning_rates=(config.train_learning_rate,), seed=config.seed)
        state = jax.tree.map(lambda x: x[0], out.state)
        last_return = float(out.metrics["return"][0, 0, -1])
    return state.policy, state.critic, last_return


def snapshot_name(updates: int, config: Config) -> str:
    if updates == 0:
        return "initial"
    return "trained" if updates == max(config.snapshots) else f"update-{updates}"


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """Trains the snapshots, runs the sweeps and the reference batches (nothing is written).

    The snapshot is the named axis of a grid (:func:`pgjax.engine.grid.run_grid`): building a setting trains (or
    reloads) its policy and critic and measures its reference gradient, which is that setting's true
    gradient; the table has a ``snapshot`` column and raw.npz holds each estimate with its snapshot as data
    (:func:`pgjax.io.read_raw_grid`)."""
    from pgjax.envs import make_environment
    from pgjax.policies import Critic, make_policy

    config.validate()
    execution = dict(execution or {})
    environment = make_environment(config.env)
    policy = make_policy(config.policy, environment, hidden=config.hidden)
    # Estimators other than the learning signals, checked against the problem before any training.
    estimators = {
        name: Episodic(name, config.lam)
        if name in SIGNALS
        else make(name, EstimatorOptions(lam=config.lam), EnvironmentProblem(environment, policy, config.horizon))
        for name in config.estimators
    }
    updates_of = {snapshot_name(updates, config): updates for updates in sorted(config.snapshots)}
    info = {"snapshots": {}}
    reference_ses = {}

    def build(setting) -> Setting:
        name = setting["snapshot"]
        updates = updates_of[name]
        policy_params, critic_params, last_return = snapshot(config, updates)
        problem = EnvironmentProblem(
            environment,
            policy,
            config.horizon,
            config.discount,
            critic=Critic(hidden=(32,)),
            critic_params=FrozenTree(critic_params),
            value_scale=100.0,
        )
        # The reference: mean of independent leave-one-out batches (unbiased), with its standard error.
        ref_sweep = run_sweep(
            problem,
            policy_params,
            {"reference": Episodic("leave_one_out", config.lam)},
            [config.reference_episodes],
            config.reference_batches,
            seed=config.seed + REFERENCE_SEED_OFFSET,
            chunk_size=config.chunk_size,
            progress=progress,
            reference_gradient=placeholder_gradient(policy_params),
            **execution,
        )
        ref = ref_sweep.estimates["reference"][config.reference_episodes].astype(np.float64)
        reference = ref.mean(axis=0)
        reference_ses[name] = ref.std(axis=0, ddof=1) / np.sqrt(ref.shape[0])
        info["snapshots"][name] = {
            "updates": updates,
            "reference_gradient": reference.tolist(),
            "reference_se": reference_ses[name].tolist(),
            "training_return_at_snapshot": last_return,
        }
        return Setting(
            problem=problem,
            params=policy_params,
            estimators=estimators,
            true_grad=reference,
            problem_name=f"{config.env} {name} policy",
            info={"updates": updates, "training_return_at_snapshot": last_return},
        )

    grid = run_grid(
        build,
        {"snapshot": tuple(updates_of)},
        sorted(set(config.ns)),
        config.n_seeds,
        seed=config.seed,
        chunk_size=config.chunk_size,
        progress=progress,
        execution=execution,
        sweep=functools.partial(sweep_snapshot, lam=config.lam),
    )
    table = summarise_grid(grid, experiment=NAME, reference="reinforce" if "reinforce" in estimators else None)
    index = {p: i for i, p in enumerate(grid.param_names)}
    se = np.array([reference_ses[s][index[p]] for s, p in zip(table["snapshot"], table["param"])])
    table["reference_se"] = se
    # The bias is measured against an estimate, so its standard error combines both: the estimator's
    # sd / sqrt(R) and the reference's own standard error (independent keys, so they add in quadrature).
    table["bias_se"] = np.hypot(table["bias_se"].to_numpy(dtype=float), se)
    table["reference_var_fraction"] = se**2 / table["var"].to_numpy(dtype=float)
    for name, facts in info["snapshots"].items():
        fractions = table.loc[table["snapshot"] == name, "reference_var_fraction"]
        facts["reference"] = {
            "estimator": "leave_one_out",
            "episodes": config.reference_episodes,
            "batches": config.reference_batches,
            "max_reference_var_fraction": float(np.nanmax(fractions)),
        }
    info["bias_estimators"] = [name for name, estimator in estimators.items() if not estimator.unbiased]
    info["bias_reference"] = "large-batch leave-one-out reference gradient (see reference_se)"
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=f"{config.env}, {config.policy} policy",
        table=table,
        sweep=grid,
        info=info,
    )


def placeholder_gradient(params) -> np.ndarray:
    """Zeros shaped like the flat params: the reference gradient a sweep needs on an environment, which has no
    exact objective, where the gradient it is measured against comes later (the reference sweep's own mean, or
    the grid's per-snapshot reference)."""
    return np.zeros(sum(np.size(x) for x in jax.tree.leaves(params)))


def sweep_snapshot(
    problem, params, estimators, ns, n_seeds, *, seed, chunk_size, progress, execution, lam: float
) -> Sweep:
    """One snapshot's sweep (a :class:`pgjax.engine.grid.SweepFunction`): the learning signals among ``estimators``
    from one rollout per seed (:class:`EpisodicGrid`), then the other estimators from the same keys, so on
    the same episodes (common random numbers). Its true gradient is a placeholder (zeros): the grid replaces
    it with the setting's reference gradient."""
    signals = [name for name, estimator in estimators.items() if isinstance(estimator, Episodic)]
    others = {name: estimator for name, estimator in estimators.items() if name not in signals}
    common = dict(
        seed=seed,
        chunk_size=chunk_size,
        progress=progress,
        reference_gradient=placeholder_gradient(params),
        **(execution or {}),
    )
    parts = []
    if signals:
        # one estimator with one output per signal: the engine splits its columns by the names of the key
        parts.append(
            run_sweep(problem, params, {tuple(signals): EpisodicGrid(tuple(signals), lam)}, ns, n_seeds, **common)
        )
    if others:
        parts.append(run_sweep(problem, params, others, ns, n_seeds, **common))
    if len(parts) == 1:
        return parts[0]
    merged = {k: v for part in parts for k, v in part.estimates.items()}
    return dataclasses.replace(
        parts[0],
        estimates={name: merged[name] for name in estimators},
        compile_seconds={k: v for part in parts for k, v in part.compile_seconds.items()},
        run_seconds={k: v for part in parts for k, v in part.run_seconds.items()},
        execution=merge_executions([part.execution for part in parts]),
    )


def draw(folder) -> list[Path]:
    """Per snapshot, from the saved table: the variance figure, the bias figure and the paired variance ratio
    against REINFORCE (``figure-<snapshot>``, ``bias-<snapshot>``, ``ratio-<snapshot>``)."""
    folder = Path(folder)
    table = pio.read_table(folder)
    if "snapshot" not in table.columns:
        raise pio.ResultsError(f"{folder / pio.TABLE_FILE}: no snapshot column (not a {NAME} table)")
    paths = []
    manifest = plots.folder_manifest(folder)
    chosen = manifest.get("bias_estimators")
    for name in table["snapshot"].drop_duplicates():
        sub = table[table["snapshot"] == name]
        have = set(sub["estimator"])
        present = [e for e in list(chosen or []) + ["leave_one_out"] if e in have] or None
        paths += plots.draw_variance_figures(
            sub, folder, manifest, suffix=f"-{name}", title_suffix=f", {name} policy", bias_estimators=present
        )
    return paths


def save(result: ExperimentResult, out_dir, *, argv=None) -> Path:
    """Table, raw estimates, manifest and the per-snapshot figures, atomically."""
    return save_with(draw, result, out_dir, argv=argv)


def total_work(config: Config) -> int:
    return len(config.snapshots) * (config.n_seeds + config.reference_batches)


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw)

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

Same tables and figures as the foundation experiment, one figure per snapshot (figure-<snapshot>.png).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

from pgjax import results
from pgjax.engine import MICRO_BATCH_ELEMENTS, run_sweep
from pgjax.errors import ConfigError
from pgjax.estimators.base import EstimatorOptions, make, registry
from pgjax.estimators.episodic import SIGNALS, UNBIASED_SIGNALS, Episodic, EpisodicGrid
from pgjax.estimators.trajectory import split_fused
from pgjax.experiment import (
    ExperimentResult,
    Hooks,
    check_estimator_names,
    check_sample_sizes,
    check_seeds,
    save_with,
    summarise_sweep,
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
    """Trains the snapshots, runs the sweeps and the reference batches (nothing is written)."""
    from pgjax.envs import make_environment
    from pgjax.policies import Critic, make_policy

    config.validate()
    execution = dict(execution or {})
    environment = make_environment(config.env)
    policy = make_policy(config.policy, environment)
    # Estimators other than the learning signals, checked against the problem before any training.
    others = {
        name: make(name, EstimatorOptions(lam=config.lam), EnvironmentProblem(environment, policy, config.horizon))
        for name in config.estimators
        if name not in SIGNALS
    }
    signals = tuple(name for name in config.estimators if name in SIGNALS)
    # An episode is H steps: keep a micro-batch at about MICRO_BATCH_ELEMENTS steps, as the LQR experiments do.
    execution.setdefault("micro_batch_elements", max(1, MICRO_BATCH_ELEMENTS // config.horizon))
    tables, sweeps, info = [], {}, {"snapshots": {}}
    for updates in sorted(config.snapshots):
        name = snapshot_name(updates, config)
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
            chunk_size=min(config.chunk_size, config.reference_batches),
            progress=progress,
            reference_gradient=np.zeros(sum(np.size(x) for x in jax.tree.leaves(policy_params))),
            **execution,
        )
        ref = ref_sweep.estimates["reference"][config.reference_episodes].astype(np.float64)
        reference = ref.mean(axis=0)
        reference_se = ref.std(axis=0, ddof=1) / np.sqrt(ref.shape[0])
        common = dict(
            seed=config.seed,
            chunk_size=min(config.chunk_size, config.n_seeds),
            progress=progress,
            reference_gradient=reference,
            **execution,
        )
        ns = sorted(set(config.ns))
        parts = []
        if signals:  # every learning signal from the same episodes, one rollout
            grid = EpisodicGrid(signals, config.lam)
            grid_sweep = run_sweep(problem, policy_params, {"grid": grid}, ns, config.n_seeds, **common)
            parts.append(split_fused(grid_sweep, "grid", list(signals)))
        if others:  # the same keys, so the same episodes (common random numbers)
            parts.append(run_sweep(problem, policy_params, others, ns, config.n_seeds, **common))
        sweep = parts[0]
        if len(parts) > 1:
            merged = {k: v for part in parts for k, v in part.estimates.items()}
            sweep = dataclasses.replace(
                sweep,
                estimates={name: merged[name] for name in config.estimators},
                compile_seconds={k: v for part in parts for k, v in part.compile_seconds.items()},
                run_seconds={k: v for part in parts for k, v in part.run_seconds.items()},
            )
        table = summarise_sweep(
            sweep,
            experiment=NAME,
            problem_name=f"{config.env} {name} policy",
            reference="reinforce" if "reinforce" in config.estimators else None,
        )
        index = {p: i for i, p in enumerate(sweep.param_names)}
        se = np.array([reference_se[index[p]] for p in table["param"]])
        table["reference_se"] = se
        # The bias is measured against an estimate, so its standard error combines both: the estimator's
        # sd / sqrt(R) and the reference's own standard error (independent keys, so they add in quadrature).
        table["bias_se"] = np.hypot(table["bias_se"].to_numpy(dtype=float), se)
        table["reference_var_fraction"] = se**2 / table["var"].to_numpy(dtype=float)
        table.insert(2, "snapshot", name)
        tables.append(table)
        sweeps[name] = sweep
        info["snapshots"][name] = {
            "updates": updates,
            "reference_gradient": reference.tolist(),
            "reference_se": reference_se.tolist(),
            "training_return_at_snapshot": last_return,
            "reference": {
                "estimator": "leave_one_out",
                "episodes": config.reference_episodes,
                "batches": config.reference_batches,
                "max_reference_var_fraction": float(np.nanmax(table["reference_var_fraction"])),
            },
        }
    import pandas as pd

    table = pd.concat(tables, ignore_index=True)
    first = sweeps[snapshot_name(min(config.snapshots), config)]
    # raw.npz holds every snapshot's estimates ("<snapshot>/<estimator>"); each snapshot's reference
    # gradient is in the manifest (true_grad is NaN: there is no single exact gradient).
    merged = dataclasses.replace(
        first,
        estimates={f"{s}/{e}": v for s, sw in sweeps.items() for e, v in sw.estimates.items()},
        true_grad=np.full_like(first.true_grad, np.nan),
    )
    info["bias_estimators"] = [
        e for e in config.estimators if (e not in UNBIASED_SIGNALS if e in SIGNALS else not others[e].unbiased)
    ]
    info["bias_reference"] = "large-batch leave-one-out reference gradient (see reference_se)"
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=f"{config.env}, {config.policy} policy",
        table=table,
        sweep=merged,
        info=info,
    )


def draw(folder) -> list[Path]:
    """Per snapshot, from the saved table: the variance figure, the bias figure and the paired variance ratio
    against REINFORCE (``figure-<snapshot>``, ``bias-<snapshot>``, ``ratio-<snapshot>``)."""
    folder = Path(folder)
    table = results.read_table(folder)
    if "snapshot" not in table.columns:
        raise results.ResultsError(f"{folder / results.TABLE_FILE}: no snapshot column (not a {NAME} table)")
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

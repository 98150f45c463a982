"""Gradient variance against n and the state / action / trajectory decomposition on brax's Hopper.

The questions of ``cartpole-variance`` and ``variance-decomposition`` asked of a continuous-control task with
contact dynamics, through the brax adapter (:mod:`pgjax.brax_envs`; needs ``pip install 'pgjax[brax]'``). A
linear-Gaussian policy is trained briefly (GAE with a critic, training run 0, by
:func:`pgjax.experiments.variance_decomposition.snapshots`), giving two snapshots: ``initial`` (0 updates;
its critic fitted to the initial policy) and ``trained`` (``train_updates`` updates). At each snapshot:

- variance against n: every estimator for R seeds x n episodes through :func:`pgjax.engine.run_sweep` (all
  learning signals from one rollout per seed, common random numbers), bias and variance measured against a
  REFERENCE gradient, the mean of ``reference_batches`` independent leave-one-out estimates of
  ``reference_episodes`` episodes (keys disjoint from the sweep's), exactly as ``cartpole-variance`` does
  (its ``reference_se`` and ``reference_var_fraction`` columns; the snapshot is the named axis of a grid);
- the decomposition: Tucker et al. (2018), "The Mirage of Action-Dependent Baselines in Reinforcement
  Learning", Eq. (4): per branch time t the traces of Sigma_s, Sigma_a (no baseline and the critic's V) and
  Sigma_tau, by branching saved brax states (:class:`pgjax.experiments.variance_decomposition.BranchingDecomposition`).

Configurations. The default is a short CPU run (horizon 50, 256 seeds at n in {2, 8}, 64 reference batches of
16 episodes, 32 decomposition seeds, 20 training updates of 8 episodes): 16 minutes on the shared 2-core
project machine, most of it compiling brax programs (one to three minutes each there) and drawing the
per-coordinate figures. ``--full`` is the GPU configuration (:data:`FULL`): horizon
1000 (Hopper's time limit), 1000 seeds at n in {2, 4, 8, 16, 32}, 1024 reference batches of 64 episodes, 128
decomposition seeds x 4 states x 8 actions x 8 continuations at six branch times, 200 training updates; about
5e8 environment steps, not run on a GPU yet.

Outputs: ``table`` (+ ``quality``, ``raw.npz``) as cartpole-variance's, ``terms`` and ``summary`` as
variance-decomposition's; figures ``figure-<snapshot>``, ``bias-<snapshot>``, ``ratio-<snapshot>`` and
``decomposition``.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pandas as pd

from pgjax import io as pio
from pgjax.engine import run_sweep
from pgjax.engine.grid import Setting, run_grid
from pgjax.errors import ConfigError
from pgjax.estimators.base import EstimatorOptions, make, registry
from pgjax.estimators.episodic import CRITIC_SIGNALS, SIGNALS, Episodic
from pgjax.experiment import (
    ExperimentResult,
    Hooks,
    check_estimator_names,
    check_sample_sizes,
    check_seeds,
    quality_table,
    summarise_grid,
    write_raw,
)
from pgjax.experiments import cartpole_variance as cpv
from pgjax.experiments import variance_decomposition as vdx
from pgjax.problems.environment import EnvironmentProblem, FrozenTree

NAME = "brax-variance"

#: The GPU configuration of ``--full`` (overrides these fields).
FULL = dict(
    horizon=1000,
    train_updates=200,
    ns=(2, 4, 8, 16, 32),
    n_seeds=1000,
    reference_episodes=64,
    reference_batches=1024,
    times=(0, 100, 250, 500, 750, 900),
    states=4,
    actions=8,
    continuations=8,
    decomposition_seeds=128,
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Variance against n and the variance decomposition on brax's Hopper at an initial and a trained snapshot:
    a short CPU run by default, --full for a GPU."""

    env: str = "hopper"
    """brax environment: hopper, halfcheetah or inverted-pendulum, optionally name:backend (positional, spring,
    mjx; default positional; generalized fails inside the sweep engine, see pgjax.brax_envs)."""
    policy: str = "linear-gaussian"
    """Policy: linear-gaussian or mlp-gaussian."""
    horizon: int = 50
    """Steps per episode."""
    discount: float = 0.99
    """Discount gamma in (0, 1]."""
    train_updates: int = 20
    """GAE updates of the trained snapshot (training run 0)."""
    train_episodes: int = 8
    """Episodes per training update."""
    train_learning_rate: float = 0.05
    """Adam learning rate of the training."""
    estimators: tuple[str, ...] = ("reinforce", "reward_to_go", "batch_mean_baseline", "leave_one_out")
    """Estimators (reinforce is the reference of the variance ratios); value_baseline and gae use the
    snapshot's critic (one more compiled program per snapshot)."""
    ns: tuple[int, ...] = (2, 8)
    """Episodes per estimate (each >= 2)."""
    n_seeds: int = 256
    """Seeds R per (estimator, n)."""
    reference_episodes: int = 16
    """Episodes per reference batch."""
    reference_batches: int = 64
    """Independent reference batches."""
    times: tuple[int, ...] = (0, 10, 25)
    """Branch times t of the decomposition (each in [0, horizon))."""
    states: int = 2
    """Decomposition: episodes (states per branch time) per seed (>= 2)."""
    actions: int = 3
    """Decomposition: actions per saved state (>= 2)."""
    continuations: int = 3
    """Decomposition: continuations per (state, action) (>= 2)."""
    decomposition_seeds: int = 32
    """Decomposition: seeds per snapshot (>= 2)."""
    seed: int = 0
    """Base seed (training, sweep and reference keys)."""
    chunk_size: int = 1000
    """Seeds per host-side chunk; never changes a number."""
    full: bool = False
    """The GPU configuration (see FULL in the module): overrides the sizes above."""

    def resolved(self) -> Config:
        return dataclasses.replace(self, **FULL, full=False) if self.full else self

    def decomposition(self) -> vdx.Config:
        """The variance-decomposition config of the same environment, policy and training."""
        return vdx.Config(
            env=self.env,
            policy=self.policy,
            horizon=self.horizon,
            discount=self.discount,
            times=tuple(self.times),
            train_updates=self.train_updates,
            train_episodes=self.train_episodes,
            train_learning_rate=self.train_learning_rate,
            states=self.states,
            actions=self.actions,
            continuations=self.continuations,
            n_seeds=self.decomposition_seeds,
            seed=self.seed,
            chunk_size=self.chunk_size,
        )

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field (brax missing: a one-line error naming --env)."""
        from pgjax.brax_envs import BRAX_ENVIRONMENTS, is_brax_name

        config = self.resolved()
        if not is_brax_name(config.env):
            names = ", ".join(BRAX_ENVIRONMENTS)
            raise ConfigError("env", f"choose one of {names} (or name:backend; got {config.env!r})")
        check_estimator_names(config.estimators, {**dict.fromkeys(SIGNALS), **registry()})
        check_sample_sizes(config.ns)
        if min(config.ns) < 2:
            raise ConfigError("ns", f"every n must be >= 2 (leave-one-out needs two episodes; got {min(config.ns)})")
        check_seeds(config.n_seeds, config.chunk_size)
        if config.reference_episodes < 2 or config.reference_batches < 2:
            raise ConfigError("reference_batches", "and --reference-episodes must be >= 2")
        if config.decomposition_seeds < 2:
            raise ConfigError("decomposition_seeds", f"must be >= 2 (got {config.decomposition_seeds})")
        config.decomposition().validate()  # env (brax installed), policy, horizon, times, states, training


@dataclasses.dataclass
class BraxVarianceResult(ExperimentResult):
    """The variance grid (``table``, ``sweep``) and the decomposition's ``terms`` table."""

    terms: pd.DataFrame | None = None


def micro_batch(n_seeds: int, ns) -> int:
    """Samples per micro-batch, R * min(ns), so that no micro-batch holds more seeds than the sweep asks for
    (the engine's default, sized for cheap steps, would compute up to 256 seeds per call of a short sweep)."""
    return int(n_seeds) * int(min(ns))


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> BraxVarianceResult:
    """Trains the snapshots, runs the variance sweeps and reference batches and the branching decomposition
    (nothing is written)."""
    from pgjax.envs import make_environment
    from pgjax.policies import Critic, make_policy

    config.validate()
    config = config.resolved()
    execution = dict(execution or {})
    vd_config = config.decomposition()
    environment = make_environment(config.env)
    policy = make_policy(config.policy, environment)
    base = EnvironmentProblem(environment, policy, config.horizon, config.discount)
    estimators = {
        name: Episodic(name) if name in SIGNALS else make(name, EstimatorOptions(), base) for name in config.estimators
    }
    needs_critic = any(name in CRITIC_SIGNALS or name not in SIGNALS for name in config.estimators)
    trained = vdx.snapshots(vd_config)  # {"initial", "trained"}: (policy, critic, last training return)
    updates_of = {"initial": 0, "trained": config.train_updates}
    info = {"snapshots": {}}
    reference_ses = {}

    def build(setting) -> Setting:
        name = setting["snapshot"]
        policy_params, critic_params, last_return = trained[name]
        # without a critic the problem is the same at both snapshots, so each program compiles once
        problem = (
            EnvironmentProblem(
                environment,
                policy,
                config.horizon,
                config.discount,
                critic=Critic(hidden=(32,)),
                critic_params=FrozenTree(critic_params),
                value_scale=100.0,
            )
            if needs_critic
            else base
        )
        ref_sweep = run_sweep(
            problem,
            policy_params,
            {"reference": Episodic("leave_one_out")},
            [config.reference_episodes],
            config.reference_batches,
            seed=config.seed + cpv.REFERENCE_SEED_OFFSET,
            chunk_size=config.chunk_size,
            progress=progress,
            reference_gradient=cpv.placeholder_gradient(policy_params),
            **{"micro_batch_elements": micro_batch(config.reference_batches, [config.reference_episodes])} | execution,
        )
        ref = ref_sweep.estimates["reference"][config.reference_episodes].astype(np.float64)
        reference = ref.mean(axis=0)
        reference_ses[name] = ref.std(axis=0, ddof=1) / np.sqrt(ref.shape[0])
        info["snapshots"][name] = {
            "updates": updates_of[name],
            "reference_gradient": reference.tolist(),
            "reference_se": reference_ses[name].tolist(),
            "training_return_at_snapshot": last_return,
            "reference": {
                "estimator": "leave_one_out",
                "episodes": config.reference_episodes,
                "batches": config.reference_batches,
            },
        }
        return Setting(
            problem=problem,
            params=policy_params,
            estimators=estimators,
            true_grad=reference,
            problem_name=f"{environment.name} {name} policy",
            info={"updates": updates_of[name], "training_return_at_snapshot": last_return},
        )

    grid = run_grid(
        build,
        {"snapshot": tuple(updates_of)},
        sorted(set(config.ns)),
        config.n_seeds,
        seed=config.seed,
        chunk_size=config.chunk_size,
        progress=progress,
        execution={"micro_batch_elements": micro_batch(config.n_seeds, config.ns)} | execution,
        sweep=functools.partial(cpv.sweep_snapshot, lam=0.95),
    )
    table = summarise_grid(grid, experiment=NAME, reference="reinforce" if "reinforce" in estimators else None)
    index = {p: i for i, p in enumerate(grid.param_names)}
    se = np.array([reference_ses[s][index[p]] for s, p in zip(table["snapshot"], table["param"])])
    table["reference_se"] = se
    # bias against an estimate: the estimator's and the reference's standard errors add in quadrature
    table["bias_se"] = np.hypot(table["bias_se"].to_numpy(dtype=float), se)
    table["reference_var_fraction"] = se**2 / table["var"].to_numpy(dtype=float)
    for name, facts in info["snapshots"].items():
        fractions = table.loc[table["snapshot"] == name, "reference_var_fraction"]
        facts["reference"]["max_reference_var_fraction"] = float(np.nanmax(fractions))
    info["bias_estimators"] = [name for name, estimator in estimators.items() if not estimator.unbiased]
    info["bias_reference"] = "large-batch leave-one-out reference gradient (see reference_se)"

    decomposition_execution = {"micro_batch_elements": micro_batch(config.decomposition_seeds, [config.states])}
    terms, vd_info = vdx.branching_terms(
        vd_config, trained, progress=progress, execution=decomposition_execution | execution
    )
    info["decomposition"] = {"timings": vd_info["timings"], "n_seeds": config.decomposition_seeds}
    problem = f"{environment.name}, {config.policy} policy, H = {config.horizon}, gamma = {config.discount}"
    return BraxVarianceResult(
        experiment=NAME, config=config, problem=problem, table=table, sweep=grid, info=info, terms=terms
    )


def draw(folder) -> list[Path]:
    """From the saved tables: per snapshot the variance, bias and ratio figures of cartpole-variance, and the
    decomposition figure (``decomposition``)."""
    folder = Path(folder)
    paths = cpv.draw(folder)
    terms = pio.read_frame(folder, "terms")
    manifest = pio.read_manifest(folder)
    c = manifest["config"]
    title = (
        f"Variance decomposition by branching, {manifest['problem']}: {c['decomposition_seeds']} seeds x "
        f"{c['states']} states x {c['actions']} actions x {c['continuations']} continuations,\n95% intervals "
        "(open triangles: upper end of an interval reaching 0; Hopper's episodes end when it falls)"
    )
    updates = {snap: facts["updates"] for snap, facts in manifest["snapshots"].items()}
    return paths + vdx.draw_terms(terms, updates, title, folder / "decomposition")


def save(result: BraxVarianceResult, out_dir, *, argv=None, overwrite=None) -> Path:
    """The variance table, quality table, raw estimates and manifest (as ``save_with``), the decomposition's
    ``terms`` and ``summary`` tables, and the figures, replacing ``out_dir`` as a whole."""
    from pgjax.experiment import manifest
    from pgjax.plotting import variance as plots

    out_dir = Path(out_dir)
    with pio.staged_output(out_dir, overwrite=overwrite) as stage:
        pio.write_table(result.table, stage)
        pio.write_quality(quality_table(result), stage)
        write_raw(stage, result.sweep)
        pio.write_frame(result.terms, stage, "terms")
        pio.write_frame(vdx.summary(result.terms), stage, "summary")
        pio.write_manifest(stage, manifest(result, argv))
        if plots.figures_enabled():
            draw(stage)
    return out_dir


def total_work(config: Config) -> int:
    config = config.resolved()
    return 2 * (config.n_seeds + config.reference_batches + config.decomposition_seeds)


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw)

"""Gradient quality against the number of state-action pairs, on exact LQR and on CartPole (and Pendulum)
snapshots.

The question of A. Ilyas, L. Engstrom, S. Santurkar, D. Tsipras, F. Janoos, L. Rudolph and A. Madry (2020),
"A Closer Look at Deep Policy Gradients" (ICLR), Figs. 2 and 3: how well does the gradient estimate a
standard implementation uses for one update point along the true gradient? For each estimator and number
of episodes n this measures (:mod:`pgjax.analysis.quality`), over R seeds:

* the cosine similarity between an estimate and the true gradient, and the mean pairwise cosine between
  two independent estimates (seeds paired disjointly: (0, 1), (2, 3), ...), each with its 95% interval;
* the noise-to-signal ratio E||g_hat - g||^2 / ||g||^2 and the gradient noise scale
  B_simple = tr(Sigma) / ||g||^2 (McCandlish et al. 2018), EXACT on LQR.

Against the number of state-action pairs of an estimate, n x (mean episode length): on LQR every episode
has H steps; on CartPole the mean length of each snapshot's episodes is measured on ``length_episodes``
episodes from keys of their own (on Pendulum, which never terminates, this measures the horizon). The
figure marks 2048 state-action pairs, the number PPO's default settings use per update (2048 steps per
rollout, the default of Schulman et al.'s baselines implementation, and of Ilyas et al.'s runs).

Settings (the ``setting`` column of both tables):

* ``lqr``: the default system of lqr-variance (:class:`pgjax.experiments.variance_vs_n.LQRConfig`,
  double integrator, H = 20), true gradient, variances and so NSE and noise scale exact;
* ``cartpole-<snapshot>``: the policies of cartpole-variance (:mod:`pgjax.experiments.cartpole_variance`:
  a linear-softmax policy trained with GAE, frozen at initial, mid-training and trained snapshots), the
  true gradient replaced by a large-batch reference (the mean of ``reference_batches`` leave-one-out
  estimates of ``reference_episodes`` episodes), whose own noise adds about
  ``reference_se``^2 summed / ||g||^2 to the NSE and lowers the cosines slightly (reported in the manifest);
* ``pendulum-<snapshot>`` (``--pendulum``, off by default to keep the default run within a few minutes):
  the same on Pendulum-v1 with the MLP-Gaussian policy of pendulum-gaussian
  (:mod:`pgjax.experiments.pendulum_gaussian`: hidden widths 32, 32, state-independent log sigma, horizon 200,
  gamma = 0.99), its snapshots trained as CartPole's are (GAE, training run 0,
  :func:`cartpole_variance.snapshot`) at pendulum-gaussian's learning rate and episodes per update, each
  with its own large-batch reference.
  Its ~1200 coordinates go into ``quality.parquet`` only: their per-coordinate rows would add tens of
  thousands of rows to ``table.parquet`` and say nothing the vector measures do not.

Estimators (default): REINFORCE (whole return times the whole score), value_baseline (reward-to-go minus
a value baseline: LQR's exact V_t, the snapshot's trained critic on the environments) and GAE(lambda = 0.95)
with the same critic.

Outputs: ``quality.parquet`` (one row per setting, estimator and n; the columns of
:data:`pgjax.io.QUALITY_COLUMNS` plus ``setting``, ``episode_length`` and ``pairs``), ``table.parquet``
(the per-coordinate statistics of the LQR and CartPole settings), ``manifest.json`` and ``figure.{png,pdf}``
(drawn from ``quality.parquet`` only). No ``raw.npz``: the settings have different parameters, and ``pgjax reproduce``
recomputes everything from the manifest's command.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from pgjax import io as pio
from pgjax.analysis import quality as qual
from pgjax.errors import ConfigError
from pgjax.estimators.base import registry
from pgjax.estimators.episodic import SIGNALS
from pgjax.experiment import (
    ExperimentResult,
    Hooks,
    check_estimator_names,
    check_sample_sizes,
    check_seeds,
    manifest,
    quality_table,
    summarise_sweep,
)
from pgjax.experiments import cartpole_variance, variance_vs_n
from pgjax.plotting import quality as plot_quality

NAME = "gradient-quality"
#: State-action pairs per update of a standard implementation: PPO's default rollout of 2048 steps.
STANDARD_BUDGET = 2048
#: Offset of the base seed of the episodes that measure a CartPole snapshot's mean length.
LENGTH_SEED_OFFSET = 2_000_003
DEFAULT_ESTIMATORS = ("reinforce", "value_baseline", "gae")
#: The estimators both settings run: CartPole's learning signals that are also registered LQR estimators.
ESTIMATOR_CHOICES = tuple(name for name in SIGNALS if name in registry())


@dataclasses.dataclass(frozen=True)
class Config:
    """Cosine similarity to the true gradient, mean pairwise cosine, noise-to-signal ratio and gradient noise
    scale against the number of state-action pairs (n episodes x episode length), on exact LQR and at
    CartPole (with --pendulum, also Pendulum) training snapshots (Ilyas et al. 2020)."""

    estimators: tuple[str, ...] = DEFAULT_ESTIMATORS
    """Estimators, each run in both settings (a CartPole learning signal that is also an LQR estimator);
    value_baseline and gae use LQR's exact value function and CartPole's trained critic."""
    lam: float = 0.95
    """lambda of gae, in [0, 1]."""
    lqr_horizon: int = 20
    """LQR horizon H (>= 1): the state-action pairs of one episode."""
    lqr_ns: tuple[int, ...] = (1, 8, 64, 512)
    """LQR episodes per estimate (each >= 1)."""
    lqr_seeds: int = 400
    """LQR seeds R (>= 4): independent estimates per (estimator, n), R // 2 disjoint pairs."""
    exact: bool = True
    """Compute LQR's exact variances (nse_exact, noise_scale_exact; O(P H^2 D^3) each)."""
    cartpole: bool = True
    """Run the CartPole settings (False: LQR only)."""
    pendulum: bool = False
    """Also run the Pendulum-v1 settings (pendulum-gaussian's MLP-Gaussian policy at its training snapshots;
    a few more minutes)."""
    pendulum_snapshots: tuple[int, ...] = (0, 100, 200)
    """Pendulum training updates at which the policy is frozen (GAE, 16 episodes per update, learning rate
    0.01, as pendulum-gaussian trains); each >= 0."""
    pendulum_ns: tuple[int, ...] = (2, 8, 32, 128)
    """Pendulum episodes per estimate (each >= 2; 200 state-action pairs each)."""
    pendulum_seeds: int = 200
    """Pendulum seeds R (>= 4) per (snapshot, estimator, n)."""
    snapshots: tuple[int, ...] = (0, 20, 60)
    """CartPole training updates at which the policy is frozen (as in cartpole-variance); each >= 0."""
    cartpole_horizon: int = 500
    """CartPole episode cap (steps)."""
    cartpole_ns: tuple[int, ...] = (2, 8, 32, 128)
    """CartPole episodes per estimate (each >= 2)."""
    cartpole_seeds: int = 200
    """CartPole seeds R (>= 4) per (snapshot, estimator, n)."""
    reference_episodes: int = 64
    """Episodes per CartPole reference batch (>= 2)."""
    reference_batches: int = 256
    """Independent CartPole reference batches (>= 2): the reference gradient is their mean."""
    length_episodes: int = 256
    """Episodes (>= 1) that measure each CartPole (Pendulum) snapshot's mean episode length."""
    full: bool = False
    """Larger run: LQR n = 1..1024 (powers of 2) on 2000 seeds, CartPole (and Pendulum) n = 2..256 on 1000
    seeds with a 1024-batch reference (overrides those flags)."""
    seed: int = 0
    """Base seed of every sweep."""
    chunk_size: int = 1000
    """Seeds per host-side chunk (>= 1); never changes a number."""

    def resolved(self) -> Config:
        """The config the run uses: ``full`` replaces the sizes by the larger ones."""
        if not self.full:
            return self
        return dataclasses.replace(
            self,
            lqr_ns=tuple(2**i for i in range(11)),
            lqr_seeds=2000,
            cartpole_ns=tuple(2**i for i in range(1, 9)),
            cartpole_seeds=1000,
            pendulum_ns=tuple(2**i for i in range(1, 9)),
            pendulum_seeds=1000,
            reference_batches=1024,
        )

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        check_estimator_names(self.estimators, ESTIMATOR_CHOICES)
        if not (0.0 <= self.lam <= 1.0):
            raise ConfigError("lam", f"must be in [0, 1] (got {self.lam})")
        if self.lqr_horizon < 1:
            raise ConfigError("lqr_horizon", f"must be >= 1 (got {self.lqr_horizon})")
        for field, ns in (
            ("lqr_ns", self.lqr_ns),
            ("cartpole_ns", self.cartpole_ns),
            ("pendulum_ns", self.pendulum_ns),
        ):
            try:
                check_sample_sizes(ns)
            except ConfigError as err:
                raise ConfigError(field, str(err).split(": ", 1)[-1]) from None
        seeds_of = (("lqr_seeds", self.lqr_seeds), ("cartpole_seeds", self.cartpole_seeds))
        for field, seeds in (*seeds_of, ("pendulum_seeds", self.pendulum_seeds)):
            if seeds < 4:
                raise ConfigError(field, f"must be >= 4 (two disjoint pairs of seeds; got {seeds})")
        check_seeds(self.lqr_seeds, self.chunk_size)
        if self.length_episodes < 1:
            raise ConfigError("length_episodes", f"must be >= 1 (got {self.length_episodes})")
        _renamed(self.lqr_config().validate, {"horizon": "lqr_horizon", "ns": "lqr_ns", "n_seeds": "lqr_seeds"})
        if self.cartpole:
            _renamed(
                self.cartpole_config().validate,
                {"ns": "cartpole_ns", "n_seeds": "cartpole_seeds", "horizon": "cartpole_horizon"},
            )
        if self.pendulum:
            _renamed(
                self.pendulum_config().validate,
                {"ns": "pendulum_ns", "n_seeds": "pendulum_seeds", "snapshots": "pendulum_snapshots"},
            )

    def lqr_config(self) -> variance_vs_n.LQRConfig:
        """The LQR setting: lqr-variance's default system at this horizon, GAE with the exact critic."""
        return variance_vs_n.LQRConfig(
            horizon=self.lqr_horizon,
            estimators=self.estimators,
            gae_lambda=self.lam,
            ns=self.lqr_ns,
            n_seeds=self.lqr_seeds,
            seed=self.seed,
            chunk_size=self.chunk_size,
        )

    def cartpole_config(self) -> cartpole_variance.Config:
        """The CartPole settings: cartpole-variance's snapshots, reference and estimators."""
        return cartpole_variance.Config(
            horizon=self.cartpole_horizon,
            lam=self.lam,
            snapshots=self.snapshots,
            estimators=self.estimators,
            ns=self.cartpole_ns,
            n_seeds=self.cartpole_seeds,
            reference_episodes=self.reference_episodes,
            reference_batches=self.reference_batches,
            seed=self.seed,
            chunk_size=self.chunk_size,
        )

    def pendulum_config(self) -> cartpole_variance.Config:
        """The Pendulum settings: cartpole-variance's snapshots, reference and estimators on Pendulum-v1 with
        pendulum-gaussian's policy, horizon, discount and training (learning rate, episodes per update)."""
        from pgjax.experiments import pendulum_gaussian

        policy = pendulum_gaussian.Config()
        return cartpole_variance.Config(
            env=policy.env,
            policy=policy.policy,
            hidden=policy.hidden,
            horizon=policy.horizon,
            discount=policy.discount,
            lam=self.lam,
            snapshots=self.pendulum_snapshots,
            train_learning_rate=policy.learning_rates[0],
            train_episodes=policy.episodes,
            estimators=self.estimators,
            ns=self.pendulum_ns,
            n_seeds=self.pendulum_seeds,
            reference_episodes=self.reference_episodes,
            reference_batches=self.reference_batches,
            seed=self.seed,
            chunk_size=self.chunk_size,
        )


def _renamed(validate, fields: dict[str, str]) -> None:
    """``validate()``, its ConfigError naming this experiment's flag instead of the inner config's field."""
    try:
        validate()
    except ConfigError as err:
        raise ConfigError(fields.get(err.field, err.field), str(err).split(": ", 1)[-1]) from None


def mean_episode_length(config: cartpole_variance.Config, updates: int, episodes: int, seed: int) -> float:
    """The mean number of steps of ``episodes`` episodes of a snapshot's policy (CartPole's or Pendulum's), from
    keys ``fold_in(key(seed), i)`` (disjoint from the sweep's and the reference's)."""
    from pgjax.envs import make_environment
    from pgjax.policies import make_policy
    from pgjax.problems.environment import EnvironmentProblem

    environment = make_environment(config.env)
    policy = make_policy(config.policy, environment, hidden=config.hidden)
    problem = EnvironmentProblem(environment, policy, config.horizon, config.discount)
    params = cartpole_variance.snapshot(config, updates)[0]
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(np.arange(episodes))
    alive = jax.jit(problem.sample)(params, keys).alive
    return float(np.asarray(alive, np.float64).sum(axis=0).mean())


def snapshot_settings(
    prefix: str, env_config: cartpole_variance.Config, config: Config, progress, execution
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """cartpole-variance's snapshot grid on ``env_config`` (its environment and policy), as settings
    ``<prefix>-<snapshot>``: (per-coordinate table, quality table with each snapshot's mean episode length,
    manifest facts with each snapshot's reference noise floor sum(reference_se^2) / ||reference||^2)."""
    result = cartpole_variance.run(env_config, progress=progress, execution=execution)
    quality = quality_table(dataclasses.replace(result, experiment=NAME))
    lengths = {
        snapshot: mean_episode_length(
            env_config, facts["updates"], config.length_episodes, config.seed + LENGTH_SEED_OFFSET
        )
        for snapshot, facts in result.info["snapshots"].items()
    }
    quality["setting"] = f"{prefix}-" + quality.pop("snapshot").astype(str)
    quality["episode_length"] = [lengths[s.removeprefix(f"{prefix}-")] for s in quality["setting"]]
    table = result.table.copy()
    table["experiment"] = NAME
    table["setting"] = f"{prefix}-" + table.pop("snapshot").astype(str)
    info = {
        **{k: v for k, v in result.info.items() if k != "bias_estimators"},
        "mean_episode_length": lengths,
        "length_episodes": config.length_episodes,
        "length_seed": config.seed + LENGTH_SEED_OFFSET,
        "param_names": result.sweep.param_names,
        "seconds": {"compile": result.sweep.seconds("compile"), "run": result.sweep.seconds("run")},
        "reference_nse_floor": {
            snapshot: float(np.sum(np.square(facts["reference_se"])) / np.sum(np.square(facts["reference_gradient"])))
            for snapshot, facts in result.info["snapshots"].items()
        },
    }
    return table, quality, info


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """The LQR sweep (exact gradient and variances) and the CartPole (and Pendulum) snapshot grids (reference
    gradients), with their statistics and quality tables (nothing is written; see :func:`save`)."""
    config.validate()
    config = config.resolved()
    lqr_config = config.lqr_config()
    setting = variance_vs_n.setup(lqr_config, exact=config.exact)
    family = variance_vs_n.family_of(lqr_config)
    lqr_sweep = family.sweep(lqr_config)(
        setting.problem,
        setting.params,
        setting.estimators,
        sorted(set(lqr_config.ns)),
        lqr_config.n_seeds,
        seed=lqr_config.seed,
        chunk_size=lqr_config.chunk_size,
        progress=progress,
        execution=execution,
    )
    reference = "reinforce" if "reinforce" in setting.estimators else None
    lqr_table = summarise_sweep(
        lqr_sweep,
        experiment=NAME,
        problem_name=setting.problem_name,
        exact_single_sample_var=setting.exact_single_sample_var,
        reference=reference,
    )
    # Exact biases: zero for the estimators that are unbiased here (all the default ones, GAE's critic being
    # exact); an estimator without one gets no nse_exact.
    exact_bias = {
        name: np.zeros(len(lqr_sweep.param_names)) for name, est in setting.estimators.items() if est.unbiased
    }
    lqr_quality = qual.summarise_quality(
        lqr_sweep.estimates,
        lqr_sweep.true_grad,
        exact_single_sample_var=setting.exact_single_sample_var,
        exact_bias=exact_bias,
    )
    lqr_quality.insert(0, "problem", setting.problem_name)
    lqr_quality.insert(0, "experiment", NAME)
    lqr_quality["setting"] = "lqr"
    lqr_quality["episode_length"] = float(lqr_config.horizon)
    lqr_table["setting"] = "lqr"
    tables, qualities = [lqr_table], [lqr_quality]
    info = {
        "standard_budget": STANDARD_BUDGET,
        "standard_budget_source": "PPO's default rollout: 2048 steps per update",
        "lqr": {
            "problem": setting.problem_name,
            "param_names": lqr_sweep.param_names,
            "true_grad": [float(x) for x in lqr_sweep.true_grad],
            "seconds": {"compile": lqr_sweep.compile_seconds, "run": lqr_sweep.run_seconds},
            **{k: v for k, v in setting.info.items() if k in ("objective_J",)},
        },
    }
    if config.cartpole:
        cp_table, cp_quality, info["cartpole"] = snapshot_settings(
            "cartpole", config.cartpole_config(), config, progress, execution
        )
        tables.append(cp_table)
        qualities.append(cp_quality)
    if config.pendulum:
        _, pd_quality, info["pendulum"] = snapshot_settings(
            "pendulum", config.pendulum_config(), config, progress, execution
        )
        qualities.append(pd_quality)  # no per-coordinate rows (module docstring)
        # the MLP's ~1200 coordinates: the manifest keeps the reference's norms, not its vectors
        pendulum = info["pendulum"]
        pendulum["n_params"] = len(pendulum.pop("param_names"))
        for facts in pendulum["snapshots"].values():
            facts["reference_gradient_norm"] = float(np.linalg.norm(facts.pop("reference_gradient")))
            facts["reference_se_norm"] = float(np.linalg.norm(facts.pop("reference_se")))
    quality = pd.concat(qualities, ignore_index=True)
    quality["pairs"] = quality["n"].to_numpy(np.float64) * quality["episode_length"].to_numpy(np.float64)
    table = pd.concat(tables, ignore_index=True)
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem="LQR (exact gradient) and CartPole snapshots (reference gradient)"
        if not config.pendulum
        else "LQR (exact gradient), CartPole and Pendulum snapshots (reference gradients)",
        table=table,
        sweep=lqr_sweep,
        info=info,
        quality=quality,
    )


def save(result: ExperimentResult, out_dir, *, argv=None, overwrite=None) -> Path:
    """Writes table and quality table (parquet/csv/md/tex), manifest.json and the figure, atomically."""
    out_dir = Path(out_dir)
    with pio.staged_output(out_dir, overwrite=overwrite) as stage:
        pio.write_table(result.table, stage)
        pio.write_quality(result.quality, stage)
        facts = manifest(result, argv)
        for key in ("param_names", "true_grad", "compile_seconds", "run_seconds"):
            facts.pop(key, None)  # per setting, under "lqr" and "cartpole"
        config = result.config
        facts["n_seeds"] = {"lqr": config.lqr_seeds, "cartpole": config.cartpole_seeds}
        facts["ns"] = {"lqr": list(config.lqr_ns), "cartpole": list(config.cartpole_ns)}
        if config.pendulum:
            facts["n_seeds"]["pendulum"] = config.pendulum_seeds
            facts["ns"]["pendulum"] = list(config.pendulum_ns)
        pio.write_manifest(stage, facts)
        draw(stage)
    return out_dir


def draw(folder) -> list[Path]:
    """The figure from ``quality.parquet`` and the manifest (:func:`pgjax.plotting.quality.draw_quality`)."""
    return plot_quality.draw_quality(folder)


def headline(result: ExperimentResult) -> pd.DataFrame:
    """The rows `pgjax run` prints: each setting's and estimator's cosines at the largest n."""
    q = result.quality
    last = q[q["n"] == q.groupby("setting")["n"].transform("max")]
    return last.loc[:, ["setting", "estimator", "n", "pairs", "cos", "pair_cos", "nse", "nse_exact"]]


def total_work(config: Config) -> int:
    """Progress units: LQR seeds (one fused program) and, per snapshot, CartPole (Pendulum) seeds and reference
    batches."""
    config = config.resolved()
    work = config.lqr_seeds
    if config.cartpole:
        work += len(config.snapshots) * (config.cartpole_seeds + config.reference_batches)
    if config.pendulum:
        work += len(config.pendulum_snapshots) * (config.pendulum_seeds + config.reference_batches)
    return work


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw, headline=headline)

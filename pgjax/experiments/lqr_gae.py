"""Bias, variance and MSE of GAE(lambda) against lambda on finite-horizon LQR, for three critics.

GAE(gamma, lambda) (Schulman et al. 2016) weights each score psi_t by A_t = sum_l (gamma lambda)^l delta_{t+l}
with TD residuals delta_t = r_t + gamma V_{t+1}(x_{t+1}) - V_t(x_t). At lambda = 1 it is reward-to-go with
the baseline V_t(x_t), unbiased for any critic V; lowering lambda trusts the critic more, trading variance
for bias when the critic is wrong. Critics:

- ``exact``: the policy's exact value functions V_t (quadratic in x). Then E[delta_t | x_t, u_t] is the true
  advantage and GAE is UNBIASED FOR EVERY lambda (Schulman et al. 2016, Prop. 1); only the variance moves.
- ``stationary``: V_0 at every step, a time-agnostic critic as most actor-critic code fits for a
  finite-horizon task. Misspecified, so biased for lambda < 1. Its bias and variance are exact
  (Gaussian-polynomial moments) as well as measured.
- ``learned``: a per-step quadratic fitted by least squares on an independent pilot batch. Its features
  contain the true V_t, so the fit is conditionally unbiased and, the estimate being affine in the fitted
  coefficients, GAE is unbiased on average over pilot batches; the measured bias checks this.

The critic and lambda are the named axes of a grid (:class:`pgjax.engine.grid.GridSweep`); each setting holds one
estimator, ``gae[<critic>]``. For reference the table also has REINFORCE and reward-to-go, the grid's shared
setting (lambda-free: ``critic`` is empty and ``lam`` NaN), against which every setting's variance ratio is
taken. All GAE variants of one critic come from one rollout per seed
(:class:`pgjax.estimators.trajectory.GAEGrid`), each exactly as the separate GAE(lambda) estimator computes it
from the same key, and everything is compiled as one program. Extra table columns: ``bias_exact`` (the exact
bias where known), ``critic`` and ``lam``; raw.npz holds each estimate with its critic and lambda as data
(:func:`pgjax.io.read_raw_grid`). Figures: :func:`pgjax.plotting.settings.draw_gae`.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from pgjax.engine import run_sweep
from pgjax.engine.grid import GridSweep, SettingSweep
from pgjax.errors import ConfigError
from pgjax.estimators.trajectory import (
    GAE,
    TRAJECTORY_ESTIMATORS,
    VALUES,
    GAEGrid,
    exact_moments,
)
from pgjax.experiment import ExperimentResult, Hooks, check_seeds, exact_variances, save_with, summarise_grid
from pgjax.experiments.variance_vs_n import lqr_estimators
from pgjax.plotting import settings as plot_settings
from pgjax.problems.base import exact_gradient
from pgjax.problems.lqr import SYSTEMS, make_system

NAME = "lqr-gae"


@dataclasses.dataclass(frozen=True)
class Config:
    """Bias, variance and MSE of GAE(lambda) against lambda on LQR, with the exact, a time-agnostic and a
    learned critic, against exact gradients (and exact bias and variance where the critic is fixed)."""

    system: str = "double_integrator"
    """System: double_integrator (2 states, 1 action) or scalar."""
    horizon: int = 20
    """Horizon H (>= 1)."""
    gain: tuple[float, ...] = (-0.6, -1.2)
    """Feedback gain K of the policy u = K x + sigma eps (length m)."""
    sigma: float = 0.5
    """Action-noise standard deviation sigma (> 0)."""
    x0: tuple[float, ...] = (1.0, 0.0)
    """Mean of the initial state (length m)."""
    x0_std: float = 0.2
    """Std of each initial-state coordinate (>= 0)."""
    process_std: float = 0.05
    """Std of the process noise per coordinate (>= 0)."""
    discount: float = 1.0
    """Discount gamma in (0, 1]; the objective is the gamma-discounted return."""
    lambdas: tuple[float, ...] = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 1.0)
    """GAE lambdas, each in [0, 1]."""
    critics: tuple[str, ...] = VALUES
    """Critics V: exact, stationary (V_0 at every step) and/or learned (pilot-batch quadratic fit)."""
    references: tuple[str, ...] = ("reinforce", "reward_to_go")
    """lambda-free estimators for comparison (reinforce is the reference of the variance ratios)."""
    n_pilot: int = 64
    """Pilot trajectories (>= 2) of the learned critic, drawn independently of the estimate's."""
    n: int = 16
    """Trajectories per gradient estimate (>= 1)."""
    n_seeds: int = 10000
    """Seeds R (>= 2)."""
    seed: int = 0
    """Base seed of the per-seed keys."""
    chunk_size: int = 1000
    """Seeds per host-side chunk (>= 1); never changes the numbers."""

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if self.system not in SYSTEMS:
            raise ConfigError("system", f"unknown system {self.system!r}; choose from {', '.join(SYSTEMS)}")
        if not self.lambdas:
            raise ConfigError("lambdas", "needs at least one lambda")
        if any(not (math.isfinite(lam) and 0.0 <= lam <= 1.0) for lam in self.lambdas):
            raise ConfigError("lambdas", f"every lambda must be in [0, 1] (got {self.lambdas})")
        if len(set(self.lambdas)) != len(self.lambdas):
            raise ConfigError("lambdas", "lists a lambda twice")
        if not self.critics:
            raise ConfigError("critics", "needs at least one critic")
        for critic in self.critics:
            if critic not in VALUES:
                raise ConfigError("critics", f"unknown critic {critic!r}; choose from {', '.join(VALUES)}")
        if len(set(self.critics)) != len(self.critics):
            raise ConfigError("critics", "lists a critic twice")
        for name in self.references:
            if name not in TRAJECTORY_ESTIMATORS or name == GAE.name:
                choices = ", ".join(k for k in TRAJECTORY_ESTIMATORS if k != GAE.name)
                raise ConfigError("references", f"unknown estimator {name!r}; choose from {choices}")
        if len(set(self.references)) != len(self.references):
            raise ConfigError("references", "lists an estimator twice")
        if self.n_pilot < 2:
            raise ConfigError("n_pilot", f"must be >= 2 (got {self.n_pilot})")
        if self.n < 1:
            raise ConfigError("n", f"must be >= 1 (got {self.n})")
        check_seeds(self.n_seeds, self.chunk_size)
        problem(self)


def problem(config: Config):
    """The LQR problem of a config."""
    return make_system(
        config.system,
        horizon=config.horizon,
        gain=config.gain,
        sigma=config.sigma,
        x0=config.x0,
        x0_std=config.x0_std,
        process_std=config.process_std,
        discount=config.discount,
    )


def gae_name(critic: str) -> str:
    """The estimator name of GAE with one critic, in every lambda's setting: ``gae[<critic>]``."""
    return f"gae[{critic}]"


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """One fused sweep (the reference estimators and one GAEGrid per critic), split into a grid over the
    ``critic`` and ``lam`` axes (nothing is written; see :func:`save`)."""
    config.validate()
    lqr = problem(config)
    params = lqr.init_params()
    lams = tuple(sorted(config.lambdas))
    refs = lqr_estimators(config.references, lqr, params)
    # One program: the references, then one GAEGrid per critic whose outputs are named by (critic, lam).
    estimators, labels = dict(refs), {}
    for critic in config.critics:
        names = tuple(f"{gae_name(critic)}@{lam!r}" for lam in lams)
        labels.update(zip(names, ((critic, lam) for lam in lams)))
        estimators[names] = GAEGrid(lams=lams, value=critic, n_pilot=config.n_pilot)
    fused = run_sweep(
        lqr,
        params,
        estimators,
        (config.n,),
        config.n_seeds,
        seed=config.seed,
        chunk_size=config.chunk_size,
        fuse=True,
        progress=progress,
        **(execution or {}),
    )
    problem_name = lqr.describe()

    def part(estimates, exact, seconds=None):
        """One setting's share of the fused sweep; the setting given the one program's ``seconds`` carries its
        execution record too, so that the grid counts that program once."""
        sweep = dataclasses.replace(
            fused,
            estimates=estimates,
            compile_seconds=seconds[0] if seconds else {},
            run_seconds=seconds[1] if seconds else {},
            execution=dict(fused.execution) if seconds else {},
        )
        return SettingSweep(sweep=sweep, exact_single_sample_var=exact, problem_name=problem_name)

    # the timings are those of the one fused program: the shared setting carries them
    shared = part(
        {name: fused.estimates[name] for name in refs},
        exact_variances(refs, lqr, params),
        (fused.compile_seconds, fused.run_seconds),
    )
    if not refs:  # no lambda-free estimators: the timings go to the first setting instead
        shared = None
    settings, singles = {}, {}
    for label, key in labels.items():
        critic, lam = key
        single = GAE(lam=lam, value=critic, n_pilot=config.n_pilot)
        singles[key] = single
        name = gae_name(critic)
        seconds = (fused.compile_seconds, fused.run_seconds) if shared is None and not settings else None
        settings[key] = part({name: fused.estimates[label]}, exact_variances({name: single}, lqr, params), seconds)
    grid = GridSweep.from_sweeps({"critic": tuple(config.critics), "lam": lams}, settings, shared=shared)
    table = summarise_grid(grid, experiment=NAME, reference="reinforce" if "reinforce" in refs else None)

    # float64 all the way (sweep.true_grad has passed through float32 in the engine's ravel)
    leaves = jax.tree.leaves(exact_gradient(lqr, params))
    true_grad = np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in leaves])
    bias_exact = np.full(len(table), np.nan)
    unbiased = table["estimator"].isin([k for k, est in refs.items() if est.unbiased])
    bias_exact[(unbiased & table["critic"].isna()).to_numpy()] = 0.0
    order = {p: j for j, p in enumerate(grid.param_names)}
    for (critic, lam), single in singles.items():
        if critic == "learned":  # no exact moments: the fitted critic depends on the pilot batch
            continue
        moments = exact_moments(single, lqr, params)["mean"]
        mean = np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(moments)])
        rows = ((table["critic"] == critic) & (table["lam"] == lam)).to_numpy()
        bias_exact[rows] = [mean[order[p]] - true_grad[order[p]] for p in table.loc[rows, "param"]]
    table.insert(table.columns.get_loc("critic"), "bias_exact", bias_exact)
    table["critic"] = table["critic"].fillna("")
    with jax.enable_x64(True):
        J = float(lqr.objective(jax.tree.map(lambda x: jax.numpy.asarray(x, jax.numpy.float64), params)))
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=problem_name,
        table=table,
        sweep=grid,
        info={
            "objective_J": J,
            "exact_method": "Gaussian-polynomial moments (pgjax.problems.lqr), float64; none for the learned critic",
        },
    )


def draw(folder):
    """Redraws the figures from the saved table (``pgjax plot`` calls this): :func:`pgjax.plotting.settings.draw_gae`."""
    return plot_settings.draw_gae(folder)


def save(result: ExperimentResult, out_dir, *, argv=None):
    """Writes the results folder with this experiment's figures (``pgjax run`` calls this)."""
    return save_with(draw, result, out_dir, argv=argv)


def total_work(config: Config) -> int:
    """Progress units: seeds x compiled programs (one)."""
    return config.n_seeds


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw)

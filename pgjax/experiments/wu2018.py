"""Variance of the policy gradient against the action dimension D: Wu et al. (2018), "Variance Reduction for
Policy Gradient with Action-Dependent Factorized Baselines", on their target-matching task.

The problem (:class:`pgjax.problems.TargetMatching`): a ~ N(mu, diag(sigma^2)) in R^D, r = -|a - t|^2, one
step. The paper's synthetic task uses this reward in a 2000-dimensional action space to compare policies
trained with approximate, learned baselines (learning curves); here the task has one step and a fixed state,
so Q = r and every baseline is exact, nothing is trained, and the variance of the gradient estimate itself
is measured at the initial policy, for D from 1 to 2000.

Estimators (all unbiased, n samples per estimate): REINFORCE (no baseline), the value baseline V = E[r] (the
state/value baseline, :class:`~pgjax.estimators.StateValueBaseline`; the state is fixed), the optimal constant
baseline per coordinate b*_c = E[r psi_c^2] / E[psi_c^2] (:class:`~pgjax.estimators.OptimalBaselineExact`, the
best state-dependent baseline here) and the action-dependent factorised baseline b_i = E[r | a_{-i}]
(:class:`~pgjax.estimators.ActionFactorisedBaseline`). Exact single-sample variances (closed forms, see
:mod:`pgjax.problems.target_matching`): without a baseline the variance of one coordinate grows like D^2, with
a state-dependent baseline like D, and with the action-dependent one it does not depend on D.

The dimension is a named axis of a grid (:func:`pgjax.engine.grid.run_grid`), one fused sweep per D. Every
coordinate of mu (and of log sigma) has the same law (same target, mean and sigma everywhere), so the table
keeps the first of each, ``mu[0]`` and ``log_sigma[0]``, whose names are then the same at every D; the engine
still estimates all 2 D coordinates.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from pgjax.engine.grid import Setting, default_sweep, run_grid
from pgjax.errors import ConfigError
from pgjax.estimators.base import EstimatorOptions, registry, unavailable
from pgjax.estimators.base import build as build_registered
from pgjax.experiment import ExperimentResult, Hooks, check_estimator_names, check_seeds, exact_variances, save_with
from pgjax.experiment import summarise_grid as _summarise_grid
from pgjax.problems import TargetMatching

NAME = "wu2018"

#: The default dimensions: log-spaced from 1 to 2000 (about 2 minutes on 2 CPU cores).
DIMS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
#: The largest dimension, as in the paper's task.
MAX_DIM = 2000
DEFAULT_ESTIMATORS = ("reinforce", "state_value_baseline", "optimal_baseline_exact", "action_factorised_baseline")
#: The coordinates kept in the table (the first of each block; all coordinates of a block have one law).
KEPT = ("mu[0]", "log_sigma[0]")


@dataclasses.dataclass(frozen=True)
class Config:
    """Variance of the score-function gradient against the action dimension D on the one-step target-matching
    task of Wu et al. (2018): no baseline, the value baseline, the optimal constant baseline and the
    action-dependent factorised baseline, with exact variances."""

    dims: tuple[int, ...] = DIMS
    """Action dimensions D (each an integer in [1, 2000]); each compiles its own program."""
    full: bool = False
    """Run every D from 1 to 2000 instead of ``dims`` (2000 programs: hours on a CPU)."""
    target: float = 1.0
    """Target t of every coordinate: r = -|a - t|^2."""
    mu: float = 0.0
    """Initial mean mu_i of every coordinate."""
    sigma: float = 1.0
    """Initial standard deviation sigma_i (> 0) of every coordinate."""
    estimators: tuple[str, ...] = DEFAULT_ESTIMATORS
    """Estimators to compare (reinforce is the reference of the variance ratios): any registered estimator
    whose contract the task meets."""
    n: int = 1
    """Samples per gradient estimate (>= 1), the same at every D."""
    n_seeds: int = 2000
    """Seeds R (>= 2): independent estimates per (D, estimator)."""
    seed: int = 0
    """Base seed of the per-seed keys (the same keys at every D)."""
    chunk_size: int = 1000
    """Seeds per host-side chunk (>= 1); never changes the numbers."""

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if not self.dims:
            raise ConfigError("dims", "needs at least one dimension")
        if any(isinstance(d, bool) or int(d) != d or not 1 <= d <= MAX_DIM for d in self.dims):
            raise ConfigError("dims", f"every dimension must be an integer in [1, {MAX_DIM}] (got {self.dims})")
        if len(set(self.dims)) != len(self.dims):
            raise ConfigError("dims", "lists a dimension twice")
        for field, value in (("target", self.target), ("mu", self.mu)):
            if not math.isfinite(value):
                raise ConfigError(field, f"must be finite (got {value})")
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ConfigError("sigma", f"must be > 0 (got {self.sigma})")
        check_estimator_names(self.estimators, registry())
        probe = problem(self, 1)
        for name in self.estimators:
            reason = unavailable(registry()[name], probe)
            if reason is not None:
                raise ConfigError("estimators", reason)
        if isinstance(self.n, bool) or int(self.n) != self.n or self.n < 1:
            raise ConfigError("n", f"must be an integer >= 1 (got {self.n})")
        check_seeds(self.n_seeds, self.chunk_size)

    def dimensions(self) -> tuple[int, ...]:
        """The dimensions run: every D in [1, 2000] with ``full``, else ``dims``, ascending."""
        return tuple(range(1, MAX_DIM + 1)) if self.full else tuple(sorted(int(d) for d in self.dims))


def problem(config: Config, dim: int) -> TargetMatching:
    """The target-matching task of a config at one dimension."""
    return TargetMatching(dim=int(dim), target=float(config.target), mu0=float(config.mu), sigma0=float(config.sigma))


def _kept_columns(dim: int) -> np.ndarray:
    """Columns of mu[0] and log_sigma[0] in the flat (2 D,) gradient (mu first, then log sigma)."""
    return np.array([0, dim])


def _kept_sweep(problem, params, estimators, ns, n_seeds, *, seed, chunk_size, progress, execution):
    """One fused run_sweep of all 2 D coordinates, of which the sweep keeps mu[0] and log_sigma[0]."""
    sweep = default_sweep(
        problem,
        params,
        estimators,
        ns,
        n_seeds,
        seed=seed,
        chunk_size=chunk_size,
        progress=progress,
        execution={**(execution or {}), "fuse": len(estimators) > 1},
    )
    cols = _kept_columns(problem.dim)
    assert [sweep.param_names[c] for c in cols] == list(KEPT), sweep.param_names[: 2 * problem.dim : problem.dim]
    return dataclasses.replace(
        sweep,
        estimates={name: {n: x[:, cols] for n, x in by_n.items()} for name, by_n in sweep.estimates.items()},
        param_names=list(KEPT),
        true_grad=np.asarray(sweep.true_grad)[cols],
    )


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """One fused sweep per dimension (a grid over the ``dim`` axis), keeping mu[0] and log_sigma[0]; nothing
    is written (see :func:`save`)."""
    config.validate()
    dims = config.dimensions()

    def build(setting) -> Setting:
        task = problem(config, setting["dim"])
        params = task.init_params()
        estimators = build_registered(config.estimators, task, EstimatorOptions())
        exact = exact_variances(estimators, task, params)
        cols = _kept_columns(task.dim)
        return Setting(
            problem=task,
            params=params,
            estimators=estimators,
            exact_single_sample_var={name: v[cols] for name, v in exact.items()},
            problem_name=task.describe(),
        )

    grid = run_grid(
        build,
        {"dim": dims},
        (config.n,),
        config.n_seeds,
        seed=config.seed,
        chunk_size=config.chunk_size,
        progress=progress,
        execution=execution,
        sweep=_kept_sweep,
    )
    reference = "reinforce" if "reinforce" in config.estimators else None
    table = _summarise_grid(grid, experiment=NAME, reference=reference)
    problem_name = (
        f"a ~ N(mu, diag(sigma^2)) in R^D, D = {dims[0]}-{dims[-1]}, mu = {config.mu:g}, sigma = {config.sigma:g}, "
        f"r = -|a - t|^2, t = {config.target:g}"
    )
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=problem_name,
        table=table,
        sweep=grid,
        info={
            "kept_coordinates": list(KEPT),
            "exact_variance_method": "closed form, one-dimensional Gauss-Hermite moments (pgjax.problems.target_matching)",
        },
    )


def draw(folder: str | Path) -> list[Path]:
    """Redraws the figure from the saved table (``pgjax plot`` calls this): variance against D, exact lines
    and Monte Carlo points with their intervals (:func:`pgjax.plotting.settings.draw_dimension`)."""
    from pgjax.plotting import settings as plot_settings

    return plot_settings.draw_dimension(folder)


def save(result: ExperimentResult, out_dir, *, argv=None):
    """Writes the results folder with this experiment's figures (``pgjax run`` calls this)."""
    return save_with(draw, result, out_dir, argv=argv)


def total_work(config: Config) -> int:
    """Progress units: seeds x dimensions (one fused program each)."""
    return config.n_seeds * len(config.dimensions())


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw)

"""Variance of trajectory gradient estimators against the horizon H, at a fixed number of trajectories n.

The same policy on the same system for H in a grid (default: the scalar system x' = x + u, u = -0.5 x +
0.5 eps, fixed x_0 = 1, H = 1 ... 50). REINFORCE multiplies the sum of H scores by the sum of H rewards, so
its variance grows about like H^2; reward-to-go drops the rewards that precede each score, and baselines
(the exact optimal per-coordinate and time-dependent ones, the exact value function, GAE) remove most of
what is left. Every point is measured on R seeds with a 95% CI and compared with the EXACT variance
(Gaussian-polynomial moments, :mod:`pgjax.problems.lqr`).

The horizon is a named axis of a grid sweep (:func:`pgjax.engine.grid.run_grid`): one fused sweep per horizon, each
with its own exact gradient. The table has one row per (horizon, estimator, coordinate) with a ``horizon``
column; raw.npz holds the per-seed estimates with the horizon of each as data
(:func:`pgjax.io.read_raw_grid`). Figures (:func:`pgjax.plotting.settings.draw_horizon`): variance and the
paired variance ratio against REINFORCE, against H.
"""

from __future__ import annotations

import dataclasses

from pgjax.engine.grid import Setting, run_grid
from pgjax.errors import ConfigError
from pgjax.estimators.trajectory import TRAJECTORY_ESTIMATORS, has_exact_moments
from pgjax.experiment import (
    ExperimentResult,
    Hooks,
    check_estimator_names,
    check_seeds,
    exact_variances,
    save_with,
    summarise_grid,
)
from pgjax.experiments.variance_vs_n import lqr_estimators
from pgjax.plotting import settings as plot_settings
from pgjax.problems.lqr import SYSTEMS, make_system

NAME = "lqr-horizon"

DEFAULT_ESTIMATORS = (
    "reinforce",
    "optimal_baseline_exact",
    "reward_to_go",
    "reward_to_go_optimal",
    "value_baseline",
    "gae",
    "pathwise",
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Variance of trajectory gradient estimators against the horizon H at a fixed number of trajectories
    n on LQR: how REINFORCE's variance grows with H and how much reward-to-go and baselines take back."""

    system: str = "scalar"
    """System: scalar (x' = x + u + w) or double_integrator (2 states, 1 action)."""
    horizons: tuple[int, ...] = (1, 2, 5, 10, 20, 50)
    """Horizons H (each >= 1); each compiles its own program, so keep the grid short."""
    gain: tuple[float, ...] = (-0.5,)
    """Feedback gain K of the policy u = K x + sigma eps (length m)."""
    sigma: float = 0.5
    """Action-noise standard deviation sigma (> 0)."""
    x0: tuple[float, ...] = (1.0,)
    """Mean of the initial state (length m)."""
    x0_std: float = 0.0
    """Std of each initial-state coordinate (>= 0; 0 = fixed initial state)."""
    process_std: float = 0.0
    """Std of the process noise per coordinate (>= 0)."""
    discount: float = 1.0
    """Discount gamma in (0, 1]."""
    estimators: tuple[str, ...] = DEFAULT_ESTIMATORS
    """Estimators to compare (reinforce is the reference of the variance ratios)."""
    baseline: float | None = None
    """The constant b of constant_baseline; None = the exact J at each horizon."""
    gae_lambda: float = 0.95
    """lambda of the gae estimator (exact critic), in [0, 1]."""
    n: int = 16
    """Trajectories per gradient estimate (>= 1), the same at every horizon."""
    n_seeds: int = 2000
    """Seeds R (>= 2): independent estimates per (horizon, estimator)."""
    seed: int = 0
    """Base seed of the per-seed keys (the same keys at every horizon)."""
    chunk_size: int = 1000
    """Seeds per host-side chunk (>= 1); never changes the numbers."""
    exact: bool = True
    """Compute exact variances (O(P H^2 D^3) each; D = number of normals per trajectory)."""
    fuse: bool = True
    """Compile all estimators of a horizon as one program (same numbers, less compilation)."""

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if self.system not in SYSTEMS:
            raise ConfigError("system", f"unknown system {self.system!r}; choose from {', '.join(SYSTEMS)}")
        if not self.horizons:
            raise ConfigError("horizons", "needs at least one horizon")
        if any(isinstance(h, bool) or int(h) != h or h < 1 for h in self.horizons):
            raise ConfigError("horizons", f"every horizon must be an integer >= 1 (got {self.horizons})")
        if len(set(self.horizons)) != len(self.horizons):
            raise ConfigError("horizons", "lists a horizon twice")
        check_estimator_names(self.estimators, TRAJECTORY_ESTIMATORS)
        if not (0.0 <= self.gae_lambda <= 1.0):
            raise ConfigError("gae_lambda", f"must be in [0, 1] (got {self.gae_lambda})")
        if self.n < 1:
            raise ConfigError("n", f"must be >= 1 (got {self.n})")
        check_seeds(self.n_seeds, self.chunk_size)
        problem(self, min(self.horizons))


def problem(config, horizon: int):
    """The LQR problem of a config at one horizon."""
    return make_system(
        config.system,
        horizon=horizon,
        gain=config.gain,
        sigma=config.sigma,
        x0=config.x0,
        x0_std=config.x0_std,
        process_std=config.process_std,
        discount=config.discount,
    )


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """Runs one fused sweep per horizon (a grid over the ``horizon`` axis) and returns the result (nothing is
    written; see :func:`save`)."""
    config.validate()
    horizons = tuple(sorted(config.horizons))
    problem_name = problem(config, horizons[0]).describe(horizon=f"{horizons[0]}-{horizons[-1]}")

    def build(setting) -> Setting:
        lqr = problem(config, setting["horizon"])
        params = lqr.init_params()
        estimators = lqr_estimators(
            config.estimators, lqr, params, baseline=config.baseline, gae_lambda=config.gae_lambda
        )
        exact = {}
        if config.exact:
            exact = exact_variances({k: v for k, v in estimators.items() if has_exact_moments(v)}, lqr, params)
        return Setting(
            problem=lqr,
            params=params,
            estimators=estimators,
            exact_single_sample_var=exact,
            problem_name=problem_name,
            info={"objective_J": float(_objective(lqr, params))},
        )

    grid = run_grid(
        build,
        {"horizon": horizons},
        (config.n,),
        config.n_seeds,
        seed=config.seed,
        chunk_size=config.chunk_size,
        progress=progress,
        execution=execution,
        fuse=config.fuse and len(set(config.estimators)) > 1,
    )
    reference = "reinforce" if "reinforce" in config.estimators else None
    table = summarise_grid(grid, experiment=NAME, reference=reference)
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=problem_name,
        table=table,
        sweep=grid,
        info={"exact_variance_method": "Gaussian-polynomial moments (pgjax.problems.lqr), float64"},
    )


def draw(folder):
    """Redraws the figures from the saved table (``pgjax plot`` calls this): :func:`pgjax.plotting.settings.draw_horizon`."""
    return plot_settings.draw_horizon(folder)


def save(result: ExperimentResult, out_dir, *, argv=None):
    """Writes the results folder with this experiment's figures (``pgjax run`` calls this)."""
    return save_with(draw, result, out_dir, argv=argv)


def _objective(lqr, params):
    import jax

    with jax.enable_x64(True):
        return lqr.objective(jax.tree.map(lambda x: jax.numpy.asarray(x, jax.numpy.float64), params))


def total_work(config: Config) -> int:
    """Progress units: seeds x compiled programs."""
    per_horizon = 1 if config.fuse else len(config.estimators)
    return config.n_seeds * per_horizon * len(config.horizons)


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw)

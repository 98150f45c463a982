"""Variance of trajectory gradient estimators against the number of trajectories n, on finite-horizon LQR.

A fixed Gaussian policy u = K x + sigma eps on a linear-quadratic control problem (default: a double
integrator, two states and one action, H = 20, random initial state, process noise). For every estimator
(REINFORCE with the total return, its constant and per-coordinate optimal baselines, reward-to-go, its
time-dependent optimal baseline, the exact and a learned state-value baseline, GAE, pathwise) and every n,
R seeds give R independent n-trajectory estimates, compared with the exact gradient jax.grad(J), J computed
by exact moment propagation. The table has bias, variance with a 95% CI (tail-extrapolated kurtosis), the
EXACT variance (from Gaussian-polynomial moments) and the paired variance ratio against REINFORCE.

All estimators are compiled as one program (:class:`pgjax.estimators.trajectory.Fused`); each sees the same
keys as in a separate run, so the numbers are those of separate runs.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import jax

from pgjax.engine import MICRO_BATCH_ELEMENTS, run_sweep
from pgjax.errors import ConfigError
from pgjax.estimators.base import EstimatorOptions, Fused, make, registry, unavailable
from pgjax.estimators.trajectory import VALUES, split_fused
from pgjax.experiment import (
    ExperimentResult,
    Hooks,
    check_estimator_names,
    check_sample_sizes,
    check_seeds,
    exact_variances,
    save_with,
    summarise_sweep,
)
from pgjax.plotting import settings as plot_settings
from pgjax.problems.lqr import SYSTEMS, make_system

NAME = "lqr-variance"

DEFAULT_ESTIMATORS = (
    "reinforce",
    "constant_baseline",
    "optimal_baseline_exact",
    "reward_to_go",
    "reward_to_go_optimal",
    "value_baseline",
    "learned_value_baseline",
    "gae",
    "pathwise",
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Variance of trajectory gradient estimators (REINFORCE, reward-to-go, optimal and value baselines,
    GAE, pathwise) against the number of trajectories n on finite-horizon LQR, against exact gradients."""

    system: str = "double_integrator"
    """System: double_integrator (2 states, 1 action, dt = 0.2) or scalar (x' = x + u + w)."""
    horizon: int = 20
    """Horizon H (>= 1): steps per trajectory."""
    gain: tuple[float, ...] = (-0.6, -1.2)
    """Feedback gain K of the policy u = K x + sigma eps (length m: 2 for double_integrator, 1 for scalar)."""
    sigma: float = 0.5
    """Action-noise standard deviation sigma (> 0); the learned parameter is log sigma."""
    x0: tuple[float, ...] = (1.0, 0.0)
    """Mean of the initial state (length m)."""
    x0_std: float = 0.2
    """Std of each initial-state coordinate (>= 0; 0 = fixed initial state)."""
    process_std: float = 0.05
    """Std of the process noise w_t per coordinate (>= 0; 0 = deterministic dynamics)."""
    discount: float = 1.0
    """Discount gamma in (0, 1]."""
    estimators: tuple[str, ...] = DEFAULT_ESTIMATORS
    """Estimators to compare (reinforce is the reference of the variance ratios): any registered estimator
    whose contract LQR meets."""
    baseline: float | None = None
    """The constant b of constant_baseline; None = the exact expected return J(K, sigma)."""
    gae_lambda: float = 0.95
    """lambda of the gae estimator, in [0, 1]."""
    gae_value: str = "exact"
    """Critic of the gae estimator: exact, stationary (V_0 at every t) or learned."""
    n_pilot: int = 64
    """Pilot trajectories (>= 2) of the learned critics, drawn independently of the estimate's."""
    ns: tuple[int, ...] = (1, 4, 16, 64, 256)
    """Numbers of trajectories n (each >= 1) per gradient estimate."""
    n_seeds: int = 2000
    """Seeds R (>= 2): independent estimates per (estimator, n)."""
    seed: int = 0
    """Base seed of the per-seed keys."""
    chunk_size: int = 1000
    """Seeds per host-side chunk (>= 1); bounds memory, never changes the numbers."""
    fuse: bool = True
    """Compile all estimators as one program (same numbers, much less compilation on a CPU)."""

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if self.system not in SYSTEMS:
            raise ConfigError("system", f"unknown system {self.system!r}; choose from {', '.join(SYSTEMS)}")
        check_estimator_names(self.estimators, registry())
        if self.baseline is not None and not math.isfinite(self.baseline):
            raise ConfigError("baseline", f"must be finite (got {self.baseline})")
        if not (0.0 <= self.gae_lambda <= 1.0):
            raise ConfigError("gae_lambda", f"must be in [0, 1] (got {self.gae_lambda})")
        if self.gae_value not in VALUES:
            raise ConfigError("gae_value", f"must be one of {', '.join(VALUES)} (got {self.gae_value!r})")
        if self.n_pilot < 2:
            raise ConfigError("n_pilot", f"must be >= 2 (got {self.n_pilot})")
        check_sample_sizes(self.ns)
        check_seeds(self.n_seeds, self.chunk_size)
        lqr = problem(self)
        for name in self.estimators:
            reason = unavailable(registry()[name], lqr)
            if reason is not None:
                raise ConfigError("estimators", reason)


def problem(config: Config):
    """The LQR problem of a config (validating the system fields)."""
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


def build_estimators(names, lqr, params, *, baseline=None, gae_lambda=0.95, gae_value="exact", n_pilot=64):
    """name -> estimator; exact optimal baselines are pinned (computed once at ``params``, see
    :meth:`RewardToGoOptimalBaseline.pinned`), the constant baseline defaults to the exact J."""
    if baseline is None:
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda x: jax.numpy.asarray(x, jax.numpy.float64), params)
            baseline = float(lqr.objective(p64))
    options = EstimatorOptions(baseline=float(baseline), lam=float(gae_lambda), value=gae_value, n_pilot=int(n_pilot))
    return {name: make(name, options, lqr).pinned(lqr, params) for name in names}


def sweep_estimators(lqr, params, estimators, ns, n_seeds, *, seed, chunk_size, fuse, progress=None, execution=None):
    """run_sweep over the estimators, fused into one compiled program when ``fuse``; returns the sweep with
    one entry per estimator either way. ``execution``: further run_sweep keywords (devices, memory bound,
    cell store), as the CLI passes them."""
    micro = max(1, MICRO_BATCH_ELEMENTS // lqr.horizon)
    common = dict(seed=seed, chunk_size=chunk_size, micro_batch_elements=micro, progress=progress, **(execution or {}))
    if fuse and len(estimators) > 1:
        sweep = run_sweep(lqr, params, {"fused": Fused(tuple(estimators.values()))}, ns, n_seeds, **common)
        return split_fused(sweep, "fused", list(estimators))
    return run_sweep(lqr, params, estimators, ns, n_seeds, **common)


def draw(folder) -> list[Path]:
    """Redraws the figures of a results folder from its saved table (``pgjax plot`` calls this)."""
    return plot_settings.draw_variance(folder)


def save(result: ExperimentResult, out_dir, *, argv=None) -> Path:
    """Writes the results folder (``pgjax run`` calls this): see :func:`save_with`."""
    return save_with(draw, result, out_dir, argv=argv)


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """Runs the sweep and returns the result (nothing is written; see :func:`save`). ``execution``: run_sweep
    keywords saying how to run (devices, max_memory_bytes, store), as ``pgjax run`` passes them."""
    config.validate()
    lqr = problem(config)
    params = lqr.init_params()
    estimators = build_estimators(
        config.estimators,
        lqr,
        params,
        baseline=config.baseline,
        gae_lambda=config.gae_lambda,
        gae_value=config.gae_value,
        n_pilot=config.n_pilot,
    )
    sweep = sweep_estimators(
        lqr,
        params,
        estimators,
        sorted(set(config.ns)),
        config.n_seeds,
        seed=config.seed,
        chunk_size=min(config.chunk_size, config.n_seeds),
        fuse=config.fuse,
        progress=progress,
        execution=execution,
    )
    table = summarise_sweep(
        sweep,
        experiment=NAME,
        problem_name=lqr.describe(),
        exact_single_sample_var=exact_variances(estimators, lqr, params),
        reference="reinforce" if "reinforce" in estimators else None,
    )
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: jax.numpy.asarray(x, jax.numpy.float64), params)
        J = float(lqr.objective(p64))
    biased = [name for name, est in estimators.items() if not est.unbiased]
    shown = [n for n in ("learned_value_baseline", "gae", "reward_to_go") if n in estimators]
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=lqr.describe(),
        table=table,
        sweep=sweep,
        info={
            "bias_estimators": biased + [n for n in shown if n not in biased],
            "objective_J": J,
            "constant_baseline_b": estimators["constant_baseline"].baseline
            if "constant_baseline" in estimators
            else None,
            "fused_compilation": bool(config.fuse),
            "exact_variance_method": "Gaussian-polynomial moments (pgjax.problems.lqr), float64",
        },
    )


def total_work(config: Config) -> int:
    """Number of progress units (seeds x compiled programs) a run reports."""
    return config.n_seeds * (1 if config.fuse else len(config.estimators))


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw)

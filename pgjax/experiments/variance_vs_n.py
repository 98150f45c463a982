"""Variance of gradient estimates against the sample size n, on any registered problem family.

For every estimator and every n in a grid, R seeds give R independent n-sample gradient estimates, compared
with the exact gradient jax.grad(J). The table reports bias, variance with a 95% CI (a bootstrap-t with
extrapolated tails; pgjax.analysis.stats), n x variance, MSE, the exact variance where the problem gives it,
and each estimator's paired variance ratio against REINFORCE. What changes from one problem to another is only
how the problem and its estimators are built, how they are swept, which columns and manifest facts are added
and which figures are drawn; a *problem family* (:class:`Family`, registered in :data:`FAMILIES`) says exactly
that, and the run (:func:`run_family`) is the same for all.

The family is a subcommand of ``pgjax run variance-vs-n`` and its fields are the flags after it::

    pgjax run variance-vs-n bandit --reward linear --n-seeds 1000
    pgjax run variance-vs-n test-function --function exp --k 2 --ns 1 4 16
    pgjax run variance-vs-n lqr --horizon 10 --estimators reinforce reward_to_go
    pgjax run variance-vs-n contextual --state-cost 0 --n-seeds 1000

Each family's config class holds its problem fields and its sweep fields (estimators, ns, n_seeds, seed,
chunk_size) with the defaults of the experiment that preset it: ``bandit-variance``, ``test-function-variance``,
``lqr-variance`` and ``contextual-bandit-variance`` are this experiment with the family fixed (their modules declare the name, the config
class and the hooks, nothing else), so ``pgjax run variance-vs-n lqr`` and ``pgjax run lqr-variance`` compute
the same table; only the ``experiment`` column and the figure titles say which was run.

The manifest of a variance-vs-n run records the family as ``problem_family`` and the family's config (its
flat fields, as a preset's manifest has them) as ``config``, so the figures name the same problem parameters.

To add a problem family: write its frozen config dataclass (problem fields, then ``estimators``, ``ns``,
``n_seeds``, ``seed``, ``chunk_size``, each with a docstring, and ``validate()`` raising one ConfigError that
names the field), a ``build(config) -> pgjax.engine.grid.Setting`` (problem, parameters, estimators, exact variances,
manifest facts), and add a :class:`Family` to :data:`FAMILIES` (see docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Union

import jax
import pandas as pd

from pgjax import io as pio
from pgjax.engine.grid import Setting, SweepFunction, default_sweep
from pgjax.errors import ConfigError
from pgjax.estimators import ALL_ESTIMATORS, ESTIMATORS, check_estimators, make_estimator
from pgjax.estimators.base import Estimator, EstimatorOptions, make, registry, unavailable
from pgjax.estimators.base import build as build_registered
from pgjax.estimators.trajectory import VALUES
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
from pgjax.plotting import variance as plots
from pgjax.problems import REWARDS, Antithetic, ContextualBandit, GaussianTestFunction, LinearGaussianBandit
from pgjax.problems.gaussian_test_functions import FUNCTIONS, SCALES
from pgjax.problems.lqr import SYSTEMS, make_system

NAME = "variance-vs-n"


def _objective64(problem, params) -> float:
    """The exact objective J at ``params``, in float64."""
    with jax.enable_x64(True):
        return float(problem.objective(jax.tree.map(lambda x: jax.numpy.asarray(x, jax.numpy.float64), params)))


def _comparator(estimators: Mapping[str, Any]) -> list[str]:
    """The unbiased comparator of a bias panel: leave_one_out, or else reinforce, when either is run."""
    return [name for name in ("leave_one_out", "reinforce") if name in estimators][:1]


def _biased(estimators: Mapping[str, Any]) -> list[str]:
    """The estimators that are biased by construction (their ``unbiased`` is False)."""
    return [name for name, est in estimators.items() if not est.unbiased]


# ------------------------------------------------------------------------------------------------- bandit
@dataclasses.dataclass(frozen=True)
class BanditConfig:
    """Variance of score-function and pathwise gradient estimates against the sample size n, on the
    one-step bandit a ~ N(theta . s, sigma^2), measured against the exact gradient."""

    state: tuple[float, ...] = (1.0, 0.5)
    """State s (fixed state), or the mean of the Gaussian state distribution; length d."""
    state_std: float = 0.0
    """Std of every state coordinate; 0 keeps the state fixed, > 0 draws s ~ N(state, state_std^2 I)."""
    theta: tuple[float, ...] = (0.2, -0.3)
    """Policy weights theta (length d): the action mean is theta . s."""
    sigma: float = 1.0
    """Policy standard deviation sigma (> 0); the learned parameter is log sigma."""
    reward: str = "quadratic"
    """Reward r(a): quadratic = -(a - reward_target)^2, linear = a, gaussian_bump = exp(-a^2)."""
    reward_target: float = 1.0
    """Target a* of the quadratic reward."""
    estimators: tuple[str, ...] = tuple(ESTIMATORS)
    """Estimators to compare (reinforce is the reference of the variance ratios): any registered estimator
    whose contract the bandit meets; the Gaussian-structure ones (measure_valued, measure_valued_coupled,
    delta_cv_*) work on the bandit's Gaussian action too."""
    baseline: float | None = None
    """The constant b of the constant_baseline estimator; None = the exact expected reward J(theta, sigma)."""
    ns: tuple[int, ...] = tuple(2**k for k in range(13))
    """Sample sizes n (each >= 1): samples per gradient estimate."""
    n_seeds: int = 4000
    """Seeds R (>= 2): independent estimates per (estimator, n)."""
    seed: int = 0
    """Base seed of the per-seed keys."""
    chunk_size: int = 1024
    """Seeds per host-side chunk (>= 1); bounds memory, never changes the numbers."""
    fuse: bool = True
    """Compile all estimators as one program (much less compilation on a CPU; the numbers are the separate
    programs' except the last bits of a few, see the README)."""

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ConfigError("sigma", f"must be > 0 (got {self.sigma})")
        if len(self.state) < 1:
            raise ConfigError("state", "needs at least one coordinate")
        if len(self.theta) != len(self.state):
            raise ConfigError("theta", f"must have the state's length {len(self.state)} (got {len(self.theta)})")
        if not (math.isfinite(self.state_std) and self.state_std >= 0):
            raise ConfigError("state_std", f"must be >= 0 (got {self.state_std})")
        if self.reward not in REWARDS:
            raise ConfigError("reward", f"unknown reward {self.reward!r}; choose one of {', '.join(REWARDS)}")
        check_estimator_names(self.estimators, registry())
        check_sample_sizes(self.ns)
        check_seeds(self.n_seeds, self.chunk_size)
        if self.baseline is not None and not math.isfinite(self.baseline):
            raise ConfigError("baseline", f"must be finite (got {self.baseline})")


def build_bandit(config: BanditConfig, *, exact: bool = True) -> Setting:
    """The bandit, its parameters and estimators; constant_baseline's b is ``config.baseline`` or, when that
    is None, the exact J at the parameters (float64)."""
    problem = LinearGaussianBandit.build(
        state=config.state,
        theta=config.theta,
        sigma=config.sigma,
        state_std=config.state_std,
        reward=config.reward,
        reward_target=config.reward_target,
    )
    params = problem.init_params()
    baseline = float(config.baseline) if config.baseline is not None else _objective64(problem, params)
    estimators = build_registered(config.estimators, problem, EstimatorOptions(baseline=baseline))
    return Setting(
        problem=problem,
        params=params,
        estimators=estimators,
        exact_single_sample_var=exact_variances(estimators, problem, params) if exact else {},
        problem_name=problem.describe(),
        info={
            "bias_estimators": _biased(estimators) + _comparator(estimators),
            "constant_baseline_b": estimators["constant_baseline"].baseline
            if "constant_baseline" in estimators
            else None,
        },
    )


# ------------------------------------------------------------------------------------------ test functions
@dataclasses.dataclass(frozen=True)
class TestFunctionConfig:
    """Variance of every gradient estimator (score function, baselines, pathwise, measure-valued, delta-method
    control variates) against the sample size n on a Gaussian test function of Mohamed et al. (2020), with a
    cost-adjusted view (variance x evaluations of f)."""

    __test__ = False  # not a pytest test class, whatever its name

    function: str = "cos"
    """Test function g: quadratic = (x-k)^2, exp = exp(-k x^2), cos = cos(k x); f(x) = sum_d g(x_d)."""
    k: float = 1.0
    """The test function's parameter k (>= 0 for exp)."""
    mu: tuple[float, ...] = (1.0, 0.5)
    """Mean mu of x ~ N(mu, diag(sigma^2)); its length is the dimension D."""
    sigma: tuple[float, ...] = (1.0, 1.0)
    """Standard deviations sigma (> 0), one per coordinate (or one for all)."""
    scale: str = "sigma"
    """Parameterisation of the scale: sigma or log_sigma."""
    estimators: tuple[str, ...] = tuple(name for name in ALL_ESTIMATORS if name != "constant_baseline")
    """Estimators to compare (reinforce is the reference of the variance ratios)."""
    baseline: float = 0.0
    """The constant b of the constant_baseline estimator, if listed."""
    ns: tuple[int, ...] = (1, 4, 16, 64, 256, 1024)
    """Sample sizes n (each >= 1; even with --antithetic)."""
    n_seeds: int = 2000
    """Seeds R (>= 2): independent estimates per (estimator, n)."""
    seed: int = 0
    """Base seed of the per-seed keys."""
    chunk_size: int = 1024
    """Seeds per host-side chunk (>= 1); bounds memory, never changes the numbers."""
    antithetic: bool = False
    """Draw the samples in antithetic pairs (eps, -eps); every n must be even."""

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if self.function not in FUNCTIONS:
            raise ConfigError(
                "function", f"unknown test function {self.function!r}; choose from {', '.join(FUNCTIONS)}"
            )
        FUNCTIONS[self.function].check_k(float(self.k))
        if len(self.mu) < 1:
            raise ConfigError("mu", "needs at least one coordinate")
        if any(not math.isfinite(m) for m in self.mu):
            raise ConfigError("mu", f"must be finite (got {self.mu})")
        if len(self.sigma) not in (1, len(self.mu)):
            raise ConfigError("sigma", f"must have one value or mu's length {len(self.mu)} (got {len(self.sigma)})")
        if any(not (math.isfinite(s) and s > 0) for s in self.sigma):
            raise ConfigError("sigma", f"must be > 0 (got {self.sigma})")
        if self.scale not in SCALES:
            raise ConfigError("scale", f"must be one of {', '.join(SCALES)} (got {self.scale!r})")
        check_estimator_names(self.estimators, registry())
        if not math.isfinite(self.baseline):
            raise ConfigError("baseline", f"must be finite (got {self.baseline})")
        check_sample_sizes(self.ns)
        if self.antithetic and any(n % 2 for n in self.ns):
            raise ConfigError(
                "ns", f"antithetic sampling needs even sample sizes (got {sorted(n for n in self.ns if n % 2)})"
            )
        check_seeds(self.n_seeds, self.chunk_size)


#: How test-function-variance counts evaluations of f (recorded in its manifest).
EVALUATIONS_ACCOUNTING = (
    "evals_per_sample: 1 score function / pathwise; 4 D measure_valued_coupled, 3 D + 1 "
    "measure_valued; 1 + (2 + D) / n delta-method control variates; work_var = var * n * evals_per_sample"
)


def build_test_function(config: TestFunctionConfig, *, exact: bool = True) -> Setting:
    """The test function (in antithetic pairs with ``--antithetic``: no exact variances then, the pairs are
    not independent), its parameters and estimators; ConfigError for estimators it cannot run."""
    problem = GaussianTestFunction.build(
        config.function, config.k, mu=config.mu, sigma=config.sigma, scale=config.scale
    )
    params = problem.init_params()
    if config.antithetic:
        problem = Antithetic(problem)
    estimators = {name: make_estimator(name, baseline=config.baseline) for name in config.estimators}
    check_estimators(estimators, problem)
    return Setting(
        problem=problem,
        params=params,
        estimators=estimators,
        exact_single_sample_var=exact_variances(estimators, problem, params) if exact and not config.antithetic else {},
        problem_name=problem.describe(),
        info={
            "bias_estimators": _biased(estimators) + _comparator(estimators),
            "evaluations_accounting": EVALUATIONS_ACCOUNTING,
        },
    )


def evaluations_per_sample(estimator, dim: int, n: int) -> float:
    """Evaluations of f per sample (:data:`EVALUATIONS_ACCOUNTING`); 1 for estimators that do not say
    otherwise."""
    count = estimator.function_evaluations(dim, n) if isinstance(estimator, Estimator) else None
    return float(count) if count is not None else 1.0


def work_columns(config: TestFunctionConfig, setting: Setting, table: pd.DataFrame) -> pd.DataFrame:
    """Adds ``evals_per_sample`` and ``work_var = var x n x evals_per_sample`` (the variance of an estimate
    times the evaluations of f it cost; flat in n for an i.i.d. estimator)."""
    dim = len(config.mu)
    table["evals_per_sample"] = [
        evaluations_per_sample(setting.estimators[name], dim, int(n)) for name, n in zip(table["estimator"], table["n"])
    ]
    table["work_var"] = table["var"] * table["n"] * table["evals_per_sample"]
    return table


def draw_with_cost(folder: str | Path) -> list[Path]:
    """The standard figures (``figure``, ``bias``, ``ratio``) and the cost-adjusted one (``cost``), from the
    saved table; every title names the problem's parameters (from the manifest)."""
    from pgjax.plotting import functions as plot_functions

    folder = Path(folder)
    paths = plots.draw_all(folder)
    table = pio.read_table(folder)
    title = plots.figure_title(plots.folder_manifest(folder), table)
    paths += plot_functions.plot_work_variance(table, folder / "cost", title=title)
    return paths


# ---------------------------------------------------------------------------------------------------- LQR
LQR_ESTIMATORS = (
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
class LQRConfig:
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
    estimators: tuple[str, ...] = LQR_ESTIMATORS
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
        lqr = lqr_problem(self)
        for name in self.estimators:
            reason = unavailable(registry()[name], lqr)
            if reason is not None:
                raise ConfigError("estimators", reason)


def lqr_problem(config: LQRConfig):
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


def lqr_estimators(names, lqr, params, *, baseline=None, gae_lambda=0.95, gae_value="exact", n_pilot=64):
    """name -> estimator; exact optimal baselines are pinned (computed once at ``params``, see
    :meth:`RewardToGoOptimalBaseline.pinned`), the constant baseline defaults to the exact J."""
    if baseline is None:
        baseline = _objective64(lqr, params)
    options = EstimatorOptions(baseline=float(baseline), lam=float(gae_lambda), value=gae_value, n_pilot=int(n_pilot))
    return {name: make(name, options, lqr).pinned(lqr, params) for name in names}


def build_lqr(config: LQRConfig, *, exact: bool = True) -> Setting:
    """The LQR problem, its parameters and pinned estimators, with exact (Gaussian-polynomial) variances."""
    lqr = lqr_problem(config)
    params = lqr.init_params()
    estimators = lqr_estimators(
        config.estimators,
        lqr,
        params,
        baseline=config.baseline,
        gae_lambda=config.gae_lambda,
        gae_value=config.gae_value,
        n_pilot=config.n_pilot,
    )
    biased = _biased(estimators)
    shown = [name for name in ("learned_value_baseline", "gae", "reward_to_go") if name in estimators]
    return Setting(
        problem=lqr,
        params=params,
        estimators=estimators,
        exact_single_sample_var=exact_variances(estimators, lqr, params) if exact else {},
        problem_name=lqr.describe(),
        info={
            "bias_estimators": biased + [name for name in shown if name not in biased],
            "objective_J": _objective64(lqr, params),
            "constant_baseline_b": estimators["constant_baseline"].baseline
            if "constant_baseline" in estimators
            else None,
            "fused_compilation": bool(config.fuse),
            "exact_variance_method": "Gaussian-polynomial moments (pgjax.problems.lqr), float64",
        },
    )


def _fusing_sweep(config: BanditConfig | LQRConfig | ContextualConfig) -> SweepFunction:
    """The SweepFunction of the bandit, LQR and contextual families: one run_sweep, its estimators compiled as
    one program when ``config.fuse`` (and there are several); on LQR the engine sizes the micro-batch by the
    horizon."""

    def sweep(problem, params, estimators, ns, n_seeds, *, execution, **keywords):
        fuse = {"fuse": config.fuse and len(estimators) > 1}
        return default_sweep(
            problem, params, estimators, ns, n_seeds, execution={**(execution or {}), **fuse}, **keywords
        )

    return sweep


# --------------------------------------------------------------------------------------------- contextual
#: The contextual family's default estimators: every score-function estimator of the bandits, the pathwise
#: one, and the two exact state-dependent baselines.
CONTEXTUAL_ESTIMATORS = (*ESTIMATORS, "state_value_baseline", "optimal_state_baseline")


@dataclasses.dataclass(frozen=True)
class ContextualConfig:
    """Variance of gradient estimates against the sample size n on the contextual bandit s ~ N(m, Sigma),
    a | s ~ N(theta . s, sigma^2), r = -(a - w . s - c)^2 - kappa |s|^2, whose reward depends on the state:
    constant baselines against the exact state-dependent ones, V(s) = E[r | s] and the variance-minimising
    b*_c(s) = E[r psi_c^2 | s] / E[psi_c^2 | s], all against exact variances."""

    state: tuple[float, ...] = (1.0, 0.5)
    """Mean m of the state distribution; length d."""
    state_std: float = 0.5
    """Std of every state coordinate (>= 0)."""
    state_corr: float = 0.3
    """Correlation rho between any two state coordinates, in (-1 / (d - 1), 1): Sigma = std^2 ((1 - rho) I + rho 11')."""
    theta: tuple[float, ...] = (0.2, -0.3)
    """Policy weights theta (length d): the action mean is theta . s."""
    sigma: float = 1.0
    """Policy standard deviation sigma (> 0); the learned parameter is log sigma."""
    reward_weights: tuple[float, ...] = (1.0, -0.5)
    """w (length d): the reward's state-dependent target is w . s + c."""
    reward_offset: float = 0.0
    """c: the target's constant part."""
    state_cost: float = 0.5
    """kappa (>= 0): a reward term -kappa |s|^2 that depends on the state only."""
    estimators: tuple[str, ...] = CONTEXTUAL_ESTIMATORS
    """Estimators to compare (reinforce is the reference of the variance ratios): any registered estimator
    whose contract the contextual bandit meets."""
    baseline: float | None = None
    """The constant b of the constant_baseline estimator; None = the exact expected reward J(theta, sigma)."""
    ns: tuple[int, ...] = (1, 4, 16, 64, 256)
    """Sample sizes n (each >= 1): samples per gradient estimate."""
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
        check_estimator_names(self.estimators, registry())
        if self.baseline is not None and not math.isfinite(self.baseline):
            raise ConfigError("baseline", f"must be finite (got {self.baseline})")
        check_sample_sizes(self.ns)
        check_seeds(self.n_seeds, self.chunk_size)
        problem = contextual_problem(self)
        for name in self.estimators:
            reason = unavailable(registry()[name], problem)
            if reason is not None:
                raise ConfigError("estimators", reason)


def contextual_problem(config: ContextualConfig) -> ContextualBandit:
    """The contextual bandit of a config (validating its problem fields)."""
    return ContextualBandit.build(
        state=config.state,
        theta=config.theta,
        sigma=config.sigma,
        state_std=config.state_std,
        state_corr=config.state_corr,
        reward_weights=config.reward_weights,
        reward_offset=config.reward_offset,
        state_cost=config.state_cost,
    )


def build_contextual(config: ContextualConfig, *, exact: bool = True) -> Setting:
    """The contextual bandit, its parameters and estimators (constant_baseline's b: ``config.baseline`` or the
    exact J), with exact variances from the moments of quadratics of a standard normal."""
    problem = contextual_problem(config)
    params = problem.init_params()
    baseline = float(config.baseline) if config.baseline is not None else _objective64(problem, params)
    estimators = build_registered(config.estimators, problem, EstimatorOptions(baseline=baseline))
    return Setting(
        problem=problem,
        params=params,
        estimators=estimators,
        exact_single_sample_var=exact_variances(estimators, problem, params) if exact else {},
        problem_name=problem.describe(),
        info={
            "bias_estimators": _biased(estimators) + _comparator(estimators),
            "objective_J": _objective64(problem, params),
            "constant_baseline_b": estimators["constant_baseline"].baseline
            if "constant_baseline" in estimators
            else None,
            "fused_compilation": bool(config.fuse),
            "exact_variance_method": "moments of quadratics of a standard normal (pgjax.problems.lqr.moments), float64",
        },
    )


# ----------------------------------------------------------------------------------------------- registry
@dataclasses.dataclass(frozen=True)
class Family:
    """A problem family of variance-vs-n: how a config of it becomes a measured table.

    Attributes:
      name: the subcommand that chooses it (``pgjax run variance-vs-n NAME ...``).
      config: its frozen config dataclass: problem fields and sweep fields (``estimators``, ``ns``,
        ``n_seeds``, ``seed``, ``chunk_size``), with ``validate()``; the fields are the subcommand's flags.
      build: ``build(config, *, exact=True) -> pgjax.engine.grid.Setting``: the problem, parameters,
        estimators, exact single-sample variances (none with ``exact=False``, for callers that need only
        the problem), problem name and the facts for the manifest (``bias_estimators`` among them).
      sweep: ``sweep(config) -> SweepFunction``: how the estimators are swept (default: one
        :func:`pgjax.engine.run_sweep`; the bandit, LQR and contextual families fuse them into one
        program, LQR with micro-batches per trajectory).
      columns: ``columns(config, setting, table) -> table``: the family's own columns, if it adds any.
      draw: draws the figures of a results folder from its saved table (``pgjax plot`` uses it too).
      programs: ``programs(config) -> int``: compiled programs per seed, the progress units of one seed.
    """

    name: str
    config: type
    build: Callable[[Any], Setting]
    sweep: Callable[[Any], SweepFunction] = lambda config: default_sweep
    columns: Callable[[Any, Setting, pd.DataFrame], pd.DataFrame] | None = None
    draw: Callable[[str | Path], list[Path]] = plots.draw_all
    programs: Callable[[Any], int] = lambda config: len(config.estimators)


def _fusing_programs(config: BanditConfig | LQRConfig | ContextualConfig) -> int:
    """Compiled programs per seed of a family swept by :func:`_fusing_sweep`: one when fused."""
    return 1 if config.fuse else len(config.estimators)


#: The registered problem families, by subcommand name.
FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "bandit",
            BanditConfig,
            build_bandit,
            sweep=_fusing_sweep,
            programs=_fusing_programs,
        ),
        Family("test-function", TestFunctionConfig, build_test_function, columns=work_columns, draw=draw_with_cost),
        Family(
            "lqr",
            LQRConfig,
            build_lqr,
            sweep=_fusing_sweep,
            draw=plot_settings.draw_variance,
            programs=_fusing_programs,
        ),
        Family(
            "contextual",
            ContextualConfig,
            build_contextual,
            sweep=_fusing_sweep,
            programs=_fusing_programs,
        ),
    )
}


def family_of(config) -> Family:
    """The registered family whose config class ``config`` is an instance of (TypeError for any other)."""
    for family in FAMILIES.values():
        if isinstance(config, family.config):
            return family
    raise TypeError(f"{type(config).__name__} is the config of no registered problem family")


def setup(config, *, exact: bool = True) -> Setting:
    """Validates a family's config and builds its problem, parameters, estimators and (unless ``exact`` is
    False) exact variances."""
    config.validate()
    return family_of(config).build(config, exact=exact)


def build(config):
    """(problem, params, estimators) of a family's config, without computing exact variances (which on a
    test function take a quadrature per estimator)."""
    setting = setup(config, exact=False)
    return setting.problem, setting.params, setting.estimators


def run_family(config, *, experiment: str, progress=None, execution: dict | None = None) -> ExperimentResult:
    """The sweep of a family's config and its table, as ``experiment`` (nothing is written; see
    :func:`save`). ``execution`` holds keyword arguments of :func:`pgjax.engine.run_sweep` that say how to
    run (devices, max_memory_bytes, store), never what to compute."""
    family = family_of(config)
    setting = setup(config)
    sweep = family.sweep(config)(
        setting.problem,
        setting.params,
        setting.estimators,
        sorted(set(config.ns)),
        config.n_seeds,
        seed=config.seed,
        chunk_size=config.chunk_size,
        progress=progress,
        execution=execution,
    )
    table = summarise_sweep(
        sweep,
        experiment=experiment,
        problem_name=setting.problem_name,
        exact_single_sample_var=setting.exact_single_sample_var,
        reference="reinforce" if "reinforce" in setting.estimators else None,
    )
    if family.columns is not None:
        table = family.columns(config, setting, table)
    return ExperimentResult(
        experiment=experiment,
        config=config,
        problem=setting.problem_name,
        table=table,
        sweep=sweep,
        info=dict(setting.info),
    )


def total_work(config) -> int:
    """Progress units a run reports: seeds x compiled programs (of a family's config, or of a
    variance-vs-n config)."""
    config = config.problem if isinstance(config, Config) else config
    return config.n_seeds * family_of(config).programs(config)


def family_hooks(name: str) -> Hooks:
    """The hooks of the experiment that presets the family ``name``: its progress total and its figures."""
    family = FAMILIES[name]
    if family.draw is plots.draw_all:  # pgjax's default figures: nothing to replace
        return Hooks(total_work=total_work)

    def save(result: ExperimentResult, out_dir, *, argv=None) -> Path:
        return save_with(family.draw, result, out_dir, argv=argv)

    save.__doc__ = f"The standard outputs with the {name} family's figures (:func:`save_with`), atomically."
    return Hooks(total_work=total_work, save=save, draw=family.draw)


# -------------------------------------------------------------------------------------------- experiment
def _problem_type():
    """``Annotated[Union[...], ...]`` of the families' config classes, each a subcommand named after its
    family (``bandit``, ``lqr``, ...) whose flags carry no ``--problem.`` prefix."""
    import tyro

    members = tuple(Annotated[f.config, tyro.conf.subcommand(f.name, prefix_name=False)] for f in FAMILIES.values())
    return Annotated[Union[members], tyro.conf.OmitSubcommandPrefixes]  # noqa: UP007 (a Union of a tuple)


#: The type of :attr:`Config.problem`: one subcommand per registered family, its fields as flags.
Problem = _problem_type()


@dataclasses.dataclass(frozen=True)
class Config:
    """Variance of gradient estimates against the sample size n on any registered problem family (bandit,
    test-function, lqr, contextual: a subcommand, its parameters as flags), measured against the exact gradient."""

    problem: Problem = BanditConfig()
    """The problem family and its parameters: `bandit`, `test-function`, `lqr` or `contextual`, followed by its
    flags (defaults: those of bandit-variance, test-function-variance, lqr-variance, contextual-bandit-variance)."""

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field of the family's config."""
        family_of(self.problem)
        self.problem.validate()


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """Runs the family's sweep (:func:`run_family`); the result's ``config`` is the family's config, and its
    manifest names the family as ``problem_family``. Nothing is written; see :func:`save`."""
    config.validate()
    result = run_family(config.problem, experiment=NAME, progress=progress, execution=execution)
    result.info = {"problem_family": family_of(config.problem).name, **result.info}
    return result


def draw(folder: str | Path) -> list[Path]:
    """The figures of the family named by the folder's manifest (``problem_family``)."""
    manifest = plots.folder_manifest(Path(folder))
    name = manifest.get("problem_family")
    if name not in FAMILIES:
        raise pio.ResultsError(f"{folder}: its manifest names no registered problem family (got {name!r})")
    return FAMILIES[name].draw(folder)


def save(result: ExperimentResult, out_dir: str | Path, *, argv: list[str] | None = None) -> Path:
    """The standard outputs with the family's figures (:func:`pgjax.experiment.save_with`), atomically."""
    return save_with(family_of(result.config).draw, result, out_dir, argv=argv)


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw)

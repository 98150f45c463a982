"""Variance of gradient estimates against sample size on the linear-Gaussian bandit.

The foundation experiment: a ~ N(theta . s, sigma^2) with a fixed (or Gaussian) state s and a reward r(a);
for every estimator and every n in a grid, R seeds give R independent n-sample gradient estimates, compared
with the exact gradient jax.grad(J). The table reports bias, variance with a 95% CI (tail-extrapolated
kurtosis), n x variance, MSE, the exact variance where it is known, and each estimator's paired variance ratio
against plain REINFORCE.
"""

from __future__ import annotations

import dataclasses
import math

import jax

from pgjax.errors import ConfigError
from pgjax.estimators import ESTIMATORS
from pgjax.estimators.base import EstimatorOptions, registry
from pgjax.estimators.base import build as build_estimators
from pgjax.experiment import (
    ExperimentResult,
    Hooks,
    check_estimator_names,
    check_sample_sizes,
    check_seeds,
    exact_variances,
    summarise_sweep,
    sweep_from_config,
)
from pgjax.problems import REWARDS, LinearGaussianBandit

NAME = "bandit-variance"


@dataclasses.dataclass(frozen=True)
class Config:
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


def build(config: Config):
    """(problem, params, estimators) for a config."""
    config.validate()
    problem = LinearGaussianBandit.build(
        state=config.state,
        theta=config.theta,
        sigma=config.sigma,
        state_std=config.state_std,
        reward=config.reward,
        reward_target=config.reward_target,
    )
    params = problem.init_params()
    baseline = constant_baseline(config, problem, params)
    estimators = build_estimators(config.estimators, problem, EstimatorOptions(baseline=baseline))
    return problem, params, estimators


def constant_baseline(config: Config, problem, params) -> float:
    """The b of constant_baseline: ``config.baseline``, or the exact J at params (float64) when it is None."""
    if config.baseline is not None:
        return float(config.baseline)
    with jax.enable_x64(True):
        return float(problem.objective(jax.tree.map(lambda x: jax.numpy.asarray(x, jax.numpy.float64), params)))


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """Runs the sweep and returns the result (nothing is written; see :func:`pgjax.experiment.save`).

    ``execution`` holds keyword arguments of :func:`pgjax.engine.run_sweep` that say how to run (devices,
    max_memory_bytes, store), never what to compute."""
    problem, params, estimators = build(config)
    sweep = sweep_from_config(config, problem, params, estimators, progress=progress, execution=execution)
    reference = "reinforce" if "reinforce" in estimators else None
    table = summarise_sweep(
        sweep,
        experiment=NAME,
        problem_name=problem.describe(),
        exact_single_sample_var=exact_variances(estimators, problem, params),
        reference=reference,
    )
    biased = [name for name, est in estimators.items() if not est.unbiased]
    comparators = [name for name in ("leave_one_out", "reinforce") if name in estimators][:1]
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=problem.describe(),
        table=table,
        sweep=sweep,
        info={
            "bias_estimators": biased + comparators,
            "constant_baseline_b": estimators["constant_baseline"].baseline
            if "constant_baseline" in estimators
            else None,
        },
    )


def total_work(config: Config) -> int:
    """Number of progress units (seeds x estimators) a run reports."""
    return config.n_seeds * len(config.estimators)


def readme_excerpt(table) -> str:
    """The README's summary table: at the largest n, n x variance (95% CI) against its exact value, and
    the variance ratio against REINFORCE on the same seeds."""
    import pandas as pd

    n_max = int(table["n"].max())
    rows = table[table["n"] == n_max]
    fmt = lambda x: "–" if pd.isna(x) else f"{x:.3g}"
    lines = [
        "| estimator | param | n x var (95% CI) | n x exact var | var / var(reinforce) (95% CI) |",
        "|---|---|---|---|---|",
    ]
    for row in rows.itertuples():
        lines.append(
            f"| {row.estimator} | {row.param} | {fmt(n_max * row.var)} ({fmt(n_max * row.var_lo)}, "
            f"{fmt(n_max * row.var_hi)}) | {fmt(n_max * row.var_exact)} | {fmt(row.var_ratio)} "
            f"({fmt(row.var_ratio_lo)}, {fmt(row.var_ratio_hi)}) |"
        )
    return "\n".join(lines)


README_MARKERS = ("<!-- excerpt:bandit-variance -->", "<!-- /excerpt:bandit-variance -->")


def readme_with_excerpt(readme: str, table) -> str:
    """``readme`` with the text between the excerpt markers replaced by :func:`readme_excerpt`."""
    from pgjax.io import with_excerpt

    return with_excerpt(readme, README_MARKERS, readme_excerpt(table))


if __name__ == "__main__":  # python -m pgjax.experiments.bandit_variance: refresh the README excerpt
    from pathlib import Path

    from pgjax.io import atomic_write_text, read_table

    readme = Path("README.md")
    atomic_write_text(readme, readme_with_excerpt(readme.read_text(), read_table(Path("results") / NAME)))


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work)

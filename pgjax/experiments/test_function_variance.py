"""Variance of gradient estimates against the sample size n on the Gaussian test functions of Mohamed et al.
(2020), for every estimator, with a cost-adjusted view.

The bandit-variance layout (R seeds x a grid of n, every estimator, the standard table and figures) on
E_{x ~ N(mu, diag(sigma^2))}[sum_d g(x_d; k)], with the score-function family, pathwise, measure-valued
(coupled and not) and the delta-method control variates (coefficient 1 or estimated). Because the estimators
do not cost the same, the table adds ``evals_per_sample`` and ``work_var = var x n x evals_per_sample`` (the
variance of an estimate times the evaluations of f it cost; flat in n for an i.i.d. estimator), and
``cost.png`` plots work_var against n.

Accounting of evaluations of f per sample: 1 for the score-function estimators and pathwise (pathwise also
differentiates f), 4 D for measure-valued with coupling and 3 D + 1 without (2 per parameter coordinate; the
uncoupled scale shares its negative part, the base sample), 1 + (2 + D) / n for the delta-method control
variates (f, its gradient and D Hessian-vector products at the mean, once per estimate, each counted as one
evaluation).

With ``--antithetic`` the samples come in antithetic pairs (eps, -eps) (:class:`pgjax.problems.Antithetic`);
every n must then be even, and exact variances are not reported (the pairs are not independent).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from pgjax import io as pio
from pgjax.errors import ConfigError
from pgjax.estimators import ALL_ESTIMATORS, check_estimators, make_estimator
from pgjax.estimators.base import Estimator, registry
from pgjax.experiment import (
    ExperimentResult,
    Hooks,
    check_estimator_names,
    check_sample_sizes,
    check_seeds,
    exact_variances,
    save_with,
    summarise_sweep,
    sweep_from_config,
)
from pgjax.problems import Antithetic, GaussianTestFunction
from pgjax.problems.gaussian_test_functions import FUNCTIONS, SCALES

NAME = "test-function-variance"


@dataclasses.dataclass(frozen=True)
class Config:
    """Variance of every gradient estimator (score function, baselines, pathwise, measure-valued, delta-method
    control variates) against the sample size n on a Gaussian test function of Mohamed et al. (2020), with a
    cost-adjusted view (variance x evaluations of f)."""

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


def build(config: Config):
    """(problem, params, estimators) for a config; raises ConfigError for estimators the problem cannot run."""
    config.validate()
    problem = GaussianTestFunction.build(
        config.function, config.k, mu=config.mu, sigma=config.sigma, scale=config.scale
    )
    params = problem.init_params()
    if config.antithetic:
        problem = Antithetic(problem)
    estimators = {name: make_estimator(name, baseline=config.baseline) for name in config.estimators}
    check_estimators(estimators, problem)
    return problem, params, estimators


def evaluations_per_sample(estimator, dim: int, n: int) -> float:
    """Evaluations of f per sample (see the module docstring); 1 for estimators that do not say otherwise."""
    count = estimator.function_evaluations(dim, n) if isinstance(estimator, Estimator) else None
    return float(count) if count is not None else 1.0


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """Runs the sweep and returns the result (nothing is written; see :func:`save`).

    ``execution`` holds keyword arguments of :func:`pgjax.engine.run_sweep` that say how to run (devices,
    max_memory_bytes, store), never what to compute."""
    problem, params, estimators = build(config)
    sweep = sweep_from_config(config, problem, params, estimators, progress=progress, execution=execution)
    exact = {} if config.antithetic else exact_variances(estimators, problem, params)
    table = summarise_sweep(
        sweep,
        experiment=NAME,
        problem_name=problem.describe(),
        exact_single_sample_var=exact,
        reference="reinforce" if "reinforce" in estimators else None,
    )
    dim = len(config.mu)
    table["evals_per_sample"] = [
        evaluations_per_sample(estimators[name], dim, int(n)) for name, n in zip(table["estimator"], table["n"])
    ]
    table["work_var"] = table["var"] * table["n"] * table["evals_per_sample"]
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
            "evaluations_accounting": (
                "evals_per_sample: 1 score function / pathwise; 4 D measure_valued_coupled, 3 D + 1 "
                "measure_valued; 1 + (2 + D) / n delta-method control variates; work_var = var * n * evals_per_sample"
            ),
        },
    )


def total_work(config: Config) -> int:
    """Number of progress units (seeds x estimators) a run reports."""
    return config.n_seeds * len(config.estimators)


def draw(folder: str | Path) -> list[Path]:
    """The standard figures (``figure``, ``bias``, ``ratio``) and the cost-adjusted one (``cost``), from the saved
    table; every title names the problem's parameters (from the manifest)."""
    from pgjax.plotting import functions as plot_functions
    from pgjax.plotting import variance as plots

    folder = Path(folder)
    paths = plots.draw_all(folder)
    table = pio.read_table(folder)
    title = plots.figure_title(plots.folder_manifest(folder), table)
    paths += plot_functions.plot_work_variance(table, folder / "cost", title=title)
    return paths


def save(result: ExperimentResult, out_dir: str | Path, *, argv: list[str] | None = None) -> Path:
    """The standard outputs (:func:`pgjax.experiment.save`'s files) plus ``cost.png``/``cost.pdf``, atomically."""
    return save_with(draw, result, out_dir, argv=argv)


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw)

"""Reproduction of Mohamed, Rosca, Figurnov & Mnih (2020), "Monte Carlo Gradient Estimation in Machine
Learning" (JMLR 21(132)), Section 3, Figures 2 and 3: the variance of single-sample gradient estimates of
E_{x ~ N(mu, sigma^2)}[f(x; k)] with respect to mu and sigma, at mu = sigma = 1 (D = 1), against k, for

    Figure 2   f = (x - k)^2,    k in [-3, 3]        (log variance axis)
    Figure 3   f = exp(-k x^2),  k in [0.1, 10]      (log-log)
               f = cos(k x),     k in [0.5, 5]       (log variance axis)

and four estimators: score function, score function with the variance-minimising (optimal) baseline,
pathwise, and measure-valued with coupling. The curves are the exact single-sample variances (one-dimensional
quadrature, :mod:`pgjax.problems.gaussian_test_functions`); on top, Monte Carlo points: the variance over R
seeds of n = 1 estimates at a coarser grid of k, with 95% intervals. Small panels show f and f' at three k.

This module holds the shared implementation; ``mohamed2020_fig2`` and ``mohamed2020_fig3`` are the two
experiments (``pgjax run mohamed2020-fig2``, ``pgjax run mohamed2020-fig3``).

Seeds and compilation. k is a traced argument (``GaussianTestFunction.with_k``): one compiled function per
(test function, estimator) evaluates every k of the grid and every seed, with the engine's seed scheme
(``pgjax.engine.seed_key(key(seed), i, n=1)``), so seed i's estimate equals the one ``pgjax.run_sweep``
computes for the same problem, and all estimators and all k share the seeds (common random numbers). The
exact curves are computed the same way, vmapped over k in float64.

Outputs (see :func:`save`): the standard results table (``table.parquet``, one row per
(function, k, estimator, param) with extra columns ``function`` and ``k``), ``raw.npz`` (per-seed estimates;
parameter names ``f(k=...).mu``), ``manifest.json``, the tidy table of plotted values
``values.{parquet,csv,md}`` (function, k, grid, estimator, param, var_exact, var_mc, var_lo, var_hi) and the
figure (``figure2`` or ``figure3``, PNG and PDF), drawn from ``values.parquet`` only.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from pgjax import results
from pgjax.engine import Sweep, seed_key
from pgjax.errors import ConfigError
from pgjax.estimators import make_estimator
from pgjax.estimators.pathwise import Pathwise
from pgjax.estimators.score_function import OptimalBaselineExact, Reinforce
from pgjax.experiment import ExperimentResult, manifest, summarise_sweep
from pgjax.problems.gaussian_test_functions import DEFAULT_PANELS, FUNCTIONS, GaussianTestFunction
from pgjax.tree_util import param_names, ravel

#: The paper's k range per function, whether its figure has a log k axis, and the three k of the small
#: panels of f and f' (the ends of the range and its midpoint on the plotted axis).
PAPER_SETTINGS = {
    "quadratic": {"k_range": (-3.0, 3.0), "log_k": False, "cartoon_k": (-3.0, 0.0, 3.0)},
    "exp": {"k_range": (0.1, 10.0), "log_k": True, "cartoon_k": (0.1, 1.0, 10.0)},
    "cos": {"k_range": (0.5, 5.0), "log_k": False, "cartoon_k": (0.5, 2.75, 5.0)},
}

#: The paper's four estimators, in its order.
PAPER_ESTIMATORS = ("reinforce", "optimal_baseline_exact", "pathwise", "measure_valued_coupled")

#: Estimators this experiment can draw: unbiased, i.i.d., with an exact single-sample variance here.
CURVE_ESTIMATORS = (
    "reinforce",
    "optimal_baseline_exact",
    "pathwise",
    "measure_valued",
    "measure_valued_coupled",
    "delta_cv_score",
    "delta_cv_pathwise",
)

VALUES_FILE = "values.parquet"
VALUES_COLUMNS = ("function", "k", "grid", "estimator", "param", "var_exact", "var_mc", "var_lo", "var_hi", "n_seeds")


@dataclasses.dataclass(frozen=True)
class Config:
    """Variance of single-sample gradient estimates against k on the Gaussian test functions of Mohamed et al.
    (2020), exact curves and Monte Carlo points."""

    functions: tuple[str, ...] = ("quadratic", "exp", "cos")
    """Test functions (quadratic = (x-k)^2, exp = exp(-k x^2), cos = cos(k x)), each over the paper's k range."""
    mu: float = 1.0
    """Mean mu of x ~ N(mu, sigma^2) (the paper: 1)."""
    sigma: float = 1.0
    """Standard deviation sigma > 0 (the paper: 1); gradients are taken with respect to mu and sigma."""
    estimators: tuple[str, ...] = PAPER_ESTIMATORS
    """Estimators to draw (the paper's four by default); each needs an exact single-sample variance."""
    curve_points: int = 61
    """Values of k (>= 2) on which the exact variance curves are computed."""
    mc_points: int = 9
    """Values of k (>= 1) with Monte Carlo points, evenly spread over the range (log-spaced for exp)."""
    n_seeds: int = 4000
    """Seeds R (>= 2): single-sample (n = 1) estimates per Monte Carlo point."""
    seed: int = 0
    """Base seed of the per-seed keys."""
    quadrature_panels: int = DEFAULT_PANELS
    """Panels of 16 Gauss-Legendre nodes on [-12, 12] for the exact variances (>= 8)."""

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if not self.functions:
            raise ConfigError("functions", "needs at least one test function")
        for name in self.functions:
            if name not in FUNCTIONS:
                raise ConfigError("functions", f"unknown test function {name!r}; choose from {', '.join(FUNCTIONS)}")
        if len(set(self.functions)) != len(self.functions):
            raise ConfigError("functions", "lists a function twice")
        if not math.isfinite(self.mu):
            raise ConfigError("mu", f"must be finite (got {self.mu})")
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ConfigError("sigma", f"must be > 0 (got {self.sigma})")
        if not self.estimators:
            raise ConfigError("estimators", "needs at least one estimator")
        for name in self.estimators:
            if name not in CURVE_ESTIMATORS:
                raise ConfigError(
                    "estimators",
                    f"{name!r} has no exact single-sample variance here; choose from {', '.join(CURVE_ESTIMATORS)}",
                )
        if len(set(self.estimators)) != len(self.estimators):
            raise ConfigError("estimators", "lists an estimator twice")
        if self.curve_points < 2:
            raise ConfigError("curve_points", f"must be >= 2 (got {self.curve_points})")
        if self.mc_points < 1:
            raise ConfigError("mc_points", f"must be >= 1 (got {self.mc_points})")
        if self.n_seeds < 2:
            raise ConfigError("n_seeds", f"must be >= 2 to estimate a variance (got {self.n_seeds})")
        if self.quadrature_panels < 8:
            raise ConfigError("quadrature_panels", f"must be >= 8 (got {self.quadrature_panels})")


def k_grid(function: str, points: int) -> np.ndarray:
    """``points`` values of k over the paper's range for ``function`` (log-spaced for exp)."""
    lo, hi = PAPER_SETTINGS[function]["k_range"]
    if points == 1:
        return np.array([math.sqrt(lo * hi) if PAPER_SETTINGS[function]["log_k"] else 0.5 * (lo + hi)])
    if PAPER_SETTINGS[function]["log_k"]:
        return np.geomspace(lo, hi, points)
    return np.linspace(lo, hi, points)


def base_problem(config: Config, function: str) -> GaussianTestFunction:
    """The one-dimensional problem for ``function`` (k set to the middle of the range; replaced per k)."""
    k = float(k_grid(function, 1)[0])
    return dataclasses.replace(
        GaussianTestFunction.build(function, k, mu=config.mu, sigma=config.sigma),
        quadrature_panels=config.quadrature_panels,
    )


# ----------------------------------------------------------------------------------------------------------
# Exact variances, traceable (vmapped over k)
# ----------------------------------------------------------------------------------------------------------


def exact_variance(estimator, problem, params):
    """The single-sample variance of ``estimator`` shaped like params, as a traceable function.

    The same formulas as the estimators' ``single_sample_variance`` (which run eagerly, one problem at a time):
    REINFORCE E[f^2 psi^2] - g^2, optimal baseline E[f^2 psi^2] - E[f psi^2]^2 / E[psi^2] - g^2, pathwise
    E[(df/dtheta)^2] - g^2, and the new estimators' own ``exact_variance``.
    """
    if hasattr(estimator, "exact_variance"):
        return estimator.exact_variance(problem, params)
    grad = jax.grad(problem.objective)(params)
    mom = problem.score_moments(params)
    if isinstance(estimator, Reinforce):
        return jax.tree.map(lambda r2, g: r2 - g**2, mom["r2_psi2"], grad)
    if isinstance(estimator, OptimalBaselineExact):
        return jax.tree.map(lambda r2, r1, p2, g: r2 - r1**2 / p2 - g**2, mom["r2_psi2"], mom["r_psi2"], mom["psi2"], grad)
    if isinstance(estimator, Pathwise):
        return jax.tree.map(lambda d2, g: d2 - g**2, mom["dr2"], grad)
    raise ConfigError("estimators", f"{estimator.name!r} has no exact single-sample variance here")


def exact_over_k(problem, estimators, ks) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(true gradients (K, P), {estimator: exact single-sample variances (K, P)}) over the grid ``ks``, in
    float64, in one compiled call."""
    names = list(estimators)
    with jax.enable_x64(True):
        params = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), problem.init_params())

        def at(k):
            prob = problem.with_k(k)
            grad = ravel(jax.grad(prob.objective)(params))
            return grad, [ravel(exact_variance(estimators[n], prob, params)) for n in names]

        grad, variances = jax.jit(jax.vmap(at))(jnp.asarray(ks, jnp.float64))
        grad = np.asarray(grad, np.float64)
        return grad, {n: np.asarray(v, np.float64) for n, v in zip(names, variances)}


# ----------------------------------------------------------------------------------------------------------
# Monte Carlo over a grid of k, one compiled call per estimator
# ----------------------------------------------------------------------------------------------------------


def estimates_over_k(problem, params, estimator, ks, n_seeds: int, seed: int = 0, n: int = 1) -> np.ndarray:
    """Per-seed estimates, shape (K, R, P): seed i at k_j uses key ``seed_key(key(seed), i, n)``, the engine's
    key, so the numbers match :func:`pgjax.run_sweep` on ``problem.with_k(k_j)`` (up to float rounding)."""
    base_key = jax.random.key(seed)

    def one(k, i):
        return ravel(estimator(seed_key(base_key, i, n), params, problem.with_k(k), n))

    run = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))
    dtype = jnp.result_type(float)
    return np.asarray(run(jnp.asarray(ks, dtype), jnp.arange(n_seeds, dtype=jnp.uint32)))


# ----------------------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result(ExperimentResult):
    """An :class:`~pgjax.experiment.ExperimentResult` plus the tidy table of plotted values."""

    values: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def run_figure(config: Config, *, name: str, figure: str, progress=None) -> Result:
    """Runs the experiment for ``config.functions`` and returns the result (nothing is written)."""
    config.validate()
    estimators = {n: make_estimator(n) for n in config.estimators}
    reference = "reinforce" if "reinforce" in estimators else None
    estimates: dict[str, list[np.ndarray]] = {n: [] for n in estimators}
    names: list[str] = []
    true_grad: list[np.ndarray] = []
    exact_mc: dict[str, list[np.ndarray]] = {n: [] for n in estimators}
    meta: list[tuple[str, float, str]] = []  # (function, k, param) per coordinate
    value_rows: list[pd.DataFrame] = []
    run_s: dict[str, float] = {}  # per (function, estimator): compilation and run of one call together
    exact_s = 0.0
    for function in config.functions:
        problem = base_problem(config, function)
        params = problem.init_params()
        base_names = [p.split("[")[0] for p in param_names(params)]  # D = 1: mu, sigma
        curve_k, mc_k = k_grid(function, config.curve_points), k_grid(function, config.mc_points)

        t0 = time.perf_counter()
        grad, var = exact_over_k(problem, estimators, np.concatenate([curve_k, mc_k]))  # one compiled call
        split = len(curve_k)
        curve_var = {n: v[:split] for n, v in var.items()}
        mc_grad, mc_var = grad[split:], {n: v[split:] for n, v in var.items()}
        exact_s += time.perf_counter() - t0

        for j, k in enumerate(mc_k):
            for p, base in enumerate(base_names):
                names.append(f"{function}(k={k:.6g}).{base}")
                meta.append((function, float(k), base))
        true_grad.append(mc_grad.ravel())
        for est_name, estimator in estimators.items():
            t0 = time.perf_counter()
            per_k = estimates_over_k(problem, params, estimator, mc_k, config.n_seeds, config.seed)  # (K, R, P)
            key = f"{function}:{est_name}"
            run_s[key] = time.perf_counter() - t0
            estimates[est_name].append(np.transpose(per_k, (1, 0, 2)).reshape(config.n_seeds, -1))
            exact_mc[est_name].append(mc_var[est_name].ravel())
            if progress is not None:
                progress(config.n_seeds)
            value_rows.append(_curve_rows(function, curve_k, est_name, base_names, curve_var[est_name]))

    sweep = Sweep(
        estimates={n: {1: np.concatenate(parts, axis=1)} for n, parts in estimates.items()},
        param_names=names,
        true_grad=np.concatenate(true_grad),
        n_seeds=config.n_seeds,
        seed=config.seed,
        ns=(1,),
        chunk_size=config.n_seeds,
        compile_seconds={},
        run_seconds=run_s,
    )
    exact = {n: np.concatenate(v) for n, v in exact_mc.items()}
    table = summarise_sweep(
        sweep, experiment=name, problem_name="", exact_single_sample_var=exact, reference=reference
    )
    table = _tidy(table, meta, config)
    values = pd.concat(value_rows + [_mc_rows(table)], ignore_index=True)
    values = values.loc[:, list(VALUES_COLUMNS)]
    return Result(
        experiment=name,
        config=config,
        problem=_problem_text(config),
        table=table,
        sweep=sweep,
        info={
            "figure": figure,
            "paper_settings": {f: PAPER_SETTINGS[f] for f in config.functions},
            "exact_seconds": exact_s,
            "seed_scheme_note": "every k uses the same seeds (one compiled call vmaps over k and seeds)",
        },
        values=values,
    )


def _problem_text(config: Config) -> str:
    fns = ", ".join(FUNCTIONS[f].text for f in config.functions)
    return f"x ~ N({config.mu:g}, {config.sigma:g}^2), f(x) in {{{fns}}}"


def _tidy(table: pd.DataFrame, meta, config: Config) -> pd.DataFrame:
    """The standard table with ``param`` = mu / sigma and extra columns ``function`` and ``k``."""
    lookup = dict(zip([f"{f}(k={k:.6g}).{p}" for f, k, p in meta], meta))
    parts = table["param"].map(lookup)
    table = table.copy()
    table["problem"] = [
        f"x ~ N({config.mu:g}, {config.sigma:g}^2), f(x) = {FUNCTIONS[f].text}" for f, _, _ in parts
    ]
    table["param"] = [p for _, _, p in parts]
    table["function"] = [f for f, _, _ in parts]
    table["k"] = [k for _, k, _ in parts]
    return results.normalize_table(table)


def _curve_rows(function, ks, estimator, base_names, variances) -> pd.DataFrame:
    rows = []
    for j, k in enumerate(ks):
        for p, base in enumerate(base_names):
            rows.append(
                {
                    "function": function,
                    "k": float(k),
                    "grid": "curve",
                    "estimator": estimator,
                    "param": base,
                    "var_exact": float(variances[j, p]),
                    "var_mc": np.nan,
                    "var_lo": np.nan,
                    "var_hi": np.nan,
                    "n_seeds": 0,
                }
            )
    return pd.DataFrame(rows)


def _mc_rows(table: pd.DataFrame) -> pd.DataFrame:
    out = table.loc[:, ["function", "k", "estimator", "param", "var_exact", "var", "var_lo", "var_hi", "n_seeds"]]
    out = out.rename(columns={"var": "var_mc"})
    out.insert(2, "grid", "mc")
    return out


def total_work(config: Config) -> int:
    """Progress units: seeds x estimators x functions."""
    return config.n_seeds * len(config.estimators) * len(config.functions)


# ----------------------------------------------------------------------------------------------------------
# Saving and drawing
# ----------------------------------------------------------------------------------------------------------


def write_values(values: pd.DataFrame, folder: Path) -> list[Path]:
    """``values.parquet`` (exact float64), ``values.csv`` and ``values.md``, each atomically."""
    import io

    buffer = io.BytesIO()
    values.to_parquet(buffer, index=False)
    md = results.render_markdown(values).split("\n\nvar: ")[0]  # drop the results-table footnote
    md += (
        "\n\ngrid: `curve` rows give the exact single-sample variance on the fine k grid, `mc` rows the Monte "
        "Carlo variance of n = 1 estimates over n_seeds seeds (var_mc) with its 95% interval [var_lo, var_hi] "
        "and the exact value at the same k; numbers to 4 significant figures.\n"
    )
    return [
        results.atomic_write_bytes(folder / VALUES_FILE, buffer.getvalue()),
        results.atomic_write_text(folder / "values.csv", values.to_csv(index=False, lineterminator="\n")),
        results.atomic_write_text(folder / "values.md", md),
    ]


def read_values(folder: str | Path) -> pd.DataFrame:
    """The plotted values of a results folder."""
    path = Path(folder) / VALUES_FILE
    if not path.is_file():
        raise results.ResultsError(f"{path}: no table of plotted values (file not found)")
    try:
        values = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several kinds
        raise results.ResultsError(f"{path}: unreadable table of plotted values ({err})") from err
    missing = [c for c in VALUES_COLUMNS if c not in values.columns]
    if missing:
        raise results.ResultsError(f"{path}: not a table of plotted values (missing {', '.join(missing)})")
    return values


def draw(folder: str | Path) -> list[Path]:
    """Redraws the figure of a results folder from ``values.parquet`` and ``manifest.json``."""
    from pgjax import plots_mohamed

    folder = Path(folder)
    values = read_values(folder)
    info = results.read_manifest(folder)
    config = info.get("config", {})
    settings = info.get("paper_settings") or {f: PAPER_SETTINGS[f] for f in values["function"].unique()}
    return plots_mohamed.plot_variance_vs_k(
        values,
        folder / info.get("figure", "figure_k"),
        mu=float(config.get("mu", 1.0)),
        sigma=float(config.get("sigma", 1.0)),
        settings=settings,
    )


def save(result: Result, out_dir: str | Path, *, argv: list[str] | None = None) -> Path:
    """Writes table (parquet/csv/md/tex), raw.npz, manifest.json, values.{parquet,csv,md} and the figure into
    ``out_dir`` atomically (staged; see :func:`pgjax.results.staged_output`)."""
    out_dir = Path(out_dir)
    with results.staged_output(out_dir) as stage:
        results.write_table(result.table, stage)
        results.write_raw(stage, result.sweep.estimates, result.sweep.param_names, result.sweep.true_grad)
        write_values(result.values, stage)
        results.write_manifest(stage, manifest(result, argv))
        draw(stage)
    return out_dir

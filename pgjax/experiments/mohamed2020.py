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

Seeds, compilation and execution. k is a traced argument (``GaussianTestFunction.with_k``): the estimator
wrapper :class:`OverK` evaluates every k of the Monte Carlo grid inside one seed's call, with that seed's key,
and :func:`pgjax.engine.run_sweep` runs it like any estimator (n = 1, keys
``pgjax.engine.seed_key(key(seed), i, 1)``). All estimators of a test function are fused into one compiled
micro-batch program (``fuse``; compiling is most of the time on a CPU), all estimators and all k share the
seeds (common random numbers), and the figures get the engine's execution options: seeds sharded over devices
(``--devices``, several hosts), the memory budget (``--max-memory``) and resumable cells (``--resume``; one
cell per test function, holding every estimator and every k; per (function, estimator) with ``--no-fuse``).
Per-seed numbers do not depend on the devices, the chunking or the resume. The exact curves are computed
vmapped over k in float64.

The (function, k) pairs are the settings of a ragged grid (:class:`pgjax.engine.grid.GridSweep`; each function has
its own k grid): each function's program is split into one setting per k, with that k's exact gradient and
variances, so that function and k stay data.

Outputs (see :func:`save`): the standard results table (``table.parquet``, one row per
(estimator, function, k, param) with extra columns ``function`` and ``k``), ``raw.npz`` (per-seed estimates
with their function and k as data, :func:`pgjax.io.read_raw_grid`; parameters ``mu`` and ``sigma``),
``manifest.json``, the tidy table of plotted values
``values.{parquet,csv,md}`` (function, k, grid, estimator, param, var_exact, var_mc, var_lo, var_hi) and the
figure (``figure2`` or ``figure3``, PNG and PDF), drawn from ``values.parquet`` only.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from pgjax import io as pio
from pgjax.engine import Sweep, run_sweep
from pgjax.engine.grid import GridSweep, SettingSweep
from pgjax.errors import ConfigError
from pgjax.estimators import make_estimator
from pgjax.estimators.base import Estimator
from pgjax.experiment import ExperimentResult, manifest, quality_table, summarise_grid, write_raw
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
    fuse: bool = True
    """Compile all estimators of a test function as one program (the same numbers to float32 rounding, less
    compilation on a CPU; one resumable cell per function instead of one per (function, estimator))."""

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

    Each estimator's own ``exact_variance`` (the same formulas as its ``single_sample_variance``, which runs
    eagerly, one problem at a time): REINFORCE E[f^2 psi^2] - g^2, optimal baseline
    E[f^2 psi^2] - E[f psi^2]^2 / E[psi^2] - g^2, pathwise E[(df/dtheta)^2] - g^2, and the measure-valued and
    control-variate estimators' quadrature; ConfigError naming ``estimators`` for the others.
    """
    if not isinstance(estimator, Estimator):
        raise ConfigError("estimators", f"{estimator!r} is not a pgjax estimator: no exact single-sample variance")
    return estimator.exact_variance(problem, params)


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
# Monte Carlo over a grid of k: one estimator call per seed evaluates every k, run by pgjax.engine.run_sweep
# ----------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OverK(Estimator):
    """An estimator that evaluates ``estimator`` at every k of a grid with the same key: called as
    ``(key, params, problem, n)`` on a :class:`GaussianTestFunction`, it returns a float array (K * P,), k-major
    (k_0's P coordinates, then k_1's, ...), by ``jax.vmap`` over k (``problem.with_k``, k traced).

    So :func:`pgjax.engine.run_sweep` computes a whole k grid in one compiled micro-batch program per
    estimator (or per fused set of estimators), with the engine's keys, sharding, memory budget and resumable
    cells: a cell holds every k of the grid, and its identity (this dataclass's repr) includes the grid.
    """

    estimator: object
    ks: tuple[float, ...]
    name: ClassVar[str] = "over_k"
    params_shaped: ClassVar[bool] = False  # a flat (K * P,) array

    def __call__(self, key, params, problem, n):
        ks = jnp.asarray(self.ks, jnp.result_type(float))
        return jax.vmap(lambda k: ravel(self.estimator(key, params, problem.with_k(k), n)))(ks).reshape(-1)

    def members(self) -> tuple:
        return (self.estimator,)


def sweep_over_k(
    problem,
    params,
    estimators,
    ks,
    n_seeds: int,
    *,
    seed: int = 0,
    n: int = 1,
    fuse: bool = False,
    progress=None,
    execution: dict | None = None,
):
    """:func:`pgjax.run_sweep` of ``OverK(estimator, ks)`` for every estimator, at the one sample size n.

    Returns the sweep; ``sweep.estimates[name][n]`` is (R, K * P), k-major, for every name of ``estimators``
    (``sweep.true_grad`` is not computed: see :func:`exact_over_k`).
    Seed i uses the key ``seed_key(key(seed), i, n)`` at every k, the engine's key, so the numbers match
    :func:`pgjax.run_sweep` on ``problem.with_k(k_j)`` (up to float rounding: vmapping over k may change XLA's
    fusion). With ``fuse``, all estimators are compiled as one program (:func:`pgjax.engine.run_sweep`'s
    ``fuse``; each member sees the same keys as alone, so its estimates equal those of a separate program to
    float32 rounding) and resumed as one cell: less compilation, which is most of the time on a CPU. The
    sweep's ``compile_seconds`` and ``run_seconds`` are then those of the one program,
    under :data:`pgjax.engine.FUSED`.
    ``execution``: further run_sweep keywords (devices, max_memory_bytes, store), as ``pgjax run`` passes them.
    """
    ks = tuple(float(k) for k in ks)
    wrapped = {name: OverK(estimator, ks) for name, estimator in estimators.items()}
    # The true gradients at every k come from exact_over_k; the engine's own (one k, P values for K * P
    # columns) would be meaningless here and costs an eager float64 evaluation, so it is skipped: the
    # returned sweep's true_grad is zeros.
    reference = np.zeros(len(param_names(params)))
    common = dict(seed=seed, progress=progress, reference_gradient=reference, **(execution or {}))
    return run_sweep(problem, params, wrapped, (n,), n_seeds, fuse=fuse and len(wrapped) > 1, **common)


def estimates_over_k(
    problem, params, estimator, ks, n_seeds: int, seed: int = 0, n: int = 1, execution: dict | None = None
) -> np.ndarray:
    """Per-seed estimates of one estimator, shape (K, R, P) (see :func:`sweep_over_k`)."""
    sweep = sweep_over_k(problem, params, {"e": estimator}, ks, n_seeds, seed=seed, n=n, execution=execution)
    flat = sweep.estimates["e"][n]
    return np.transpose(flat.reshape(n_seeds, len(ks), -1), (1, 0, 2))


# ----------------------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result(ExperimentResult):
    """An :class:`~pgjax.experiment.ExperimentResult` plus the tidy table of plotted values."""

    values: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def run_figure(config: Config, *, name: str, figure: str, progress=None, execution: dict | None = None) -> Result:
    """Runs the experiment for ``config.functions`` and returns the result (nothing is written).

    The settings are the (function, k) pairs of a ragged grid (:class:`pgjax.engine.grid.GridSweep`): k takes the
    Monte Carlo grid of its own function. Each function's k grid is computed in one program
    (:func:`sweep_over_k`) and split into one setting per k, with the exact gradient and variances at that k.

    ``execution``: :func:`pgjax.run_sweep` keywords saying how to run (devices, max_memory_bytes, store), as
    ``pgjax run`` passes them; they never change a number."""
    config.validate()
    estimators = {n: make_estimator(n) for n in config.estimators}
    reference = "reinforce" if "reinforce" in estimators else None
    settings: dict[tuple[str, float], SettingSweep] = {}
    value_rows: list[pd.DataFrame] = []
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

        sweep = sweep_over_k(
            problem,
            params,
            estimators,
            mc_k,
            config.n_seeds,
            seed=config.seed,
            fuse=config.fuse,
            progress=progress,
            execution=execution,
        )
        problem_name = f"{_normal_text(config)}, f(x) = {FUNCTIONS[function].text}"
        for j, part in enumerate(split_over_k(sweep, len(mc_k), base_names)):
            settings[(function, float(mc_k[j]))] = SettingSweep(
                sweep=dataclasses.replace(part, true_grad=mc_grad[j]),
                exact_single_sample_var={n: v[j] for n, v in mc_var.items()},
                problem_name=problem_name,
            )
        for est_name in estimators:
            value_rows.append(_curve_rows(function, curve_k, est_name, base_names, curve_var[est_name]))

    ks = tuple(dict.fromkeys(k for _, k in settings))  # every k of some function
    grid = GridSweep.from_sweeps({"function": config.functions, "k": ks}, settings, ragged=True)
    table = summarise_grid(grid, experiment=name, reference=reference)
    # One estimator's rows after another's (then function, k and param), the order of the plotted values.
    rank = table["estimator"].map({n: i for i, n in enumerate(estimators)}).to_numpy()
    table = pio.normalize_table(table.iloc[np.argsort(rank, kind="stable")])
    values = pd.concat(value_rows + [_mc_rows(table)], ignore_index=True)
    values = values.loc[:, list(VALUES_COLUMNS)]
    return Result(
        experiment=name,
        config=config,
        problem=_problem_text(config),
        table=table,
        sweep=grid,
        info={
            "figure": figure,
            "paper_settings": {f: PAPER_SETTINGS[f] for f in config.functions},
            "exact_seconds": exact_s,
            "seed_scheme_note": (
                "every k uses the same seeds: per function, one pgjax.engine.run_sweep with one compiled program "
                "(all estimators fused into one unless fuse is off) that evaluates the whole k grid inside "
                "each seed (OverK); one resumable cell per function (per function and estimator unfused)"
            ),
        },
        values=values,
    )


def split_over_k(sweep: Sweep, num_k: int, names: list[str]) -> list[Sweep]:
    """One sweep per k of a :func:`sweep_over_k` sweep: its k-major (R, K * P) blocks cut into (R, P) ones,
    with the coordinate names ``names`` (P). The one program's timings and execution record go with the first
    k (the others have none), so that a grid of them counts each compilation once."""
    width = len(names)
    parts = []
    for j in range(num_k):
        estimates = {}
        for estimator, by_n in sweep.estimates.items():
            for x in by_n.values():
                if x.shape[1] != num_k * width:
                    raise ValueError(f"{estimator}: {x.shape[1]} columns, expected {num_k} k x {width} coordinates")
            estimates[estimator] = {n: np.ascontiguousarray(x[:, j * width : (j + 1) * width]) for n, x in by_n.items()}
        first = j == 0
        parts.append(
            dataclasses.replace(
                sweep,
                estimates=estimates,
                param_names=list(names),
                true_grad=np.zeros(width),
                compile_seconds=dict(sweep.compile_seconds) if first else {},
                run_seconds=dict(sweep.run_seconds) if first else {},
                execution=dict(sweep.execution) if first else {},
            )
        )
    return parts


def _normal_text(config: Config) -> str:
    return f"x ~ N({config.mu:g}, {config.sigma:g}^2)"


def _problem_text(config: Config) -> str:
    fns = ", ".join(FUNCTIONS[f].text for f in config.functions)
    return f"{_normal_text(config)}, f(x) in {{{fns}}}"


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
    """Progress units: seeds x compiled programs (one per function when fused, else per function and
    estimator)."""
    programs = 1 if config.fuse and len(config.estimators) > 1 else len(config.estimators)
    return config.n_seeds * programs * len(config.functions)


# ----------------------------------------------------------------------------------------------------------
# Saving and drawing
# ----------------------------------------------------------------------------------------------------------


def write_values(values: pd.DataFrame, folder: Path) -> list[Path]:
    """``values.parquet`` (exact float64), ``values.csv`` and ``values.md``, each atomically."""
    import io

    buffer = io.BytesIO()
    values.to_parquet(buffer, index=False)
    lines = pio.render_markdown(values).splitlines()
    last_row = max(i for i, line in enumerate(lines) if line.startswith("|"))
    md = "\n".join(lines[: last_row + 1])  # drop whatever footnote the generic renderer adds
    md += (
        "\n\ngrid: `curve` rows give the exact single-sample variance on the fine k grid, `mc` rows the Monte "
        "Carlo variance of n = 1 estimates over n_seeds seeds (var_mc) with its 95% interval [var_lo, var_hi] "
        "and the exact value at the same k; numbers to 4 significant figures.\n"
    )
    return [
        pio.atomic_write_bytes(folder / VALUES_FILE, buffer.getvalue()),
        pio.atomic_write_text(folder / "values.csv", values.to_csv(index=False, lineterminator="\n")),
        pio.atomic_write_text(folder / "values.md", md),
    ]


def read_values(folder: str | Path) -> pd.DataFrame:
    """The plotted values of a results folder."""
    path = Path(folder) / VALUES_FILE
    if not path.is_file():
        raise pio.ResultsError(f"{path}: no table of plotted values (file not found)")
    try:
        values = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several kinds
        raise pio.ResultsError(f"{path}: unreadable table of plotted values ({err})") from err
    missing = [c for c in VALUES_COLUMNS if c not in values.columns]
    if missing:
        raise pio.ResultsError(f"{path}: not a table of plotted values (missing {', '.join(missing)})")
    return values


def draw(folder: str | Path) -> list[Path]:
    """Redraws the figure of a results folder from ``values.parquet`` and ``manifest.json``."""
    from pgjax.plotting import functions as plot_functions

    folder = Path(folder)
    values = read_values(folder)
    info = pio.read_manifest(folder)
    config = info.get("config", {})
    settings = info.get("paper_settings") or {f: PAPER_SETTINGS[f] for f in values["function"].unique()}
    return plot_functions.plot_variance_vs_k(
        values,
        folder / info.get("figure", "figure_k"),
        mu=float(config.get("mu", 1.0)),
        sigma=float(config.get("sigma", 1.0)),
        settings=settings,
    )


def save(result: Result, out_dir: str | Path, *, argv: list[str] | None = None) -> Path:
    """Writes table and quality table (parquet/csv/md/tex; :func:`pgjax.experiment.quality_table`), raw.npz,
    manifest.json, values.{parquet,csv,md} and the figure into ``out_dir`` atomically (staged; see
    :func:`pgjax.io.staged_output`)."""
    out_dir = Path(out_dir)
    with pio.staged_output(out_dir) as stage:
        pio.write_table(result.table, stage)
        pio.write_quality(quality_table(result), stage)
        write_raw(stage, result.sweep)
        write_values(result.values, stage)
        pio.write_manifest(stage, manifest(result, argv))
        draw(stage)
    return out_dir

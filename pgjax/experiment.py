"""Glue between a sweep and its saved outputs, the experiment contract, and discovery of experiments.

An experiment is a module (registered under the ``pgjax.experiments`` entry-point group, so pgjax never
imports ``pgjax.experiments`` by name) that satisfies :class:`ExperimentModule`:

- ``NAME`` (str) and ``Config``: a frozen dataclass whose fields, with their docstrings, become CLI flags;
- ``run(config, *, progress=None, execution=None) -> ExperimentResult``: validates the config (raising
  :class:`pgjax.ConfigError` early), computes, and returns the result without writing anything;
- optionally ``HOOKS``: a :class:`Hooks` naming the functions that replace pgjax's defaults (how the
  results are saved, drawn, re-tabled, summed up after a run, and how progress is counted).

pgjax looks an optional hook up only in ``HOOKS``, never by attribute name, so a module may hold any other
names (a ``draw`` imported from :mod:`pgjax.estimators`, say) without changing what the CLI does.
:func:`check` turns a module that breaks the contract into one :class:`ExperimentError` line.

:func:`save` then writes the table, the raw estimates, the manifest and the figures, replacing the results
folder as a whole.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import sys
import time
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Protocol, runtime_checkable

import jax
import numpy as np
import pandas as pd

from pgjax import io as pio
from pgjax.analysis import quality as qual
from pgjax.analysis import stats
from pgjax.engine import MAX_COUNT, Sweep
from pgjax.engine.grid import GridSweep
from pgjax.errors import ConfigError, ExperimentError, PgjaxError
from pgjax.plotting import variance as plots

ENTRY_POINT_GROUP = "pgjax.experiments"


@dataclasses.dataclass
class ExperimentResult:
    """What an experiment's ``run`` returns.

    Attributes:
      experiment: the experiment's name.
      config: its config dataclass.
      problem: a one-line description of the problem.
      table: the tidy statistics table (see :data:`pgjax.analysis.stats.COLUMNS`, plus ``experiment`` and ``problem``).
      sweep: the raw per-seed estimates: one :class:`Sweep`, or a :class:`pgjax.engine.grid.GridSweep` of one sweep
        per setting of named axes (then raw.npz is written by :func:`pgjax.io.write_raw_grid`).
      info: extra facts for the manifest (timings, seed scheme, ...).
      quality: the gradient-quality table (``quality.parquet``, :data:`pgjax.io.QUALITY_COLUMNS`) when the
        experiment computes its own; None (the default) means :func:`quality_table` derives it from ``table``
        and ``sweep`` when the results are saved.
    """

    experiment: str
    config: Any
    problem: str
    table: pd.DataFrame
    sweep: Sweep | GridSweep
    info: dict
    quality: pd.DataFrame | None = None


#: A run's progress callback: ``progress(count)`` after each ``count`` units of work (see :attr:`Hooks.total_work`).
Progress = Callable[[int], None]


@runtime_checkable
class ExperimentModule(Protocol):
    """What every experiment module defines (checked by :func:`check` when it is discovered).

    Attributes:
      NAME: the name of ``pgjax run NAME``; also the ``experiment`` of its manifest, by which ``pgjax plot``
        and ``pgjax table`` find the module again.
      Config: a frozen dataclass with a default for every field and a ``validate()`` method that raises
        :class:`pgjax.ConfigError`; its fields, with their docstrings, are the flags of ``pgjax run NAME``.
    """

    NAME: str
    Config: type

    @staticmethod
    def run(config: Any, *, progress: Progress | None = None, execution: dict | None = None) -> Any:
        """Computes the experiment for ``config`` and returns the result (an :class:`ExperimentResult`, or
        whatever the experiment's own ``Hooks.save`` writes), writing nothing.

        ``progress`` is called with the units of work done as they finish. ``execution`` holds the keywords of
        :func:`pgjax.engine.run_sweep` that say how to run, never what to compute (``devices``,
        ``max_memory_bytes``, ``store``); an experiment that cannot use one accepts and ignores it. The CLI
        always passes both."""
        ...


@dataclasses.dataclass(frozen=True)
class Hooks:
    """The optional hooks of an experiment, declared as ``HOOKS = Hooks(...)`` in its module.

    Every field left at its default means pgjax's own behaviour. Each hook given must be callable (and
    ``progress_unit`` a non-empty string); :func:`check` says which is not.
    """

    total_work: Callable[[Any], int] | None = None
    """``total_work(config) -> int``: the units of work a run of ``config`` reports through ``progress``, the
    total of the progress bar and its ETA. Default: no total (a bare count)."""
    progress_unit: str = "seed"
    """What one unit of progress is, as the progress bar names it (``"seed"``, ``"update"``, ...)."""
    save: Callable[..., Path] | None = None
    """``save(result, out_dir, *, argv=None) -> Path``: writes the results folder ``out_dir`` from ``run``'s
    result, replacing it as a whole (see :func:`pgjax.io.staged_output`); ``argv`` is the command line
    recorded in the manifest. Default: :func:`save` (table, raw estimates, manifest, standard figures)."""
    draw: Callable[[Path], list[Path]] | None = None
    """``draw(folder) -> list[Path]``: draws the figures of a results folder from its saved tables only, and
    returns the files written (``pgjax plot``). Default: :func:`pgjax.plotting.variance.draw_all`."""
    retable: Callable[[Path], str] | None = None
    """``retable(folder) -> str``: re-renders the tables of a results folder from its parquet files, which it
    never rewrites, and returns the Markdown to print (``pgjax table``). Default: the one standard table."""
    headline: Callable[[Any], Any] | None = None
    """``headline(result) -> pandas.DataFrame``: the rows ``pgjax run`` prints when it is done. Default: the
    rows of the largest sample size of ``result.table``."""

    CALLABLES: ClassVar[tuple[str, ...]] = ("total_work", "save", "draw", "retable", "headline")


#: The members every experiment module defines, in the order :func:`check` looks for them.
REQUIRED = ("NAME", "Config", "run")


def check(module: ModuleType) -> ExperimentModule:
    """``module`` itself if it keeps the experiment contract; otherwise ExperimentError, one line naming the
    module and the first problem (a missing member, a ``run`` without the ``execution`` keyword, ``HOOKS`` that
    is not a :class:`Hooks`, a hook that is not callable)."""
    where = f"experiment module {module.__name__}"
    for member in REQUIRED:
        if not hasattr(module, member):
            raise ExperimentError(f"{where} defines no {member} (an experiment needs {', '.join(REQUIRED)})")
    if not isinstance(module.NAME, str) or not module.NAME:
        raise ExperimentError(f"{where}: NAME must be a non-empty string (got {module.NAME!r})")
    if not (isinstance(module.Config, type) and dataclasses.is_dataclass(module.Config)):
        raise ExperimentError(f"{where}: Config must be a dataclass (got {module.Config!r})")
    if not callable(module.run):
        raise ExperimentError(f"{where}: run is not callable (got {type(module.run).__name__})")
    try:
        signature = inspect.signature(module.run)
    except (TypeError, ValueError):  # a builtin or C function: nothing to check
        signature = None
    if signature is not None:
        try:
            signature.bind(None, progress=None, execution=None)
        except TypeError:
            raise ExperimentError(
                f"{where}: run must accept run(config, *, progress=None, execution=None) (it is run{signature})"
            ) from None
    declared = getattr(module, "HOOKS", Hooks())
    if not isinstance(declared, Hooks):
        raise ExperimentError(f"{where}: HOOKS must be a pgjax.experiment.Hooks(...) (got {type(declared).__name__})")
    for name in Hooks.CALLABLES:
        value = getattr(declared, name)
        if value is not None and not callable(value):
            raise ExperimentError(f"{where}: hook {name} is not callable (got {type(value).__name__})")
    if not isinstance(declared.progress_unit, str) or not declared.progress_unit:
        raise ExperimentError(
            f"{where}: hook progress_unit must be a non-empty string (got {declared.progress_unit!r})"
        )
    return module


def hooks(module: ModuleType) -> Hooks:
    """The hooks ``module`` declares (its ``HOOKS``; all defaults when it declares none)."""
    return getattr(module, "HOOKS", None) or Hooks()


def check_estimator_names(names, known) -> None:
    """ConfigError on ``--estimators`` unless ``names`` is a non-empty list of distinct names from ``known``."""
    if not names:
        raise ConfigError("estimators", "needs at least one estimator")
    for name in names:
        if name not in known:
            raise ConfigError("estimators", f"unknown estimator {name!r}; choose from {', '.join(known)}")
    if len(set(names)) != len(names):
        raise ConfigError("estimators", "lists an estimator twice")


def check_sample_sizes(ns) -> None:
    """ConfigError on ``--ns`` unless it is a non-empty list of sample sizes >= 1."""
    if not ns:
        raise ConfigError("ns", "needs at least one sample size")
    if min(ns) < 1:
        raise ConfigError("ns", f"every sample size must be >= 1 (got {min(ns)})")
    if max(ns) > MAX_COUNT:
        raise ConfigError("ns", f"every sample size must be at most {MAX_COUNT} (2^31 - 1; got {max(ns)})")


def check_seeds(n_seeds: int, chunk_size: int) -> None:
    """ConfigError unless there are >= 2 seeds (a variance needs two) and chunk_size >= 1."""
    if n_seeds < 2:
        raise ConfigError("n_seeds", f"must be >= 2 to estimate a variance (got {n_seeds})")
    if n_seeds > MAX_COUNT:
        raise ConfigError("n_seeds", f"must be at most {MAX_COUNT} (2^31 - 1; got {n_seeds})")
    if chunk_size < 1:
        raise ConfigError("chunk_size", f"must be >= 1 (got {chunk_size})")


def sweep_from_config(config, problem, params, estimators, *, progress=None, execution=None) -> Sweep:
    """:func:`pgjax.engine.run_sweep` over the config's ``ns``, ``n_seeds``, ``seed`` and ``chunk_size``;
    ``execution`` holds the run_sweep keywords that say how to run (devices, max_memory_bytes, store)."""
    from pgjax.engine import run_sweep

    return run_sweep(
        problem,
        params,
        estimators,
        sorted(set(config.ns)),
        config.n_seeds,
        seed=config.seed,
        chunk_size=config.chunk_size,
        progress=progress,
        **(execution or {}),
    )


def exact_variances(estimators: Mapping[str, Any], problem, params) -> dict[str, np.ndarray]:
    """Exact single-sample variances (P,) of the i.i.d. estimators that can compute theirs."""
    from pgjax.estimators.base import Estimator
    from pgjax.problems.base import iid_samples

    out = {}
    if not iid_samples(problem):  # e.g. antithetic pairs: (single-sample var) / n is wrong
        return out
    for name, estimator in estimators.items():
        if isinstance(estimator, Estimator) and estimator.iid:
            var = estimator.single_sample_variance(problem, params)
            if var is not None:  # flatten on the host: ravel_pytree would round float64 to float32
                out[name] = np.concatenate([np.ravel(np.asarray(v, np.float64)) for v in jax.tree.leaves(var)])
    return out


def summarise_sweep(
    sweep: Sweep,
    *,
    experiment: str,
    problem_name: str,
    exact_single_sample_var: Mapping[str, np.ndarray] | None = None,
    reference: str | None = "reinforce",
    reference_estimates: Mapping[int, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The statistics table of a sweep, with ``experiment`` and ``problem`` columns first.

    ``reference_estimates`` (``n -> (R, P)``): the reference's estimates when they were measured in another
    sweep on the same seeds (then ``reference`` is None); see :func:`pgjax.analysis.stats.summarise`."""
    table = stats.summarise(
        sweep.estimates,
        sweep.param_names,
        sweep.true_grad,
        reference=reference,
        exact_single_sample_var=exact_single_sample_var,
        reference_estimates=reference_estimates,
    )
    table.insert(0, "problem", problem_name)
    table.insert(0, "experiment", experiment)
    return table


def summarise_grid(grid: GridSweep, *, experiment: str, reference: str | None = "reinforce") -> pd.DataFrame:
    """The statistics table of a grid: :func:`summarise_sweep` of every setting with that setting's true
    gradient, exact variances and problem name, then one column per axis (after the statistics columns).

    Rows: the shared setting first (its axis columns empty: None, or NaN in a numeric axis), then the settings
    in the grid's order (product order, or a ragged grid's own). Variance ratios are taken against
    ``reference`` in the same setting or, where the setting lacks it, in the shared setting (on the same
    seeds); NaN where neither has it.
    """
    shared = grid.shared
    blocks = []
    entries = [({name: None for name in grid.axes}, shared)] if shared is not None else []
    entries += [(values, entry) for values, entry in grid]
    for values, entry in entries:
        own = reference is not None and reference in entry.sweep.estimates
        borrowed = (
            shared.sweep.estimates[reference]
            if not own and reference is not None and shared is not None and reference in shared.sweep.estimates
            else None
        )
        table = summarise_sweep(
            entry.sweep,
            experiment=experiment,
            problem_name=entry.problem_name,
            exact_single_sample_var=entry.exact_single_sample_var,
            reference=reference if own else None,
            reference_estimates=borrowed,
        )
        blocks.append((values, table))
    table = pd.concat([t for _, t in blocks], ignore_index=True)
    for name in grid.axes:  # one list per axis, so that pandas infers the column's dtype from all values
        table[name] = pd.Series(
            [values[name] for values, t in blocks for _ in range(len(t))],
            dtype=_axis_dtype([values[name] for values, _ in blocks]),
        )
    return table


def quality_table(result: ExperimentResult) -> pd.DataFrame:
    """The gradient-quality table of a result (one row per estimator, n and setting; the columns of
    :data:`pgjax.io.QUALITY_COLUMNS`, then one per axis of a grid): ``result.quality`` if the experiment
    computed it, else :func:`pgjax.analysis.quality.quality_row` of every cell of ``result.sweep`` against the
    gradient its table measures bias against (the exact gradient, or a reference one).

    The exact values come from the statistics table, so nothing is computed twice: the exact variance of a
    cell is its rows' ``var_exact`` (``noise_scale_exact`` where every coordinate has one); its exact bias is
    the rows' ``bias_exact`` where the table has that column (lqr-gae), otherwise zero for an estimator whose
    registered class declares ``unbiased = True`` (a class attribute; an estimator whose unbiasedness depends
    on its options, GAE's critic say, gets no ``nse_exact`` without a ``bias_exact`` column). The rows of
    a grid come setting by setting in the order of :func:`summarise_grid`, the shared setting first.
    """
    if result.quality is not None:
        return result.quality
    sweep, table = result.sweep, result.table
    if isinstance(sweep, GridSweep):
        entries = [({name: None for name in sweep.axes}, sweep.shared)] if sweep.shared is not None else []
        entries += list(sweep)
        axes = list(sweep.axes)
    else:
        entries, axes = [({}, None)], []
    blocks = []
    for values, entry in entries:
        part = sweep if entry is None else entry.sweep
        mask = np.ones(len(table), dtype=bool)
        for name, value in values.items():
            column = table[name]
            # the shared setting's rows leave the axis empty: None/NaN, or "" in a table that filled it (lqr-gae)
            empty = column.isna() | (column.astype(object) == "")
            mask &= (empty if value is None else column == value).to_numpy(dtype=bool)
        rows = []
        for name, by_n in part.estimates.items():
            for n in sorted(by_n):
                cell = table[mask & (table["estimator"] == name).to_numpy() & (table["n"] == n).to_numpy()]
                var, bias = _exact_of(cell, name, part.param_names)
                row = qual.quality_row(by_n[n], part.true_grad, n, exact_var=var, exact_bias=bias)
                problem = str(cell["problem"].iloc[0]) if len(cell) else result.problem
                rows.append({"experiment": result.experiment, "problem": problem, "estimator": name, **row})
        blocks.append((values, rows))
    quality = qual.frame([r for _, rows in blocks for r in rows], leading=("experiment", "problem"))
    for name in axes:
        quality[name] = pd.Series(
            [values[name] for values, rows in blocks for _ in rows],
            dtype=_axis_dtype([values[name] for values, _ in blocks]),
        )
    return quality


def _exact_of(cell: pd.DataFrame, name: str, param_names: list[str]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(exact n-sample variance, exact bias), each (P,) in ``param_names`` order or None, of one cell's table
    rows (see :func:`quality_table`)."""
    from pgjax.estimators.base import registry

    if len(cell) != len(param_names) or cell["var_exact"].isna().any():
        return None, None
    order = {p: i for i, p in enumerate(cell["param"])}
    var = cell["var_exact"].to_numpy(dtype=np.float64)[[order[p] for p in param_names]]
    if "bias_exact" in cell.columns:
        bias = cell["bias_exact"].to_numpy(dtype=np.float64)[[order[p] for p in param_names]]
        return var, (None if np.isnan(bias).any() else bias)
    declared = getattr(registry().get(name), "unbiased", None)
    return var, (np.zeros(len(param_names)) if declared is True else None)


def _axis_dtype(values) -> Any:
    """The column dtype of an axis: int64 when every setting has an integer, float64 for numbers with a gap
    (the shared setting's None becomes NaN), otherwise object (strings, None kept as None)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        if len(present) == len(values) and all(isinstance(v, int) for v in present):
            return "int64"
        return "float64"
    if present and len(present) == len(values) and all(isinstance(v, bool) for v in present):
        return "bool"
    return object


def manifest(result: ExperimentResult, argv: list[str] | None = None) -> dict:
    """The manifest: config, command line, environment, seed scheme and timings."""
    sweep = result.sweep
    if isinstance(sweep, GridSweep):
        return _grid_manifest(result, argv)
    return {
        **provenance(result, argv),
        "seed_scheme": (
            "key(seed i, sample size n) = fold_in(fold_in(jax.random.key(seed), i), n); "
            "all estimators share each key (common random numbers)"
        ),
        "seed": sweep.seed,
        "n_seeds": sweep.n_seeds,
        "ns": list(sweep.ns),
        "chunk_size": sweep.chunk_size,
        "param_names": sweep.param_names,
        "true_grad": [float(x) for x in sweep.true_grad],
        "compile_seconds": sweep.compile_seconds,
        "run_seconds": sweep.run_seconds,
        "execution": sweep.execution,
        **_jsonable(result.info),
    }


def provenance(result: ExperimentResult, argv: list[str] | None = None, info: dict | None = None) -> dict:
    """The manifest fields every result has, first: schema, experiment, problem, config, command line, time
    and environment; then ``info`` (made JSON-safe). An experiment that writes its own tables (its ``save``
    hook) builds its manifest from this."""
    return {
        "schema": pio.SCHEMA,
        "experiment": result.experiment,
        "problem": result.problem,
        "config": _jsonable(dataclasses.asdict(result.config)),
        "command": list(sys.argv if argv is None else argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": pio.environment_info(),
        **_jsonable(info or {}),
    }


def _grid_manifest(result: ExperimentResult, argv: list[str] | None) -> dict:
    """The manifest of a grid result: the sweep fields over all settings, and per setting its axis values,
    true gradient, timings and facts."""
    grid: GridSweep = result.sweep
    entries = [({name: None for name in grid.axes}, grid.shared)] if grid.shared is not None else []
    entries += list(grid)
    return {
        **provenance(result, argv),
        "seed_scheme": (
            "key(seed i, sample size n) = fold_in(fold_in(jax.random.key(seed), i), n) in every setting; "
            "all estimators of all settings share each key (common random numbers)"
        ),
        "seed": grid.seed,
        "n_seeds": grid.n_seeds,
        "ns": list(grid.ns),
        "chunk_size": grid.chunk_size,
        "param_names": grid.param_names,
        "axes": {name: list(values) for name, values in grid.axes.items()},
        **({"ragged": True} if grid.ragged else {}),
        "settings": [
            {
                **values,
                "shared": i == 0 and grid.shared is not None,
                "problem": entry.problem_name,
                "true_grad": [float(x) for x in entry.sweep.true_grad],
                "compile_seconds": entry.sweep.compile_seconds,
                "run_seconds": entry.sweep.run_seconds,
                **_jsonable(dict(entry.info)),
            }
            for i, (values, entry) in enumerate(entries)
        ],
        "compile_seconds": grid.seconds("compile"),
        "run_seconds": grid.seconds("run"),
        "execution": grid.execution,
        **_jsonable(result.info),
    }


def write_raw(folder: str | Path, sweep: Sweep | GridSweep) -> Path:
    """raw.npz of a sweep (:func:`pgjax.io.write_raw`) or of a grid, with its axis values as arrays
    (:func:`pgjax.io.write_raw_grid`)."""
    if isinstance(sweep, GridSweep):
        index, estimates, true_grads = sweep.stacked()
        return pio.write_raw_grid(folder, list(sweep.axes), index, estimates, sweep.param_names, true_grads)
    return pio.write_raw(folder, sweep.estimates, sweep.param_names, sweep.true_grad)


def save(
    result: ExperimentResult, out_dir: str | Path, *, argv: list[str] | None = None, overwrite: bool | None = None
) -> Path:
    """Writes table and quality table (parquet/csv/md/tex, :func:`quality_table`), raw.npz, manifest.json and
    figures into ``out_dir``, replacing it.

    Everything is first written to a staging folder, which then replaces ``out_dir`` as a whole in one step
    (:func:`pgjax.io.staged_output`), so a failure or Ctrl-C leaves earlier results untouched and no
    old file ever stays beside new ones. A folder holding another experiment's results or files pgjax did
    not write is refused (ResultsError) unless ``overwrite``.
    """
    return save_with(plots.draw_all, result, out_dir, argv=argv, overwrite=overwrite)


def save_with(
    draw, result: ExperimentResult, out_dir: str | Path, *, argv: list[str] | None = None, overwrite: bool | None = None
) -> Path:
    """:func:`save` with an experiment's own figures: ``draw(folder)`` draws them from the staged table, and
    everything replaces ``out_dir`` together."""
    out_dir = Path(out_dir)
    with pio.staged_output(out_dir, overwrite=overwrite) as stage:
        pio.write_table(result.table, stage)
        pio.write_quality(quality_table(result), stage)
        write_raw(stage, result.sweep)
        pio.write_manifest(stage, manifest(result, argv))
        if plots.figures_enabled():  # `pgjax run --no-figures`: `pgjax plot` draws them later
            draw(stage)
    return out_dir


def save_frames(
    result: ExperimentResult,
    out_dir: str | Path,
    frames: Mapping[str, pd.DataFrame],
    draw,
    *,
    argv: list[str] | None = None,
    overwrite: bool | None = None,
    info: dict | None = None,
) -> Path:
    """The save hook of an experiment with its own tables: each of ``frames`` (stem -> table, written as
    parquet, csv, md and tex), the manifest (:func:`provenance` with ``info``, default ``result.info``) and
    ``draw(folder)``'s figures (none under `pgjax run --no-figures`), replacing ``out_dir`` as a whole."""
    out_dir = Path(out_dir)
    with pio.staged_output(out_dir, overwrite=overwrite) as stage:
        for stem, frame in frames.items():
            pio.write_frame(frame, stage, stem)
        pio.write_manifest(stage, provenance(result, argv, result.info if info is None else info))
        if plots.figures_enabled():
            draw(stage)
    return out_dir


def discover() -> dict[str, str]:
    """Experiment name -> module path, of the modules that keep the experiment contract.

    Each ``pgjax.experiments`` entry point names either one experiment module or a package whose
    submodules are experiments (this repository registers its ``pgjax.experiments`` package, so adding an
    experiment is adding a file). In a package, a submodule is an experiment when it defines ``NAME`` (the
    others are helpers); an entry point that names one module declares it an experiment. A module that
    fails to import is listed in :data:`BROKEN`, one that breaks the contract (:func:`check`) in
    :data:`MALFORMED`, so that `pgjax list` warns and :func:`load` says why.
    """
    found: dict[str, str] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        module = _try_import(ep.value)
        if module is None:
            continue
        candidates = [module]
        if hasattr(module, "__path__"):
            candidates = [
                _try_import(f"{module.__name__}.{info.name}")
                for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda i: i.name)
                if not info.name.startswith("_")
            ]
            candidates = [c for c in candidates if c is not None and hasattr(c, "NAME")]
        for candidate in candidates:
            if candidate is None:
                continue
            try:
                check(candidate)
            except ExperimentError as err:
                MALFORMED[candidate.__name__] = str(err)
                if isinstance(getattr(candidate, "NAME", None), str):
                    _MALFORMED_NAMES[candidate.NAME] = candidate.__name__
                continue
            found[candidate.NAME] = candidate.__name__
    return dict(sorted(found.items()))


#: Experiment modules that failed to import: module path -> one-line reason (shown by `pgjax list`).
BROKEN: dict[str, str] = {}

#: Experiment modules that break the contract: module path -> the one-line ExperimentError message (shown by
#: `pgjax list`, raised by :func:`load`).
MALFORMED: dict[str, str] = {}
_MALFORMED_NAMES: dict[str, str] = {}  # NAME -> module path, for the modules in MALFORMED that have one


def _try_import(path: str) -> ModuleType | None:
    """Imports one module; a broken experiment must not take the others down with it."""
    try:
        return importlib.import_module(path)
    except Exception as err:
        BROKEN[path] = f"{type(err).__name__}: {err}".splitlines()[0]
        return None


def load(name: str) -> ExperimentModule:
    """Imports the experiment module called ``name``: PgjaxError if no experiment has that name,
    ExperimentError (naming the module and the problem) if its module breaks the contract."""
    found = discover()
    if name not in found:
        if name in _MALFORMED_NAMES:
            raise ExperimentError(MALFORMED[_MALFORMED_NAMES[name]])
        known = ", ".join(found) or "none registered (is pgjax installed with `pip install -e .`?)"
        raise PgjaxError(f"unknown experiment {name!r}; known: {known}")
    return importlib.import_module(found[name])


def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value

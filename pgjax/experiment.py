"""Glue between a sweep and its saved outputs, and discovery of experiments.

An experiment is a module (registered under the ``pgjax.experiments`` entry-point group, so pgjax never
imports ``experiments/`` itself) that defines

- ``NAME`` (str) and ``Config``: a frozen dataclass whose fields, with their docstrings, become CLI flags;
- ``run(config, *, progress=None) -> ExperimentResult``: validates the config (raising
  :class:`pgjax.ConfigError` early), computes, and returns the result without writing anything.

:func:`save` then writes the table, the raw estimates, the manifest and the figures, replacing the results
folder as a whole.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import sys
import time
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import numpy as np
import pandas as pd

from pgjax import plots, results, stats
from pgjax.engine import MAX_COUNT, Sweep
from pgjax.errors import ConfigError, PgjaxError

ENTRY_POINT_GROUP = "pgjax.experiments"


@dataclasses.dataclass
class ExperimentResult:
    """What an experiment's ``run`` returns.

    Attributes:
      experiment: the experiment's name.
      config: its config dataclass.
      problem: a one-line description of the problem.
      table: the tidy statistics table (see :data:`pgjax.stats.COLUMNS`, plus ``experiment`` and ``problem``).
      sweep: the raw per-seed estimates.
      info: extra facts for the manifest (timings, seed scheme, ...).
    """

    experiment: str
    config: Any
    problem: str
    table: pd.DataFrame
    sweep: Sweep
    info: dict


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
        chunk_size=min(config.chunk_size, config.n_seeds),
        progress=progress,
        **(execution or {}),
    )


def exact_variances(estimators: Mapping[str, Any], problem, params) -> dict[str, np.ndarray]:
    """Exact single-sample variances (P,) of the i.i.d. estimators that can compute theirs."""
    out = {}
    if not getattr(problem, "iid_samples", True):  # e.g. antithetic pairs: (single-sample var) / n is wrong
        return out
    for name, estimator in estimators.items():
        if getattr(estimator, "iid", False):
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
) -> pd.DataFrame:
    """The statistics table of a sweep, with ``experiment`` and ``problem`` columns first."""
    table = stats.summarise(
        sweep.estimates,
        sweep.param_names,
        sweep.true_grad,
        reference=reference,
        exact_single_sample_var=exact_single_sample_var,
    )
    table.insert(0, "problem", problem_name)
    table.insert(0, "experiment", experiment)
    return table


def manifest(result: ExperimentResult, argv: list[str] | None = None) -> dict:
    """The manifest: config, command line, environment, seed scheme and timings."""
    sweep = result.sweep
    return {
        "schema": results.SCHEMA,
        "experiment": result.experiment,
        "problem": result.problem,
        "config": _jsonable(dataclasses.asdict(result.config)),
        "command": list(sys.argv if argv is None else argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": results.environment_info(),
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


def save(
    result: ExperimentResult, out_dir: str | Path, *, argv: list[str] | None = None, overwrite: bool | None = None
) -> Path:
    """Writes table (parquet/csv/md/tex), raw.npz, manifest.json and figures into ``out_dir``, replacing it.

    Everything is first written to a staging folder, which then replaces ``out_dir`` as a whole in one step
    (:func:`pgjax.results.staged_output`), so a failure or Ctrl-C leaves earlier results untouched and no
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
    with results.staged_output(out_dir, overwrite=overwrite) as stage:
        results.write_table(result.table, stage)
        results.write_raw(stage, result.sweep.estimates, result.sweep.param_names, result.sweep.true_grad)
        results.write_manifest(stage, manifest(result, argv))
        draw(stage)
    return out_dir


def discover() -> dict[str, str]:
    """Experiment name -> module path.

    Each ``pgjax.experiments`` entry point names either one experiment module or a package whose
    submodules are experiments (this repository registers its ``experiments`` package, so adding an
    experiment is adding a file). An experiment module defines ``NAME``, ``Config`` and ``run``.
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
        for candidate in candidates:
            if candidate is not None and all(hasattr(candidate, a) for a in ("NAME", "Config", "run")):
                found[candidate.NAME] = candidate.__name__
    return dict(sorted(found.items()))


#: Experiment modules that failed to import: module path -> one-line reason (shown by `pgjax list`).
BROKEN: dict[str, str] = {}


def _try_import(path: str) -> ModuleType | None:
    """Imports one module; a broken experiment must not take the others down with it."""
    try:
        return importlib.import_module(path)
    except Exception as err:
        BROKEN[path] = f"{type(err).__name__}: {err}".splitlines()[0]
        return None


def load(name: str) -> ModuleType:
    """Imports the experiment module called ``name``."""
    found = discover()
    if name not in found:
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

"""Resumable runs: every finished cell (estimator x sample size x problem setting) is its own file.

Two hashes keep a resumed run from ever mixing numbers of two configs.

* The run: :func:`run_context` holds everything a run's numbers depend on, taken whole rather than listed
  field by field, so that it cannot miss one: the experiment, every field of its config (the problem and
  estimator parameters, the seed, the sample sizes, ...), the float width (``jax_enable_x64``), the backend
  and device kind, and the pgjax, jax and jaxlib versions. A :class:`CellStore` keeps its files in the
  subfolder ``cells/<hash of the run>/``, so a run with any other input never sees them; whatever writes
  into ``store.folder`` (the sweep engine's cells, the training checkpoints) is separated the same way.
* The cell: :func:`cell_identity`, the file name inside that folder, hashes the cell's own facts (the
  problem, the parameter values, the estimator, n, the number of seeds, the base seed), and the file
  repeats the identity, which a load checks.

Execution flags (``--devices``, ``--max-memory``, ``--out``, the multi-host flags) are not part of the
run: they never change a seed's estimate. Every config field is, even ``--chunk-size``: resume with the
same command.

Files are written atomically (temporary file, flush, fsync, rename), so a reader sees a whole cell or none,
even when the writer is killed with SIGKILL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import io
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from pgjax.errors import ConfigError, PgjaxError
from pgjax.estimators.base import Estimator
from pgjax.io import RUN_MARKER, ResultsError, atomic_write_bytes, atomic_write_text
from pgjax.problems.base import Params, Problem
from pgjax.tree_util import ravel

CELL_SCHEMA = "pgjax.cell/1"
RUN_SCHEMA = "pgjax.run/1"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_context(experiment: str, config: Any) -> dict[str, Any]:
    """Everything outside a cell that determines its numbers, as a JSON-able dict (see the module docstring).

    ``config`` is the experiment's config dataclass: every one of its fields is included, by ``repr`` (exact
    for floats), so a field added later is covered without anyone remembering to add it here.
    """
    import pgjax

    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config must be a dataclass instance (got {type(config).__name__})")
    devices = jax.devices()
    return {
        "schema": RUN_SCHEMA,
        "experiment": experiment,
        "config_class": f"{type(config).__module__}.{type(config).__qualname__}",
        "config": {f.name: repr(getattr(config, f.name)) for f in dataclasses.fields(config)},
        "x64": bool(jax.config.jax_enable_x64),
        "backend": jax.default_backend(),
        "device_kind": str(devices[0].device_kind) if devices else None,
        "versions": {"pgjax": pgjax.__version__, "jax": jax.__version__, "jaxlib": _version("jaxlib")},
    }


def cell_identity(
    *,
    problem: Problem,
    params: Params,
    estimator: Estimator,
    n: int,
    n_seeds: int,
    seed: int,
    micro_batch_elements: int | None = None,
) -> dict[str, Any]:
    """The facts of one cell that determine its numbers, as a JSON-able dict."""
    import pgjax

    flat = np.asarray(ravel(params))
    identity = {
        "schema": CELL_SCHEMA,
        "problem": repr(problem),
        "params": flat.tobytes().hex(),
        "params_dtype": str(flat.dtype),
        "estimator": repr(estimator),
        "n": int(n),
        "n_seeds": int(n_seeds),
        "seed": int(seed),
        "pgjax": pgjax.__version__,
        "jax": jax.__version__,
    }
    if micro_batch_elements is not None:  # the vmapped batch shape can move the last bit of an estimate
        identity["micro_batch_elements"] = int(micro_batch_elements)
    return identity


def check_shard_sweep(store: Any, n_seeds: int) -> None:
    """ConfigError naming --seed-range when a shard's store is used by a sweep (or training) of another number
    of seeds than the run's R (a reference sweep of its own size): such an experiment cannot be sharded."""
    total = getattr(store, "shard_of", None)
    if total is not None and int(n_seeds) != int(total):
        raise ConfigError(
            "seed_range",
            f"this experiment also runs {n_seeds} seeds besides its {total}; only experiments whose every sweep "
            f"runs the config's seeds can be sharded",
        )


def seed_bounds(seed_range: tuple[int, int] | None, n_seeds: int) -> tuple[int, int]:
    """``(start, stop)`` of the global seeds a sweep or training call computes: all ``n_seeds``, or a shard's
    ``seed_range``; ConfigError naming --seed-range unless 0 <= start < stop <= n_seeds."""
    lo, hi = (0, int(n_seeds)) if seed_range is None else (int(seed_range[0]), int(seed_range[1]))
    if not 0 <= lo < hi <= n_seeds:
        raise ConfigError("seed_range", f"must be START:STOP with 0 <= START < STOP <= {n_seeds} (got {lo}:{hi})")
    return lo, hi


def cell_rows(identity: Mapping[str, Any]) -> int:
    """The number of seeds (rows) of a cell: ``stop - start`` of a shard's ``"seeds"``, else ``n_seeds``."""
    seeds = identity.get("seeds")
    return int(seeds[1] - seeds[0]) if seeds else int(identity["n_seeds"])


def cell_key(identity: Mapping[str, Any]) -> str:
    """A short stable hash of a cell's (or a run's) identity."""
    blob = json.dumps(identity, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


class CellStore:
    """The finished cells of one run.

    Args:
      root: the resume store of a results folder, ``OUT/cells`` (created on the first save).
      resume: when False, :meth:`load` always misses (every cell is recomputed, and saved again).
      context: the run's :func:`run_context`; the cells live in ``root/<its hash>/`` (:attr:`folder`).
        None keeps them in ``root`` itself (for code that builds a store by hand).
      seed_range: ``(start, stop)`` for the store of one shard of a run (``pgjax run --seed-range``): every cell
        it saves must hold exactly those seeds (its identity's ``"seeds"``), so an experiment that computes
        all seeds despite the shard fails loudly instead of writing a shard that is not one.
      shard_of: the run's number of seeds R that ``seed_range`` is a shard of (see :func:`check_shard_sweep`).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        resume: bool = False,
        context: Mapping[str, Any] | None = None,
        seed_range: tuple[int, int] | None = None,
        shard_of: int | None = None,
    ):
        self.root = Path(root)
        self.resume = resume
        self.seed_range = None if seed_range is None else (int(seed_range[0]), int(seed_range[1]))
        self.shard_of = shard_of
        self.context = dict(context) if context is not None else None
        self.run_key = cell_key(self.context)[:16] if self.context is not None else None
        self.folder = self.root / self.run_key if self.run_key else self.root
        self.loaded: list[str] = []
        self.saved: list[str] = []

    def _stored_identity(self, identity: Mapping[str, Any]) -> dict[str, Any]:
        return {**identity, "run": self.run_key} if self.run_key else dict(identity)

    def path(self, identity: Mapping[str, Any]) -> Path:
        return self.folder / f"{cell_key(self._stored_identity(identity))}.npz"

    def load(self, identity: Mapping[str, Any]) -> np.ndarray | None:
        """The cell's (R, P) estimates if it was finished before (and resuming), else None.

        Raises:
          ResultsError: the file exists but is unreadable or belongs to another cell.
        """
        if not self.resume:
            return None
        path = self.path(identity)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["identity"]))
                estimates = np.array(data["estimates"])
        except Exception as err:  # zip, json and key errors all mean the same to the user
            raise ResultsError(f"{path}: unreadable cell file ({type(err).__name__}); delete it to recompute") from None
        if meta != self._stored_identity(identity) or estimates.ndim != 2 or estimates.shape[0] != cell_rows(identity):
            raise ResultsError(f"{path}: cell file does not match its name; delete it to recompute")
        self.loaded.append(path.name)
        return estimates

    def prepare(self) -> Path:
        """Creates :attr:`folder` with its ``run.json`` (the run context, which names the experiment)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        marker = self.folder / RUN_MARKER
        if self.context is not None and not marker.exists():
            atomic_write_text(marker, json.dumps(self.context, indent=2, sort_keys=True) + "\n")
        return self.folder

    def save(self, identity: Mapping[str, Any], estimates: np.ndarray) -> Path:
        """Writes one finished cell atomically.

        Raises:
          PgjaxError: in a shard's store, for a cell that does not hold exactly the shard's seeds.
        """
        if self.seed_range is not None and identity.get("seeds") != list(self.seed_range):
            raise PgjaxError(
                f"--seed-range: this experiment computed a cell of seeds {identity.get('seeds') or 'all'} in the shard "
                f"of seeds {self.seed_range[0]}:{self.seed_range[1]}; it does not pass seed_range to the engine, "
                f"so it cannot be sharded"
            )
        self.prepare()
        buffer = io.BytesIO()
        stored = self._stored_identity(identity)
        np.savez(buffer, estimates=np.asarray(estimates), identity=np.array(json.dumps(stored, sort_keys=True)))
        path = self.path(identity)
        atomic_write_bytes(path, buffer.getvalue())
        self.saved.append(path.name)
        return path

    def prune(self) -> list[Path]:
        """Removes what this run neither loaded nor saved: the cell files of other runs (configs) and the
        cells of this run that it did not use; returns them."""
        keep = set(self.loaded) | set(self.saved)
        removed = []
        if self.run_key and self.root.is_dir():
            for entry in self.root.iterdir():
                if entry == self.folder:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                    removed.append(entry)
                elif entry.suffix == ".npz":  # a cell of the flat layout of earlier versions
                    entry.unlink()
                    removed.append(entry)
        if self.folder.is_dir():
            for path in self.folder.glob("*.npz"):
                if path.name not in keep:
                    path.unlink()
                    removed.append(path)
        return removed

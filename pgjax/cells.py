"""Resumable sweeps: every finished cell (estimator x sample size x problem setting) is its own file.

A cell's file name is a hash of everything that determines its numbers: the schema version, the problem
(a frozen dataclass, so its repr is its full config), the parameter values, the estimator, n, the number of
seeds, the base seed, and the pgjax and jax versions. The chunk size, the number of devices and processes
are deliberately not in it: they never change a seed's estimate. A changed config therefore gets new names
and can never silently reuse old cells.

Files are written atomically (temporary file, flush, fsync, rename), so a reader sees a whole cell or none,
even when the writer is killed with SIGKILL.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from pgjax.results import ResultsError, atomic_write_bytes
from pgjax.tree_util import ravel

CELL_SCHEMA = "pgjax.cell/1"


def cell_identity(*, problem, params, estimator, n: int, n_seeds: int, seed: int) -> dict[str, Any]:
    """The facts that determine a cell's numbers, as a JSON-able dict."""
    import pgjax

    flat = np.asarray(ravel(params))
    return {
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


def cell_key(identity: dict[str, Any]) -> str:
    """A short stable hash of a cell's identity."""
    blob = json.dumps(identity, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


class CellStore:
    """A folder of finished cells.

    Args:
      folder: where the cell files live (created on the first save).
      resume: when False, :meth:`load` always misses (every cell is recomputed, and saved again).
    """

    def __init__(self, folder: str | os.PathLike[str], *, resume: bool = False):
        self.folder = Path(folder)
        self.resume = resume
        self.loaded: list[str] = []
        self.saved: list[str] = []

    def path(self, identity: dict[str, Any]) -> Path:
        return self.folder / f"{cell_key(identity)}.npz"

    def load(self, identity: dict[str, Any]) -> np.ndarray | None:
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
        if meta != identity or estimates.ndim != 2 or estimates.shape[0] != identity["n_seeds"]:
            raise ResultsError(f"{path}: cell file does not match its name; delete it to recompute")
        self.loaded.append(path.name)
        return estimates

    def save(self, identity: dict[str, Any], estimates: np.ndarray) -> Path:
        """Writes one finished cell atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, estimates=np.asarray(estimates), identity=np.array(json.dumps(identity, sort_keys=True)))
        path = self.path(identity)
        atomic_write_bytes(path, buffer.getvalue())
        self.saved.append(path.name)
        return path

    def prune(self) -> list[Path]:
        """Removes cell files that this run neither loaded nor saved (stale configs); returns them."""
        keep = set(self.loaded) | set(self.saved)
        removed = []
        if self.folder.is_dir():
            for path in self.folder.glob("*.npz"):
                if path.name not in keep:
                    path.unlink()
                    removed.append(path)
        return removed

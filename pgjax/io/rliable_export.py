"""Training results in the layout rliable expects: per-algorithm score matrices of runs x tasks.

rliable (Agarwal, Schwarzer, Castro, Courville and Bellemare 2021, "Deep Reinforcement Learning at the Edge of
the Statistical Precipice") takes a dict ``{algorithm: scores}`` with ``scores`` of shape (runs, tasks) for its
aggregate metrics (``rliable.library.get_interval_estimates`` with ``rliable.metrics.aggregate_iqm``, ...), and
of shape (runs, tasks, points) for sample-efficiency curves. A training experiment of pgjax
(``cartpole-reinforce``, ``pendulum-gaussian``, ``pong-pixels``, ``pgjax.experiments.training_runs``) is one
task: its ``raw.npz`` holds, per variant (an estimator, with ``@lr=`` when several learning rates were trained),
``<variant>/return`` of shape (seeds, blocks), the mean return of each seed's batches in each metrics block,
and ``updates`` (blocks,). So, for the folders F_1 .. F_K (the tasks, named by their manifest's ``env``):

    final[a][r, k]     = return of seed r of variant a in the LAST block of F_k  (what the folder's table ranks),
    curves[a][r, k, b] = return of seed r of variant a in block b of F_k,

for the variants a present in every folder (rliable needs every algorithm on every task), in the first
folder's order. Scores are the raw returns: rliable aggregates across tasks without normalising, so tasks
with different return scales should be normalised first (e.g. by a random and a reference score per task).

The npz file (:func:`write_rliable`) holds ``tasks`` and ``algorithms`` (string arrays), ``final/<algorithm>``
(runs, tasks) and, when every folder has the same ``updates``, ``updates`` and ``curves/<algorithm>``
(runs, tasks, blocks). Load it with :func:`read_rliable` or ``numpy.load``.

rliable 1.2.0 imports ``arch``, and arch 7.2.0 fails to import with pandas 3 (``TypeError: deprecate_kwarg()
missing 1 required positional argument: 'new_arg_name'``), so rliable needs ``pandas<3``: the extra
``pip install 'pgjax[rliable]'`` pins it (pgjax itself works with pandas 2.2 and 3).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pgjax.io.atomic import atomic_write_bytes
from pgjax.io.manifest import read_manifest
from pgjax.io.schema import RAW_FILE, ResultsError

RETURN = "return"


@dataclasses.dataclass(frozen=True)
class RliableScores:
    """Score matrices for rliable (module docstring).

    Attributes:
      tasks: task names, one per folder (the column axis of every matrix).
      algorithms: the variants present in every folder.
      final: algorithm -> (runs, tasks) final returns.
      curves: algorithm -> (runs, tasks, blocks) returns per metrics block, or None when the folders' update
        counts differ.
      updates: (blocks,) the number of updates at the end of each block, or None with ``curves``.
    """

    tasks: tuple[str, ...]
    algorithms: tuple[str, ...]
    final: dict[str, np.ndarray]
    curves: dict[str, np.ndarray] | None
    updates: np.ndarray | None


def _task(folder: Path) -> tuple[str, dict[str, np.ndarray], np.ndarray]:
    """(task name, variant -> (seeds, blocks) returns, updates) of one training results folder."""
    manifest = read_manifest(folder)
    path = folder / RAW_FILE
    try:
        with np.load(path, allow_pickle=False) as data:
            raw = {key: np.asarray(data[key]) for key in data.files}
    except (OSError, ValueError) as err:
        raise ResultsError(f"{path}: unreadable ({type(err).__name__})") from None
    returns = {key[: -len(RETURN) - 1]: value for key, value in raw.items() if key.endswith("/" + RETURN)}
    if not returns or "updates" not in raw:
        raise ResultsError(f"{path}: no per-seed training returns (not a training experiment's folder)")
    task = str(manifest.get("config", {}).get("env") or manifest.get("experiment"))
    return task, returns, raw["updates"]


def rliable_scores(folders: Sequence[str | Path], tasks: Sequence[str] | None = None) -> RliableScores:
    """The score matrices of training results folders, one task per folder (module docstring).

    Args:
      folders: results folders written by a training experiment.
      tasks: names for the tasks (default: each manifest's ``env``); they must be distinct.

    Raises:
      ResultsError: a folder that is not a training experiment's, two tasks of one name, no variant common to
        all folders, or folders with different numbers of seeds (a matrix needs one runs axis).
    """
    folders = [Path(f) for f in folders]
    if not folders:
        raise ResultsError("no results folder given")
    found = [_task(folder) for folder in folders]
    names = list(tasks) if tasks is not None else [task for task, _, _ in found]
    if len(names) != len(folders):
        raise ResultsError(f"{len(names)} task names for {len(folders)} folders")
    if len(set(names)) != len(names):
        raise ResultsError(f"two folders are the same task {names}: name the tasks")
    algorithms = [a for a in found[0][1] if all(a in returns for _, returns, _ in found)]
    if not algorithms:
        raise ResultsError("no variant is in every folder; rliable needs every algorithm on every task")
    seeds = {folder: returns[algorithms[0]].shape[0] for folder, (_, returns, _) in zip(folders, found)}
    if len(set(seeds.values())) != 1:
        raise ResultsError(f"the folders have different numbers of seeds: {seeds}")
    final = {a: np.stack([returns[a][:, -1] for _, returns, _ in found], axis=1).astype(np.float64) for a in algorithms}
    same_updates = all(np.array_equal(found[0][2], updates) for _, _, updates in found)
    curves = (
        {a: np.stack([returns[a] for _, returns, _ in found], axis=1).astype(np.float64) for a in algorithms}
        if same_updates
        else None
    )
    return RliableScores(
        tasks=tuple(names),
        algorithms=tuple(algorithms),
        final=final,
        curves=curves,
        updates=np.asarray(found[0][2]) if same_updates else None,
    )


def write_rliable(path: str | Path, scores: RliableScores) -> Path:
    """Writes ``scores`` as one npz file (atomically); see the module docstring for its keys."""
    arrays = {"tasks": np.asarray(scores.tasks, dtype=str), "algorithms": np.asarray(scores.algorithms, dtype=str)}
    arrays.update({f"final/{a}": m for a, m in scores.final.items()})
    if scores.curves is not None:
        arrays["updates"] = np.asarray(scores.updates)
        arrays.update({f"curves/{a}": m for a, m in scores.curves.items()})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_rliable(path: str | Path) -> RliableScores:
    """The :class:`RliableScores` of a file written by :func:`write_rliable`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            algorithms = tuple(str(a) for a in data["algorithms"])
            final = {a: np.asarray(data[f"final/{a}"]) for a in algorithms}
            has_curves = "updates" in data.files
            curves = {a: np.asarray(data[f"curves/{a}"]) for a in algorithms} if has_curves else None
            return RliableScores(
                tasks=tuple(str(t) for t in data["tasks"]),
                algorithms=algorithms,
                final=final,
                curves=curves,
                updates=np.asarray(data["updates"]) if has_curves else None,
            )
    except (OSError, KeyError, ValueError) as err:
        raise ResultsError(f"{path}: not an rliable score file ({type(err).__name__})") from None


__all__ = ["RliableScores", "read_rliable", "rliable_scores", "write_rliable"]

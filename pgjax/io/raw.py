"""``raw.npz``: the raw per-seed estimates of a run, written and read back.

A single sweep stores one (R, P) array per (estimator, n) under ``f"{estimator}|{n}"`` with ``param_names``
and ``true_grad`` (:func:`write_raw`, :func:`read_raw`). A sweep over named axes (:mod:`pgjax.engine.grid`) stores
every (setting, estimator, n) cell stacked in one ``estimates`` array, with its axis values, estimator, n
and true gradient as arrays beside it (:func:`write_raw_grid`, :func:`read_raw_grid`, :class:`RawGrid`), so
no setting is ever packed into a name. Each reader refuses the other's file with a one-line
:class:`~pgjax.io.schema.ResultsError` that says which reader to use.
"""

from __future__ import annotations

import dataclasses
import io
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pgjax.io.atomic import atomic_write_bytes
from pgjax.io.schema import RAW_FILE, ResultsError, _is_missing

_RAW_META_KEYS = ("param_names", "true_grad")
_GRID_AXES = "grid_axes"
_GRID_KEYS = ("param_names", _GRID_AXES, "estimator", "n", "true_grads", "estimates")


def _load_raw(folder: str | os.PathLike[str]) -> tuple[Path, dict[str, np.ndarray]]:
    path = Path(folder) / RAW_FILE
    if not path.is_file():
        raise ResultsError(f"{path}: no raw estimates (file not found)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return path, {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise ResultsError(f"{path}: unreadable raw estimates ({err})") from err


@dataclasses.dataclass(frozen=True)
class RawGrid:
    """The raw estimates of a grid sweep, as :func:`read_raw_grid` returns them.

    Attributes:
      axes: the axis names, in order.
      index: one row per cell: a column per axis (None or NaN where the cell's estimator depends on no axis,
        the grid's shared setting), ``estimator`` and ``n``.
      estimates: (C, R, P), ``estimates[c]`` the per-seed estimates of cell c (row r is seed r).
      param_names: the P parameter names.
      true_grads: (C, P) float64, the true gradient of each cell's setting.
    """

    axes: list[str]
    index: pd.DataFrame
    estimates: np.ndarray
    param_names: list[str]
    true_grads: np.ndarray

    def cell(self, estimator: str, n: int, **values: Any) -> np.ndarray:
        """The (R, P) estimates of one cell, by estimator, n and axis values (omit the axes of a shared cell)."""
        mask = (self.index["estimator"] == estimator) & (self.index["n"] == int(n))
        for axis in self.axes:
            column = self.index[axis]
            mask &= column.isna() if axis not in values else (column == values[axis])
        found = np.flatnonzero(mask.to_numpy())
        if len(found) != 1:
            raise KeyError(f"no single cell {estimator!r}, n = {n}, {values} (found {len(found)})")
        return self.estimates[found[0]]


def write_raw_grid(
    folder: str | os.PathLike[str],
    axes: Sequence[str],
    index: pd.DataFrame,
    estimates: np.ndarray,
    param_names: Sequence[str],
    true_grads: Any,
) -> Path:
    """Write the raw estimates of a grid sweep to ``<folder>/raw.npz`` (atomically), axis values as data.

    The file holds ``param_names`` (P,), ``grid_axes`` (the axis names), per cell ``estimator`` (C,),
    ``n`` (C,), ``true_grads`` (C, P) float64 and ``estimates`` (C, R, P) as given (normally float32), and per
    axis ``axis/<name>`` (C,) (strings, int64, float64 or bool) with ``present/<name>`` (C,) bool, False where
    the cell's estimator depends on no axis (its value there is a placeholder).

    Args:
      folder: destination folder (must exist).
      axes: the axis names, in order; each a column of ``index``.
      index: one row per cell: the axis columns (None/NaN = no value), ``estimator`` and ``n``.
      estimates: (C, R, P).
      param_names: the P parameter names.
      true_grads: (C, P).

    Returns:
      The path written.

    Raises:
      ValueError: shapes disagree, a column is missing, or an axis mixes strings and numbers.
    """
    names = np.asarray([str(p) for p in param_names], dtype=str)
    estimates = np.asarray(estimates)
    cells = len(index)
    if estimates.ndim != 3 or estimates.shape[0] != cells or estimates.shape[2] != names.shape[0]:
        raise ValueError(f"estimates has shape {estimates.shape}, expected ({cells}, R, {names.shape[0]})")
    grads = np.asarray(true_grads, dtype=np.float64)
    if grads.shape != (cells, names.shape[0]):
        raise ValueError(f"true_grads has shape {grads.shape}, expected ({cells}, {names.shape[0]})")
    missing = [c for c in (*axes, "estimator", "n") if c not in index.columns]
    if missing:
        raise ValueError(f"the cell index lacks the columns {missing}")
    arrays: dict[str, np.ndarray] = {
        "param_names": names,
        _GRID_AXES: np.asarray([str(a) for a in axes], dtype=str).reshape(len(axes)),
        "estimator": np.asarray([str(e) for e in index["estimator"]], dtype=str).reshape(cells),
        "n": np.asarray(index["n"], dtype=np.int64),
        "true_grads": grads,
        "estimates": estimates,
    }
    for axis in axes:
        values = list(index[axis])
        present = np.array([not _is_missing(v) for v in values], dtype=bool)
        given = [v for v, p in zip(values, present) if p]
        if all(isinstance(v, (bool, np.bool_)) for v in given):
            column = np.array([bool(v) if p else False for v, p in zip(values, present)], dtype=bool)
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in given):
            column = np.array([int(v) if p else 0 for v, p in zip(values, present)], dtype=np.int64)
        elif all(isinstance(v, (int, float, np.integer, np.floating)) for v in given):
            column = np.array([float(v) if p else np.nan for v, p in zip(values, present)], dtype=np.float64)
        elif all(isinstance(v, str) for v in given):
            column = np.array([v if p else "" for v, p in zip(values, present)], dtype=str).reshape(cells)
        else:
            raise ValueError(f"axis {axis!r} mixes kinds of values: {sorted({type(v).__name__ for v in given})}")
        arrays[f"axis/{axis}"] = column
        arrays[f"present/{axis}"] = present
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return atomic_write_bytes(Path(folder) / RAW_FILE, buffer.getvalue())


def read_raw_grid(folder: str | os.PathLike[str]) -> RawGrid:
    """Read ``<folder>/raw.npz`` written by :func:`write_raw_grid`.

    Raises:
      ResultsError: the file is missing, corrupt, not a pgjax raw file, or the raw file of a single sweep.
    """
    path, contents = _load_raw(folder)
    if _GRID_AXES not in contents:
        raise ResultsError(f"{path}: raw estimates of a single sweep, not of a grid; read them with read_raw")
    lacking = [k for k in _GRID_KEYS if k not in contents]
    axes = [str(a) for a in contents[_GRID_AXES].tolist()]
    lacking += [f"{kind}/{a}" for a in axes for kind in ("axis", "present") if f"{kind}/{a}" not in contents]
    if lacking:
        raise ResultsError(f"{path}: not a pgjax grid raw file (missing {', '.join(lacking)})")
    param_names = [str(p) for p in contents["param_names"].tolist()]
    estimates, grads = contents["estimates"], contents["true_grads"]
    cells = contents["estimator"].shape[0]
    if estimates.ndim != 3 or estimates.shape[0] != cells or estimates.shape[2] != len(param_names):
        raise ResultsError(f"{path}: corrupt grid raw file (estimates has shape {estimates.shape})")
    if grads.shape != (cells, len(param_names)) or contents["n"].shape != (cells,):
        raise ResultsError(f"{path}: corrupt grid raw file (true_grads or n do not match the cells)")
    index = {}
    for axis in axes:
        column, present = contents[f"axis/{axis}"], contents[f"present/{axis}"].astype(bool)
        if column.shape != (cells,) or present.shape != (cells,):
            raise ResultsError(f"{path}: corrupt grid raw file (axis {axis!r} does not match the cells)")
        series = pd.Series(column.tolist())
        index[axis] = series if present.all() else series.where(present, None if column.dtype.kind == "U" else np.nan)
    index["estimator"] = [str(e) for e in contents["estimator"].tolist()]
    index["n"] = contents["n"].astype(np.int64)
    return RawGrid(
        axes=axes,
        index=pd.DataFrame(index, columns=[*axes, "estimator", "n"]),
        estimates=estimates,
        param_names=param_names,
        true_grads=grads.astype(np.float64, copy=False),
    )


def write_raw(
    folder: str | os.PathLike[str],
    estimates: Mapping[str, Mapping[int, np.ndarray]],
    param_names: Sequence[str],
    true_grad: Any,
) -> Path:
    """Write raw per-seed estimates to ``<folder>/raw.npz`` (atomically).

    Args:
      folder: destination folder (must exist).
      estimates: ``estimates[estimator][n]`` is an array of shape ``(R, P)``,
        row r the estimate of seed r (normally float32). Stored as given,
        under the key ``f"{estimator}|{n}"``.
      param_names: the ``P`` parameter names, in column order.
      true_grad: the exact gradient, shape ``(P,)``, stored as float64.

    Returns:
      The path written.

    Raises:
      ValueError: shapes disagree, or an estimator name is empty.
    """
    names = np.asarray([str(p) for p in param_names], dtype=str)
    n_params = names.shape[0]
    grad = np.asarray(true_grad, dtype=np.float64).reshape(-1)
    if grad.shape != (n_params,):
        raise ValueError(f"true_grad has shape {grad.shape}, expected ({n_params},) to match param_names")
    arrays: dict[str, np.ndarray] = {"param_names": names, "true_grad": grad}
    for estimator, by_n in estimates.items():
        if not estimator or not isinstance(estimator, str):
            raise ValueError(f"estimator name must be a non-empty string, got {estimator!r}")
        for n, values in by_n.items():
            arr = np.asarray(values)
            if arr.ndim != 2 or arr.shape[1] != n_params:
                raise ValueError(f"estimates[{estimator!r}][{n}] has shape {arr.shape}, expected (R, {n_params})")
            arrays[f"{estimator}|{int(n)}"] = arr
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return atomic_write_bytes(Path(folder) / RAW_FILE, buffer.getvalue())


def read_raw(
    folder: str | os.PathLike[str],
) -> tuple[dict[str, dict[int, np.ndarray]], list[str], np.ndarray]:
    """Read ``<folder>/raw.npz`` written by :func:`write_raw`.

    Returns:
      ``(estimates, param_names, true_grad)``: ``estimates[estimator][n]`` of
      shape ``(R, P)`` with the stored dtype (estimators in file order, n
      ascending), the ``P`` parameter names, and ``true_grad`` float64 ``(P,)``.

    Raises:
      ResultsError: the file is missing, corrupt or not a pgjax raw file.
    """
    path, contents = _load_raw(folder)
    if _GRID_AXES in contents:
        axes = ", ".join(str(a) for a in contents[_GRID_AXES].tolist())
        raise ResultsError(f"{path}: raw estimates of a grid over the axes {axes}; read them with read_raw_grid")
    missing = [k for k in _RAW_META_KEYS if k not in contents]
    if missing:
        raise ResultsError(f"{path}: not a pgjax raw file (missing {', '.join(missing)})")
    names_arr = contents.pop("param_names")
    grad = contents.pop("true_grad")
    if names_arr.ndim != 1 or names_arr.dtype.kind != "U":
        raise ResultsError(f"{path}: not a pgjax raw file (bad param_names)")
    param_names = [str(p) for p in names_arr.tolist()]
    if grad.shape != (len(param_names),) or grad.dtype.kind != "f":
        raise ResultsError(f"{path}: not a pgjax raw file (bad true_grad)")
    estimates: dict[str, dict[int, np.ndarray]] = {}
    for key, arr in contents.items():
        estimator, sep, n_text = key.rpartition("|")
        try:
            n = int(n_text)
        except ValueError:
            n = None
        if not sep or not estimator or n is None:
            raise ResultsError(f"{path}: not a pgjax raw file (unexpected key {key!r})")
        if arr.ndim != 2 or arr.shape[1] != len(param_names):
            raise ResultsError(
                f"{path}: corrupt raw file ({key!r} has shape {arr.shape}, expected (R, {len(param_names)}))"
            )
        estimates.setdefault(estimator, {})[n] = arr
    estimates = {e: dict(sorted(by_n.items())) for e, by_n in estimates.items()}
    return estimates, param_names, grad.astype(np.float64, copy=False)

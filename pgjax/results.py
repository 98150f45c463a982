"""Result files of one experiment run: tidy tables, raw estimates, manifest.

A results folder ``<dir>/`` holds

* ``table.parquet``: the source of truth, a tidy long table with one row per
  (estimator, n, param) and the columns in :data:`TABLE_COLUMNS`;
* ``table.csv``, ``table.md``, ``table.tex``: the same table for people and papers;
* ``raw.npz``: the raw per-seed estimates, one ``(R, P)`` array per
  (estimator, n) under the key ``f"{estimator}|{n}"``, plus ``param_names`` and
  ``true_grad``; or, for a sweep over named axes (:mod:`pgjax.grid`), every
  (setting, estimator, n) cell stacked in one ``estimates`` array with its axis
  values, estimator, n and true gradient as arrays beside it
  (:func:`write_raw_grid`, :func:`read_raw_grid`);
* ``manifest.json``: config, command line, versions, device, timings; it always
  carries ``"schema": SCHEMA`` and ``"experiment"``;
* figures (written by :mod:`pgjax.plotting.variance`).

Every file is written atomically (temp file in the same folder, fsync,
``os.replace``), and a whole run is written through :func:`staged_output`, which
stages every file in a sibling folder and, only when everything succeeded,
replaces the results folder with it in one step (a rename, or an atomic
exchange of the two folders). So a folder holds either its earlier results or
the new ones, never a mix, and a failing run leaves no partial result file
behind. A folder that holds another experiment's results or files pgjax did
not write is refused (:func:`check_replaceable`) unless the caller overwrites.

Nothing here prints. Unreadable, corrupt or foreign files raise
:class:`ResultsError`, whose message names the file.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import dataclasses
import enum
import errno
import functools
import glob
import importlib.metadata
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pgjax.errors import PgjaxError
from pgjax.stats import COLUMNS as STATS_COLUMNS

__all__ = [
    "SCHEMA",
    "TABLE_COLUMNS",
    "STRING_COLUMNS",
    "INT_COLUMNS",
    "FLOAT_COLUMNS",
    "TABLE_FILE",
    "RAW_FILE",
    "MANIFEST_FILE",
    "ResultsError",
    "atomic_write_bytes",
    "atomic_write_text",
    "staged_output",
    "overwriting",
    "foreign_content",
    "check_replaceable",
    "remove_stale",
    "record_files",
    "check_writable",
    "normalize_table",
    "write_table",
    "render_markdown",
    "render_latex",
    "read_table",
    "write_raw",
    "read_raw",
    "write_raw_grid",
    "read_raw_grid",
    "RawGrid",
    "write_manifest",
    "read_manifest",
    "environment_info",
]

SCHEMA = "pgjax.results/1"
"""Schema tag stored in every ``manifest.json``."""

TABLE_FILE = "table.parquet"
RAW_FILE = "raw.npz"
MANIFEST_FILE = "manifest.json"

STRING_COLUMNS: tuple[str, ...] = ("experiment", "problem", "estimator", "param")
INT_COLUMNS: tuple[str, ...] = ("n", "n_seeds", "n_nonfinite")
FLOAT_COLUMNS: tuple[str, ...] = tuple(c for c in STATS_COLUMNS if c not in STRING_COLUMNS + INT_COLUMNS)
TABLE_COLUMNS: tuple[str, ...] = ("experiment", "problem", *STATS_COLUMNS)
"""Required columns of a results table, in their canonical order."""

_RAW_META_KEYS = ("param_names", "true_grad")
_SIG_FIGS = 4


class ResultsError(PgjaxError):
    """A result file is missing, unreadable, corrupt or not a pgjax result."""


# ---------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The current umask."""
    umask = None
    try:  # Linux: read the umask without touching process state.
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
                    break
    except (OSError, ValueError):
        umask = None
    if umask is None:
        umask = os.umask(0o022)
        os.umask(umask)
    return umask


def _file_mode() -> int:
    """Permission bits a plainly created file gets under the current umask."""
    return 0o666 & ~_umask()


def _dir_mode() -> int:
    """Permission bits a plainly created folder gets under the current umask."""
    return 0o777 & ~_umask()


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries to disk (best effort: not every OS allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically.

    The bytes go to a temp file ``<stem>.tmp-<random><suffix>`` in the same
    folder, which is flushed and fsynced, then renamed over ``path`` with
    :func:`os.replace`, and the folder is fsynced. Readers see either the old
    file or the new one, never a partial one. On any failure the temp file is
    removed and the exception propagates.

    Args:
      path: destination file; its folder must exist.
      data: the complete file contents.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    folder = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f"{path.stem}.tmp-", suffix=path.suffix, dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            try:
                os.fchmod(handle.fileno(), _file_mode())
            except (AttributeError, OSError):  # pragma: no cover - non-POSIX
                pass
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(folder)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`).

    Newlines are written as given (no platform translation).
    """
    return atomic_write_bytes(path, text.encode(encoding))


# ---------------------------------------------------------------------------
# Folders: staging, whole-folder replacement, ownership and write checks
# ---------------------------------------------------------------------------

#: The resume store's subfolder of a results folder, carried from the old folder into the new one.
CELLS_DIR = "cells"
#: The file in each of the resume store's run folders that names the experiment (see :mod:`pgjax.cells`).
RUN_MARKER = "run.json"
#: Suffixes of the files a manifest without a ``files`` list (written before pgjax recorded it) may own.
_LEGACY_SUFFIXES = frozenset({".parquet", ".csv", ".md", ".tex", ".npz", ".png", ".pdf", ".json"})

_OVERWRITE: contextvars.ContextVar[bool] = contextvars.ContextVar("pgjax_overwrite", default=False)


@contextlib.contextmanager
def overwriting(allowed: bool = True) -> Iterator[None]:
    """Within this block, :func:`staged_output` replaces folders it would otherwise refuse (``--overwrite``)."""
    token = _OVERWRITE.set(allowed)
    try:
        yield
    finally:
        _OVERWRITE.reset(token)


def _make_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and missing ancestors; return those created, outermost first."""
    missing: list[Path] = []
    current = folder
    while not current.exists() and not current.is_symlink():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    created: list[Path] = []
    try:
        for item in reversed(missing):
            item.mkdir()
            created.append(item)
    except BaseException:
        _remove_dirs(created)
        raise
    return created


def _remove_dirs(created: Sequence[Path]) -> None:
    """Remove folders made by :func:`_make_dirs`, innermost first, if empty."""
    for item in reversed(created):
        with contextlib.suppress(OSError):
            item.rmdir()


def _is_temporary(path: Path) -> bool:
    return ".tmp-" in path.name


def _files_under(folder: Path) -> list[str]:
    """Relative POSIX paths of the files under ``folder`` (temporaries left out), sorted."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if not p.is_dir() and not any(_is_temporary(Path(part)) for part in p.relative_to(folder).parts)
    )


def _manifest_experiment(folder: Path) -> str | None:
    """The experiment named by ``folder/manifest.json``, or None if there is no readable pgjax manifest."""
    try:
        return read_manifest(folder).get("experiment")
    except ResultsError:
        return None


def _foreign_cells(cells: Path, experiment: str | None, legacy_ok: bool) -> str | None:
    """Why the resume store ``cells`` is not this experiment's (None when it is)."""
    if cells.is_symlink() or not cells.is_dir():
        return f"holds files pgjax did not write ({CELLS_DIR})"
    for entry in sorted(cells.iterdir()):
        if _is_temporary(entry):
            continue
        if entry.is_dir() and not entry.is_symlink():
            marker = entry / RUN_MARKER
            if marker.is_file():
                try:
                    owner = json.loads(marker.read_text(encoding="utf-8")).get("experiment")
                except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                    return f"holds files pgjax did not write ({CELLS_DIR}/{entry.name}/{RUN_MARKER})"
                if owner != experiment:
                    return f"holds the unfinished run of experiment {owner!r} ({CELLS_DIR}/{entry.name})"
            strangers = [
                p
                for p in entry.iterdir()
                if not _is_temporary(p) and p.name != RUN_MARKER and not (p.is_file() and p.suffix == ".npz")
            ]
            if strangers:
                return f"holds files pgjax did not write ({CELLS_DIR}/{entry.name}/{strangers[0].name})"
        elif not (legacy_ok and entry.is_file() and entry.suffix == ".npz"):  # cells of the flat layout
            return f"holds files pgjax did not write ({CELLS_DIR}/{entry.name})"
    return None


def foreign_content(out_dir: str | os.PathLike[str], experiment: str | None) -> str | None:
    """Why ``out_dir`` must not be replaced by a run of ``experiment`` without ``--overwrite``; None if it may.

    A folder may be replaced when it does not exist, is empty, or holds only what runs of the same
    experiment wrote: a ``manifest.json`` naming ``experiment`` and the files it lists (its ``files``;
    a manifest written before that list existed owns files of the usual result suffixes), and the resume
    store ``cells/`` of that experiment. A folder with no manifest may hold only ``cells/`` (a run that was
    stopped before it finished). Temporaries (``*.tmp-*``) are ignored. ``experiment`` None (contents
    without a manifest) matches no results at all.
    """
    folder = Path(out_dir)
    if not folder.exists() and not folder.is_symlink():
        return None
    if not folder.is_dir():
        return "is not a folder"
    entries = [p for p in sorted(folder.iterdir()) if not _is_temporary(p)]
    if not entries:
        return None
    manifest = None
    if (folder / MANIFEST_FILE).exists():
        try:
            manifest = read_manifest(folder)
        except ResultsError:
            return f"holds files pgjax did not write ({MANIFEST_FILE} is not a pgjax manifest)"
        owner = manifest.get("experiment")
        if owner != experiment:
            return f"holds the results of experiment {owner!r}"
    listed = manifest.get("files") if manifest is not None else None
    listed = set(listed) if isinstance(listed, list) else None
    strangers: list[str] = []
    for entry in entries:
        if entry.name == CELLS_DIR:
            reason = _foreign_cells(entry, experiment, legacy_ok=manifest is not None)
            if reason:
                return reason
        elif manifest is None:
            strangers.append(entry.name)
        elif entry.name == MANIFEST_FILE:
            continue
        elif listed is not None:
            names = [entry.name] if entry.is_file() else [f"{entry.name}/{rel}" for rel in _files_under(entry)]
            strangers += [name for name in names if name not in listed] or ([] if names else [entry.name])
        elif not (entry.is_file() and entry.suffix in _LEGACY_SUFFIXES):
            strangers.append(entry.name)
    if strangers:
        shown = ", ".join(strangers[:3]) + (f" and {len(strangers) - 3} more" if len(strangers) > 3 else "")
        return f"holds files pgjax did not write ({shown})"
    return None


def check_replaceable(out_dir: str | os.PathLike[str], experiment: str | None) -> None:
    """ResultsError, one line, unless a run of ``experiment`` may replace ``out_dir`` (:func:`foreign_content`)."""
    reason = foreign_content(out_dir, experiment)
    if reason is not None:
        raise ResultsError(f"{out_dir} {reason}; choose another --out, or add --overwrite to replace it")


def record_files(folder: str | os.PathLike[str], paths: Sequence[str | os.PathLike[str]]) -> None:
    """Add files written into a results folder after its run (``pgjax plot``) to its manifest's ``files``, so
    that the next run of the experiment recognises them as its own. Does nothing without such a list."""
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        return
    folder_abs = Path(os.path.abspath(folder))
    names = {Path(os.path.abspath(p)).relative_to(folder_abs).as_posix() for p in paths}
    if names <= set(manifest["files"]):
        return
    manifest["files"] = sorted(set(manifest["files"]) | names)
    atomic_write_text(path, json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def _carry(source: Path, dest: Path) -> None:
    """Hard-link (or copy) the files under ``source`` into ``dest``, temporaries left out."""
    for rel in _files_under(source):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source / rel, target)
        except OSError:
            shutil.copy2(source / rel, target)
    for folder in sorted({dest, *(p for p in dest.rglob("*") if p.is_dir())}, key=lambda p: -len(p.parts)):
        _fsync_dir(folder)


def _carried(folder: Path, experiment: str | None, everything: bool) -> list[Path]:
    """What to carry of ``folder``: all of it, or (from a folder being overwritten) only the resume-store runs
    whose run.json names ``experiment``, the cells of the very run being saved."""
    if everything:
        return [folder]
    owned = []
    for entry in folder.iterdir():
        try:
            owner = json.loads((entry / RUN_MARKER).read_text(encoding="utf-8")).get("experiment")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            continue
        if owner is not None and owner == experiment and not entry.is_symlink():
            owned.append(entry)
    return owned


def _record_files(stage: Path, carried: Sequence[str]) -> None:
    """Add ``"files"`` (every staged file, the carried folders left out) to the staged manifest."""
    path = stage / MANIFEST_FILE
    if not path.is_file():
        return
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["files"] = [f for f in _files_under(stage) if f.split("/", 1)[0] not in carried]
    text = json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):  # kernel or file system lacks it
        return False
    raise OSError(err, os.strerror(err), str(b))


def _old_name(out_dir: Path) -> str:
    return f".{out_dir.name}.tmp-old-"


def _replace_folder(stage: Path, out_dir: Path) -> None:
    """Put the finished ``stage`` at ``out_dir``: one rename, or one atomic exchange when ``out_dir`` exists.

    Where the exchange is unavailable, the old folder is first renamed to ``.<name>.tmp-old-<random>``; if
    the process dies between the two renames, :func:`remove_stale` puts it back.
    """
    if not out_dir.exists():
        os.rename(stage, out_dir)
    elif _exchange(stage, out_dir):
        shutil.rmtree(stage, ignore_errors=True)  # holds the old folder now
    else:
        old = Path(tempfile.mkdtemp(prefix=_old_name(out_dir), dir=out_dir.parent))
        os.rename(out_dir, old / "x")  # into a fresh folder of its own: a rename onto a path never merges
        try:
            os.rename(stage, out_dir)
        except BaseException:
            if not out_dir.exists():
                os.rename(old / "x", out_dir)
            shutil.rmtree(old, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(out_dir.parent)


def remove_stale(out_dir: str | os.PathLike[str]) -> None:
    """Clean up after a run that was killed: put back an old folder that a replacement left aside (when the
    folder itself is missing), then delete the staging folders and the ``*.tmp-*`` files inside."""
    out_dir = Path(os.path.abspath(out_dir))
    if out_dir.is_symlink():
        out_dir = Path(os.path.realpath(out_dir))
    parent = out_dir.parent
    if not parent.is_dir():
        return
    for old in sorted(parent.glob(f"{glob.escape(_old_name(out_dir))}*")):
        if not out_dir.exists() and (old / "x").is_dir():
            os.rename(old / "x", out_dir)
        shutil.rmtree(old, ignore_errors=True)
    for stage in parent.glob(f"{glob.escape(f'.{out_dir.name}.tmp-')}*"):
        shutil.rmtree(stage, ignore_errors=True)
    if out_dir.is_dir():
        for path in list(out_dir.glob("*.tmp-*")) + list((out_dir / CELLS_DIR).rglob("*.tmp-*")):
            if path.is_file() or path.is_symlink():
                path.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_output(
    out_dir: str | os.PathLike[str], *, overwrite: bool | None = None, carry: Sequence[str] = (CELLS_DIR,)
) -> Iterator[Path]:
    """Stage a run's files and replace ``out_dir`` with them, as a whole, only on success.

    Yields a fresh staging folder ``.<name>.tmp-<random>`` next to ``out_dir`` (in its parent, so on the
    same file system); the caller writes every result file into it. On normal exit:

    1. ``out_dir`` is checked (:func:`check_replaceable`, against the experiment of the staged
       ``manifest.json``): a folder holding another experiment's results or files pgjax did not write is
       refused with :class:`ResultsError`, unless ``overwrite`` (default: inside :func:`overwriting`);
    2. the ``carry`` subfolders of the old ``out_dir`` (the resume store ``cells/``) are hard-linked into the
       stage (from a folder that was not this experiment's, only the store of this experiment's runs), and
       the staged manifest gets ``"files"``, the list of the files the run wrote;
    3. the stage replaces ``out_dir`` in one step: a rename, or an atomic exchange of the two folders (Linux;
       elsewhere two renames, undone by :func:`remove_stale` if cut in between). The old folder is deleted.

    So ``out_dir`` holds either its old contents or the new ones, never a mix: no old figure stays beside
    new tables. If the body raises (``KeyboardInterrupt`` included), the staging folder and any folders
    this call created are removed and ``out_dir`` is left exactly as it was.

    Example::

        with staged_output("runs/bandit") as stage:
            write_table(df, stage)
            write_manifest(stage, manifest)
    """
    out_dir = Path(os.path.abspath(out_dir))
    if out_dir.is_symlink():  # replace the folder it points to, not the link
        out_dir = Path(os.path.realpath(out_dir))
    overwrite = _OVERWRITE.get() if overwrite is None else overwrite
    created = _make_dirs(out_dir.parent)
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    except BaseException:
        _remove_dirs(created)
        raise
    try:
        yield stage
        experiment = _manifest_experiment(stage) if (stage / MANIFEST_FILE).exists() else None
        foreign = foreign_content(out_dir, experiment)
        if foreign is not None and not overwrite:
            check_replaceable(out_dir, experiment)
        for name in carry:
            if not (stage / name).exists() and (out_dir / name).is_dir():
                for source in _carried(out_dir / name, experiment, everything=foreign is None):
                    _carry(source, stage / source.relative_to(out_dir))
        _record_files(stage, list(carry))
        os.chmod(stage, _dir_mode())  # mkdtemp made it private; a results folder gets the usual mode
        _fsync_dir(stage)
        _replace_folder(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if not out_dir.exists():
            _remove_dirs(created)
        raise


def check_writable(out_dir: str | os.PathLike[str], *, parent: bool = True) -> None:
    """Fail early, before any work, if results cannot be written to ``out_dir``.

    Creates ``out_dir`` if absent, writes and removes a probe file in it and
    (unless ``parent`` is False) in its parent (where :func:`staged_output`
    stages), then removes any folder it created, so a check leaves the file
    system as it found it.

    Raises:
      ResultsError: ``"cannot write to <dir>: <reason>"``.
    """
    folder = Path(os.path.abspath(out_dir))
    created: list[Path] = []
    try:
        created = _make_dirs(folder)
        if not folder.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(folder))
        for probe_dir in (folder, folder.parent) if parent else (folder,):
            fd, probe = tempfile.mkstemp(prefix=".pgjax-probe.tmp-", dir=probe_dir)
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        reason = err.strerror or str(err)
        raise ResultsError(f"cannot write to {out_dir}: {reason}") from err
    finally:
        _remove_dirs(created)


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def normalize_table(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with canonical column order, dtypes and a fresh index.

    The columns of :data:`TABLE_COLUMNS` come first in their canonical order
    (strings as ``str``, ``n``/``n_seeds``/``n_nonfinite`` as int64, the rest
    float64); any extra columns follow unchanged.

    Raises:
      ValueError: a required column is missing, or cannot take its dtype.
    """
    missing = [c for c in TABLE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"results table lacks required columns {missing}")
    extra = [c for c in df.columns if c not in TABLE_COLUMNS]
    out = df.loc[:, list(TABLE_COLUMNS) + extra].reset_index(drop=True).copy()
    for col in STRING_COLUMNS:
        out[col] = out[col].astype(str)
    for col in INT_COLUMNS:
        out[col] = out[col].astype("int64")
    for col in FLOAT_COLUMNS:
        out[col] = out[col].astype("float64")
    return out


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _format_number(value: Any, na_rep: str) -> str:
    """Ints as ints, floats with 4 significant figures, NaN as ``na_rep``."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return na_rep
        return f"{float(value):.{_SIG_FIGS}g}"
    if _is_missing(value):
        return na_rep
    return str(value)


def _constant(df: pd.DataFrame, col: str) -> str | None:
    """The single value of a string column, or None if it varies or is absent."""
    if col not in df.columns or len(df) == 0:
        return None
    values = df[col].unique()
    return str(values[0]) if len(values) == 1 else None


def _display_frame(df: pd.DataFrame) -> tuple[pd.DataFrame, str | None, str | None]:
    """Drop constant experiment/problem columns; return them for the caption."""
    experiment = _constant(df, "experiment")
    problem = _constant(df, "problem")
    drop = []
    if experiment is not None:
        drop.append("experiment")
    if problem is not None:
        drop.append("problem")
    return df.drop(columns=drop), experiment, problem


def _numeric_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]


def with_excerpt(text: str, markers: tuple[str, str], body: str) -> str:
    """``text`` with what lies between the two marker lines replaced by ``body`` (for the README's excerpts
    of committed results, which tests keep equal to the files)."""
    start, end = markers
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def render_markdown(df: pd.DataFrame) -> str:
    """Render a results table as GitHub Markdown.

    Numbers carry 4 significant figures (integers in full), missing values
    show as ``–``. If the table covers one experiment and one problem, those
    columns are dropped and named in a heading line instead.
    """
    shown, experiment, problem = _display_frame(df)
    numeric = set(_numeric_columns(shown))
    cells = pd.DataFrame(
        {
            col: [_format_number(v, "–") if col in numeric else str(v) for v in shown[col].tolist()]
            for col in shown.columns
        },
        columns=shown.columns,
    )
    colalign = tuple("right" if c in numeric else "left" for c in shown.columns)
    body = cells.to_markdown(index=False, disable_numparse=True, colalign=colalign, tablefmt="pipe")
    heading = []
    if experiment is not None:
        heading.append(f"experiment `{experiment}`")
    if problem is not None:
        heading.append(f"problem `{problem}`")
    lines = []
    if heading:
        lines.append("Results: " + ", ".join(heading) + ".")
        lines.append("")
    lines.append(body)
    lines.append("")
    if "var" not in df.columns:
        lines.append("Numbers to 4 significant figures; – : not available.")
        return "\n".join(lines) + "\n"
    lines.append(
        "var: variance of the estimate across seeds; var_lo, var_hi: its 95% CI; "
        "var_exact: exact variance where known; n_var: n × var; "
        "numbers to 4 significant figures; – : not available."
    )
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex_number(value: Any) -> str:
    """A number for a LaTeX table: 4 significant figures, math-mode minus and
    powers of ten, ``--`` for missing."""
    text = _format_number(value, "--")
    if text == "--":
        return text
    if text in ("inf", "-inf"):
        return r"$\infty$" if text == "inf" else r"$-\infty$"
    if "e" in text:
        mantissa, exponent = text.split("e")
        power = f"10^{{{int(exponent)}}}"
        return f"${power}$" if mantissa in ("1",) else f"${mantissa}\\times {power}$"
    if text.startswith("-"):
        return f"${text}$"
    return text


def render_latex(df: pd.DataFrame) -> str:
    """Render a results table as a booktabs LaTeX ``table`` (needs ``booktabs``).

    Numbers carry 4 significant figures (integers in full) in math mode,
    missing values show as ``--``, text is escaped. If the table covers one
    experiment and one problem, those columns are dropped and named in the
    caption instead.
    """
    shown, experiment, problem = _display_frame(df)
    numeric = set(_numeric_columns(shown))
    cells = pd.DataFrame(
        {
            _latex_escape(str(col)): [
                _latex_number(v) if col in numeric else _latex_escape(str(v)) for v in shown[col].tolist()
            ]
            for col in shown.columns
        }
    )
    column_format = "".join("r" if c in numeric else "l" for c in shown.columns)
    parts = []
    if experiment is not None:
        parts.append(f"experiment \\texttt{{{_latex_escape(experiment)}}}")
    if problem is not None:
        parts.append(f"problem \\texttt{{{_latex_escape(problem)}}}")
    caption = "Monte Carlo gradient estimates"
    if parts:
        caption += " for " + ", ".join(parts)
    caption += (
        ". var: variance across seeds, with 95\\% CI [var\\_lo, var\\_hi]; "
        "var\\_exact: exact variance where known; -- : not available."
    )
    label = "tab:" + (experiment or "results").replace(" ", "-")
    body = cells.to_latex(
        index=False,
        escape=False,
        column_format=column_format,
        caption=caption,
        label=_latex_escape(label).replace(r"\_", "_"),
        position="htbp",
    )
    first, rest = body.split("\n", 1)
    header = "% Generated by pgjax; requires \\usepackage{booktabs}.\n"
    return header + first + "\n\\centering\n\\small\n\\setlength{\\tabcolsep}{3pt}\n" + rest


def write_table(df: pd.DataFrame, folder: str | os.PathLike[str], *, parquet: bool = True) -> list[Path]:
    """Write ``table.parquet``, ``table.csv``, ``table.md`` and ``table.tex`` (``parquet=False``: all but the
    parquet file, which ``pgjax table`` re-renders from and never rewrites).

    The table is first passed through :func:`normalize_table`. The parquet
    file is the source of truth (exact float64); the CSV keeps full precision;
    Markdown and LaTeX are for reading (4 significant figures). Each file is
    written atomically.

    Returns:
      The four paths written.

    Raises:
      ValueError: the table lacks required columns.
    """
    return write_frame(normalize_table(df), folder, Path(TABLE_FILE).stem, parquet=parquet)


def write_frame(table: pd.DataFrame, folder: str | os.PathLike[str], stem: str, *, parquet: bool = True) -> list[Path]:
    """Write any tidy table as ``<stem>.parquet`` (the source of truth, exact float64), ``.csv`` (full
    precision), ``.md`` and ``.tex`` (4 significant figures), each atomically. Returns the paths.
    ``parquet=False`` re-renders the last three only (the parquet file they were read from stays as it is)."""
    folder = Path(folder)
    paths = []
    if parquet:
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        paths.append(atomic_write_bytes(folder / f"{stem}.parquet", buffer.getvalue()))
    return paths + [
        atomic_write_text(folder / f"{stem}.csv", table.to_csv(index=False, lineterminator="\n")),
        atomic_write_text(folder / f"{stem}.md", render_markdown(table)),
        atomic_write_text(folder / f"{stem}.tex", render_latex(table)),
    ]


def read_frame(folder: str | os.PathLike[str], stem: str) -> pd.DataFrame:
    """Read ``<folder>/<stem>.parquet``; ResultsError naming the file if it is missing or unreadable."""
    path = Path(folder) / f"{stem}.parquet"
    if not path.is_file():
        raise ResultsError(f"{path}: missing (was the experiment run into this folder?)")
    try:
        return pd.read_parquet(path)
    except Exception as err:
        raise ResultsError(f"{path}: unreadable table ({type(err).__name__})") from None


def read_table(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``<folder>/table.parquet`` back as a DataFrame.

    Returns:
      The table, with columns in canonical order and canonical dtypes.

    Raises:
      ResultsError: the file is missing, truncated or corrupt, or is not a
        pgjax results table (required columns missing or of the wrong kind).
        The message names the file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(folder) / TABLE_FILE
    if not path.is_file():
        raise ResultsError(f"{path}: no results table (file not found)")
    try:
        arrow = pq.read_table(path)
        df = arrow.to_pandas()
    except (pa.ArrowException, OSError, ValueError) as err:
        raise ResultsError(f"{path}: unreadable results table ({err})") from err
    missing = [c for c in TABLE_COLUMNS if c not in df.columns]
    if missing:
        raise ResultsError(f"{path}: not a pgjax results table (missing columns: {', '.join(missing)})")
    wrong = [
        c
        for c in INT_COLUMNS + FLOAT_COLUMNS
        if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])
    ]
    if wrong:
        raise ResultsError(f"{path}: not a pgjax results table (non-numeric columns: {', '.join(wrong)})")
    try:
        return normalize_table(df)
    except (ValueError, TypeError) as err:
        raise ResultsError(f"{path}: not a pgjax results table ({err})") from err


# ---------------------------------------------------------------------------
# Raw per-seed estimates
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Convert a manifest value to plain JSON types.

    Dataclasses become dicts, tuples and sets lists, numpy scalars and arrays
    Python numbers and lists, paths and other objects strings; non-finite
    floats become None so the file stays strict JSON.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=repr)
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def write_manifest(folder: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Path:
    """Write ``<folder>/manifest.json`` (atomically, pretty-printed, UTF-8).

    ``"schema": SCHEMA`` is put first (added if absent). Values are converted
    to plain JSON (dataclasses, numpy values, tuples and paths are accepted;
    NaN and infinities become null).

    Raises:
      ValueError: ``manifest`` lacks ``"experiment"`` or names another schema.
    """
    if "experiment" not in manifest:
        raise ValueError("manifest must contain 'experiment'")
    schema = manifest.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise ValueError(f"manifest schema is {schema!r}, expected {SCHEMA!r}")
    body = {"schema": SCHEMA, **{k: v for k, v in manifest.items() if k != "schema"}}
    text = json.dumps(_jsonable(body), indent=2, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(Path(folder) / MANIFEST_FILE, text + "\n")


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``<folder>/manifest.json``.

    Raises:
      ResultsError: the file is missing, not valid JSON, not an object, or
        lacks ``"schema": SCHEMA``.
    """
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise ResultsError(f"{path}: no manifest (file not found)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: unreadable manifest ({err})") from err
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: not a pgjax manifest (not a JSON object)")
    schema = data.get("schema")
    if schema != SCHEMA:
        raise ResultsError(f"{path}: not a pgjax results manifest (schema {schema!r}, expected {SCHEMA!r})")
    return data


# ---------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------

_VERSIONED_PACKAGES = (
    "jax",
    "jaxlib",
    "numpy",
    "optax",
    "flax",
    "chex",
    "pandas",
    "matplotlib",
)


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    except Exception:
        return None


def _git(args: Sequence[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout


def _git_state() -> tuple[str | None, bool | None]:
    """Commit and dirty flag of the git repository holding this package."""
    package_dir = Path(__file__).resolve().parent
    head = _git(["rev-parse", "HEAD"], package_dir)
    if head is None:
        return None, None
    status = _git(["status", "--porcelain", "--untracked-files=no"], package_dir)
    dirty = None if status is None else bool(status.strip())
    return head.strip() or None, dirty


def _device_info() -> dict[str, Any]:
    try:
        import jax  # Lazy: reading result files must not start a backend.

        devices = jax.devices()
        first = devices[0] if devices else None
        return {
            "device_platform": getattr(first, "platform", None),
            "device_kind": getattr(first, "device_kind", None),
            "device_count": len(devices),
        }
    except Exception:
        return {"device_platform": None, "device_kind": None, "device_count": None}


def environment_info() -> dict[str, Any]:
    """Describe the software and hardware a run used, for the manifest.

    Returns a JSON-ready dict::

        {"python": "3.11.7", "platform": "Linux-...", "packages": {"jax": "0.10.2",
         ..., "optax": None}, "device_platform": "gpu", "device_kind": "NVIDIA H100",
         "device_count": 1, "git_commit": "c4e1...", "git_dirty": False}

    Package versions come from installed metadata (None when missing). The
    git fields describe the repository that holds the pgjax package (tracked
    files only) and are None when git or the repository is unavailable.
    Never raises for a missing package, backend or git.
    """
    commit, dirty = _git_state()
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": {name: _package_version(name) for name in _VERSIONED_PACKAGES},
    }
    info.update(_device_info())
    info["git_commit"] = commit
    info["git_dirty"] = dirty
    return info


def compare_tables(old: str | os.PathLike[str], new: str | os.PathLike[str], ignore: Sequence[str] = ()) -> list[str]:
    """The differences between the parquet tables of two results folders, one line each; empty when every
    table of ``old`` is in ``new`` with the same columns, rows and values (NaN equals NaN, no tolerance).
    Columns named in ``ignore`` are left out of the comparison."""
    old, new = Path(old), Path(new)
    lines: list[str] = []
    names = sorted(p.name for p in old.glob("*.parquet"))
    lines += [f"{name}: only in {new}" for name in sorted(p.name for p in new.glob("*.parquet")) if name not in names]
    for name in names:
        if not (new / name).is_file():
            lines.append(f"{name}: missing from {new}")
            continue
        a = pd.read_parquet(old / name).drop(columns=list(ignore), errors="ignore")
        b = pd.read_parquet(new / name).drop(columns=list(ignore), errors="ignore")
        if list(a.columns) != list(b.columns):
            lines.append(f"{name}: columns differ: {list(a.columns)} vs {list(b.columns)}")
            continue
        if len(a) != len(b):
            lines.append(f"{name}: {len(a)} rows vs {len(b)}")
            continue
        for column in a.columns:
            x, y = a[column].to_numpy(), b[column].to_numpy()
            if x.dtype.kind in "fc" and y.dtype.kind in "fc":
                same = (x == y) | (np.isnan(x) & np.isnan(y))
            else:
                same = np.array([u == v or (u != u and v != v) for u, v in zip(x.tolist(), y.tolist())], dtype=bool)
            if not same.all():
                i = int(np.flatnonzero(~same)[0])
                lines.append(
                    f"{name}: column {column!r}: {int((~same).sum())} of {len(same)} rows differ "
                    f"(first at row {i}: {x[i]!r} vs {y[i]!r})"
                )
    return lines

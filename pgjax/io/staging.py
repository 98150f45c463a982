"""Whole-folder writes: a run's files are staged in a sibling folder and replace the results folder in one
step, only when everything succeeded; and the checks that decide whether a folder may be replaced.

:func:`staged_output` yields the staging folder, then checks ``out_dir`` (:func:`check_replaceable`: a
folder holding another experiment's results or files pgjax did not write is refused unless the caller
overwrites, :func:`overwriting`), carries the resume store ``cells/`` over, records the written files in the
manifest, and swaps the folders (a rename, or an atomic exchange on Linux). So a folder holds either its
earlier results or the new ones, never a mix. :func:`remove_stale` cleans up after a killed run, and
:func:`check_writable` fails before any work when the folder cannot be written.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import errno
import glob
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from pgjax.io.atomic import _dir_mode, _fsync_dir, atomic_write_text
from pgjax.io.manifest import read_manifest
from pgjax.io.schema import MANIFEST_FILE, REPORT_FILE, REPORT_MARKER, ResultsError

#: The resume store's subfolder of a results folder, carried from the old folder into the new one.
CELLS_DIR = "cells"
#: The file in each of the resume store's run folders that names the experiment (see :mod:`pgjax.engine.cells`).
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


def _is_report(path: Path) -> bool:
    """Whether ``path`` is the page ``pgjax report`` wrote into its results folder (:mod:`pgjax.io.report`): a
    plain file named ``report.html`` whose head carries :data:`~pgjax.io.schema.REPORT_MARKER`."""
    if path.name != REPORT_FILE or path.is_symlink() or not path.is_file():
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
    except OSError:
        return False
    return REPORT_MARKER.encode("utf-8") in head


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
    store ``cells/`` of that experiment, and the page ``pgjax report`` wrote into it (``report.html`` with
    :data:`~pgjax.io.schema.REPORT_MARKER`: the run replaces it with the folder). A folder with no manifest may hold only ``cells/`` (a run that was
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
        elif entry.name == MANIFEST_FILE or _is_report(entry):
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

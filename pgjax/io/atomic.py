"""Atomic file writes: a temp file in the same folder, flushed and fsynced, then renamed over the target.

Every file pgjax writes into a results folder (tables, raw estimates, manifest, figures, resume cells) goes
through :func:`atomic_write_bytes` or :func:`atomic_write_text`, so a reader sees either the old file or the
new one and a crash leaves no partial file. The temp files are named ``<stem>.tmp-<random><suffix>``, the
pattern :mod:`pgjax.io.staging` and ``.gitignore`` treat as temporaries. The umask helpers live here
because a temp file made by :func:`tempfile.mkstemp` is private and must get the mode a plainly created
file would have; :mod:`pgjax.io.staging` uses them for its staging folders too.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path


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

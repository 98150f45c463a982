"""Provenance for the manifest: the Python, platform, package versions, device and git commit of a run.

:func:`environment_info` never raises for a missing package, backend or git: a manifest is always written,
with None where a fact is unknown. JAX is imported lazily so that reading result files never starts a
backend.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
    package_dir = Path(__file__).resolve().parent.parent  # pgjax/, above this subpackage
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

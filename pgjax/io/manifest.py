"""``manifest.json``: writing it as strict JSON with the schema tag first, and reading it back.

The manifest records everything that changes a number (config, command line, versions, device, timings)
and names the experiment that owns the folder, which :mod:`pgjax.io.staging` reads to decide whether a run
may replace a folder. What goes into it about the machine is gathered by :mod:`pgjax.io.provenance`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pgjax.io.atomic import atomic_write_text
from pgjax.io.schema import MANIFEST_FILE, SCHEMA, ResultsError


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

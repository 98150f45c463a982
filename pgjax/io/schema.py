"""What a results folder is: its file names, the schema tag of its manifest, the columns and dtypes of its
table, and the one error every reader raises.

The other modules of :mod:`pgjax.io` write and read these files; keeping the names and the table's columns
here, apart from any file system code, lets a reader (``pgjax reproduce``, the plots) and a writer agree on
them from one place. :data:`SCHEMA` is the tag stored in every ``manifest.json`` ever written
(``"pgjax.results/1"``, the name this package had when the tag was introduced), so it must not change.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pgjax.analysis.quality import QUALITY_COLUMNS as QUALITY_STATS_COLUMNS
from pgjax.analysis.stats import COLUMNS as STATS_COLUMNS
from pgjax.errors import PgjaxError

SCHEMA = "pgjax.results/1"
"""Schema tag stored in every ``manifest.json``."""

TABLE_FILE = "table.parquet"
RAW_FILE = "raw.npz"
MANIFEST_FILE = "manifest.json"

STRING_COLUMNS: tuple[str, ...] = ("experiment", "problem", "estimator", "param")
INT_COLUMNS: tuple[str, ...] = ("n", "n_seeds", "n_nonfinite")
FLOAT_COLUMNS: tuple[str, ...] = tuple(c for c in STATS_COLUMNS if c not in STRING_COLUMNS + INT_COLUMNS)
TABLE_COLUMNS: tuple[str, ...] = ("experiment", "problem", *STATS_COLUMNS)

REPORT_FILE = "report.html"
"""The page ``pgjax report DIR`` writes into DIR (:mod:`pgjax.io.report`)."""
REPORT_MARKER = '<meta name="generator" content="pgjax report">'
"""The line in the ``<head>`` of every page :mod:`pgjax.io.report` writes: a ``report.html`` in a results folder
that carries it is pgjax's own, which a later run of the experiment may replace."""

QUALITY_FILE = "quality.parquet"
"""The gradient-quality table of a sweep: one row per (estimator, n[, setting]) over all coordinates
(:mod:`pgjax.analysis.quality`), beside the per-coordinate ``table.parquet``."""
QUALITY_COLUMNS: tuple[str, ...] = ("experiment", "problem", *QUALITY_STATS_COLUMNS)
QUALITY_INT_COLUMNS: tuple[str, ...] = ("n", "n_seeds", "n_pairs")
QUALITY_FLOAT_COLUMNS: tuple[str, ...] = tuple(
    c for c in QUALITY_STATS_COLUMNS if c not in ("estimator", *QUALITY_INT_COLUMNS)
)


class ResultsError(PgjaxError):
    """A result file is missing, unreadable, corrupt or not a pgjax result."""


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


def normalize_quality(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the columns of :data:`QUALITY_COLUMNS` first, in order and with their dtypes (strings,
    int64 counts, float64 statistics), then any extra (axis) columns unchanged; a fresh index.

    Raises:
      ValueError: a required column is missing.
    """
    missing = [c for c in QUALITY_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"quality table lacks required columns {missing}")
    extra = [c for c in df.columns if c not in QUALITY_COLUMNS]
    out = df.loc[:, list(QUALITY_COLUMNS) + extra].reset_index(drop=True).copy()
    for col in ("experiment", "problem", "estimator"):
        out[col] = out[col].astype(str)
    for col in QUALITY_INT_COLUMNS:
        out[col] = out[col].astype("int64")
    for col in QUALITY_FLOAT_COLUMNS:
        out[col] = out[col].astype("float64")
    return out


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False

"""A results table's files: ``table.parquet`` (the source of truth) with its csv, md and tex renderings, and
reading the parquet back with one-line errors.

:func:`write_table` normalises a results table (:func:`pgjax.io.schema.normalize_table`) and writes it;
:func:`write_frame` and :func:`read_frame` do the same for any other tidy table an experiment keeps (the
training curves, the coverage tables). Each file is written atomically (:mod:`pgjax.io.atomic`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd

from pgjax.io.atomic import atomic_write_bytes, atomic_write_text
from pgjax.io.render import render_latex, render_markdown
from pgjax.io.schema import (
    FLOAT_COLUMNS,
    INT_COLUMNS,
    QUALITY_FILE,
    TABLE_COLUMNS,
    TABLE_FILE,
    ResultsError,
    normalize_quality,
    normalize_table,
)


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


def write_quality(df: pd.DataFrame, folder: str | os.PathLike[str], *, parquet: bool = True) -> list[Path]:
    """Write the gradient-quality table (``quality.parquet``, ``.csv``, ``.md``, ``.tex``) after
    :func:`~pgjax.io.schema.normalize_quality`; ``parquet=False`` re-renders all but the parquet file."""
    return write_frame(normalize_quality(df), folder, Path(QUALITY_FILE).stem, parquet=parquet)


def read_quality(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``<folder>/quality.parquet`` back (canonical columns and dtypes); ResultsError naming the file if
    it is missing, unreadable or not a quality table."""
    table = read_frame(folder, Path(QUALITY_FILE).stem)
    try:
        return normalize_quality(table)
    except (ValueError, TypeError) as err:
        raise ResultsError(f"{Path(folder) / QUALITY_FILE}: not a pgjax quality table ({err})") from err

"""Comparing the tables of two results folders value by value, for ``pgjax reproduce``.

No tolerance: a rerun of a recorded config must give the same numbers, so every parquet table of the old
folder must be in the new one with the same columns, rows and values (NaN equals NaN).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd


def compare_tables(old: str | os.PathLike[str], new: str | os.PathLike[str], ignore: Sequence[str] = ()) -> list[str]:
    """The differences between the parquet tables of two results folders, one line each; empty when every
    table of ``old`` is in ``new`` with the same columns, rows and values (NaN equals NaN, no tolerance).
    Columns named in ``ignore`` are left out of the comparison. A table only in ``new`` (one a later pgjax
    writes, such as ``quality.parquet`` beside an older folder's tables) is no difference: see
    :func:`new_tables`."""
    old, new = Path(old), Path(new)
    lines: list[str] = []
    names = sorted(p.name for p in old.glob("*.parquet"))
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


def new_tables(old: str | os.PathLike[str], new: str | os.PathLike[str]) -> list[str]:
    """The parquet tables of ``new`` that ``old`` lacks (written by a later pgjax), which
    :func:`compare_tables` cannot compare; ``pgjax reproduce`` names them."""
    have = {p.name for p in Path(old).glob("*.parquet")}
    return sorted(p.name for p in Path(new).glob("*.parquet") if p.name not in have)

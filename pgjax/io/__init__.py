"""Result files of one experiment run: tidy tables, raw estimates, manifest, written atomically.

A results folder ``<dir>/`` holds

* ``table.parquet``: the source of truth, a tidy long table with one row per
  (estimator, n, param) and the columns in :data:`TABLE_COLUMNS`;
* ``table.csv``, ``table.md``, ``table.tex``: the same table for people and papers;
* ``quality.parquet`` (+ csv, md, tex), for a sweep with a true or reference gradient: one row per
  (estimator, n[, setting]) of vector quantities over all coordinates (noise-to-signal ratio, cosine
  similarities, gradient noise scale; :data:`QUALITY_COLUMNS`, :mod:`pgjax.analysis.quality`);
* ``raw.npz``: the raw per-seed estimates, one ``(R, P)`` array per
  (estimator, n) under the key ``f"{estimator}|{n}"``, plus ``param_names`` and
  ``true_grad``; or, for a sweep over named axes (:mod:`pgjax.engine.grid`), every
  (setting, estimator, n) cell stacked in one ``estimates`` array with its axis
  values, estimator, n and true gradient as arrays beside it
  (:func:`write_raw_grid`, :func:`read_raw_grid`);
* ``manifest.json``: config, command line, versions, device, timings; it always
  carries ``"schema": SCHEMA`` and ``"experiment"``;
* figures (written by :mod:`pgjax.plotting.variance`);
* optionally ``report.html``, the page ``pgjax report`` writes from all of the above (:mod:`pgjax.io.report`).

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

One module per concern, each importable on its own; this package re-exports their public names, so
``from pgjax.io import X`` is the way to use them:

* :mod:`pgjax.io.schema`: file names, the manifest's schema tag, the table's columns and dtypes, ``ResultsError``;
* :mod:`pgjax.io.atomic`: atomic file writes;
* :mod:`pgjax.io.staging`: whole-folder staging and replacement, and the checks that guard it;
* :mod:`pgjax.io.render`: Markdown and LaTeX renderings of a table;
* :mod:`pgjax.io.report`: the static HTML page of a results folder (``pgjax report``);
* :mod:`pgjax.io.tables`: a table's parquet, csv, md and tex files;
* :mod:`pgjax.io.raw`: ``raw.npz`` of a sweep or of a grid over named axes;
* :mod:`pgjax.io.manifest`: ``manifest.json``;
* :mod:`pgjax.io.provenance`: versions, device and git commit for the manifest;
* :mod:`pgjax.io.compare`: value-by-value comparison of two folders' tables (``pgjax reproduce``);
* :mod:`pgjax.io.rliable_export`: training results as rliable's per-algorithm (runs x tasks) score matrices
  (``pgjax export-rliable``).

Import it as ``from pgjax.io import name`` or ``from pgjax import io as pio``: a bare ``io`` would hide the
standard library's module of that name.
"""

from __future__ import annotations

from pgjax.io.atomic import atomic_write_bytes, atomic_write_text
from pgjax.io.compare import compare_tables, new_tables
from pgjax.io.manifest import read_manifest, write_manifest
from pgjax.io.provenance import environment_info
from pgjax.io.raw import RawGrid, read_raw, read_raw_grid, write_raw, write_raw_grid
from pgjax.io.render import render_latex, render_markdown, with_excerpt
from pgjax.io.report import render_index, render_report, report_path
from pgjax.io.rliable_export import RliableScores, read_rliable, rliable_scores, write_rliable
from pgjax.io.schema import (
    FLOAT_COLUMNS,
    INT_COLUMNS,
    MANIFEST_FILE,
    QUALITY_COLUMNS,
    QUALITY_FILE,
    RAW_FILE,
    REPORT_FILE,
    SCHEMA,
    STRING_COLUMNS,
    TABLE_COLUMNS,
    TABLE_FILE,
    ResultsError,
    normalize_quality,
    normalize_table,
)
from pgjax.io.staging import (
    CELLS_DIR,
    RUN_MARKER,
    check_replaceable,
    check_writable,
    foreign_content,
    overwriting,
    record_files,
    remove_stale,
    staged_output,
)
from pgjax.io.tables import read_frame, read_quality, read_table, write_frame, write_quality, write_table

__all__ = [
    "SCHEMA",
    "TABLE_COLUMNS",
    "STRING_COLUMNS",
    "INT_COLUMNS",
    "FLOAT_COLUMNS",
    "TABLE_FILE",
    "QUALITY_COLUMNS",
    "QUALITY_FILE",
    "RAW_FILE",
    "MANIFEST_FILE",
    "REPORT_FILE",
    "CELLS_DIR",
    "RUN_MARKER",
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
    "normalize_quality",
    "write_quality",
    "read_quality",
    "write_frame",
    "read_frame",
    "render_markdown",
    "render_latex",
    "with_excerpt",
    "render_report",
    "render_index",
    "report_path",
    "read_table",
    "write_raw",
    "read_raw",
    "write_raw_grid",
    "read_raw_grid",
    "RawGrid",
    "write_manifest",
    "read_manifest",
    "environment_info",
    "compare_tables",
    "new_tables",
    "RliableScores",
    "rliable_scores",
    "write_rliable",
    "read_rliable",
]

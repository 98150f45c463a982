"""Rendering a tidy table for people and papers: GitHub Markdown and booktabs LaTeX, numbers to 4
significant figures, plus the README excerpt helper.

These are pure functions from a DataFrame to text; :mod:`pgjax.io.tables` writes their output beside the
parquet file, which stays the source of truth (the rendered files are never read back).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from pgjax.io.schema import _is_missing

_SIG_FIGS = 4


def format_number(value: Any, na_rep: str) -> str:
    """Ints as ints, floats with 4 significant figures, NaN as ``na_rep`` (every rendering of a table: Markdown,
    LaTeX and the HTML page of :mod:`pgjax.io.report`)."""
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


def display_frame(df: pd.DataFrame) -> tuple[pd.DataFrame, str | None, str | None]:
    """Drop constant experiment/problem columns; return them for the caption."""
    experiment = _constant(df, "experiment")
    problem = _constant(df, "problem")
    drop = []
    if experiment is not None:
        drop.append("experiment")
    if problem is not None:
        drop.append("problem")
    return df.drop(columns=drop), experiment, problem


def numeric_columns(df: pd.DataFrame) -> list[str]:
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
    shown, experiment, problem = display_frame(df)
    numeric = set(numeric_columns(shown))
    cells = pd.DataFrame(
        {
            col: [format_number(v, "–") if col in numeric else str(v) for v in shown[col].tolist()]
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
    lines.append(table_legend(df))
    return "\n".join(lines) + "\n"


def table_legend(df: pd.DataFrame) -> str:
    """The line under a rendered table that explains its variance columns (if it has them) and its numbers."""
    if "var" not in df.columns:
        return "Numbers to 4 significant figures; – : not available."
    return (
        "var: variance of the estimate across seeds; var_lo, var_hi: its 95% CI; "
        "var_exact: exact variance where known; n_var: n × var; "
        "numbers to 4 significant figures; – : not available."
    )


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
    text = format_number(value, "--")
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
    shown, experiment, problem = display_frame(df)
    numeric = set(numeric_columns(shown))
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

"""A small structured document (sections of paragraphs, formulas, tables, figures) and its two renderings.

The walkthrough is built once as data, then rendered either as Markdown (pipe tables, figure links relative to
the Markdown file) or as plain text for a terminal (aligned columns, figures named by path). Nothing here
computes or prints.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap

import numpy as np


@dataclasses.dataclass(frozen=True)
class Paragraph:
    """Running text. Inline code is written with backticks (kept in Markdown, dropped in text)."""

    text: str


@dataclasses.dataclass(frozen=True)
class Formula:
    """One or more display lines of plain-text maths, shown as a code block."""

    lines: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Table:
    """A table of already formatted cells. ``align`` holds one of "l", "r" per column."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: tuple[str, ...] | None = None

    def __post_init__(self):
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"table row {row} has {len(row)} cells, expected {len(self.columns)}")
        if self.align is not None and len(self.align) != len(self.columns):
            raise ValueError("align needs one entry per column")

    def alignment(self) -> tuple[str, ...]:
        return self.align or ("r",) * len(self.columns)


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure file, ``path`` relative to the Markdown file's folder, with alt text and a caption."""

    path: str
    alt: str
    caption: str


@dataclasses.dataclass(frozen=True)
class Bullets:
    """A bulleted list."""

    items: tuple[str, ...]


Block = Paragraph | Formula | Table | Figure | Bullets


@dataclasses.dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclasses.dataclass(frozen=True)
class Document:
    """Title, a header note (provenance), and the sections."""

    title: str
    header: str
    sections: tuple[Section, ...]
    #: An HTML comment placed first in the Markdown rendering only (e.g. "generated, do not edit").
    markdown_comment: str = ""


# ------------------------------------------------------------------------------------------- numbers
def fmt(x, digits: int = 4, *, keep_zeros: bool = False) -> str:
    """``x`` rounded to ``digits`` significant figures, in positional notation where that stays short.

    Trailing zeros are dropped (4.000 -> "4") unless ``keep_zeros`` (for measured values in a column:
    0.110 next to 0.106), -0 prints as "0", and very small or very large magnitudes use scientific notation
    (1.235e-5). Non-finite values print as "inf", "-inf" or "nan".
    """
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    rounded = float(f"{x:.{digits}g}")
    if rounded == 0:
        return "0"
    if 1e-4 <= abs(rounded) < 1e7:
        if keep_zeros:
            decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
            text = f"{rounded:.{decimals}f}"
        else:
            text = np.format_float_positional(rounded, trim="-")
    else:
        trim = "k" if keep_zeros else "-"
        text = np.format_float_scientific(rounded, precision=digits - 1, trim=trim, exp_digits=1)
    return "0" if text in ("-0", "0.") else text


def fmt_measured(x, digits: int = 4) -> str:
    """:func:`fmt` keeping trailing zeros: for Monte Carlo values, so a column shows its precision."""
    return fmt(x, digits, keep_zeros=True)


# ---------------------------------------------------------------------------------------- rendering
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown_table(table: Table) -> list[str]:
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(_md_cell(c) for c in table.columns) + " |"]
    lines.append("|" + "|".join(marks[a] for a in table.alignment()) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return lines


def render_markdown(doc: Document) -> str:
    """The document as GitHub-flavoured Markdown, ending in one newline."""
    out: list[str] = []
    if doc.markdown_comment:
        out += [f"<!-- {doc.markdown_comment} -->", ""]
    out += [f"# {doc.title}", "", f"*{doc.header}*", ""]
    for section in doc.sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Paragraph):
                out += [block.text, ""]
            elif isinstance(block, Formula):
                out += ["```text", *block.lines, "```", ""]
            elif isinstance(block, Table):
                out += [*_markdown_table(block), ""]
            elif isinstance(block, Figure):
                out += [f"![{block.alt}]({block.path})", "", f"*{block.caption}*", ""]
            elif isinstance(block, Bullets):
                out += [*(f"- {item}" for item in block.items), ""]
            else:  # pragma: no cover - a programming error
                raise TypeError(f"unknown block {block!r}")
    return "\n".join(out).rstrip("\n") + "\n"


def _plain(text: str) -> str:
    """Markdown inline markup dropped: backticks and bold (single stars are kept: they mean b*, theta*)."""
    return text.replace("`", "").replace("**", "")


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _wrap(cell: str, width: int) -> list[str]:
    """``cell`` on lines of at most ``width`` characters, broken at spaces only (a longer word keeps its line)."""
    if len(cell) <= width:
        return [cell]
    return textwrap.wrap(cell, width, break_long_words=False, break_on_hyphens=False) or [""]


def _column_widths(header: list[str], body: list[list[str]], align: tuple[str, ...], room: int) -> list[int]:
    """Column widths whose sum fits ``room`` where the words allow.

    Each column starts as wide as its longest cell. While the sum is too large, the widest column that can
    still narrow is rewrapped one character narrower (and takes the width of its rewrapped text): first only
    headings wrap (down to the widest body cell), then the body cells of left-aligned (label) columns, then
    any cell, never breaking a word.
    """
    columns = range(len(header))
    widths = [max([len(header[j])] + [len(row[j]) for row in body]) for j in columns]
    body_width = [max([0] + [len(row[j]) for row in body]) for j in columns]
    word = [max(_longest_word(c) for c in [header[j], *(row[j] for row in body)]) for j in columns]
    phases = (
        ([max(_longest_word(header[j]), body_width[j]) for j in columns], False, columns),
        (word, True, [j for j in columns if align[j] == "l"]),
        (word, True, columns),
    )
    for floor, wrap_body, candidates in phases:
        while sum(widths) > room:
            slack = [j for j in candidates if widths[j] > floor[j]]
            if not slack:
                break
            j = max(slack, key=lambda k: (widths[k], -k))
            cells = [header[j], *(row[j] for row in body)] if wrap_body else [header[j]]
            wrapped = max(len(line) for cell in cells for line in _wrap(cell, widths[j] - 1))
            widths[j] = max(floor[j], body_width[j] if not wrap_body else 0, wrapped)
    return widths


def _text_table(table: Table, indent: str = "  ", width: int | None = None) -> list[str]:
    """Aligned columns two spaces apart under a rule of dashes. With ``width``, headings (then, if needed,
    cells) wrap at spaces onto several lines so that every line fits ``width`` columns where the words allow."""
    header = [_plain(c) for c in table.columns]
    body = [[_plain(c) for c in row] for row in table.rows]
    gaps = 2 * (len(header) - 1) + len(indent)
    align = table.alignment()
    widths = _column_widths(header, body, align, width - gaps if width is not None else 10**9)

    def lines(row: list[str], bottom: bool) -> list[str]:
        wrapped = [_wrap(c, w) for c, w in zip(row, widths)]
        height = max(len(cell) for cell in wrapped)
        pad = lambda cell: [""] * (height - len(cell)) + cell if bottom else cell + [""] * (height - len(cell))
        wrapped = [pad(cell) for cell in wrapped]
        out = []
        for k in range(height):
            parts = [c[k].ljust(w) if a == "l" else c[k].rjust(w) for c, w, a in zip(wrapped, widths, align)]
            out.append((indent + "  ".join(parts)).rstrip())
        return out

    rows = [lines(row, bottom=False) for row in body]
    spaced = any(len(row) > 1 for row in rows)  # rows of several lines: a blank line between rows
    out = [*lines(header, bottom=True), indent + "  ".join("-" * w for w in widths)]
    for i, row in enumerate(rows):
        out += ([""] if spaced and i else []) + row
    return out


def render_text(doc: Document, *, width: int = 100, figure_root: str = "", figure_note: str = "") -> str:
    """The document as plain text for a terminal: wrapped paragraphs, aligned tables, figures by path.

    Args:
      width: wrap width of paragraphs, and of tables where their words allow.
      figure_root: prefix for figure paths (the Markdown file's folder, e.g. ``docs/``).
      figure_note: added after a figure's path, e.g. how to draw it.
    """
    out: list[str] = [doc.title, "=" * len(doc.title), ""]
    out += [*textwrap.wrap(_plain(doc.header), width), ""]
    for section in doc.sections:
        out += [section.title, "-" * len(section.title), ""]
        for block in section.blocks:
            if isinstance(block, Paragraph):
                out += [*textwrap.wrap(_plain(block.text), width), ""]
            elif isinstance(block, Formula):
                out += [*(f"    {line}" for line in block.lines), ""]
            elif isinstance(block, Table):
                out += [*_text_table(block, width=width), ""]
            elif isinstance(block, Figure):
                text = f"[Figure: {figure_root}{block.path}{figure_note}] {_plain(block.caption)}"
                out += [*textwrap.wrap(text, width), ""]
            elif isinstance(block, Bullets):
                for item in block.items:
                    out += textwrap.wrap(_plain(item), width, initial_indent="  - ", subsequent_indent="    ")
                out += [""]
            else:  # pragma: no cover
                raise TypeError(f"unknown block {block!r}")
    return "\n".join(out).rstrip("\n") + "\n"

"""One static HTML page per results folder (``pgjax report``): its figures, every table, sortable, and its
manifest, readable in any browser with no notebook, no server and no network.

A page is self-contained: the PNG figures are embedded as base64 ``data:`` URIs, and the only script is the
small inline one in :data:`SCRIPT` (sorting a table by a column on a click on its header, and filtering the
rows of a long table by a text), so it can be mailed, archived or opened from a laptop with no connection.
The numbers of the tables are those of the Markdown and LaTeX renderings (:func:`pgjax.io.render.format_number`:
4 significant figures, integers in full); each numeric cell also carries the full-precision value in a
``data-v`` attribute, which is what the script sorts by, so rounding never changes an order. Missing values
sort last in both directions. All text from the folder (names, the manifest) is HTML-escaped.

The page of a folder is written, atomically (:func:`pgjax.io.atomic.atomic_write_text`), as
``DIR/report.html`` (:data:`pgjax.io.schema.REPORT_FILE`) or into another folder; its ``<head>`` carries
:data:`pgjax.io.schema.REPORT_MARKER`, by which :func:`pgjax.io.staging.foreign_content` recognises it as
pgjax's own, so a later run of the experiment into DIR replaces it with the rest of the folder. The page
shows the folder as it was when the page was written; after a new run, write it again.

Nothing here prints; an unreadable folder or table raises :class:`~pgjax.io.schema.ResultsError` naming it.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pgjax.io.manifest import read_manifest
from pgjax.io.render import display_frame, format_number, numeric_columns, table_legend
from pgjax.io.schema import MANIFEST_FILE, QUALITY_FILE, REPORT_FILE, REPORT_MARKER, TABLE_FILE, ResultsError

#: Tables with more rows than this are large: their rows travel as JSON data and the page shows
#: :data:`PAGE_ROWS` of them at a time (a DOM of tens of thousands of rows would make the page slow to open).
LARGE_TABLE_ROWS = 2000
#: How many rows of a large table are shown at a time (the first ones of the current order and filter).
PAGE_ROWS = 1000
#: Tables with more rows than this get a filter box.
FILTER_ROWS = 25
#: At most this many rows of one table are written into a page (the first ones, with a note); the whole
#: table stays in its parquet file.
MAX_ROWS = 200_000
#: The class of a numeric column's header and cells (right-aligned, sorted by value).
NUM_CLASS = ' class="num"'
#: The index page that links the pages of several folders.
INDEX_FILE = "index.html"
#: The tables shown first, in this order; the others follow in alphabetical order.
_FIRST_TABLES = (TABLE_FILE, "summary.parquet", QUALITY_FILE)
#: Manifest fields shown in their own place on the page (the others are listed under "Other fields").
_SHOWN_FIELDS = ("schema", "experiment", "problem", "title", "config", "command", "created", "environment", "files")
#: A manifest value longer than this (as compact JSON) is cut in the definition list (the raw JSON is whole).
_LONG_VALUE = 400

STYLE = """
:root { color-scheme: light; --line: #d0d7de; --muted: #57606a; --head: #f6f8fa; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
  max-width: 1280px; margin: 0 auto; padding: 1.5rem 2rem 4rem; }
h1 { font-size: 1.7rem; margin: 0 0 .3rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.6rem 0 .4rem; font-family: ui-monospace, Menlo, Consolas, monospace; }
.problem { font-size: 1.05rem; margin: 0 0 .4rem; }
.muted, .note, figcaption, .legend { color: var(--muted); font-size: .9rem; }
nav { margin: .8rem 0 0; font-size: .9rem; } nav a { margin-right: .9rem; }
code, pre, .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85rem; }
figure { margin: 1rem 0 1.6rem; } figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
.scroll { max-height: 70vh; overflow: auto; border: 1px solid var(--line); }
table { border-collapse: collapse; font-size: .85rem; }
th, td { padding: .25rem .55rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
thead th { position: sticky; top: 0; background: var(--head); text-align: left; z-index: 1; }
th button { font: inherit; font-weight: 600; border: 0; background: none; padding: 0; cursor: pointer; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
table.index td { white-space: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th.num { text-align: right; }
tbody tr:nth-child(even) { background: #fafbfc; }
tbody tr:hover { background: #eef4fb; }
.filter { margin: .3rem 0 .5rem; } .filter input { font: inherit; padding: .2rem .4rem; width: 22rem; }
dl.manifest { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1.2rem; margin: .5rem 0; }
dl.manifest dt { font-weight: 600; } dl.manifest dd { margin: 0; overflow-wrap: anywhere; }
details pre { background: var(--head); padding: .8rem; overflow: auto; max-height: 60vh; }
"""

#: The page's only script: a click on a column's name sorts the table by it (a second click: descending), the
#: filter box keeps the rows that contain its text. A table of at most ``LARGE_TABLE_ROWS`` rows is sorted in
#: place; a larger one keeps its rows as JSON data and shows the first ``PAGE_ROWS`` of the current order.
SCRIPT = """
(function () {
  "use strict";
  var collator = new Intl.Collator(undefined, { numeric: true });
  function each(list, f) { Array.prototype.forEach.call(list, f); }
  function compare(a, b, numeric, sign) {
    if (numeric) {
      var am = isNaN(a.k), bm = isNaN(b.k);
      if (am || bm) return am === bm ? a.i - b.i : (am ? 1 : -1);
      if (a.k !== b.k) return a.k < b.k ? -sign : sign;
      return a.i - b.i;
    }
    var c = collator.compare(a.k, b.k);
    return c !== 0 ? sign * c : a.i - b.i;
  }
  function setup(table) {
    var heads = table.tHead.rows[0].cells, body = table.tBodies[0];
    var numeric = Array.prototype.map.call(heads, function (th) { return th.classList.contains("num"); });
    var source = document.getElementById(table.id + "-data");
    var data = source ? JSON.parse(source.textContent) : null;
    var limit = data ? parseInt(table.getAttribute("data-page-rows"), 10) : 0;
    var domRows = data ? null : Array.prototype.slice.call(body.rows);
    var total = data ? data.text.length : domRows.length;
    var order = [], i;
    for (i = 0; i < total; i += 1) order.push(i);
    var filter = document.getElementById(table.id + "-filter");
    var count = document.getElementById(table.id + "-count");
    var query = "", haystack = null;
    function key(row, c) {
      if (data) {
        if (!numeric[c]) return data.text[row][c];
        var x = data.v[row][c];
        return x === null ? NaN : Number(x);
      }
      var cell = domRows[row].cells[c];
      if (!numeric[c]) return cell.textContent;
      var v = cell.getAttribute("data-v");
      return v === null || v === "" ? NaN : parseFloat(v);
    }
    function rowText(row) { return data ? data.text[row].join(" ") : domRows[row].textContent; }
    function matches(row) {
      if (query === "") return true;
      if (haystack === null) {
        haystack = [];
        for (var r = 0; r < total; r += 1) haystack.push(rowText(r).toLowerCase());
      }
      return haystack[row].indexOf(query) !== -1;
    }
    function show() {
      var fragment = document.createDocumentFragment(), shown = 0;
      order.forEach(function (row) {
        var keep = matches(row);
        if (keep) shown += 1;
        if (!data) {
          domRows[row].hidden = !keep;
          fragment.appendChild(domRows[row]);
        } else if (keep && shown <= limit) {
          var tr = document.createElement("tr");
          data.text[row].forEach(function (text, c) {
            var td = document.createElement("td");
            td.textContent = text;
            if (numeric[c]) {
              td.className = "num";
              td.setAttribute("data-v", data.v[row][c] === null ? "" : String(data.v[row][c]));
            }
            tr.appendChild(td);
          });
          fragment.appendChild(tr);
        }
      });
      if (data) body.textContent = "";
      body.appendChild(fragment);
      if (count) {
        var parts = [];
        if (query !== "") parts.push(shown + " of " + total + " rows match");
        if (data && shown > limit) parts.push("showing the first " + limit + " of them in this order");
        count.textContent = parts.join("; ");
      }
    }
    each(heads, function (th, c) {
      th.querySelector("button").addEventListener("click", function () {
        var sign = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        var keyed = order.map(function (row) { return { i: row, k: key(row, c) }; });
        keyed.sort(function (a, b) { return compare(a, b, numeric[c], sign); });
        order = keyed.map(function (item) { return item.i; });
        each(heads, function (other) { other.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", sign > 0 ? "ascending" : "descending");
        show();
      });
    });
    if (filter) {
      filter.addEventListener("input", function () {
        query = filter.value.trim().toLowerCase();
        show();
      });
    }
  }
  each(document.querySelectorAll("table.sortable"), setup);
})();
"""


@dataclasses.dataclass(frozen=True)
class Page:
    """The rendered page of one results folder, and what the index page says of it."""

    folder: Path
    experiment: str
    problem: str
    created: str
    n_figures: int
    n_tables: int
    html: str


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _sort_value(value: Any) -> str:
    """The full-precision value of a numeric cell for the script (``parseFloat``); empty when missing."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    try:
        x = float(value)
    except (TypeError, ValueError):
        return ""
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(x)


def table_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Every ``*.parquet`` table of ``folder``: ``table``, ``summary`` and ``quality`` first, then the rest by name."""
    found = {p.name: p for p in Path(folder).glob("*.parquet") if p.is_file() and ".tmp-" not in p.name}
    first = [found.pop(name) for name in _FIRST_TABLES if name in found]
    return first + [found[name] for name in sorted(found)]


def figure_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The PNG figures of ``folder``, by name."""
    return sorted(p for p in Path(folder).glob("*.png") if p.is_file() and ".tmp-" not in p.name)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several kinds for a corrupt or foreign file
        raise ResultsError(f"{path}: unreadable table ({type(err).__name__}: {err})") from err


def _rows_html(text: list[list[str]], values: list[list[str | None]], numeric: list[bool]) -> str:
    rows = []
    for cells, raw in zip(text, values):
        tds = [
            f'<td class="num" data-v="{v}">{_e(t)}</td>' if is_num else f"<td>{_e(t)}</td>"
            for t, v, is_num in zip(cells, raw, numeric)
        ]
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return "\n".join(rows)


def _script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element: every ``<`` escaped, so no text can close the element."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")


def render_table(df: pd.DataFrame, table_id: str, *, manifest_problem: str | None = None) -> str:
    """One table as a sortable HTML ``<table>``, with a line saying its size, a filter box when it is long,
    and the legend of the Markdown rendering.

    Constant ``experiment`` and ``problem`` columns are dropped, as in the Markdown rendering
    (:func:`pgjax.io.render.display_frame`); a problem other than the page's is named above the table. Cells
    read as in ``table.md`` (:func:`pgjax.io.render.format_number`). A table of more than
    :data:`LARGE_TABLE_ROWS` rows also carries all its rows (at most :data:`MAX_ROWS`) as JSON, and the script
    shows the first :data:`PAGE_ROWS` of the current order and filter, so that a page of a large table stays
    quick to open.
    """
    shown, _, problem = display_frame(df)
    numeric = [col in set(numeric_columns(shown)) for col in shown.columns]
    n_rows = len(shown)
    kept = min(n_rows, MAX_ROWS)
    columns = [shown[col].tolist()[:kept] for col in shown.columns]
    text = [[format_number(v, "–") if is_num else str(v) for v, is_num in zip(row, numeric)] for row in zip(*columns)]
    values = [[_sort_value(v) if is_num else None for v, is_num in zip(row, numeric)] for row in zip(*columns)]
    large = n_rows > LARGE_TABLE_ROWS
    parts = []
    if problem is not None and problem != manifest_problem:
        parts.append(f'<p class="muted">problem: {_e(problem)}</p>')
    note = f"{n_rows} rows, {len(shown.columns)} columns; click a column's name to sort by it, again for descending."
    if large:
        note += f" A large table: the first {PAGE_ROWS} rows of the current order and filter are shown."
    if n_rows > MAX_ROWS:
        note += f" Only the first {MAX_ROWS} rows (in the file's order) are on this page; the whole table is in the parquet file."
    parts.append(f'<p class="note">{_e(note)} <span class="count" id="{_e(table_id)}-count"></span></p>')
    if n_rows > FILTER_ROWS:
        parts.append(
            f'<div class="filter"><input type="search" id="{_e(table_id)}-filter" '
            f'placeholder="filter rows: text in any cell" aria-label="filter the rows"></div>'
        )
    head = "".join(
        f'<th scope="col" aria-sort="none"{NUM_CLASS if is_num else ""}><button type="button">{_e(col)}</button></th>'
        for col, is_num in zip(shown.columns, numeric)
    )
    shown_rows = PAGE_ROWS if large else kept
    attrs = f' data-page-rows="{PAGE_ROWS}"' if large else ""
    parts.append(
        f'<div class="scroll"><table class="sortable" id="{_e(table_id)}"{attrs}><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{_rows_html(text[:shown_rows], values[:shown_rows], numeric)}\n</tbody></table></div>"
    )
    if large:
        data = {"text": text, "v": [[_json_number(v) for v in row] for row in values]}
        parts.append(f'<script type="application/json" id="{_e(table_id)}-data">{_script_json(data)}</script>')
    parts.append(f'<p class="legend">{_e(table_legend(df))}</p>')
    return "\n".join(parts)


def _json_number(value: str | None) -> float | str | None:
    """A cell's sort value in the JSON data of a large table: a number, ``"Infinity"``/``"-Infinity"``, or null."""
    if value is None or value == "":
        return None
    if value in ("Infinity", "-Infinity"):
        return value
    return float(value)


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    pdf = path.with_suffix(".pdf")
    also = f" (also as {pdf.name})" if pdf.is_file() else ""
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(path.name)}">'
        f"<figcaption><code>{_e(path.name)}</code>{_e(also)}</figcaption></figure>"
    )


def _value(value: Any) -> str:
    """A manifest value for the definition list: text as is, anything else as compact JSON, cut if long."""
    text = value if isinstance(value, str) else _compact(value)
    if len(text) > _LONG_VALUE:
        text = text[:_LONG_VALUE] + " … (cut here; whole in the raw manifest below)"
    return _e(text)


def _definitions(items: Sequence[tuple[str, str]]) -> str:
    """A ``<dl>`` of (term, already escaped HTML) pairs."""
    return '<dl class="manifest">' + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _manifest_section(manifest: dict[str, Any]) -> str:
    env = manifest.get("environment") if isinstance(manifest.get("environment"), dict) else {}
    command = manifest.get("command")
    run = [("experiment", _e(manifest.get("experiment", "")))]
    if "problem" in manifest:
        run.append(("problem", _e(manifest["problem"])))
    if "title" in manifest:
        run.append(("title", _e(manifest["title"])))
    if isinstance(command, list):
        run.append(("command", f"<code>{_e(shlex.join(str(a) for a in command))}</code>"))
    elif command is not None:
        run.append(("command", _value(command)))
    run.append(("created", _e(manifest.get("created", "not recorded"))))
    commit = env.get("git_commit")
    dirty = env.get("git_dirty")
    state = {True: " (with uncommitted changes)", False: " (clean)"}.get(dirty, "")
    run.append(("git commit", f"<code>{_e(commit or 'not recorded')}</code>{_e(state)}"))
    run.append(("git_dirty", _e(_compact(dirty))))
    if env:
        device = " ".join(str(env[k]) for k in ("device_platform", "device_kind") if k in env)
        if "device_count" in env:
            device += f" ({env['device_count']} device{'s' if env['device_count'] != 1 else ''})"
        if device:
            run.append(("device", _e(device)))
        if "python" in env:
            run.append(("python", _e(f"{env['python']} ({env.get('python_implementation', '')})")))
        if "platform" in env:
            run.append(("platform", _e(env["platform"])))
        packages = env.get("packages")
        if isinstance(packages, dict):
            run.append(("packages", _e(", ".join(f"{k} {v}" for k, v in packages.items()))))
        rest = {
            k: v
            for k, v in env.items()
            if k
            not in (
                "git_commit",
                "git_dirty",
                "python",
                "python_implementation",
                "platform",
                "packages",
                "device_platform",
                "device_kind",
                "device_count",
            )
        }
        for k, v in rest.items():
            run.append((f"environment.{k}", _value(v)))
    if isinstance(manifest.get("files"), list):
        run.append(("files", _e(f"{len(manifest['files'])} listed")))
    parts = ['<h2 id="manifest">Manifest</h2>', _definitions(run)]
    config = manifest.get("config")
    if isinstance(config, dict) and config:
        parts.append('<h3 id="config">config</h3>')
        parts.append(_definitions([(k, _value(v)) for k, v in config.items()]))
    other = [(k, _value(v)) for k, v in manifest.items() if k not in _SHOWN_FIELDS]
    if other:
        parts.append('<h3 id="other">other fields</h3>')
        parts.append(_definitions(other))
    raw = json.dumps(manifest, indent=2, ensure_ascii=False)
    parts.append(f"<details><summary>{_e(MANIFEST_FILE)} (raw JSON)</summary><pre>{_e(raw)}</pre></details>")
    return "\n".join(parts)


def _document(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"{REPORT_MARKER}\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def _anchor(name: str) -> str:
    return "table-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)


def render_report(folder: str | os.PathLike[str]) -> Page:
    """The page of the results folder ``folder``.

    Raises:
      ResultsError: ``folder`` has no pgjax ``manifest.json`` (it is not a results folder), or a table is
        unreadable.
    """
    folder = Path(folder)
    if not (folder / MANIFEST_FILE).is_file():
        raise ResultsError(f"{folder}: not a pgjax results folder (no {MANIFEST_FILE})")
    manifest = read_manifest(folder)
    experiment = str(manifest.get("experiment", folder.name))
    problem = manifest.get("problem")
    problem = None if problem is None else str(problem)
    tables = [(path, _read_parquet(path)) for path in table_files(folder)]
    figures = figure_files(folder)
    nav = []
    if figures:
        nav.append('<a href="#figures">Figures</a>')
    nav += [f'<a href="#{_anchor(path.stem)}">{_e(path.name)}</a>' for path, _ in tables]
    nav.append('<a href="#manifest">Manifest</a>')
    parts = [f"<header><h1>{_e(experiment)}</h1>"]
    if problem:
        parts.append(f'<p class="problem">{_e(problem)}</p>')
    if "title" in manifest:
        parts.append(f'<p class="muted">{_e(manifest["title"])}</p>')
    created = str(manifest.get("created", ""))
    parts.append(
        f'<p class="muted">Results folder <code>{_e(folder.name)}</code>'
        + (f", written {_e(created)}" if created else "")
        + f"; {len(figures)} figure(s), {len(tables)} table(s). Page written by <code>pgjax report</code>.</p>"
    )
    parts.append("<nav>" + "".join(nav) + "</nav></header>")
    if figures:
        parts.append('<h2 id="figures">Figures</h2>')
        parts += [_figure(path) for path in figures]
    if tables:
        parts.append('<h2 id="tables">Tables</h2>')
    for path, df in tables:
        anchor = _anchor(path.stem)
        parts.append(f'<h3 id="{anchor}">{_e(path.name)}</h3>')
        parts.append(render_table(df, anchor + "-rows", manifest_problem=problem))
    parts.append(_manifest_section(manifest))
    title = experiment + (f": {problem}" if problem else "")
    return Page(
        folder, experiment, problem or "", created, len(figures), len(tables), _document(title, "\n".join(parts))
    )


def render_index(pages: Sequence[tuple[str, Page]]) -> str:
    """The index page linking ``pages``, given as (relative link, page) pairs, one sortable row each."""
    rows = "\n".join(
        f'<tr><td><a href="{_e(link)}">{_e(page.experiment)}</a></td><td><code>{_e(page.folder)}</code></td>'
        f"<td>{_e(page.problem)}</td><td>{_e(page.created)}</td>"
        f'<td class="num" data-v="{page.n_figures}">{page.n_figures}</td>'
        f'<td class="num" data-v="{page.n_tables}">{page.n_tables}</td></tr>'
        for link, page in pages
    )
    head = "".join(
        f'<th scope="col" aria-sort="none"{cls}><button type="button">{name}</button></th>'
        for name, cls in (
            ("experiment", ""),
            ("folder", ""),
            ("problem", ""),
            ("created", ""),
            ("figures", NUM_CLASS),
            ("tables", NUM_CLASS),
        )
    )
    body = (
        f'<header><h1>pgjax results</h1><p class="muted">{len(pages)} results folder(s); one page each. '
        "Page written by <code>pgjax report</code>.</p></header>\n"
        f'<div class="scroll"><table class="sortable index" id="index"><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{rows}\n</tbody></table></div>"
    )
    return _document("pgjax results", body)


def report_path(folder: str | os.PathLike[str], out: str | os.PathLike[str] | None) -> Path:
    """Where the page of ``folder`` goes: ``folder/report.html``, or ``out/<folder name>.html``."""
    folder = Path(folder)
    if out is None:
        return folder / REPORT_FILE
    return Path(out) / f"{Path(os.path.abspath(folder)).name}.html"

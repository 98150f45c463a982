"""`pgjax report`: one static page per results folder, checked through the CLI and in a real headless browser.

The folders are copies of committed results (`results/bandit-variance`, `results/kl-estimators`), plus a
large table of known values (more rows than the page shows at once) and a problem description with HTML
special characters, so that sorting, paging, filtering and escaping are checked against numbers the test
chose, not numbers the code produced.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import open_page  # tests/browser.py: tests/ is on sys.path through its conftest.py

from pgjax import cli
from pgjax import io as pio
from pgjax.io import report

ROOT = Path(__file__).resolve().parents[2]
#: More rows than a page shows at once, so the large-table path (JSON rows, paged) is exercised.
BIG_ROWS = report.LARGE_TABLE_ROWS + 500
HOSTILE_PROBLEM = 'KL <b>bold</b> & "quoted" </script><script>alert(1)</script>'


def _run(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _big_table() -> pd.DataFrame:
    """A table the test made: a numeric column with ties, missing values and infinities, and a text column."""
    rng = np.random.default_rng(0)
    value = rng.normal(size=BIG_ROWS).round(3)  # rounding makes ties
    value[::97] = np.nan
    value[5], value[6] = np.inf, -np.inf
    return pd.DataFrame({"label": [f"row-{i}" for i in range(BIG_ROWS)], "value": value, "k": np.arange(BIG_ROWS)})


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Copies of two committed results folders (one with an extra large table, one with a hostile problem
    text), the page of the first written into it, and the pages of both plus the index in OUT."""
    root = tmp_path_factory.mktemp("report")
    bandit = root / "bandit-variance"
    shutil.copytree(ROOT / "results" / "bandit-variance", bandit)
    _big_table().to_parquet(bandit / "big.parquet")
    kl = root / "kl-estimators"
    shutil.copytree(ROOT / "results" / "kl-estimators", kl)
    manifest = pio.read_manifest(kl)
    manifest["problem"] = HOSTILE_PROBLEM
    pio.write_manifest(kl, manifest)
    assert cli.main(["report", str(bandit)]) == 0
    out = root / "pages"
    assert cli.main(["report", str(bandit), str(kl), "--out", str(out)]) == 0
    return {"root": root, "bandit": bandit, "kl": kl, "out": out}


def test_a_page_per_folder_and_an_index(folders):
    bandit, out = folders["bandit"], folders["out"]
    page = (bandit / pio.REPORT_FILE).read_text(encoding="utf-8")
    assert (out / "bandit-variance.html").read_text(encoding="utf-8") == page  # the same page, another place
    manifest = pio.read_manifest(bandit)
    assert f"<title>bandit-variance: {manifest['problem']}</title>" in page
    pngs = sorted(bandit.glob("*.png"))
    assert len(pngs) == 3
    for png in pngs:  # embedded, byte for byte, with the file name as caption
        assert f"data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}" in page
        assert f"<figcaption><code>{png.name}</code>" in page
    for name in ("table.parquet", "quality.parquet", "big.parquet"):
        assert f">{name}</h3>" in page
    assert page.index(">table.parquet<") < page.index(">quality.parquet<") < page.index(">big.parquet<")
    assert manifest["environment"]["git_commit"] in page
    assert "pgjax run bandit-variance --out results/bandit-variance" in page
    assert "http://" not in page and "https://" not in page  # nothing to fetch: no network needed
    index = (out / report.INDEX_FILE).read_text(encoding="utf-8")
    assert 'href="bandit-variance.html"' in index and 'href="kl-estimators.html"' in index
    hostile = (out / "kl-estimators.html").read_text(encoding="utf-8")
    assert "<b>bold</b>" not in hostile and "alert(1)</script>" not in hostile
    assert "KL &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;" in hostile
    assert "<b>bold</b>" not in index


def test_a_run_may_replace_its_folder_with_the_page_in_it(folders, tmp_path):
    """The page pgjax wrote is the folder's own (a run replaces it); a report.html pgjax did not write is not."""
    own = tmp_path / "own"
    shutil.copytree(folders["bandit"], own, ignore=shutil.ignore_patterns("big.parquet"))  # big: not the run's
    assert (own / pio.REPORT_FILE).is_file() and pio.foreign_content(own, "bandit-variance") is None
    (own / pio.REPORT_FILE).write_text("<html>my own notes</html>")
    assert "report.html" in pio.foreign_content(own, "bandit-variance")


def test_a_folder_that_is_not_a_results_folder_is_one_line_and_nothing_is_written(folders, tmp_path, capsys):
    bench = tmp_path / "bench"
    shutil.copytree(ROOT / "results" / "bench", bench)  # committed, but no manifest.json: not a results folder
    before = _snapshot(tmp_path)
    code, out, err = _run(capsys, "report", bench)
    assert (code, out) == (2, "")
    assert err == f"pgjax: error: {bench}: not a pgjax results folder (no manifest.json)\n"
    code, out, err = _run(capsys, "report", folders["kl"], bench, "--out", tmp_path / "pages")
    assert (code, out, err.count("\n")) == (2, "", 1) and "not a pgjax results folder" in err
    code, _, err = _run(capsys, "report", folders["kl"], folders["bandit"])
    assert code == 2 and err.count("\n") == 1 and "several folders need --out" in err
    code, _, err = _run(capsys, "report", tmp_path / "missing")
    assert code == 2 and err.count("\n") == 1 and "no such results folder" in err
    assert _snapshot(tmp_path) == before and not (tmp_path / "pages").exists()
    code, out, err = _run(capsys, "report", "--help")
    assert code == 0 and out.startswith("usage: pgjax report DIR") and err == ""


def test_a_corrupt_table_or_a_read_only_folder_is_one_line_and_nothing_is_written(
    folders, tmp_path, capsys, monkeypatch
):
    corrupt = tmp_path / "corrupt"
    shutil.copytree(folders["kl"], corrupt)
    (corrupt / "exact.parquet").write_bytes(b"PAR1 this is not parquet")
    before = _snapshot(corrupt)
    code, out, err = _run(capsys, "report", corrupt)
    assert (code, out, err.count("\n")) == (2, "", 1) and "exact.parquet: unreadable table" in err
    assert _snapshot(corrupt) == before
    locked = tmp_path / "locked"
    shutil.copytree(folders["kl"], locked, ignore=shutil.ignore_patterns(pio.REPORT_FILE))
    before = _snapshot(locked)
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # modes do not stop root: refuse file creation in the folder
        if dir is not None and Path(dir).resolve() == locked.resolve():
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    locked.chmod(0o555)
    try:
        code, out, err = _run(capsys, "report", locked)
    finally:
        locked.chmod(0o755)
    assert (code, out) == (2, "") and err == f"pgjax: error: cannot write to {locked}: Permission denied\n"
    assert _snapshot(locked) == before


def _expected_text(value: float) -> str:
    """A cell as table.md shows it: 4 significant figures, integers in full, a dash when missing."""
    return "–" if np.isnan(value) else f"{value:.4g}"


def _ascending(values: np.ndarray) -> np.ndarray:
    """Ascending with the missing values last (the page's order)."""
    return np.concatenate([np.sort(values[~np.isnan(values)]), values[np.isnan(values)]])


def _descending(values: np.ndarray) -> np.ndarray:
    return np.concatenate([np.sort(values[~np.isnan(values)])[::-1], values[np.isnan(values)]])


COLUMN = """([id, name]) => {
  const table = document.getElementById(id);
  const c = Array.from(table.tHead.rows[0].cells).findIndex(th => th.textContent.trim() === name);
  return Array.from(table.tBodies[0].rows).filter(r => !r.hidden)
    .map(r => [r.cells[c].textContent, r.cells[c].getAttribute('data-v')]);
}"""


def _column(page, table_id: str, name: str) -> tuple[list[str], np.ndarray]:
    cells = page.evaluate(COLUMN, [table_id, name])
    return [t for t, _ in cells], np.array([float(v) if v else np.nan for _, v in cells])


def _click(page, table_id: str, name: str) -> str:
    """Clicks the header of column ``name`` (a real mouse click on its button); returns its aria-sort."""
    names = page.evaluate(f"Array.from(document.querySelectorAll('#{table_id} thead th')).map(th => th.textContent)")
    header = page.locator(f"#{table_id} thead th").nth(names.index(name))
    header.locator("button").click()
    return header.get_attribute("aria-sort")


@pytest.fixture(scope="module")
def page(folders):
    """The bandit-variance page in one headless Chromium for all the browser checks of this module."""
    with open_page(folders["bandit"] / pio.REPORT_FILE) as opened:
        yield opened


def test_the_page_in_a_browser_sorts_pages_filters_and_shows_its_figures(page, folders):
    assert page.errors == []
    widths = page.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) == 3 and min(widths) > 0
    table = pd.read_parquet(folders["bandit"] / "table.parquet")
    exact = table["var_exact"].to_numpy(np.float64)  # missing for the estimators with no exact variance
    assert np.isnan(exact).any() and len(np.unique(exact[~np.isnan(exact)])) < (~np.isnan(exact)).sum()
    rows = "table-table-rows"
    texts, values = _column(page, rows, "var_exact")
    np.testing.assert_array_equal(values, exact)  # file order, full precision behind each cell
    assert _click(page, rows, "var_exact") == "ascending"
    texts, values = _column(page, rows, "var_exact")
    np.testing.assert_array_equal(values, _ascending(exact))
    assert texts == [_expected_text(v) for v in _ascending(exact)]
    assert _click(page, rows, "var_exact") == "descending"
    texts, values = _column(page, rows, "var_exact")
    np.testing.assert_array_equal(values, _descending(exact))
    assert texts == [_expected_text(v) for v in _descending(exact)]
    labels, _ = _column(page, rows, "estimator")  # a text column sorts too, and rows stay whole
    _click(page, rows, "estimator")
    sorted_labels, _ = _column(page, rows, "estimator")
    assert sorted_labels == sorted(labels)

    big = _big_table()
    rows = "table-big-rows"
    shown, values = _column(page, rows, "value")
    assert len(shown) == report.PAGE_ROWS  # the first rows of a large table, in file order
    np.testing.assert_array_equal(values, big["value"].to_numpy()[: report.PAGE_ROWS])
    _click(page, rows, "value")
    _, values = _column(page, rows, "value")
    np.testing.assert_array_equal(values, _ascending(big["value"].to_numpy())[: report.PAGE_ROWS])
    assert values[0] == -np.inf
    _click(page, rows, "value")
    _, values = _column(page, rows, "value")
    np.testing.assert_array_equal(values, _descending(big["value"].to_numpy())[: report.PAGE_ROWS])
    assert values[0] == np.inf
    page.fill("#table-big-rows-filter", "row-12")  # row-12, row-120..129, row-1200..1299: 111 rows
    labels, values = _column(page, rows, "label")
    wanted = big[big["label"].str.contains("row-12")]
    assert sorted(labels) == sorted(wanted["label"]) and len(labels) == 111
    assert page.text_content("#table-big-rows-count") == f"111 of {BIG_ROWS} rows match"
    assert page.errors == []


def test_the_hostile_problem_text_reads_as_text_and_the_index_links(page, folders):
    page.goto((folders["out"] / "kl-estimators.html").resolve().as_uri())
    assert page.text_content("p.problem") == HOSTILE_PROBLEM
    assert page.evaluate("document.querySelectorAll('b, script:not([type])').length") == 1  # only the page's script
    page.goto((folders["out"] / report.INDEX_FILE).resolve().as_uri())
    assert page.evaluate("Array.from(document.querySelectorAll('a')).map(a => a.textContent)") == [
        "bandit-variance",
        "kl-estimators",
    ]
    assert page.errors == []

"""The README's claims stay true: its summary table matches the committed results, and its Python example
runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pgjax import io as pio
from pgjax.experiments import bandit_variance, interval_coverage

ROOT = Path(__file__).resolve().parents[1]


def test_readme_excerpt_matches_committed_results():
    folder = ROOT / "results" / bandit_variance.NAME
    if not (folder / "table.parquet").exists():
        pytest.fail("results/bandit-variance/table.parquet is missing: run the default experiment")
    readme = (ROOT / "README.md").read_text()
    expected = bandit_variance.readme_with_excerpt(readme, pio.read_table(folder))
    assert readme == expected, "README excerpt is stale: run `python -m pgjax.experiments.bandit_variance`"


def test_readme_coverage_excerpt_matches_committed_results():
    folder = ROOT / "results" / interval_coverage.NAME
    if not (folder / "summary.parquet").exists():
        pytest.fail("results/interval-coverage/summary.parquet is missing: run `pgjax run interval-coverage`")
    readme = (ROOT / "README.md").read_text()
    expected = interval_coverage.readme_with_excerpt(readme, pio.read_frame(folder, "summary"))
    assert readme == expected, "README coverage excerpt is stale: run `python -m pgjax.experiments.interval_coverage`"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "README has no Python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    table = namespace["table"]
    assert set(table["estimator"]) == {"reinforce", "leave_one_out", "pathwise"}
    assert (tmp_path / "my_figure.png").exists()

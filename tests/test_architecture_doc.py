"""docs/architecture.md stays true: its worked example runs, and its layer table is the one that
tests/test_import_graph.py enforces."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_import_graph  # noqa: E402  (the layer table beside this file, importable after the path insert)


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_worked_example_runs_and_its_assertions_hold():
    blocks = _python_blocks(DOC.read_text())
    assert len(blocks) == 2, "the worked example is two Python blocks"
    module = types.ModuleType("architecture_example")  # a real module: dataclasses look their module up
    sys.modules[module.__name__] = module
    try:
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    table = module.table
    assert set(table["estimator"]) == {"reinforce", "exact_j_baseline"}


def test_the_layer_table_is_the_one_the_import_test_enforces():
    documented: dict[str, int] = {}
    for line in DOC.read_text().splitlines():
        row = re.match(r"\| (\d) \| (.+?) \|", line)
        if row:
            for name in re.findall(r"`([^`]+)`", row.group(2)):
                documented[name] = int(row.group(1))
    assert documented == test_import_graph.LAYERS

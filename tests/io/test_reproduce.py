"""`pgjax reproduce DIR`: re-runs the command recorded in a results folder and compares every table."""

from __future__ import annotations

import json

import pandas as pd

from pgjax import cli

TINY = ["bandit-variance", "--n-seeds", "100", "--ns", "1", "4", "--estimators", "reinforce", "--no-figures"]


def test_a_run_is_reproduced_value_by_value_and_a_changed_value_is_reported(tmp_path, capsys):
    assert cli.main(["run", *TINY, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert cli.main(["reproduce", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 0
    assert f"identical: quality.parquet, table.parquet of {tmp_path / 'a'}" in capsys.readouterr().out
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a" / "table.parquet"), pd.read_parquet(tmp_path / "b" / "table.parquet")
    )
    # one value changed in its last digits: reported by table, column and row, exit 1
    table = pd.read_parquet(tmp_path / "a" / "table.parquet")
    table.loc[3, "var"] = table.loc[3, "var"] * (1 + 1e-12)
    table.to_parquet(tmp_path / "a" / "table.parquet")
    assert cli.main(["reproduce", str(tmp_path / "a"), "--out", str(tmp_path / "c")]) == 1
    out = capsys.readouterr().out
    assert "NOT reproduced" in out and "column 'var': 1 of" in out and "first at row 3" in out
    # the ignored column is left out, and then the folder is reproduced; a table only the new run writes
    # (a folder from before quality.parquet) is named, not a difference
    (tmp_path / "a" / "quality.parquet").unlink()
    assert cli.main(["reproduce", str(tmp_path / "a"), "--out", str(tmp_path / "d"), "--ignore", "var"]) == 0
    out = capsys.readouterr().out
    assert "columns left out: var" in out and "not compared: quality.parquet" in out


def test_a_folder_without_a_recorded_run_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    manifest = {"schema": "pgjax.results/1", "experiment": "bandit-variance", "command": ["python"]}
    (tmp_path / "x" / "manifest.json").write_text(json.dumps(manifest))
    assert cli.main(["reproduce", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pgjax: error:") and "records no `pgjax run` command" in err and "\n" not in err

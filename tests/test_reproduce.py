"""`pgjax reproduce DIR`: re-runs the command recorded in a results folder and compares every table."""

from __future__ import annotations

import json

import pandas as pd

from pgjax import cli

TINY = ["bandit-variance", "--n-seeds", "200", "--ns", "1", "4", "--estimators", "reinforce", "pathwise"]


def test_a_fresh_run_reproduces_its_folder_value_by_value(tmp_path, capsys):
    assert cli.main(["run", *TINY, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert cli.main(["reproduce", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert f"identical: table.parquet of {tmp_path / 'a'}" in out
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a" / "table.parquet"), pd.read_parquet(tmp_path / "b" / "table.parquet")
    )


def test_a_changed_value_is_reported_by_column_and_exits_1(tmp_path, capsys):
    assert cli.main(["run", *TINY, "--out", str(tmp_path / "a")]) == 0
    table = pd.read_parquet(tmp_path / "a" / "table.parquet")
    table.loc[3, "var"] = table.loc[3, "var"] * (1 + 1e-12)  # one value, in its last digits
    table.to_parquet(tmp_path / "a" / "table.parquet")
    capsys.readouterr()
    assert cli.main(["reproduce", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "NOT reproduced" in out
    assert "column 'var': 1 of" in out and "first at row 3" in out
    # the ignored column is left out, and then the folder is reproduced
    assert cli.main(["reproduce", str(tmp_path / "a"), "--out", str(tmp_path / "c"), "--ignore", "var"]) == 0
    assert "columns left out: var" in capsys.readouterr().out


def test_a_folder_without_a_recorded_run_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "manifest.json").write_text(
        json.dumps({"schema": "pgjax.results/1", "experiment": "bandit-variance", "command": ["python"]})
    )
    assert cli.main(["reproduce", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pgjax: error:") and "records no `pgjax run` command" in err and "\n" not in err

"""The pgjax command end to end, in a temporary folder: run, then table and plot from the saved files, and
every kind of bad input (one line on stderr, exit code 2, nothing written)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("PGJAX_NO_COMPILE_CACHE", "1")  # keep the user cache out of tests

from pgjax import cli, results  # noqa: E402

SMALL = ["--n-seeds", "64", "--ns", "1", "8", "--estimators", "reinforce", "leave_one_out", "pathwise"]


def _run(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    code = cli.main(["run", "bandit-variance", *SMALL, "--out", str(out)])
    assert code == 0
    return out


def test_run_writes_every_output(finished_run):
    names = {p.name for p in finished_run.iterdir()}
    for expected in ["table.parquet", "table.csv", "table.md", "table.tex", "raw.npz", "manifest.json",
                     "figure.png", "figure.pdf", "bias.png", "bias.pdf", "cells"]:
        assert expected in names, expected
    assert not [n for n in names if ".tmp-" in n]
    assert not [p for p in finished_run.parent.iterdir() if p.name.startswith(".")], "staging left behind"
    manifest = results.read_manifest(finished_run)
    assert manifest["config"]["n_seeds"] == 64
    assert manifest["command"][:3] == ["pgjax", "run", "bandit-variance"]
    assert manifest["environment"]["device_count"] >= 1
    table = results.read_table(finished_run)
    assert len(table) == 3 * 2 * 3  # estimators x ns x coordinates
    assert set(table["n_seeds"]) == {64}


def test_table_and_plot_rerender_without_recomputing(finished_run, capsys):
    raw_before = (finished_run / "raw.npz").read_bytes()
    (finished_run / "table.md").unlink()
    (finished_run / "figure.png").unlink()
    code, out, _ = _run(capsys, "table", str(finished_run))
    assert code == 0 and "leave_one_out" in out
    assert (finished_run / "table.md").exists()
    code, out, _ = _run(capsys, "plot", str(finished_run))
    assert code == 0 and (finished_run / "figure.png").stat().st_size > 1000
    assert (finished_run / "raw.npz").read_bytes() == raw_before


def test_raw_estimates_reproduce_the_table(finished_run):
    from pgjax import stats

    estimates, names, true_grad = results.read_raw(finished_run)
    table = results.read_table(finished_run)
    again = stats.summarise(estimates, names, true_grad)
    np.testing.assert_array_equal(again["var"].to_numpy(), table["var"].to_numpy())


def test_list_names_the_experiment(capsys):
    code, out, _ = _run(capsys, "list")
    assert code == 0 and "bandit-variance" in out


BAD_INPUTS = [
    (["--sigma", "0"], "--sigma"),
    (["--sigma", "-1"], "--sigma"),
    (["--ns", "0", "4"], "--ns"),
    (["--n-seeds", "1"], "--n-seeds"),
    (["--estimators", "nope"], "--estimators"),
    (["--reward", "cubic"], "--reward"),
    (["--theta", "1", "2", "3"], "--theta"),
    (["--state-std", "-1"], "--state-std"),
    (["--n-seeds", "many"], "--n-seeds"),
    (["--no-such-flag", "1"], "--no-such-flag"),
]


@pytest.mark.parametrize("args, field", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, field):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "run", "bandit-variance", *args, "--out", str(out))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pgjax: error:"), err
    assert field in lines[0]
    assert "Traceback" not in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_path(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = _run(capsys, "run", "bandit-variance", *SMALL, "--out", str(blocker / "sub"))
    assert code == 2 and err.count("\n") == 1 and "cannot write" in err
    assert blocker.read_text() == "not a folder"


def test_failed_run_keeps_earlier_results(finished_run, capsys):
    snapshot = lambda: {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file()}
    before = snapshot()
    code, _, _ = _run(capsys, "run", "bandit-variance", "--sigma", "-3", "--out", str(finished_run))
    assert code == 2
    assert snapshot() == before


@pytest.mark.parametrize(
    "args",
    [["run"], ["run", "no-such-experiment"], ["frobnicate"], ["table"], ["plot", "/no/such/folder"]],
)
def test_usage_errors(capsys, args):
    code, _, err = _run(capsys, *args)
    assert code == 2 and err.count("\n") == 1 and err.startswith("pgjax: error:")


def test_table_on_corrupt_folder_names_the_file(tmp_path, capsys):
    (tmp_path / "table.parquet").write_bytes(b"PAR1 this is not parquet")
    code, _, err = _run(capsys, "table", str(tmp_path))
    assert code == 2 and "table.parquet" in err and err.count("\n") == 1
    code, _, err = _run(capsys, "plot", str(tmp_path))
    assert code == 2 and "table.parquet" in err and err.count("\n") == 1


def test_console_script_is_installed(tmp_path):
    """The real `pgjax` executable, as a user calls it (no traceback for a bad flag)."""
    exe = Path(sys.executable).with_name("pgjax")
    if not exe.exists():
        pytest.skip("pgjax console script not installed next to this python")
    proc = subprocess.run([str(exe), "run", "bandit-variance", "--sigma", "-1", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, env={**os.environ, "PGJAX_NO_COMPILE_CACHE": "1"})
    assert proc.returncode == 2
    assert proc.stderr == "pgjax: error: --sigma: must be > 0 (got -1.0)\n"

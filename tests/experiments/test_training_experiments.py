"""The environment experiments end to end through the CLI, at tiny sizes: files, figures, resume, errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pgjax import cli
from pgjax import io as pio

TINY = [
    "--n-seeds",
    "8",
    "--episodes",
    "2",
    "--horizon",
    "30",
    "--updates",
    "4",
    "--log-every",
    "2",
    "--bootstrap-reps",
    "200",
    "--estimators",
    "reward_to_go",
    "gae",
    "--chunks",
    "2",
]


def _run(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "cartpole"
    assert cli.main(["run", "cartpole-reinforce", *TINY, "--out", str(out)]) == 0
    return out


def test_training_run_writes_tables_figures_and_manifest(cartpole_run):
    names = {p.name for p in cartpole_run.iterdir()}
    for stem in ("table", "curves", "improvement"):
        for ext in ("parquet", "csv", "md", "tex"):
            assert f"{stem}.{ext}" in names
    for expected in ("raw.npz", "manifest.json", "figure.png", "figure.pdf", "improvement.png", "cells"):
        assert expected in names, expected
    curves = pd.read_parquet(cartpole_run / "curves.parquet")
    assert set(curves["variant"]) == {"reward_to_go", "gae"}
    assert curves.groupby("variant")["updates"].apply(list).tolist() == [[2, 4], [2, 4]]
    assert (curves["iqm_lo"] <= curves["iqm"]).all() and (curves["iqm"] <= curves["iqm_hi"]).all()
    improvement = pd.read_parquet(cartpole_run / "improvement.parquet")
    assert len(improvement) == 2
    manifest = json.loads((cartpole_run / "manifest.json").read_text())
    assert manifest["experiment"] == "cartpole-reinforce" and manifest["n_seeds"] == 8


def test_training_resume_reuses_checkpoints_and_gives_the_same_tables(cartpole_run, tmp_path, capsys):
    before = pd.read_parquet(cartpole_run / "curves.parquet")
    code, out, _ = _run(capsys, "run", "cartpole-reinforce", *TINY, "--out", str(cartpole_run), "--resume")
    assert code == 0
    after = pd.read_parquet(cartpole_run / "curves.parquet")
    pd.testing.assert_frame_equal(before, after)
    assert len(list((cartpole_run / "cells").rglob("train-*.npz"))) == 2


def test_plot_redraws_training_figures(cartpole_run, capsys):
    (cartpole_run / "figure.png").unlink()
    code, _, err = _run(capsys, "plot", str(cartpole_run))
    assert code == 0, err
    assert (cartpole_run / "figure.png").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--estimators", "nope"], "--estimators: unknown estimator 'nope'"),
        (["--n-seeds", "2"], "--n-seeds"),
        (["--updates", "5"], "--updates"),
        (["--learning-rates", "-1"], "--learning-rates"),
        (["--env", "atari"], "--env"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "x"
    code, _, err = _run(capsys, "run", "cartpole-reinforce", *TINY, *args, "--out", str(out))
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], err
    assert not out.exists()


def test_pong_smoke_and_pendulum_run(tmp_path):
    small = ["--n-seeds", "4", "--updates", "2", "--log-every", "1", "--horizon", "20", "--bootstrap-reps", "100"]
    assert cli.main(["run", "pong-pixels", *small, "--out", str(tmp_path / "pong")]) == 0
    assert (tmp_path / "pong" / "figure.png").exists()
    assert (
        cli.main(
            [
                "run",
                "pendulum-gaussian",
                *small,
                "--estimators",
                "leave_one_out",
                "--no-figures",
                "--out",
                str(tmp_path / "pendulum"),
            ]
        )
        == 0
    )
    table = pd.read_parquet(tmp_path / "pendulum" / "table.parquet")
    assert table["mean"].lt(0).all()  # pendulum rewards are costs


def test_variance_experiment_tables_and_figures(tmp_path):
    out = tmp_path / "variance"
    args = [
        "run",
        "cartpole-variance",
        "--n-seeds",
        "20",
        "--ns",
        "2",
        "4",
        "--snapshots",
        "0",
        "2",
        "--reference-batches",
        "16",
        "--reference-episodes",
        "8",
        "--horizon",
        "30",
        "--estimators",
        "reinforce",
        "batch_mean_baseline",
        "gae",
        "--out",
        str(out),
    ]
    assert cli.main(args) == 0
    table = pd.read_parquet(out / "table.parquet")
    assert set(table["snapshot"]) == {"initial", "trained"}
    assert (table["reference_se"] > 0).all() and table["reference_var_fraction"].notna().all()
    for name in ("figure-initial.png", "figure-trained.png", "bias-initial.png", "bias-trained.png"):
        assert (out / name).exists(), name
    # the grid's quality table: one row per (snapshot, estimator, n), against each snapshot's reference
    quality = pio.read_quality(out)
    assert len(quality) == 2 * 3 * 2 and set(quality["snapshot"]) == {"initial", "trained"}
    assert quality["nse"].gt(0).all() and quality["cos"].between(-1, 1).all() and (quality["n_pairs"] == 10).all()
    assert quality["nse_exact"].isna().all()  # no exact variances against a reference gradient


def test_table_rerenders_training_tables(cartpole_run, capsys):
    (cartpole_run / "curves.md").unlink()
    code, out, err = _run(capsys, "table", str(cartpole_run))
    assert code == 0, err
    assert "| variant" in out and "auc_iqm" in out
    assert (cartpole_run / "curves.md").exists()
    (cartpole_run / "improvement.parquet").write_bytes(b"garbage")
    code, _, err = _run(capsys, "table", str(cartpole_run))
    assert code == 2 and "improvement.parquet: unreadable table" in err

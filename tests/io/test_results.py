"""Tests for pgjax.io: round trips, atomic and staged writes, error messages."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pgjax import io as pio
from pgjax.errors import PgjaxError
from pgjax.io import ResultsError, atomic, staging


def make_table(seed: int = 0) -> pd.DataFrame:
    """A small valid results table: 2 estimators x 3 n x 2 params."""
    rng = np.random.default_rng(seed)
    rows = []
    for estimator in ("reinforce", "reinforce_baseline"):
        for n in (1, 4, 16):
            for p, param in enumerate(("theta[0]", "log_sigma")):
                var = float(rng.uniform(0.1, 2.0) / n)
                rows.append(
                    {
                        "experiment": "bandit-variance",
                        "problem": "bandit",
                        "estimator": estimator,
                        "param": param,
                        "n": n,
                        "n_seeds": 1000,
                        "n_nonfinite": 0,
                        "mean": float(rng.normal()),
                        "true_grad": 0.5 - p,
                        "bias": float(rng.normal() * 1e-3),
                        "bias_se": float(np.sqrt(var / 1000)),
                        "var": var,
                        "var_lo": 0.9 * var,
                        "var_hi": 1.1 * var,
                        "n_var": n * var,
                        "mse": var + 1e-6,
                        "var_exact": var * 1.01 if estimator == "reinforce" else np.nan,
                        "var_ratio": np.nan,
                        "var_ratio_lo": np.nan,
                        "var_ratio_hi": np.nan,
                    }
                )
    return pd.DataFrame(rows)


def tmp_leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp-" in p.name]


# --------------------------------------------------------------------------- tables


def test_table_parquet_round_trip_is_exact(tmp_path: Path) -> None:
    df = make_table()
    written = pio.write_table(df, tmp_path)
    assert sorted(p.name for p in written) == ["table.csv", "table.md", "table.parquet", "table.tex"]
    back = pio.read_table(tmp_path)
    pd.testing.assert_frame_equal(back, df, check_exact=True)
    assert list(back.columns) == list(pio.TABLE_COLUMNS)
    assert back["n"].dtype == np.int64 and back["var"].dtype == np.float64
    assert not tmp_leftovers(tmp_path)


def test_table_csv_keeps_full_precision(tmp_path: Path) -> None:
    df = make_table()
    pio.write_table(df, tmp_path)
    csv = pd.read_csv(tmp_path / "table.csv")
    np.testing.assert_array_equal(csv["var"].to_numpy(), df["var"].to_numpy())


def test_write_table_rejects_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="var_hi"):
        pio.write_table(make_table().drop(columns=["var_hi"]), tmp_path)


def test_read_table_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="table.parquet"):
        pio.read_table(tmp_path)


def test_read_table_truncated_names_file(tmp_path: Path) -> None:
    pio.write_table(make_table(), tmp_path)
    path = tmp_path / "table.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ResultsError, match="table.parquet") as info:
        pio.read_table(tmp_path)
    assert isinstance(info.value, PgjaxError)
    # Also garbage with no parquet magic at all.
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(ResultsError, match="table.parquet"):
        pio.read_table(tmp_path)


def test_read_table_foreign_parquet_names_file_and_columns(tmp_path: Path) -> None:
    pd.DataFrame({"x": [1, 2], "y": [0.5, 0.25]}).to_parquet(tmp_path / "table.parquet")
    with pytest.raises(ResultsError, match=r"table\.parquet.*not a pgjax results table") as info:
        pio.read_table(tmp_path)
    assert "estimator" in str(info.value)


def test_read_table_wrong_column_type_is_foreign(tmp_path: Path) -> None:
    df = make_table()
    df["var"] = "big"
    df.to_parquet(tmp_path / "table.parquet", index=False)
    with pytest.raises(ResultsError, match="var"):
        pio.read_table(tmp_path)


def test_markdown_and_latex_use_four_significant_figures() -> None:
    df = make_table().iloc[:1].copy()
    df["var"] = 0.123456789
    df["mean"] = -1234.5678
    df["bias"] = 1.23456e-5
    df["n_seeds"] = 123456
    md = pio.render_markdown(df)
    tex = pio.render_latex(df)
    for text in (md, tex):
        assert "0.1235" in text
        assert "0.123456" not in text
        assert "123456" in text  # integers are not rounded
        assert "-1235" in text
    assert "1.235e-05" in md
    assert r"1.235\times 10^{-5}" in tex
    # Missing values.
    assert "–" in md
    assert " -- " in tex
    # Constant experiment/problem columns move into the heading / caption.
    assert "bandit-variance" in md and "| experiment" not in md
    assert r"\texttt{bandit-variance}" in tex
    assert r"\toprule" in tex and r"\bottomrule" in tex
    assert r"log\_sigma" in tex or r"theta[0]" in tex
    assert r"n\_seeds" in tex


def test_markdown_keeps_varying_experiment_column() -> None:
    a = make_table()
    b = make_table().assign(experiment="other")
    md = pio.render_markdown(pd.concat([a, b], ignore_index=True))
    header = next(line for line in md.splitlines() if line.startswith("|"))
    assert "| experiment" in header and "problem" not in header
    assert "problem `bandit`" in md


# --------------------------------------------------------------------------- raw


def test_raw_round_trip_is_bit_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    estimates = {
        "reinforce": {n: rng.standard_normal((50, 3)).astype(np.float32) for n in (1, 2, 8)},
        "a|b estimator": {4: np.array([[np.nan, np.inf, -0.0]] * 5, dtype=np.float32)},
    }
    names = ["theta[0]", "theta[1]", "log_sigma"]
    grad = np.array([0.1, -2.0, 1.0 / 3.0])
    pio.write_raw(tmp_path, estimates, names, grad)
    back, back_names, back_grad = pio.read_raw(tmp_path)
    assert back_names == names
    assert back_grad.dtype == np.float64
    assert back_grad.tobytes() == grad.tobytes()
    assert list(back) == list(estimates)
    for estimator, by_n in estimates.items():
        assert list(back[estimator]) == sorted(by_n)
        for n, arr in by_n.items():
            got = back[estimator][n]
            assert got.dtype == arr.dtype and got.shape == arr.shape
            assert got.tobytes() == arr.tobytes()
    assert not tmp_leftovers(tmp_path)


def test_write_raw_checks_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected"):
        pio.write_raw(tmp_path, {"e": {1: np.zeros((4, 2))}}, ["a", "b", "c"], np.zeros(3))
    with pytest.raises(ValueError, match="true_grad"):
        pio.write_raw(tmp_path, {"e": {1: np.zeros((4, 2))}}, ["a", "b"], np.zeros(3))


def test_read_raw_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="raw.npz"):
        pio.read_raw(tmp_path)
    (tmp_path / "raw.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ResultsError, match="raw.npz"):
        pio.read_raw(tmp_path)
    np.savez(tmp_path / "raw.npz", something=np.zeros(3))
    with pytest.raises(ResultsError, match="raw.npz"):
        pio.read_raw(tmp_path)


# --------------------------------------------------------------------------- manifest


def test_manifest_round_trip(tmp_path: Path) -> None:
    manifest = {
        "experiment": "bandit-variance",
        "config": {"seeds": 1000, "ns": (1, 2, 4), "lr": np.float32(0.5), "nan": float("nan")},
        "argv": ["pgjax", "run"],
        "out": tmp_path,
        "timing": {"compile_s": 1.25, "run_s": np.float64(2.5)},
    }
    path = pio.write_manifest(tmp_path, manifest)
    raw_text = path.read_text()
    assert json.loads(raw_text)["schema"] == pio.SCHEMA
    assert next(iter(json.loads(raw_text))) == "schema"
    back = pio.read_manifest(tmp_path)
    assert back["schema"] == "pgjax.results/1"
    assert back["experiment"] == "bandit-variance"
    assert back["config"] == {"seeds": 1000, "ns": [1, 2, 4], "lr": 0.5, "nan": None}
    assert back["out"] == str(tmp_path)
    assert back["timing"]["run_s"] == 2.5


def test_write_manifest_requires_experiment(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="experiment"):
        pio.write_manifest(tmp_path, {"config": {}})


def test_read_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="manifest.json"):
        pio.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ResultsError, match="manifest.json"):
        pio.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"experiment": "x"}))
    with pytest.raises(ResultsError, match="schema"):
        pio.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": "other/2", "experiment": "x"}))
    with pytest.raises(ResultsError, match="other/2"):
        pio.read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ResultsError, match="manifest.json"):
        pio.read_manifest(tmp_path)


def test_environment_info_has_versions_and_never_crashes() -> None:
    info = pio.environment_info()
    assert info["python"].count(".") == 2
    assert info["packages"]["numpy"] == np.__version__
    assert info["packages"]["pandas"] == pd.__version__
    for key in ("jax", "jaxlib", "optax", "flax", "chex", "matplotlib"):
        assert key in info["packages"]
    for key in ("device_kind", "device_count", "git_commit", "git_dirty", "platform"):
        assert key in info
    json.dumps(info)  # manifest-ready


# --------------------------------------------------------------------------- atomic writes


def test_atomic_write_replaces_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    pio.atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert not tmp_leftovers(tmp_path)


def test_atomic_write_failure_keeps_old_file_and_removes_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        pio.atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert not tmp_leftovers(tmp_path)


def test_atomic_write_temp_name_is_git_ignored_pattern(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    pio.atomic_write_bytes(tmp_path / "figure.png", b"x")
    assert len(seen) == 1
    assert Path(seen[0]).match("*.tmp-*") and seen[0].startswith("figure.tmp-")
    assert seen[0].endswith(".png")


# --------------------------------------------------------------------------- staged output


def _old_results(out: Path, experiment: str = "bandit", files: dict[str, str] | None = None) -> None:
    """A results folder as a finished run of ``experiment`` leaves it."""
    with pio.staged_output(out) as stage:
        pio.write_manifest(stage, {"experiment": experiment})
        for name, text in (files or {"table.csv": "old table", "figure.png": "old figure"}).items():
            (stage / name).write_text(text)


def test_staged_output_replaces_the_whole_folder_in_one_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No file is ever moved into the results folder one by one: the finished stage takes its place whole
    (one rename, or one exchange), so a reader never sees old and new files side by side."""
    out = tmp_path / "runs" / "bandit"
    _old_results(out)
    per_file: list[str] = []
    whole: list[tuple[str, str]] = []
    real_replace, real_rename, real_exchange = os.replace, os.rename, staging._exchange

    def spy_replace(src: str, dst: str) -> None:
        if Path(dst).parent == out:
            per_file.append(Path(dst).name)
        real_replace(src, dst)

    def spy_rename(src, dst) -> None:
        whole.append(("rename", Path(dst).name))
        real_rename(src, dst)

    def spy_exchange(a: Path, b: Path) -> bool:
        whole.append(("exchange", Path(b).name))
        return real_exchange(a, b)

    monkeypatch.setattr(os, "replace", spy_replace)
    monkeypatch.setattr(os, "rename", spy_rename)
    monkeypatch.setattr(staging, "_exchange", spy_exchange)
    with pio.staged_output(out) as stage:
        assert stage.parent == out.parent and stage.name.startswith(".bandit.tmp-")
        pio.write_manifest(stage, {"experiment": "bandit"})
        pio.write_table(make_table(), stage)
        (stage / "sub").mkdir()
        (stage / "sub" / "x.txt").write_text("x")
        assert (out / "figure.png").read_text() == "old figure"  # nothing changes before the end
    assert per_file == []
    assert whole[0] == ("exchange", "bandit") and (whole[0] if len(whole) == 1 else whole[-1])[1] == "bandit"
    # the old figure is gone with the old folder: no stale file beside the new table
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "sub",
        "table.csv",
        "table.md",
        "table.parquet",
        "table.tex",
    ]
    assert (out / "sub" / "x.txt").read_text() == "x"
    assert pio.read_manifest(out)["files"] == [
        "manifest.json",
        "sub/x.txt",
        "table.csv",
        "table.md",
        "table.parquet",
        "table.tex",
    ]
    assert sorted(p.name for p in out.parent.iterdir()) == ["bandit"]
    assert not tmp_leftovers(tmp_path)
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~atomic._umask())
    pd.testing.assert_frame_equal(pio.read_table(out), make_table())


def test_staged_output_without_an_atomic_exchange_uses_two_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bandit"
    _old_results(out)
    monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    with pio.staged_output(out) as stage:
        pio.write_manifest(stage, {"experiment": "bandit"})
        (stage / "table.csv").write_text("new table")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "table.csv"]
    assert (out / "table.csv").read_text() == "new table"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bandit"]


def test_staged_output_cut_between_two_renames_keeps_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the two folders cannot be exchanged atomically, the old folder is set aside first; an error
    (or Ctrl-C) before the new one is in place puts it back, and after a kill remove_stale does."""
    out = tmp_path / "bandit"
    _old_results(out)
    monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    real_rename = os.rename

    def second_rename_fails(src, dst) -> None:
        if Path(dst) == out and Path(src).name.startswith(".bandit.tmp-"):  # the stage into place
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", second_rename_fails)
    with pytest.raises(KeyboardInterrupt):
        with pio.staged_output(out) as stage:
            pio.write_manifest(stage, {"experiment": "bandit"})
            (stage / "table.csv").write_text("new table")
    monkeypatch.undo()
    assert (out / "table.csv").read_text() == "old table" and (out / "figure.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bandit"]
    # A process killed between the renames leaves the old folder aside and none in place:
    aside = tmp_path / ".bandit.tmp-old-abc123"
    aside.mkdir()
    os.rename(out, aside / "x")
    (tmp_path / ".bandit.tmp-xyz").mkdir()  # and its stage
    pio.remove_stale(out)
    assert (out / "table.csv").read_text() == "old table"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bandit"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_staged_output_failure_leaves_out_dir_untouched(tmp_path: Path, error: type[BaseException]) -> None:
    out = tmp_path / "bandit"
    out.mkdir()
    (out / "table.csv").write_text("old table")
    (out / "manifest.json").write_text("old manifest")
    with pytest.raises(error):
        with pio.staged_output(out) as stage:
            (stage / "table.csv").write_text("new table")
            pio.write_manifest(stage, {"experiment": "bandit"})
            raise error("boom")
    assert (out / "table.csv").read_text() == "old table"
    assert (out / "manifest.json").read_text() == "old manifest"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "table.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bandit"]


def test_staged_output_failure_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "bandit"
    with pytest.raises(RuntimeError):
        with pio.staged_output(out) as stage:
            (stage / "table.csv").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_staged_output_carries_the_resume_store(tmp_path: Path) -> None:
    out = tmp_path / "bandit"
    _old_results(out)
    cell = out / "cells" / "0123456789abcdef" / "cell.npz"
    cell.parent.mkdir(parents=True)
    cell.write_bytes(b"cell")
    (cell.parent / "run.json").write_text(json.dumps({"experiment": "bandit"}))
    with pio.staged_output(out) as stage:
        pio.write_manifest(stage, {"experiment": "bandit"})
    assert cell.read_bytes() == b"cell"
    assert "cells/0123456789abcdef/cell.npz" not in pio.read_manifest(out)["files"]


@pytest.mark.parametrize(
    "setup, reason",
    [
        (lambda out: _old_results(out, experiment="other"), "holds the results of experiment 'other'"),
        (lambda out: (out.mkdir(), (out / "notes.txt").write_text("mine")), "did not write (notes.txt)"),
        (lambda out: (_old_results(out), (out / "notes.txt").write_text("mine")), "did not write (notes.txt)"),
        (lambda out: (out.mkdir(), (out / "manifest.json").write_text("{}")), "is not a pgjax manifest"),
        (
            lambda out: (
                out.mkdir(),
                (out / "cells" / "k").mkdir(parents=True),
                (out / "cells" / "k" / "run.json").write_text('{"experiment": "other"}'),
            ),
            "holds the unfinished run of experiment 'other'",
        ),
    ],
)
def test_staged_output_refuses_a_folder_that_is_not_this_experiments(tmp_path: Path, setup, reason: str) -> None:
    out = tmp_path / "bandit"
    setup(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ResultsError, match=re.escape(reason)) as info:
        with pio.staged_output(out) as stage:
            pio.write_manifest(stage, {"experiment": "bandit"})
            (stage / "table.csv").write_text("new")
    assert "--overwrite" in str(info.value) and "\n" not in str(info.value)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bandit"]
    with pio.overwriting():  # --overwrite: replaced, the strangers gone
        with pio.staged_output(out) as stage:
            pio.write_manifest(stage, {"experiment": "bandit"})
            (stage / "table.csv").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "table.csv"]


def test_a_folder_of_the_same_experiment_may_be_replaced(tmp_path: Path) -> None:
    out = tmp_path / "bandit"
    assert pio.foreign_content(out, "bandit") is None  # absent
    out.mkdir()
    assert pio.foreign_content(out, "bandit") is None  # empty
    (out / "cells" / "k").mkdir(parents=True)
    (out / "cells" / "k" / "a.npz").write_bytes(b"x")  # a stopped run: cells only, run.json not yet written
    assert pio.foreign_content(out, "bandit") is None
    (out / "cells" / "k" / "run.json").write_text('{"experiment": "bandit"}')
    assert pio.foreign_content(out, "bandit") is None
    (out / "figure.png").write_text("?")  # results without a manifest: not pgjax's to delete
    assert "figure.png" in pio.foreign_content(out, "bandit")
    (out / "figure.png").unlink()
    (out / "manifest.json").write_text(json.dumps({"schema": pio.SCHEMA, "experiment": "bandit"}))
    (out / "figure.png").write_text("?")  # a manifest written before the files list: the usual suffixes
    assert pio.foreign_content(out, "bandit") is None
    assert "holds the results of experiment 'bandit'" in pio.foreign_content(out, "other")


def test_record_files_adds_what_plot_drew(tmp_path: Path) -> None:
    out = tmp_path / "bandit"
    _old_results(out)
    (out / "extra.png").write_text("drawn later")
    assert "extra.png" in pio.foreign_content(out, "bandit")
    pio.record_files(out, [out / "extra.png"])
    assert pio.foreign_content(out, "bandit") is None


# --------------------------------------------------------------------------- check_writable


def test_check_writable_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    pio.check_writable(out)
    assert list(tmp_path.iterdir()) == []
    existing = tmp_path / "existing"
    existing.mkdir()
    pio.check_writable(existing)
    assert existing.is_dir() and list(existing.iterdir()) == []


def test_check_writable_fails_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("i am a file")
    with pytest.raises(ResultsError, match=r"cannot write to .*file.*: ") as info:
        pio.check_writable(blocker / "out")
    assert isinstance(info.value, PgjaxError)
    with pytest.raises(ResultsError, match="cannot write to"):
        pio.check_writable(blocker)  # out_dir itself is a file
    assert blocker.read_text() == "i am a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]

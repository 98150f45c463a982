"""Tests for pgjax.plotting.training: figures are drawn from saved tables; bad tables give a clear error."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from pgjax import io as pio
from pgjax.analysis import bootstrap
from pgjax.io import ResultsError
from pgjax.plotting import training as plot_training


def synthetic_tables(variants=("reinforce", "reward_to_go", "gae"), seeds=32, points=9):
    rng = np.random.default_rng(0)
    t = np.arange(1, points + 1)
    returns = {}
    for i, name in enumerate(variants):
        mean = 500 * (1 - np.exp(-0.15 * (i + 1) * t))
        returns[name] = np.clip(mean[None, :] + rng.normal(0, 50, (seeds, points)), 0, 500)
    curves = bootstrap.learning_curve_table(returns, t * 5000, reps=100, seed=0)
    improvement = bootstrap.improvement_table({k: v[:, -1] for k, v in returns.items()}, reps=100, seed=0)
    return curves, improvement


def assert_figure(path: Path) -> None:
    assert path.is_file()
    if path.suffix == ".png":
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
        assert image[..., :3].std() > 0.05  # not blank
    else:
        data = path.read_bytes()
        assert data.startswith(b"%PDF")
        assert b"/FontFile2" in data  # embedded TrueType outlines
        assert b"/Type3" not in data
    assert not list(path.parent.glob("*.tmp-*"))  # atomic writes leave no temp files


def write_folder(folder: Path, curves: pd.DataFrame, improvement: pd.DataFrame) -> None:
    curves.to_parquet(folder / plot_training.CURVES_FILE)
    improvement.to_parquet(folder / plot_training.IMPROVEMENT_FILE)


def test_plot_functions_write_png_and_pdf(tmp_path):
    curves, improvement = synthetic_tables()
    paths = plot_training.plot_learning_curves(curves, tmp_path / "curves", title="CartPole-v1", target=500)
    assert paths == [tmp_path / "curves.png", tmp_path / "curves.pdf"]
    paths += plot_training.plot_improvement(improvement, tmp_path / "poi", title="CartPole-v1")
    assert paths[2:] == [tmp_path / "poi.png", tmp_path / "poi.pdf"]
    for path in paths:
        assert_figure(path)
    # The target line is drawn: the figure changes with it.
    plot_training.plot_learning_curves(curves, tmp_path / "plain", title="CartPole-v1")
    assert (tmp_path / "plain.png").read_bytes() != (tmp_path / "curves.png").read_bytes()


def test_plot_functions_reject_tables_without_columns(tmp_path):
    curves, improvement = synthetic_tables()
    with pytest.raises(ValueError, match="iqm_lo"):
        plot_training.plot_learning_curves(curves.drop(columns="iqm_lo"), tmp_path / "x")
    with pytest.raises(ValueError, match="no rows"):
        plot_training.plot_improvement(improvement.iloc[:0], tmp_path / "y")


def test_draw_from_folder(tmp_path):
    curves, improvement = synthetic_tables(variants=("reinforce", "leave_one_out", "gae", "reward_to_go"))
    write_folder(tmp_path, curves, improvement)
    paths = plot_training.draw(tmp_path)  # no manifest: tolerated
    assert [p.name for p in paths] == ["figure.png", "figure.pdf", "improvement.png", "improvement.pdf"]
    for path in paths:
        assert_figure(path)
    untitled = (tmp_path / "figure.png").read_bytes()
    pio.write_manifest(tmp_path, {"experiment": "train-cartpole", "problem": "CartPole-v1", "config": {"target": 500}})
    plot_training.draw(tmp_path)
    assert (tmp_path / "figure.png").read_bytes() != untitled


def test_draw_skips_improvement_for_a_single_variant(tmp_path):
    curves, improvement = synthetic_tables(variants=("gae",))
    assert len(improvement) == 0
    write_folder(tmp_path, curves, improvement)
    assert [p.name for p in plot_training.draw(tmp_path)] == ["figure.png", "figure.pdf"]


def one_line_error(folder: Path, name: str) -> str:
    with pytest.raises(ResultsError) as info:
        plot_training.draw(folder)
    message = str(info.value)
    assert "\n" not in message
    assert str(folder / name) in message
    return message


def test_missing_tables_raise_a_clear_error(tmp_path):
    curves, improvement = synthetic_tables()
    assert "file not found" in one_line_error(tmp_path, "curves.parquet")
    curves.to_parquet(tmp_path / "curves.parquet")
    assert "file not found" in one_line_error(tmp_path, "improvement.parquet")
    assert not list(tmp_path.glob("*.png"))


def test_corrupt_tables_raise_a_clear_error(tmp_path):
    curves, improvement = synthetic_tables()
    write_folder(tmp_path, curves, improvement)
    good = (tmp_path / "curves.parquet").read_bytes()
    (tmp_path / "curves.parquet").write_bytes(good[: len(good) // 2])  # truncated
    assert "unreadable" in one_line_error(tmp_path, "curves.parquet")
    (tmp_path / "curves.parquet").write_bytes(b"not a parquet file")
    assert "unreadable" in one_line_error(tmp_path, "curves.parquet")
    curves.drop(columns=["iqm_hi"]).to_parquet(tmp_path / "curves.parquet")
    assert "iqm_hi" in one_line_error(tmp_path, "curves.parquet")
    curves.assign(iqm="high").to_parquet(tmp_path / "curves.parquet")
    assert "non-numeric" in one_line_error(tmp_path, "curves.parquet")
    curves.iloc[:0].to_parquet(tmp_path / "curves.parquet")
    assert "no rows" in one_line_error(tmp_path, "curves.parquet")
    curves.to_parquet(tmp_path / "curves.parquet")
    improvement.rename(columns={"probability": "p"}).to_parquet(tmp_path / "improvement.parquet")
    assert "probability" in one_line_error(tmp_path, "improvement.parquet")
    improvement.to_parquet(tmp_path / "improvement.parquet")
    (tmp_path / "manifest.json").write_text("{not json")
    one_line_error(tmp_path, "manifest.json")
    assert not list(tmp_path.glob("*.png"))


def test_variants_take_their_estimators_fixed_look_and_titles_name_the_settings(tmp_path, monkeypatch):
    import matplotlib.colors

    drawn = {}

    def fake_save(fig, stem):
        ax = fig.get_axes()[0]
        drawn[Path(stem).name] = {
            "colors": [matplotlib.colors.to_hex(line.get_color()) for line in ax.get_lines()],
            "texts": [t.get_text() for t in fig.findobj(matplotlib.text.Text)],
        }
        return [Path(f"{stem}.png"), Path(f"{stem}.pdf")]

    monkeypatch.setattr(plot_training, "save_figure", fake_save)
    variants = ("gae", "reinforce", "leave_one_out")
    curves, improvement = synthetic_tables(variants=variants)
    write_folder(tmp_path, curves, improvement)
    pio.write_manifest(
        tmp_path,
        {
            "experiment": "cartpole-reinforce",
            "problem": "cartpole",
            "config": {
                "policy": "linear-softmax",
                "horizon": 500,
                "discount": 0.99,
                "learning_rates": [0.1],
                "optimiser": "adam",
                "estimators": list(variants),
                "lam": 0.95,
                "hidden": [64, 64],
            },
        },
    )
    plot_training.draw(tmp_path)
    # the same colours as in the variance figures, whatever the order of the variants
    from pgjax import styles

    assert drawn["figure"]["colors"][:3] == [styles.ESTIMATOR_STYLES[v].color.lower() for v in variants]
    for stem in ("figure", "improvement"):
        texts = "\n".join(drawn[stem]["texts"])
        assert "H = 500" in texts and "γ = 0.99" in texts and "learning rate = 0.1" in texts
        assert "GAE λ = 0.95" in texts and "hidden" not in texts  # a linear policy has no hidden layers

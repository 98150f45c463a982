"""Tests for pgjax.plots: figures are drawn from a table, saved atomically, fonts embedded."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from pgjax import plots, results
from pgjax.results import ResultsError


def synthetic_table() -> pd.DataFrame:
    """2 estimators x n in [1, 2, 4, 8] x 2 params; var_exact only for the first
    estimator, one zero variance, non-finite estimates in one cell."""
    rows = []
    for e, estimator in enumerate(("reinforce", "reinforce+baseline")):
        for n in (1, 2, 4, 8):
            for p, param in enumerate(("theta[0]", "log_sigma")):
                var = (2.0 + p) / (n * (1 + 3 * e))
                if e == 1 and n == 4 and p == 0:
                    var = 0.0
                bias = 0.02 / n * (-1) ** (n + p)
                rows.append(
                    {
                        "experiment": "synthetic",
                        "problem": "bandit",
                        "estimator": estimator,
                        "param": param,
                        "n": n,
                        "n_seeds": 500,
                        "n_nonfinite": 2 if (e == 1 and n == 8) else 0,
                        "mean": 0.5 - p + bias,
                        "true_grad": 0.5 - p,
                        "bias": bias,
                        "bias_se": np.sqrt(var / 500),
                        "var": var,
                        "var_lo": 0.85 * var,
                        "var_hi": 1.15 * var,
                        "n_var": n * var,
                        "mse": var + bias**2,
                        "var_exact": (2.0 + p) / n if e == 0 else np.nan,
                        "var_ratio": np.nan,
                        "var_ratio_lo": np.nan,
                        "var_ratio_hi": np.nan,
                    }
                )
    return pd.DataFrame(rows)


def assert_truetype_pdf(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert b"/FontFile2" in data  # embedded TrueType outlines
    assert b"/Type1" not in data and b"/Type3" not in data


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_plot_variance_writes_png_and_truetype_pdf(tmp_path: Path) -> None:
    before = dict(matplotlib.rcParams)
    paths = plots.plot_variance(synthetic_table(), tmp_path / "figure", title="Synthetic")
    assert paths == [tmp_path / "figure.png", tmp_path / "figure.pdf"]
    assert_png(paths[0])
    assert_truetype_pdf(paths[1])
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    # rc_context only: global settings are unchanged.
    assert matplotlib.rcParams["pdf.fonttype"] == before["pdf.fonttype"]
    assert matplotlib.rcParams["font.size"] == before["font.size"]


def test_plot_bias_writes_figures(tmp_path: Path) -> None:
    paths = plots.plot_bias(synthetic_table(), tmp_path / "bias", estimators=["reinforce+baseline"])
    assert_png(paths[0])
    assert_truetype_pdf(paths[1])
    with pytest.raises(ValueError, match="nope"):
        plots.plot_bias(synthetic_table(), tmp_path / "bias", estimators=["nope"])


def test_plots_survive_missing_and_zero_values(tmp_path: Path) -> None:
    table = synthetic_table()
    table.loc[0, "var"] = np.nan
    table.loc[1, ["var_lo", "var_hi"]] = np.nan
    table.loc[table["param"] == "log_sigma", "true_grad"] = 0.0
    table.loc[2, "bias"] = 0.0
    many = pd.concat([table.assign(param=table["param"] + f"_{k}") for k in range(3)], ignore_index=True)
    many = many[many["param"] != "log_sigma_2"]  # 5 panels: wraps to two rows
    assert len(plots.plot_variance(many, tmp_path / "v")) == 2
    assert len(plots.plot_bias(table, tmp_path / "b")) == 2


def test_plot_rejects_empty_table(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no rows"):
        plots.plot_variance(synthetic_table().iloc[:0], tmp_path / "figure")


def test_draw_all_redraws_from_saved_table(tmp_path: Path) -> None:
    results.write_table(synthetic_table(), tmp_path)
    paths = plots.draw_all(tmp_path)
    assert sorted(p.name for p in paths) == ["bias.pdf", "bias.png", "figure.pdf", "figure.png"]
    for path in paths:
        assert path.stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_draw_all_corrupt_table_raises_results_error(tmp_path: Path) -> None:
    results.write_table(synthetic_table(), tmp_path)
    (tmp_path / "table.parquet").write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(ResultsError, match="table.parquet"):
        plots.draw_all(tmp_path)
    assert not (tmp_path / "figure.png").exists()


def test_param_label() -> None:
    assert plots.param_label("theta[0]") == r"$\theta_{0}$"
    assert plots.param_label("log_sigma") == r"$\log \sigma$"
    assert plots.param_label("w[1, 2]") == r"$w_{1,2}$"
    assert plots.param_label("weird name$") == r"weird name\$"


def test_palette_is_okabe_ito_and_styles_are_distinct() -> None:
    assert len(plots.PALETTE) == 8 and "#E69F00" in plots.PALETTE
    styles = {tuple(plots.estimator_style(i).values()) for i in range(16)}
    assert len(styles) == 16

"""Tests for pgjax.plotting.variance: figures are drawn from a table, saved atomically, fonts embedded."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.container
import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
import pandas as pd
import pytest

from pgjax import io as pio
from pgjax.analysis import stats
from pgjax.io import ResultsError
from pgjax.plotting import variance as plots


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
    pio.write_table(synthetic_table(), tmp_path)
    paths = plots.draw_all(tmp_path)
    assert sorted(p.name for p in paths) == ["bias.pdf", "bias.png", "figure.pdf", "figure.png"]
    for path in paths:
        assert path.stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_draw_all_corrupt_table_raises_results_error(tmp_path: Path) -> None:
    pio.write_table(synthetic_table(), tmp_path)
    (tmp_path / "table.parquet").write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(ResultsError, match="table.parquet"):
        plots.draw_all(tmp_path)
    assert not (tmp_path / "figure.png").exists()


def test_param_label() -> None:
    assert plots.param_label("theta[0]") == r"$\theta_{0}$"
    assert plots.param_label("log_sigma") == r"$\log \sigma$"
    assert plots.param_label("w[1, 2]") == r"$w_{1,2}$"
    assert plots.param_label("weird name$") == r"weird name\$"


def test_palette_is_okabe_ito_and_estimator_styles_are_by_name() -> None:
    assert len(plots.PALETTE) == 8 and "#E69F00" in plots.PALETTE
    assert plots.estimator_style("pathwise") == plots.estimator_style("pathwise", ["reinforce", "pathwise"])
    assert plots.estimator_style("pathwise") != plots.estimator_style("reinforce")


# ------------------------------------------------------------------------------------ styles in the figures
def estimator_table(names, params=("theta[0]", "log_sigma"), ns=(1, 4, 16), reference="reinforce", **extra):
    """A results table of the estimators ``names`` with paired variance ratios against ``reference``."""
    rows = []
    for e, estimator in enumerate(names):
        for n in ns:
            for p, param in enumerate(params):
                var = (2.0 + p) / (n * (1 + e))
                ratio = 1.0 if estimator == reference else 1.0 / (1 + e)
                rows.append(
                    {
                        "experiment": "synthetic",
                        "problem": "bandit",
                        "estimator": estimator,
                        "param": param,
                        "n": n,
                        "n_seeds": 200,
                        "n_nonfinite": 0,
                        "mean": 0.5,
                        "true_grad": 0.5,
                        "bias": 0.01 / n,
                        "bias_se": np.sqrt(var / 200),
                        "var": var,
                        "var_lo": 0.9 * var,
                        "var_hi": 1.1 * var,
                        "n_var": n * var,
                        "mse": var,
                        "var_exact": var,
                        "var_ratio": ratio,
                        "var_ratio_lo": ratio if estimator == reference else 0.9 * ratio,
                        "var_ratio_hi": ratio if estimator == reference else 1.1 * ratio,
                        **extra,
                    }
                )
    return pd.DataFrame(rows)


def _look(line) -> tuple[str, str, str]:
    return (matplotlib.colors.to_hex(line.get_color()), str(line.get_marker()), str(line.get_linestyle()))


def _figure_record(fig) -> dict:
    """What a drawn figure shows: legend label -> (colour, marker, line style) of its handle, the looks of
    every plotted line with markers, the texts, and the panel axes."""
    legends = list(fig.legends) + [leg for sub in fig.subfigs for leg in sub.legends]
    entries = {}
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            entries[text.get_text()] = _look(handle)
    axes = fig.get_axes()
    drawn = {
        _look(line)[:2]
        for ax in axes
        for line in ax.get_lines()
        if line.get_marker() not in ("None", "", None, "_", "|")
    }  # not error-bar caps
    texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    return {"legend": entries, "drawn": drawn, "texts": texts, "axes": axes}


@pytest.fixture
def captured(monkeypatch):
    """Figures drawn by pgjax.plotting.variance / pgjax.plotting.settings, recorded (by file stem) instead of saved: fast, and the
    artists can be inspected."""
    from pgjax.plotting import settings as plot_settings

    record: dict[str, dict] = {}

    def fake_save(fig, stem):
        record[Path(stem).name] = _figure_record(fig)
        return [Path(f"{stem}.png"), Path(f"{stem}.pdf")]

    for module in (plots, plot_settings):
        monkeypatch.setattr(module, "save_figure", fake_save)
    return record


def _assert_same_estimator_looks(record: dict, first: str, second: str, names) -> None:
    a, b = record[first]["legend"], record[second]["legend"]
    common = [n for n in names if n in a and n in b]
    assert common, (first, second)
    for name in common:
        assert a[name] == b[name], f"{name}: {first} draws it as {a[name]}, {second} as {b[name]}"


def test_lqr_figure_and_bias_give_each_estimator_the_same_look(tmp_path, captured):
    """The LQR figure.png and bias.png once coloured an estimator by two different orders (and pathwise took
    REINFORCE's look); now both take it from one registry."""
    from pgjax.plotting import settings as plot_settings

    names = ["reinforce", "pathwise", "gae", "reward_to_go", "value_baseline"]
    pio.write_table(estimator_table(names), tmp_path)
    plot_settings.draw_variance(tmp_path)
    _assert_same_estimator_looks(captured, "figure", "bias", names)
    for stem in ("figure", "bias"):
        looks = [captured[stem]["legend"][n] for n in names]
        assert len({look[:2] for look in looks}) == len(names), stem  # no two alike
    assert "ratio" in captured
    _assert_same_estimator_looks(captured, "figure", "ratio", names)


def test_draw_all_gives_every_estimator_its_own_look_in_every_figure(tmp_path, captured):
    from pgjax.estimators import ALL_ESTIMATORS

    names = list(ALL_ESTIMATORS) + ["my_plugin", "another_plugin"]
    pio.write_table(estimator_table(names, params=("theta[0]",)), tmp_path)
    pio.write_manifest(
        tmp_path,
        {"experiment": "synthetic", "problem": "bandit", "bias_estimators": ["batch_mean_baseline", "leave_one_out"]},
    )
    plots.draw_all(tmp_path)
    assert set(captured) == {"figure", "bias", "ratio"}
    legend = captured["figure"]["legend"]
    assert len({legend[n][:2] for n in names}) == len(names)
    for stem in ("bias", "ratio"):
        _assert_same_estimator_looks(captured, "figure", stem, names)
    # every line with markers in a figure is one of its legend's estimators (nothing drawn in another look)
    for stem, record in captured.items():
        looks = {look[:2] for look in record["legend"].values()}
        assert record["drawn"] <= looks, stem


def test_ratio_figure_has_log_axis_reference_line_and_paired_intervals(tmp_path, captured):
    names = ["reinforce", "leave_one_out", "pathwise"]
    pio.write_table(estimator_table(names), tmp_path)
    paths = plots.draw_all(tmp_path)
    assert {p.name for p in paths} >= {"ratio.png", "ratio.pdf"}
    record = captured["ratio"]
    assert len(record["axes"]) == 2  # one panel per parameter, as the variance figure
    for ax in record["axes"]:
        assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
        flat = [line for line in ax.get_lines() if np.allclose(line.get_ydata(), 1.0)]
        assert flat, "no line at ratio 1"
        bars = [c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]
        assert len(bars) == len(names) - 1  # one per estimator but the reference
        assert all(c.has_yerr for c in bars)
    assert "reinforce (reference, ratio 1)" in record["legend"]
    assert any("paired 95% CI" in text for text in record["texts"])


def test_draw_all_writes_the_ratio_figure_files(tmp_path):
    pio.write_table(estimator_table(["reinforce", "pathwise"], params=("theta[0]",), ns=(1, 4)), tmp_path)
    paths = plots.draw_all(tmp_path)
    assert sorted(p.name for p in paths) == [
        "bias.pdf",
        "bias.png",
        "figure.pdf",
        "figure.png",
        "ratio.pdf",
        "ratio.png",
    ]
    assert_png(tmp_path / "ratio.png")
    assert_truetype_pdf(tmp_path / "ratio.pdf")


def test_titles_name_every_problem_parameter_from_the_manifest(tmp_path, captured):
    names = ["reinforce", "constant_baseline"]
    pio.write_table(estimator_table(names), tmp_path)
    pio.write_manifest(
        tmp_path,
        {
            "experiment": "bandit-variance",
            "problem": "a ~ N(theta . s, sigma^2), s = (1, 0.5)",
            "config": {
                "state": [1.0, 0.5],
                "theta": [0.2, -0.3],
                "sigma": 0.7,
                "state_std": 0.0,
                "baseline": -2.0,
                "estimators": names,
                "ns": [1, 4, 16],
                "n_seeds": 200,
                "seed": 0,
                "chunk_size": 100,
            },
        },
    )
    plots.draw_all(tmp_path)
    for stem in ("figure", "bias", "ratio"):
        texts = "\n".join(captured[stem]["texts"])
        assert "σ = 0.7" in texts and "θ = (0.2, -0.3)" in texts, stem
        assert "n_seeds" not in texts and "chunk_size" not in texts and "s = (1, 0.5) " not in texts
        assert "b = -2" in texts  # the constant baseline's b, in the caption
    # The variance figure's caption names the interval method the table was computed with (the default).
    assert "shaded: 95% CI (bootstrap-t with extrapolated tails)" in "\n".join(captured["figure"]["texts"])
    assert stats.DEFAULT_INTERVAL == "tail-bootstrap"
    assert plots.problem_parameters({"problem": "x, sigma = (1, 1)", "config": {"sigma": [1.0, 1.0]}}) == []


def test_horizon_and_gae_figures_carry_the_paired_ratio(tmp_path, captured):
    from pgjax.plotting import settings as plot_settings

    names = ["reinforce", "reward_to_go", "pathwise"]
    horizon = pd.concat([estimator_table(names, ns=(4,)).assign(horizon=h) for h in (1, 5)], ignore_index=True)
    (tmp_path / "h").mkdir()
    (tmp_path / "g").mkdir()
    pio.write_table(horizon, tmp_path / "h")
    plot_settings.draw_horizon(tmp_path / "h")
    labels = [ax.get_ylabel() for ax in captured["figure"]["axes"]]
    assert "variance / reinforce's" in labels
    _assert_same_estimator_looks(captured, "figure", "bias", names)

    critics = ["gae[exact]", "gae[stationary]"]
    refs = estimator_table(["reinforce", "reward_to_go"], ns=(4,)).assign(lam=np.nan, critic="")
    gae = pd.concat(
        [estimator_table(["reinforce"] + critics, ns=(4,)).iloc[2:].assign(lam=lam, critic="c") for lam in (0.0, 1.0)],
        ignore_index=True,
    )
    pio.write_table(pd.concat([refs, gae], ignore_index=True), tmp_path / "g")
    plot_settings.draw_gae(tmp_path / "g")
    assert "variance / reinforce's" in [ax.get_ylabel() for ax in captured["figure"]["axes"]]
    _assert_same_estimator_looks(captured, "figure", "bias", critics)


@pytest.mark.parametrize("layout", [None, "constrained"])
def test_saved_pdf_does_not_depend_on_the_sign_of_a_subfigure_edge(tmp_path, layout):
    """Constrained layout places a subfigure's edge at 0 to within +/- 1e-16 of the figure, with a sign that
    varies between runs; a PDF writes such a coordinate as "0" or "-0". save_figure's bytes must not depend on
    it: the same figure with its footer's edge just below and just above 0 gives the same PDF."""
    from matplotlib.transforms import Bbox

    from pgjax.plotting.variance import save_figure

    pdfs = []
    for i, eps in enumerate((-5.551115123125783e-17, 5.551115123125783e-17)):
        fig = plt.figure(figsize=(6, 4), layout=layout)
        top, footer = fig.subfigures(2, 1, height_ratios=[3, 1])
        top.subplots().plot([1, 2], [1, 2])
        footer.text(0.5, 0.5, "caption")
        fig.set_layout_engine("none")  # the edge below stays where it is put
        footer._redo_transform_rel_fig(bbox=Bbox.from_extents(0.0, eps, 1.0, 0.25))
        pdfs.append(save_figure(fig, tmp_path / f"f{i}")[1].read_bytes())
        plt.close(fig)
    assert pdfs[0] == pdfs[1]

"""Tests of the kool2020-bernoulli experiment (pgjax/experiments/kool2020_bernoulli.py), run once through the
command line (``pgjax.cli.main``) with every default estimator but REINFORCE (whose exact variance, single-sample
/ k, is tested elsewhere) at k = 3 samples, R = 4000 seeds and two logits (eta = 0: eight equally likely
outcomes, where deterministic sum-and-sample breaks ties; eta = -1.5).

Statistical checks on its table and raw estimates, for every (eta, estimator) cell (one coordinate each):
unbiasedness |mean - grad| <= z sd / sqrt(R), and the exact k-sample variance |s^2 - var_exact| <= z se(s^2)
(pgjax.analysis.stats.variance_se), with z = unbiasedness_z(2 x cells): Bonferroni over both checks of every
cell, so the test fails by chance with probability about 1e-6. A wrong inclusion probability or baseline moves
a mean or a variance by far more (the exact moments of every estimator are checked separately, without
randomness, in tests/estimators/test_without_replacement.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pgjax import cli
from pgjax import io as pio
from pgjax.analysis.stats import unbiasedness_z, variance_se
from pgjax.experiments import kool2020_bernoulli

R = 4000
K = 3
ETAS = (0.0, -1.5)
ESTIMATORS = tuple(name for name in kool2020_bernoulli.PAPER_ESTIMATORS if name != "reinforce")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kool") / "out"
    argv = ["run", "kool2020-bernoulli", "--ns", str(K), "--n-seeds", str(R), "--etas", *map(str, ETAS)]
    argv += ["--estimators", *ESTIMATORS]
    assert cli.main([*argv, "--out", str(folder)]) == 0
    return folder


def test_the_run_writes_its_folder_and_figure(out):
    """The figure is drawn by ``save`` from the staged table.parquet alone (pgjax.experiment.save_with)."""
    for name in ("table.parquet", "table.csv", "raw.npz", "manifest.json", "figure.png", "figure.pdf"):
        assert (out / name).is_file(), name
    table = pio.read_table(out)
    assert list(table.columns[: len(pio.TABLE_COLUMNS)]) == list(pio.TABLE_COLUMNS)
    assert set(table["estimator"]) == set(ESTIMATORS)
    assert sorted(set(table["eta"])) == sorted(ETAS) and set(table["n"]) == {K} and set(table["param"]) == {"logits[0]"}
    with_baseline_sample = table["estimator"].str.endswith("sum_and_sample_baseline") | table["estimator"].str.endswith(
        "stochastic_baseline"
    )
    np.testing.assert_array_equal(table["evaluations"], np.where(with_baseline_sample, 2 * K, K))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["experiment"] == "kool2020-bernoulli" and "eta in {0, -1.5}" in manifest["problem"]


def test_every_estimator_is_unbiased_with_its_exact_variance(out):
    table = pio.read_table(out)
    raw = pio.read_raw_grid(out)
    assert raw.axes == ["eta"]
    z = unbiasedness_z(2 * len(table))
    for _, row in table.iterrows():
        cell = raw.index[
            (raw.index["eta"].astype(float) == row["eta"]) & (raw.index["estimator"] == row["estimator"])
        ].index
        assert len(cell) == 1
        x = raw.estimates[cell[0]].astype(np.float64)[:, 0]
        assert x.shape == (R,)
        what = (row["eta"], row["estimator"])
        assert abs(x.mean() - row["true_grad"]) <= z * x.std(ddof=1) / np.sqrt(R), what
        assert row["var_exact"] > 0, what
        assert abs(x.var(ddof=1) - row["var_exact"]) <= z * variance_se(x), (what, x.var(ddof=1), row["var_exact"])
    # the baselines help: at eta = 0 the unordered set estimator's built-in one takes off more than 90%
    at = table.set_index(["eta", "estimator"])["var_exact"]
    assert at[(0.0, "unordered_set_baseline")] < 0.1 * at[(0.0, "unordered_set")]


@pytest.mark.parametrize(
    "flags, field",
    [
        (["--ns", "9"], "--ns"),  # more samples than the 2^3 outcomes
        (["--dim", "13"], "--dim"),
        (["--target", "0.5", "0.5"], "--target"),
        (["--estimators", "pathwise_nonsense"], "--estimators"),
        (["--estimators", "measure_valued"], "--estimators"),  # needs Gaussian structure
    ],
)
def test_bad_flags_are_one_line_naming_the_field(tmp_path, capsys, flags, field):
    folder = tmp_path / "bad"
    assert cli.main(["run", "kool2020-bernoulli", *flags, "--out", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"pgjax: error: {field}"), err
    assert not folder.exists()

"""The group-baselines and kl-estimators experiments through the CLI with tiny flags: their tables, figures,
the facts that hold exactly (RLOO unbiased, the batch mean's 1 - 1/G, k1 and k3 unbiased, the Monte Carlo
columns beside the exact ones), and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from pgjax import cli
from pgjax import io as pio
from pgjax.analysis.stats import unbiasedness_z

GROUPS = ["--groups", "2", "4", "--n-success", "5", "--mc-groups", "4", "--mc-success", "0.5"]
SMALL = [*GROUPS, "--estimators", "grpo", "--n-seeds", "40", "--prompt-success", "0.2", "0.5"]

#: The kl-estimators experiment, small: its Monte Carlo points are the KL estimators' statistical test (alpha =
#: 1e-6, Bonferroni over 3 estimators x 2 points x 2 moments).
KL_SMALL = ["--n-distances", "4", "--mc-distances", "0", "3", "--n-seeds", "20000", "--answers", "3"]


def test_group_baselines_through_cli(tmp_path, capsys):
    out = tmp_path / "gb"
    assert cli.main(["run", "group-baselines", *SMALL, "--out", str(out)]) == 0
    exact = pio.read_frame(out, "exact")
    mc = pio.read_frame(out, "monte_carlo")
    prompts = pio.read_frame(out, "prompts")
    batch = pio.read_frame(out, "batch")
    for figure in ("bias-variance", "best-baseline", "prompts"):
        assert (out / f"{figure}.png").is_file(), figure
    assert len(exact) == 2 * 5 and set(exact["p"]) == {0.01, 0.255, 0.5, 0.745, 0.99} and set(exact["G"]) == {2, 4}
    np.testing.assert_allclose(
        exact["degenerate"], exact["p"] ** exact["G"] + (1 - exact["p"]) ** exact["G"], rtol=1e-5
    )
    # GRPO at G = 2: advantages +-1 / (sqrt(1/2) + eps) whatever p, so the same scale on every prompt.
    at2 = exact[exact["G"] == 2]
    np.testing.assert_allclose(at2["scale"], 0.5 / (np.sqrt(0.5) + 1e-4), rtol=1e-12)
    assert (exact.loc[exact["G"] == 4, "scale"] > 1).all()
    # The Monte Carlo rows: the engine's seeds, G = 4, every grid p, beside the exact values of part 1.
    assert set(mc["G"]) == {4} and set(mc["n_seeds"]) == {40} and len(mc) == 5
    merged = mc.merge(exact, on=["estimator", "G", "p"], suffixes=("", "_part1"))
    np.testing.assert_allclose(merged["exact_var"], merged["var_part1"], rtol=1e-12)
    np.testing.assert_allclose(merged["exact_bias"], merged["bias_part1"], atol=1e-15)
    assert ((mc["var_lo"] <= mc["var"]) & (mc["var"] <= mc["var_hi"])).all()
    # Part 2 and the batches: a uniform scale at G = 2 keeps the expected update parallel to grad J; at G = 4
    # GRPO weights the prompts unequally, and the cosine drops below 1.
    assert len(prompts) == 2 * 2 and set(batch["problem"]) == {"grid", "prompts"}
    cosine = batch.set_index(["problem", "G"])["cosine"]
    np.testing.assert_allclose(cosine.xs(2, level="G"), 1.0, atol=1e-12)
    assert (cosine.xs(4, level="G") < 1 - 1e-6).all()
    # pgjax table re-renders from the parquet files, leaving them as they are
    before = (out / "summary.parquet").read_bytes()
    assert cli.main(["table", str(out)]) == 0 and (out / "summary.parquet").read_bytes() == before


def test_kl_estimators_through_cli(tmp_path, capsys):
    """Exact lines and Monte Carlo points: k1 and k3 unbiased, k2 not; every Monte Carlo mean and variance
    within z standard errors of the exact ones (z for alpha = 1e-6 over the 12 checks)."""
    out = tmp_path / "kl"
    assert cli.main(["run", "kl-estimators", *KL_SMALL, "--out", str(out)]) == 0
    exact = pio.read_frame(out, "exact")
    mc = pio.read_frame(out, "monte_carlo")
    assert (out / "kl-estimators.png").is_file() and len(exact) == 4 * 3 and len(mc) == 2 * 3
    assert cli.main(["table", str(out)]) == 0
    unbiased = exact[exact["estimator"].isin(["k1", "k3"])]
    np.testing.assert_allclose(unbiased["bias"], 0.0, atol=1e-12)
    assert (exact.loc[exact["estimator"] == "k2", "bias"].abs() > 1e-9).all() and (exact["kl"] > 0).all()
    z = unbiasedness_z(2 * len(mc))
    assert ((mc["mean"] - mc["exact_mean"]).abs() < z * mc["mean_se"]).all(), mc
    # the variance interval is a 95% one: widen it to alpha = 1e-6 on the log scale
    half = np.log(mc["var_hi"] / mc["var"]) * z / 1.959964
    assert (np.abs(np.log(mc["var"] / mc["exact_var"])) < half).all(), mc


@pytest.mark.parametrize(
    "experiment,args,field",
    [
        ("group-baselines", ["--groups", "1", "2"], "groups"),
        ("group-baselines", [*GROUPS, "--mc-groups", "8"], "mc_groups"),
        ("group-baselines", ["--estimators", "reinforce"], "estimators"),
        ("kl-estimators", ["--t-min", "0"], "t_min"),
        ("kl-estimators", ["--mc-distances", "99"], "mc_distances"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, experiment, args, field):
    assert cli.main(["run", experiment, *args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field.replace("_", "-") in err[0], err
    assert not (tmp_path / "x").exists()

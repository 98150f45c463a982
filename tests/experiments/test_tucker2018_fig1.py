"""tucker2018-fig1 through the CLI: its Monte Carlo terms (nested sampling through the engine) agree with the
exact ones, and the files it writes are those the figure reads.

One small run (T = 5, one snapshot, 400 seeds). Each Monte Carlo term is a mean over seeds of per-seed
unbiased estimates; the test fails if any (term, t) is more than z standard errors from its exact value, with
z from Bonferroni over all of them at a family-wise false-failure rate of 1e-6
(:func:`pgjax.analysis.stats.unbiasedness_z`).
"""

from __future__ import annotations

import numpy as np
import pytest

from pgjax import io as pio
from pgjax.analysis import stats
from pgjax.cli import main
from pgjax.errors import ConfigError
from pgjax.experiments import tucker2018_fig1


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("tucker") / "fig1"
    argv = ["run", "tucker2018-fig1", "--horizon", "5", "--snapshots", "0", "--n-seeds", "400", "--out", str(out)]
    assert main(argv) == 0
    return out


def test_monte_carlo_agrees_with_exact(folder):
    mc = pio.read_frame(folder, "monte_carlo")
    exact = pio.read_frame(folder, "exact")
    mc = mc[mc["t"] <= 3]  # at t = T - 1 the trajectory term is exactly 0 on both sides
    z = stats.unbiasedness_z(len(mc), alpha=1e-6)
    assert (mc["se"] > 0).all()
    assert (np.abs(mc["mean"] - mc["exact"]) <= z * mc["se"]).all(), mc.loc[np.abs(mc["z"]).idxmax()]
    # the Monte Carlo table's exact column is the exact table's trace
    e = exact[(exact["term"] == "sigma_tau_mc") & (exact["t"] <= 3)].sort_values("t")["trace"].to_numpy()
    m = mc[mc["term"] == "sigma_tau_mc"].sort_values("t")["exact"].to_numpy()
    np.testing.assert_array_equal(e, m)
    assert (folder / "figure.png").exists() and (folder / "summary.parquet").exists()


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="continuations"):
        tucker2018_fig1.Config(continuations=1).validate()
    with pytest.raises(ConfigError, match="lambdas"):
        tucker2018_fig1.Config(lambdas=(1.5,)).validate()

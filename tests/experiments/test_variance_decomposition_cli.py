"""variance-decomposition through the CLI on a tiny CartPole setting: it trains both snapshots, branches saved
environment states through the engine and writes the tables and the figure the README quotes.

The estimators' algebra (the nested analysis of variance) is checked exactly in
tests/estimators/test_variance_decomposition.py, and its Monte Carlo unbiasedness against exact terms on LQG
in tests/experiments/test_tucker2018_fig1.py; here the gymnax branching itself is checked: a branch copies
the saved state, so two actions from one state give returns whose within-(state, action) spread (Sigma_tau)
is the environment's and the policy's randomness only.
"""

from __future__ import annotations

import numpy as np
import pytest

from pgjax import io as pio
from pgjax.cli import main
from pgjax.errors import ConfigError
from pgjax.experiments import variance_decomposition as vdx


def test_cli_run_writes_every_term(tmp_path):
    out = tmp_path / "vd"
    argv = ["run", "variance-decomposition", "--horizon", "30", "--times", "0", "10", "--train-updates", "1"]
    argv += ["--n-seeds", "4", "--actions", "2", "--continuations", "2", "--out", str(out)]
    assert main(argv) == 0
    terms = pio.read_frame(out, "terms")
    assert set(terms["term"]) == set(vdx.TERMS)
    assert set(terms["snapshot"]) == {"initial", "trained"} and set(terms["t"]) == {0, 10}
    wide = terms.pivot_table(index=["snapshot", "t"], columns="term", values="mean")
    np.testing.assert_allclose(
        wide["total_none"], wide["sigma_s"] + wide["sigma_a_none"] + wide["sigma_tau"], rtol=1e-5
    )
    # CartPole pays +1 per step until the pole falls, so a return varies only through when the episode ends:
    # within 30 steps the initial policy's episodes end at different times, from one (s, a) too, so the
    # trajectory term is positive (continuations that reused their siblings' keys would give 0)
    assert (wide.xs(0, level="t")["sigma_tau"] > 0).all()
    assert (out / "figure.png").exists() and (out / "summary.parquet").exists()


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="times"):
        vdx.Config(times=(0, 500)).validate()
    with pytest.raises(ConfigError, match="env"):
        vdx.Config(env="pong").validate()

"""wu2018 as a user runs it (``pgjax run wu2018`` with tiny flags): the table, the figure, and the exact variances
against closed forms derived by hand for mu = 0, sigma = 1, t = 1 (so delta = -1, X = (eps - 1)^2, E X = 2,
Var X = 6), with E[eps^2] = 1, E[eps^4] = 3, E[eps^6] = 15:

    action-dependent  Var = E[(X - 2)^2 eps^2] - 4 = E[eps^6 + 2 eps^4 + eps^2] - 4 = 22 - 4 = 18,
    value baseline    Var = 18 + 6 (D - 1),
    REINFORCE         Var = E[X^2 eps^2] + 2 E R E[X eps^2] + Var R + (E R)^2 - 4
                          = 34 + 16 (D - 1) + 6 (D - 1) + 4 (D - 1)^2 - 4,

for the coordinate mu[0] (E R = 2 (D - 1), Var R = 6 (D - 1)). Bad flags are one line, exit 2.
"""

from __future__ import annotations

import numpy as np
import pytest

from pgjax import cli
from pgjax import io as pio

DIMS = (1, 6)
#: The three whose exact variances have the closed forms above.
ESTIMATORS = ("reinforce", "state_value_baseline", "action_factorised_baseline")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("wu2018") / "run"
    code = cli.main(
        ["run", "wu2018", "--dims", *map(str, DIMS), "--n-seeds", "200", "--estimators", *ESTIMATORS, "--out", str(out)]
    )
    assert code == 0
    return out


def test_exact_variances_are_the_closed_forms(folder):
    table = pio.read_table(folder)
    mu = table[table["param"] == "mu[0]"].pivot(index="dim", columns="estimator", values="var_exact")
    d = np.asarray(DIMS, float)
    assert list(mu.index) == list(DIMS)
    np.testing.assert_allclose(mu["action_factorised_baseline"], 18.0, rtol=1e-9)
    np.testing.assert_allclose(mu["state_value_baseline"], 18.0 + 6.0 * (d - 1), rtol=1e-9)
    np.testing.assert_allclose(mu["reinforce"], 30.0 + 22.0 * (d - 1) + 4.0 * (d - 1) ** 2, rtol=1e-9)
    # at D = 1 there are no other coordinates: the action-dependent baseline is the value baseline
    one = table[table["dim"] == 1].set_index(["estimator", "param"])["var_exact"]
    for param in ("mu[0]", "log_sigma[0]"):
        assert abs(one["action_factorised_baseline", param] - one["state_value_baseline", param]) < 1e-9


def test_monte_carlo_agrees_and_outputs_are_complete(folder):
    """Every Monte Carlo variance's 95% interval is reported, unbiasedness holds at 1e-6 (Bonferroni over all
    rows), the figure is drawn, and the manifest says which coordinates the table keeps."""
    from pgjax.analysis.stats import unbiasedness_z

    table = pio.read_table(folder)
    assert set(table["param"]) == {"mu[0]", "log_sigma[0]"}
    assert len(table) == len(ESTIMATORS) * 2 * len(DIMS)  # estimators x coordinates x dimensions
    assert (table["var_lo"] <= table["var"]).all() and (table["var"] <= table["var_hi"]).all()
    z = unbiasedness_z(len(table), 1e-6)
    assert (table["bias"].abs() <= z * table["bias_se"]).all()
    assert (folder / "figure.png").is_file() and (folder / "raw.npz").is_file()
    assert pio.read_manifest(folder)["kept_coordinates"] == ["mu[0]", "log_sigma[0]"]


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--dims", "0"], "--dims"),
        (["--dims", "3", "3"], "--dims"),
        (["--sigma", "0"], "--sigma"),
        (["--n", "0"], "--n"),
    ],
)
def test_bad_flags_are_one_line(tmp_path, capsys, args, flag):
    out = tmp_path / "never"
    code = cli.main(["run", "wu2018", *args, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and flag in err[0], err
    assert not out.exists()

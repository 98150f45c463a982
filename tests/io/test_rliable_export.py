"""Training results exported in rliable's layout (pgjax.io.rliable_export, `pgjax export-rliable`).

The layout is checked on the committed training results (cartpole-reinforce and pendulum-gaussian as two
tasks) against what those folders' own tables say; the exported matrices are then fed to rliable's own
functions when rliable imports (rliable 1.2.0 imports arch, which fails with pandas 3: the extra
`pgjax[rliable]` pins pandas<3; without it that test is skipped, saying why).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from pgjax import io as pio
from pgjax.cli import main

ROOT = Path(__file__).resolve().parents[2]
CARTPOLE = f"{ROOT}/results/cartpole-reinforce"
PENDULUM = f"{ROOT}/results/pendulum-gaussian"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("rliable") / "scores.npz"
    assert main(["export-rliable", CARTPOLE, PENDULUM, "--out", str(out)]) == 0
    return out


def test_layout_is_runs_by_tasks_and_matches_each_folders_table(exported, tmp_path):
    scores = pio.read_rliable(exported)
    assert scores.tasks == ("cartpole", "pendulum")
    # pendulum-gaussian trains no batch_mean_baseline: only the variants of both tasks, in cartpole's order
    assert scores.algorithms == ("reinforce", "reward_to_go", "leave_one_out", "value_baseline", "gae")
    # their metrics blocks end at different updates (every 5 and every 10): no curves, only final scores
    assert scores.curves is None and scores.updates is None
    with np.load(exported, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(["tasks", "algorithms"] + [f"final/{a}" for a in scores.algorithms])
    for k, folder in enumerate((CARTPOLE, PENDULUM)):
        table = pio.read_frame(folder, "table").set_index("variant")
        for a in scores.algorithms:
            final = scores.final[a]
            assert final.shape == (256, 2) and final.dtype == np.float64
            # the column of a task is what the folder's table ranks: its mean and IQM of final returns
            np.testing.assert_allclose(final[:, k].mean(), table.loc[a, "mean"], rtol=1e-12)
            np.testing.assert_allclose(sps.trim_mean(final[:, k], 0.25), table.loc[a, "iqm"], rtol=1e-12)
    # the same updates in every folder: curves (runs, tasks, blocks) too, the final block being `final`
    out = tmp_path / "curves.npz"
    assert main(["export-rliable", CARTPOLE, CARTPOLE, "--tasks", "first", "second", "--out", str(out)]) == 0
    both = pio.read_rliable(out)
    assert both.tasks == ("first", "second") and len(both.algorithms) == 6
    with np.load(f"{CARTPOLE}/raw.npz", allow_pickle=False) as raw:
        np.testing.assert_array_equal(both.updates, raw["updates"])
        for a in both.algorithms:
            assert both.curves[a].shape == (256, 2, 20)
            for k in (0, 1):
                np.testing.assert_array_equal(both.curves[a][:, k, :], raw[f"{a}/return"])
            np.testing.assert_array_equal(both.final[a], both.curves[a][:, :, -1])


def test_bad_inputs_are_one_line_results_errors(tmp_path, capsys):
    with pytest.raises(pio.ResultsError, match="same task"):
        pio.rliable_scores([CARTPOLE, CARTPOLE])
    assert pio.rliable_scores([CARTPOLE, CARTPOLE], tasks=["a", "b"]).tasks == ("a", "b")
    with pytest.raises(pio.ResultsError, match="not a training experiment"):
        pio.rliable_scores([f"{ROOT}/results/lqr-variance"])
    with pytest.raises(pio.ResultsError, match="different numbers of seeds"):
        pio.rliable_scores([CARTPOLE, f"{ROOT}/results/pong-pixels"])  # 256 seeds against 8
    assert main(["export-rliable", CARTPOLE]) == 2
    assert "usage: pgjax export-rliable" in capsys.readouterr().err


def _rliable():
    """rliable's library and metrics modules, or a skip that says why they do not import."""
    try:
        from rliable import library, metrics
    except Exception as err:  # with pandas 3, arch (imported by rliable) raises TypeError, not ImportError
        pytest.skip(f"rliable does not import ({type(err).__name__}: {err}); pip install 'pgjax[rliable]'")
    return library, metrics


def test_rliable_reads_the_export(exported):
    library, metrics = _rliable()
    scores = pio.read_rliable(exported)
    point, interval = library.get_interval_estimates(
        scores.final, lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)]), reps=200
    )
    for a in scores.algorithms:
        # rliable pools the runs of both tasks: the IQM and mean over the whole (runs x tasks) matrix
        np.testing.assert_allclose(point[a], [sps.trim_mean(scores.final[a], 0.25, axis=None), scores.final[a].mean()])
        assert interval[a].shape == (2, 2)
        assert np.all(interval[a][0] <= point[a] + 1e-9) and np.all(point[a] <= interval[a][1] + 1e-9)
    # one task's column alone: rliable's IQM is the folder table's
    table = pio.read_frame(CARTPOLE, "table").set_index("variant")
    single = {a: m[:, :1] for a, m in scores.final.items()}
    for a in scores.algorithms:
        np.testing.assert_allclose(metrics.aggregate_iqm(single[a]), table.loc[a, "iqm"], rtol=1e-12)

"""The quality table of every sweep (pgjax.experiment.quality_table) against exact values on the bandit, and
the gradient-quality experiment through the CLI."""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist

import pytest

from pgjax import cli
from pgjax import io as pio
from pgjax.analysis.stats import unbiasedness_z
from pgjax.engine import run_sweep
from pgjax.experiment import ExperimentResult, quality_table, summarise_sweep
from pgjax.experiments import bandit_variance, variance_vs_n

Z95 = NormalDist().inv_cdf(0.975)
EXACT = ("reinforce", "optimal_baseline_exact", "pathwise")


@pytest.fixture(scope="module")
def bandit_quality():
    """bandit-variance's default bandit through the engine (one fused program) and its summary, and the quality
    table `pgjax run` saves from them (:func:`pgjax.experiment.quality_table`)."""
    config = bandit_variance.Config(estimators=(*EXACT, "batch_mean_baseline"), ns=(1, 8), n_seeds=4000)
    setting = variance_vs_n.setup(config)
    sweep = run_sweep(setting.problem, setting.params, setting.estimators, [1, 8], 4000, fuse=True)
    table = summarise_sweep(
        sweep,
        experiment="bandit-variance",
        problem_name=setting.problem_name,
        exact_single_sample_var=setting.exact_single_sample_var,
    )
    return quality_table(ExperimentResult("bandit-variance", config, setting.problem_name, table, sweep, {}))


def test_bandit_nse_and_noise_scale_agree_with_their_exact_values(bandit_quality):
    """Monte Carlo NSE and noise scale against the exact ones (from the exact single-sample variances; every
    estimator here is unbiased): |log(mc / exact)| within z standard errors of the log-scale interval, z
    Bonferroni over the 12 comparisons at family-wise false-failure rate 1e-6."""
    q = bandit_quality.set_index(["estimator", "n"])
    z = unbiasedness_z(2 * len(EXACT) * 2)
    for name in EXACT:
        for n in (1, 8):
            row = q.loc[(name, n)]
            for column in ("nse", "noise_scale"):
                exact, value = row[f"{column}_exact"], row[column]
                se_log = math.log(row[f"{column}_hi"] / value) / Z95
                assert abs(math.log(value / exact)) < z * se_log, (name, n, column, value, exact, se_log)
    # noise_scale_exact is flat in n; nse_exact falls as 1/n (unbiased i.i.d. averages)
    for name in EXACT:
        assert q.loc[(name, 8), "noise_scale_exact"] == pytest.approx(q.loc[(name, 1), "noise_scale_exact"])
        assert q.loc[(name, 8), "nse_exact"] == pytest.approx(q.loc[(name, 1), "nse_exact"] / 8)
    # no exact variance, no exact values; its batch mean at n = 1 is exactly zero (cosine undefined)
    assert q.loc[("batch_mean_baseline", 8), ["nse_exact", "noise_scale_exact"]].isna().all()
    assert q.loc[("batch_mean_baseline", 1), "nse"] == pytest.approx(1.0)
    assert math.isnan(q.loc[("batch_mean_baseline", 1), "cos"])
    assert (bandit_quality["experiment"] == "bandit-variance").all() and (bandit_quality["n_pairs"] == 2000).all()


def test_gradient_quality_runs_through_the_cli(tmp_path):
    """The LQR part only (the CartPole settings are cartpole-variance's grid, whose quality table
    tests/experiments/test_training_experiments.py checks through the same quality_table)."""
    out = tmp_path / "gq"
    tiny = ["--estimators", "reinforce", "--lqr-horizon", "3", "--lqr-ns", "2", "--lqr-seeds", "8"]
    assert cli.main(["run", "gradient-quality", *tiny, "--no-exact", "--no-cartpole", "--out", str(out)]) == 0
    quality = pio.read_quality(out)
    assert list(quality["setting"]) == ["lqr"] and list(quality["estimator"]) == ["reinforce"]
    assert quality["pairs"].tolist() == [6.0] and quality["n_pairs"].tolist() == [4]
    assert quality["nse"].gt(0).all() and quality[["nse_exact", "noise_scale_exact"]].isna().all().all()
    assert set(pio.read_table(out)["setting"]) == {"lqr"}
    assert (out / "figure.png").exists() and (out / "figure.pdf").exists()
    assert pio.read_manifest(out)["standard_budget"] == 2048


def test_a_bad_flag_is_one_line_naming_it(tmp_path, capsys):
    assert cli.main(["run", "gradient-quality", "--lqr-seeds", "3", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--lqr-seeds" in err[0], err
    assert not (tmp_path / "x").exists()


def test_pendulum_settings_are_snapshot_grids_of_full_length_episodes():
    """The Pendulum path (``--pendulum``) on a tiny Pendulum-v1 setting: one snapshot, a small MLP, horizon 5
    (the committed run's policy, horizon and discount are pendulum-gaussian's). Pendulum never terminates, so
    every measured episode runs the horizon: episode_length is exactly 5."""
    from pgjax.experiments import gradient_quality as gq
    from pgjax.experiments import pendulum_gaussian

    config = gq.Config(pendulum=True, length_episodes=3, estimators=("reinforce",))
    full = config.pendulum_config()
    policy = pendulum_gaussian.Config()
    assert (full.env, full.policy, full.hidden, full.horizon, full.discount) == (
        policy.env,
        policy.policy,
        policy.hidden,
        policy.horizon,
        policy.discount,
    )
    tiny = dataclasses.replace(
        full, hidden=(4,), horizon=5, snapshots=(0,), ns=(2,), n_seeds=4, reference_batches=2, reference_episodes=2
    )
    table, quality, info = gq.snapshot_settings("pendulum", tiny, config, None, None)
    assert list(quality["setting"]) == ["pendulum-initial"] and list(quality["estimator"]) == ["reinforce"]
    assert quality["episode_length"].tolist() == [5.0] and quality["n_pairs"].tolist() == [2]
    assert quality["nse"].gt(0).all() and quality["cos"].between(-1, 1).all()
    assert set(table["setting"]) == {"pendulum-initial"} and info["mean_episode_length"] == {"initial": 5.0}
    assert info["reference_nse_floor"]["initial"] > 0


def test_pendulum_flags_are_checked_only_when_on():
    from pgjax.errors import ConfigError
    from pgjax.experiments import gradient_quality as gq

    gq.Config(pendulum_ns=(1, 4)).validate()  # off: its flags are not used
    with pytest.raises(ConfigError, match="pendulum-ns"):
        gq.Config(pendulum=True, pendulum_ns=(1, 4)).validate()
    with pytest.raises(ConfigError, match="pendulum-seeds"):
        gq.Config(pendulum=True, pendulum_seeds=3).validate()

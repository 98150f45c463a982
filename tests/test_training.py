"""Training: every variant learns on CartPole, resume is bit-identical, bad input is a clear error."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from pgjax.analysis.stats import unbiasedness_z
from pgjax.errors import ConfigError
from pgjax.io import ResultsError
from pgjax.training import TrainSetup, train

SMALL = TrainSetup(
    env="cartpole",
    policy="linear-softmax",
    episodes=4,
    horizon=100,
    updates=24,
    log_every=4,
    critic_hidden=(8,),
    critic_epochs=2,
    critic_learning_rate=1e-2,
    value_scale=20.0,
)
VARIANTS = (
    "reinforce",
    "reward_to_go",
    "batch_mean_baseline",
    "leave_one_out",
    "value_baseline",
    "gae",
    "normalised_return",
)


@pytest.mark.parametrize("estimator", VARIANTS)
def test_short_training_improves_the_return(estimator):
    """Over 48 seeds, the return of the last block beats the first block's: the paired mean improvement
    exceeds z sd / sqrt(S) with the Bonferroni z of alpha = 1e-6 over the 7 variants (a chance pass of a
    variant that does not learn has probability <= 1e-6 / 7; fixed keys)."""
    out = train(dataclasses.replace(SMALL, estimator=estimator), 48, learning_rates=(0.1,))
    ret = out.metrics["return"][0]  # (S, B)
    gain = ret[:, -1] - ret[:, 0]
    z = unbiasedness_z(len(VARIANTS))
    assert gain.mean() > z * gain.std(ddof=1) / np.sqrt(len(gain)), (estimator, gain.mean(), ret.mean(0))
    assert np.all(np.isfinite(ret))
    assert out.updates.tolist() == [4, 8, 12, 16, 20, 24]


def test_resume_gives_identical_results(tmp_path):
    setup = dataclasses.replace(SMALL, estimator="gae", updates=12, log_every=2)
    full = train(setup, 4, learning_rates=(0.05, 0.1), chunk_blocks=2)
    part = train(setup, 4, learning_rates=(0.05, 0.1), chunk_blocks=2, checkpoint=tmp_path, stop_after_chunks=1)
    assert np.isnan(part.metrics["return"][..., -1]).all()  # it really stopped early
    files = list(tmp_path.glob("train-*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp*"))
    resumed = train(setup, 4, learning_rates=(0.05, 0.1), chunk_blocks=2, checkpoint=tmp_path, resume=True)
    assert resumed.resumed_blocks == 2
    for k in full.metrics:
        np.testing.assert_array_equal(resumed.metrics[k], full.metrics[k], err_msg=k)
    for a, b in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(full.state)):
        np.testing.assert_array_equal(a, b)
    # Without --resume the checkpoint is ignored (recomputed from scratch, same numbers).
    again = train(setup, 4, learning_rates=(0.05, 0.1), chunk_blocks=2, checkpoint=tmp_path)
    assert again.resumed_blocks == 0
    np.testing.assert_array_equal(again.metrics["return"], full.metrics["return"])


def test_chunking_and_learning_rate_axis_do_not_change_numbers():
    setup = dataclasses.replace(SMALL, estimator="leave_one_out", updates=8, log_every=2)
    a = train(setup, 3, learning_rates=(0.05, 0.2), chunk_blocks=1)
    b = train(setup, 3, learning_rates=(0.05, 0.2), chunk_blocks=4)
    np.testing.assert_array_equal(a.metrics["return"], b.metrics["return"])
    alone = train(setup, 3, learning_rates=(0.2,), chunk_blocks=4)
    np.testing.assert_allclose(alone.metrics["return"][0], a.metrics["return"][1], rtol=1e-5)
    # Different learning rates really give different runs.
    assert not np.array_equal(a.metrics["return"][0], a.metrics["return"][1])


def test_corrupt_or_foreign_checkpoint_is_a_clear_error(tmp_path):
    setup = dataclasses.replace(SMALL, estimator="reinforce", updates=4, log_every=2)
    train(setup, 2, checkpoint=tmp_path, stop_after_chunks=1, chunk_blocks=1)
    (path,) = tmp_path.glob("train-*.npz")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ResultsError, match=f"{path.name}: unreadable checkpoint"):
        train(setup, 2, checkpoint=tmp_path, resume=True, chunk_blocks=1)


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(estimator="nope"), "--estimators"),
        (dict(env="atari"), "--env"),
        (dict(policy="linear-gaussian"), "--policy"),
        (dict(updates=10, log_every=4), "--updates"),
        (dict(episodes=0), "--episodes"),
        (dict(discount=0.0), "--discount"),
        (dict(optimiser="adagrad"), "--optimiser"),
        (dict(estimator="leave_one_out", episodes=1), "--episodes"),
    ],
)
def test_bad_setups_name_the_field(change, field):
    with pytest.raises(ConfigError, match=field):
        dataclasses.replace(SMALL, **change).validate()


def test_bad_run_arguments():
    with pytest.raises(ConfigError, match="--n-seeds"):
        train(SMALL, 0)
    with pytest.raises(ConfigError, match="--learning-rates"):
        train(SMALL, 2, learning_rates=(0.0,))


def test_runs_sharded_over_four_devices_give_the_same_numbers():
    """The runs (seeds x learning rates) laid out over 4 CPU devices give the same metrics up to float
    rounding (XLA compiles a 2-run shard differently from 8 runs: last bits of the gradient norms move), and
    identical returns over this short run (a fresh process: the device count is fixed when jax starts). Without
    ``devices`` a CPU trains on one device, so the default numbers are those of any machine, bit for bit."""
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import jax, numpy as np
        from pgjax.training import TrainSetup, train
        s = TrainSetup(estimator="gae", episodes=2, horizon=30, updates=4, log_every=2, critic_hidden=(8,),
                       critic_epochs=1)
        a = train(s, 4, learning_rates=(0.05, 0.1), devices=1)
        b = train(s, 4, learning_rates=(0.05, 0.1), devices=4)
        c = train(s, 4, learning_rates=(0.05, 0.1))  # the default on a CPU: one device, whatever the count
        assert len(jax.devices()) == 4
        for k in a.metrics:
            np.testing.assert_array_equal(a.metrics[k], c.metrics[k])
        np.testing.assert_array_equal(a.metrics["return"], b.metrics["return"])
        for k in a.metrics:
            np.testing.assert_allclose(a.metrics[k], b.metrics[k], rtol=1e-5, atol=1e-6)
        print("ok")
        """
    )
    env = dict(os.environ, JAX_NUM_CPU_DEVICES="4", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]

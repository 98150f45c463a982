"""brax environments behind the gymnax environment protocol (pgjax.brax_envs).

The tests marked ``brax`` need the extra (``pip install -e '.[test,brax]'``) and compile brax programs (30 to 90
s each on 2 CPU cores), so the default run deselects them (``-m 'not brax'`` in pyproject) and ``.ci/run`` runs
them once after the main suite (``pytest -m brax``), with a horizon of a few steps:

- the adapter's rollout (:func:`pgjax.envs.rollout`) against brax's own ``reset``/``step`` driven by hand with
  the same actions: same rewards, the done-mask where brax says done, the state frozen after it;
- ``brax-variance`` through the CLI on a tiny Hopper setting: training, the variance sweeps against the
  reference gradient, and the branching of saved brax states, written as tables and figures;
- many-seed training (:func:`pgjax.training.train`) on InvertedPendulum and HalfCheetah.

Unmarked: without brax, a brax name is one line naming the extra.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pgjax.cli import main
from pgjax.errors import ConfigError


def test_missing_brax_is_one_line_naming_the_extra(monkeypatch, capsys, tmp_path):
    from pgjax.brax_envs import BraxEnvironment, _brax
    from pgjax.envs import make_environment

    _brax.cache_clear()
    monkeypatch.setitem(sys.modules, "brax", None)  # import brax now raises ImportError, installed or not
    with pytest.raises(ConfigError, match=r"--env: brax is not installed: pip install 'pgjax\[brax\]'"):
        make_environment("hopper")
    with pytest.raises(ConfigError, match="brax is not installed"):
        BraxEnvironment("hopper", "spring")
    assert main(["run", "brax-variance", "--out", str(tmp_path / "bv")]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["pgjax: error: --env: brax is not installed: pip install 'pgjax[brax]'"]


def test_unknown_names_and_backends():
    from pgjax.brax_envs import is_brax_name, make_brax_environment

    assert is_brax_name("hopper") and is_brax_name("halfcheetah:spring") and not is_brax_name("cartpole")
    with pytest.raises(ConfigError, match="unknown brax environment"):
        make_brax_environment("walker")
    pytest.importorskip("brax.envs")
    with pytest.raises(ConfigError, match="unknown brax backend 'warp'"):
        make_brax_environment("hopper:warp")


@pytest.mark.brax
def test_rollout_is_brax_driven_by_hand():
    import jax
    import jax.numpy as jnp

    from pgjax.brax_envs import DEFAULT_BACKEND
    from pgjax.envs import make_environment, reset_key, rollout
    from pgjax.policies import make_policy

    env = make_environment("hopper")
    assert env.backend == DEFAULT_BACKEND and env.name == f"brax-hopper-{DEFAULT_BACKEND}"
    assert (env.obs_shape, env.action_dim, env.discrete, env.max_steps) == ((11,), 3, False, 1000)
    policy = make_policy("linear-gaussian", env, init_log_sigma=1.0)  # wide actions: Hopper falls within H
    params = policy.init(jax.random.key(0), env)
    H, key = 24, jax.random.key(3)
    traj = jax.jit(lambda k: rollout(env, policy, params, k, H))(key)
    brax_env = env.brax_env
    state = jax.jit(brax_env.reset)(reset_key(key))
    step = jax.jit(brax_env.step)
    rewards, alive, live = [], [], 1.0
    for t in range(H):
        np.testing.assert_allclose(traj.inputs[t], state.obs, rtol=1e-5, atol=1e-5)  # linear policy: x = obs
        alive.append(live)
        if live:
            state = step(state, jnp.asarray(traj.actions[t]))
            rewards.append(float(state.reward))
            live = 0.0 if float(state.done) > 0 else 1.0
        else:
            rewards.append(0.0)
    np.testing.assert_array_equal(traj.alive, alive)
    np.testing.assert_allclose(traj.rewards, rewards, rtol=1e-5, atol=1e-5)
    assert 1 < sum(alive) < H  # the episode ended inside the horizon, so the done-mask was exercised


@pytest.mark.brax
def test_brax_variance_cli_tiny(tmp_path):
    from pgjax import io as pio
    from pgjax.experiments import variance_decomposition as vdx

    out = tmp_path / "bv"
    argv = ["run", "brax-variance", "--horizon", "8", "--times", "0", "3", "--train-updates", "1"]
    argv += ["--ns", "2", "--n-seeds", "4", "--reference-episodes", "2", "--reference-batches", "4"]
    argv += ["--decomposition-seeds", "2", "--actions", "2", "--continuations", "2", "--out", str(out)]
    assert main(argv) == 0
    table = pio.read_table(out)
    assert set(table["snapshot"]) == {"initial", "trained"} and set(table["n"]) == {2}
    assert set(table["estimator"]) == {"reinforce", "reward_to_go", "batch_mean_baseline", "leave_one_out"}
    assert np.isfinite(table["var"]).all() and (table["var"] > 0).all()
    terms = pio.read_frame(out, "terms")
    assert set(terms["term"]) == set(vdx.TERMS) and set(terms["t"]) == {0, 3}
    wide = terms.pivot_table(index=["snapshot", "t"], columns="term", values="mean")
    np.testing.assert_allclose(
        wide["total_none"], wide["sigma_s"] + wide["sigma_a_none"] + wide["sigma_tau"], rtol=1e-5
    )
    # brax's Hopper is deterministic given (state, action): continuations differ through the policy's later
    # actions only, which a Gaussian policy always draws afresh, so Sigma_tau > 0 at t = 0 (a branch that
    # reused its siblings' keys would give 0)
    assert (wide.xs(0, level="t")["sigma_tau"] > 0).all()
    for name in ("figure-initial.png", "figure-trained.png", "decomposition.png", "summary.parquet"):
        assert (out / name).exists(), name


def test_brax_variance_config_errors_name_the_field():
    from pgjax.experiments import brax_variance as bvx

    for bad, field in [
        (dict(env="cartpole"), "env"),
        (dict(ns=(1, 8)), "ns"),
        (dict(estimators=("reinforce", "nope")), "estimators"),
        (dict(reference_batches=1), "reference_batches"),
        (dict(decomposition_seeds=1), "decomposition_seeds"),
    ]:
        with pytest.raises(ConfigError) as info:
            bvx.Config(**bad).validate()
        assert info.value.field == field, bad
    full = bvx.Config(full=True).resolved()
    assert full.horizon == 1000 and full.n_seeds == 1000 and not full.full


@pytest.mark.brax
@pytest.mark.parametrize("name", ["inverted-pendulum", "halfcheetah"])
def test_many_seed_training_runs_on_brax(name):
    """pgjax.training.train (vmapped seeds, one compiled program) on the other two environments: InvertedPendulum
    pays +1 per step upright, so a batch's mean return is its mean length; HalfCheetah never ends early."""
    from pgjax.training import TrainSetup, train

    setup = TrainSetup(
        env=name, policy="linear-gaussian", estimator="reinforce", episodes=2, horizon=6, updates=2, log_every=1
    )
    out = train(setup, 2, learning_rates=(0.01,))
    ret, length = out.metrics["return"], out.metrics["length"]
    assert ret.shape == (1, 2, 2) and np.isfinite(out.metrics["grad_norm"]).all()
    if name == "inverted-pendulum":
        np.testing.assert_allclose(ret, length, rtol=1e-6)
        assert (length >= 1).all() and (length <= 6).all()
    else:
        np.testing.assert_array_equal(length, 6.0)
        assert np.isfinite(ret).all() and (ret != 0).all()

"""Learning signals and estimators on real environments (pgjax.estimators.episodic, EnvironmentProblem).

Unbiasedness tests: R independent estimates per estimator against a large-batch reference from keys
disjoint from theirs; reject when |mean - ref| > z sqrt(se_est^2 + se_ref^2), with the Bonferroni z of
alpha = 1e-6 over all coordinates and estimators tested (false-failure rate <= 1e-6; keys are fixed).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.analysis.stats import unbiasedness_z
from pgjax.engine import run_sweep
from pgjax.envs import make_environment
from pgjax.errors import ConfigError
from pgjax.estimators import LeaveOneOutBaseline, Reinforce
from pgjax.estimators.episodic import SIGNALS, Episodic, EpisodicGrid, learning_signal
from pgjax.estimators.trajectory import RewardToGo
from pgjax.policies import Critic, make_policy
from pgjax.problems.environment import EnvironmentProblem, FrozenTree
from pgjax.returns import gae_advantages, returns_to_go
from pgjax.tree_util import ravel

HORIZON = 40


@pytest.fixture(scope="module")
def setting():
    env = make_environment("cartpole")
    policy = make_policy("linear-softmax", env)
    params = policy.init(jax.random.key(0), env)
    # A policy away from uniform, so that the gradient has structure.
    params = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.key(1), x.shape), params)
    critic = Critic(hidden=(8,))
    critic_params = critic.init(jax.random.key(2), 5)  # a random (wrong) critic
    problem = EnvironmentProblem(
        env, policy, HORIZON, 0.97, critic=critic, critic_params=FrozenTree(critic_params), value_scale=10.0
    )
    return problem, params


# ------------------------------------------------------------------------------------- signals by hand
def _loop_returns(r, gamma):
    H, n = r.shape
    G = np.zeros_like(r)
    for i in range(n):
        acc = 0.0
        for t in reversed(range(H)):
            acc = r[t, i] + gamma * acc
            G[t, i] = acc
    return G


def test_signals_match_hand_computation():
    rng = np.random.default_rng(0)
    H, n, gamma, lam = 6, 4, 0.9, 0.8
    alive = np.ones((H, n), np.float32)
    alive[3:, 1] = 0.0  # episode 1 terminates after step 2
    r = (rng.normal(size=(H, n)) * alive).astype(np.float32)
    v = rng.normal(size=(H, n)).astype(np.float32)
    G = _loop_returns(r.astype(np.float64), gamma)
    disc = gamma ** np.arange(H)[:, None]
    expected = {
        "reinforce": np.broadcast_to(G[:1], G.shape) * alive,
        "reward_to_go": disc * G * alive,
        "batch_mean_baseline": disc * (G - G.mean(axis=1, keepdims=True)) * alive,
        "leave_one_out": disc * (G - (G.sum(axis=1, keepdims=True) - G) / (n - 1)) * alive,
        "value_baseline": disc * (G - v) * alive,
    }
    vm = v * alive
    delta = np.zeros((H, n))
    for t in range(H):
        nxt = vm[t + 1] if t + 1 < H else 0.0
        delta[t] = (r[t] + gamma * nxt - vm[t]) * alive[t]
    adv = np.zeros((H, n))
    acc = np.zeros(n)
    for t in reversed(range(H)):
        acc = delta[t] + gamma * lam * acc
        adv[t] = acc
    expected["gae"] = disc * adv * alive
    for name, want in expected.items():
        got = learning_signal(name, jnp.asarray(r), jnp.asarray(alive), jnp.asarray(v), discount=gamma, lam=lam)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(np.asarray(returns_to_go(jnp.asarray(r), gamma)), G, rtol=1e-5, atol=1e-6)
    # GAE at lambda = 1 telescopes to G - V: the value baseline.
    np.testing.assert_allclose(
        np.asarray(gae_advantages(jnp.asarray(r), jnp.asarray(alive), jnp.asarray(v), gamma, 1.0)) * alive,
        (G - v) * alive,
        rtol=1e-4,
        atol=1e-4,
    )
    norm = np.asarray(learning_signal("normalised_return", jnp.asarray(r), jnp.asarray(alive), discount=gamma))
    live = alive > 0
    assert abs(norm[live].mean()) < 1e-5 and abs(norm[live].std() - 1.0) < 1e-4
    assert np.all(norm[~live] == 0)


def test_unknown_signal_and_missing_critic_are_errors():
    with pytest.raises(ConfigError, match="--estimators: unknown estimator 'nope'"):
        Episodic("nope")
    with pytest.raises(ConfigError, match="--lam"):
        Episodic("gae", lam=1.5)
    r = jnp.zeros((3, 2))
    with pytest.raises(ValueError, match="needs critic values"):
        learning_signal("gae", r, jnp.ones((3, 2)))


# --------------------------------------------------------------------------- reuse of the generic code
def test_episodic_equals_the_generic_estimators(setting):
    """The environment problem runs the estimators of pgjax.estimators unchanged, and they agree with the
    episodic learning signals used in training (same key, same episodes)."""
    problem, params = setting
    key = jax.random.key(7)
    pairs = [(Episodic("reinforce"), Reinforce()), (Episodic("reward_to_go"), RewardToGo(forward=False))]
    for ours, generic in pairs:
        a = np.asarray(ravel(jax.jit(ours, static_argnums=(2, 3))(key, params, problem, 6)))
        b = np.asarray(ravel(jax.jit(generic, static_argnums=(2, 3))(key, params, problem, 6)))
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5 * np.abs(b).max())
    # The generic leave-one-out uses the TOTAL return as baseline: a different (also unbiased) estimator.
    c = np.asarray(ravel(jax.jit(LeaveOneOutBaseline(), static_argnums=(2, 3))(key, params, problem, 6)))
    assert np.all(np.isfinite(c))


def test_grid_equals_separate_estimators(setting):
    problem, params = setting
    key = jax.random.key(3)
    grid = jax.jit(EpisodicGrid(("reward_to_go", "gae"), 0.9), static_argnums=(2, 3))(key, params, problem, 4)
    for name, got in zip(("reward_to_go", "gae"), grid):
        want = jax.jit(Episodic(name, 0.9), static_argnums=(2, 3))(key, params, problem, 4)
        np.testing.assert_allclose(np.asarray(ravel(got)), np.asarray(ravel(want)), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------- unbiasedness
def test_estimators_are_unbiased_against_a_large_batch_reference(setting):
    """reinforce, reward_to_go, leave_one_out and value_baseline (with a RANDOM critic: any baseline that
    does not depend on the batch is unbiased) match the reference; batch_mean_baseline has exactly the bias
    -grad/n, so (n/(n-1)) x its estimate matches too; gae with a wrong critic is biased (not tested)."""
    problem, params = setting
    n, R = 4, 3000
    names = ("reinforce", "reward_to_go", "batch_mean_baseline", "leave_one_out", "value_baseline")
    P = ravel(params).shape[0]
    ref = (
        run_sweep(
            problem, params, {"ref": Episodic("leave_one_out")}, [64], 2000, seed=99, reference_gradient=np.zeros(P)
        )
        .estimates["ref"][64]
        .astype(np.float64)
    )
    ref_mean, ref_se = ref.mean(0), ref.std(0, ddof=1) / np.sqrt(len(ref))
    sweep = run_sweep(problem, params, {names: EpisodicGrid(names)}, [n], R, seed=0, reference_gradient=ref_mean)
    z = unbiasedness_z(P * len(names))
    for name in names:
        x = sweep.estimates[name][n].astype(np.float64)
        if name == "batch_mean_baseline":
            x = x * n / (n - 1)
        se = x.std(0, ddof=1) / np.sqrt(R)
        err = np.abs(x.mean(0) - ref_mean) / np.sqrt(se**2 + ref_se**2)
        assert np.all(err < z), (name, err.max(), z)
    # The test has power: the uncorrected batch-mean estimate is rejected on the largest coordinate.
    x = sweep.estimates["batch_mean_baseline"][n].astype(np.float64)
    big = np.argmax(np.abs(ref_mean) / ref_se)
    se = x[:, big].std(ddof=1) / np.sqrt(R)
    assert abs(x[:, big].mean() - ref_mean[big]) / np.hypot(se, ref_se[big]) > z


def test_every_signal_runs_in_the_engine_sharded(setting):
    """All signals, jitted inside the engine's shard_map program, give finite estimates."""
    problem, params = setting
    P = ravel(params).shape[0]
    sweep = run_sweep(problem, params, {tuple(SIGNALS): EpisodicGrid(SIGNALS)}, [2], 4, reference_gradient=np.zeros(P))
    for name in SIGNALS:
        assert np.all(np.isfinite(sweep.estimates[name][2])), name


def test_environment_problem_validates():
    env = make_environment("cartpole")
    policy = make_policy("linear-softmax", env)
    with pytest.raises(ConfigError, match="--horizon"):
        EnvironmentProblem(env, policy, 0)
    with pytest.raises(ConfigError, match="--discount"):
        EnvironmentProblem(env, policy, 10, discount=0.0)
    problem = EnvironmentProblem(env, policy, 5)
    with pytest.raises(ConfigError, match="needs a critic"):
        problem.values(problem.sample(problem.init_params(), problem.sample_noise(jax.random.key(0), 2)))


def test_steps_after_termination_add_no_score_terms():
    """The done-mask stops score terms too: changing the actions and inputs after an episode has ended
    leaves every estimator's gradient exactly as it was (and the steps before the end do matter)."""
    from pgjax.estimators.episodic import _gradient

    env = make_environment("cartpole")
    policy = make_policy("linear-softmax", env)
    params = jax.tree.map(lambda x: x + 0.5, policy.init(jax.random.key(0), env))
    critic = Critic(hidden=(8,))
    problem = EnvironmentProblem(
        env, policy, 60, 0.95, critic=critic, critic_params=FrozenTree(critic.init(jax.random.key(1), 5))
    )
    batch = problem.sample(params, problem.sample_noise(jax.random.key(2), 6))
    dead = np.asarray(batch.alive) == 0
    assert dead.any(axis=0).all(), "every episode should end before the horizon at these params"
    scrambled = batch._replace(
        actions=jnp.where(jnp.asarray(dead), 1 - batch.actions, batch.actions),
        inputs=jnp.where(jnp.asarray(dead)[..., None], 7.0, batch.inputs),
    )
    alive_flip = batch._replace(actions=jnp.where(jnp.asarray(~dead), 1 - batch.actions, batch.actions))
    for name in SIGNALS:
        base = np.asarray(ravel(_gradient(name, 0.9, params, problem, batch)))
        np.testing.assert_array_equal(
            np.asarray(ravel(_gradient(name, 0.9, params, problem, scrambled))), base, err_msg=name
        )
        assert not np.allclose(np.asarray(ravel(_gradient(name, 0.9, params, problem, alive_flip))), base), name

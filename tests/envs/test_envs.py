"""Tests for pgjax.envs: environment metadata, rollouts against gymnax step by step, the done-mask, jit/vmap.

Every test here is deterministic (fixed keys): no statistical test, so no false-failure rate to state. The
reference for a rollout is gymnax itself: the same keys replayed through ``env.reset_env`` / ``env.step_env``
in a Python loop (one jitted step per iteration). Discrete actions, done signals and the done-mask are compared
exactly; observations, rewards and continuous actions to rtol 1e-5 (a few float32 ulps: a compiled scan and a
separately compiled step can fuse, and so round, differently).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.envs import ENVIRONMENTS, Environment, Trajectory, make_environment, reset_key, rollout, step_keys
from pgjax.errors import ConfigError
from pgjax.policies import POLICIES, make_policy

EXPECTED = {
    # gymnax id: (discrete, num_actions, action_dim, action_low, action_high, obs_shape, max_steps)
    "CartPole-v1": (True, 2, 0, 0.0, 0.0, (4,), 500),
    "Pendulum-v1": (False, 0, 1, -2.0, 2.0, (3,), 200),
    "MountainCarContinuous-v0": (False, 0, 1, -1.0, 1.0, (2,), 999),
    "Pong-misc": (True, 3, 0, 0.0, 0.0, (30, 40, 3), 1000),
}


def perturbed(params, seed=1, scale=0.5):
    """params + scale * N(0, 1) noise on every leaf (so that a policy is neither uniform nor degenerate).
    The noise comes from NumPy: eager JAX draws would compile a kernel per leaf shape."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: jnp.asarray(p + scale * rng.standard_normal(p.shape), jnp.float32), params)


def always_right(environment):
    """A linear-softmax CartPole policy that pushes right with probability 1 in float32 (p_left = e^-100 = 0)."""
    policy = make_policy("linear-softmax", environment)
    params = policy.init(jax.random.key(0), environment)
    params["params"]["Dense_0"]["bias"] = jnp.array([-50.0, 50.0], jnp.float32)
    return policy, params


# ------------------------------------------------------------------------------------------- environments
@pytest.mark.parametrize("short", sorted(ENVIRONMENTS))
def test_environment_metadata(short):
    gym_id = ENVIRONMENTS[short]
    env = make_environment(short)
    assert env == make_environment(gym_id) == Environment(gym_id)
    assert hash(env) == hash(Environment(gym_id)) and env.name == gym_id
    discrete, num_actions, action_dim, low, high, obs_shape, max_steps = EXPECTED[gym_id]
    assert env.discrete is discrete
    assert env.num_actions == num_actions and env.action_dim == action_dim
    assert env.action_low == low and env.action_high == high
    assert env.obs_shape == obs_shape and env.max_steps == max_steps
    assert env.env is make_environment(short).env  # made once, cached
    assert env.env_params.max_steps_in_episode == max_steps


@pytest.mark.parametrize("bad", ["CartPole", "cartpole-v1", "", "Breakout-MinAtar", None])
def test_unknown_environment_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="--env: unknown environment") as info:
        make_environment(bad)
    assert info.value.field == "env"
    if isinstance(bad, str):
        with pytest.raises(ConfigError):
            Environment(bad)


def test_bad_horizon_is_a_config_error():
    env = make_environment("cartpole")
    policy = make_policy("linear-softmax", env)
    with pytest.raises(ConfigError, match="--horizon"):
        rollout(env, policy, policy.init(jax.random.key(0), env), jax.random.key(1), 0)


# ------------------------------------------------------------------------- rollouts against gymnax itself
def manual_rollout(environment, policy, params, key, horizon):
    """The same episode, replayed by hand: gymnax's reset_env / step_env in a Python loop, no masking.

    Returns per step t: inputs x_t, actions a_t, raw rewards r_t, raw done_t (termination or the time limit),
    and the observation obs_{t+1}; it stops after the first done.
    """
    env, env_params = environment.env, environment.env_params
    obs, state = env.reset_env(reset_key(key), env_params)
    state = jax.tree.map(jnp.asarray, state)
    state = state.replace(time=jnp.asarray(state.time, jnp.int32))  # one dtype for every call of one_step
    prev = obs

    # One step compiled on its own, as XLA compiles the scan's body (eager ops round differently).
    @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    def one_step(params, t, obs, prev, state):
        action_key, env_key = step_keys(key, t)
        x = policy.inputs(obs, prev)
        action = policy.sample(params, action_key, x)
        return (x, action) + tuple(env.step_env(env_key, state, action, env_params)[:4])

    out = {"inputs": [], "actions": [], "rewards": [], "done": [], "next_obs": []}
    for t in range(horizon):
        x, action, next_obs, state, reward, done = one_step(params, jnp.int32(t), obs, prev, state)
        done = bool(done) or int(state.time) >= env_params.max_steps_in_episode
        for name, value in (
            ("inputs", x),
            ("actions", action),
            ("rewards", reward),
            ("done", done),
            ("next_obs", next_obs),
        ):
            out[name].append(np.asarray(value))
        prev, obs = obs, next_obs
        if done:
            break
    return {name: np.stack(values) for name, values in out.items()}


# Every (environment, policy) pair that make_policy accepts.
PAIRS = [
    (e, p) for e in sorted(ENVIRONMENTS) for p in POLICIES if make_environment(e).discrete != p.endswith("-gaussian")
]
# Pairs also replayed step by step against gymnax (horizon): every environment and policy family. "always-right"
# is the CartPole policy of :func:`always_right`, whose episodes end within the horizon, so that the comparison
# covers a termination and the frozen state after it.
MANUAL_HORIZONS = {
    ("cartpole", "always-right"): 30,
    ("cartpole", "mlp-softmax"): 30,
    ("pendulum", "linear-gaussian"): 20,
    ("mountain-car-continuous", "mlp-gaussian"): 20,
    ("pong", "pong-mlp"): 6,
}
# The other pairs run 4 steps, except this one, which runs past Pendulum's time limit of 200 steps
# (test_time_limit_ends_the_episode reuses its compiled program).
OTHER_HORIZONS = {("pendulum", "mlp-gaussian"): 205}


def test_pairs_cover_every_environment_and_policy():
    assert {e for e, _ in PAIRS} == set(ENVIRONMENTS) and {p for _, p in PAIRS} == set(POLICIES)
    assert {e for e, _ in MANUAL_HORIZONS} == set(ENVIRONMENTS)


def case(env_name, policy_name):
    """(environment, policy, params) of a test case; "always-right" is :func:`always_right`'s CartPole policy."""
    environment = make_environment(env_name)
    if policy_name == "always-right":
        return (environment,) + always_right(environment)
    sds = env_name == "mountain-car-continuous"  # one case with a state-dependent sigma
    policy = make_policy(policy_name, environment, hidden=(16,), state_dependent_sigma=sds)
    return environment, policy, perturbed(policy.init(jax.random.key(0), environment))


N_EPISODES = 32


# These tests are bound by XLA's compile time on a CPU, not by run time: compile with less LLVM optimisation
# (about half the compile time; the programs' semantics do not change).
FAST_COMPILE = {"xla_backend_optimization_level": 0}


@functools.partial(jax.jit, static_argnums=(0, 1, 4), compiler_options=FAST_COMPILE)
def run_batch(environment, policy, params, keys, horizon):
    """jit(vmap(rollout)) over ``keys``, the REINFORCE surrogate's gradient and the entropies, in one call
    (shared by the tests, so that each (environment, policy, shapes) compiles once)."""
    traj = jax.vmap(lambda k: rollout(environment, policy, params, k, horizon))(keys)

    def surrogate(p):
        log_probs = policy.log_prob(p, traj.inputs, traj.actions)  # (n, H)
        return jnp.mean(jnp.sum(traj.rewards, 1) * jnp.sum(traj.alive * log_probs, 1))

    return traj, jax.grad(surrogate)(params), policy.entropy(params, traj.inputs)


@pytest.mark.parametrize("env_name,policy_name", PAIRS + [("cartpole", "always-right")])
def test_every_pair_jits_vmaps_and_matches_gymnax(env_name, policy_name):
    """jit(vmap(rollout)) over keys and the REINFORCE surrogate's gradient in one compiled call; for the pairs of
    MANUAL_HORIZONS, the first episode is also replayed through gymnax by hand and compared step by step."""
    environment, policy, params = case(env_name, policy_name)
    horizon = MANUAL_HORIZONS.get((env_name, policy_name)) or OTHER_HORIZONS.get((env_name, policy_name), 4)
    keys = jax.random.split(jax.random.key(7), N_EPISODES)
    batch, grad, entropy = run_batch(environment, policy, params, keys, horizon)
    n = keys.shape[0]
    assert isinstance(batch, Trajectory)
    obs_size = int(np.prod(environment.obs_shape))
    assert batch.inputs.shape == (n, horizon, obs_size) and batch.inputs.dtype == jnp.float32
    if environment.discrete:
        assert batch.actions.shape == (n, horizon) and batch.actions.dtype == jnp.int32
        assert np.all((np.asarray(batch.actions) >= 0) & (np.asarray(batch.actions) < environment.num_actions))
    else:
        assert batch.actions.shape == (n, horizon, environment.action_dim) and batch.actions.dtype == jnp.float32
    assert batch.rewards.shape == batch.alive.shape == (n, horizon)
    assert batch.rewards.dtype == jnp.float32 and batch.alive.dtype == jnp.float32
    assert entropy.shape == (n, horizon) and np.all(np.isfinite(np.asarray(entropy)))
    assert jax.tree.structure(grad) == jax.tree.structure(params)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grad))
    if (env_name, policy_name) not in MANUAL_HORIZONS:
        return

    traj = jax.tree.map(lambda x: np.asarray(x[0]), batch)  # the first episode
    ref = manual_rollout(environment, policy, params, keys[0], horizon)
    m = len(ref["done"])  # steps until (and including) the first done
    # Discrete actions and the done signal must agree exactly; real numbers to a few float32 ulps, because a
    # compiled scan and a separately compiled step may fuse (and so round) differently.
    close = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(traj.inputs[:m], ref["inputs"], **close)
    if environment.discrete:
        np.testing.assert_array_equal(traj.actions[:m], ref["actions"])
    else:
        np.testing.assert_allclose(traj.actions[:m], ref["actions"], **close)
    np.testing.assert_allclose(traj.rewards[:m], ref["rewards"].astype(np.float32), **close)
    np.testing.assert_array_equal(traj.alive[:m], np.ones(m, np.float32))
    # alive[t + 1] = 1 - done[t] while the episode runs.
    np.testing.assert_array_equal(traj.alive[1 : m + 1], 1.0 - ref["done"][: horizon - 1].astype(np.float32))
    if policy_name == "always-right":
        assert m < horizon, "this case must cover a termination"
    if m < horizon:  # it ended: nothing after it counts, and the state stays at the terminal one
        assert np.all(traj.alive[m:] == 0) and np.all(traj.rewards[m:] == 0)
        frozen = np.asarray(policy.inputs(ref["next_obs"][-1], ref["next_obs"][-1]))
        np.testing.assert_allclose(traj.inputs[m:], np.broadcast_to(frozen, traj.inputs[m:].shape), **close)


# --------------------------------------------------------------------------------------------- done-mask
def test_done_mask_stops_rewards_after_termination():
    """Always pushing right, every CartPole episode falls within a few dozen steps: after it, rewards are
    exactly 0, alive is monotone, the return equals the number of alive steps, and the state is frozen."""
    environment, policy, params = case("cartpole", "always-right")
    horizon, n = MANUAL_HORIZONS[("cartpole", "always-right")], N_EPISODES
    keys = jax.random.split(jax.random.key(3), n)
    traj, _, _ = run_batch(environment, policy, params, keys, horizon)
    alive, rewards = np.asarray(traj.alive), np.asarray(traj.rewards)
    assert alive.shape == rewards.shape == (n, horizon) and traj.inputs.shape == (n, horizon, 4)
    np.testing.assert_array_equal(np.asarray(traj.actions), np.ones((n, horizon), np.int32))
    assert np.all(alive[:, 0] == 1.0) and set(np.unique(alive)) <= {0.0, 1.0}
    assert np.all(np.diff(alive, axis=1) <= 0), "alive must be non-increasing"
    assert np.all(alive[:, -1] == 0.0), "every episode should have ended"
    lengths = alive.sum(axis=1)
    assert np.all((lengths > 3) & (lengths < 30))
    assert np.all(rewards[alive == 0.0] == 0.0)
    assert np.all(rewards[alive == 1.0] == 1.0)  # CartPole pays +1 for every step, the last one included
    np.testing.assert_array_equal(rewards.sum(axis=1), lengths)
    inputs = np.asarray(traj.inputs)
    for i in range(n):  # frozen at the terminal observation, which is outside the pole-angle / cart bounds
        end = int(lengths[i])
        np.testing.assert_array_equal(inputs[i, end:], np.broadcast_to(inputs[i, end], inputs[i, end:].shape))
        x, _, theta, _ = inputs[i, end]
        assert abs(x) > 2.4 or abs(theta) > 12 * 2 * np.pi / 360


def test_time_limit_ends_the_episode():
    """A horizon past the environment's time limit (Pendulum: 200 steps, never terminates) ends at it."""
    environment, policy, params = case("pendulum", "mlp-gaussian")
    horizon = OTHER_HORIZONS[("pendulum", "mlp-gaussian")]
    traj, _, _ = run_batch(environment, policy, params, jax.random.split(jax.random.key(2), N_EPISODES), horizon)
    alive, rewards = np.asarray(traj.alive), np.asarray(traj.rewards)
    expected = (np.arange(horizon) < 200).astype(np.float32)
    np.testing.assert_array_equal(alive, np.broadcast_to(expected, (N_EPISODES, horizon)))
    assert np.all(rewards[:, 200:] == 0.0) and np.all(rewards[:, :200] < 0.0)


def test_episodes_depend_only_on_their_key():
    """An episode depends only on (key, params): not on the other keys of the batch or their order, and
    different keys give different episodes. (That a shorter horizon gives a prefix follows from the key
    scheme, which the step-by-step replay above checks: step t's keys depend on t only.)"""
    environment, policy, params = case("pendulum", "linear-gaussian")
    horizon = MANUAL_HORIZONS[("pendulum", "linear-gaussian")]
    keys = jax.random.split(jax.random.key(7), N_EPISODES)
    batch, _, _ = run_batch(environment, policy, params, keys, horizon)
    rolled, _, _ = run_batch(environment, policy, params, jnp.roll(keys, 1, axis=0), horizon)
    for a, b in zip(rolled, batch):
        np.testing.assert_array_equal(np.asarray(a), np.roll(np.asarray(b), 1, axis=0))
    rewards = np.asarray(batch.rewards)
    assert len({tuple(r) for r in rewards}) == N_EPISODES


def test_rollout_does_not_differentiate_params():
    environment = make_environment("cartpole")
    policy = make_policy("linear-softmax", environment)
    params = perturbed(policy.init(jax.random.key(0), environment))
    grad = jax.grad(lambda p: jnp.sum(rollout(environment, policy, p, jax.random.key(2), 10).rewards))(params)
    assert all(np.all(np.asarray(g) == 0.0) for g in jax.tree.leaves(grad))

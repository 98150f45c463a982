r"""gymnax environments as fixed-horizon episodes: :class:`Environment`, :func:`rollout`, :class:`Trajectory`.

An episode is a fixed number H of steps (the ``horizon``) run by one ``jax.lax.scan``, so that thousands of
episodes vmap into one compiled program. Episodes that end early are handled by a done-mask rather than by
resetting (gymnax's ``env.step`` resets automatically and computes a reset at every step; this module calls
the raw transition ``env.step_env`` and ``env.reset_env`` instead):

    alive_0 = 1,    alive_{t+1} = alive_t (1 - done_t),
    r_t = 0 wherever alive_t = 0     (with ``jnp.where``, so a NaN produced after the end cannot leak),

and once an episode has ended its environment state is frozen at the terminal state (later transitions are
computed and discarded). ``done_t`` is the environment's own termination signal OR the time limit of the
gymnax environment (``state.time >= max_steps_in_episode``, gymnax's truncation), so a horizon longer than
:attr:`Environment.max_steps` cannot run an episode past its time limit. The return of an episode is
G = sum_t r_t (the rewards after the end being exactly zero), and an estimator must weight per-step scores
by ``alive`` (the actions sampled after the end are meaningless).

Keys. With ``key`` the episode key: the reset uses ``fold_in(key, 0)``; step t (0-based) samples its action
with ``fold_in(key, 2 t + 1)`` and passes ``fold_in(key, 2 t + 2)`` to ``env.step_env`` (:func:`step_keys`).
The numbers of an episode therefore depend only on (key, params), never on the horizon (a prefix of a longer
episode is the shorter episode) or on which other episodes ran beside it. (Random-number generation is most
of the cost of a CartPole step on a CPU; this scheme costs one threefry block per step for the key and
none for environments whose transition ignores its key, which XLA then removes.)

The supported environments (:data:`ENVIRONMENTS`): CartPole-v1 (2 actions, +1 per step including the step
that ends the episode, 500 steps), Pendulum-v1 (torque in [-2, 2], no termination, 200 steps),
MountainCarContinuous-v0 (force in [-1, 1], 999 steps) and Pong-misc (3 actions: stay, up, down; a 30 x 40 x
3 frame; +1 per step while the ball is in play, 1000 steps). Continuous actions are passed to the
environment unclipped: Pendulum clips the torque before computing its reward; MountainCarContinuous clips the
force but its action cost -0.1 a^2 uses the unclipped action (gymnax's behaviour).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from pgjax.errors import ConfigError
from pgjax.tree_util import vary_like

#: Short name -> gymnax id of the supported environments.
ENVIRONMENTS: dict[str, str] = {
    "cartpole": "CartPole-v1",
    "pendulum": "Pendulum-v1",
    "mountain-car-continuous": "MountainCarContinuous-v0",
    "pong": "Pong-misc",
}
_GYMNAX_IDS = frozenset(ENVIRONMENTS.values())


@functools.cache
def _gymnax(name: str) -> tuple[Any, Any]:
    """The gymnax environment object and its default EnvParams for the gymnax id ``name`` (made once)."""
    return gymnax.make(name)


@functools.cache
def _reset_shapes(name: str) -> tuple[Any, Any]:
    """Abstract (obs, state) of a reset, by ``jax.eval_shape`` (made once per name)."""
    env, params = _gymnax(name)
    return jax.eval_shape(lambda k: env.reset_env(k, params), jax.random.key(0))


@dataclasses.dataclass(frozen=True)
class Environment:
    """A gymnax environment with its default parameters, identified by its gymnax id (hashable, static).

    Attributes:
      name: the gymnax id, one of the values of :data:`ENVIRONMENTS` (e.g. ``"CartPole-v1"``).

    Everything else is a property read from gymnax (the gymnax objects are made once per name and cached at
    module level): ``env``, ``env_params``, ``discrete``, ``num_actions`` (discrete only, else 0),
    ``action_dim`` (continuous only, else 0), ``action_low`` / ``action_high`` (continuous only, else 0.0),
    ``obs_shape`` and ``max_steps``.
    """

    name: str

    def __post_init__(self):
        if self.name not in _GYMNAX_IDS:
            raise ConfigError("env", _unknown_message(self.name))

    @property
    def env(self):
        """The gymnax environment object."""
        return _gymnax(self.name)[0]

    @property
    def env_params(self):
        """The gymnax EnvParams (the environment's defaults)."""
        return _gymnax(self.name)[1]

    @property
    def action_space(self):
        """The gymnax action space (``spaces.Discrete`` or ``spaces.Box``)."""
        return self.env.action_space(self.env_params)

    @property
    def discrete(self) -> bool:
        """True for a finite action set (CartPole, Pong), False for a box of real actions."""
        return isinstance(self.action_space, spaces.Discrete)

    @property
    def num_actions(self) -> int:
        """Number of actions of a discrete environment (CartPole 2, Pong 3); 0 for a continuous one."""
        return int(self.action_space.n) if self.discrete else 0

    @property
    def action_dim(self) -> int:
        """Dimension of a continuous action (1 for Pendulum and MountainCarContinuous); 0 if discrete."""
        return 0 if self.discrete else int(np.prod(self.action_space.shape))

    @property
    def action_low(self) -> float:
        """Lower bound of a continuous action (the environment clips to it); 0.0 if discrete."""
        return 0.0 if self.discrete else float(np.min(self.action_space.low))

    @property
    def action_high(self) -> float:
        """Upper bound of a continuous action (the environment clips to it); 0.0 if discrete."""
        return 0.0 if self.discrete else float(np.max(self.action_space.high))

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """Shape of one observation, e.g. (4,) for CartPole, (30, 40, 3) for Pong."""
        return tuple(_reset_shapes(self.name)[0].shape)

    @property
    def max_steps(self) -> int:
        """The time limit of an episode (``env_params.max_steps_in_episode``)."""
        return int(self.env_params.max_steps_in_episode)


def _unknown_message(name: object) -> str:
    from pgjax.brax_envs import BRAX_ENVIRONMENTS

    short = ", ".join(ENVIRONMENTS)
    ids = ", ".join(ENVIRONMENTS.values())
    brax = ", ".join(BRAX_ENVIRONMENTS)
    return (
        f"unknown environment {name!r}; choose one of {short} (or the gymnax ids {ids}), "
        f"or with pgjax[brax] {brax} (optionally name:backend)"
    )


def make_environment(name: str) -> Environment:
    """The :class:`Environment` for a short name (``"cartpole"``) or a gymnax id (``"CartPole-v1"``), or the
    :class:`pgjax.brax_envs.BraxEnvironment` (same protocol) of a brax name (``"hopper"``, ``"hopper:spring"``;
    needs the ``brax`` extra).

    Raises:
      ConfigError("env", ...): for any other name, or a brax name without brax installed.
    """
    from pgjax.brax_envs import is_brax_name, make_brax_environment

    if isinstance(name, str) and name in ENVIRONMENTS:
        return Environment(ENVIRONMENTS[name])
    if isinstance(name, str) and name in _GYMNAX_IDS:
        return Environment(name)
    if is_brax_name(name):
        return make_brax_environment(name)
    raise ConfigError("env", _unknown_message(name))


class Trajectory(NamedTuple):
    """ONE episode of fixed horizon H, time-major (vmap adds a leading (n,) axis to every field).

    Attributes:
      inputs: (H, *input_shape) float32, x_t = policy.inputs(obs_t, obs_{t-1}) (obs_{-1} = obs_0): what the
        policy saw at step t.
      actions: (H,) int32 for a discrete environment, (H, action_dim) float32 for a continuous one (unclipped).
      rewards: (H,) float32, r_t; exactly 0 at the steps with alive[t] == 0.
      alive: (H,) float32, 1.0 if the episode had not ended before step t (alive[0] == 1), else 0.0.
    """

    inputs: jax.Array
    actions: jax.Array
    rewards: jax.Array
    alive: jax.Array


def step_keys(key: jax.Array, t) -> tuple[jax.Array, jax.Array]:
    """(action_key, env_key) of step t of the episode with key ``key``: fold_in(key, 2t + 1), fold_in(key, 2t + 2)."""
    return jax.random.fold_in(key, 2 * t + 1), jax.random.fold_in(key, 2 * t + 2)


def reset_key(key: jax.Array) -> jax.Array:
    """The key of the episode's reset: ``fold_in(key, 0)``."""
    return jax.random.fold_in(key, 0)


def rollout(environment: Environment, policy, params, key: jax.Array, horizon: int) -> Trajectory:
    """Runs one episode of ``horizon`` steps of ``policy`` in ``environment``; see the module docstring.

    reset: (obs_0, s_0) = env.reset_env(fold_in(key, 0)); then for t = 0 .. H-1, with
    (action_key, env_key) = (fold_in(key, 2t + 1), fold_in(key, 2t + 2)):

        x_t = policy.inputs(obs_t, obs_{t-1}),  a_t = policy.sample(params, action_key, x_t),
        (obs_{t+1}, s_{t+1}, r_t, done_t) = env.step_env(env_key, s_t, a_t)     (done_t also at the time limit),

    with the state (and observation) frozen once the episode has ended and r_t zeroed where alive_t = 0.

    Args:
      environment: an :class:`Environment` (static).
      policy: a policy of :mod:`pgjax.policies` (static; anything with ``inputs`` and ``sample``).
      params: the policy's parameters. Not differentiated: the rollout stops gradients to them (estimators
        differentiate ``policy.log_prob`` on the returned inputs and actions instead).
      key: the episode's PRNG key.
      horizon: H >= 1, the number of steps (a Python int).

    Returns:
      a :class:`Trajectory` with fields of leading size H. vmap over keys for a batch of episodes.
    """
    horizon = int(horizon)
    if horizon < 1:
        raise ConfigError("horizon", f"must be >= 1 (got {horizon})")
    env, env_params = environment.env, environment.env_params
    params = jax.lax.stop_gradient(params)
    obs0, state0 = env.reset_env(reset_key(key), env_params)
    # Give every leaf of the reset state the (strong) dtype that step_env returns, so the scan carry is stable
    # (some resets hold Python ints / bools, e.g. ``time=0``).
    _, step_state, _, _, _ = jax.eval_shape(
        lambda k, s: env.step_env(k, s, policy.sample(params, k, policy.inputs(obs0, obs0)), env_params),
        jax.random.key(0),
        state0,
    )
    state0 = jax.tree.map(lambda x, s: jnp.asarray(x).astype(s.dtype), state0, step_state)
    obs0 = jnp.asarray(obs0)
    max_steps = env_params.max_steps_in_episode

    def step(carry, t):
        state, obs, prev_obs, alive = carry
        action_key, env_key = step_keys(key, t)
        x = policy.inputs(obs, prev_obs)
        action = policy.sample(params, action_key, x)
        next_obs, next_state, reward, done, _ = env.step_env(env_key, state, action, env_params)
        done = jnp.logical_or(done, next_state.time >= max_steps)
        live = alive > 0
        reward = jnp.where(live, jnp.asarray(reward, jnp.float32).reshape(()), jnp.float32(0.0))
        next_state = jax.tree.map(lambda new, old: jnp.where(live, new, old).astype(old.dtype), next_state, state)
        next_obs = jnp.where(live, next_obs, obs).astype(obs.dtype)
        next_alive = jnp.where(jnp.logical_and(live, jnp.logical_not(done)), jnp.float32(1.0), jnp.float32(0.0))
        return (next_state, next_obs, obs, next_alive), Trajectory(x, action, reward, alive)

    # Inside jax.shard_map (the sweep engine) the carry must vary over devices like the params and keys.
    init = vary_like((state0, obs0, obs0, jnp.float32(1.0)), params, obs0, jax.random.key_data(key))
    _, trajectory = jax.lax.scan(step, init, jnp.arange(horizon, dtype=jnp.int32))
    return trajectory

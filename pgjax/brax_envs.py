r"""brax environments (Hopper, HalfCheetah, InvertedPendulum) behind the environment protocol of :mod:`pgjax.envs`.

The optional extra ``pip install 'pgjax[brax]'`` installs brax (0.14.2 is the version tested; its environments
work with jax 0.10, its training code does not and is not used). :class:`BraxEnvironment` has everything that
:func:`pgjax.envs.rollout`, :class:`pgjax.problems.environment.EnvironmentProblem`,
:func:`pgjax.policies.make_policy`, :mod:`pgjax.training` and the branching of
:mod:`pgjax.experiments.variance_decomposition` read from a gymnax :class:`pgjax.envs.Environment`:

- ``env``: an object with gymnax's raw transition, ``reset_env(key, env_params) -> (obs, state)`` and
  ``step_env(key, state, action, env_params) -> (obs, state, reward, done, info)``;
- ``env_params`` with ``max_steps_in_episode`` (the time limit), and a state with a ``time`` field (steps taken);
- ``name``, ``discrete`` (False), ``num_actions`` (0), ``action_dim``, ``action_low``, ``action_high``,
  ``obs_shape`` and ``max_steps``.

So every estimator, the sweep engine, many-seed training and the variance experiments run on brax unchanged.

The transition. The state is :class:`BraxState`: brax's own ``State`` (physics state, observation, reward,
done, metrics, info) and the step count t. brax's ``env.reset(key)`` and ``env.step(state, action)`` are
called raw, without brax's training wrappers (no automatic reset, no episode wrapper): the done-mask of
:func:`pgjax.envs.rollout` freezes an ended episode, and the time limit is gymnax's
``state.time >= max_steps_in_episode`` with ``max_steps_in_episode`` = 1000, the episode length of brax's
training defaults and of the Gym MuJoCo tasks. ``step_env`` ignores its key: these brax transitions are
deterministic (the randomness is in the reset, which gets ``fold_in(key, 0)`` as in :mod:`pgjax.envs`).

Actions are passed unclipped, as the gymnax adapter does: brax clips the control to the actuator's
``ctrlrange`` ([-1, 1] for these three) inside the physics, while the control cost of Hopper (0.001 |a|^2) and
HalfCheetah (0.1 |a|^2) uses the unclipped action; InvertedPendulum maps [-1, 1] affinely onto its actuator
range [-3, 3] (clipped there). Rewards (brax's definitions, after Gym's MuJoCo tasks, with dt the control step):

- Hopper: forward velocity + 1 (healthy) - 0.001 |a|^2; ends when unhealthy (z <= 0.7 or |angle| >= 0.2 or
  any state coordinate outside (-100, 100));
- HalfCheetah: forward velocity - 0.1 |a|^2; never ends before the time limit;
- InvertedPendulum: +1 per step; ends when the pole's angle exceeds 0.2 rad.

Backends (``backend``): brax's ``generalized`` (brax's own default: full rigid-body dynamics in generalised
coordinates), ``positional`` (position-based dynamics), ``spring`` (a cheaper approximation of contacts and
joints: a different, though well-defined, MDP) and ``mjx`` (MuJoCo's physics in JAX). The default here is
``positional`` (:data:`DEFAULT_BACKEND`): ``generalized`` runs in rollouts and training but not inside the
sweep engine's ``jax.shard_map``, where its constraint solver (jaxopt's projected gradient, whose unrolled loop
is a ``lax.cond`` returning a device-varying flag in one branch and the constant False in the other) fails with
jax 0.10: "TypeError: cond branches must have equal output types but they differ. ... The output of true_fun
at path [1] has type bool[]{V:seed} but the corresponding output of false_fun has type bool[]". On 2 CPU cores
(project machine, 256 Hopper episodes x 100 steps vmapped, random actions): generalized 4,700 steps/s,
positional 10,700, spring 34,900, mjx 1,100; the first compilation of such a program took 50 to 57 s with
every backend (up to 85 s on the shared machine), which is why brax is kept out of the default test run (the
``brax`` pytest marker).

Names (:data:`BRAX_ENVIRONMENTS`): ``hopper``, ``halfcheetah`` and ``inverted-pendulum``, optionally with a
backend after a colon (``hopper:spring``; default :data:`DEFAULT_BACKEND`); :func:`pgjax.envs.make_environment` accepts them.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pgjax.errors import ConfigError

#: Short name -> brax environment name.
BRAX_ENVIRONMENTS: dict[str, str] = {
    "hopper": "hopper",
    "halfcheetah": "halfcheetah",
    "inverted-pendulum": "inverted_pendulum",
}
#: brax's physics pipelines.
BACKENDS: tuple[str, ...] = ("generalized", "positional", "spring", "mjx")
#: The backend of a name without one (see the module docstring for why not brax's default, generalized).
DEFAULT_BACKEND = "positional"
#: The time limit of an episode: brax's training episode length and the Gym MuJoCo tasks' limit.
MAX_STEPS = 1000
MISSING = "brax is not installed: pip install 'pgjax[brax]'"


def is_brax_name(name: object) -> bool:
    """True if ``name`` is a brax environment name of :data:`BRAX_ENVIRONMENTS` (with or without ``:backend``)."""
    return isinstance(name, str) and name.split(":", 1)[0] in BRAX_ENVIRONMENTS


def _brax_envs():
    try:
        from brax import envs
    except ImportError:
        raise ConfigError("env", MISSING) from None
    return envs


@functools.cache
def _brax(name: str, backend: str) -> Any:
    """The brax environment object (made once per name and backend: loading the model takes about a second)."""
    return _brax_envs().get_environment(name, backend=backend)


class EnvParams(NamedTuple):
    """What the rollout reads from gymnax's EnvParams: the time limit."""

    max_steps_in_episode: int


class BraxState(NamedTuple):
    """brax's ``State`` (reward and done as float32 scalars) and the number of steps taken."""

    brax: Any
    time: jax.Array


def _normalise(state: Any) -> Any:
    """brax's state with reward and done as float32 arrays (InvertedPendulum returns the Python float 1.0)."""
    return state.replace(reward=jnp.asarray(state.reward, jnp.float32), done=jnp.asarray(state.done, jnp.float32))


@dataclasses.dataclass(frozen=True)
class GymnaxView:
    """gymnax's raw transition (``reset_env``, ``step_env``) on one brax environment (see the module docstring)."""

    name: str
    backend: str

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, BraxState]:
        """(obs_0, s_0) = brax ``env.reset(key)``, t = 0."""
        state = _normalise(_brax(self.name, self.backend).reset(key))
        return state.obs, BraxState(state, jnp.int32(0))

    def step_env(
        self, key: jax.Array, state: BraxState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, BraxState, jax.Array, jax.Array, dict]:
        """One brax ``env.step`` (deterministic: ``key`` is unused): (obs', s', r, done, {})."""
        del key
        # a fresh metrics dict: brax's Hopper and HalfCheetah update the one of the state they are given in place
        current = state.brax.replace(metrics=dict(state.brax.metrics))
        nxt = _normalise(_brax(self.name, self.backend).step(current, jnp.asarray(action, jnp.float32)))
        return nxt.obs, BraxState(nxt, state.time + 1), nxt.reward, nxt.done > 0, {}


@dataclasses.dataclass(frozen=True)
class BraxEnvironment:
    """A brax environment as a :class:`pgjax.envs.Environment` (hashable, static under ``jax.jit``).

    Attributes:
      brax_name: the brax name, one of the values of :data:`BRAX_ENVIRONMENTS` (e.g. ``"hopper"``).
      backend: the physics pipeline, one of :data:`BACKENDS`.
      max_steps: the time limit of an episode (default :data:`MAX_STEPS`).
    """

    brax_name: str
    backend: str = DEFAULT_BACKEND
    max_steps: int = MAX_STEPS

    def __post_init__(self):
        if self.brax_name not in BRAX_ENVIRONMENTS.values():
            raise ConfigError("env", _unknown_message(self.brax_name))
        if self.backend not in BACKENDS:
            raise ConfigError("env", f"unknown brax backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.max_steps < 1:
            raise ConfigError("env", f"max_steps must be >= 1 (got {self.max_steps})")
        _brax_envs()  # a clear error now rather than at the first rollout

    @property
    def name(self) -> str:
        """``brax-<name>-<backend>``, e.g. ``brax-hopper-generalized`` (in problem descriptions and messages)."""
        return f"brax-{self.brax_name}-{self.backend}"

    @property
    def brax_env(self) -> Any:
        """The brax environment object."""
        return _brax(self.brax_name, self.backend)

    @property
    def env(self) -> GymnaxView:
        """The gymnax-style transition (``reset_env``, ``step_env``)."""
        return GymnaxView(self.brax_name, self.backend)

    @property
    def env_params(self) -> EnvParams:
        return EnvParams(self.max_steps)

    discrete = False
    num_actions = 0
    action_low = -1.0
    action_high = 1.0

    @property
    def action_dim(self) -> int:
        """Hopper 3, HalfCheetah 6, InvertedPendulum 1."""
        return int(self.brax_env.action_size)

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """Hopper (11,), HalfCheetah (17,), InvertedPendulum (4,)."""
        return (int(self.brax_env.observation_size),)


def _unknown_message(name: object) -> str:
    return f"unknown brax environment {name!r}; choose one of {', '.join(BRAX_ENVIRONMENTS)} (optionally name:backend)"


def make_brax_environment(name: str) -> BraxEnvironment:
    """The :class:`BraxEnvironment` of ``"hopper"``, ``"hopper:spring"``, ... (see :data:`BRAX_ENVIRONMENTS`).

    Raises:
      ConfigError("env", ...): an unknown name or backend, or brax not installed.
    """
    if not is_brax_name(name):
        raise ConfigError("env", _unknown_message(name))
    short, _, backend = name.partition(":")
    return BraxEnvironment(BRAX_ENVIRONMENTS[short], backend or DEFAULT_BACKEND)


__all__ = [
    "BACKENDS",
    "BRAX_ENVIRONMENTS",
    "DEFAULT_BACKEND",
    "MAX_STEPS",
    "BraxEnvironment",
    "BraxState",
    "EnvParams",
    "GymnaxView",
    "is_brax_name",
    "make_brax_environment",
]

"""A gymnax environment with a policy, as a pgjax problem: gradient estimators on real environments.

:class:`EnvironmentProblem` has the interface that the estimators of :mod:`pgjax.estimators` and
:mod:`pgjax.estimators.trajectory` use (``sample_noise``, ``sample``, ``log_prob``, ``reward``,
``step_log_probs``, ``step_rewards``, ``discounts``, ``rewards_to_go``), so REINFORCE, leave-one-out and
reward-to-go run on it unchanged, and :func:`pgjax.engine.run_sweep` shards, chunks and resumes sweeps of it
like any other problem. What it lacks is an exact objective: an environment's J(theta) has no closed form,
so biases are measured against a large-batch reference gradient (:func:`reference_gradient`) whose own
standard error is reported.

An outcome is a batch of n episodes of a fixed horizon H, time-major (:class:`EpisodeBatch`), with the
done-mask of :func:`pgjax.envs.rollout`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.errors import ConfigError
from pgjax.problems.base import Params
from pgjax.returns import discounts as discount_factors
from pgjax.returns import returns_to_go, time_major


class EpisodeBatch(NamedTuple):
    """n episodes, time-major: inputs (H, n, D), actions (H, n[, A]), rewards (H, n), alive (H, n)."""

    inputs: jax.Array
    actions: jax.Array
    rewards: jax.Array
    alive: jax.Array

    @property
    def states(self) -> jax.Array:
        """The policy inputs, under the name the trajectory estimators use for a batch's states."""
        return self.inputs


class FrozenTree:
    """A pytree of arrays made hashable (by the SHA-256 of its bytes), so that it can live in a static
    problem: e.g. the critic parameters of a policy snapshot. The arrays become constants of the compiled
    program."""

    def __init__(self, tree: Any):
        leaves, self.treedef = jax.tree.flatten(tree)
        self.leaves = tuple(np.asarray(leaf) for leaf in leaves)
        digest = hashlib.sha256(repr(self.treedef).encode())
        for leaf in self.leaves:
            digest.update(str((leaf.dtype, leaf.shape)).encode())
            digest.update(np.ascontiguousarray(leaf).tobytes())
        self.digest = digest.hexdigest()

    @property
    def tree(self) -> Any:
        return jax.tree.unflatten(self.treedef, [jnp.asarray(leaf) for leaf in self.leaves])

    def __hash__(self) -> int:
        return hash(self.digest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrozenTree) and other.digest == self.digest

    def __repr__(self) -> str:
        return f"FrozenTree(sha256={self.digest[:16]})"


def critic_inputs(inputs: jax.Array, horizon: int) -> jax.Array:
    """The critic's input: the policy's input and the fraction of the horizon left, 1 - t/H (the value of
    a fixed-horizon task depends on the time left). ``inputs`` time-major (H, ..., D) -> (H, ..., D + 1)."""
    H = inputs.shape[0]
    left = 1.0 - jnp.arange(H, dtype=inputs.dtype) / horizon
    left = jnp.broadcast_to(left.reshape((H,) + (1,) * (inputs.ndim - 1)), inputs.shape[:-1] + (1,))
    return jnp.concatenate([inputs, left], axis=-1)


@dataclasses.dataclass(frozen=True)
class EnvironmentProblem:
    """Episodes of ``environment`` under ``policy`` for a fixed horizon; J = E[sum_t gamma^t r_t].

    Attributes:
      environment: a :class:`pgjax.envs.Environment`.
      policy: a policy of :mod:`pgjax.policies`; params are its flax parameters.
      horizon: H, steps per episode (the episode may terminate earlier: the done-mask zeroes the rest).
      discount: gamma in (0, 1].
      critic: a :class:`pgjax.policies.Critic` and ``critic_params`` (a :class:`FrozenTree`), needed by the
        value-baseline and GAE estimators; its output is multiplied by ``value_scale``.
    """

    environment: Any
    policy: Any
    horizon: int
    discount: float = 1.0
    critic: Any = None
    critic_params: FrozenTree | None = None
    value_scale: float = 1.0
    name: str = "environment"

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ConfigError("horizon", f"must be >= 1 (got {self.horizon})")
        if not (0.0 < self.discount <= 1.0):
            raise ConfigError("discount", f"must be in (0, 1] (got {self.discount})")

    @property
    def sample_cost(self) -> int:
        """One sample is an episode: H steps (:class:`pgjax.problems.base.SampleCost`)."""
        return self.horizon

    def init_params(self, key: jax.Array | None = None) -> Params:
        return self.policy.init(jax.random.key(0) if key is None else key, self.environment)

    def sample_noise(self, key: jax.Array, n: int) -> jax.Array:
        """One key per episode, shape (n,)."""
        return jax.random.split(key, n)

    def sample(self, params: Params, keys: jax.Array) -> EpisodeBatch:
        """n episodes (not differentiable in params: the environment is not)."""
        from pgjax.envs import rollout

        params = jax.lax.stop_gradient(params)
        traj = jax.vmap(lambda k: rollout(self.environment, self.policy, params, k, self.horizon))(keys)
        return EpisodeBatch(*(time_major(x) for x in (traj.inputs, traj.actions, traj.rewards, traj.alive)))

    def step_log_probs(self, params: Params, batch: EpisodeBatch) -> jax.Array:
        """alive_t log pi(a_t | x_t), shape (H, n)."""
        logp = jax.vmap(jax.vmap(lambda x, a: self.policy.log_prob(params, x, a)))(batch.inputs, batch.actions)
        return jnp.where(batch.alive > 0, logp, 0.0)

    def log_prob(self, params: Params, batch: EpisodeBatch) -> jax.Array:
        """log-probability of each episode's actions (the environment's own randomness cancels in the score),
        shape (n,)."""
        return jnp.sum(self.step_log_probs(params, batch), axis=0)

    def discounts(self, dtype: jnp.dtype = jnp.float32) -> jax.Array:
        return discount_factors(self.horizon, self.discount, dtype)

    def step_rewards(self, batch: EpisodeBatch) -> jax.Array:
        return batch.rewards

    def rewards_to_go(self, batch: EpisodeBatch) -> jax.Array:
        return returns_to_go(batch.rewards, self.discount)

    def reward(self, batch: EpisodeBatch) -> jax.Array:
        """The discounted return sum_t gamma^t r_t of each episode, shape (n,)."""
        return jnp.sum(batch.rewards * self.discounts(batch.rewards.dtype)[:, None], axis=0)

    def values(self, batch: EpisodeBatch) -> jax.Array:
        """The critic's V(x_t), shape (H, n)."""
        if self.critic is None or self.critic_params is None:
            raise ConfigError("estimators", "this estimator needs a critic, and the problem has none")
        critic_params = self.critic_params.tree
        x = critic_inputs(batch.inputs, self.horizon)
        v = jax.vmap(jax.vmap(lambda z: self.critic.value(critic_params, z)))(x)
        return self.value_scale * v

    def objective(self, params: Params) -> jax.Array:
        raise ConfigError("problem", "an environment has no exact objective; use a reference gradient")


__all__ = ["EnvironmentProblem", "EpisodeBatch", "FrozenTree", "critic_inputs"]

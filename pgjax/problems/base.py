"""The interface every pgjax problem implements.

A problem is a frozen, hashable dataclass (so it can be a static argument of ``jax.jit``) that knows

- how to draw its parameter-free randomness ``noise = problem.sample_noise(key, n)`` (leading axis n);
- how to turn that noise into outcomes, differentiably in the parameters (the reparameterisation used by
  the pathwise estimator): ``outcome = problem.sample(params, noise)``;
- the log-density of an outcome under the policy, ``problem.log_prob(params, outcome) -> (n,)``, whose
  gradient is the score psi = grad log pi;
- the reward of an outcome, ``problem.reward(outcome) -> (n,)``;
- its EXACT objective ``problem.objective(params) = J(params) = E[r]``, computed without sampling, so that
  the true gradient is ``jax.grad(problem.objective)``.

Because all estimators draw their randomness through ``sample_noise`` from the same key, estimators called
with the same key see the same samples (common random numbers), which makes paired comparisons sharp.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax

Params = Any
Noise = Any
Outcome = Any


@runtime_checkable
class Problem(Protocol):
    name: str

    def init_params(self) -> Params: ...

    def sample_noise(self, key: jax.Array, n: int) -> Noise: ...

    def sample(self, params: Params, noise: Noise) -> Outcome: ...

    def log_prob(self, params: Params, outcome: Outcome) -> jax.Array: ...

    def reward(self, outcome: Outcome) -> jax.Array: ...

    def objective(self, params: Params) -> jax.Array: ...


def exact_gradient(problem: Problem, params: Params) -> Params:
    """grad J(params) in float64: ``jax.grad(problem.objective)`` evaluated with 64-bit floats enabled."""
    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda x: jax.numpy.asarray(x, dtype=jax.numpy.float64), params)
        return jax.tree.map(lambda x: jax.device_get(x), jax.grad(problem.objective)(params64))

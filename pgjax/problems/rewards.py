"""Rewards r(a) of a scalar action, with their Gaussian expectations.

A reward is a small frozen dataclass: ``__call__`` maps actions (any shape) to rewards elementwise, and
``gaussian_expectation(mean, var)`` returns E_{a ~ N(mean, var)}[r(a)]. Give a closed form where one exists;
the default is Gauss-Hermite quadrature, which is what makes a new reward a few lines::

    @dataclasses.dataclass(frozen=True)
    class Cubic(Reward):
        name = "cubic"
        def __call__(self, a):
            return a**3

    REWARDS["cubic"] = Cubic

Rewards are hashable by value, so a problem that holds one can be a static argument under ``jax.jit``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from pgjax.errors import ConfigError
from pgjax.problems.quadrature import gaussian_expectation


@dataclasses.dataclass(frozen=True)
class Reward:
    """Base class: a reward of a scalar action with a (default: quadrature) Gaussian expectation."""

    name: ClassVar[str] = "reward"
    #: Whether ``gaussian_expectation`` is a closed form (True) or quadrature (False).
    closed_form: ClassVar[bool] = False

    def __call__(self, action: ArrayLike) -> jax.Array:
        raise NotImplementedError

    def gaussian_expectation(self, mean: ArrayLike, var: ArrayLike, num_nodes: int = 64) -> jax.Array:
        """E_{a ~ N(mean, var)}[r(a)] (scalar)."""
        return gaussian_expectation(self, mean, var, num_nodes)

    def describe(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class Quadratic(Reward):
    """r(a) = -(a - target)^2.  E[r] = -((mean - target)^2 + var)."""

    target: float = 1.0
    name: ClassVar[str] = "quadratic"
    closed_form: ClassVar[bool] = True

    def __call__(self, action: ArrayLike) -> jax.Array:
        return -((action - self.target) ** 2)

    def gaussian_expectation(self, mean: ArrayLike, var: ArrayLike, num_nodes: int = 64) -> jax.Array:
        return -((mean - self.target) ** 2 + var)

    def describe(self) -> str:
        return f"r(a) = -(a - {self.target:g})^2"


@dataclasses.dataclass(frozen=True)
class Linear(Reward):
    """r(a) = a.  E[r] = mean."""

    name: ClassVar[str] = "linear"
    closed_form: ClassVar[bool] = True

    def __call__(self, action: ArrayLike) -> jax.Array:
        return action

    def gaussian_expectation(self, mean: ArrayLike, var: ArrayLike, num_nodes: int = 64) -> jax.Array:
        return mean + 0.0 * var

    def describe(self) -> str:
        return "r(a) = a"


@dataclasses.dataclass(frozen=True)
class GaussianBump(Reward):
    """r(a) = exp(-a^2).  E[r] = exp(-mean^2 / (1 + 2 var)) / sqrt(1 + 2 var)."""

    name: ClassVar[str] = "gaussian_bump"
    closed_form: ClassVar[bool] = True

    def __call__(self, action: ArrayLike) -> jax.Array:
        return jnp.exp(-(action**2))

    def gaussian_expectation(self, mean: ArrayLike, var: ArrayLike, num_nodes: int = 64) -> jax.Array:
        scale = 1.0 + 2.0 * var
        return jnp.exp(-(mean**2) / scale) / jnp.sqrt(scale)

    def describe(self) -> str:
        return "r(a) = exp(-a^2)"


#: Reward classes by name. Constructors take keyword options (``target`` for the quadratic).
REWARDS: dict[str, type[Reward]] = {
    "quadratic": Quadratic,
    "linear": Linear,
    "gaussian_bump": GaussianBump,
}


def make_reward(name: str, *, target: float = 1.0) -> Reward:
    """Builds the reward called ``name``; ``target`` is used by rewards that have one."""
    if name not in REWARDS:
        raise ConfigError("reward", f"unknown reward {name!r}; choose one of {', '.join(REWARDS)}")
    cls = REWARDS[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(target=target) if "target" in fields else cls()

r"""Policy-gradient learning signals for batches of episodes from real environments.

The same estimators as :mod:`pgjax.estimators.trajectory` (which has exact moments on LQR), written for
what an environment gives: n episodes of a fixed horizon H with a done-mask. Time-major arrays, as in rlax:
rewards ``r`` (H, n), already zero after termination; ``alive`` (H, n), 1 while the episode had not
terminated before step t; critic values ``v`` (H, n) of the inputs the policy saw.

Every estimator is the gradient of the surrogate

    L(theta) = (1/n) sum_i sum_t alive_it w_it log pi_theta(a_it | x_it),

with the weights w (the "learning signal") held constant (``stop_gradient``): one backward pass, no
per-sample score arrays. With the discounted objective J = E[sum_t gamma^t r_t] and G_t = sum_{s>=t}
gamma^{s-t} r_s (policy gradient theorem; Sutton et al. 2000; Williams 1992):

========================  ==================================================  =============================
name                      w_it                                                 unbiased for grad J?
========================  ==================================================  =============================
``reinforce``             G_i0 (the whole discounted return)                   yes (Williams 1992)
``reward_to_go``          gamma^t G_it                                          yes (GPOMDP; Baxter & Bartlett 2001)
``batch_mean_baseline``   gamma^t (G_it - mean_j G_jt)                          no: bias -grad J / n
``leave_one_out``         gamma^t (G_it - mean_{j != i} G_jt)                   yes (RLOO; Kool et al. 2019)
``value_baseline``        gamma^t (G_it - V(x_it))                              yes, for a critic that does not
                                                                                depend on this batch
``gae``                   gamma^t A_it, A_t = sum_l (gamma lam)^l delta_{t+l}   only if V is exact
                          delta_t = r_t + gamma alive_{t+1} V(x_{t+1}) - V(x_t)  (Schulman et al. 2016)
``normalised_return``     (gamma^t G_it - mean) / std over the batch's          no (Karpathy's "Pong from
                          alive steps                                           Pixels" recipe)
========================  ==================================================  =============================

The baselines of ``batch_mean_baseline`` and ``leave_one_out`` are per time step (the mean over the batch of
G_jt, a dead episode counting as 0), the form used with reward-to-go in practice. With ``discount = 1`` the
gamma^t factors are 1 and J is the expected undiscounted return of the H-step episode, which is what a
learning curve reports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from pgjax.errors import ConfigError
from pgjax.estimators.base import Estimator
from pgjax.problems.base import EpisodeBatches, Params
from pgjax.returns import discounts, gae_advantages, returns_to_go


class SignalInputs(NamedTuple):
    """What a learning signal is computed from, time-major (H, n): the batch's rewards r and ``alive`` mask, the
    critic's values V (None for a signal without a critic), the discounts gamma^t (H, 1), the returns-to-go
    G_t, and the scalars gamma and lambda."""

    rewards: jax.Array
    alive: jax.Array
    values: jax.Array | None
    disc: jax.Array
    G: jax.Array
    discount: float
    lam: float


def _reinforce(x: SignalInputs) -> jax.Array:
    """w_t = G_0, the whole discounted return (Williams 1992)."""
    return jnp.broadcast_to(x.G[:1], x.G.shape)


def _reward_to_go(x: SignalInputs) -> jax.Array:
    """w_t = gamma^t G_t (GPOMDP; Baxter & Bartlett 2001)."""
    return x.disc * x.G


def _batch_mean_baseline(x: SignalInputs) -> jax.Array:
    """w_t = gamma^t (G_t - mean_j G_jt): biased, -grad J / n."""
    return x.disc * (x.G - jnp.mean(x.G, axis=1, keepdims=True))


def _leave_one_out(x: SignalInputs) -> jax.Array:
    """w_t = gamma^t (G_t - mean_{j != i} G_jt) (RLOO; Kool et al. 2019); needs n >= 2."""
    n = x.G.shape[1]
    if n < 2:
        raise ValueError("leave-one-out needs n >= 2 episodes")
    return x.disc * (x.G - (jnp.sum(x.G, axis=1, keepdims=True) - x.G) / (n - 1))


def _value_baseline(x: SignalInputs) -> jax.Array:
    """w_t = gamma^t (G_t - V(x_t))."""
    return x.disc * (x.G - x.values)


def _gae(x: SignalInputs) -> jax.Array:
    """w_t = gamma^t A_t, A_t = sum_l (gamma lam)^l delta_{t+l} (Schulman et al. 2016)."""
    return x.disc * gae_advantages(x.rewards, x.alive, x.values, x.discount, x.lam)


def _normalised_return(x: SignalInputs) -> jax.Array:
    """w_t = (gamma^t G_t - mean) / std over the batch's alive steps (Karpathy's "Pong from Pixels")."""
    g = x.disc * x.G
    count = jnp.maximum(jnp.sum(x.alive), 1.0)
    mean = jnp.sum(g * x.alive) / count
    std = jnp.sqrt(jnp.sum(((g - mean) * x.alive) ** 2) / count)
    return (g - mean) / (std + 1e-8)


#: Each learning signal's weights (see the module docstring), by name, in the order experiments list them. A
#: new signal is one function here and its entry (and its style in :mod:`pgjax.styles`).
SIGNAL_WEIGHTS: dict[str, Callable[[SignalInputs], jax.Array]] = {
    "reinforce": _reinforce,
    "reward_to_go": _reward_to_go,
    "batch_mean_baseline": _batch_mean_baseline,
    "leave_one_out": _leave_one_out,
    "value_baseline": _value_baseline,
    "gae": _gae,
    "normalised_return": _normalised_return,
}
#: Learning signals by name, in the order experiments list them.
SIGNALS = tuple(SIGNAL_WEIGHTS)
#: Signals that need a critic V.
CRITIC_SIGNALS = ("value_baseline", "gae")
#: Signals whose estimate is unbiased for grad J (gae only with an exact critic, so it is not listed).
UNBIASED_SIGNALS = ("reinforce", "reward_to_go", "leave_one_out", "value_baseline")


def check_signal(name: str, field: str = "estimators") -> None:
    """ConfigError naming ``field`` unless ``name`` is a known learning signal."""
    if name not in SIGNALS:
        raise ConfigError(field, f"unknown estimator {name!r}; choose from {', '.join(SIGNALS)}")


def learning_signal(
    name: str,
    rewards: jax.Array,
    alive: jax.Array,
    values: jax.Array | None = None,
    *,
    discount: float = 1.0,
    lam: float = 0.95,
) -> jax.Array:
    """The weights w (H, n) of the estimator ``name`` (see the module docstring), zero at dead steps."""
    check_signal(name)
    H = rewards.shape[0]
    disc = discounts(H, discount, rewards.dtype)[:, None]
    G = returns_to_go(rewards, discount)
    if name in CRITIC_SIGNALS and values is None:
        raise ValueError(f"the {name} estimator needs critic values")
    w = SIGNAL_WEIGHTS[name](SignalInputs(rewards, alive, values, disc, G, discount, lam))
    return w * alive


def surrogate_gradient(
    log_prob: Callable[[Params, jax.Array, jax.Array], jax.Array],
    params: Params,
    inputs: jax.Array,
    actions: jax.Array,
    weights: jax.Array,
) -> Params:
    """grad_theta (1/n) sum_it w_it log pi_theta(a_it | x_it) for time-major inputs (H, n, ...), actions
    (H, n, ...) and weights (H, n) (zero at dead steps); ``log_prob(params, x, a)`` is per step."""
    weights = jax.lax.stop_gradient(weights)
    n = weights.shape[1]

    def surrogate(p: Params) -> jax.Array:
        logp = jax.vmap(jax.vmap(lambda x, a: log_prob(p, x, a)))(inputs, actions)
        return jnp.sum(weights * logp) / n

    return jax.grad(surrogate)(params)


@dataclasses.dataclass(frozen=True)
class Episodic(Estimator):
    """The estimator ``signal`` (see :data:`SIGNALS`) on an
    :class:`~pgjax.problems.environment.EnvironmentProblem`, with the uniform signature
    ``(key, params, problem, n) -> gradient``: n episodes drawn through ``problem.sample_noise(key, n)``
    (common random numbers with every estimator given the same key), the learning signal, one backward pass.
    Training (:mod:`pgjax.training`) computes its updates with the same two functions."""

    signal: str = "reinforce"
    lam: float = 0.95
    requires: ClassVar[tuple[type, ...]] = (EpisodeBatches,)

    def __post_init__(self) -> None:
        check_signal(self.signal)
        if not (0.0 <= self.lam <= 1.0):
            raise ConfigError("lam", f"must be in [0, 1] (got {self.lam})")

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.signal

    @property
    def unbiased(self) -> bool:  # type: ignore[override]
        return self.signal in UNBIASED_SIGNALS

    def __call__(self, key: jax.Array, params: Params, problem: EpisodeBatches, n: int) -> Params:
        batch = problem.sample(params, problem.sample_noise(key, n))
        return _gradient(self.signal, self.lam, params, problem, batch)


@dataclasses.dataclass(frozen=True)
class EpisodicGrid(Estimator):
    """Several learning signals from the SAME n episodes: a tuple of gradients, one per signal (each as
    :class:`Episodic` would compute it from the same key), for one rollout instead of one per estimator.
    Run it under a tuple key of one name per signal: :func:`pgjax.engine.run_sweep` splits its columns."""

    signals: tuple[str, ...]
    lam: float = 0.95
    name: ClassVar[str] = "episodic_grid"
    #: Its output is a tuple of gradients, one per member.
    params_shaped: ClassVar[bool] = False
    requires: ClassVar[tuple[type, ...]] = (EpisodeBatches,)

    def __post_init__(self) -> None:
        for signal in self.signals:
            Episodic(signal, self.lam)  # validates

    def __call__(self, key: jax.Array, params: Params, problem: EpisodeBatches, n: int) -> tuple[Params, ...]:
        batch = problem.sample(params, problem.sample_noise(key, n))
        return tuple(_gradient(signal, self.lam, params, problem, batch) for signal in self.signals)


def _gradient(signal: str, lam: float, params: Params, problem: EpisodeBatches, batch: Any) -> Params:
    values = problem.values(batch) if signal in CRITIC_SIGNALS else None
    weights = learning_signal(signal, batch.rewards, batch.alive, values, discount=problem.discount, lam=lam)
    return surrogate_gradient(problem.policy.log_prob, params, batch.inputs, batch.actions, weights)


__all__ = [
    "Episodic",
    "EpisodicGrid",
    "CRITIC_SIGNALS",
    "SIGNALS",
    "SIGNAL_WEIGHTS",
    "SignalInputs",
    "UNBIASED_SIGNALS",
    "check_signal",
    "learning_signal",
    "surrogate_gradient",
]

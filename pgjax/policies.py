r"""Policies for the gymnax environments: categorical (softmax) and Gaussian, linear or MLP, and a critic.

Every policy is a frozen (hashable) dataclass that wraps a flax linen module and follows one protocol,
:class:`Policy`: ``init(key, environment) -> params`` (a plain flax variables dict ``{"params": ...}`` of
float32 arrays), ``inputs(obs, prev_obs) -> x``, ``sample(params, key, x) -> action``,
``log_prob(params, x, action) -> log pi(action | x)`` (differentiable in params) and ``entropy(params, x)``.
``sample``, ``log_prob`` and ``entropy`` take one input vector x (input_dim,) and also accept leading batch
axes (..., input_dim), returning (...)-shaped results.

The policies (:data:`POLICIES`, built by :func:`make_policy`):

- ``linear-softmax``: pi(a | x) = softmax(W x + b)_a, W and b initialised to zero (the uniform policy).
- ``mlp-softmax``: logits = MLP(x), tanh hidden layers (``hidden``), LeCun-normal hidden weights, an output
  layer with weights of standard deviation 0.01 / sqrt(fan_in) (a near-uniform start).
- ``linear-gaussian``: a ~ N(mu(x), diag(sigma^2)) with mu(x) = W x + b (zero init) and log sigma either a
  free vector initialised to ``init_log_sigma`` (state-independent) or, with ``state_dependent_sigma``, a
  second linear head with zero weights and bias ``init_log_sigma``.
- ``mlp-gaussian``: the same with mu(x) (and the log sigma head) on top of a tanh MLP.
- ``pong-mlp``: the policy of Karpathy's "Deep Reinforcement Learning: Pong from Pixels" (2016): the input is
  the frame difference obs_t - obs_{t-1} (zero at t = 0, as in his code), flattened; one hidden layer of 200
  ReLU units; no biases; weights N(0, 1 / fan_in) (his ``randn(H, D) / sqrt(D)``). Karpathy's Atari Pong had
  2 actions (up / down) and one sigmoid output; gymnax's Pong-misc has 3 (stay, up, down), so the output is
  3 logits and a softmax.

Gaussian actions are sampled unbounded from N(mu, sigma^2); the environment clips them to its action box
(see :mod:`pgjax.envs`), and log_prob is the density of the unclipped action, so the score-function
gradient is that of the unclipped Gaussian policy.

Discrete sampling uses one uniform per action, by inverting the CDF: a = #{k < K - 1 : F_k <= u} with
F_k = p_0 + ... + p_k and u ~ U[0, 1), so P(a = k) = p_k exactly up to float rounding (cheaper than the
Gumbel-max trick, which draws K uniforms).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import flax.linen as nn
import jax
import jax.numpy as jnp

from pgjax.errors import ConfigError

POLICIES = ("linear-softmax", "mlp-softmax", "linear-gaussian", "mlp-gaussian", "pong-mlp")

_LOG_2PI = math.log(2.0 * math.pi)
_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


@runtime_checkable
class Policy(Protocol):
    """The protocol of every policy (a frozen, hashable dataclass, static under jit)."""

    name: str

    def init(self, key: jax.Array, environment) -> Any:
        """Initial parameters: a flax variables dict ``{"params": ...}`` of float32 arrays."""

    def inputs(self, obs: jax.Array, prev_obs: jax.Array) -> jax.Array:
        """The policy's input vector x (input_dim,) float32 from the current and previous observations."""

    def sample(self, params: Any, key: jax.Array, x: jax.Array) -> jax.Array:
        """One action: an int32 scalar (discrete) or (action_dim,) float32 (continuous)."""

    def log_prob(self, params: Any, x: jax.Array, action: jax.Array) -> jax.Array:
        """log pi(action | x), a float32 scalar, differentiable in ``params``."""

    def entropy(self, params: Any, x: jax.Array) -> jax.Array:
        """The entropy of pi(. | x), a float32 scalar."""


# ------------------------------------------------------------------------------------------- flax modules
class MLP(nn.Module):
    """Dense layers of widths ``hidden`` with ``activation``, then a linear output layer of ``out`` units.

    With ``hidden = ()`` it is one linear layer. ``out_scale`` scales the output layer's initial weights
    (0 gives zero weights); ``out_bias`` is the initial output bias.
    """

    hidden: tuple[int, ...]
    out: int
    activation: str = "tanh"
    use_bias: bool = True
    hidden_init: str = "lecun_normal"  # or "normal": N(0, 1 / fan_in), untruncated (Karpathy's)
    out_scale: float = 1.0
    out_bias: float = 0.0

    @nn.compact
    def __call__(self, x):
        act = _ACTIVATIONS[self.activation]
        if self.hidden_init == "normal":
            kernel_init = nn.initializers.variance_scaling(1.0, "fan_in", "normal")
        else:
            kernel_init = nn.initializers.lecun_normal()
        for width in self.hidden:
            x = act(nn.Dense(width, use_bias=self.use_bias, kernel_init=kernel_init)(x))
        return _output_layer(self.out, self.out_scale, self.out_bias, self.use_bias, self.hidden_init)(x)


def _output_layer(out: int, scale: float, bias: float, use_bias: bool, hidden_init: str, name=None) -> nn.Dense:
    if scale == 0.0:
        kernel_init = nn.initializers.zeros_init()
    else:
        distribution = "normal" if hidden_init == "normal" else "truncated_normal"
        kernel_init = nn.initializers.variance_scaling(scale**2, "fan_in", distribution)
    return nn.Dense(
        out, use_bias=use_bias, kernel_init=kernel_init, bias_init=nn.initializers.constant(bias), name=name
    )


class GaussianHead(nn.Module):
    """(mean, log_sigma) of a diagonal Gaussian: mean from an MLP (or a linear map), log sigma a free vector
    or a second linear head on the last hidden layer."""

    hidden: tuple[int, ...]
    action_dim: int
    state_dependent_sigma: bool
    init_log_sigma: float
    out_scale: float

    @nn.compact
    def __call__(self, x):
        h = x
        for width in self.hidden:
            h = nn.tanh(nn.Dense(width)(h))
        mean = _output_layer(self.action_dim, self.out_scale, 0.0, True, "lecun_normal", name="mean")(h)
        if self.state_dependent_sigma:
            log_sigma = _output_layer(
                self.action_dim, 0.0, self.init_log_sigma, True, "lecun_normal", name="log_sigma_head"
            )(h)
        else:
            log_sigma = self.param(
                "log_sigma", nn.initializers.constant(self.init_log_sigma), (self.action_dim,), jnp.float32
            )
            log_sigma = jnp.broadcast_to(log_sigma, mean.shape)
        return mean, log_sigma


def _input_dim(policy, environment) -> int:
    obs = jnp.zeros(environment.obs_shape, jnp.float32)
    return int(jax.eval_shape(policy.inputs, obs, obs).shape[-1])


def _as_float32(params):
    return jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), params)


# ----------------------------------------------------------------------------------------------- policies
@dataclasses.dataclass(frozen=True)
class CategoricalPolicy:
    """pi(a | x) = softmax(logits(x))_a over ``num_actions`` actions; logits from :class:`MLP`.

    Attributes:
      name: the policy's name in :data:`POLICIES`.
      num_actions: K.
      hidden: widths of the hidden layers (``()``: linear logits).
      activation: ``"tanh"`` or ``"relu"``.
      frame_difference: inputs x_t = (obs_t - obs_{t-1}).ravel() instead of obs_t.ravel().
      use_bias: biases in every layer.
      hidden_init: ``"lecun_normal"`` (truncated) or ``"normal"`` (untruncated N(0, 1 / fan_in)).
      out_scale: the output weights' standard deviation times sqrt(fan_in); 0 for zero weights.
    """

    name: str
    num_actions: int
    hidden: tuple[int, ...] = ()
    activation: str = "tanh"
    frame_difference: bool = False
    use_bias: bool = True
    hidden_init: str = "lecun_normal"
    out_scale: float = 0.0

    discrete = True

    @property
    def module(self) -> MLP:
        """The flax module mapping x (..., input_dim) to logits (..., num_actions)."""
        return MLP(
            hidden=self.hidden,
            out=self.num_actions,
            activation=self.activation,
            use_bias=self.use_bias,
            hidden_init=self.hidden_init,
            out_scale=self.out_scale,
        )

    def init(self, key: jax.Array, environment) -> Any:
        """Parameters ``{"params": ...}`` for inputs of ``environment``'s observations, float32."""
        x = jnp.zeros((_input_dim(self, environment),), jnp.float32)
        return _as_float32(self.module.init(key, x))

    def inputs(self, obs: jax.Array, prev_obs: jax.Array) -> jax.Array:
        """x = obs.ravel() (float32), or (obs - prev_obs).ravel() with ``frame_difference``."""
        obs = jnp.asarray(obs, jnp.float32)
        if self.frame_difference:
            obs = obs - jnp.asarray(prev_obs, jnp.float32)
        return obs.ravel()

    def logits(self, params: Any, x: jax.Array) -> jax.Array:
        """Logits (..., num_actions) for inputs x (..., input_dim)."""
        return self.module.apply(params, x)

    def sample(self, params: Any, key: jax.Array, x: jax.Array) -> jax.Array:
        """a ~ pi(. | x): int32 of shape x.shape[:-1] (a scalar for one input vector), by CDF inversion."""
        probs = jax.nn.softmax(self.logits(params, x), axis=-1)
        u = jax.random.uniform(key, probs.shape[:-1] + (1,), jnp.float32)
        cdf = jnp.cumsum(probs[..., :-1], axis=-1)
        return jnp.sum(cdf <= u, axis=-1, dtype=jnp.int32)

    def log_prob(self, params: Any, x: jax.Array, action: jax.Array) -> jax.Array:
        """log pi(a | x) = logits_a - logsumexp(logits), shape x.shape[:-1]."""
        log_p = jax.nn.log_softmax(self.logits(params, x), axis=-1)
        action = jnp.asarray(action, jnp.int32)
        return jnp.take_along_axis(log_p, action[..., None], axis=-1)[..., 0]

    def entropy(self, params: Any, x: jax.Array) -> jax.Array:
        """H = -sum_a pi(a | x) log pi(a | x), shape x.shape[:-1]."""
        log_p = jax.nn.log_softmax(self.logits(params, x), axis=-1)
        return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)


@dataclasses.dataclass(frozen=True)
class GaussianPolicy:
    """a ~ N(mu(x), diag(sigma(x)^2)), unbounded (the environment clips); see :class:`GaussianHead`.

    log pi(a | x) = sum_j [-(a_j - mu_j)^2 / (2 sigma_j^2) - log sigma_j - log(2 pi) / 2].

    Attributes:
      name: the policy's name in :data:`POLICIES`.
      action_dim: the dimension of an action.
      hidden: widths of the tanh hidden layers (``()``: linear mean).
      state_dependent_sigma: log sigma from a linear head (True) or a free vector (False).
      init_log_sigma: the initial log sigma (everywhere).
      out_scale: the mean layer's initial weights' standard deviation times sqrt(fan_in); 0 for zero weights.
    """

    name: str
    action_dim: int
    hidden: tuple[int, ...] = ()
    state_dependent_sigma: bool = False
    init_log_sigma: float = 0.0
    out_scale: float = 0.0

    discrete = False

    @property
    def module(self) -> GaussianHead:
        """The flax module mapping x (..., input_dim) to (mean, log_sigma), each (..., action_dim)."""
        return GaussianHead(
            hidden=self.hidden,
            action_dim=self.action_dim,
            state_dependent_sigma=self.state_dependent_sigma,
            init_log_sigma=self.init_log_sigma,
            out_scale=self.out_scale,
        )

    def init(self, key: jax.Array, environment) -> Any:
        """Parameters ``{"params": ...}`` for inputs of ``environment``'s observations, float32."""
        x = jnp.zeros((_input_dim(self, environment),), jnp.float32)
        return _as_float32(self.module.init(key, x))

    def inputs(self, obs: jax.Array, prev_obs: jax.Array) -> jax.Array:
        """x = obs.ravel(), float32."""
        del prev_obs
        return jnp.asarray(obs, jnp.float32).ravel()

    def mean_and_log_sigma(self, params: Any, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(mu(x), log sigma(x)), each (..., action_dim)."""
        return self.module.apply(params, x)

    def sample(self, params: Any, key: jax.Array, x: jax.Array) -> jax.Array:
        """a = mu + sigma eps, eps ~ N(0, I): float32 (..., action_dim), not clipped."""
        mean, log_sigma = self.mean_and_log_sigma(params, x)
        return mean + jnp.exp(log_sigma) * jax.random.normal(key, mean.shape, jnp.float32)

    def log_prob(self, params: Any, x: jax.Array, action: jax.Array) -> jax.Array:
        """log N(a; mu(x), diag(sigma(x)^2)) of the unclipped action, shape x.shape[:-1]."""
        mean, log_sigma = self.mean_and_log_sigma(params, x)
        z = (jnp.asarray(action, jnp.float32) - mean) * jnp.exp(-log_sigma)
        return jnp.sum(-0.5 * z**2 - log_sigma - 0.5 * _LOG_2PI, axis=-1)

    def entropy(self, params: Any, x: jax.Array) -> jax.Array:
        """H = sum_j (log sigma_j + (1 + log 2 pi) / 2), shape x.shape[:-1]."""
        _, log_sigma = self.mean_and_log_sigma(params, x)
        return jnp.sum(log_sigma + 0.5 * (1.0 + _LOG_2PI), axis=-1)


def _check_hidden(hidden: Sequence[int], *, nonempty: bool) -> tuple[int, ...]:
    try:
        widths = tuple(int(h) for h in hidden)
        ok = all(int(h) == h for h in hidden)
    except (TypeError, ValueError):
        raise ConfigError("hidden", f"must be a sequence of positive integers (got {hidden!r})") from None
    if not ok or any(h < 1 for h in widths) or (nonempty and not widths):
        need = "a non-empty sequence" if nonempty else "a sequence"
        raise ConfigError("hidden", f"must be {need} of positive integers (got {hidden!r})")
    return widths


def make_policy(
    name: str,
    environment,
    *,
    hidden: tuple[int, ...] = (64, 64),
    state_dependent_sigma: bool = False,
    init_log_sigma: float = 0.0,
) -> CategoricalPolicy | GaussianPolicy:
    """The policy ``name`` (one of :data:`POLICIES`) sized for ``environment`` (a :class:`pgjax.envs.Environment`).

    Args:
      name: ``linear-softmax``, ``mlp-softmax`` (discrete environments), ``linear-gaussian``,
        ``mlp-gaussian`` (continuous environments) or ``pong-mlp`` (discrete; Karpathy's Pong network).
      environment: the environment the policy will act in (its action space and observation shape).
      hidden: the hidden widths of the ``mlp-*`` policies (ignored by the linear ones and by ``pong-mlp``,
        whose hidden layer is fixed at 200 ReLU units).
      state_dependent_sigma: Gaussian policies only: log sigma from a second head instead of a free vector.
      init_log_sigma: Gaussian policies only: the initial log sigma.

    Raises:
      ConfigError("policy", ...): an unknown name, or a policy that does not fit the action space.
      ConfigError("hidden", ...) / ConfigError("init_log_sigma", ...): bad values.
    """
    if name not in POLICIES:
        raise ConfigError("policy", f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    gaussian = name.endswith("-gaussian")
    if environment.discrete == gaussian:
        kind = "discrete" if environment.discrete else "continuous"
        fits = "linear-gaussian, mlp-gaussian" if not environment.discrete else "linear-softmax, mlp-softmax, pong-mlp"
        raise ConfigError("policy", f"{name!r} does not fit the {kind} actions of {environment.name}; use {fits}")
    if name == "pong-mlp":
        return CategoricalPolicy(
            name=name,
            num_actions=environment.num_actions,
            hidden=(200,),
            activation="relu",
            frame_difference=True,
            use_bias=False,
            hidden_init="normal",
            out_scale=1.0,
        )
    mlp = name.startswith("mlp-")
    widths = _check_hidden(hidden, nonempty=True) if mlp else ()
    if name.endswith("-softmax"):
        return CategoricalPolicy(
            name=name, num_actions=environment.num_actions, hidden=widths, out_scale=0.01 if mlp else 0.0
        )
    init_log_sigma = float(init_log_sigma)
    if not math.isfinite(init_log_sigma):
        raise ConfigError("init_log_sigma", f"must be finite (got {init_log_sigma})")
    return GaussianPolicy(
        name=name,
        action_dim=environment.action_dim,
        hidden=widths,
        state_dependent_sigma=bool(state_dependent_sigma),
        init_log_sigma=init_log_sigma,
        out_scale=0.01 if mlp else 0.0,
    )


@dataclasses.dataclass(frozen=True)
class Critic:
    """A state-value network V(x) (tanh MLP, scalar output) for value baselines and GAE.

    Attributes:
      hidden: widths of the tanh hidden layers (``()``: a linear V, zero-initialised).
    """

    hidden: tuple[int, ...] = (64, 64)

    @property
    def module(self) -> MLP:
        """The flax module mapping x (..., input_dim) to (..., 1)."""
        return MLP(hidden=tuple(self.hidden), out=1, activation="tanh", out_scale=1.0 if self.hidden else 0.0)

    def init(self, key: jax.Array, input_dim: int) -> Any:
        """Parameters ``{"params": ...}`` (float32) for inputs of dimension ``input_dim``."""
        _check_hidden(self.hidden, nonempty=False)
        return _as_float32(self.module.init(key, jnp.zeros((int(input_dim),), jnp.float32)))

    def value(self, params: Any, x: jax.Array) -> jax.Array:
        """V(x): a float32 scalar for one input vector x (input_dim,), shape x.shape[:-1] for a batch."""
        return self.module.apply(params, x)[..., 0]

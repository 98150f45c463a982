"""The numbers behind ``pgjax explain --html``: the walkthrough's curves and a running estimate on a grid of
(theta, sigma), computed by pgjax in one compiled, vmapped call (float64).

Grid. theta_i = theta0 + (3 sigma0 / |s|) u_i with u_i evenly spaced on [-1, 1] (so the mean action mu = theta s
sweeps mu0 +- 3 sigma0), and sigma_j = sigma0 2^(v_j) with v_j evenly spaced on [-1, 1]; the middle points are
the flags' theta0 and sigma0. The actions lie on one fixed axis, mu0 +- 8 sigma0, so that the density visibly
moves and narrows as the sliders move.

Per setting (the problem is :class:`pgjax.problems.LinearGaussianBandit` with the one state s, as in the
walkthrough):

- the density pi(a), the score psi(a) = d log pi / d theta = (a - mu) s / sigma^2 (autodiff of log pi), the
  reward r(a) and the integrand pi psi r, whose integral over a is dJ/dtheta (the log-derivative trick);
- the exact J, dJ/dtheta and dJ/dlog sigma (``jax.grad`` of the exact objective) and the exact variance V of
  one term r psi (:meth:`pgjax.estimators.Reinforce.exact_variance`, from the problem's score moments);
- the running estimate (1/n) sum_{i <= n} r(a_i) psi(a_i), n = 1 .. n_max, at log-spaced checkpoints, over the
  n_max samples that the engine draws for seed 0 at n = n_max (key ``seed_key(key(seed), 0, n_max)``): its
  last value is what pgjax's ``reinforce`` returns for that key. The same standard normal noise eps drives
  every setting (a = mu + sigma eps), so the estimate changes smoothly as a slider moves.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.engine import seed_key
from pgjax.errors import ConfigError
from pgjax.estimators import Reinforce, draw
from pgjax.explain.numbers import Setup
from pgjax.problems import BanditOutcome, LinearGaussianBandit, make_reward


@dataclasses.dataclass(frozen=True)
class GridSizes:
    """Grid and sample sizes of the page (odd point counts, so the flags' theta and sigma are grid points)."""

    thetas: int = 25
    sigmas: int = 5
    actions: int = 161
    n_max: int = 10_000
    checkpoints: int = 41

    def validate(self) -> None:
        for field in ("thetas", "sigmas"):
            value = getattr(self, field)
            if value < 1 or value % 2 == 0:
                raise ConfigError(field, f"must be odd and >= 1 (got {value})")
        if self.actions < 2 or self.n_max < 1 or self.checkpoints < 2:
            raise ConfigError("actions", "actions and checkpoints must be >= 2, n_max >= 1")


@dataclasses.dataclass(frozen=True)
class Explorer:
    """Arrays indexed [theta i, sigma j, ...]; ``start`` = the indices of the flags' theta and sigma."""

    setup: Setup
    sizes: GridSizes
    reward_text: str
    thetas: np.ndarray  # (T,)
    sigmas: np.ndarray  # (S,)
    actions: np.ndarray  # (A,)
    reward: np.ndarray  # (A,)  r(a), the same for every setting
    density: np.ndarray  # (T, S, A)
    score: np.ndarray  # (T, S, A)
    product: np.ndarray  # (T, S, A)  pi psi r
    objective: np.ndarray  # (T, S)
    grad: np.ndarray  # (T, S)  exact dJ/dtheta
    grad_log_sigma: np.ndarray  # (T, S)  exact dJ/dlog sigma
    single_variance: np.ndarray  # (T, S)  exact Var[r psi_theta] of one term
    ns: np.ndarray  # (C,)  checkpoints, 1 .. n_max
    running: np.ndarray  # (T, S, C)  running estimate of dJ/dtheta at the checkpoints

    @property
    def start(self) -> tuple[int, int]:
        return (len(self.thetas) // 2, len(self.sigmas) // 2)


def grid(setup: Setup, sizes: GridSizes) -> tuple[np.ndarray, np.ndarray]:
    """(thetas, sigmas): theta0 + (3 sigma0 / |s|) [-1 .. 1] and sigma0 2^[-1 .. 1], middle points exact."""
    u = np.linspace(-1.0, 1.0, sizes.thetas)
    v = np.linspace(-1.0, 1.0, sizes.sigmas)
    thetas = setup.theta + 3.0 * setup.sigma / abs(setup.state) * u
    sigmas = setup.sigma * 2.0**v
    thetas[sizes.thetas // 2] = setup.theta
    sigmas[sizes.sigmas // 2] = setup.sigma
    return thetas, sigmas


def checkpoints(n_max: int, count: int) -> np.ndarray:
    """Distinct sample counts from 1 to n_max, evenly spaced on a log scale."""
    return np.unique(np.round(np.logspace(0.0, math.log10(n_max), count)).astype(np.int64))


def compute(setup: Setup = Setup(), sizes: GridSizes = GridSizes()) -> Explorer:
    """Every number of the page (a few seconds, most of it compilation)."""
    setup.validate()
    sizes.validate()
    with jax.enable_x64(True):
        return _compute(setup, sizes)


def _compute(setup: Setup, sizes: GridSizes) -> Explorer:
    reward = make_reward(setup.reward, target=setup.target)
    problem = LinearGaussianBandit.build(state=[setup.state], theta=[setup.theta], sigma=setup.sigma, reward=reward)
    params0 = problem.init_params()
    thetas, sigmas = grid(setup, sizes)
    mu0 = setup.theta * setup.state
    actions = jnp.linspace(mu0 - 8.0 * setup.sigma, mu0 + 8.0 * setup.sigma, sizes.actions)
    on_axis = BanditOutcome(state=jnp.asarray(problem.state_mean), action=actions)
    key = seed_key(jax.random.key(setup.seed), 0, sizes.n_max)
    ns = checkpoints(sizes.n_max, sizes.checkpoints)

    def one(theta, log_sigma):
        params = params0.replace(theta=theta[None], log_sigma=log_sigma)
        density = jnp.exp(problem.log_prob(params, on_axis))
        score = jax.jacfwd(problem.log_prob)(params, on_axis).theta[:, 0]
        grad = jax.grad(problem.objective)(params)
        variance = Reinforce().exact_variance(problem, params).theta[0]
        outcome, rewards = draw(key, params, problem, sizes.n_max)
        terms = rewards * jax.jacfwd(problem.log_prob)(params, outcome).theta[:, 0]
        running = jnp.cumsum(terms) / jnp.arange(1, sizes.n_max + 1)
        product = density * score * problem.reward(on_axis)
        return (density, score, product, problem.objective(params), grad.theta[0], grad.log_sigma, variance,
                running[jnp.asarray(ns) - 1])  # fmt: skip

    th, sg = np.meshgrid(thetas, sigmas, indexing="ij")
    out = jax.jit(jax.vmap(one))(jnp.asarray(th.ravel()), jnp.log(jnp.asarray(sg.ravel())))
    shape = (len(thetas), len(sigmas))
    density, score, product, objective, grad, grad_ls, variance, running = (
        np.asarray(x, dtype=np.float64).reshape(shape + np.shape(x)[1:]) for x in out
    )
    return Explorer(
        setup=setup,
        sizes=sizes,
        reward_text=reward.describe().removeprefix("r(a) = ").replace("^2", "²"),
        thetas=thetas,
        sigmas=sigmas,
        actions=np.asarray(actions, dtype=np.float64),
        reward=np.asarray(problem.reward(on_axis), dtype=np.float64),
        density=density,
        score=score,
        product=product,
        objective=objective,
        grad=grad,
        grad_log_sigma=grad_ls,
        single_variance=variance,
        ns=ns,
        running=running,
    )

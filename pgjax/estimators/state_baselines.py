"""Score-function estimators with exact state-dependent and action-dependent baselines.

On a one-step problem whose state s is drawn before the action (:class:`~pgjax.problems.base.StateBaselines`),
any baseline b(s) keeps the score-function estimate g = (1/n) sum_i (r_i - b(s_i)) psi_i unbiased, because
E[psi | s] = 0 (Williams 1992). Two exact ones:

- the value baseline V(s) = E[r | s] (:class:`StateValueBaseline`);
- the variance-minimising state-dependent baseline, one per coordinate c,
  b*_c(s) = E[r psi_c^2 | s] / E[psi_c^2 | s] (:class:`OptimalStateBaseline`; Greensmith, Bartlett & Baxter
  2004, "Variance Reduction Techniques for Gradient Estimates in Reinforcement Learning"). Conditioning on s,
  it minimises E[(r - b)^2 psi_c^2 | s] over b for every s, so its variance is at most that of V(s) and of the
  best constant baseline (:class:`pgjax.estimators.OptimalBaselineExact`), with equality only where b*_c(s)
  equals them almost surely.

With a factorised policy pi(a | s) = prod_i pi_i(a_i | s) (:class:`~pgjax.problems.base.FactorisedActions`), a
baseline for coordinate i may also depend on the other coordinates a_{-i} (Wu et al. 2018, "Variance Reduction
for Policy Gradient with Action-Dependent Factorized Baselines"):
g = (1/n) sum_n sum_i (r_n - b_i(s_n, a_{n,-i})) grad log pi_i(a_{n,i} | s_n), unbiased because
E[grad log pi_i(a_i | s) | s, a_{-i}] = 0. :class:`ActionFactorisedBaseline` uses their marginalised Q,
b_i = E[r | s, a_{-i}], exact where the problem gives it.

Each estimator's exact single-sample variance is E[(r - b)^2 psi_c^2] - (grad_c J)^2 (unbiased estimators),
with the second moment from the problem (``state_baseline_moments`` / ``action_baseline_moments``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp

from pgjax.estimators.base import Estimator, register
from pgjax.estimators.score_function import draw, weighted_score_mean
from pgjax.problems.base import FactorisedActions, Params, Problem, StateBaselines, exact_gradient


def _variance_from_second(problem: Problem, params: Params, second: Callable[[Params], Params]) -> Params:
    """second(params) - (grad J)^2 in float64, on the host: the variance of an unbiased single-sample estimate
    whose second moment per coordinate is ``second(params)``."""
    grad = exact_gradient(problem, params)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
        return jax.tree.map(lambda m2, g: jax.device_get(m2 - g**2), second(p64), grad)


def _traceable_variance(problem: Problem, params: Params, second: Params) -> Params:
    grad = jax.grad(problem.objective)(params)
    return jax.tree.map(lambda m2, g: m2 - g**2, second, grad)


@register
@dataclasses.dataclass(frozen=True)
class StateValueBaseline(Estimator):
    """Score function with the exact value baseline: g = (1/n) sum_i (r_i - V(s_i)) psi_i, V(s) = E[r | s].

    Unbiased (E[psi | s] = 0); single-sample variance E[(r - V(s))^2 psi_c^2] - (grad_c J)^2.
    """

    name: ClassVar[str] = "state_value_baseline"
    requires: ClassVar[tuple[type, ...]] = (StateBaselines,)
    iid: ClassVar[bool] = True

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        outcome, rewards = draw(key, params, problem, n)
        value = jax.lax.stop_gradient(problem.state_value(params, outcome))
        return weighted_score_mean(params, problem, outcome, rewards - value, key)

    def single_sample_variance(self, problem: Problem, params: Params) -> Params | None:
        if not isinstance(problem, StateBaselines):
            return None
        return _variance_from_second(problem, params, lambda p: problem.state_baseline_moments(p).value)

    def exact_variance(self, problem: Problem, params: Params) -> Params:
        """E[(r - V(s))^2 psi^2] - g^2, traceable."""
        return _traceable_variance(problem, params, problem.state_baseline_moments(params).value)


@register
@dataclasses.dataclass(frozen=True)
class OptimalStateBaseline(Estimator):
    """Score function with the exact variance-minimising state-dependent baseline, one per coordinate c:

        b*_c(s) = E[r psi_c^2 | s] / E[psi_c^2 | s],    g_c = (1/n) sum_i (r_i - b*_c(s_i)) psi_ic

    (Greensmith, Bartlett & Baxter 2004). Unbiased; single-sample variance E[(r - b*_c(s))^2 psi_c^2] -
    (grad_c J)^2, the smallest of any baseline that depends on the state only. Needs the per-sample scores
    psi_i (one forward-mode Jacobian of log pi, O(n P)).
    """

    name: ClassVar[str] = "optimal_state_baseline"
    requires: ClassVar[tuple[type, ...]] = (StateBaselines,)
    iid: ClassVar[bool] = True

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        outcome, rewards = draw(key, params, problem, n)
        baseline = jax.lax.stop_gradient(problem.optimal_state_baseline(params, outcome))
        scores = jax.jacfwd(problem.log_prob)(params, outcome)  # leaves (n, *leaf_shape)

        def per_leaf(psi: jax.Array, b: jax.Array) -> jax.Array:
            r = rewards.reshape((n,) + (1,) * (psi.ndim - 1))
            return jnp.mean((r - b) * psi, axis=0)

        return jax.tree.map(per_leaf, scores, baseline)

    def single_sample_variance(self, problem: Problem, params: Params) -> Params | None:
        if not isinstance(problem, StateBaselines):
            return None
        return _variance_from_second(problem, params, lambda p: problem.state_baseline_moments(p).optimal)

    def exact_variance(self, problem: Problem, params: Params) -> Params:
        """E[(r - b*(s))^2 psi^2] - g^2, traceable."""
        return _traceable_variance(problem, params, problem.state_baseline_moments(params).optimal)


@register
@dataclasses.dataclass(frozen=True)
class ActionFactorisedBaseline(Estimator):
    """Action-dependent factorised baseline (Wu et al. 2018): with pi(a | s) = prod_i pi_i(a_i | s),

        g = (1/n) sum_n sum_i (r_n - b_i) grad log pi_i(a_{n,i} | s_n),    b_i = E[r | s_n, a_{n,-i}],

    the marginalised Q of the paper, exact here. Unbiased, since b_i does not depend on a_i and
    E[grad log pi_i | s, a_{-i}] = 0. Computed as the gradient of the surrogate
    mean_n sum_i stop_gradient(r_n - b_ni) log pi_i(a_ni), one backward pass.
    """

    name: ClassVar[str] = "action_factorised_baseline"
    requires: ClassVar[tuple[type, ...]] = (FactorisedActions,)
    iid: ClassVar[bool] = True

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        outcome, rewards = draw(key, params, problem, n)
        weights = jax.lax.stop_gradient(rewards[:, None] - problem.action_baselines(params, outcome))
        return jax.grad(lambda p: jnp.mean(jnp.sum(weights * problem.action_log_probs(p, outcome), axis=-1)))(params)

    def single_sample_variance(self, problem: Problem, params: Params) -> Params | None:
        if not isinstance(problem, FactorisedActions):
            return None
        return _variance_from_second(problem, params, problem.action_baseline_moments)

    def exact_variance(self, problem: Problem, params: Params) -> Params:
        """E[(sum_i (r - b_i) d log pi_i / d param_c)^2] - g^2, traceable."""
        return _traceable_variance(problem, params, problem.action_baseline_moments(params))

r"""Control variates for the per-sample Jacobians of :mod:`pgjax.mc.gradient_estimators`, with
optax.monte_carlo's interface (Mohamed, Rosca, Figurnov & Mnih 2020, Section 7, "Variance reduction").

With a control variate h(x; theta) whose expectation is known in closed form,

    \nabla_\theta E_p[f] = \nabla_\theta \int p(x; \theta) (f(x) - h(x; \theta)) dx + \nabla_\theta E_p[h]
                         = G[f - h] - E_p[\nabla_\theta h] + \nabla_\theta E_p[h],

where G is any of the gradient estimators applied with theta held fixed inside h.
:func:`control_variates_jacobians` estimates the first two terms from the same samples and differentiates
the third exactly. A control variate is built from f by a function returning three functions
``(control_variate(params, sample, state) -> scalar, expected_value(params, state) -> scalar,
update_state(params, samples, state) -> state)``: :func:`control_delta_method` and
:func:`moving_avg_baseline`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import chex
import jax
import jax.numpy as jnp

from pgjax.estimators.control_variates import taylor_expansion

CvState = Any
Function = Callable[[jax.Array], Any]
Params = Sequence[jax.Array]
ComputeCv = Callable[[Params, jax.Array, CvState], jax.Array]
CvExpectedValue = Callable[[Params, CvState], jax.Array]
UpdateCvState = Callable[[Params, jax.Array, CvState], CvState]
ControlVariate = tuple[ComputeCv, CvExpectedValue, UpdateCvState]


def control_delta_method(function: Function) -> ControlVariate:
    r"""The delta method (Paisley, Blei & Jordan 2012; Mohamed et al. 2020, Section 7.4): the second-order
    Taylor expansion of f at the mean mu = params[0] of a diagonal Gaussian with log_sigma = params[1],

        h(x; \theta) = f(\mu) + (x - \mu) . \nabla f(\mu) + (x - \mu)^T H(\mu) (x - \mu) / 2,
        E[h] = f(\mu) + \sum_d H_dd(\mu) \sigma_d^2 / 2,

    with the full Hessian H in h and its diagonal (pgjax's
    :func:`~pgjax.estimators.control_variates.taylor_expansion`) in E[h]. The expansion point is the mean
    itself, so h depends on theta. Stateless (the state is passed through). For a quadratic f, h = f.
    """

    def delta(params: Params, sample: jax.Array, state: CvState = None) -> jax.Array:
        del state
        mean = params[0]
        centered = sample - mean
        value, grad = jax.value_and_grad(function)(mean)
        hessian = jax.hessian(function)(mean)
        chex.assert_rank(hessian, 2)
        return value + jnp.dot(centered, grad) + jnp.dot(jnp.dot(centered, hessian), centered) / 2.0

    def expected_value_delta(params: Params, state: CvState) -> jax.Array:
        del state
        mean, variance = params[0], jnp.exp(params[1]) ** 2
        value, _, hessian_diag = taylor_expansion(function, mean)
        return value + jnp.sum(variance * hessian_diag) / 2.0

    def update_state(params: Params, samples: jax.Array, state: CvState = None) -> CvState:
        del params, samples
        return state

    return delta, expected_value_delta, update_state


def moving_avg_baseline(
    function: Function,
    decay: float = 0.99,
    zero_debias: bool = True,
    use_decay_early_training_heuristic: bool = True,
) -> ControlVariate:
    r"""A constant baseline b held in the state ``(b, i)``: h(x) = b and E[h] = b, so it changes only the
    score-function estimator (its Jacobian in theta is 0: no effect on the pathwise or measure-valued ones).

    ``update_state(params, samples, (b, i))`` returns ``(b', i + 1)`` with, for d = min(decay, (1 + i) /
    (10 + i)) under the early-training heuristic (else d = decay) and fbar the mean of f over ``samples``,

        b' = d b + (1 - d) fbar,   then, with ``zero_debias``,   b' <- b' / (1 - d^(i + 1)),

    exactly as optax computed it (the division is applied to the stored value at every step). From the
    state (0, 0) the first update gives b' = fbar. Start from ``(jnp.zeros([]), 0)``.
    """

    def moving_avg(params: Params, samples: jax.Array, state: CvState = None) -> jax.Array:
        del params, samples
        return state[0]

    def expected_value_moving_avg(params: Params, state: CvState) -> jax.Array:
        del params
        return state[0]

    def update_state(params: Params, samples: jax.Array, state: CvState = None) -> CvState:
        del params
        value, i = state
        iteration_decay = jnp.minimum(decay, (1.0 + i) / (10.0 + i)) if use_decay_early_training_heuristic else decay
        updated = iteration_decay * value + (1 - iteration_decay) * jnp.mean(jax.vmap(function)(samples))
        if zero_debias:
            updated = updated / (jnp.ones([]) - jnp.power(iteration_decay, i + 1))
        return jax.lax.stop_gradient(updated), i + 1

    return moving_avg, expected_value_moving_avg, update_state


def _map(cv: ComputeCv, params: Params, samples: jax.Array, state: CvState) -> jax.Array:
    return jax.vmap(lambda x: cv(params, x, state))(samples)


def control_variates_jacobians(
    function: Function,
    control_variate_from_function: Callable[[Function], ControlVariate],
    grad_estimator: Callable[..., Sequence[jax.Array]],
    params: Params,
    dist_builder: Callable[..., Any],
    rng: jax.Array,
    num_samples: int,
    control_variate_state: CvState = None,
    estimate_cv_coeffs: bool = False,
    estimate_cv_coeffs_num_samples: int = 20,
) -> tuple[Sequence[jax.Array], CvState]:
    r"""Per-sample Jacobians with a control variate, and the updated control-variate state:

        J_i = G[f]_i - \beta (G[h]_i + E_n[\nabla_\theta h] - \nabla_\theta E_p[h]),

    G = ``grad_estimator`` (one of the Jacobian functions, called with the same ``rng``, so f and h see the
    same samples), E_n the mean over this batch's samples, and beta one coefficient per parameter: 1, or with
    ``estimate_cv_coeffs`` :func:`estimate_control_variate_coefficients` from fresh samples. The state is
    updated once, with this batch's samples, before h is evaluated. Returns ``(jacobians, state)``;
    ``jacobians`` is a list with one ``(num_samples, D)`` array per parameter.
    """
    stochastic_cv, expected_value_cv, update_state_cv = control_variate_from_function(function)
    data_dim = jax.tree.leaves(params)[0].shape[0]
    if estimate_cv_coeffs:
        cv_coeffs = estimate_control_variate_coefficients(
            function,
            control_variate_from_function,
            grad_estimator,
            params,
            dist_builder,
            rng,
            estimate_cv_coeffs_num_samples,
            control_variate_state,
        )
    else:
        cv_coeffs = [1.0] * len(params)

    function_jacobians = grad_estimator(function, params, dist_builder, rng, num_samples)
    samples = dist_builder(*params).sample((num_samples,), key=rng)  # the estimator's samples (same key)
    control_variate_state = update_state_cv(params, samples, control_variate_state)

    def samples_fn(x: jax.Array) -> jax.Array:
        return stochastic_cv(jax.lax.stop_gradient(params), x, control_variate_state)

    cv_jacobians = grad_estimator(samples_fn, params, dist_builder, rng, num_samples)
    fixed = jax.lax.stop_gradient(samples)
    cv_param_grads = jax.grad(lambda p: jnp.mean(_map(stochastic_cv, p, fixed, control_variate_state)))(params)
    expected_value_grads = jax.grad(lambda p: expected_value_cv(p, control_variate_state))(params)

    jacobians = []
    for index, param in enumerate(jax.tree.leaves(params)):
        chex.assert_shape(function_jacobians[index], (num_samples, data_dim))
        chex.assert_shape(cv_jacobians[index], (num_samples, data_dim))
        chex.assert_shape(cv_param_grads[index], (data_dim,))
        chex.assert_shape(expected_value_grads[index], (data_dim,))
        beta = cv_coeffs[index]
        jac = function_jacobians[index] - beta * cv_jacobians[index]
        jac = jac - beta * cv_param_grads[index] + beta * expected_value_grads[index]
        chex.assert_shape(jac, (num_samples, *param.shape))
        jacobians.append(jac)
    return jacobians, control_variate_state


def estimate_control_variate_coefficients(
    function: Function,
    control_variate_from_function: Callable[[Function], ControlVariate],
    grad_estimator: Callable[..., Sequence[jax.Array]],
    params: Params,
    dist_builder: Callable[..., Any],
    rng: jax.Array,
    num_samples: int,
    control_variate_state: CvState = None,
    eps: float = 1e-3,
) -> Sequence[jax.Array]:
    r"""One coefficient per parameter k, from ``num_samples`` fresh samples (key ``split(rng)[0]``):

        \beta_k = \sum_d Cov(G[f]_{kd}, G[h]_{kd}) / (\sum_d Var(G[h]_{kd}) + eps),

    the variance-minimising coefficient shared over the parameter's coordinates (population moments over
    the samples). Does not update the state; gradients do not flow through beta.
    """
    cv_rng, _ = jax.random.split(rng)
    stochastic_cv, _, _ = control_variate_from_function(function)
    cv_jacobians = grad_estimator(
        lambda x: stochastic_cv(params, x, control_variate_state), params, dist_builder, cv_rng, num_samples
    )
    function_jacobians = grad_estimator(function, params, dist_builder, cv_rng, num_samples)

    def coefficient(cv_jac: jax.Array, f_jac: jax.Array) -> jax.Array:
        chex.assert_rank([cv_jac, f_jac], 2)
        cov = jnp.mean((f_jac - jnp.mean(f_jac, axis=0)) * (cv_jac - jnp.mean(cv_jac, axis=0)), axis=0)
        return jax.lax.stop_gradient(jnp.sum(cov) / (jnp.sum(jnp.var(cv_jac, axis=0)) + eps))

    return [coefficient(cv_jacobians[i], function_jacobians[i]) for i in range(len(params))]

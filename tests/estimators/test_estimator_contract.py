"""The estimator contract's boundary checks (pgjax/estimators/base.py) and its exact-moment method.

Every subclass of :class:`pgjax.estimators.base.Estimator` has its ``__call__`` checked: n is a positive static
integer, and an output declared ``params_shaped`` has the tree structure and leaf shapes of params. The checks
read only static information, so under ``jax.jit`` they run once, at trace time, and leave the compiled program
unchanged; a malformed estimator fails with a message that names it, whether it is called directly, under jit or
through the engine. Exact moments on a Gaussian-trajectory problem (LQR) come from each estimator's own
``gaussian_moments``: an estimator defined here, named nowhere in pgjax, gets them and its exact variance.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax
from pgjax.estimators import base, make_estimator
from pgjax.estimators.base import Estimator, exact_moments, has_exact_moments
from pgjax.estimators.gaussian_terms import product_moments, score_return_terms
from pgjax.estimators.score_function import ConstantBaseline, draw, weighted_score_mean
from pgjax.problems import LinearGaussianBandit, LinearQuadraticRegulator

BANDIT = LinearGaussianBandit.build(state=[1.0, 0.5], theta=[0.2, -0.3], sigma=1.0, reward="quadratic")
PARAMS = BANDIT.init_params()
KEY = jax.random.key(0)


@dataclasses.dataclass(frozen=True)
class DropsSigma(Estimator):
    """A broken estimator: returns only the theta part of the gradient (a leaf of the wrong shape)."""

    name: ClassVar[str] = "drops_sigma"

    def __call__(self, key, params, problem, n):
        outcome, rewards = draw(key, params, problem, n)
        grad = weighted_score_mean(params, problem, outcome, rewards)
        return dataclasses.replace(grad, theta=grad.theta[:1])


@dataclasses.dataclass(frozen=True)
class ReturnsTuple(Estimator):
    """A broken estimator: returns the leaves as a tuple, not the params pytree."""

    name: ClassVar[str] = "returns_tuple"

    def __call__(self, key, params, problem, n):
        outcome, rewards = draw(key, params, problem, n)
        return tuple(jax.tree.leaves(weighted_score_mean(params, problem, outcome, rewards)))


def test_an_output_with_a_wrong_leaf_shape_is_caught_with_the_estimators_name():
    with pytest.raises(AssertionError, match=r"estimator 'drops_sigma' must return a gradient shaped like params"):
        DropsSigma()(KEY, PARAMS, BANDIT, 4)
    with pytest.raises(AssertionError, match="drops_sigma"):
        jax.jit(DropsSigma(), static_argnums=(2, 3))(KEY, PARAMS, BANDIT, 4)


def test_an_output_with_a_wrong_tree_structure_is_caught():
    with pytest.raises(AssertionError, match=r"returns_tuple") as info:
        ReturnsTuple()(KEY, PARAMS, BANDIT, 4)
    assert "tree structs" in str(info.value)


def test_the_engine_reports_a_malformed_estimator_by_name():
    with pytest.raises(AssertionError, match="drops_sigma"):
        pgjax.run_sweep(BANDIT, PARAMS, {"bad": DropsSigma()}, ns=[2], n_seeds=4, seed=0)


@pytest.mark.parametrize("n", [0, -3])
def test_n_must_be_a_positive_integer(n):
    with pytest.raises(AssertionError, match="estimator 'reinforce'.*n is the number of samples"):
        make_estimator("reinforce")(KEY, PARAMS, BANDIT, n)


def test_a_traced_n_is_refused_with_a_clear_message():
    with pytest.raises(AssertionError, match="n must be a static integer"):
        jax.jit(lambda n: make_estimator("reinforce")(KEY, PARAMS, BANDIT, n))(3)


def test_the_checks_leave_the_compiled_program_unchanged():
    estimator = make_estimator("optimal_baseline_exact")
    unchecked = type(estimator).__call__.__wrapped__
    checked_jaxpr = jax.make_jaxpr(lambda k, p: estimator(k, p, BANDIT, 8))(KEY, PARAMS)
    plain_jaxpr = jax.make_jaxpr(lambda k, p: unchecked(estimator, k, p, BANDIT, 8))(KEY, PARAMS)
    assert str(checked_jaxpr) == str(plain_jaxpr)


def test_every_registered_estimator_is_checked():
    for name, cls in base.registry().items():
        assert getattr(cls.__call__, "__pgjax_checked__", False), name


# ----------------------------------------------------------------------------------- exact moments on LQR
@dataclasses.dataclass(frozen=True)
class HalvedShift(Estimator):
    """(1/n) sum_i (r_i - b) psi_i with b = J / 2 fixed in advance: unbiased. It gives its exact moments on LQR
    only through the contract's gaussian_moments; its single_sample_variance is the base class's."""

    b: float = 0.0
    name: ClassVar[str] = "halved_shift"
    iid: ClassVar[bool] = True
    gaussian_moments_known: ClassVar[bool] = True

    def __call__(self, key, params, problem, n):
        outcome, rewards = draw(key, params, problem, n)
        return weighted_score_mean(params, problem, outcome, rewards - self.b)

    def gaussian_moments(self, problem, params, rep):
        return product_moments(*score_return_terms(problem, params, rep, self.b))


def test_an_estimator_named_nowhere_in_pgjax_gets_exact_moments_on_lqr():
    lqr = LinearQuadraticRegulator.scalar(horizon=3)
    params = lqr.init_params()
    b = 0.5 * float(lqr.objective(params))
    mine, same = HalvedShift(b), ConstantBaseline(b)
    assert has_exact_moments(mine)
    moments = exact_moments(mine, lqr, params)
    # ConstantBaseline's single-sample variance comes from a different route (the problem's score moments).
    expected = jax.tree.leaves(same.single_sample_variance(lqr, params))
    got = jax.tree.leaves(mine.single_sample_variance(lqr, params))
    assert len(got) == len(expected) == len(jax.tree.leaves(params)) > 0
    for g, e, v in zip(got, expected, jax.tree.leaves(moments["var"])):
        np.testing.assert_allclose(np.asarray(g, np.float64), np.asarray(e, np.float64), rtol=1e-9)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(v))
    # Unbiased: the exact mean is the exact gradient.
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
        grad = jax.grad(lqr.objective)(p64)
    for m, g in zip(jax.tree.leaves(moments["mean"]), jax.tree.leaves(grad)):
        np.testing.assert_allclose(np.asarray(m), np.asarray(g), rtol=1e-9)


def test_an_estimator_without_gaussian_moments_has_none():
    lqr = LinearQuadraticRegulator.scalar(horizon=3)
    for name in ("leave_one_out", "learned_value_baseline"):
        estimator = make_estimator(name)
        assert not has_exact_moments(estimator)
        with pytest.raises(ValueError, match="no exact moments"):
            exact_moments(estimator, lqr, lqr.init_params())
    assert not has_exact_moments(lambda key, params, problem, n: params)  # a plain callable

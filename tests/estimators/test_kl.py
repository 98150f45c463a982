"""The KL estimators k1, k2, k3 (pgjax.estimators.kl): exact moments by enumeration against sums written out
here and the facts they must satisfy (k1 and k3 unbiased, k2 and k3 never negative), and their contract as
registered estimators (requirements, output, exact variances) on the categorical pair problem
(pgjax.problems.kl_pair). Their Monte Carlo check through the engine is in tests/experiments/test_group_baselines.py
(through the kl-estimators experiment)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.engine import run_sweep
from pgjax.errors import ConfigError
from pgjax.estimators import ALL_ESTIMATORS, ESTIMATORS, available_on, registry
from pgjax.estimators.kl import KL_ESTIMATOR_CLASSES, KL_ESTIMATORS, UNBIASED, exact_kl_table
from pgjax.problems import SoftmaxBandit
from pgjax.problems.base import CAPABILITIES, ReferencePolicy
from pgjax.problems.kl_pair import KLPair
from pgjax.problems.softmax_bandit import SoftmaxParams

P = np.array([0.5, -0.3, 1.2, 0.0])
Q = np.array([0.1, 0.4, 0.9, -0.6])


def written_out():
    pp, qq = np.exp(P) / np.exp(P).sum(), np.exp(Q) / np.exp(Q).sum()
    log_r = np.log(qq / pp)
    direct = {"k1": -log_r, "k2": 0.5 * log_r**2, "k3": (qq / pp - 1) - log_r}
    return pp, float(pp @ -log_r), direct


def test_exact_moments_by_enumeration():
    with jax.enable_x64(True):
        values = jax.device_get(exact_kl_table(jnp.asarray(P), jnp.asarray(Q)))
    pp, kl, direct = written_out()
    assert abs(float(values["kl"]) - kl) < 1e-15
    assert set(direct) == set(KL_ESTIMATORS) == set(KL_ESTIMATOR_CLASSES)
    for name, k in direct.items():
        mean, var = values[name]
        assert abs(mean - pp @ k) < 1e-15 and abs(var - (pp @ k**2 - (pp @ k) ** 2)) < 1e-14, name
        assert (abs(mean - kl) < 1e-15) == UNBIASED[name], name
    assert (direct["k2"] >= 0).all() and (direct["k3"] >= 0).all() and (direct["k1"] < 0).any()


def test_registered_estimators_on_the_pair_problem():
    """k1, k2, k3 are in the registry, need a reference policy (kept out of every other problem's estimators),
    return one number per call, and give the written-out exact moments through the problem, with variance
    Var / n for the mean of n draws."""
    pp, kl, direct = written_out()
    problem = KLPair.build(logits=P, reference_logits=Q)
    assert isinstance(problem, ReferencePolicy) and ReferencePolicy in CAPABILITIES
    assert not isinstance(SoftmaxBandit(), ReferencePolicy)
    with jax.enable_x64(True):
        params = SoftmaxParams(logits=jnp.asarray(P))
        assert abs(float(problem.exact_kl(params)) - kl) < 1e-15
        assert abs(float(problem.objective(params)) - pp @ np.log(np.exp(Q) / np.exp(Q).sum())) < 1e-15
    assert set(available_on(problem)) >= set(KL_ESTIMATOR_CLASSES)
    assert not set(KL_ESTIMATOR_CLASSES) & (set(available_on(SoftmaxBandit())) | set(ESTIMATORS) | set(ALL_ESTIMATORS))
    for name, cls in KL_ESTIMATOR_CLASSES.items():
        assert registry()[name] is cls and cls.requires == (ReferencePolicy,) and not cls.params_shaped
        assert cls.unbiased == UNBIASED[name] == (name != "k2")
        estimator = cls()
        mean, var = estimator.exact_moments(problem, params)
        k = direct[name]
        assert abs(mean - pp @ k) < 1e-15 and abs(var - (pp @ k**2 - (pp @ k) ** 2)) < 1e-14, name
        np.testing.assert_allclose(estimator.n_sample_variance(problem, params, 4), [var / 4], rtol=1e-15)
        assert estimator(jax.random.key(0), problem.init_params(), problem, 3).shape == (1,), name
    with pytest.raises(ConfigError, match="reference policy"):
        KL_ESTIMATOR_CLASSES["k3"]().check(SoftmaxBandit())


def test_the_engine_refuses_kl_outputs_without_their_reference():
    """run_sweep names the one output column only with the number it estimates; the estimators refuse a problem
    without a reference policy before any work."""
    problem = KLPair.build(logits=P, reference_logits=Q)
    estimators = {"k1": KL_ESTIMATOR_CLASSES["k1"]()}
    with pytest.raises(ValueError, match="reference_gradient"):
        run_sweep(problem, problem.init_params(), estimators, (2,), 2, output_names=("kl",))
    bandit = SoftmaxBandit()
    with pytest.raises(ConfigError, match="reference policy"):
        run_sweep(bandit, bandit.init_params(), estimators, (2,), 2, reference_gradient=[0.0], output_names=("kl",))

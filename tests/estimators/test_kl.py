"""The KL estimators k1, k2, k3 (pgjax.estimators.kl): exact moments by enumeration against sums written out
here and the facts they must satisfy (k1 and k3 unbiased, k2 and k3 never negative). Their Monte Carlo check
is in tests/experiments/test_group_baselines.py (through the kl-estimators experiment)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.estimators.kl import KL_ESTIMATORS, UNBIASED, exact_kl_table

P = np.array([0.5, -0.3, 1.2, 0.0])
Q = np.array([0.1, 0.4, 0.9, -0.6])


def test_exact_moments_by_enumeration():
    with jax.enable_x64(True):
        values = jax.device_get(exact_kl_table(jnp.asarray(P), jnp.asarray(Q)))
    pp, qq = np.exp(P) / np.exp(P).sum(), np.exp(Q) / np.exp(Q).sum()
    log_r = np.log(qq / pp)
    kl = float(pp @ -log_r)
    assert abs(float(values["kl"]) - kl) < 1e-15
    direct = {"k1": -log_r, "k2": 0.5 * log_r**2, "k3": (qq / pp - 1) - log_r}
    assert set(direct) == set(KL_ESTIMATORS)
    for name, k in direct.items():
        mean, var = values[name]
        assert abs(mean - pp @ k) < 1e-15 and abs(var - (pp @ k**2 - (pp @ k) ** 2)) < 1e-14, name
        assert (abs(mean - kl) < 1e-15) == UNBIASED[name], name
    assert (direct["k2"] >= 0).all() and (direct["k3"] >= 0).all() and (direct["k1"] < 0).any()

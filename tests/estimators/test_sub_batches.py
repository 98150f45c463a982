"""Sub-batched estimates (pgjax.estimators.base.estimate past a block of samples): the same estimate as one call
on the same n samples, up to float32 summation error; unbiased through the engine; the path the engine takes."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from pgjax.engine import run_sweep
from pgjax.estimators import make_estimator
from pgjax.estimators.base import estimate, sub_batch_sizes
from pgjax.problems import LinearGaussianBandit

BANDIT = LinearGaussianBandit.build(
    state=[1.0, 0.5], theta=[0.2, -0.3], sigma=1.0, state_std=0.5, reward="quadratic", reward_target=1.0
)
#: n = 3 full blocks of 64 and one of 8: both the scan and the remainder block.
N, BLOCK = 200, 64
EPS32 = float(np.finfo(np.float32).eps)


@dataclasses.dataclass(frozen=True)
class Replay:
    """``problem`` whose ``sample_noise`` returns the given noise: the one-call estimator on chosen samples."""

    problem: Any
    noise: Any

    def sample_noise(self, key, n):
        assert jax.tree.leaves(self.noise)[0].shape[0] == n
        return self.noise

    def __getattr__(self, name):
        return getattr(self.problem, name)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _blocks_noise(key, n, block):
    """The n samples' noise exactly as the sub-batched estimate draws it: block b from fold_in(key, b)."""
    q, rest = sub_batch_sizes(n, block)
    parts = [BANDIT.sample_noise(jax.random.fold_in(key, b), block) for b in range(q)]
    if rest:
        parts.append(BANDIT.sample_noise(jax.random.fold_in(key, q), rest))
    return jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)


def _flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


def _per_sample(params, noise):
    """Float64 per-sample rewards r_i (n,), scores psi_i (n, P) and pathwise derivatives d_i (n, P)."""
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
        z64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), noise)
        outcome = BANDIT.sample(p64, z64)
        r = np.asarray(BANDIT.reward(outcome))
        psi = jax.jacfwd(BANDIT.log_prob)(p64, outcome)
        psi = np.concatenate([np.asarray(x).reshape(len(r), -1) for x in jax.tree.leaves(psi)], axis=1)

        def reward_of(p, z):
            return BANDIT.reward(BANDIT.sample(p, jax.tree.map(lambda x: x[None], z)))[0]

        d = jax.vmap(jax.grad(reward_of), in_axes=(None, 0))(p64, z64)
        d = np.concatenate([np.asarray(x).reshape(len(r), -1) for x in jax.tree.leaves(d)], axis=1)
    return r, psi, d


#: One of each sub-batching scheme: an i.i.d. mean (score function, pathwise), the two-pass centred baselines,
#: the batch optimal baseline's two passes (the batch-mean baseline is the leave-one-out one without its scale).
EXACT = ("reinforce", "pathwise", "leave_one_out", "optimal_baseline_batch")


@jax.jit
def _both(key, noise):
    """Per estimator of EXACT: (one call on the replayed samples, sub-batched estimate), in one program."""
    params = BANDIT.init_params()
    replay = Replay(BANDIT, noise)
    out = {}
    for name in EXACT:
        estimator = make_estimator(name)
        out[name] = (estimator(key, params, replay, N), estimator.sub_batched(key, params, BANDIT, N, BLOCK))
    loo = make_estimator("leave_one_out")  # at n = block: the estimator's own call, not sub-batched
    out["at_block"] = (loo(key, params, BANDIT, BLOCK), estimate(loo, key, params, BANDIT, BLOCK, BLOCK))
    return out


def test_sub_batched_is_the_one_call_estimate_of_the_same_samples():
    """For every sub-batching scheme, the sub-batched estimate equals the one-call estimate of the same n samples
    (drawn as the blocks draw them) up to the error bound of float32 summation (Higham, "Accuracy and Stability
    of Numerical Algorithms": a sum of n terms has |error| <= gamma_n sum_i |t_i|, gamma_n = n u / (1 - n u);
    gamma_{n+8} covers the scalings and the block sums) over the terms' magnitudes, plus the shared statistic's
    own rounding (rbar, or b_c) times mean_i |psi_i|. The one-call estimate of the key's own samples differs, and
    at n = block the engine's estimate is the estimator's own call, bit for bit."""
    params = BANDIT.init_params()
    gamma = (N + 8) * EPS32 / (1 - (N + 8) * EPS32)
    key = jax.random.key(11)
    noise = _blocks_noise(key, N, BLOCK)
    results = _both(key, noise)
    r, psi, d = _per_sample(params, noise)
    for name in EXACT:
        one_call, sub = (_flat(x) for x in results[name])
        if name == "pathwise":
            terms, shared = np.abs(d), 0.0
        elif name == "reinforce":
            terms, shared = np.abs(r[:, None] * psi), 0.0
        elif name == "optimal_baseline_batch":
            b = np.sum(r[:, None] * psi**2, 0) / np.sum(psi**2, 0)
            terms = np.abs((r[:, None] - b) * psi)
            shared = (np.sum(np.abs(r)[:, None] * psi**2, 0) / np.sum(psi**2, 0) + np.abs(b)) * 2
        else:
            scale = N / (N - 1)
            terms = np.abs((r - r.mean())[:, None] * psi) * scale
            shared = np.mean(np.abs(r)) * scale
        bound = gamma * (np.mean(terms, 0) + shared * np.mean(np.abs(psi), 0)) + 4 * EPS32 * np.abs(one_call)
        assert np.all(np.abs(sub - one_call) <= bound), (name, sub, one_call, bound)
        # and the samples are not those of one call with the key: the sub-batches draw their own
        assert np.max(np.abs(sub - one_call)) < 1e-3 * np.max(np.abs(one_call))
    np.testing.assert_array_equal(*(_flat(x) for x in results["at_block"]))
    reinforce_own = _flat(make_estimator("reinforce")(key, params, BANDIT, N))
    assert not np.allclose(reinforce_own, _flat(results["reinforce"][1]), rtol=1e-3)


def test_the_engine_sub_batches_past_its_micro_batch_and_stays_unbiased():
    """run_sweep with a micro-batch of 64 samples: n = 200 is sub-batched (recorded in the execution), each seed's
    estimate is :func:`estimate` with its key (sub-batches of an eighth of the micro-batch), and the means over R seeds of REINFORCE and the leave-one-out
    baseline (the two kinds of scheme) are within z standard errors of the exact gradient: a two-sided test at
    alpha = 1e-6 overall, Bonferroni over the estimators x P coordinates."""
    from pgjax.engine import seed_key
    from pgjax.engine.sweep import sub_batch_samples

    params = BANDIT.init_params()
    names = ("reinforce", "leave_one_out")
    estimators = {name: make_estimator(name) for name in names}
    r_seeds = 1000
    sweep = run_sweep(BANDIT, params, estimators, (N,), r_seeds, seed=3, micro_batch_elements=BLOCK, fuse=True)
    assert sweep.execution["sub_batched_ns"] == [N]
    key5 = seed_key(jax.random.key(3), 5, N)
    block = sub_batch_samples(BLOCK)  # 8: n = 200 is 25 sub-batches
    assert sweep.execution["sub_batch_samples"] == block
    loo = estimators["leave_one_out"]
    via = _flat(jax.jit(lambda k: estimate(loo, k, params, BANDIT, N, block, BLOCK))(key5))
    np.testing.assert_allclose(sweep.estimates["leave_one_out"][N][5], via, rtol=2e-6, atol=1e-7)
    z = stats.norm.isf(1e-6 / (2 * len(names) * sweep.true_grad.size))
    for name in names:
        x = np.asarray(sweep.estimates[name][N], np.float64)
        se = x.std(0, ddof=1) / np.sqrt(r_seeds)
        assert np.all(np.abs(x.mean(0) - sweep.true_grad) <= z * se), (name, (x.mean(0) - sweep.true_grad) / se)

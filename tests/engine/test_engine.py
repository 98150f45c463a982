"""Tests for the sweep engine: reproducibility (per-seed keys), chunking, jit, common random numbers, errors.

Most checks here are exact (bit-identical arrays) or float32-rounding comparisons. One statistical check runs
the engine end to end and applies the unbiasedness and variance tests of pgjax/analysis/stats.py (false-failure rate
~1e-6, stated next to it). Compiling is the main cost, so a few module-scoped sweeps are shared by many tests.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from pgjax.analysis.stats import unbiasedness_z, variance_se
from pgjax.engine import (
    DEFAULT_MAX_MEMORY_BYTES,
    FUSED,
    MAX_CALLS_IN_FLIGHT,
    MICRO_BATCH_ELEMENTS,
    calls_in_flight,
    default_micro_batch_elements,
    micro_batch_groups,
    micro_batch_size,
    run_sweep,
    seed_key,
)
from pgjax.errors import ConfigError
from pgjax.estimators import ConstantBaseline, Reinforce
from pgjax.estimators.trajectory import GAEGrid, RewardToGo
from pgjax.problems import Antithetic, LinearGaussianBandit, LinearQuadraticRegulator, exact_gradient
from pgjax.problems.base import SampleCost, sample_cost
from pgjax.problems.environment import EnvironmentProblem
from pgjax.problems.lqr import ParameterExploringLQR
from pgjax.tree_util import param_names

# A random state (both kinds of noise) in 3 dimensions, so that P = 4.
PROBLEM = LinearGaussianBandit.build(
    state=(1.0, 0.5, -0.3), theta=(0.6, -0.4, 0.2), sigma=0.8, state_std=(0.6, 0.3, 0.2), reward="gaussian_bump"
)
PARAMS = PROBLEM.init_params()
NAMES = ["theta[0]", "theta[1]", "theta[2]", "log_sigma"]
R = 100  # not a multiple of either chunk size
NS = (1, 3)  # n = 3: not a power of two
# Tiny micro-batches, so that every chunk is walked in several vmapped micro-batches and padded.
MICRO = 8
ESTIMATORS = {"reinforce": Reinforce(), "constant_baseline_0": ConstantBaseline(baseline=0.0)}


class _Progress:
    def __init__(self):
        self.calls: list[int] = []

    def __call__(self, count: int):
        self.calls.append(count)


E2E_SEEDS = 20_000


def _all_sweeps():
    """Every run_sweep call of this module, in one place so that one xdist worker compiles the programs and the
    later sweeps reuse them (the base seed, the seed indices and the chunking are runtime inputs)."""
    out = {}
    for chunk in (7, 64):
        progress = _Progress()
        sweep = run_sweep(
            PROBLEM, PARAMS, ESTIMATORS, NS, R, seed=3, chunk_size=chunk, micro_batch_elements=MICRO, progress=progress
        )
        out[chunk] = (sweep, progress.calls)
    out["subset"] = run_sweep(PROBLEM, PARAMS, ESTIMATORS, NS, 37, seed=3, chunk_size=7, micro_batch_elements=MICRO)
    out["seed4"] = run_sweep(PROBLEM, PARAMS, ESTIMATORS, NS, R, seed=4, chunk_size=7, micro_batch_elements=MICRO)
    out["e2e"] = run_sweep(
        PROBLEM, PARAMS, ESTIMATORS, NS, E2E_SEEDS, seed=11, chunk_size=64, micro_batch_elements=MICRO
    )
    # fused, with a chunk size over the number of seeds (the engine clamps it)
    out["fused"] = run_sweep(
        PROBLEM, PARAMS, ESTIMATORS, NS, FUSED_SEEDS, seed=3, chunk_size=1000, micro_batch_elements=MICRO, fuse=True
    )
    return out


FUSED_SEEDS = 20
LQR = LinearQuadraticRegulator.scalar(horizon=4)
LQR_N = 2
LQR_SEEDS = 8
#: Two plain estimators and one with an output per name (GAE at two lambdas from one rollout).
LQR_ESTIMATORS = {
    "reinforce": Reinforce(),
    "reward_to_go": RewardToGo(),
    ("gae_0.5", "gae_1"): GAEGrid(lams=(0.5, 1.0)),
}


def _lqr_sweeps():
    """On LQR: all estimators fused at the default micro-batch (from the problem's sample cost), the two plain
    ones apart and the GAE grid alone (one (R, 2P) block) at the explicit micro-batch experiments used."""
    params = LQR.init_params()
    explicit = dict(seed=1, micro_batch_elements=max(1, MICRO_BATCH_ELEMENTS // LQR.horizon))
    plain = {k: v for k, v in LQR_ESTIMATORS.items() if isinstance(k, str)}
    return {
        "fused": run_sweep(LQR, params, LQR_ESTIMATORS, (LQR_N,), LQR_SEEDS, seed=1, fuse=True),
        "apart": run_sweep(LQR, params, plain, (LQR_N,), LQR_SEEDS, **explicit),
        "grid": run_sweep(LQR, params, {"grid": LQR_ESTIMATORS[("gae_0.5", "gae_1")]}, (LQR_N,), LQR_SEEDS, **explicit),
    }


#: For ``computed_once`` (conftest.py): computed by one xdist worker, shared with the others.
EXPENSIVE_COMPUTATIONS = {"engine-sweeps": _all_sweeps, "engine-lqr-sweeps": _lqr_sweeps}


@pytest.fixture(scope="module")
def sweeps(computed_once):
    """Sweeps of the same seeds with chunk sizes 7 and 64 (with the counts their progress callbacks got), a
    37-seed subset, another base seed, and a 20000-seed sweep for the statistical check."""
    return computed_once("engine-sweeps")


def test_output_shapes_and_metadata(sweeps):
    sweep, _ = sweeps[7]
    assert sweep.param_names == NAMES == param_names(PARAMS)
    assert sweep.ns == NS and sweep.n_seeds == R and sweep.chunk_size == 7 and sweep.seed == 3
    assert sweep.execution["chunk_size"] == 7 and sweep.execution["max_seeds_in_flight"] == MICRO
    assert list(sweep.estimates) == list(ESTIMATORS)
    for by_n in sweep.estimates.values():
        assert sorted(by_n) == list(NS)
        for x in by_n.values():
            assert x.shape == (R, len(NAMES)) and x.dtype == np.float32
            assert np.isfinite(x).all()
    assert sweep.true_grad.dtype == np.float64
    np.testing.assert_allclose(sweep.true_grad, _exact_grad64(), rtol=1e-6)


def _exact_grad64() -> np.ndarray:
    g = exact_gradient(PROBLEM, PARAMS)
    return np.concatenate([np.ravel(np.asarray(g.theta, np.float64)), [np.float64(g.log_sigma)]])


def test_true_grad_keeps_float64_precision(sweeps):
    sweep, _ = sweeps[7]
    np.testing.assert_allclose(sweep.true_grad, _exact_grad64(), rtol=1e-12)


def test_param_names_follow_coordinate_order():
    """Coordinate j of a flattened gradient is param_names[j]: perturb one leaf entry, see which column moves."""
    base = np.asarray(ravel_pytree(PARAMS)[0])
    moved = PARAMS.replace(theta=PARAMS.theta.at[1].add(1.0))
    diff = np.asarray(ravel_pytree(moved)[0]) - base
    assert NAMES[int(np.argmax(diff))] == "theta[1]"
    moved = PARAMS.replace(log_sigma=PARAMS.log_sigma + 1.0)
    diff = np.asarray(ravel_pytree(moved)[0]) - base
    assert NAMES[int(np.argmax(diff))] == "log_sigma"


def test_estimates_do_not_depend_on_chunk_size(sweeps):
    a, _ = sweeps[7]
    b, _ = sweeps[64]
    for name in ESTIMATORS:
        for n in NS:
            np.testing.assert_array_equal(a.estimates[name][n], b.estimates[name][n], err_msg=f"{name} n={n}")


def test_a_seed_does_not_depend_on_which_other_seeds_ran(sweeps):
    """Seeds 0..36 alone give the same bits as the same seeds inside the 100-seed sweep."""
    full, _ = sweeps[7]
    subset = sweeps["subset"]
    assert subset.n_seeds == 37
    for name in ESTIMATORS:
        for n in NS:
            np.testing.assert_array_equal(subset.estimates[name][n], full.estimates[name][n][:37])


def test_different_seeds_give_different_estimates(sweeps):
    sweep, _ = sweeps[7]
    for n in NS:
        x = sweep.estimates["reinforce"][n]
        assert len(np.unique(x, axis=0)) == R  # every seed is its own draw
        assert len(np.unique(x[:, -1])) == R
    other = sweeps["seed4"]
    for n in NS:
        assert not np.any(np.all(other.estimates["reinforce"][n] == sweep.estimates["reinforce"][n], axis=1))


def _flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(leaf)) for leaf in jax.tree.leaves(tree)])


def test_jit_and_eager_agree(sweeps):
    """The engine's compiled, vmapped estimates equal the estimator called eagerly (no jit) on the seed's key,
    to float32 rounding."""
    sweep, _ = sweeps[64]
    base_key = jax.random.key(3)
    for name, estimator in ESTIMATORS.items():
        for n in NS:
            for seed in (0, 57, R - 1):
                with jax.disable_jit():
                    eager = _flat(estimator(seed_key(base_key, seed, n), PARAMS, PROBLEM, n))
                engine = sweep.estimates[name][n][seed]
                np.testing.assert_allclose(
                    engine, eager, rtol=1e-5, atol=1e-6 * np.abs(eager).max(), err_msg=f"{name} n={n} seed={seed}"
                )


def test_common_random_numbers_at_powers_of_two(sweeps):
    """reinforce and constant_baseline with b = 0 see the same samples: bit-identical estimates (n = 1)."""
    sweep, _ = sweeps[7]
    np.testing.assert_array_equal(sweep.estimates["constant_baseline_0"][1], sweep.estimates["reinforce"][1])


def test_common_random_numbers_agree_to_rounding(sweeps):
    """At every n the two agree to float32 rounding (so they do share their samples)."""
    sweep, _ = sweeps[7]
    for n in NS:
        a, b = sweep.estimates["constant_baseline_0"][n], sweep.estimates["reinforce"][n]
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * np.abs(b).max())


def test_common_random_numbers_bit_identical_at_n3(sweeps):
    sweep, _ = sweeps[7]
    np.testing.assert_array_equal(sweep.estimates["constant_baseline_0"][3], sweep.estimates["reinforce"][3])


def test_progress_counts_sum_to_seeds_per_estimator(sweeps):
    """Estimators run one after the other, so the running total of the counts passes through R after the first
    estimator and ends at 2 R after the second; no count is negative."""
    for chunk in (7, 64):
        _, calls = sweeps[chunk]
        assert len(calls) >= len(ESTIMATORS) and all(c >= 0 for c in calls), calls
        running = np.cumsum(calls)
        assert running[-1] == len(ESTIMATORS) * R, calls
        assert R in running, calls  # the first estimator's counts sum to R


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(ns=(0,), n_seeds=10), "sample size"),
        (dict(ns=(1, -2), n_seeds=10), "sample size"),
        (dict(ns=(), n_seeds=10), "sample size"),
        (dict(ns=(1,), n_seeds=0), "n_seeds"),
        (dict(ns=(1,), n_seeds=-5), "n_seeds"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, field):
    with pytest.raises(ValueError, match=field):
        run_sweep(PROBLEM, PARAMS, ESTIMATORS, **kwargs)


def test_micro_batch_size_is_a_power_of_two_set_by_n():
    sizes = [micro_batch_size(n) for n in (1, 2, 3, 5, 100, 4096, 10**6)]
    assert all(1 <= b <= 256 and b & (b - 1) == 0 for b in sizes)
    assert sizes == sorted(sizes, reverse=True)  # fewer seeds per micro-batch as n grows
    assert [micro_batch_size(n, 8) for n in (1, 2, 3, 4, 5, 8, 1000)] == [8, 4, 2, 2, 1, 1, 1]


def test_calls_in_flight_follow_the_budget_and_the_chunk_size():
    mib = 2**20
    assert calls_in_flight(10 * mib, 256, max_memory_bytes=35 * mib) == 3  # the budget binds
    assert calls_in_flight(mib, 256, max_memory_bytes=DEFAULT_MAX_MEMORY_BYTES) == MAX_CALLS_IN_FLIGHT
    assert calls_in_flight(mib, 256, max_memory_bytes=2 * mib, chunk_size=4096) == 2
    assert calls_in_flight(mib, 256, max_memory_bytes=64 * mib, chunk_size=1024) == 4  # the chunk size binds
    assert calls_in_flight(mib, 256, max_memory_bytes=64 * mib, chunk_size=7) == 1  # at least one call
    assert calls_in_flight(None, 256, max_memory_bytes=1) == MAX_CALLS_IN_FLIGHT  # no memory analysis
    assert calls_in_flight(mib, 1, max_memory_bytes=mib) == 1  # exactly fits
    with pytest.raises(ConfigError, match="--max-memory"):
        calls_in_flight(mib + 1, 1, max_memory_bytes=mib)


def _budget_sweep(max_memory_bytes):
    return run_sweep(
        PROBLEM, PARAMS, ESTIMATORS, NS, R, seed=3, micro_batch_elements=MICRO, max_memory_bytes=max_memory_bytes
    )


def test_the_chunk_follows_the_memory_budget_and_never_changes_a_bit(sweeps):
    """The host-side chunk is derived from the budget (default: as many calls as fit, up to the cap); the
    per-seed estimates are the same bits for every budget and every chunk size."""
    default = _budget_sweep(None)
    execution = default.execution
    per_call = execution["peak_device_bytes_per_micro_batch"]
    assert per_call > 0 and execution["max_memory_bytes"] == DEFAULT_MAX_MEMORY_BYTES
    calls = -(-R // MICRO)  # n = 1: MICRO seeds per call; never more calls in flight than there are
    assert execution["max_seeds_in_flight"] == min(MAX_CALLS_IN_FLIGHT, calls) * MICRO
    tight = _budget_sweep(per_call)  # one call of the largest program in flight
    assert tight.execution["max_seeds_in_flight"] < execution["max_seeds_in_flight"]
    assert tight.execution["max_device_bytes_in_flight"] <= per_call
    chunked, _ = sweeps[7]
    for other in (tight, chunked):
        for name in ESTIMATORS:
            for n in NS:
                np.testing.assert_array_equal(other.estimates[name][n], default.estimates[name][n])


def test_a_budget_below_one_micro_batch_is_a_one_line_error_naming_max_memory():
    with pytest.raises(ConfigError) as info:
        _budget_sweep(1000)
    message = str(info.value)
    assert info.value.field == "max_memory" and message.startswith("--max-memory: ")
    assert "\n" not in message and "reinforce at n = " in message and "micro-batch" in message


# Family: 2 sample sizes x 4 coordinates x (mean, variance) = 16 checks; z Bonferroni over them, so a correct
# engine fails by chance with probability ~1e-6.
Z_E2E = unbiasedness_z(16, 1e-6)


def test_engine_end_to_end_is_unbiased_with_exact_variance(sweeps):
    """Statistics through run_sweep's chunks and micro-batches (20000 seeds, chunks of 64, micro-batches of at
    most 8 seeds): reinforce is unbiased, with the exact single-sample variance, at n = 1 and 3."""
    sweep = sweeps["e2e"]
    assert sweep.n_seeds == E2E_SEEDS
    exact = Reinforce().single_sample_variance(PROBLEM, PARAMS)
    exact = np.concatenate([np.ravel(exact.theta), [exact.log_sigma]])
    for n in NS:
        x = sweep.estimates["reinforce"][n].astype(np.float64)
        m, se = x.mean(axis=0), x.std(axis=0, ddof=1) / np.sqrt(E2E_SEEDS)
        assert np.all(np.abs(m - sweep.true_grad) <= Z_E2E * se), (n, m, sweep.true_grad, se)
        n_var, n_se = n * x.var(axis=0, ddof=1), n * np.asarray(variance_se(x))
        assert np.all(np.abs(n_var - exact) <= Z_E2E * n_se), (n, n_var, exact, n_se)
        # Power: the mean of batch_mean_baseline, (1 - 1/n) grad J, would be rejected at n = 3.
        if n > 1:
            shrunk = (1 - 1 / n) * sweep.true_grad
            detectable = np.abs(sweep.true_grad) / n > (Z_E2E + 5) * se
            assert detectable.sum() >= 2
            assert np.all(np.abs(m - shrunk)[detectable] > Z_E2E * se[detectable])


# ------------------------------------------------------------------------------------------------ fusion
def test_a_fused_sweep_is_keyed_and_numbered_as_separate_sweeps_on_the_bandit(sweeps):
    fused, apart = sweeps["fused"], sweeps[7][0]
    assert list(fused.estimates) == list(ESTIMATORS)
    for name in ESTIMATORS:
        for n in NS:
            assert fused.estimates[name][n].shape == (FUSED_SEEDS, len(NAMES))
            # a seed's numbers do not depend on the other seeds: the first 20 of the 100-seed sweep
            np.testing.assert_array_equal(fused.estimates[name][n], apart.estimates[name][n][:FUSED_SEEDS])


def test_a_fused_sweep_says_so_and_compiles_one_program_per_micro_batch_size(sweeps):
    fused, apart = sweeps["fused"], sweeps[7][0]
    groups = len(micro_batch_groups(NS, MICRO))
    assert groups == 2  # so that the counts below tell one program from one per estimator
    assert fused.execution["fused"] is True and apart.execution["fused"] is False
    assert fused.execution["compiles"] == groups and apart.execution["compiles"] == groups * len(ESTIMATORS)
    # the one program's timings, under its name (each estimator's share of it is not measurable)
    assert list(fused.compile_seconds) == list(fused.run_seconds) == [FUSED]


def test_the_chunk_size_is_clamped_to_the_number_of_seeds(sweeps):
    fused = sweeps["fused"]
    assert fused.chunk_size == fused.execution["chunk_size"] == FUSED_SEEDS


@pytest.fixture(scope="module")
def lqr_sweeps(computed_once):
    return computed_once("engine-lqr-sweeps")


def test_a_fused_sweep_on_lqr_equals_the_separate_programs(lqr_sweeps):
    fused, apart, grid = lqr_sweeps["fused"], lqr_sweeps["apart"], lqr_sweeps["grid"]
    assert list(fused.estimates) == ["reinforce", "reward_to_go", "gae_0.5", "gae_1"]
    for name in ("reinforce", "reward_to_go"):
        np.testing.assert_array_equal(fused.estimates[name][LQR_N], apart.estimates[name][LQR_N])
    # the GAE grid's (R, 2P) block is split into one (R, P) entry per name of its key, in order
    block = grid.estimates["grid"][LQR_N]
    width = len(fused.param_names)
    assert block.shape == (LQR_SEEDS, 2 * width)
    np.testing.assert_array_equal(fused.estimates["gae_0.5"][LQR_N], block[:, :width])
    np.testing.assert_array_equal(fused.estimates["gae_1"][LQR_N], block[:, width:])
    assert fused.execution["fused"] is True and fused.execution["compiles"] == 1


def test_the_default_micro_batch_comes_from_the_problems_sample_cost(lqr_sweeps):
    # the fused sweep took the default; the separate ones the value the experiments computed by hand
    assert lqr_sweeps["fused"].execution["micro_batch_elements"] == MICRO_BATCH_ELEMENTS // LQR.horizon
    assert lqr_sweeps["apart"].execution["micro_batch_elements"] == MICRO_BATCH_ELEMENTS // LQR.horizon
    assert default_micro_batch_elements(LQR) == MICRO_BATCH_ELEMENTS // 4
    assert default_micro_batch_elements(PROBLEM) == MICRO_BATCH_ELEMENTS  # a bandit sample is one step


def test_sample_cost_is_declared_by_episodic_problems_and_passes_through_wrappers():
    assert isinstance(LQR, SampleCost) and sample_cost(LQR) == 4
    assert sample_cost(LQR.with_horizon(50)) == 50
    assert sample_cost(Antithetic(LQR.with_horizon(7))) == 7  # Antithetic delegates to its problem
    assert sample_cost(ParameterExploringLQR(base=LQR.with_horizon(3))) == 3
    assert sample_cost(EnvironmentProblem(environment=None, policy=None, horizon=200)) == 200
    assert not isinstance(PROBLEM, SampleCost) and sample_cost(PROBLEM) == 1
    assert sample_cost(Antithetic(PROBLEM)) == 1
    assert default_micro_batch_elements(LQR.with_horizon(MICRO_BATCH_ELEMENTS * 2)) == 1  # never below one


def test_estimator_keys_must_be_distinct_names():
    with pytest.raises(ValueError, match="distinct"):
        run_sweep(PROBLEM, PARAMS, {"reinforce": Reinforce(), ("a", "reinforce"): Reinforce()}, (1,), 2)
    with pytest.raises(TypeError, match="names"):
        run_sweep(PROBLEM, PARAMS, {(): Reinforce()}, (1,), 2)

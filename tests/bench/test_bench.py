"""Tests for pgjax.bench.score: the output files, and the correctness of the NumPy rivals.

No timing is asserted (the machines are shared and noisy). The statistical test of the NumPy expert rival
states its false-failure rate: 1e-6 for the whole test (Bonferroni over its comparisons), under the normal
approximation of a mean or a sample variance over R = 4000 seeds. Fixed seeds make a run reproducible.
"""

from __future__ import annotations

import inspect
import json
import math
import statistics

import jax
import numpy as np
import pytest

from pgjax.bench import score as bench
from pgjax.engine import run_sweep, seed_key
from pgjax.estimators.score_function import Reinforce
from pgjax.problems.base import exact_gradient
from pgjax.tree_util import ravel

REQUIRED_KEYS = ("samples_per_s", "ratio_vs_rng_limit", "ratio_vs_numpy_vectorized", "ratio_vs_python_loop")
ALPHA = 1e-6


def _z(tests: int) -> float:
    return statistics.NormalDist().inv_cdf(1.0 - ALPHA / (2.0 * tests))


def test_run_benchmark_writes_json_and_markdown(tmp_path):
    result = bench.run_benchmark(d=8, n_seeds=64, n=256, repeats=1, python_loop_seeds=2, out_dir=tmp_path)
    data = json.loads((tmp_path / bench.JSON_FILE).read_text(encoding="utf-8"))
    for key in REQUIRED_KEYS:
        assert isinstance(data[key], float) and math.isfinite(data[key]) and data[key] > 0, key
        assert data[key] == pytest.approx(result[key])
    for name, rate in data["rates_samples_per_s"].items():
        assert math.isfinite(rate) and rate > 0, name
    assert isinstance(data["device"], str) and data["device"]
    assert data["n_devices"] == len(jax.devices())
    assert data["versions"]["jax"] == jax.__version__ and data["versions"]["numpy"] == np.__version__
    assert data["sizes"] == {**data["sizes"], "d": 8, "n_seeds": 64, "n": 256, "samples": 64 * 256}
    assert data["checks"]["passed"] is True
    assert not list(tmp_path.glob("*.tmp-*")), "temporary files left behind"
    # Both JAX contenders are timed through the engine's real path.
    assert data["engine"]["path"] == "pgjax.engine.run_sweep"
    assert data["engine"]["chunk_size"] == 64
    assert data["engine"]["micro_batch_seeds"] == data["sizes"]["micro_batch_seeds"]
    assert data["engine"]["program_calls_per_round"] * data["sizes"]["micro_batch_seeds"] >= 64
    assert set(data["compile_seconds"]) == {"estimator", "rng_limit"}
    assert "rng_limit_sum_vs_zero" in data["checks"]["max_abs_z"]
    # Both generators, each against its own RNG limit, checked against the exact gradient like the default.
    assert list(data["by_prng"]) == ["threefry", "threefry-fast"]
    for row in data["by_prng"].values():
        assert row["ratio_vs_rng_limit"] == pytest.approx(row["samples_per_s"] / row["rng_limit_samples_per_s"])
        assert set(row["targets_met"]) == {"ratio_vs_rng_limit", "ratio_vs_numpy_vectorized"}
    assert data["by_prng"]["threefry"]["samples_per_s"] == data["samples_per_s"]
    assert {"jax_threefry-fast_vs_exact", "rng_limit_threefry-fast_sum_vs_zero"} <= set(data["checks"]["max_abs_z"])

    markdown = (tmp_path / bench.MARKDOWN_FILE).read_text(encoding="utf-8")
    assert inspect.getsource(bench.numpy_expert_reinforce).rstrip() in markdown
    assert inspect.getsource(bench.python_loop_reinforce).rstrip() in markdown
    assert data["device"] in markdown
    for label in ("RNG limit", "NumPy, vectorised expert", "Python loop", "Targets", "`threefry-fast`"):
        assert label in markdown
    assert "_run_chunk" not in markdown and "lax.map" not in markdown
    assert "run_sweep" in markdown


def test_rng_limit_estimator_draws_the_estimators_normals():
    """DrawNormals, run by the engine, returns per seed the sum of exactly the normals Reinforce is given."""
    problem = bench.bench_problem(3)
    params = problem.init_params()
    n_seeds, n = 8, 64
    sweep = run_sweep(problem, params, {"rng": bench.DrawNormals()}, (n,), n_seeds, seed=5, chunk_size=n_seeds)
    sums = sweep.estimates["rng"][n]
    assert sums.shape == (n_seeds, 4)
    np.testing.assert_array_equal(sums, np.repeat(sums[:, :1], 4, axis=1))
    expected = [
        float(jax.numpy.sum(problem.sample_noise(seed_key(jax.random.key(5), i, n), n)["eps"])) for i in range(n_seeds)
    ]
    np.testing.assert_allclose(sums[:, 0], expected, rtol=1e-5, atol=1e-4)
    assert hash(bench.DrawNormals()) == hash(bench.DrawNormals())  # a static argument of the engine's jit


def test_engine_timer_reports_run_seconds_without_compilation():
    problem = bench.bench_problem(3)
    timer = bench.EngineTimer(problem, problem.init_params(), bench.DrawNormals(), "rng", n_seeds=4, n=16)
    seconds = timer()
    assert seconds == timer.sweep.run_seconds["rng"] and 0 < seconds <= timer.call_seconds[-1]
    assert timer.compile_seconds[-1] == timer.sweep.compile_seconds["rng"]
    assert timer.estimates().shape == (4, 4)


def test_main_rejects_bad_sizes_without_writing(tmp_path, capsys):
    out = tmp_path / "bench"
    assert bench.main(["--quick", "--seeds", "0", "--out", str(out)]) == 2
    assert "n_seeds" in capsys.readouterr().err
    assert not out.exists()


def test_numpy_expert_matches_jax_estimator_in_distribution():
    """The NumPy rival computes the same estimator: same mean as pgjax's Reinforce and as the exact gradient,
    and the exact variance Var_1 / n, per coordinate. Family-wise false-failure rate 1e-6."""
    problem = bench.bench_problem(8, sigma=0.7, target=0.4)  # sigma != 1 and target != 1 expose slips
    params = problem.init_params()
    n_seeds, n = 4000, 32
    sweep = run_sweep(problem, params, {"reinforce": Reinforce()}, (n,), n_seeds, seed=3)
    jax_est = sweep.estimates["reinforce"][n]
    args = (
        np.arange(10**6, 10**6 + n_seeds),
        n,
        np.asarray(problem.state_mean, np.float32),
        np.asarray(problem.theta0, np.float32),
        problem.sigma0,
        problem.reward_function.target,
    )
    numpy_est = bench.numpy_expert_reinforce(*args, block=64)
    assert numpy_est.shape == jax_est.shape == (n_seeds, 9)
    assert numpy_est.dtype == np.float32

    # Per-seed streams: blocking, threading do not change a bit.
    np.testing.assert_array_equal(numpy_est, bench.numpy_expert_reinforce(*args, block=7, workers=3))

    true_grad = np.asarray(ravel(exact_gradient(problem, params)), np.float64)
    var_exact = np.asarray(ravel(Reinforce().single_sample_variance(problem, params)), np.float64) / n
    z = _z(tests=4 * 9)  # 3 mean comparisons + 1 variance comparison, 9 coordinates each

    np.testing.assert_array_less(np.abs(bench.mean_agreement(numpy_est, jax_est)), z)
    np.testing.assert_array_less(np.abs(bench.mean_agreement(numpy_est, truth=true_grad)), z)
    np.testing.assert_array_less(np.abs(bench.mean_agreement(jax_est, truth=true_grad)), z)

    x = numpy_est.astype(np.float64)
    dev = x - x.mean(axis=0)
    var = dev.var(axis=0, ddof=1)
    m4 = np.mean(dev**4, axis=0)
    se_var = np.sqrt((m4 - var**2 * (n_seeds - 3) / (n_seeds - 1)) / n_seeds)
    np.testing.assert_array_less(np.abs(var - var_exact) / se_var, z)


def test_python_loop_matches_numpy_on_its_own_draws():
    problem = bench.bench_problem(3)
    seeds, n = np.arange(3), 50
    state, theta = list(problem.state_mean), list(problem.theta0)
    loop = bench.python_loop_reinforce(seeds, n, state, theta, 1.0, 1.0)
    assert loop.shape == (3, 4)
    assert bench._check_python_loop(loop, seeds, n, state, theta, 1.0, 1.0) < 1e-9

"""The engine's PRNG choice (pgjax/engine/prng.py; the generator itself is tested in tests/test_threefry.py):
through the engine, the fast path gives per-seed estimates that do not depend on the chunk size or the seed
range, an unbiased estimator, score-function estimates in one pass where the problem gives them (the same
numbers as the default path's to float32 rounding), and a manifest that names it."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import stats

from pgjax import cli
from pgjax import io as pio
from pgjax.engine import run_sweep
from pgjax.engine.prng import PRNGS
from pgjax.errors import ConfigError
from pgjax.estimators.score_function import Reinforce
from pgjax.problems.bandit import LinearGaussianBandit

PROBLEM = LinearGaussianBandit.build(state=(0.5, 1.5), theta=(0.2, -0.1), sigma=1.0, reward="quadratic")
N_SEEDS, N = 300, 32  # 300: not a multiple of the micro-batch (256 seeds at n = 32)


@pytest.fixture(scope="module")
def fast_sweep():
    return run_sweep(PROBLEM, PROBLEM.init_params(), {"reinforce": Reinforce()}, (N,), N_SEEDS, prng="threefry-fast")


def test_fast_prng_estimates_are_bit_identical_across_chunks_and_seed_ranges(fast_sweep):
    params = PROBLEM.init_params()
    whole = fast_sweep.estimates["reinforce"][N]
    part = run_sweep(
        PROBLEM,
        params,
        {"reinforce": Reinforce()},
        (N,),
        N_SEEDS,
        chunk_size=1,
        seed_range=(250, 300),
        prng="threefry-fast",
    )
    assert part.chunk_size < fast_sweep.chunk_size  # one call in flight instead of all
    assert np.array_equal(part.estimates["reinforce"][N], whole[250:])
    assert fast_sweep.execution["prng"] == part.execution["prng"] == "threefry-fast"
    assert "compiler_options" not in fast_sweep.execution  # the bandit keeps XLA's defaults


def test_fast_prng_reinforce_is_unbiased(fast_sweep):
    """Per coordinate, z = (mean - exact) / (sd / sqrt(R)) with R = 300 seeds; two-sided, Bonferroni over the
    P = 3 coordinates at family-wise alpha = 1e-6 (a t quantile: the sd is estimated)."""
    x = fast_sweep.estimates["reinforce"][N].astype(np.float64)
    z = (x.mean(0) - fast_sweep.true_grad) / (x.std(0, ddof=1) / np.sqrt(N_SEEDS))
    bound = stats.t.ppf(1 - 1e-6 / (2 * x.shape[1]), N_SEEDS - 1)
    assert np.all(np.abs(z) < bound), (z, bound)


def test_fast_path_takes_score_sums_in_one_pass_and_keeps_the_numbers(monkeypatch):
    """Through the engine, the score-function estimators built on weighted_score_mean (plain, constant
    baseline, batch mean, leave-one-out) use the fixed-state bandit's one-pass score mean on the fast path and
    autodiff on the default one, and the per-seed estimates of the two paths (the same draws) agree to float32
    rounding. A random-state bandit has no one-pass form: its fast path falls back to autodiff."""
    import dataclasses

    from pgjax.estimators import make_estimator

    calls = []
    original = LinearGaussianBandit.score_mean_one_pass

    def recording(self, params, outcome, weights):
        result = original(self, params, outcome, weights)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(LinearGaussianBandit, "score_mean_one_pass", recording)
    names = ("reinforce", "constant_baseline", "batch_mean_baseline", "leave_one_out")
    estimators = {name: make_estimator(name) for name in names}
    params = PROBLEM.init_params()
    ns = (1, 9)
    default = run_sweep(PROBLEM, params, estimators, ns, 40)
    assert calls == []
    fast = run_sweep(PROBLEM, params, estimators, ns, 40, prng="threefry-fast")
    assert len(calls) == len(names) * len(ns) and all(calls)
    for name in names:
        for n in ns:
            a, b = default.estimates[name][n], fast.estimates[name][n]
            np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6 * np.abs(a).max())

    calls.clear()
    random_state = dataclasses.replace(PROBLEM, state_std=(0.2, 0.1))
    run_sweep(random_state, params, {"reinforce": Reinforce()}, (8,), 4, prng="threefry-fast")
    assert calls == [False]


def test_cli_records_the_prng_and_rejects_unknown_ones(tmp_path, capsys):
    small = ["--n-seeds", "8", "--ns", "4", "--estimators", "reinforce", "--no-figures"]
    out = tmp_path / "run"
    assert cli.main(["run", "bandit-variance", *small, "--prng", "threefry-fast", "--out", str(out)]) == 0
    assert pio.read_manifest(out)["execution"]["prng"] == "threefry-fast"
    capsys.readouterr()
    assert cli.main(["run", "bandit-variance", *small, "--prng", "mt19937", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "prng" in err and PRNGS[1] in err
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ConfigError, match="prng"):
        run_sweep(PROBLEM, PROBLEM.init_params(), {"reinforce": Reinforce()}, (N,), 2, prng="rbg")


def test_fast_path_compiles_environment_programs_without_ynnpack_on_a_cpu():
    from pgjax.engine.prng import ENVIRONMENT_CPU_OPTIONS, compiler_options
    from pgjax.problems.environment import EnvironmentProblem

    env = EnvironmentProblem(environment=None, policy=None, horizon=10)
    assert compiler_options("threefry-fast", env, "cpu") == ENVIRONMENT_CPU_OPTIONS
    assert ENVIRONMENT_CPU_OPTIONS == {"xla_cpu_experimental_ynn_fusion_type": ""}
    # The default generator keeps XLA's defaults (committed results keep their bits); so do other problems
    # (the bandit's large reductions are faster with YNNPACK) and other platforms.
    assert compiler_options("threefry", env, "cpu") == {}
    assert compiler_options("threefry-fast", PROBLEM, "cpu") == {}
    assert compiler_options("threefry-fast", env, "gpu") == {}


def test_fast_path_environment_estimates_are_bit_identical_across_chunks_and_seed_ranges(monkeypatch):
    """Through the engine, on CartPole: the fast path's program (its own compile options) gives every seed the
    same estimate whatever the chunk size and seed range; the engine asked for the environment options."""
    from pgjax.engine import sweep as sweep_module
    from pgjax.envs import make_environment
    from pgjax.estimators.trajectory import RewardToGo
    from pgjax.policies import make_policy
    from pgjax.problems.environment import EnvironmentProblem

    env = make_environment("cartpole")
    policy = make_policy("linear-softmax", env)
    params = jax.tree.map(lambda x: x + 0.3, policy.init(jax.random.key(0), env))  # away from uniform
    problem = EnvironmentProblem(env, policy, 20)
    asked = []
    original = sweep_module.compiler_options

    def recording(prng_name, prob, platform):
        options = original(prng_name, prob, platform)
        asked.append((prng_name, type(prob).__name__, options))
        return options

    monkeypatch.setattr(sweep_module, "compiler_options", recording)
    estimators = {"reinforce": Reinforce(), "reward_to_go": RewardToGo()}
    reference = np.zeros(
        sum(x.size for x in jax.tree.leaves(params))
    )  # no exact gradient: any reference will do, only the estimates are compared
    kwargs = dict(prng="threefry-fast", reference_gradient=reference)
    whole = run_sweep(problem, params, estimators, (3,), 40, **kwargs)
    part = run_sweep(problem, params, estimators, (3,), 40, chunk_size=1, seed_range=(25, 40), **kwargs)
    for name in estimators:
        x = whole.estimates[name][3]
        assert np.all(np.isfinite(x)) and np.array_equal(part.estimates[name][3], x[25:])
    options = {"xla_cpu_experimental_ynn_fusion_type": ""}
    assert asked and all(a == ("threefry-fast", "EnvironmentProblem", options) for a in asked)
    assert whole.execution["compiler_options"] == part.execution["compiler_options"] == options

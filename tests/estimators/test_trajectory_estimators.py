"""Tests for pgjax.estimators.trajectory on LQR: unbiasedness, exact variances, exact moments, identities.

Statistical tests use R seed-level estimates from the real engine (``pgjax.run_sweep``, all estimators
fused into one program) and reject at a family-wise false-failure rate of ALPHA = 1e-6 (Bonferroni over
every estimator x coordinate x problem tested together). Exact moments are checked against an independent
symbolic expansion (Isserlis' theorem on explicit polynomials) for the scalar system.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict

import jax
import numpy as np
import pytest

from pgjax.analysis import stats
from pgjax.engine import run_sweep
from pgjax.errors import ConfigError
from pgjax.estimators import ConstantBaseline, LeaveOneOutBaseline, Pathwise, Reinforce
from pgjax.estimators.trajectory import (
    GAE,
    TRAJECTORY_ESTIMATORS,
    Fused,
    GAEGrid,
    LearnedValueBaseline,
    PinnedOptimalBaseline,
    RewardToGo,
    RewardToGoOptimalBaseline,
    ValueBaseline,
    _quadratic_features,
    exact_moments,
    has_exact_moments,
    least_squares,
    make_trajectory_estimator,
    svd_one_at_a_time,
)
from pgjax.problems.lqr import LinearQuadraticRegulator, make_system

ALPHA = 1e-6
R = 20_000


def flat64(tree) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


def scalar_fixed():
    """x' = x + u, u = -0.5 x + 0.5 eps, x0 = 1, H = 3: the case expanded symbolically below."""
    return LinearQuadraticRegulator.scalar(horizon=3)


def double_integrator():
    return make_system(
        "double_integrator",
        horizon=4,
        gain=(-0.6, -1.2),
        sigma=0.5,
        x0=(1.0, 0.0),
        x0_std=0.2,
        process_std=0.05,
        discount=0.95,
    )


def estimators_for(problem, params):
    """Every estimator, the exact optimal baselines pinned (their in-graph form is tested separately)."""
    return {
        "reinforce": Reinforce(),
        "constant_baseline": ConstantBaseline(baseline=-2.0),
        "leave_one_out": LeaveOneOutBaseline(),
        "optimal_baseline_exact": PinnedOptimalBaseline().pinned(problem, params),
        "reward_to_go": RewardToGo(),
        "reward_to_go_optimal": RewardToGoOptimalBaseline().pinned(problem, params),
        "value_baseline": ValueBaseline(),
        "learned_value_baseline": LearnedValueBaseline(n_pilot=16),
        "gae_exact_0.5": GAE(lam=0.5, value="exact"),
        "gae_learned_0.5": GAE(lam=0.5, value="learned", n_pilot=16),
        "gae_stationary_0.5": GAE(lam=0.5, value="stationary"),
        "pathwise": Pathwise(),
    }


@pytest.fixture(scope="module")
def sweeps():
    """R single-trajectory estimates (n = 1) of every estimator on the double integrator (random start,
    process noise, discount), one compiled program. (The scalar system's exact moments are checked
    symbolically below; n > 1 is exercised by tests/experiments/test_lqr_experiments.py, whose tables compare n-sample
    variances with the exact ones.)"""
    out = {}
    for name, build in (("double_integrator", double_integrator),):
        problem = build()
        params = problem.init_params()
        ests = estimators_for(problem, params)
        sweep = run_sweep(
            problem, params, ests, (1,), R, seed=11, chunk_size=R, micro_batch_elements=1 << 14, fuse=True
        )
        out[name] = (problem, params, ests, sweep)
    return out


# --------------------------------------------------------------------------------- statistical checks
def test_unbiasedness_exact_bias_and_exact_variances(sweeps):
    """One test (so the sweep is computed once per worker), three checks, each at a family-wise
    false-failure rate of 1e-6 (Bonferroni over its estimators x coordinates):

    1. every unbiased estimator is unbiased: |mean - grad J| < z sd / sqrt(R);
    2. GAE(0.5) with the time-agnostic critic has its exact (non-zero) bias: |mean - exact mean| < z sd/sqrt(R),
       and the bias is large enough that check 1 would have caught it;
    3. every estimator with exact moments has its exact variance: |s^2 - sigma^2| < z se(s^2), se the
       heavy-tail-valid standard error of a sample variance; and the check discriminates (reward-to-go's exact
       variance is far outside REINFORCE's interval).
    """
    problem, params, ests, sweep = sweeps["double_integrator"]
    P = len(sweep.param_names)
    estimates = {name: sweep.estimates[name][1].astype(np.float64) for name in ests}
    se_mean = {name: x.std(axis=0, ddof=1) / math.sqrt(x.shape[0]) for name, x in estimates.items()}

    unbiased = [name for name, est in ests.items() if getattr(est, "unbiased", False)]
    assert len(unbiased) == len(ests) - 1
    z = stats.unbiasedness_z(len(unbiased) * P, ALPHA)
    for name in unbiased:
        err = np.abs(estimates[name].mean(axis=0) - sweep.true_grad)
        assert np.all(err < z * se_mean[name]), (name, estimates[name].mean(axis=0), sweep.true_grad)

    est = ests["gae_stationary_0.5"]
    assert not est.unbiased
    exact_mean = flat64(exact_moments(est, problem, params)["mean"])
    z = stats.unbiasedness_z(P, ALPHA)
    x = estimates["gae_stationary_0.5"]
    assert np.all(np.abs(x.mean(axis=0) - exact_mean) < z * se_mean["gae_stationary_0.5"])
    assert np.any(np.abs(exact_mean - sweep.true_grad) > 2 * z * se_mean["gae_stationary_0.5"])

    with_exact = [name for name, e in ests.items() if has_exact_moments(e)]
    assert {"reinforce", "reward_to_go", "value_baseline", "pathwise"} <= set(with_exact)
    z = stats.unbiasedness_z(len(with_exact) * P, ALPHA)
    for name in with_exact:
        exact = flat64(exact_moments(ests[name], problem, params)["var"])
        s2 = estimates[name].var(axis=0, ddof=1)
        se = np.asarray(stats.variance_se(estimates[name]))
        assert np.all(np.abs(s2 - exact) < z * se), (name, s2, exact, se)
    x = estimates["reinforce"]
    rtg = flat64(exact_moments(ests["reward_to_go"], problem, params)["var"])
    assert np.any(np.abs(x.var(axis=0, ddof=1) - rtg) > z * np.asarray(stats.variance_se(x)))


# ----------------------------------------------------------- exact moments against a symbolic expansion
class Poly:
    """A polynomial in independent standard normals: {exponent tuple: coefficient}."""

    def __init__(self, terms=None, nvars=0):
        self.terms = defaultdict(float, terms or {})
        self.nvars = nvars

    @classmethod
    def const(cls, c, nvars):
        return cls({(0,) * nvars: float(c)}, nvars)

    @classmethod
    def var(cls, i, nvars):
        e = [0] * nvars
        e[i] = 1
        return cls({tuple(e): 1.0}, nvars)

    def __add__(self, other):
        other = other if isinstance(other, Poly) else Poly.const(other, self.nvars)
        out = Poly(dict(self.terms), self.nvars)
        for k, v in other.terms.items():
            out.terms[k] += v
        return out

    __radd__ = __add__

    def __sub__(self, other):
        return self + (-1.0) * other

    def __mul__(self, other):
        if not isinstance(other, Poly):
            return Poly({k: v * other for k, v in self.terms.items()}, self.nvars)
        out = Poly(nvars=self.nvars)
        for k1, v1 in self.terms.items():
            for k2, v2 in other.terms.items():
                out.terms[tuple(a + b for a, b in zip(k1, k2))] += v1 * v2
        return out

    __rmul__ = __mul__

    def expect(self) -> float:
        """E by Isserlis' theorem for independent N(0, 1): E[xi^k] = (k - 1)!! for even k, 0 for odd k."""
        total = 0.0
        for k, v in self.terms.items():
            if any(e % 2 for e in k):
                continue
            total += v * math.prod(math.prod(range(e - 1, 0, -2)) for e in k)
        return total


def symbolic_moments(*, a, b, q, r, k, sigma, x0, x0_std, process_std, gamma, H):
    """E[g] and E[g^2] of the single-trajectory REINFORCE and reward-to-go estimates of the scalar system,
    per coordinate (K, log sigma), by explicit polynomial algebra in (z0, eps_0.., w_0..)."""
    nv = 1 + 2 * H
    z0 = Poly.var(0, nv)
    eps = [Poly.var(1 + t, nv) for t in range(H)]
    w = [Poly.var(1 + H + t, nv) for t in range(H)]
    x = x0 + x0_std * z0
    rewards, psi_k, psi_s = [], [], []
    for t in range(H):
        u = k * x + sigma * eps[t]
        rewards.append(-1.0 * (q * x * x + r * u * u))
        psi_k.append((1.0 / sigma) * eps[t] * x)
        psi_s.append(eps[t] * eps[t] - 1.0)
        x = a * x + b * u + process_std * w[t]
    G = sum((gamma**t * rewards[t] for t in range(H)), Poly.const(0, nv))
    out = {}
    for coord, psi in (("K", psi_k), ("log_sigma", psi_s)):
        reinforce = G * sum(psi, Poly.const(0, nv))
        rtg = sum(
            (psi[t] * sum((gamma**s * rewards[s] for s in range(t, H)), Poly.const(0, nv)) for t in range(H)),
            Poly.const(0, nv),
        )
        for name, g in (("reinforce", reinforce), ("reward_to_go", rtg)):
            out[(name, coord)] = (g.expect(), (g * g).expect())
    return out


@pytest.mark.parametrize(
    "setting",
    [
        dict(H=3, x0_std=0.0, process_std=0.0, gamma=1.0),
        dict(H=2, x0_std=0.3, process_std=0.2, gamma=0.9),
    ],
)
def test_exact_moments_equal_the_symbolic_isserlis_expansion(setting):
    system = dict(a=1.0, b=1.0, q=1.0, r=0.1, k=-0.5, sigma=0.5, x0=1.0)
    problem = LinearQuadraticRegulator.scalar(
        a=system["a"],
        b=system["b"],
        q=system["q"],
        r=system["r"],
        k=system["k"],
        sigma=system["sigma"],
        x0=system["x0"],
        horizon=setting["H"],
        x0_std=setting["x0_std"],
        process_std=setting["process_std"],
        discount=setting["gamma"],
    )
    expected = symbolic_moments(**system, **setting)
    with jax.enable_x64(True):
        params = problem.init_params()  # float64: log(sigma) without float32 rounding
    for name, est in (("reinforce", Reinforce()), ("reward_to_go", RewardToGo())):
        mom = exact_moments(est, problem, params)
        for j, coord in enumerate(("K", "log_sigma")):
            mean, second = expected[(name, coord)]
            assert flat64(mom["mean"])[j] == pytest.approx(mean, rel=1e-9, abs=1e-12), (name, coord)
            assert flat64(mom["second"])[j] == pytest.approx(second, rel=1e-9), (name, coord)
    # and the exact mean is the exact gradient
    from pgjax.problems.base import exact_gradient

    np.testing.assert_allclose(
        flat64(exact_moments(Reinforce(), problem, params)["mean"]), flat64(exact_gradient(problem, params)), rtol=1e-9
    )


# ------------------------------------------------------------------------------ identities between them
def _same_key_estimates(problem, params, estimators, n=8, key=jax.random.key(3)):
    return jax.jit(lambda p: Fused(tuple(estimators))(key, p, problem, n))(params)


def test_identities_on_the_same_key():
    """GAE(lambda=1, exact V) is the value baseline; at H = 1 reward-to-go is REINFORCE; Fused members and
    GAEGrid columns equal the separate estimators; pinned optimal baselines equal the in-graph ones; the
    one-pass (forward) reward-to-go equals the two-pass one."""
    problem = double_integrator()
    params = problem.init_params()
    grid = GAEGrid(lams=(0.5, 1.0), value="stationary")
    out = _same_key_estimates(
        problem,
        params,
        [
            GAE(lam=1.0),
            ValueBaseline(),
            GAE(lam=0.5, value="stationary"),
            grid,
            RewardToGoOptimalBaseline(),
            RewardToGoOptimalBaseline().pinned(problem, params),
            PinnedOptimalBaseline(),
            PinnedOptimalBaseline().pinned(problem, params),
            RewardToGo(),
            RewardToGo(forward=False),
        ],
    )
    close = lambda a, b, tol=1e-5: np.testing.assert_allclose(flat64(a), flat64(b), rtol=tol, atol=tol)
    close(out[0], out[1])
    close(out[2], out[3][0])
    close(out[4], out[5], 1e-4)
    close(out[6], out[7], 1e-4)
    close(out[8], out[9], 1e-4)
    h1 = LinearQuadraticRegulator.scalar(horizon=1, x0_std=0.5)
    a, b = _same_key_estimates(h1, h1.init_params(), [RewardToGo(), Reinforce()])
    close(a, b)


# ------------------------------------------------------------------------------- optimality of baselines
def test_optimal_baselines_minimise_the_exact_variance():
    """Moving any pinned optimal baseline (per coordinate, per time step) away from b* raises the exact
    single-sample variance of that coordinate."""
    problem = double_integrator()
    params = problem.init_params()
    ob = PinnedOptimalBaseline().pinned(problem, params)
    rtg = RewardToGoOptimalBaseline().pinned(problem, params)
    v_ob = flat64(exact_moments(ob, problem, params)["var"])
    v_rtg = flat64(exact_moments(rtg, problem, params)["var"])
    assert np.all(v_rtg < flat64(exact_moments(RewardToGo(), problem, params)["var"]))
    for delta in (-0.5, 0.5):
        moved = dataclasses.replace(ob, values=tuple(v + delta for v in ob.values))
        assert np.all(flat64(exact_moments(moved, problem, params)["var"]) > v_ob)
        moved = dataclasses.replace(rtg, values=tuple(tuple(v + delta for v in row) for row in rtg.values))
        assert np.all(flat64(exact_moments(moved, problem, params)["var"]) > v_rtg)


# --------------------------------------------------------------------------------------------- registry
def test_registry_builds_every_estimator_and_rejects_bad_input():
    for name in TRAJECTORY_ESTIMATORS:
        est = make_trajectory_estimator(name, baseline=-1.0, lam=0.9, value="exact", n_pilot=8)
        assert est.name == name
        hash(est)
    with pytest.raises(ConfigError, match="--estimators"):
        make_trajectory_estimator("nope")
    with pytest.raises(ConfigError, match="--lam"):
        GAE(lam=1.5)
    with pytest.raises(ConfigError, match="--value"):
        GAE(value="oracle")
    with pytest.raises(ValueError):
        exact_moments(GAE(value="learned"), scalar_fixed(), scalar_fixed().init_params())


# ------------------------------------------------------------------------------------------------- PGPE
def test_pgpe_estimators_are_unbiased():
    """REINFORCE, leave-one-out, symmetric sampling and pathwise on the PGPE problem (noise in the gain),
    against the exact gradient of the smoothed objective; family-wise false-failure rate 1e-6."""
    from pgjax.estimators.trajectory import SymmetricPGPE
    from pgjax.problems.lqr import ParameterExploringLQR

    base = make_system("scalar", horizon=3, gain=(-0.5,), sigma=1.0, x0=(1.0,), x0_std=0.3, process_std=0.1)
    problem = ParameterExploringLQR(base=base, sigma_K0=(0.3,))
    params = problem.init_params()
    ests = {"reinforce": Reinforce(), "loo": LeaveOneOutBaseline(), "sym": SymmetricPGPE(), "pathwise": Pathwise()}
    sweep = run_sweep(problem, params, ests, (4,), 20_000, chunk_size=20_000, micro_batch_elements=1 << 14, fuse=True)
    z = stats.unbiasedness_z(len(ests) * 2, ALPHA)
    for name in ests:
        x = sweep.estimates[name][4].astype(np.float64)
        se = x.std(axis=0, ddof=1) / math.sqrt(x.shape[0])
        assert np.all(np.abs(x.mean(axis=0) - sweep.true_grad) < z * se), name
    with pytest.raises(ValueError, match="even"):
        SymmetricPGPE()(jax.random.key(0), params, problem, 3)


def test_svd_one_at_a_time_gives_the_batched_factors_bit_for_bit():
    """The critic's SVD, vmapped twice as in the engine (seeds x steps): on a CPU a loop of single-matrix
    calls, with the factors of jnp.linalg.svd's one batched call."""
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(1), (3, 5, 64, 6))
    looped = jax.jit(jax.vmap(jax.vmap(svd_one_at_a_time)))(a)
    batched = jax.jit(lambda a: tuple(jnp.linalg.svd(a, full_matrices=False)))(a)
    for got, want in zip(looped, batched, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    lowered = jax.jit(jax.vmap(svd_one_at_a_time)).lower(a[0]).as_text()
    assert "while" in lowered  # the loop, not one batched call


@pytest.mark.parametrize("rank_deficient", [False, True])
def test_least_squares_is_the_minimum_norm_solution(rank_deficient):
    """Against numpy.linalg.lstsq in float64: full column rank, and the fixed initial state's features (every
    row the same, rank 1), where only the minimum-norm solution is defined."""
    rng = np.random.default_rng(0)
    states = rng.normal(size=(2, 64)).astype(np.float32)
    if rank_deficient:
        states[:] = np.array([[1.0], [0.5]], np.float32)
    phi = np.asarray(_quadratic_features(states)).T  # (64, 6)
    b = (phi @ rng.normal(size=6) + 0.1 * rng.normal(size=64)).astype(np.float32)
    got = np.asarray(jax.jit(least_squares)(phi, b))
    want = np.linalg.lstsq(phi.astype(np.float64), b.astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5 * np.abs(want).max())
    if rank_deficient:  # the minimum-norm solution lies in the row space: beta proportional to phi's row
        np.testing.assert_allclose(got / np.linalg.norm(got), phi[0] / np.linalg.norm(phi[0]), rtol=1e-5)

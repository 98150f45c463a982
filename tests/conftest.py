"""Shared test helpers.

``computed_once`` runs an expensive computation (a compiled sweep) in one pytest-xdist worker only and hands
its result to the others, so a module-scoped fixture whose tests are spread over several workers is not
recomputed in each (the recipe of the pytest-xdist docs: a file lock in the directory the workers share), and
a worker that would wait for another computes something else meanwhile.

``fixed_state_closed_forms`` gives exact moments of the linear-Gaussian bandit with a FIXED state and a
POLYNOMIAL reward, derived by polynomial algebra independently of pgjax's quadrature; both
``tests/problems/test_bandit.py`` (the problem's ``score_moments``) and ``tests/estimators/test_estimators.py`` (exact
single-sample variances) check the library against it.
"""

from __future__ import annotations

import math
import os
import pickle
import shutil
import tempfile

import numpy as np
import pytest
from numpy.polynomial import Polynomial

try:
    import fcntl
except ImportError:  # not a POSIX system: computed_once falls back to computing in every worker
    fcntl = None


def pytest_configure(config):
    """One JAX compilation cache for the whole test run, in a temporary folder that every pytest-xdist worker
    and every ``pgjax`` subprocess shares (workers inherit the controller's environment), so a program that
    several tests compile (the same experiment at the same sizes) is compiled once per run; the user's own
    cache folder is never touched. A run with PGJAX_NO_COMPILE_CACHE=1 or its own PGJAX_COMPILE_CACHE_DIR
    keeps that choice."""
    if not hasattr(config, "workerinput") and not os.environ.get("PGJAX_COMPILE_CACHE_DIR"):
        folder = tempfile.mkdtemp(prefix="pgjax-test-compile-cache-")
        os.environ["PGJAX_COMPILE_CACHE_DIR"] = folder
        config._pgjax_compile_cache = folder
    # this process's own programs too (library calls, not only `pgjax` commands), as a `pgjax` run would
    from pgjax.cli_support import enable_compilation_cache

    enable_compilation_cache()
    # The test processes keep JAX's one CPU device. A `pgjax` command called in-process gives JAX one device per
    # core when it is the first to start JAX (pgjax.cli_support.use_every_core), which would make a worker's
    # device count depend on the order of its tests; commands run as subprocesses still choose for themselves.
    import jax

    jax.config.update("jax_num_cpu_devices", 1)


def pytest_unconfigure(config):
    folder = getattr(config, "_pgjax_compile_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("PGJAX_COMPILE_CACHE_DIR", None)


def standard_normal_moment(k: int) -> float:
    """E[eps^k] for eps ~ N(0, 1): 0 for odd k, (k - 1)!! for even k (and 1 for k = 0)."""
    if k % 2:
        return 0.0
    return float(math.prod(range(k - 1, 0, -2)))


def expect(poly: Polynomial) -> float:
    """E[p(eps)] for a polynomial p with eps ~ N(0, 1), exactly: sum_k c_k E[eps^k]."""
    return float(sum(c * standard_normal_moment(k) for k, c in enumerate(poly.coef)))


def fixed_state_closed_forms(state, theta, sigma, reward: str, target: float = 1.0) -> dict:
    r"""Exact moments of the bandit with a fixed state s and a polynomial reward, by polynomial algebra.

    Derivation. With the state fixed, the action is a = mu + sigma eps with mu = theta . s and eps ~ N(0, 1),
    so every quantity below is a polynomial in the single standard normal eps:

        r(a)          = -(a - c)^2   (quadratic)        or  a   (linear),
        r'(a)         = -2 (a - c)                      or  1,
        psi_theta_j   = d/dtheta_j log N(a; theta . s, sigma^2) = (a - mu) s_j / sigma^2 = (s_j / sigma) eps,
        psi_log_sigma = (a - mu)^2 / sigma^2 - 1 = eps^2 - 1,
        d r(a(params, eps)) / d theta_j   = r'(a) s_j,
        d r(a(params, eps)) / d log sigma = r'(a) sigma eps          (pathwise derivatives, a = mu + sigma eps).

    The expectation of a polynomial sum_k c_k eps^k is sum_k c_k E[eps^k], with E[eps^(2k)] = (2k - 1)!! and
    E[eps^(2k+1)] = 0. ``numpy.polynomial.Polynomial`` does the products (and the composition r(mu + sigma eps))
    exactly up to float64 rounding, so every moment below is exact: no sampling, no quadrature.

    From these, per coordinate j (theta_0 .. theta_{d-1}, then log_sigma):
        grad_j J          = E[r psi_j]                        (log-derivative identity),
        Var_reinforce     = E[r^2 psi_j^2] - grad_j^2,
        Var_constant(b)   = E[(r - b)^2 psi_j^2] - grad_j^2,
        b*_j              = E[r psi_j^2] / E[psi_j^2]         (minimises Var_constant(b) over b),
        Var_optimal       = Var_constant(b*_j),
        Var_pathwise      = E[(dr/dparam_j)^2] - grad_j^2.

    Returns:
      dict of float64 arrays of shape (d + 1,) -- ``grad``, ``psi2``, ``r_psi2``, ``r2_psi2``, ``dr2``,
      ``var_reinforce``, ``b_opt``, ``var_optimal``, ``var_pathwise`` -- and ``var_constant``, a function
      b -> array (d + 1,).
    """
    state = np.asarray(state, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    mu = float(state @ theta)
    eps = Polynomial([0.0, 1.0])
    action = mu + sigma * eps
    if reward == "quadratic":
        r_of_a = -((Polynomial([0.0, 1.0]) - target) ** 2)
    elif reward == "linear":
        r_of_a = Polynomial([0.0, 1.0])
    else:
        raise ValueError(f"no polynomial form for reward {reward!r}")
    r = r_of_a(action)  # composition: a polynomial in eps
    dr_da = r_of_a.deriv()(action)

    psi = [(s_j / sigma) * eps for s_j in state] + [eps**2 - 1.0]
    dr = [dr_da * s_j for s_j in state] + [dr_da * sigma * eps]

    def per_coord(f):
        return np.array([expect(f(j)) for j in range(len(psi))])

    grad = per_coord(lambda j: r * psi[j])
    psi2 = per_coord(lambda j: psi[j] ** 2)
    r_psi2 = per_coord(lambda j: r * psi[j] ** 2)
    r2_psi2 = per_coord(lambda j: r**2 * psi[j] ** 2)
    dr2 = per_coord(lambda j: dr[j] ** 2)

    def var_constant(b):
        return per_coord(lambda j: ((r - b) * psi[j]) ** 2) - grad**2

    b_opt = r_psi2 / psi2
    var_optimal = np.array([expect(((r - b_opt[j]) * psi[j]) ** 2) for j in range(len(psi))]) - grad**2
    return {
        "grad": grad,
        "psi2": psi2,
        "r_psi2": r_psi2,
        "r2_psi2": r2_psi2,
        "dr2": dr2,
        "var_reinforce": r2_psi2 - grad**2,
        "var_constant": var_constant,
        "b_opt": b_opt,
        "var_optimal": var_optimal,
        "var_pathwise": dr2 - grad**2,
    }


@pytest.fixture(scope="session")
def closed_forms():
    """The function :func:`fixed_state_closed_forms` (exact fixed-state moments by polynomial algebra)."""
    return fixed_state_closed_forms


_BUSY = object()


def engine_seed_estimates(problems, names, n, n_seeds, seed=0):
    """{(problem name, estimator name): (R, P) float64} for every problem x estimator (by registry name), with
    the engine's per-seed keys, in one compiled call (jax and pgjax imported here, only when used)."""
    import jax
    import jax.numpy as jnp

    from pgjax.engine import seed_key
    from pgjax.estimators import make_estimator
    from pgjax.tree_util import ravel

    base = jax.random.key(seed)

    def one(i):
        return [
            [ravel(make_estimator(name)(seed_key(base, i, n), p.init_params(), p, n)) for name in names]
            for p in problems.values()
        ]

    out = jax.jit(jax.vmap(one))(jnp.arange(n_seeds, dtype=jnp.uint32))
    return {
        (f, name): np.asarray(out[a][b], np.float64) for a, f in enumerate(problems) for b, name in enumerate(names)
    }


@pytest.fixture(scope="session")
def seed_estimates():
    """The function :func:`engine_seed_estimates`."""
    return engine_seed_estimates


def _try_computation(root, name, fn, load):
    """Under ``name``'s lock, without waiting for it: the stored result (if ``load``), or ``fn()`` computed and
    stored if nobody has yet; ``_BUSY`` when another worker holds the lock; None when stored and not ``load``."""
    path = root / f"computed-once-{name}.pkl"
    with open(root / f"computed-once-{name}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _BUSY
        try:
            if path.exists():
                return pickle.loads(path.read_bytes()) if load else None
            value = fn()
            partial = path.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
            partial.replace(path)
            return value
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def computed_once(request, tmp_path_factory):
    """``computed_once(name)``: the value of the expensive computation ``name``, computed by one worker only.

    Test modules declare their expensive computations in a module-level dict ``EXPENSIVE_COMPUTATIONS``
    (name -> function of no arguments returning a picklable value). With pytest-xdist the first worker that
    asks for ``name`` computes it and stores it in the directory the workers of the run share (the recipe of
    the pytest-xdist docs, with a file lock); the others load it. A worker that would have to wait for another
    one meanwhile computes a computation nobody has started yet, so that both cores stay busy. Without xdist
    (or without POSIX file locks) it is a plain, memoised call.
    """
    registry = {}  # from the modules of the selected tests that use this fixture
    for item in request.session.items:
        if "computed_once" in getattr(item, "fixturenames", ()) and hasattr(item, "module"):
            registry.update(getattr(item.module, "EXPENSIVE_COMPUTATIONS", {}))
    memo: dict = {}
    if os.environ.get("PYTEST_XDIST_WORKER") is None or fcntl is None:

        def plain(name):
            if name not in memo:
                memo[name] = registry[name]()
            return memo[name]

        return plain
    root = tmp_path_factory.getbasetemp().parent  # shared by the workers of this run, fresh for each run

    def get(name):
        while name not in memo:
            value = _try_computation(root, name, registry[name], load=True)
            if value is not _BUSY:
                memo[name] = value
                break
            helped = False  # another worker is computing it: do something useful meanwhile
            for other, fn in registry.items():
                if other not in memo and other != name:
                    value = _try_computation(root, other, fn, load=False)
                    if value is not _BUSY and value is not None:
                        memo[other] = value
                        helped = True
                        break
            if not helped:
                with open(root / f"computed-once-{name}.lock", "w") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX)  # wait for it
                    fcntl.flock(handle, fcntl.LOCK_UN)
        return memo[name]

    return get

"""The engine's choice of pseudo-random number generator (``run_sweep(prng=...)``, ``pgjax run --prng``).

Every random number in pgjax is drawn through ``jax.random`` from the typed key the engine derives per seed,
``fold_in(fold_in(key(seed), i), n)`` (:func:`pgjax.engine.seed_key`). A typed key carries its PRNG
implementation, so the choice of generator is made once, for the base key, and every ``split``, ``fold_in``,
``normal``, ``gumbel``, ... inside problems and estimators follows it; no problem code changes.

Choices (:data:`PRNGS`):

- ``"threefry"`` (the default): JAX's own ``threefry2x32`` implementation. Every committed result uses it.
- ``"threefry-fast"``: the same generator, computed differently (:mod:`pgjax.threefry`): JAX's threefry keys,
  bits and draws exactly (tested), from an unrolled hash that XLA fuses into one loop and computes once per
  number. About 1.9x JAX's threefry normals through the engine on a busy 2-core CPU (``pgjax bench`` races
  both). The rest of the program may be computed differently too, where that is faster:

  - score-function estimators sum the scores in one pass where the problem gives them in closed form
    (:class:`pgjax.problems.base.OnePassScores`, the fixed-state bandit): XLA's CPU fusion copies the normals'
    inverse error function into every fusion that reads them, and one reduction reads them once
    (:func:`pgjax.estimators.score_function.weighted_score_mean`);
  - on a CPU, the programs of environment problems are compiled without YNNPACK fusions
    (:func:`compiler_options`), about 1.3x faster rollouts (``pgjax bench-envs``).

  So an estimate can differ from the ``"threefry"`` one in its last bits (a relative difference of a few
  float32 ulps), and it is an option, not the default.

Both are counter-based: a seed's numbers are a pure function of its key, computed elementwise, so per-seed
estimates stay bit-identical across chunk sizes, devices and processes for either choice (chunk sizes and
seed ranges are tested through the engine). The engine records the choice (``Sweep.execution["prng"]``, the manifest's ``execution``), and a
resumed cell is only reused under the same choice.
"""

from __future__ import annotations

import functools

import jax

from pgjax.errors import ConfigError
from pgjax.threefry import THREEFRY_FAST

#: The default generator: JAX's threefry2x32.
DEFAULT_PRNG = "threefry"
#: The generators ``run_sweep(prng=...)`` and ``pgjax run --prng`` accept.
PRNGS = ("threefry", "threefry-fast")

#: XLA:CPU options of the fast path for programs that step an environment: reductions compiled by XLA itself
#: instead of YNNPACK. A YNNPACK reduction is a library call with a fixed cost, which dominates inside a rollout's
#: per-step loop, where every reduction is small (a softmax over a few actions at every step of every episode):
#: CartPole rollouts run about 1.3x faster without them (``pgjax bench-envs``), while the large reductions of the
#: bandit's estimators are faster with YNNPACK. XLA's reductions sum in another order, so last bits may differ,
#: as they may anyway on this path (module docstring).
ENVIRONMENT_CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


def compiler_options(prng: str, problem, platform: str) -> dict[str, str]:
    """The XLA compile options of the engine's programs for ``problem`` on ``platform`` under ``prng``: the
    fast path's :data:`ENVIRONMENT_CPU_OPTIONS` for environment problems on a CPU, else none (``threefry``
    programs are always compiled with XLA's defaults, so committed results keep their bits)."""
    from pgjax.problems.environment import EnvironmentProblem

    if prng == "threefry-fast" and platform == "cpu" and isinstance(problem, EnvironmentProblem):
        return dict(ENVIRONMENT_CPU_OPTIONS)
    return {}


def check_prng(prng: str) -> str:
    """The name, or a ConfigError naming ``prng`` for one that is not in :data:`PRNGS`."""
    if prng not in PRNGS:
        raise ConfigError("prng", f"must be one of {', '.join(PRNGS)} (got {prng!r})")
    return prng


@functools.cache
def key_impl(prng: str):
    """The ``jax.random`` key implementation of a :data:`PRNGS` name (for ``impl=`` arguments)."""
    check_prng(prng)
    return "threefry2x32" if prng == "threefry" else THREEFRY_FAST


def base_key(seed: int, prng: str = DEFAULT_PRNG) -> jax.Array:
    """The typed base key ``key(seed)`` of the chosen generator (every per-seed key is derived from it)."""
    return jax.random.key(seed, impl=key_impl(prng))

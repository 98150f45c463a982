"""The sweep engine: R seeds x a grid of sample sizes, for each estimator, in one compiled call per estimator.

Seed scheme. The key of seed i for sample size n is ``fold_in(fold_in(PRNGKey(seed), i), n)``. Every
estimator receives that same key, so all estimators see the same samples for a given (seed, n) (common
random numbers), and a seed's numbers never depend on the chunk size, on the order of the work, or on which
other seeds ran.

Execution. Seeds are processed in host-side chunks of ``chunk_size`` seeds (the last chunk is padded, so each
estimator compiles once); within a chunk, ``jax.lax.map`` walks over micro-batches of seeds that are vmapped,
sized so that one micro-batch's samples fit in cache (~``micro_batch_elements`` samples). Memory therefore
stays bounded however large R x n gets, and the host loop over chunks can drive a progress bar.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.problems.base import Params, Problem, exact_gradient
from pgjax.tree_util import param_names, ravel

#: Default number of samples per vmapped micro-batch (about 1-4 MiB of float32 per array).
MICRO_BATCH_ELEMENTS = 1 << 18
#: Largest micro-batch, in seeds.
MAX_MICRO_BATCH = 256

Estimator = Callable[[jax.Array, Params, Problem, int], Params]
Progress = Callable[[int], None]


def seed_key(base_key: jax.Array, seed_index, n: int) -> jax.Array:
    """The key of one (seed, n) cell: ``fold_in(fold_in(base_key, seed_index), n)``."""
    return jax.random.fold_in(jax.random.fold_in(base_key, seed_index), n)


def micro_batch_size(n: int, micro_batch_elements: int = MICRO_BATCH_ELEMENTS) -> int:
    """Seeds per vmapped micro-batch for sample size n: a power of two near ``micro_batch_elements / n``,
    between 1 and :data:`MAX_MICRO_BATCH`. It depends on n only (never on the chunk size), so every seed is
    always computed inside a vmap of the same shape: this is what makes per-seed estimates bit-identical
    for any chunk size."""
    target = max(1, micro_batch_elements // max(n, 1))
    return int(min(MAX_MICRO_BATCH, 1 << (target.bit_length() - 1)))


@functools.partial(jax.jit, static_argnames=("estimator", "problem", "ns", "micro_batch_elements"))
def _run_chunk(estimator, problem, params, base_key, seed_indices, ns, micro_batch_elements):
    """Estimates for a chunk of seeds: a tuple over ns of arrays (chunk, P)."""
    chunk = seed_indices.shape[0]
    outputs = []
    for n in ns:
        def one_seed(i, n=n):
            return ravel(estimator(seed_key(base_key, i, n), params, problem, n))

        batch = micro_batch_size(n, micro_batch_elements)
        n_batches = -(-chunk // batch)
        # Pad with further seed indices (computed, then dropped) to a whole number of micro-batches.
        padded = jnp.concatenate(
            [seed_indices, seed_indices[-1] + 1 + jnp.arange(n_batches * batch - chunk, dtype=seed_indices.dtype)]
        )
        out = jax.lax.map(jax.vmap(one_seed), padded.reshape(n_batches, batch))
        outputs.append(out.reshape(n_batches * batch, -1)[:chunk])
    return tuple(outputs)


@dataclasses.dataclass
class Sweep:
    """Raw per-seed estimates of a sweep.

    Attributes:
      estimates: ``estimates[estimator_name][n]`` is a float32 array (R, P) of flattened gradient estimates.
      param_names: names of the P coordinates (``theta[0]``, ..., ``log_sigma``).
      true_grad: the exact gradient, float64 (P,).
      compile_seconds / run_seconds: per estimator, time to compile and time to run all chunks.
    """

    estimates: dict[str, dict[int, np.ndarray]]
    param_names: list[str]
    true_grad: np.ndarray
    n_seeds: int
    seed: int
    ns: tuple[int, ...]
    chunk_size: int
    compile_seconds: dict[str, float]
    run_seconds: dict[str, float]


def run_sweep(
    problem: Problem,
    params: Params,
    estimators: Mapping[str, Estimator],
    ns: Sequence[int],
    n_seeds: int,
    *,
    seed: int = 0,
    chunk_size: int | None = None,
    micro_batch_elements: int = MICRO_BATCH_ELEMENTS,
    progress: Progress | None = None,
) -> Sweep:
    """Runs every estimator for seeds 0..n_seeds-1 at every sample size in ``ns``.

    Args:
      problem: the problem (hashable; static under jit).
      params: the policy parameters at which gradients are estimated.
      estimators: name -> estimator (hashable callables with the uniform signature).
      ns: sample sizes, each >= 1.
      n_seeds: R >= 1.
      seed: base seed; the base key is ``jax.random.key(seed)``.
      chunk_size: seeds per host-side chunk (default: all seeds in chunks of at most 1024).
      micro_batch_elements: samples per vmapped micro-batch inside a chunk.
      progress: called with the number of seeds just finished, once per (estimator, chunk).

    Returns:
      A :class:`Sweep` holding float32 (R, P) estimates per estimator and n.
    """
    ns = tuple(int(n) for n in ns)
    if not ns or min(ns) < 1:
        raise ValueError(f"every sample size must be >= 1 (got {ns})")
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be >= 1 (got {n_seeds})")
    chunk = int(chunk_size or min(n_seeds, 1024))
    if chunk < 1:
        raise ValueError(f"chunk_size must be >= 1 (got {chunk_size})")
    base_key = jax.random.key(seed)
    names = param_names(params)
    true_grad = np.asarray(ravel(exact_gradient(problem, params)), dtype=np.float64)

    estimates: dict[str, dict[int, np.ndarray]] = {}
    compile_s: dict[str, float] = {}
    run_s: dict[str, float] = {}
    for name, estimator in estimators.items():
        t0 = time.perf_counter()
        padded = np.arange(chunk, dtype=np.uint32)
        compiled = _run_chunk.lower(
            estimator, problem, params, base_key, padded, ns, micro_batch_elements
        ).compile()
        compile_s[name] = time.perf_counter() - t0
        t0 = time.perf_counter()
        parts: list[tuple[np.ndarray, ...]] = []
        for start in range(0, n_seeds, chunk):
            stop = min(start + chunk, n_seeds)
            idx = np.arange(start, start + chunk, dtype=np.uint32)
            out = jax.device_get(compiled(params, base_key, idx))
            parts.append(tuple(np.asarray(o[: stop - start]) for o in out))
            if progress is not None:
                progress(stop - start)
        estimates[name] = {n: np.concatenate([p[j] for p in parts]) for j, n in enumerate(ns)}
        run_s[name] = time.perf_counter() - t0
    return Sweep(
        estimates=estimates,
        param_names=names,
        true_grad=true_grad,
        n_seeds=n_seeds,
        seed=seed,
        ns=ns,
        chunk_size=chunk,
        compile_seconds=compile_s,
        run_seconds=run_s,
    )

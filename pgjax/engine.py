"""The sweep engine: R seeds x a grid of sample sizes, for each estimator, in one compiled call per estimator.

Seed scheme. The key of seed i for sample size n is ``fold_in(fold_in(key(seed), i), n)``. Every estimator
receives that same key, so all estimators see the same samples for a given (seed, n) (common random
numbers), and a seed's numbers never depend on the chunk size, the number of devices or processes, the order
of the work, or which other seeds ran.

Execution. Seeds are processed in host-side chunks (the last one padded, so each estimator compiles once).
A chunk's seeds are sharded over a one-axis device mesh (``jax.shard_map``; all local devices by default,
every process's devices under ``jax.distributed``). On each device, ``jax.lax.map`` walks over micro-batches
of seeds that are vmapped; a micro-batch holds about :data:`MICRO_BATCH_ELEMENTS` samples and its size
depends on n only, so every seed is always computed by the same vmapped program (hence bit-identical results
for any chunking or device count), and device memory is bounded by one micro-batch per device however large
R x n grows.

Resume. With a :class:`pgjax.cells.CellStore`, each finished (estimator, n) cell is written to its own file
as soon as its last chunk is done, and cells already present are loaded instead of recomputed.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from pgjax.errors import ConfigError
from pgjax.problems.base import Params, Problem, exact_gradient
from pgjax.tree_util import param_names, ravel

#: Default number of samples per vmapped micro-batch (a few MiB of float32 per array).
MICRO_BATCH_ELEMENTS = 1 << 18
#: Largest micro-batch, in seeds.
MAX_MICRO_BATCH = 256
#: Name of the mesh axis that seeds are sharded over.
SEED_AXIS = "seed"

Estimator = Callable[[jax.Array, Params, Problem, int], Params]
Progress = Callable[[int], None]


def seed_key(base_key: jax.Array, seed_index, n: int) -> jax.Array:
    """The key of one (seed, n) cell: ``fold_in(fold_in(base_key, seed_index), n)``."""
    return jax.random.fold_in(jax.random.fold_in(base_key, seed_index), n)


def micro_batch_size(n: int, micro_batch_elements: int = MICRO_BATCH_ELEMENTS) -> int:
    """Seeds per vmapped micro-batch for sample size n: a power of two near ``micro_batch_elements / n``,
    between 1 and :data:`MAX_MICRO_BATCH`. It depends on n only (never on the chunk size or the devices), so
    every seed is always computed inside a vmap of the same shape: this is what makes per-seed estimates
    bit-identical for any chunking."""
    target = max(1, micro_batch_elements // max(n, 1))
    return int(min(MAX_MICRO_BATCH, 1 << (target.bit_length() - 1)))


def _chunk_body(estimator, problem, params, base_key, seed_indices, ns, micro_batch_elements):
    """Estimates for a block of seeds on one device: a tuple over ns of arrays (len(seed_indices), P)."""
    chunk = seed_indices.shape[0]
    outputs = []
    for n in ns:
        def one_seed(i, n=n):
            return ravel(estimator(seed_key(base_key, i, n), params, problem, n))

        batch = micro_batch_size(n, micro_batch_elements)
        n_batches = -(-chunk // batch)
        # Pad with further seed indices (computed, then dropped) to a whole number of micro-batches.
        extra = seed_indices[-1] + 1 + jnp.arange(n_batches * batch - chunk, dtype=seed_indices.dtype)
        padded = jnp.concatenate([seed_indices, extra])
        out = jax.lax.map(jax.vmap(one_seed), padded.reshape(n_batches, batch))
        outputs.append(out.reshape(n_batches * batch, -1)[:chunk])
    return tuple(outputs)


#: The single-device program: estimates for a chunk of seeds (used directly by the benchmark).
_run_chunk = jax.jit(_chunk_body, static_argnames=("estimator", "problem", "ns", "micro_batch_elements"))


@functools.lru_cache(maxsize=64)
def _sharded_chunk(estimator, problem, ns, micro_batch_elements, mesh):
    """The chunk program with seeds sharded over ``mesh``'s seed axis (one shard per device)."""
    def body(params, base_key, seed_indices):
        # Mark the replicated inputs as device-varying. Otherwise a jax.grad inside the body (every
        # estimator takes one w.r.t. params) transposes the implicit broadcast into a psum over devices,
        # summing the per-device gradients: silently wrong numbers.
        params, base_key = jax.lax.pcast((params, base_key), SEED_AXIS, to="varying")
        return _chunk_body(
            estimator, problem, params, base_key, seed_indices, ns=ns, micro_batch_elements=micro_batch_elements
        )

    return jax.jit(
        jax.shard_map(
            body,
            mesh=mesh,
            in_specs=(P(), P(), P(SEED_AXIS)),
            out_specs=tuple(P(SEED_AXIS) for _ in ns),
        )
    )


def make_mesh(devices: int | None = None) -> jax.sharding.Mesh:
    """A one-axis mesh over ``devices`` devices (default: all devices of all processes).

    With several processes (``jax.distributed``), ``devices`` must be None: every process contributes all
    of its local devices.
    """
    available = jax.devices()
    if devices is None:
        chosen = available
    else:
        if jax.process_count() > 1:
            raise ConfigError("devices", "cannot be limited in a multi-process run (every process uses its own)")
        if not 1 <= devices <= len(available):
            raise ConfigError("devices", f"must be between 1 and {len(available)} (got {devices})")
        chosen = available[:devices]
    return jax.sharding.Mesh(np.array(chosen), (SEED_AXIS,), axis_types=(jax.sharding.AxisType.Auto,))


class CompileCounter:
    """Counts XLA compilations and persistent-cache hits while active (a jax.monitoring listener)."""

    _lock = threading.Lock()
    _active: list["CompileCounter"] = []
    _installed = False

    def __init__(self):
        self.compiles = 0
        self.cache_hits = 0
        self.cache_misses = 0

    @classmethod
    def _listener(cls, event: str, **kwargs) -> None:
        for counter in list(cls._active):
            if event == "/jax/compilation_cache/cache_hits":
                counter.cache_hits += 1
            elif event == "/jax/compilation_cache/cache_misses":
                counter.cache_misses += 1

    def __enter__(self) -> "CompileCounter":
        with self._lock:
            if not CompileCounter._installed:
                jax.monitoring.register_event_listener(CompileCounter._listener)
                CompileCounter._installed = True
            self._active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._active.remove(self)

    def as_dict(self) -> dict[str, int]:
        return {"compiles": self.compiles, "cache_hits": self.cache_hits, "cache_misses": self.cache_misses}


@dataclasses.dataclass
class Sweep:
    """Raw per-seed estimates of a sweep.

    Attributes:
      estimates: ``estimates[estimator_name][n]`` is a float32 array (R, P) of flattened gradient estimates.
      param_names: names of the P coordinates (``theta[0]``, ..., ``log_sigma``).
      true_grad: the exact gradient, float64 (P,).
      compile_seconds / run_seconds: per estimator, time to compile and time to run all chunks.
      execution: how it ran: devices, processes, chunk size, compilations, cells reused, peak device memory.
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
    execution: dict = dataclasses.field(default_factory=dict)


def _to_host(outputs) -> tuple[np.ndarray, ...]:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return tuple(np.asarray(multihost_utils.process_allgather(o, tiled=True)) for o in outputs)
    return tuple(np.asarray(o) for o in jax.device_get(outputs))


def _agree_across_processes(mask: np.ndarray) -> np.ndarray:
    """Process 0's view of which cells are finished, so every process runs the same programs."""
    if jax.process_count() == 1:
        return mask
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.broadcast_one_to_all(mask.astype(np.int32))).astype(bool)


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
    devices: int | None = None,
    max_memory_bytes: int | None = None,
    store=None,
) -> Sweep:
    """Runs every estimator for seeds 0..n_seeds-1 at every sample size in ``ns``.

    Args:
      problem: the problem (hashable; static under jit).
      params: the policy parameters at which gradients are estimated.
      estimators: name -> estimator (hashable callables with the uniform signature).
      ns: sample sizes, each >= 1.
      n_seeds: R >= 1.
      seed: base seed; the base key is ``jax.random.key(seed)``.
      chunk_size: seeds per host-side chunk (default min(R, 1024)); rounded up to a multiple of the devices.
      micro_batch_elements: samples per vmapped micro-batch (changing it may change last-bit rounding).
      progress: called with the number of seeds just finished, once per (estimator, chunk).
      devices: number of local devices to shard seeds over (default: all).
      max_memory_bytes: if given, a ConfigError is raised before any work when one chunk's device memory
        (XLA's own estimate of the compiled program) would exceed it.
      store: a :class:`pgjax.cells.CellStore`: finished cells are saved to it and, when resuming, loaded.

    Returns:
      A :class:`Sweep` holding float32 (R, P) estimates per estimator and n. In a multi-process run every
      process returns the full estimates.
    """
    from pgjax.cells import cell_identity

    ns = tuple(sorted(set(int(n) for n in ns)))
    if not ns or min(ns) < 1:
        raise ValueError(f"every sample size must be >= 1 (got {ns})")
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be >= 1 (got {n_seeds})")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1 (got {chunk_size})")
    mesh = make_mesh(devices)
    n_dev = mesh.devices.size
    chunk = int(chunk_size or min(n_seeds, 1024))
    chunk = -(-chunk // n_dev) * n_dev
    sharding = NamedSharding(mesh, P(SEED_AXIS))
    replicated = NamedSharding(mesh, P())
    base_key = jax.random.key(seed)
    names = param_names(params)
    true_grad = np.asarray(ravel(exact_gradient(problem, params)), dtype=np.float64)

    estimates: dict[str, dict[int, np.ndarray]] = {}
    compile_s: dict[str, float] = {}
    run_s: dict[str, float] = {}
    peak_bytes = 0
    loaded_cells = 0
    with CompileCounter() as counter:
        for name, estimator in estimators.items():
            identities = {
                n: cell_identity(problem=problem, params=params, estimator=estimator, n=n, n_seeds=n_seeds,
                                 seed=seed)
                for n in ns
            }
            done = {n: store.load(identities[n]) if store is not None else None for n in ns}
            finished = _agree_across_processes(np.array([done[n] is not None for n in ns]))
            todo = tuple(n for n, f in zip(ns, finished) if not f)
            estimates[name] = {n: done[n] for n in ns if done[n] is not None}
            loaded_cells += len(ns) - len(todo)
            if not todo:
                compile_s[name], run_s[name] = 0.0, 0.0
                if progress is not None:
                    progress(n_seeds)
                continue

            t0 = time.perf_counter()
            program = _sharded_chunk(estimator, problem, todo, micro_batch_elements, mesh)
            params_r, key_r = jax.device_put((params, base_key), replicated)
            index_spec = jax.ShapeDtypeStruct((chunk,), jnp.uint32, sharding=sharding)
            compiled = program.lower(params_r, key_r, index_spec).compile()
            counter.compiles += 1
            compile_s[name] = time.perf_counter() - t0
            memory = compiled.memory_analysis()
            if memory is not None:
                chunk_bytes = int(memory.temp_size_in_bytes + memory.output_size_in_bytes)
                peak_bytes = max(peak_bytes, chunk_bytes)
                if max_memory_bytes is not None and chunk_bytes > max_memory_bytes:
                    raise ConfigError(
                        "max_memory",
                        f"one chunk of {name} at n = {max(todo)} needs {chunk_bytes / 2**20:.0f} MiB of device "
                        f"memory, over the {max_memory_bytes / 2**20:.0f} MiB allowed; lower n or raise the limit",
                    )

            t0 = time.perf_counter()
            parts: list[tuple[np.ndarray, ...]] = []
            for start in range(0, n_seeds, chunk):
                stop = min(start + chunk, n_seeds)
                indices = np.arange(start, start + chunk, dtype=np.uint32)
                global_indices = jax.make_array_from_callback((chunk,), sharding, lambda i: indices[i])
                out = _to_host(compiled(params_r, key_r, global_indices))
                parts.append(tuple(o[: stop - start] for o in out))
                if progress is not None:
                    progress(stop - start)
            for j, n in enumerate(todo):
                estimates[name][n] = np.concatenate([p[j] for p in parts])
                if store is not None and jax.process_index() == 0:
                    store.save(identities[n], estimates[name][n])
            estimates[name] = {n: estimates[name][n] for n in ns}
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
        execution={
            "devices": int(n_dev),
            "device_kind": str(mesh.devices.flat[0].device_kind),
            "processes": int(jax.process_count()),
            "chunk_size": int(chunk),
            "micro_batch_elements": int(micro_batch_elements),
            "peak_device_bytes_per_chunk": int(peak_bytes),
            "cells_loaded": int(loaded_cells),
            **counter.as_dict(),
        },
    )

"""The sweep engine: R seeds x a grid of sample sizes, for each estimator, in one compiled call per estimator.

Seed scheme. The key of seed i for sample size n is ``fold_in(fold_in(key(seed), i), n)``. Every estimator
receives that same key, so all estimators see the same samples for a given (seed, n) (common random
numbers), and a seed's numbers never depend on the chunk size, the number of devices or processes, the order
of the work, or which other seeds ran.

Execution. Every seed is computed by the same compiled program with the same input shape: a vmap over
a micro-batch of ``micro_batch_size(n)`` seeds (about :data:`MICRO_BATCH_ELEMENTS` samples), a size that
depends on n only. The host walks over micro-batches (dispatching asynchronously, collecting one chunk of
seeds at a time for the progress bar). With several devices, one call computes one micro-batch per device:
the seeds are sharded over a one-axis mesh (``jax.shard_map``; all local devices by default, every process's
devices under ``jax.distributed``), and each device runs that same program. Nothing about the chunking,
the devices or the processes reaches the compiled per-seed computation, so per-seed estimates are
bit-identical across all of them (padding seeds inside a program, for instance, changed XLA's fusion and
the last bit of some estimates). Device memory is bounded by one micro-batch per device, however large
R x n grows. Sample sizes that share a micro-batch size share one program per estimator.

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


def _micro_batch_body(estimator, problem, params, base_key, seed_blocks, ns):
    """Estimates for one micro-batch of seeds per sample size: a tuple over ns of (micro(n), P) arrays.

    ``seed_blocks[k]`` holds the seed indices, shape (micro(n_k),), for ``ns[k]``.
    """
    outputs = []
    for n, seeds in zip(ns, seed_blocks):
        def one_seed(i, n=n):
            return ravel(estimator(seed_key(base_key, i, n), params, problem, n))

        outputs.append(jax.vmap(one_seed)(seeds))
    return tuple(outputs)


#: The single-device program for one micro-batch per sample size (what the benchmark times, too).
_run_micro_batch = jax.jit(_micro_batch_body, static_argnames=("estimator", "problem", "ns"))


@functools.lru_cache(maxsize=64)
def _sharded_micro_batch(estimator, problem, ns, mesh):
    """The micro-batch program with one micro-batch per device (seeds sharded over ``mesh``)."""

    def body(params, key_data, seed_blocks):
        # Mark the replicated inputs as device-varying. Otherwise a jax.grad inside the body (every
        # estimator takes one w.r.t. params) transposes the implicit broadcast into a psum over devices,
        # summing the per-device gradients: silently wrong numbers.
        params, key_data = jax.lax.pcast((params, key_data), SEED_AXIS, to="varying")
        base_key = jax.random.wrap_key_data(key_data)
        return _micro_batch_body(estimator, problem, params, base_key, seed_blocks, ns)

    return jax.jit(
        jax.shard_map(
            body,
            mesh=mesh,
            in_specs=(P(), P(), tuple(P(SEED_AXIS) for _ in ns)),
            out_specs=tuple(P(SEED_AXIS) for _ in ns),
        )
    )


def micro_batch_groups(ns: Sequence[int], micro_batch_elements: int = MICRO_BATCH_ELEMENTS):
    """Sample sizes grouped by their micro-batch size: a list of (micro, ns_of_group)."""
    groups: dict[int, list[int]] = {}
    for n in ns:
        groups.setdefault(micro_batch_size(n, micro_batch_elements), []).append(n)
    return [(micro, tuple(group)) for micro, group in sorted(groups.items(), reverse=True)]


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


def _from_process_zero(array: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """A resumed cell as process 0 loaded it (other hosts may not see process 0's files)."""
    if jax.process_count() == 1:
        return array
    from jax.experimental import multihost_utils

    local = array if array is not None else np.zeros(shape, np.float32)
    return np.asarray(multihost_utils.broadcast_one_to_all(local))


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
      chunk_size: seeds collected per host round trip (default min(R, 1024)): the granularity of progress
        reports and of host memory; it never changes a number.
      micro_batch_elements: samples per vmapped micro-batch (changing it may change last-bit rounding).
      progress: called with a number of seeds, summing to R per estimator.
      devices: number of local devices to shard seeds over (default: all).
      max_memory_bytes: if given, a ConfigError is raised before running an estimator whose micro-batch
        program needs more device memory than this (XLA's own estimate of the compiled program).
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
    for estimator in estimators.values():  # estimators that need a kind of problem say so before any work
        check = getattr(estimator, "check", None)
        if check is not None:
            check(problem)
    mesh = make_mesh(devices)
    n_dev = int(mesh.devices.size)
    chunk = int(chunk_size or min(n_seeds, 1024))
    sharding = NamedSharding(mesh, P(SEED_AXIS))
    base_key = jax.random.key(seed)
    # Replicated inputs, built from host data so that they also work across processes.
    replicated = NamedSharding(mesh, P())
    params_r, key_r = jax.tree.map(
        lambda x: jax.make_array_from_callback(np.shape(x), replicated, lambda i, x=np.asarray(x): x[i]),
        (params, jax.random.key_data(base_key)),
    )
    names = param_names(params)
    grad = exact_gradient(problem, params)  # float64 leaves; flatten on the host to keep every digit
    true_grad = np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in jax.tree.leaves(grad)])

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
            finished = {n: bool(f) for n, f in zip(ns, finished)}
            estimates[name] = {}
            compile_s[name] = run_s[name] = 0.0
            reported = 0
            groups = micro_batch_groups(ns, micro_batch_elements)
            for g, (micro, group) in enumerate(groups):
                if all(finished[n] for n in group):  # a group is computed (and resumed) as a whole
                    estimates[name].update({n: _from_process_zero(done[n], (n_seeds, len(names))) for n in group})
                    loaded_cells += len(group)
                    continue
                t0 = time.perf_counter()
                program = _sharded_micro_batch(estimator, problem, group, mesh)
                block_spec = jax.ShapeDtypeStruct((n_dev * micro,), jnp.uint32, sharding=sharding)
                compiled = program.lower(params_r, key_r, (block_spec,) * len(group)).compile()
                counter.compiles += 1
                compile_s[name] += time.perf_counter() - t0
                memory = compiled.memory_analysis()
                if memory is not None:
                    call_bytes = int(memory.temp_size_in_bytes + memory.output_size_in_bytes) // n_dev
                    peak_bytes = max(peak_bytes, call_bytes)
                    if max_memory_bytes is not None and call_bytes > max_memory_bytes:
                        raise ConfigError(
                            "max_memory",
                            f"{name} at n = {max(group)} needs {call_bytes / 2**20:.0f} MiB of device memory per "
                            f"micro-batch, over the {max_memory_bytes / 2**20:.0f} MiB allowed; lower n or raise it",
                        )

                t0 = time.perf_counter()
                step = n_dev * micro
                per_call = max(1, chunk // step)
                parts: list[tuple[np.ndarray, ...]] = []
                for first in range(0, n_seeds, per_call * step):
                    pending = []
                    for start in range(first, min(first + per_call * step, n_seeds), step):
                        indices = np.arange(start, start + step, dtype=np.uint32)
                        block = jax.make_array_from_callback((step,), sharding, lambda i: indices[i])
                        pending.append(compiled(params_r, key_r, (block,) * len(group)))
                    parts.extend(_to_host(out) for out in pending)  # async dispatch, then one wait
                    if progress is not None:  # report whole seeds, pro rata over the groups
                        seeds_done = min(first + per_call * step, n_seeds)
                        target = (g * n_seeds + seeds_done) // len(groups)
                        progress(target - reported)
                        reported = target
                for j, n in enumerate(group):
                    estimates[name][n] = np.concatenate([p[j] for p in parts])[:n_seeds]
                    if store is not None and jax.process_index() == 0:
                        store.save(identities[n], estimates[name][n])
                run_s[name] += time.perf_counter() - t0
            if progress is not None and reported < n_seeds:
                progress(n_seeds - reported)
            estimates[name] = {n: estimates[name][n] for n in ns}

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
            "devices": n_dev,
            "device_kind": str(mesh.devices.flat[0].device_kind),
            "processes": int(jax.process_count()),
            "chunk_size": chunk,
            "micro_batch_elements": int(micro_batch_elements),
            "peak_device_bytes_per_micro_batch": int(peak_bytes),
            "cells_loaded": int(loaded_cells),
            **counter.as_dict(),
        },
    )

"""The sweep engine: R seeds x a grid of sample sizes, for each estimator, in one compiled call per estimator.

Seed scheme. The key of seed i for sample size n is ``fold_in(fold_in(key(seed), i), n)``. Every estimator
receives that same key, so all estimators see the same samples for a given (seed, n) (common random
numbers), and a seed's numbers never depend on the chunk size, the number of devices or processes, the order
of the work, or which other seeds ran.

Execution. Every seed is computed by the same compiled program with the same input shape: a vmap over
a micro-batch of ``micro_batch_size(n)`` seeds (about :data:`MICRO_BATCH_ELEMENTS` samples), a size that
depends on n only. With several devices, one call computes one micro-batch per device: the seeds are sharded
over a one-axis mesh (``jax.shard_map``; all local devices by default, every process's devices under
``jax.distributed``), and each device runs that same program. Nothing about the chunking, the devices or the
processes reaches the compiled per-seed computation, so per-seed estimates are bit-identical across all of them
(padding seeds inside a program, for instance, changed XLA's fusion and the last bit of some estimates).
Sample sizes that share a micro-batch size share one program per estimator. The micro-batch holds about
``micro_batch_elements`` samples, by default :data:`MICRO_BATCH_ELEMENTS` elementary steps: the problem's
declared cost of one sample (:class:`pgjax.problems.base.SampleCost`, an episode's horizon) divides it
(:func:`default_micro_batch_elements`).

Fusion. With ``fuse``, all estimators are compiled as one program (:class:`pgjax.estimators.base.Fused`, called
:data:`FUSED`): every member gets the same key as alone, so each member's per-seed estimates are those of its
own program (up to the last float32 bits where XLA compiles a member differently inside the larger module, as
the default bandit's batch optimal baseline at n = 2 and 4), while a CPU, on which compiling is most of the
time, compiles once. The engine splits the program's
columns back into one entry per estimator name (and a tuple key's columns into one per name), so a fused sweep
is keyed as an unfused one.

Sub-batches. A micro-batch holds at least one seed, so past ``micro_batch_elements`` samples one seed's n samples
would be one call whose buffers grow with n. There, an estimator that can (the i.i.d. estimators, whose estimate is
a mean of per-sample terms, and the batch-mean, leave-one-out and batch optimal baselines, by an exact two-pass
scheme; ``Estimator.can_sub_batch``) is computed over sub-batches of :func:`sub_batch_samples` samples (an eighth
of a micro-batch) inside the call (:func:`pgjax.estimators.base.estimate`: a ``lax.scan`` over blocks, block b drawn from ``fold_in(key, b)``),
so device and host memory stay flat in n. The sub-batch depends on n and ``micro_batch_elements`` only, so
per-seed estimates stay bit-identical across chunk sizes, devices and processes; at n <= ``micro_batch_elements``
nothing changes (the call is the estimator's own). Cells of sub-batched sample sizes carry ``"sub_batch"`` in
their identity, and ``execution["sub_batched_ns"]`` lists those sample sizes, with ``"sub_batch_samples"``
(absent when there are none).

Memory budget and host chunks. The host walks over the calls of a program with a sliding window: it keeps
``calls_in_flight`` calls dispatched (asynchronously) and not yet collected, collects the oldest, dispatches
the next. The seeds of those calls are the host-side chunk: the seeds computed and held at once, per host
step. The chunk is derived from a device-memory budget (``max_memory_bytes``, the CLI's ``--max-memory``;
default :data:`DEFAULT_MAX_MEMORY_BYTES` per device): after compiling a program, XLA's own memory analysis
gives the bytes one call needs on a device (temporaries + outputs + arguments), and

    calls_in_flight = min(budget // bytes_per_call, chunk_size // seeds_per_call or MAX_CALLS_IN_FLIGHT),

at least 1 (see :func:`calls_in_flight`). Counting every call in flight with its temporaries is conservative
(a device runs one call at a time), so the budget bounds device memory whatever the allocator does. If a single
call does not fit, a one-line ConfigError naming ``--max-memory`` is raised before any work. The chunk only
decides how far the host runs ahead of the devices: the micro-batch (the compiled program's shape) never
depends on it or on the budget, so per-seed estimates are bit-identical for any budget and any chunk size.
Device memory is therefore bounded by the budget however large R x n grows; host memory holds the (R, P)
float32 estimates of the sweep, which are its result.

Resume. With a :class:`pgjax.engine.cells.CellStore`, each finished (estimator, n) cell is written to its own file
as soon as its last chunk is done, and cells already present are loaded instead of recomputed.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from pgjax.engine.prng import DEFAULT_PRNG, check_prng, compiler_options, key_impl
from pgjax.engine.prng import base_key as prng_base_key
from pgjax.errors import ConfigError, PgjaxError
from pgjax.problems.base import Params, Problem, exact_gradient, sample_cost
from pgjax.tree_util import param_names, ravel

if TYPE_CHECKING:  # the cell store imports this module's neighbours; the engine loads it only when resuming
    from pgjax.engine.cells import CellStore

#: Default number of samples per vmapped micro-batch (a few MiB of float32 per array).
MICRO_BATCH_ELEMENTS = 1 << 18
#: Largest micro-batch, in seeds.
MAX_MICRO_BATCH = 256
#: Name of the mesh axis that seeds are sharded over.
SEED_AXIS = "seed"
#: Default device-memory budget per device, in bytes, for the calls in flight (the CLI's ``--max-memory`` 2).
DEFAULT_MAX_MEMORY_BYTES = 2 * 2**30
#: Most micro-batch calls kept in flight when no ``chunk_size`` is given: a few calls keep a device busy,
#: and dispatching further ahead gains nothing.
MAX_CALLS_IN_FLIGHT = 32

Estimator = Callable[[jax.Array, Params, Problem, int], Params]
Progress = Callable[[int], None]


def seed_key(base_key: jax.Array, seed_index: int | jax.Array, n: int) -> jax.Array:
    """The key of one (seed, n) cell: ``fold_in(fold_in(base_key, seed_index), n)``."""
    return jax.random.fold_in(jax.random.fold_in(base_key, seed_index), n)


#: Past ``micro_batch_elements`` samples per seed, sub-batches hold ``micro_batch_elements // SUB_BATCH_SPLIT``
#: samples: with whole micro-batches as sub-batches, the peak RSS of R = 100 seeds still grew 1.24x from n = 10^4
#: to 10^6 on the CPU (growing with the number of calls of the scan over large blocks); with an eighth, much less
#: (results/bench/scaling.md).
SUB_BATCH_SPLIT = 8


def sub_batch_samples(micro_batch_elements: int) -> int:
    """Samples per sub-batch of one seed's estimate past one micro-batch: ``max(1, micro_batch_elements //
    SUB_BATCH_SPLIT)``; like the micro-batch, it depends on neither the chunk size nor the devices."""
    return max(1, int(micro_batch_elements) // SUB_BATCH_SPLIT)


def micro_batch_size(n: int, micro_batch_elements: int = MICRO_BATCH_ELEMENTS) -> int:
    """Seeds per vmapped micro-batch for sample size n: a power of two near ``micro_batch_elements / n``,
    between 1 and :data:`MAX_MICRO_BATCH`. It depends on n only (never on the chunk size or the devices), so
    every seed is always computed inside a vmap of the same shape: this is what makes per-seed estimates
    bit-identical for any chunking."""
    target = max(1, micro_batch_elements // max(n, 1))
    return int(min(MAX_MICRO_BATCH, 1 << (target.bit_length() - 1)))


def _micro_batch_body(estimator, problem, params, base_key, seed_blocks, ns, sub_batch=None):
    """Estimates for one micro-batch of seeds per sample size: a tuple over ns of (micro(n), P) arrays.

    ``seed_blocks[k]`` holds the seed indices, shape (micro(n_k),), for ``ns[k]``. ``sub_batch``: None, or
    ``(threshold, block)``: past ``threshold`` samples a seed's estimate is accumulated over sub-batches of
    ``block`` samples where the estimator can (:func:`pgjax.estimators.base.estimate`); at n <= threshold it is
    the estimator's own call.
    """
    threshold, block = sub_batch if sub_batch is not None else (None, None)
    from pgjax.estimators.base import estimate

    outputs = []
    for n, seeds in zip(ns, seed_blocks):

        def one_seed(i, n=n):
            return ravel(estimate(estimator, seed_key(base_key, i, n), params, problem, n, block, threshold))

        outputs.append(jax.vmap(one_seed)(seeds))
    return tuple(outputs)


#: The single-device program for one micro-batch per sample size (what the benchmark times, too).
_run_micro_batch = jax.jit(_micro_batch_body, static_argnames=("estimator", "problem", "ns", "sub_batch"))


@functools.lru_cache(maxsize=64)
def _sharded_micro_batch(estimator, problem, ns, mesh, prng=DEFAULT_PRNG, sub_batch=None):
    """The micro-batch program with one micro-batch per device (seeds sharded over ``mesh``), drawing from the
    generator ``prng`` (:mod:`pgjax.engine.prng`); past ``sub_batch`` samples per seed, sub-batched
    (:func:`_micro_batch_body`)."""

    def body(params, key_data, seed_blocks):
        # Mark the replicated inputs as device-varying. Otherwise a jax.grad inside the body (every
        # estimator takes one w.r.t. params) transposes the implicit broadcast into a psum over devices,
        # summing the per-device gradients: silently wrong numbers.
        params, key_data = jax.lax.pcast((params, key_data), SEED_AXIS, to="varying")
        base_key = jax.random.wrap_key_data(key_data, impl=key_impl(prng))
        return _micro_batch_body(estimator, problem, params, base_key, seed_blocks, ns, sub_batch)

    return jax.jit(
        jax.shard_map(
            body,
            mesh=mesh,
            in_specs=(P(), P(), tuple(P(SEED_AXIS) for _ in ns)),
            out_specs=tuple(P(SEED_AXIS) for _ in ns),
        )
    )


def calls_in_flight(
    bytes_per_call: int | None,
    seeds_per_call: int,
    *,
    max_memory_bytes: int,
    chunk_size: int | None = None,
    what: str = "the program",
) -> int:
    """Micro-batch calls the host keeps in flight: the host-side chunk is this many calls' seeds.

    ``max_memory_bytes // bytes_per_call`` (each call counted with its temporaries, outputs and arguments, by
    XLA's estimate; unknown = no bound), at most ``chunk_size // seeds_per_call`` when a chunk size is given,
    else at most :data:`MAX_CALLS_IN_FLIGHT`; at least 1. It never changes a number: it only decides how far
    the host runs ahead of the devices.

    Raises:
      ConfigError: naming ``--max-memory`` (and ``what``) when one call alone needs more than
        ``max_memory_bytes``.
    """
    if bytes_per_call is not None and bytes_per_call > max_memory_bytes:
        raise ConfigError(
            "max_memory",
            f"{what} needs {_mib(bytes_per_call)} of device memory per micro-batch, over the "
            f"{_mib(max_memory_bytes)} allowed; raise --max-memory (max_memory_bytes) or lower n",
        )
    cap = MAX_CALLS_IN_FLIGHT if chunk_size is None else max(1, chunk_size // seeds_per_call)
    by_memory = cap if not bytes_per_call else max_memory_bytes // bytes_per_call
    return int(max(1, min(cap, by_memory)))


def _mib(size: int) -> str:
    return f"{size / 2**20:.3g} MiB"


#: Most seeds, and most samples per estimate: seed indices and sample counts are 32-bit on the device.
MAX_COUNT = 2**31 - 1


def check_counts(n_seeds: int, ns: Sequence[int]) -> None:
    """ConfigError, before any allocation, for a number of seeds or a sample size beyond :data:`MAX_COUNT`."""
    if n_seeds > MAX_COUNT:
        raise ConfigError("n_seeds", f"must be at most {MAX_COUNT} (2^31 - 1; got {n_seeds})")
    if max(ns, default=0) > MAX_COUNT:
        raise PgjaxError(f"sample size n = {max(ns)} is too large: at most {MAX_COUNT} (2^31 - 1) per estimate")


def host_memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def check_host_memory(needed: int, field: str, what: str) -> None:
    """ConfigError naming ``--field``, before any allocation, when ``what`` needs more host memory than the
    machine has."""
    total = host_memory_bytes()
    if total is not None and needed > total:
        raise ConfigError(
            field,
            f"{what} need {needed / 2**30:.3g} GiB of host memory, more than this machine's {total / 2**30:.3g} GiB",
        )


def default_micro_batch_elements(problem: Problem) -> int:
    """Samples per micro-batch for ``problem``: ``max(1, MICRO_BATCH_ELEMENTS // sample_cost(problem))``, so a
    micro-batch holds about :data:`MICRO_BATCH_ELEMENTS` elementary steps whatever one sample costs (an LQR
    trajectory or an episode of H steps costs H; :class:`pgjax.problems.base.SampleCost`)."""
    return max(1, MICRO_BATCH_ELEMENTS // sample_cost(problem))


def micro_batch_groups(
    ns: Sequence[int], micro_batch_elements: int = MICRO_BATCH_ELEMENTS
) -> list[tuple[int, tuple[int, ...]]]:
    """Sample sizes grouped by their micro-batch size: a list of (micro, ns_of_group)."""
    groups: dict[int, list[int]] = {}
    for n in ns:
        groups.setdefault(micro_batch_size(n, micro_batch_elements), []).append(n)
    return [(micro, tuple(group)) for micro, group in sorted(groups.items(), reverse=True)]


@dataclasses.dataclass(frozen=True)
class _Placement:
    """A sweep's seeds sharded over ``mesh``, with the replicated parameters and base key on it."""

    mesh: jax.sharding.Mesh
    sharding: NamedSharding
    params: Params
    key: jax.Array

    @classmethod
    def on(cls, mesh: jax.sharding.Mesh, params: Params, base_key: jax.Array) -> _Placement:
        # Replicated inputs, built from host data so that they also work across processes.
        replicated = NamedSharding(mesh, P())
        params_r, key_r = jax.tree.map(
            lambda x: jax.make_array_from_callback(np.shape(x), replicated, lambda i, x=np.asarray(x): x[i]),
            (params, jax.random.key_data(base_key)),
        )
        return cls(mesh, NamedSharding(mesh, P(SEED_AXIS)), params_r, key_r)

    @property
    def devices(self) -> int:
        return int(self.mesh.devices.size)

    def lower(self, estimator, problem, group, micro, prng, sub_batch) -> jax.stages.Lowered:
        program = _sharded_micro_batch(estimator, problem, group, self.mesh, prng, sub_batch)
        block_spec = jax.ShapeDtypeStruct((self.devices * micro,), jnp.uint32, sharding=self.sharding)
        return program.lower(self.params, self.key, (block_spec,) * len(group))


_LAPACK_CALL = re.compile(r"custom_call @(lapack_\w+)\([^\n]*")
_BATCH_DIMS = re.compile(r'num_batch_dims = "(\d+)"')


def batched_lapack_calls(lowered: jax.stages.Lowered, mesh: jax.sharding.Mesh) -> list[str]:
    """The batched LAPACK calls (several matrices in one call) of a program for a mesh of CPU devices; empty on
    other platforms.

    jaxlib 0.10's CPU LAPACK kernels split a batch of matrices over XLA's intra-op thread pool and block their
    own pool thread until the parts are done. With one program per CPU device, every pool thread can be such a
    kernel at once, and none is left to run the parts: the process hangs. :func:`run_sweep` runs a program
    with such a call on one device (per-seed estimates do not depend on the device count) and says so in its
    ``execution`` record (``one_device_programs``). pgjax's own learned critic decomposes one matrix at a time
    (:func:`pgjax.estimators.trajectory.svd_one_at_a_time`), so this guards plug-in estimators and problems."""
    if mesh.devices.flat[0].platform != "cpu":
        return []
    calls = []
    for match in _LAPACK_CALL.finditer(lowered.as_text()):
        dims = _BATCH_DIMS.search(match.group(0))
        if dims is None or dims.group(1) != "0":
            calls.append(match.group(1))
    return calls


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
    _active: list[CompileCounter] = []
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

    def __enter__(self) -> CompileCounter:
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
      param_names: names of the P coordinates (``theta[0]``, ..., ``log_sigma``), or of the P outputs of
        estimators that do not return a gradient (``run_sweep(..., output_names=...)``: ``kl``).
      true_grad: the exact gradient, float64 (P,) (or the reference of those outputs: the exact KL).
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
    first_seed: int = 0
    """The global index of the first row: 0, or the start of a shard's ``seed_range``."""


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
    micro_batch_elements: int | None = None,
    progress: Progress | None = None,
    devices: int | None = None,
    max_memory_bytes: int | None = None,
    store: CellStore | None = None,
    reference_gradient: np.ndarray | Sequence[float] | None = None,
    fuse: bool = False,
    output_names: Sequence[str] | None = None,
    seed_range: tuple[int, int] | None = None,
    prng: str = DEFAULT_PRNG,
) -> Sweep:
    """Runs every estimator for seeds 0..n_seeds-1 at every sample size in ``ns``.

    Args:
      problem: the problem (hashable; static under jit).
      params: the policy parameters at which gradients are estimated.
      estimators: name -> estimator (hashable callables with the uniform signature). An estimator may return
        any pytree: its flattened output is one row of the estimates (usually shaped like params). A key may
        also be a tuple of names, for an estimator that returns one gradient per name (a tuple of them, e.g.
        :class:`pgjax.estimators.trajectory.GAEGrid`): its columns are split into equal blocks, one entry
        per name, in order.
      ns: sample sizes, each >= 1.
      n_seeds: R >= 1.
      seed: base seed; the base key is ``jax.random.key(seed)``.
      chunk_size: at most this many seeds in flight per host step (clamped to ``n_seeds``, then rounded down
        to whole micro-batch calls, at least one); default: as many as the memory budget allows, up to
        :data:`MAX_CALLS_IN_FLIGHT` calls. It never changes a number.
      micro_batch_elements: samples per vmapped micro-batch (changing it may change last-bit rounding);
        default: :func:`default_micro_batch_elements`, from the problem's declared per-sample cost.
      progress: called with a number of seeds, summing to R per compiled estimator (per estimator, or once
        for all of them when fused).
      devices: number of local devices to shard seeds over (default: all).
      max_memory_bytes: device-memory budget per device for the calls in flight (default
        :data:`DEFAULT_MAX_MEMORY_BYTES`); the host-side chunk is derived from it (:func:`calls_in_flight`).
        A ConfigError naming ``--max-memory`` is raised before running a program one call of which needs
        more (XLA's own estimate of the compiled program).
      store: a :class:`pgjax.engine.cells.CellStore`: finished cells are saved to it and, when resuming, loaded.
      reference_gradient: the flat (P,) gradient that biases are measured against, for a problem without an
        exact objective (an environment: a large-batch estimate). Default: the exact gradient of the problem.
      fuse: compile all the estimators as ONE program (:class:`pgjax.estimators.base.Fused`, named
        :data:`FUSED`), which on a CPU saves most of the time (compilation). Every member is called with the
        same keys as alone, so the per-seed estimates are those of separate programs; the sweep is split back
        into one entry per name, as an unfused sweep is keyed. The one program's timings are reported under
        :data:`FUSED`, its cells (one per n, holding every member) are stored and resumed together, and
        ``execution["fused"]`` says it was fused.
      output_names: the names of the P output columns of estimators whose output is not a gradient shaped
        like params (``params_shaped = False``: the KL estimators of :mod:`pgjax.estimators.kl` return one
        column, ``("kl",)``); they replace the parameter names, and ``reference_gradient`` (required then) is
        the (P,) number they estimate (the exact KL). Every estimate must have P columns (ValueError).
      seed_range: ``(start, stop)``: compute only the global seeds start..stop-1 of the ``n_seeds`` (one shard
        of a run, ``pgjax run --seed-range``). Each seed keeps its key ``seed_key(base, i, n)`` and its lane in
        the micro-batch (the host walks calls aligned at multiples of the call's seeds, as an unsharded run
        does, and drops the seeds outside the range), so its estimates are bit-identical to the unsharded
        run's. The sweep then holds stop - start rows (``Sweep.first_seed`` = start) and its cells carry the
        range in their identity (``"seeds"``).
      prng: the pseudo-random number generator, one of :data:`pgjax.engine.prng.PRNGS` (``"threefry"``, JAX's
        default, or ``"threefry-fast"``); the base key is ``jax.random.key(seed)`` of that generator. A
        ConfigError names ``prng`` for another. It is recorded as ``execution["prng"]`` and, when not the
        default, in every cell's identity. The programs are compiled with
        :func:`pgjax.engine.prng.compiler_options` (none under ``"threefry"``), recorded as
        ``execution["compiler_options"]`` when there are any.

    Returns:
      A :class:`Sweep` holding float32 (R, P) estimates per estimator and n. In a multi-process run every
      process returns the full estimates.
    """
    from pgjax.engine.cells import cell_identity

    ns = tuple(sorted(set(int(n) for n in ns)))
    if not ns or min(ns) < 1:
        raise ValueError(f"every sample size must be >= 1 (got {ns})")
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be >= 1 (got {n_seeds})")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1 (got {chunk_size})")
    from pgjax.engine.cells import check_shard_sweep, seed_bounds

    if store is not None:
        check_shard_sweep(store, n_seeds)
    lo, hi = seed_bounds(seed_range, n_seeds)
    count = hi - lo
    if chunk_size is not None:  # more seeds in flight than there are seeds would only be reported, never used
        chunk_size = min(int(chunk_size), count)
    if micro_batch_elements is None:
        micro_batch_elements = default_micro_batch_elements(problem)
    if micro_batch_elements < 1:
        raise ValueError(f"micro_batch_elements must be >= 1 (got {micro_batch_elements})")
    sub_batch = (int(micro_batch_elements), sub_batch_samples(micro_batch_elements))
    budget = DEFAULT_MAX_MEMORY_BYTES if max_memory_bytes is None else int(max_memory_bytes)
    if budget < 1:
        raise ValueError(f"max_memory_bytes must be >= 1 (got {max_memory_bytes})")
    check_counts(n_seeds, ns)
    # Estimators that need a kind of problem say so before any work: one ConfigError naming ``estimators``.
    from pgjax.estimators.base import check_available, sub_batches

    check_available(estimators, problem)
    outputs = _output_names(estimators)
    if fuse:
        from pgjax.estimators.base import Fused

        programs = {FUSED: Fused(tuple(estimators.values()))}
    else:
        programs = {_program_name(key): estimator for key, estimator in estimators.items()}
    mesh = make_mesh(devices)
    # The XLA options of every program of this sweep (they depend on the generator, problem and platform).
    options = compiler_options(prng, problem, mesh.devices.flat[0].platform)
    n_dev = int(mesh.devices.size)
    base_key = prng_base_key(seed, check_prng(prng))
    placements = {n_dev: _Placement.on(mesh, params, base_key)}
    one_device_programs: list[str] = []
    if output_names is None:
        names = param_names(params)
    else:
        names = [str(name) for name in output_names]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"output_names must be distinct names, at least one (got {output_names})")
        if reference_gradient is None:
            raise ValueError("output_names needs reference_gradient: the number the outputs estimate")
    n_outputs = sum(len(names_of) for names_of in outputs.values())
    check_host_memory(
        4 * count * len(ns) * n_outputs * len(names),
        "n_seeds",
        f"the float32 estimates of {count} seeds x {len(ns)} sample size(s) x "
        f"{n_outputs} estimator(s) x {len(names)} parameter(s)",
    )
    if reference_gradient is None:
        grad = exact_gradient(problem, params)  # float64 leaves; flatten on the host to keep every digit
        true_grad = np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in jax.tree.leaves(grad)])
    else:
        true_grad = np.asarray(reference_gradient, np.float64).ravel()
        if true_grad.shape != (len(names),):
            raise ValueError(f"reference_gradient has shape {true_grad.shape}, expected ({len(names)},)")

    estimates: dict[str, dict[int, np.ndarray]] = {}
    compile_s: dict[str, float] = {}
    run_s: dict[str, float] = {}
    peak_bytes = 0
    loaded_cells = 0
    chunks: list[dict] = []  # per computed program: how the host walked it
    with CompileCounter() as counter:
        for name, estimator in programs.items():
            sub_batched = sub_batches(estimator, problem)
            identities = {
                n: cell_identity(
                    problem=problem,
                    params=params,
                    estimator=estimator,
                    n=n,
                    n_seeds=n_seeds,
                    seed=seed,
                    micro_batch_elements=micro_batch_elements,
                )
                | ({} if seed_range is None else {"seeds": [lo, hi]})
                | ({} if prng == DEFAULT_PRNG else {"prng": prng})
                | ({"compiler_options": options} if options else {})
                | ({"sub_batch": sub_batch[1]} if n > micro_batch_elements and sub_batched else {})
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
                    for n in group:
                        width = _output_width(estimator, problem, params, n) if jax.process_count() > 1 else 0
                        estimates[name][n] = _from_process_zero(done[n], (count, width))
                    loaded_cells += len(group)
                    continue
                t0 = time.perf_counter()
                place = placements[n_dev]
                lowered = place.lower(estimator, problem, group, micro, prng, sub_batch)
                if place.devices > 1 and jax.process_count() == 1 and batched_lapack_calls(lowered, place.mesh):
                    if 1 not in placements:
                        placements[1] = _Placement.on(make_mesh(1), params, base_key)
                    place = placements[1]
                    lowered = place.lower(estimator, problem, group, micro, prng, sub_batch)
                    one_device_programs.append(name)
                compiled = lowered.compile(compiler_options=options)
                counter.compiles += 1
                compile_s[name] += time.perf_counter() - t0
                memory = compiled.memory_analysis()  # per device (checked with several CPU devices)
                call_bytes = None
                if memory is not None:
                    call_bytes = int(
                        memory.temp_size_in_bytes + memory.output_size_in_bytes + memory.argument_size_in_bytes
                    )
                    peak_bytes = max(peak_bytes, call_bytes)
                step = place.devices * micro
                first = lo // step * step  # calls aligned as in an unsharded run: every seed keeps its lane
                starts = list(range(first, hi, step))
                depth = calls_in_flight(
                    call_bytes, step, max_memory_bytes=budget, chunk_size=chunk_size, what=f"{name} at n = {max(group)}"
                )
                depth = min(depth, len(starts))
                chunks.append(
                    {
                        "estimator": name,
                        "ns": list(group),
                        "seeds_per_call": step,
                        "calls_in_flight": depth,
                        "seeds_in_flight": depth * step,
                        "bytes_per_call": call_bytes,
                    }
                )

                t0 = time.perf_counter()
                rows: list[np.ndarray | None] = [None] * len(group)  # (len(starts) * step, P) per n
                pending: collections.deque = collections.deque()

                def dispatch(start):
                    indices = np.arange(start, start + step, dtype=np.uint32)
                    block = jax.make_array_from_callback((step,), place.sharding, lambda i: indices[i])
                    pending.append((start, compiled(place.params, place.key, (block,) * len(group))))

                for start in starts[:depth]:
                    dispatch(start)
                for position in range(len(starts)):
                    start, out = pending.popleft()
                    for j, part in enumerate(_to_host(out)):  # waits for the oldest call
                        if rows[j] is None:
                            rows[j] = np.empty((len(starts) * step, part.shape[1]), part.dtype)
                        rows[j][start - first : start - first + step] = part
                    del out
                    if position + depth < len(starts):  # then refill the window: never more than depth calls
                        dispatch(starts[position + depth])
                    if progress is not None:  # report whole seeds, pro rata over the groups
                        seeds_done = max(0, min(start + step, hi) - lo)
                        target = (g * count + seeds_done) // len(groups)
                        if target > reported:
                            progress(target - reported)
                            reported = target
                for j, n in enumerate(group):
                    estimates[name][n] = rows[j][lo - first : lo - first + count]
                    if store is not None and jax.process_index() == 0:
                        store.save(identities[n], estimates[name][n])
                run_s[name] += time.perf_counter() - t0
            if progress is not None and reported < count:
                progress(count - reported)
            estimates[name] = {n: estimates[name][n] for n in ns}

    any_sub_batched = any(sub_batches(estimator, problem) for estimator in programs.values())
    sub_batched_ns = [n for n in ns if n > micro_batch_elements and any_sub_batched]
    chunk = chunk_size if chunk_size is not None else max((c["seeds_in_flight"] for c in chunks), default=0)
    if fuse:
        columns = _member_widths(programs[FUSED].members(), problem, params, ns[0])
        estimates = _split(estimates[FUSED], dict(zip(estimators, columns)), outputs)
    else:
        estimates = {
            out: block
            for key in estimators
            for out, block in (
                _split(estimates[_program_name(key)], {key: None}, outputs)
                if isinstance(key, tuple)
                else {key: estimates[key]}
            ).items()
        }
    for name, block in estimates.items() if output_names is not None else ():
        for n, x in block.items():
            if x.shape[1] != len(names):
                raise ValueError(f"{name} at n = {n} returns {x.shape[1]} columns, expected {len(names)} ({names[:3]})")
    return Sweep(
        estimates=estimates,
        param_names=names,
        true_grad=true_grad,
        n_seeds=count,
        seed=seed,
        ns=ns,
        chunk_size=int(chunk),
        first_seed=lo,
        compile_seconds=compile_s,
        run_seconds=run_s,
        execution={
            "devices": n_dev,
            "device_kind": str(mesh.devices.flat[0].device_kind),
            "processes": int(jax.process_count()),
            "chunk_size": int(chunk),
            "max_memory_bytes": int(budget),
            "micro_batch_elements": int(micro_batch_elements),
            "peak_device_bytes_per_micro_batch": int(peak_bytes),
            "max_seeds_in_flight": int(max((c["seeds_in_flight"] for c in chunks), default=0)),
            "max_device_bytes_in_flight": int(
                max((c["calls_in_flight"] * (c["bytes_per_call"] or 0) for c in chunks), default=0)
            ),
            "cells_loaded": int(loaded_cells),
            "fused": bool(fuse),
            "prng": prng,
            **({"compiler_options": options} if options else {}),
            **({"one_device_programs": sorted(set(one_device_programs))} if one_device_programs else {}),
            **counter.as_dict(),
            **({"sub_batched_ns": sub_batched_ns, "sub_batch_samples": sub_batch[1]} if sub_batched_ns else {}),
        },
    )


#: The name of the one program of a fused sweep (:func:`run_sweep` with ``fuse``): its timings' key.
FUSED = "fused"


def _output_names(estimators: Mapping) -> dict:
    """key of ``estimators`` -> the names of its outputs: (key,) for a name, the names of a tuple key."""
    out = {}
    for key in estimators:
        names_of = tuple(key) if isinstance(key, tuple) else (key,)
        if not names_of or not all(isinstance(name, str) for name in names_of):
            raise TypeError(f"an estimator's key must be a name or a non-empty tuple of names (got {key!r})")
        out[key] = names_of
    seen = [name for names_of in out.values() for name in names_of]
    if len(set(seen)) != len(seen):
        raise ValueError(f"estimator names must be distinct (got {seen})")
    return out


def _program_name(key) -> str:
    """The name of one estimator's program (its timings' key): its name, or its names joined by '+'."""
    return "+".join(key) if isinstance(key, tuple) else key


def _member_widths(members, problem, params, n: int) -> list[int]:
    """Each member's number of output columns: the parameter count for an estimator whose contract says its
    output is shaped like params (``params_shaped``), else from a trace of that member alone (nothing run)."""
    from pgjax.estimators.base import Estimator as EstimatorContract

    size = int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))
    shaped = [isinstance(member, EstimatorContract) and member.params_shaped for member in members]
    return [size if ok else _output_width(member, problem, params, n) for member, ok in zip(members, shaped)]


def _split(block: Mapping[int, np.ndarray], widths: Mapping, outputs: Mapping) -> dict[str, dict[int, np.ndarray]]:
    """The columns of one program's estimates (n -> (R, C)) split into one entry per output name: each key
    of ``widths`` takes its width of columns (None: all of them), in order, and a key with several names
    splits its own columns into equal blocks."""
    out: dict[str, dict[int, np.ndarray]] = {}
    for n, x in block.items():
        start = 0
        for key, width in widths.items():
            width = x.shape[1] - start if width is None else width
            names_of = outputs[key]
            if width % len(names_of):
                raise ValueError(f"{_program_name(key)} returns {width} columns, not {len(names_of)} equal blocks")
            each = width // len(names_of)
            for j, name in enumerate(names_of):
                lo = start + j * each
                part = x[:, lo : lo + each]
                out.setdefault(name, {})[n] = np.ascontiguousarray(part)
            start += width
        if start != x.shape[1]:
            raise ValueError(f"the fused program returns {x.shape[1]} columns, its members {start}")
    return out


def _output_width(estimator, problem, params, n: int) -> int:
    """P: the length of one seed's flattened estimate (traced, not run)."""
    key = seed_key(jax.random.key(0), 0, n)
    return int(jax.eval_shape(lambda: ravel(estimator(key, params, problem, n))).shape[0])


def merge_executions(executions: Sequence[Mapping]) -> dict:
    """One ``execution`` record for several sweeps of one run (e.g. one per problem setting): counts are
    summed, sizes take their maximum, the rest is taken from the first."""
    if not executions:
        return {}
    summed = ("compiles", "cache_hits", "cache_misses", "cells_loaded")
    largest = ("chunk_size", "peak_device_bytes_per_micro_batch", "max_seeds_in_flight", "max_device_bytes_in_flight")
    out = dict(executions[0])
    for key in summed:
        out[key] = int(sum(e.get(key, 0) for e in executions))
    for key in largest:
        out[key] = int(max(e.get(key, 0) for e in executions))
    if any("fused" in e for e in executions):
        out["fused"] = any(e.get("fused", False) for e in executions)
    out["sweeps"] = len(executions)
    return out

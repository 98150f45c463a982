"""The engine: what runs estimators over seeds, sample sizes and settings.

- :mod:`pgjax.engine.sweep`: :func:`run_sweep`, R seeds x a grid of sample sizes for every estimator, as
  JIT-compiled, vmapped micro-batches sharded over the local devices, with fusion, chunking and memory
  bounds decided here rather than by callers.
- :mod:`pgjax.engine.grid`: :func:`run_grid`, one sweep per setting of any number of named axes, with a tidy
  result that keeps each setting's own true gradient.
- :mod:`pgjax.engine.cells`: the resumable cell store (``--resume``) and the identity of a cell.

The names below are re-exported from :mod:`pgjax.engine.sweep`, the module that defines them.
"""

from pgjax.engine.sweep import (
    DEFAULT_MAX_MEMORY_BYTES,
    FUSED,
    MAX_CALLS_IN_FLIGHT,
    MAX_COUNT,
    MICRO_BATCH_ELEMENTS,
    CompileCounter,
    Estimator,
    Progress,
    Sweep,
    calls_in_flight,
    check_counts,
    check_host_memory,
    default_micro_batch_elements,
    host_memory_bytes,
    make_mesh,
    merge_executions,
    micro_batch_groups,
    micro_batch_size,
    run_sweep,
    seed_key,
)

__all__ = [
    "DEFAULT_MAX_MEMORY_BYTES",
    "FUSED",
    "MAX_CALLS_IN_FLIGHT",
    "MAX_COUNT",
    "MICRO_BATCH_ELEMENTS",
    "CompileCounter",
    "Estimator",
    "Progress",
    "Sweep",
    "calls_in_flight",
    "check_counts",
    "check_host_memory",
    "default_micro_batch_elements",
    "host_memory_bytes",
    "make_mesh",
    "merge_executions",
    "micro_batch_groups",
    "micro_batch_size",
    "run_sweep",
    "seed_key",
]

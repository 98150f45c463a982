r"""Robust aggregate scores of training runs and their stratified-bootstrap confidence intervals.

Deep-RL learning curves over many seeds are summarised the way R. Agarwal, M. Schwarzer, P. S. Castro,
A. Courville and M. G. Bellemare recommend in "Deep Reinforcement Learning at the Edge of the Statistical
Precipice" (NeurIPS 2021; the ``rliable`` library): the interquartile mean (IQM) of the scores of all runs,
a 95% *stratified* percentile-bootstrap confidence interval for it, and the probability of improvement of
one variant over another. This module is a vectorised NumPy re-implementation of that methodology (the
``rliable`` package itself no longer imports, through its ``arch`` dependency); everything is float64 on the
host, deterministic for a given seed, and needs neither jax nor scipy.

Shapes. ``scores`` is ``(runs, tasks)`` or ``(runs, tasks, T)``: ``runs`` independent training seeds on
each of ``tasks`` tasks (environments), optionally at ``T`` points of a learning curve.

Interquartile mean
    :func:`iqm` is ``scipy.stats.trim_mean(x, 0.25)`` exactly, i.e. ``rliable.metrics.aggregate_iqm``:
    with ``n`` values, ``g = floor(n / 4)`` are cut from each end of the sorted values and the remaining
    ``n - 2g`` are averaged (no fractional weights when ``n`` is not divisible by 4; ``n < 4`` gives the
    mean). :func:`aggregate_iqm` pools the runs of all tasks, as rliable does.

Stratified bootstrap (Agarwal et al. 2021, Sec. 4 and App. A.1)
    One bootstrap replicate draws, independently for every task, ``runs`` run indices uniformly with
    replacement from that task's own runs, so a replicate never mixes tasks; the statistic is evaluated on
    the resampled ``(runs, tasks[, T])`` array. The interval is Efron's percentile interval
    (B. Efron, "Bootstrap methods: another look at the jackknife", Ann. Statist. 7(1), 1979; B. Efron and
    R. Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13): the ``(1 - c)/2`` and ``(1 + c)/2``
    quantiles of the replicates (``numpy.percentile``, linear interpolation, as ``arch``'s ``conf_int(
    method="percentile")`` that rliable calls), and the point estimate is the statistic of the original
    data. All replicates are computed with array operations, a block of replicates at a time so that memory
    stays bounded (``block_bytes``).

Reproducibility
    Replicate ``b`` of a stream is drawn from ``SeedSequence(seed, spawn_key=(stream..., b // 64))``, so
    its resample depends only on the seed, the stream and ``b``: never on the memory block size, and
    raising ``reps`` keeps the earlier replicates. The table functions give every variant its own stream,
    derived from its name, so a variant's interval does not depend on which other variants are in the table,
    and two variants are always resampled independently (as the probability of improvement needs).

Probability of improvement (Agarwal et al. 2021, Sec. 4.3)
    For runs ``x`` and ``y`` of two variants on task ``m``,
    ``P(X_m > Y_m) = (1 / (N K)) sum_i sum_j S(x_i, y_j)`` with ``S = 1`` if ``x > y``, ``1/2`` if equal and
    ``0`` otherwise: the Mann-Whitney ``U`` statistic over ``N K``. The result is the average over tasks.
    Its interval resamples ``x`` and ``y`` independently, each stratified by task.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "CURVE_COLUMNS",
    "FINAL_COLUMNS",
    "IMPROVEMENT_COLUMNS",
    "iqm",
    "aggregate_iqm",
    "aggregate_mean",
    "aggregate_median",
    "stratified_indices",
    "resample",
    "bootstrap_replicates",
    "percentile_interval",
    "stratified_bootstrap",
    "probability_of_improvement",
    "probability_of_improvement_replicates",
    "probability_of_improvement_interval",
    "learning_curve_table",
    "final_table",
    "improvement_table",
]

Seed = int | Sequence[int] | np.random.SeedSequence

CURVE_COLUMNS: tuple[str, ...] = (
    "variant",
    "point",
    "env_steps",
    "iqm",
    "iqm_lo",
    "iqm_hi",
    "mean",
    "median",
    "n_seeds",
)
"""Columns of :func:`learning_curve_table`, in order."""

FINAL_COLUMNS: tuple[str, ...] = (
    "variant",
    "iqm",
    "iqm_lo",
    "iqm_hi",
    "mean",
    "mean_lo",
    "mean_hi",
    "median",
    "n_seeds",
)
"""Columns of :func:`final_table`, in order."""

IMPROVEMENT_COLUMNS: tuple[str, ...] = ("variant_x", "variant_y", "probability", "lo", "hi")
"""Columns of :func:`improvement_table`, in order."""

_CHUNK = 64
"""Replicates drawn from one child seed sequence (see "Reproducibility" in the module docstring)."""

_BLOCK_BYTES = 64 * 2**20
"""Default size of one block of resampled scores (working memory is a small multiple of it)."""

# Stream tags: the first word of every spawn key, so that streams of different kinds never coincide.
_PLAIN, _POI_X, _POI_Y, _NAMED = 0, 1, 2, 3


# ----------------------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------------------


def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be in (0, 1) (got {confidence!r})")
    return confidence


def _check_reps(reps: int) -> int:
    if isinstance(reps, bool) or int(reps) != reps or reps < 1:
        raise ValueError(f"reps: must be an integer >= 1 (got {reps!r})")
    return int(reps)


def _check_block_bytes(block_bytes: int) -> int:
    if isinstance(block_bytes, bool) or int(block_bytes) != block_bytes or block_bytes < 1:
        raise ValueError(f"block_bytes: must be an integer >= 1 (got {block_bytes!r})")
    return int(block_bytes)


def _check_seed(seed: Seed) -> np.random.SeedSequence:
    """The root seed sequence of ``seed`` (an int >= 0, a sequence of them, or a SeedSequence)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    words = [seed] if np.ndim(seed) == 0 else list(seed)
    if not words or any(
        isinstance(w, (bool, np.bool_)) or not isinstance(w, (int, np.integer)) or w < 0 for w in words
    ):
        raise ValueError(f"seed: must be an integer >= 0 or a non-empty sequence of them (got {seed!r})")
    return np.random.SeedSequence([int(w) for w in words] if np.ndim(seed) else int(seed))


def _as_scores(scores: np.ndarray, name: str, *, min_ndim: int = 2, max_ndim: int = 3) -> np.ndarray:
    """``scores`` as a finite float64 array of rank ``min_ndim..max_ndim`` with at least one run."""
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: must be convertible to a float64 array ({err})") from None
    if not min_ndim <= arr.ndim <= max_ndim:
        shapes = {1: "(runs,)", 2: "(runs, tasks)", 3: "(runs, tasks, T)"}
        allowed = " or ".join(shapes[d] for d in range(min_ndim, max_ndim + 1))
        raise ValueError(f"{name}: must have shape {allowed} (got shape {arr.shape})")
    if arr.size == 0:
        raise ValueError(f"{name}: has no scores (shape {arr.shape})")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name}: all scores must be finite ({bad} of {arr.size} are NaN or infinite)")
    return arr


def _variant_names(data: Mapping[str, np.ndarray], name: str) -> list[str]:
    if not isinstance(data, Mapping) or len(data) == 0:
        raise ValueError(f"{name}: must be a non-empty mapping from variant name to scores")
    names = list(data)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise ValueError(f"{name}: variant names must be strings (got {bad!r})")
    return names


# ----------------------------------------------------------------------------------------------------------
# Aggregates
# ----------------------------------------------------------------------------------------------------------


def iqm(scores: np.ndarray, axis: int | None = 0) -> np.ndarray | np.float64:
    """Interquartile mean along ``axis``: ``scipy.stats.trim_mean(scores, 0.25, axis)``, exactly.

    With ``n = scores.shape[axis]`` values, ``g = int(0.25 * n) = n // 4`` are removed from each end of the
    sorted values and the other ``n - 2 g`` are averaged (for ``n`` not divisible by 4 nothing is
    interpolated; for ``n < 4`` this is the plain mean). This is ``rliable.metrics.aggregate_iqm`` when
    ``axis=None`` (Agarwal et al. 2021). Like scipy, the values are selected with ``numpy.partition``.

    Args:
      scores: an array of any shape with at least one value along ``axis``.
      axis: the axis to reduce, or ``None`` to reduce over all values.

    Returns:
      ``scores`` reduced along ``axis`` (a numpy float64 scalar when the result is 0-d).
    """
    a = np.asarray(scores, dtype=np.float64)
    if axis is None:
        a = a.ravel()
        axis = 0
    if a.ndim == 0:
        raise ValueError("scores: must have at least one axis (got a scalar)")
    nobs = a.shape[axis]
    if nobs == 0:
        raise ValueError(f"scores: no values along axis {axis} (shape {a.shape})")
    lowercut = int(0.25 * nobs)
    uppercut = nobs - lowercut
    part = np.partition(a, (lowercut, uppercut - 1), axis)
    index: list[slice] = [slice(None)] * part.ndim
    index[axis] = slice(lowercut, uppercut)
    return np.mean(part[tuple(index)], axis=axis)


def _pooled(samples: np.ndarray) -> np.ndarray:
    """``(B, runs, tasks, *rest)`` -> ``(B, runs * tasks, *rest)``."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim < 3:
        raise ValueError(f"samples: must have shape (B, runs, tasks, ...) (got shape {samples.shape})")
    return samples.reshape(samples.shape[0], samples.shape[1] * samples.shape[2], *samples.shape[3:])


def aggregate_iqm(samples: np.ndarray) -> np.ndarray:
    """IQM of the pooled runs of all tasks, vectorised over a leading replicate axis.

    ``samples`` is ``(B, runs, tasks, *rest)``; returns ``(B, *rest)``, each entry
    ``iqm(samples[b, :, :, r], axis=None)`` (``rliable.metrics.aggregate_iqm`` per replicate and curve point).
    """
    return iqm(_pooled(samples), axis=1)


def aggregate_mean(samples: np.ndarray) -> np.ndarray:
    """Mean over runs and tasks, vectorised over a leading replicate axis: ``(B, runs, tasks, *rest)`` ->
    ``(B, *rest)``. With equal runs per task this equals ``rliable.metrics.aggregate_mean`` (the mean over
    tasks of the per-task means)."""
    return np.mean(_pooled(samples), axis=1)


def aggregate_median(samples: np.ndarray) -> np.ndarray:
    """Median of the pooled runs of all tasks: ``(B, runs, tasks, *rest)`` -> ``(B, *rest)``.

    Note: this is the median over *runs*; ``rliable.metrics.aggregate_median`` is the median over tasks of the
    per-task mean scores, which is just the mean when there is a single task.
    """
    return np.median(_pooled(samples), axis=1)


# ----------------------------------------------------------------------------------------------------------
# Stratified resampling
# ----------------------------------------------------------------------------------------------------------


def _index_chunks(
    runs: int, tasks: int, reps: int, root: np.random.SeedSequence, key: tuple[int, ...]
) -> Iterator[np.ndarray]:
    """Index arrays ``(<= _CHUNK, runs, tasks)`` for replicates ``0..reps-1`` of stream ``key``, in order."""
    base_key = tuple(root.spawn_key) + tuple(key)
    for chunk, start in enumerate(range(0, reps, _CHUNK)):
        count = min(_CHUNK, reps - start)
        child = np.random.SeedSequence(root.entropy, spawn_key=base_key + (chunk,))
        yield np.random.default_rng(child).integers(0, runs, size=(count, runs, tasks), dtype=np.int64)


def _indices(runs: int, tasks: int, reps: int, root: np.random.SeedSequence, key: tuple[int, ...]) -> np.ndarray:
    return np.concatenate(list(_index_chunks(runs, tasks, reps, root, key)), axis=0)


def stratified_indices(runs: int, tasks: int, reps: int, seed: Seed = 0) -> np.ndarray:
    """The run indices that :func:`stratified_bootstrap` draws for ``seed``: shape ``(reps, runs, tasks)``.

    ``indices[b, :, t]`` are ``runs`` draws, uniform with replacement from ``0..runs-1``, used to resample
    task ``t`` in replicate ``b``; tasks and replicates are drawn independently. Exposed so that the
    vectorised bootstrap can be checked against a plain loop over replicates.
    """
    for name, value in (("runs", runs), ("tasks", tasks)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name}: must be an integer >= 1 (got {value!r})")
    return _indices(int(runs), int(tasks), _check_reps(reps), _check_seed(seed), (_PLAIN,))


def resample(scores: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Stratified resamples: ``out[b, i, t, ...] = scores[indices[b, i, t], t, ...]``.

    Args:
      scores: ``(runs, tasks)`` or ``(runs, tasks, T)``.
      indices: ``(B, runs', tasks)`` integers in ``0..runs-1`` (``runs' = runs`` for the bootstrap).

    Returns:
      ``(B, runs', tasks)`` or ``(B, runs', tasks, T)``. Run ``i`` of task ``t`` always comes from task
      ``t``: tasks are never mixed.
    """
    scores = np.asarray(scores)
    return scores[indices, np.arange(scores.shape[1])]


def _rows_per_block(bytes_per_replicate: int, block_bytes: int) -> int:
    return max(1, block_bytes // max(1, bytes_per_replicate))


def _evaluate(statistic: Callable[[np.ndarray], np.ndarray], samples: np.ndarray) -> np.ndarray:
    out = np.asarray(statistic(samples), dtype=np.float64)
    if out.ndim == 0 or out.shape[0] != samples.shape[0]:
        raise ValueError(
            f"statistic: must return an array with a leading replicate axis of length {samples.shape[0]} "
            f"(got shape {out.shape} for samples of shape {samples.shape})"
        )
    return out


def _replicates_from_chunks(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    chunks: Iterator[np.ndarray] | Sequence[np.ndarray],
    block_bytes: int,
) -> np.ndarray:
    rows = _rows_per_block(scores.size * 8, block_bytes)
    parts = []
    for chunk in chunks:
        for start in range(0, chunk.shape[0], rows):
            parts.append(_evaluate(statistic, resample(scores, chunk[start : start + rows])))
    return np.concatenate(parts, axis=0)


def bootstrap_replicates(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    indices: np.ndarray,
    *,
    block_bytes: int = _BLOCK_BYTES,
) -> np.ndarray:
    """The statistic on each stratified resample given by ``indices``, a block of replicates at a time.

    Args:
      scores: ``(runs, tasks)`` or ``(runs, tasks, T)``, finite.
      statistic: maps resamples ``(B, runs, tasks[, T])`` to ``(B, ...)``, e.g. :func:`aggregate_iqm`.
      indices: ``(reps, runs, tasks)`` run indices, e.g. from :func:`stratified_indices`.
      block_bytes: at most about this many bytes of resampled scores are held at once.

    Returns:
      ``(reps, ...)`` float64: entry ``b`` is ``statistic(resample(scores, indices[b:b+1]))[0]``.
    """
    scores = _as_scores(scores, "scores")
    indices = np.asarray(indices)
    if indices.ndim != 3 or indices.shape[2] != scores.shape[1] or indices.shape[0] == 0:
        raise ValueError(f"indices: must have shape (reps >= 1, runs, {scores.shape[1]}) (got shape {indices.shape})")
    if not np.issubdtype(indices.dtype, np.integer) or indices.min() < 0 or indices.max() >= scores.shape[0]:
        raise ValueError(f"indices: must be integers in [0, {scores.shape[0] - 1}]")
    return _replicates_from_chunks(scores, statistic, [indices], _check_block_bytes(block_bytes))


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Efron's percentile interval: the ``(1 - c)/2`` and ``(1 + c)/2`` percentiles of the replicates.

    Computed along axis 0 with ``numpy.percentile`` (linear interpolation), as ``arch``'s
    ``IIDBootstrap.conf_int(method="percentile")`` used by rliable.
    """
    confidence = _check_confidence(confidence)
    alpha = 1.0 - confidence
    replicates = np.asarray(replicates, dtype=np.float64)
    lo, hi = np.percentile(replicates, [50.0 * alpha, 100.0 - 50.0 * alpha], axis=0)
    return lo, hi


def _scalar_or_array(v: np.ndarray) -> float | np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return float(v) if v.ndim == 0 else v


def _bootstrap(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    reps: int,
    confidence: float,
    root: np.random.SeedSequence,
    key: tuple[int, ...],
    block_bytes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    point = _evaluate(statistic, scores[None])[0]
    chunks = _index_chunks(scores.shape[0], scores.shape[1], reps, root, key)
    replicates = _replicates_from_chunks(scores, statistic, chunks, block_bytes)
    lo, hi = percentile_interval(replicates, confidence)
    return point, lo, hi


def stratified_bootstrap(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray] = aggregate_iqm,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: Seed = 0,
    *,
    block_bytes: int = _BLOCK_BYTES,
) -> tuple[float | np.ndarray, float | np.ndarray, float | np.ndarray]:
    """Point estimate and stratified percentile-bootstrap interval of a statistic of training runs.

    Each of ``reps`` replicates resamples, independently within every task, ``runs`` runs with replacement
    (Agarwal et al. 2021, "stratified bootstrap"); ``statistic`` is evaluated on all replicates with array
    operations, a block at a time; the interval is Efron's percentile interval of the replicates (see the
    module docstring), the point estimate the statistic of ``scores`` itself. The resampling indices are
    those of :func:`stratified_indices` with the same ``seed``.

    Args:
      scores: ``(runs, tasks)`` or ``(runs, tasks, T)``, finite.
      statistic: vectorised over a leading replicate axis: ``(B, runs, tasks[, T])`` -> ``(B, ...)``.
        Default :func:`aggregate_iqm`.
      reps: number of bootstrap replicates (rliable's default is 2000).
      confidence: two-sided level in (0, 1).
      seed: an integer >= 0 (or a sequence of them, or a ``numpy.random.SeedSequence``).
      block_bytes: at most about this many bytes of resampled scores are held at once.

    Returns:
      ``(point, lo, hi)``: floats when the statistic is scalar, else arrays of its shape.
    """
    scores = _as_scores(scores, "scores")
    point, lo, hi = _bootstrap(
        scores,
        statistic,
        _check_reps(reps),
        _check_confidence(confidence),
        _check_seed(seed),
        (_PLAIN,),
        _check_block_bytes(block_bytes),
    )
    return _scalar_or_array(point), _scalar_or_array(lo), _scalar_or_array(hi)


# ----------------------------------------------------------------------------------------------------------
# Probability of improvement
# ----------------------------------------------------------------------------------------------------------


def _pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = _as_scores(x, "x", min_ndim=1, max_ndim=2)
    y = _as_scores(y, "y", min_ndim=1, max_ndim=2)
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x, y: must have the same number of tasks (got shapes {x.shape} and {y.shape})")
    return x, y


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """``P(X > Y) + P(X = Y) / 2``, averaged over tasks (Agarwal et al. 2021, Sec. 4.3).

    Per task, the Mann-Whitney ``U`` statistic of ``x`` against ``y`` over ``N K``: the fraction of the
    ``N K`` pairs ``(x_i, y_j)`` with ``x_i > y_j``, ties counting one half (``rliable.metrics.
    probability_of_improvement``; identical samples give exactly 1/2). ``O((N + K) log K)`` per task.

    Args:
      x: ``(N,)`` or ``(N, tasks)``, finite.
      y: ``(K,)`` or ``(K, tasks)``, finite, the same number of tasks.

    Returns:
      The probability, a float in [0, 1].
    """
    x, y = _pair(x, y)
    probs = []
    for task in range(x.shape[1]):
        ys = np.sort(y[:, task])
        below = np.searchsorted(ys, x[:, task], side="left")
        at_most = np.searchsorted(ys, x[:, task], side="right")
        u = below.sum() + 0.5 * (at_most - below).sum()
        probs.append(u / (x.shape[0] * y.shape[0]))
    return float(np.mean(probs))


def _poi_from_chunks(
    x: np.ndarray,
    y: np.ndarray,
    chunks_x: Iterator[np.ndarray] | Sequence[np.ndarray],
    chunks_y: Iterator[np.ndarray] | Sequence[np.ndarray],
    block_bytes: int,
) -> np.ndarray:
    """Replicates of :func:`probability_of_improvement` on stratified resamples of x and y.

    A resample is summarised by how often it takes each original run (``cx`` for ``x``, ``cy`` for ``y``,
    the latter over ``y`` sorted). With ``cum`` the cumulative counts of ``cy``, the resampled ``y`` has
    ``cum[left_i]`` values below ``x_i`` and ``cum[right_i] - cum[left_i]`` equal to it, where
    ``left_i, right_i`` are ``x_i``'s insertion points in sorted ``y``. So
    ``U* = sum_i cx_i (cum[left_i] + (cum[right_i] - cum[left_i]) / 2)``: exact (sums of halves),
    ``O(B (N + K))`` memory and time, no ``N x K`` matrix.
    """
    n, k, tasks = x.shape[0], y.shape[0], x.shape[1]
    order = [np.argsort(y[:, t], kind="stable") for t in range(tasks)]
    rank = []  # rank[t][j]: position of y[j, t] in sorted order
    left, right = [], []
    for t in range(tasks):
        r = np.empty(k, dtype=np.int64)
        r[order[t]] = np.arange(k)
        rank.append(r)
        ys = y[order[t], t]
        left.append(np.searchsorted(ys, x[:, t], side="left"))
        right.append(np.searchsorted(ys, x[:, t], side="right"))
    rows = _rows_per_block(8 * 4 * (n + k + 1), block_bytes)
    parts = []
    for idx_x, idx_y in zip(chunks_x, chunks_y, strict=True):
        for start in range(0, idx_x.shape[0], rows):
            bx = idx_x[start : start + rows]
            by = idx_y[start : start + rows]
            b = bx.shape[0]
            offsets = np.arange(b)[:, None]
            prob = np.zeros(b)
            for t in range(tasks):
                cx = np.bincount((bx[:, :, t] + offsets * n).ravel(), minlength=b * n).reshape(b, n)
                cy = np.bincount((rank[t][by[:, :, t]] + offsets * k).ravel(), minlength=b * k).reshape(b, k)
                cum = np.zeros((b, k + 1), dtype=np.int64)
                np.cumsum(cy, axis=1, out=cum[:, 1:])
                below = cum[:, left[t]]
                equal = cum[:, right[t]] - below
                u = (cx * below).sum(axis=1) + 0.5 * (cx * equal).sum(axis=1)
                prob += u / (n * k)
            parts.append(prob / tasks)
    return np.concatenate(parts)


def probability_of_improvement_replicates(
    x: np.ndarray,
    y: np.ndarray,
    indices_x: np.ndarray,
    indices_y: np.ndarray,
    *,
    block_bytes: int = _BLOCK_BYTES,
) -> np.ndarray:
    """:func:`probability_of_improvement` on each pair of stratified resamples ``(x[indices_x[b]],
    y[indices_y[b]])``, vectorised over ``b`` (see :func:`resample` for how indices apply).

    Args:
      x, y: as in :func:`probability_of_improvement`.
      indices_x: ``(reps, N, tasks)`` run indices of ``x``; ``indices_y``: ``(reps, K, tasks)``.

    Returns:
      ``(reps,)`` float64.
    """
    x, y = _pair(x, y)
    ix, iy = np.asarray(indices_x), np.asarray(indices_y)
    for name, idx, data in (("indices_x", ix, x), ("indices_y", iy, y)):
        if idx.ndim != 3 or idx.shape[1:] != data.shape or idx.shape[0] == 0:
            raise ValueError(f"{name}: must have shape (reps >= 1, {data.shape[0]}, {data.shape[1]}) (got {idx.shape})")
        if not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= data.shape[0]:
            raise ValueError(f"{name}: must be integers in [0, {data.shape[0] - 1}]")
    if ix.shape[0] != iy.shape[0]:
        raise ValueError(
            f"indices_x, indices_y: must have the same number of replicates ({ix.shape[0]} != {iy.shape[0]})"
        )
    return _poi_from_chunks(x, y, [ix], [iy], _check_block_bytes(block_bytes))


def _poi_interval(
    x: np.ndarray,
    y: np.ndarray,
    reps: int,
    confidence: float,
    root: np.random.SeedSequence,
    key_x: tuple[int, ...],
    key_y: tuple[int, ...],
    block_bytes: int,
) -> tuple[float, np.ndarray]:
    """Point estimate and the ``(reps,)`` bootstrap replicates."""
    chunks_x = _index_chunks(x.shape[0], x.shape[1], reps, root, key_x)
    chunks_y = _index_chunks(y.shape[0], y.shape[1], reps, root, key_y)
    replicates = _poi_from_chunks(x, y, chunks_x, chunks_y, block_bytes)
    return probability_of_improvement(x, y), replicates


def probability_of_improvement_interval(
    x: np.ndarray,
    y: np.ndarray,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: Seed = 0,
    *,
    block_bytes: int = _BLOCK_BYTES,
) -> tuple[float, float, float]:
    """:func:`probability_of_improvement` with its stratified percentile-bootstrap interval.

    ``x`` and ``y`` are resampled independently of each other, each within every task (Agarwal et al.
    2021, "StratifiedIndependentBootstrap"); the interval is Efron's percentile interval.

    Returns:
      ``(probability, lo, hi)``.
    """
    x, y = _pair(x, y)
    point, replicates = _poi_interval(
        x,
        y,
        _check_reps(reps),
        _check_confidence(confidence),
        _check_seed(seed),
        (_POI_X,),
        (_POI_Y,),
        _check_block_bytes(block_bytes),
    )
    lo, hi = percentile_interval(replicates, confidence)
    return point, float(lo), float(hi)


# ----------------------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------------------


def _variant_key(name: str) -> tuple[int, ...]:
    """Stream key of a variant: its tag, length and UTF-8 bytes (distinct names -> distinct keys)."""
    data = name.encode("utf-8")
    return (_NAMED, len(data), *data)


def learning_curve_table(
    returns: Mapping[str, np.ndarray],
    env_steps: np.ndarray,
    *,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: Seed = 0,
    block_bytes: int = _BLOCK_BYTES,
) -> pd.DataFrame:
    """IQM learning curves with pointwise stratified-bootstrap intervals, one row per (variant, point).

    For every variant and curve point, the IQM over seeds and its percentile interval from ``reps``
    resamples of the seeds (Agarwal et al. 2021, Fig. 9-style curves; a seed's whole curve is resampled as
    a unit, so the bands of neighbouring points are consistent). ``mean`` and ``median`` are over seeds
    (point estimates only). Each variant has its own resampling stream derived from ``seed`` and its name.

    Args:
      returns: variant name -> ``(S, T)`` returns of ``S`` seeds at ``T`` evaluation points (finite).
      env_steps: ``(T,)`` environment steps at the evaluation points.
      reps, confidence, seed, block_bytes: as in :func:`stratified_bootstrap`.

    Returns:
      A DataFrame with columns :data:`CURVE_COLUMNS`: ``variant`` (str), ``point`` (int, 0..T-1),
      ``env_steps``, ``iqm``, ``iqm_lo``, ``iqm_hi``, ``mean``, ``median`` (float64), ``n_seeds`` (int).
    """
    names = _variant_names(returns, "returns")
    steps = np.asarray(env_steps)
    if steps.ndim != 1 or steps.size == 0:
        raise ValueError(f"env_steps: must have shape (T,) with T >= 1 (got shape {steps.shape})")
    if not (np.issubdtype(steps.dtype, np.integer) or np.issubdtype(steps.dtype, np.floating)):
        raise ValueError(f"env_steps: must be numeric (got dtype {steps.dtype})")
    steps = steps.astype(np.int64 if np.issubdtype(steps.dtype, np.integer) else np.float64)
    reps, confidence = _check_reps(reps), _check_confidence(confidence)
    root, block_bytes = _check_seed(seed), _check_block_bytes(block_bytes)
    frames = []
    for name in names:
        curve = _as_scores(returns[name], f"returns[{name!r}]", min_ndim=2, max_ndim=2)
        if curve.shape[1] != steps.size:
            raise ValueError(
                f"returns[{name!r}]: must have shape (S, {steps.size}) to match env_steps (got {curve.shape})"
            )
        point, lo, hi = _bootstrap(
            curve[:, None, :], aggregate_iqm, reps, confidence, root, _variant_key(name), block_bytes
        )
        frames.append(
            pd.DataFrame(
                {
                    "variant": name,
                    "point": np.arange(steps.size, dtype=np.int64),
                    "env_steps": steps,
                    "iqm": point,
                    "iqm_lo": lo,
                    "iqm_hi": hi,
                    "mean": curve.mean(axis=0),
                    "median": np.median(curve, axis=0),
                    "n_seeds": np.full(steps.size, curve.shape[0], dtype=np.int64),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[list(CURVE_COLUMNS)]


def _final_scores(final: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """``final[name]`` as ``(S, tasks)``."""
    arr = _as_scores(final[name], f"final[{name!r}]", min_ndim=1, max_ndim=2)
    return arr[:, None] if arr.ndim == 1 else arr


def _iqm_and_mean(samples: np.ndarray) -> np.ndarray:
    return np.stack([aggregate_iqm(samples), aggregate_mean(samples)], axis=-1)


def final_table(
    final: Mapping[str, np.ndarray],
    *,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: Seed = 0,
    block_bytes: int = _BLOCK_BYTES,
) -> pd.DataFrame:
    """Final-return summary with stratified-bootstrap intervals, one row per variant.

    IQM and mean, each with its percentile interval (both from the same ``reps`` resamples of the seeds),
    and the median over seeds (point estimate). The resampling stream of a variant is the one
    :func:`learning_curve_table` and :func:`improvement_table` use for it.

    Args:
      final: variant name -> ``(S,)`` final returns of ``S`` seeds (or ``(S, tasks)``, pooled as rliable).
      reps, confidence, seed, block_bytes: as in :func:`stratified_bootstrap`.

    Returns:
      A DataFrame with columns :data:`FINAL_COLUMNS`.
    """
    names = _variant_names(final, "final")
    reps, confidence = _check_reps(reps), _check_confidence(confidence)
    root, block_bytes = _check_seed(seed), _check_block_bytes(block_bytes)
    rows = []
    for name in names:
        scores = _final_scores(final, name)
        key = _variant_key(name)
        point, lo, hi = _bootstrap(scores, _iqm_and_mean, reps, confidence, root, key, block_bytes)
        rows.append(
            {
                "variant": name,
                "iqm": point[0],
                "iqm_lo": lo[0],
                "iqm_hi": hi[0],
                "mean": point[1],
                "mean_lo": lo[1],
                "mean_hi": hi[1],
                "median": float(np.median(scores)),
                "n_seeds": scores.shape[0],
            }
        )
    table = pd.DataFrame(rows, columns=list(FINAL_COLUMNS))
    return table.astype({"n_seeds": np.int64})


def improvement_table(
    final: Mapping[str, np.ndarray],
    *,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: Seed = 0,
    block_bytes: int = _BLOCK_BYTES,
) -> pd.DataFrame:
    """Probability of improvement ``P(X > Y)`` with its interval for every ordered pair of variants.

    Rows for all ``x != y`` in the mapping's order (``x`` outer). Each variant is resampled with its own
    stream (derived from ``seed`` and its name), so ``x`` and ``y`` are resampled independently, and the row
    ``(y, x)`` is exactly the mirror of ``(x, y)``: ``probability`` is ``1 -`` it and the interval is
    ``[1 - hi, 1 - lo]``. With a single variant the table has no rows.

    Args:
      final: variant name -> ``(S,)`` final returns (or ``(S, tasks)``; the same number of tasks for all).
      reps, confidence, seed, block_bytes: as in :func:`stratified_bootstrap`.

    Returns:
      A DataFrame with columns :data:`IMPROVEMENT_COLUMNS`.
    """
    names = _variant_names(final, "final")
    reps, confidence = _check_reps(reps), _check_confidence(confidence)
    root, block_bytes = _check_seed(seed), _check_block_bytes(block_bytes)
    scores = {name: _final_scores(final, name) for name in names}
    tasks = {s.shape[1] for s in scores.values()}
    if len(tasks) > 1:
        raise ValueError(f"final: all variants must have the same number of tasks (got {sorted(tasks)})")
    pairs: dict[tuple[str, str], tuple[float, float, float]] = {}
    for x_name, y_name in itertools.combinations(names, 2):
        point, replicates = _poi_interval(
            scores[x_name],
            scores[y_name],
            reps,
            confidence,
            root,
            _variant_key(x_name),
            _variant_key(y_name),
            block_bytes,
        )
        lo, hi = percentile_interval(replicates, confidence)
        lo_r, hi_r = percentile_interval(1.0 - replicates, confidence)
        pairs[(x_name, y_name)] = (point, float(lo), float(hi))
        mirror = probability_of_improvement(scores[y_name], scores[x_name])
        pairs[(y_name, x_name)] = (mirror, float(lo_r), float(hi_r))
    rows = [(x, y, *pairs[(x, y)]) for x in names for y in names if x != y]
    table = pd.DataFrame(rows, columns=list(IMPROVEMENT_COLUMNS))
    return table.astype({"probability": np.float64, "lo": np.float64, "hi": np.float64})

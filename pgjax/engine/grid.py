"""A sweep over named axes: estimators x sample sizes x any number of named settings.

:func:`pgjax.engine.run_sweep` measures estimators on one problem at one parameter vector. Many experiments
vary something else as well (the horizon, a critic, lambda, a snapshot, a group size): each value of each such
*axis* builds its own problem or estimators. :func:`run_grid` runs one ordinary sweep per *setting* (one value
per axis, the full product of the axes, in the order the axes and their values are given) and returns a
:class:`GridSweep`, which keeps every setting's sweep under the tuple of its axis values, with that setting's
own true gradient and exact variances. Axis values stay data: the tidy table
(:func:`pgjax.experiment.summarise_grid`) has one column per axis, and the raw estimates are saved with one
array per axis (:meth:`GridSweep.stacked`, :func:`pgjax.io.write_raw_grid`).

Each setting is computed by the same per-setting code path as a single sweep, with the same seed, so its
per-seed estimates are bit-identical to a separate :func:`~pgjax.engine.run_sweep` call (seed i at sample size
n always gets the key ``fold_in(fold_in(key(seed), i), n)``; settings therefore share their random numbers).

A grid may also hold one *shared* setting: estimators that do not depend on any axis (REINFORCE as the
reference of a lambda grid, say). Its rows leave the axis columns empty, and its estimators can serve as the
reference of the variance ratios of every setting.

Each setting's estimators may be compiled as one program (``fuse``, :func:`pgjax.engine.run_sweep`'s option:
the same numbers, fewer compilations). Experiments whose settings are computed together (several settings'
estimators, or the outputs of one estimator, in one compiled program) build the same :class:`GridSweep` from
that sweep with :meth:`GridSweep.from_sweeps`.

A *ragged* grid (``ragged=True``) holds only some elements of the product: the settings it lists, in the order
given, where the values one axis takes depend on another (the k grid of each test function, say). Each axis
then lists every value it takes in some setting, and every value is taken by at least one.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pgjax.engine import Estimator, Progress, Sweep, merge_executions, run_sweep
from pgjax.errors import ConfigError
from pgjax.io import TABLE_COLUMNS
from pgjax.problems.base import Params, Problem

#: One value of an axis: a string, an integer, a finite float or a bool (numpy scalars are converted).
AxisValue = str | int | float | bool
#: Axis name -> its values, in order.
Axes = Mapping[str, Sequence[AxisValue]]
#: Names an axis may not take: the columns of a results table, and the per-cell columns of the raw index.
RESERVED_NAMES = frozenset(TABLE_COLUMNS) | {"cell"}


def check_axes(axes: Axes) -> dict[str, tuple[AxisValue, ...]]:
    """The axes as an ordered dict of tuples of plain Python scalars.

    Raises:
      ConfigError: naming the axis, for no axes at all, a name that is not a non-empty string or that a table
        column already uses, an empty axis, a value that is not a str/int/float/bool (or a non-finite float),
        or a value listed twice.
    """
    if not isinstance(axes, Mapping) or not axes:
        raise ConfigError("axes", "needs at least one named axis (a mapping of axis name -> values)")
    out: dict[str, tuple[AxisValue, ...]] = {}
    for name, values in axes.items():
        if not isinstance(name, str) or not name:
            raise ConfigError("axes", f"every axis name must be a non-empty string (got {name!r})")
        if name in RESERVED_NAMES:
            raise ConfigError(name, f"cannot name an axis {name!r}: a results table already has that column")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise ConfigError(name, f"the values of an axis must be a list or tuple (got {values!r})")
        if len(values) == 0:
            raise ConfigError(name, "is an empty axis: it needs at least one value")
        plain = tuple(_plain(name, v) for v in values)
        seen: set = set()
        for value in plain:
            tagged = (type(value), value)  # 1 and True (and 1.0) are different settings
            if tagged in seen:
                raise ConfigError(name, f"lists the value {value!r} twice")
            seen.add(tagged)
        out[name] = plain
    return out


def _tagged(values) -> set:
    """The values of an axis with their types (1, 1.0 and True are different values)."""
    return {(type(v), v) for v in values}


def _plain(axis: str, value: Any) -> AxisValue:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise ConfigError(axis, f"every value must be finite (got {value!r})")
        return float(value)
    raise ConfigError(axis, f"every value must be a str, int, float or bool (got {type(value).__name__} {value!r})")


@dataclasses.dataclass(frozen=True)
class Setting:
    """What one setting of a grid measures: the problem, the parameters and the estimators.

    Attributes:
      problem: the problem of this setting (hashable, as for run_sweep).
      params: the parameters at which gradients are estimated.
      estimators: name -> estimator. Names need not differ between settings (the axis values tell them apart).
      exact_single_sample_var: estimator name -> exact (P,) variance of a one-sample estimate, where known.
      true_grad: the (P,) gradient biases are measured against; default: the sweep's own (the problem's exact
        gradient, as run_sweep computes it).
      problem_name: the table's ``problem`` for this setting; default ``problem.describe()``.
      info: extra facts about the setting (for the manifest).
    """

    problem: Problem
    params: Params
    estimators: Mapping[str, Estimator]
    exact_single_sample_var: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    true_grad: np.ndarray | None = None
    problem_name: str | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class SettingSweep:
    """The measured result of one setting: its sweep, exact variances, problem name and facts."""

    sweep: Sweep
    exact_single_sample_var: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    problem_name: str = ""
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class SweepFunction(Protocol):
    """How one setting is swept: :func:`pgjax.engine.run_sweep`'s arguments, the run-only keywords in
    ``execution`` (devices, max_memory_bytes, store, ...). An experiment passes its own (fusing estimators into
    one program, a micro-batch size of its own) so that a setting's numbers are those of its single sweep."""

    def __call__(
        self,
        problem: Problem,
        params: Params,
        estimators: Mapping[str, Estimator],
        ns: Sequence[int],
        n_seeds: int,
        *,
        seed: int,
        chunk_size: int | None,
        progress: Progress | None,
        execution: Mapping[str, Any] | None,
    ) -> Sweep: ...


def default_sweep(
    problem: Problem,
    params: Params,
    estimators: Mapping[str, Estimator],
    ns: Sequence[int],
    n_seeds: int,
    *,
    seed: int,
    chunk_size: int | None,
    progress: Progress | None,
    execution: Mapping[str, Any] | None,
) -> Sweep:
    """:func:`pgjax.engine.run_sweep` with the keywords of ``execution``."""
    return run_sweep(
        problem,
        params,
        estimators,
        ns,
        n_seeds,
        seed=seed,
        chunk_size=chunk_size,
        progress=progress,
        **(execution or {}),
    )


def measure(
    setting: Setting,
    ns: Sequence[int],
    n_seeds: int,
    *,
    seed: int = 0,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    execution: Mapping[str, Any] | None = None,
    sweep: SweepFunction = default_sweep,
) -> SettingSweep:
    """Sweeps one setting (with ``sweep``) and attaches its true gradient, exact variances and name."""
    if not isinstance(setting, Setting):
        raise TypeError(f"a grid's build must return a pgjax.engine.grid.Setting (got {type(setting).__name__})")
    if not setting.estimators:
        raise ConfigError("estimators", "a setting needs at least one estimator")
    result = sweep(
        setting.problem,
        setting.params,
        setting.estimators,
        ns,
        n_seeds,
        seed=seed,
        chunk_size=chunk_size,
        progress=progress,
        execution=execution,
    )
    if setting.true_grad is not None:
        grad = np.asarray(setting.true_grad, np.float64).ravel()
        if grad.shape != (len(result.param_names),):
            raise ValueError(f"true_grad has shape {grad.shape}, expected ({len(result.param_names)},)")
        result = dataclasses.replace(result, true_grad=grad)
    name = setting.problem_name
    if name is None:
        describe = getattr(setting.problem, "describe", None)
        name = describe() if callable(describe) else type(setting.problem).__name__
    return SettingSweep(
        sweep=result,
        exact_single_sample_var=dict(setting.exact_single_sample_var),
        problem_name=str(name),
        info=dict(setting.info),
    )


@dataclasses.dataclass
class GridSweep:
    """Per-setting sweeps over the full product of named axes (or, ragged, over the settings listed).

    Attributes:
      axes: axis name -> its values, in order (see :func:`check_axes`).
      settings: the tuple of one value per axis (in ``axes`` order) -> that setting's :class:`SettingSweep`,
        one entry per element of the product of the axes, in product order (the last axis varying fastest);
        in a ragged grid, one entry per setting it has, in the order given.
      shared: estimators that depend on no axis (their rows leave the axis columns empty), or None.
      ragged: whether the settings may be a part of the product (each axis value taken by at least one).

    Every sweep has the same parameter names, number of seeds and base seed (so that estimates are paired
    across settings).
    """

    axes: dict[str, tuple[AxisValue, ...]]
    settings: dict[tuple[AxisValue, ...], SettingSweep]
    shared: SettingSweep | None = None
    ragged: bool = False

    def __post_init__(self) -> None:
        self.axes = check_axes(self.axes)
        given = {tuple(_plain("axes", v) for v in key): value for key, value in self.settings.items()}
        if self.ragged:
            self.settings = self._ragged(given)
        else:
            product = list(itertools.product(*self.axes.values()))
            missing = [key for key in product if key not in given]
            extra = [key for key in given if key not in set(product)]
            if missing or extra or len(given) != len(product):
                raise ValueError(
                    f"a grid needs one setting per element of the product of its axes {list(self.axes)}: "
                    f"missing {missing[:3]}, unexpected {extra[:3]} (a grid with only some of them is ragged)"
                )
            self.settings = {key: given[key] for key in product}
        for key, entry in self.settings.items():
            if not isinstance(entry, SettingSweep):
                raise TypeError(f"setting {self.setting(key)}: expected a SettingSweep (got {type(entry).__name__})")
        first = self._all()[0].sweep
        for entry in self._all():
            s = entry.sweep
            if s.param_names != first.param_names or s.n_seeds != first.n_seeds or s.seed != first.seed:
                raise ValueError(
                    "every setting of a grid needs the same parameters, number of seeds and seed "
                    f"(got {s.param_names}, {s.n_seeds}, {s.seed} and {first.param_names}, {first.n_seeds}, {first.seed})"
                )

    def _ragged(self, given: dict) -> dict:
        """The settings of a ragged grid, in the order given: ValueError unless there is at least one, each
        has one value of each axis and every value of every axis is taken by some setting."""
        if not given:
            raise ValueError(f"a ragged grid over the axes {list(self.axes)} needs at least one setting")
        width = len(self.axes)
        for key in given:
            outside = [
                name for name, value in zip(self.axes, key) if (type(value), value) not in _tagged(self.axes[name])
            ]
            if len(key) != width or outside:
                raise ValueError(
                    f"setting {key}: needs one value of each axis {list(self.axes)}"
                    + (f" (not a value of {outside})" if outside and len(key) == width else "")
                )
        for j, (name, values) in enumerate(self.axes.items()):
            taken = {(type(key[j]), key[j]) for key in given}
            unused = [v for v in values if (type(v), v) not in taken]
            if unused:
                raise ValueError(f"axis {name!r}: no setting takes the values {unused[:3]}")
        return given

    @classmethod
    def from_sweeps(
        cls,
        axes: Axes,
        settings: Mapping[tuple[AxisValue, ...], SettingSweep | Sweep],
        shared: SettingSweep | Sweep | None = None,
        *,
        ragged: bool = False,
    ) -> GridSweep:
        """A grid from sweeps computed elsewhere (a bare :class:`Sweep` becomes a SettingSweep without exact
        variances or problem name); ``ragged``: ``settings`` are some elements of the product, in their order."""

        def wrap(entry):
            return entry if isinstance(entry, SettingSweep) else SettingSweep(sweep=entry)

        return cls(
            axes=dict(axes),
            settings={tuple(k): wrap(v) for k, v in settings.items()},
            shared=None if shared is None else wrap(shared),
            ragged=ragged,
        )

    def _all(self) -> list[SettingSweep]:
        return ([self.shared] if self.shared is not None else []) + list(self.settings.values())

    @property
    def axis_names(self) -> tuple[str, ...]:
        """The axis names, in order (the axis columns of the table)."""
        return tuple(self.axes)

    def setting(self, key: Sequence[AxisValue]) -> dict[str, AxisValue]:
        """Axis name -> value of the setting ``key``."""
        return dict(zip(self.axes, key))

    def key(self, **values: AxisValue) -> tuple[AxisValue, ...]:
        """The settings key of one value per axis, given by name."""
        if set(values) != set(self.axes):
            raise KeyError(f"give one value for each axis {list(self.axes)} (got {sorted(values)})")
        return tuple(_plain(name, values[name]) for name in self.axes)

    def sweep(self, **values: AxisValue) -> Sweep:
        """The sweep of one setting, e.g. ``grid.sweep(horizon=5)``."""
        return self.settings[self.key(**values)].sweep

    def __iter__(self) -> Iterator[tuple[dict[str, AxisValue], SettingSweep]]:
        """(axis name -> value, SettingSweep) per setting, in the grid's order (the shared setting not included)."""
        for key, entry in self.settings.items():
            yield self.setting(key), entry

    @property
    def param_names(self) -> list[str]:
        return list(self._all()[0].sweep.param_names)

    @property
    def n_seeds(self) -> int:
        return int(self._all()[0].sweep.n_seeds)

    @property
    def seed(self) -> int:
        return int(self._all()[0].sweep.seed)

    @property
    def ns(self) -> tuple[int, ...]:
        """Every sample size of any setting, ascending."""
        return tuple(sorted({n for entry in self._all() for n in entry.sweep.ns}))

    @property
    def chunk_size(self) -> int:
        return int(max(entry.sweep.chunk_size for entry in self._all()))

    @property
    def execution(self) -> dict:
        """How it ran, over all settings (:func:`pgjax.engine.merge_executions`). A setting with an empty
        record was computed in another setting's program, which carries that program's record."""
        return merge_executions([entry.sweep.execution for entry in self._all() if entry.sweep.execution])

    def seconds(self, kind: str) -> dict[str, float]:
        """Estimator name -> compile (``kind="compile"``) or run (``"run"``) seconds summed over settings."""
        out: dict[str, float] = {}
        for entry in self._all():
            for name, secs in getattr(entry.sweep, f"{kind}_seconds").items():
                out[name] = out.get(name, 0.0) + float(secs)
        return out

    def cells(self) -> Iterator[tuple[dict[str, AxisValue | None], str, int, np.ndarray, np.ndarray]]:
        """(axis name -> value, estimator, n, (R, P) estimates, (P,) true gradient) per cell: the shared
        setting's first (every axis value None), then the settings in their order."""
        entries = [({name: None for name in self.axes}, self.shared)] if self.shared is not None else []
        entries += [(self.setting(key), entry) for key, entry in self.settings.items()]
        for values, entry in entries:
            for estimator, by_n in entry.sweep.estimates.items():
                for n, x in by_n.items():
                    yield values, estimator, int(n), x, np.asarray(entry.sweep.true_grad, np.float64)

    def stacked(self) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Every (setting, estimator, n) cell as data: ``(index, estimates, true_grads)``.

        ``index`` has one row per cell, with one column per axis (None where the cell belongs to the shared
        setting), ``estimator`` and ``n``; ``estimates[c]`` is cell c's (R, P) array as the sweep holds it;
        ``true_grads[c]`` its setting's (P,) float64 true gradient.
        """
        columns: dict[str, list] = {name: [] for name in (*self.axes, "estimator", "n")}
        arrays, grads = [], []
        for values, estimator, n, x, grad in self.cells():
            for name, value in {**values, "estimator": estimator, "n": n}.items():
                columns[name].append(value)
            arrays.append(np.asarray(x))
            grads.append(grad)
        index = pd.DataFrame({name: pd.Series(column, dtype=object) for name, column in columns.items()})
        index["n"] = index["n"].astype(np.int64)
        return index, np.stack(arrays), np.stack(grads)


def run_grid(
    build: Callable[[dict[str, AxisValue]], Setting],
    axes: Axes,
    ns: Sequence[int],
    n_seeds: int,
    *,
    seed: int = 0,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    execution: Mapping[str, Any] | None = None,
    sweep: SweepFunction = default_sweep,
    shared: Setting | None = None,
    fuse: bool = False,
) -> GridSweep:
    """One sweep per setting of the product of ``axes``: the same seeds, sample sizes and execution for each.

    Args:
      build: axis name -> value of one setting -> the :class:`Setting` to measure there.
      axes: axis name -> its values (:func:`check_axes`); settings run in product order, the last axis
        varying fastest.
      ns: sample sizes (each >= 1), the same for every setting.
      n_seeds: seeds R per (setting, estimator, n).
      seed: the base seed of every setting (common random numbers across settings).
      chunk_size: seeds per host-side chunk (never changes a number).
      progress: called with seed counts, as run_sweep calls it, for every setting in turn.
      execution: run-only keywords for ``sweep`` (devices, max_memory_bytes, store, ...).
      sweep: how one setting is swept (default: run_sweep); see :class:`SweepFunction`.
      shared: estimators that depend on no axis, measured once (first) and kept as the grid's shared setting.
      fuse: compile each setting's estimators as one program (:func:`pgjax.engine.run_sweep`'s ``fuse``,
        passed to ``sweep`` in ``execution``): the same numbers, fewer compilations.

    Returns:
      A :class:`GridSweep`.

    Raises:
      ConfigError: for bad axes (:func:`check_axes`), before building or running anything.
    """
    checked = check_axes(axes)
    if fuse:
        execution = {**(execution or {}), "fuse": True}
    common = dict(seed=seed, chunk_size=chunk_size, progress=progress, execution=execution, sweep=sweep)
    shared_sweep = None if shared is None else measure(shared, ns, n_seeds, **common)
    settings = {}
    for key in itertools.product(*checked.values()):
        settings[key] = measure(build(dict(zip(checked, key))), ns, n_seeds, **common)
    return GridSweep(axes=checked, settings=settings, shared=shared_sweep)

"""The resume store: a cell is reused only by a run whose every input is the same, and a cell file is whole
or absent, never half-written."""

from __future__ import annotations

import builtins
import dataclasses
import errno
import io
import math
import os

import jax
import numpy as np
import pytest

import pgjax
from pgjax import experiment
from pgjax.engine import cells
from pgjax.engine.cells import CellStore, run_context

IDENTITY = {"schema": cells.CELL_SCHEMA, "problem": "p", "estimator": "e", "n": 4, "n_seeds": 3, "seed": 0}
ESTIMATES = np.arange(6, dtype=np.float32).reshape(3, 2)


def _changed(value):
    """Another value of the same kind (validity does not matter: nothing is run)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 + 1 if math.isfinite(value) else 0.0
    if isinstance(value, str):
        return value + "-changed"
    if value is None:
        return 1.0
    if isinstance(value, tuple):
        return value + value[:1] if value else (1,)
    if dataclasses.is_dataclass(value):  # a subcommand's config (variance-vs-n's problem): change its first field
        first = dataclasses.fields(value)[0].name
        return dataclasses.replace(value, **{first: _changed(getattr(value, first))})
    raise TypeError(f"no rule to change a {type(value).__name__}")


def _every_config_field():
    for name in experiment.discover():
        for field in dataclasses.fields(experiment.load(name).Config):
            yield name, field.name


def test_every_experiment_is_covered():
    names = {name for name, _ in _every_config_field()}
    assert {"bandit-variance", "cartpole-reinforce", "mohamed2020-fig2", "lqr-horizon"} <= names


@pytest.mark.parametrize("name, field", list(_every_config_field()))
def test_changing_any_config_field_reuses_no_cell(tmp_path, name, field):
    """Whatever the field (seed, problem or estimator parameter, sample sizes, even the chunk size), the run
    with it changed keeps its cells elsewhere: nothing the first run saved is loaded, and a training
    checkpoint, which lives in the same folder, is not seen either."""
    config = experiment.load(name).Config()
    other = dataclasses.replace(config, **{field: _changed(getattr(config, field))})
    first = CellStore(tmp_path / "cells", resume=True, context=run_context(name, config))
    second = CellStore(tmp_path / "cells", resume=True, context=run_context(name, other))
    first.save(IDENTITY, ESTIMATES)
    assert second.folder != first.folder
    assert second.load(IDENTITY) is None and second.loaded == []
    again = CellStore(tmp_path / "cells", resume=True, context=run_context(name, config))
    np.testing.assert_array_equal(again.load(IDENTITY), ESTIMATES)  # the same run does reuse it


def test_float_width_and_versions_are_part_of_the_run(monkeypatch):
    from pgjax.experiments import bandit_variance

    config = bandit_variance.Config()
    base = CellStore("cells", context=run_context("bandit-variance", config)).folder

    def folder():
        return CellStore("cells", context=run_context("bandit-variance", config)).folder

    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", not previous)
    try:
        assert folder() != base
    finally:
        jax.config.update("jax_enable_x64", previous)
    assert folder() == base
    for target, attribute in ((pgjax, "__version__"), (jax, "__version__")):
        with monkeypatch.context() as patch:
            patch.setattr(target, attribute, "999.0")
            assert folder() != base
    with monkeypatch.context() as patch:
        patch.setattr(cells, "_version", lambda package: "999.0")  # jaxlib
        assert folder() != base
    assert CellStore("cells", context=run_context("other-experiment", config)).folder != base


def test_a_cell_file_repeats_its_run_and_identity(tmp_path):
    context = run_context("bandit-variance", experiment.load("bandit-variance").Config())
    store = CellStore(tmp_path, resume=True, context=context)
    path = store.save(IDENTITY, ESTIMATES)
    assert path.parent == tmp_path / store.run_key and (path.parent / "run.json").is_file()
    moved = CellStore(tmp_path, resume=True, context={**context, "experiment": "x"})
    moved.folder.mkdir()
    os.link(path, moved.path(IDENTITY))  # a file put under another run's name is refused, not used
    with pytest.raises(cells.ResultsError, match="does not match its name"):
        moved.load(IDENTITY)


class _HalfWriter:
    """A file whose first write stops halfway with 'No space left on device'."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        self._handle.write(bytes(data)[: max(1, len(data) // 2)])
        self._handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


def test_a_cell_write_cut_midway_leaves_no_partial_cell(tmp_path, monkeypatch):
    """The disk fills up halfway through writing a cell: the save fails, no file under a cell's name is
    visible, a resumed run recomputes that cell, and a later save gives a whole file."""
    store = CellStore(tmp_path / "cells", resume=True, context={"experiment": "demo"})
    store.prepare()
    real_fdopen, real_open = os.fdopen, io.open

    def fdopen(fd, mode="r", *args, **kwargs):
        handle = real_fdopen(fd, mode, *args, **kwargs)
        return _HalfWriter(handle) if "w" in mode and "b" in mode else handle

    def open_(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        inside = isinstance(file, (str, os.PathLike)) and str(tmp_path) in os.fspath(file)
        return _HalfWriter(handle) if inside and "w" in mode and "b" in mode else handle

    monkeypatch.setattr(os, "fdopen", fdopen)
    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(builtins, "open", open_)
    with pytest.raises(OSError, match="No space left"):
        store.save(IDENTITY, ESTIMATES)
    monkeypatch.undo()
    assert not store.path(IDENTITY).exists()
    assert sorted(p.name for p in store.folder.iterdir()) == ["run.json"], "a partial cell file is visible"
    assert CellStore(tmp_path / "cells", resume=True, context={"experiment": "demo"}).load(IDENTITY) is None
    store.save(IDENTITY, ESTIMATES)
    resumed = CellStore(tmp_path / "cells", resume=True, context={"experiment": "demo"})
    np.testing.assert_array_equal(resumed.load(IDENTITY), ESTIMATES)


def test_prune_keeps_only_the_cells_this_run_used(tmp_path):
    old = CellStore(tmp_path, context={"experiment": "demo", "seed": 0})
    old.save(IDENTITY, ESTIMATES)
    legacy = tmp_path / "0123abcd.npz"  # the flat layout of earlier versions
    legacy.write_bytes(b"x")
    store = CellStore(tmp_path, resume=True, context={"experiment": "demo", "seed": 1})
    store.save(IDENTITY, ESTIMATES)
    store.save({**IDENTITY, "n": 8}, ESTIMATES)
    store.saved.remove(store.path({**IDENTITY, "n": 8}).name)  # as if this run had not used it
    store.prune()
    assert sorted(p.name for p in tmp_path.iterdir()) == [store.run_key]
    assert sorted(p.name for p in store.folder.iterdir()) == [store.path(IDENTITY).name, "run.json"]

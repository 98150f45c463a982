"""Seed shards of a run: what one shard computes, the folder it writes, and the store that merges shards.

A run of R seeds can be cut into shards of global seed indices ``START..STOP-1`` (``pgjax run NAME
--seed-range START:STOP`` or ``--shard I/N``). Seed i's keys are ``fold_in(fold_in(key(seed), i), n)`` however
the work is split (:func:`pgjax.engine.seed_key`), and the engine computes it in the same lane of the same
compiled program as an unsharded run, so a shard's per-seed estimates are bit-identical to the unsharded run's.

A shard folder holds the resume store ``cells/<run hash>/`` (each finished cell, with the seed range in its
identity) and, once the shard is finished, ``shard.json``: the experiment, the run hash and context (config,
versions, float width, backend, device kind), the seed range, the cell files and the machine. A folder
without ``shard.json`` is an unfinished shard (resume it with the same command).

:func:`check_shards` checks a set of shards for a merge: one run (the same hash: config, versions and device
kind), seed ranges that are disjoint and cover 0..R-1; every mistake is one line that names the shards.
:class:`ShardStore` then serves every cell of the whole run by concatenating the shards' cells in seed order,
so an experiment's own ``run`` reloads the whole run from its shards (computing nothing) and writes the
tables and figures of a single run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pgjax.engine.cells import cell_key, cell_rows
from pgjax.errors import ConfigError, PgjaxError
from pgjax.io import CELLS_DIR, ResultsError, atomic_write_text, environment_info

SHARD_FILE = "shard.json"
SHARD_SCHEMA = "pgjax.shard/1"
#: Keys of a cell identity that a merge does not match on: the shard's range, the run hash (checked once for
#: all shards) and the device count of a training run (each shard may use its own).
_UNMATCHED = ("seeds", "run", "devices")


def parse_seed_range(text: str, n_seeds: int) -> tuple[int, int]:
    """``"START:STOP"`` -> (START, STOP), with 0 <= START < STOP <= n_seeds; ConfigError naming --seed-range."""
    parts = text.split(":")
    try:
        start, stop = (int(p) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        start = stop = None
    if start is None or not 0 <= start < stop <= n_seeds:
        raise ConfigError("seed_range", f"must be START:STOP with 0 <= START < STOP <= {n_seeds} (got {text!r})")
    return start, stop


def shard_range(text: str, n_seeds: int) -> tuple[int, int]:
    """``"I/N"`` (I in 0..N-1) -> the I-th of N nearly equal seed ranges: ``(I*R//N, (I+1)*R//N)``."""
    parts = text.split("/")
    try:
        index, count = (int(p) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        index = count = None
    if index is None or not (1 <= count <= n_seeds and 0 <= index < count):
        raise ConfigError("shard", f"must be I/N with 0 <= I < N <= {n_seeds} (the seeds) (got {text!r})")
    return index * n_seeds // count, (index + 1) * n_seeds // count


def total_seeds(config: Any) -> int | None:
    """The number of seeds R of an experiment's config: its ``n_seeds``, or that of a config it holds (a
    family of ``variance-vs-n``); None when it has none."""
    if hasattr(config, "n_seeds"):
        return int(config.n_seeds)
    if dataclasses.is_dataclass(config):
        for field in dataclasses.fields(config):
            value = getattr(config, field.name)
            if dataclasses.is_dataclass(value) and hasattr(value, "n_seeds"):
                return int(value.n_seeds)
    return None


def format_ranges(ranges: Sequence[tuple[int, int]]) -> str:
    return ", ".join(f"{a}:{b}" for a, b in ranges)


def missing_ranges(ranges: Sequence[tuple[int, int]], n_seeds: int) -> list[tuple[int, int]]:
    """The seed ranges of 0..n_seeds-1 that no range of ``ranges`` covers."""
    out, at = [], 0
    for a, b in sorted(ranges):
        if a > at:
            out.append((at, a))
        at = max(at, b)
    if at < n_seeds:
        out.append((at, n_seeds))
    return out


def write_shard_manifest(
    folder: Path,
    *,
    experiment: str,
    context: Mapping,
    run_key: str,
    seeds: tuple[int, int],
    n_seeds: int,
    cells: Sequence[str],
    argv: Sequence[str],
) -> Path:
    """Writes ``folder/shard.json`` atomically: the mark of a finished shard."""
    body = {
        "schema": SHARD_SCHEMA,
        "experiment": experiment,
        "run": run_key,
        "seeds": list(seeds),
        "n_seeds": int(n_seeds),
        "cells": sorted(cells),
        "context": dict(context),
        "command": list(argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": environment_info(),
    }
    return atomic_write_text(Path(folder) / SHARD_FILE, json.dumps(body, indent=2, sort_keys=False) + "\n")


@dataclasses.dataclass
class Shard:
    """One finished shard folder, from its ``shard.json``."""

    folder: Path
    experiment: str
    run: str
    seeds: tuple[int, int]
    n_seeds: int
    cells: list[str]
    context: dict
    command: list[str]

    @property
    def label(self) -> str:
        return f"{self.folder} (seeds {self.seeds[0]}:{self.seeds[1]})"


def read_shard(folder: str | os.PathLike[str]) -> Shard | None:
    """The finished shard in ``folder``, or None for an unfinished one (a resume store, no ``shard.json``).

    Raises:
      ResultsError: ``folder`` is not a shard folder, or its ``shard.json`` is unreadable.
    """
    folder = Path(folder)
    path = folder / SHARD_FILE
    if not path.is_file():
        if (folder / CELLS_DIR).is_dir():
            return None
        raise ResultsError(f"{folder}: not a shard folder (no {SHARD_FILE}, no {CELLS_DIR}/)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != SHARD_SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r}")
        return Shard(
            folder=folder,
            experiment=str(data["experiment"]),
            run=str(data["run"]),
            seeds=(int(data["seeds"][0]), int(data["seeds"][1])),
            n_seeds=int(data["n_seeds"]),
            cells=list(data["cells"]),
            context=dict(data["context"]),
            command=list(data["command"]),
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        raise ResultsError(f"{path}: unreadable shard manifest ({err})") from None


def _difference(a: Mapping, b: Mapping) -> str:
    """What differs between two run contexts, in words."""
    for field in sorted(set(a.get("config", {})) | set(b.get("config", {}))):
        x, y = a.get("config", {}).get(field), b.get("config", {}).get(field)
        if x != y:
            return f"--{field.replace('_', '-')} ({x} vs {y})"
    for key in ("experiment", "versions", "x64", "backend", "device_kind", "config_class"):
        if a.get(key) != b.get(key):
            return f"{key} ({a.get(key)} vs {b.get(key)})"
    return "their run context"


def check_shards(folders: Sequence[str | os.PathLike[str]]) -> list[Shard]:
    """The finished shards of ``folders``, sorted by seed range, once they are checked to be one whole run:
    one experiment, config, versions and device kind; disjoint seed ranges that cover 0..R-1.

    Raises:
      PgjaxError: one line naming the shards: a mismatch, an overlap, or the missing seed ranges (with the
        unfinished shard folders, which are resumed by running their command again).
    """
    shards, unfinished = [], []
    for folder in folders:
        shard = read_shard(folder)
        (unfinished.append(Path(folder)) if shard is None else shards.append(shard))
    if not shards:
        raise PgjaxError(f"no finished shard among {', '.join(str(f) for f in folders)}; run or resume them first")
    first = shards[0]
    for other in shards[1:]:
        if other.run != first.run:
            raise PgjaxError(
                f"shards {first.folder} and {other.folder} are not of one run: they differ in "
                f"{_difference(first.context, other.context)}"
            )
    shards.sort(key=lambda s: s.seeds)
    for a, b in zip(shards, shards[1:]):
        if b.seeds[0] < a.seeds[1]:
            raise PgjaxError(
                f"shards {a.label} and {b.label} overlap (seeds {b.seeds[0]}:{min(a.seeds[1], b.seeds[1])})"
            )
    gaps = missing_ranges([s.seeds for s in shards], first.n_seeds)
    if gaps:
        where = f"; unfinished shard folder(s): {', '.join(str(f) for f in unfinished)}" if unfinished else ""
        raise PgjaxError(
            f"incomplete shards: seeds {format_ranges(gaps)} of 0:{first.n_seeds} are missing{where}; "
            f"run those seeds (or re-run the launch) and merge again"
        )
    return shards


def _match_key(identity: Mapping[str, Any]) -> str:
    return cell_key({k: v for k, v in identity.items() if k not in _UNMATCHED})


class ShardStore:
    """The cell store of a merge: ``load(identity)`` of a cell of the whole run returns the rows of the shards'
    cells of that identity, concatenated in seed order. A cell that some shard lacks is an error (a merge never
    computes); nothing is saved.
    """

    resume = True
    folder = None
    seed_range = None

    def __init__(self, shards: Sequence[Shard]):
        self.shards = list(shards)
        self.loaded: list[str] = []
        self.saved: list[str] = []
        self._index: list[dict[str, Path]] = []
        for shard in self.shards:
            index = {}
            for name in shard.cells:
                path = shard.folder / CELLS_DIR / shard.run / name
                try:
                    with np.load(path, allow_pickle=False) as data:
                        identity = json.loads(str(data["identity"]))
                except Exception as err:
                    raise ResultsError(
                        f"{path}: missing or unreadable cell of a finished shard ({type(err).__name__})"
                    ) from None
                if identity.get("seeds") != list(shard.seeds):
                    raise ResultsError(
                        f"{path}: holds seeds {identity.get('seeds')}, not the shard's {list(shard.seeds)}"
                    )
                index[_match_key(identity)] = path
            self._index.append(index)

    def load(self, identity: Mapping[str, Any]) -> np.ndarray:
        key = _match_key(identity)
        parts = []
        for shard, index in zip(self.shards, self._index):
            path = index.get(key)
            if path is None:
                what = identity.get("estimator") or identity.get("setup") or "a cell"
                raise ResultsError(
                    f"{shard.folder}: no cell of {str(what)[:80]} at n = {identity.get('n', '-')}: the shard was "
                    f"computed from other inputs (merge on the kind of machine the shards ran on)"
                )
            with np.load(path, allow_pickle=False) as data:
                rows = np.array(data["estimates"])
            if rows.ndim != 2 or rows.shape[0] != shard.seeds[1] - shard.seeds[0]:
                raise ResultsError(f"{path}: holds {rows.shape[0]} rows, not the shard's seeds {shard.label}")
            parts.append(rows)
            self.loaded.append(path.name)
        out = np.concatenate(parts, axis=0)
        if out.shape[0] != cell_rows(identity):
            raise ResultsError(f"the shards hold {out.shape[0]} seeds of a cell of {cell_rows(identity)}")
        return out

    def save(self, identity, estimates):  # pragma: no cover - load never misses
        raise PgjaxError("a merge computes nothing; a shard is missing a cell")


def check_shard_folder(out: str | os.PathLike[str], experiment: str, *, overwrite: bool = False) -> None:
    """ResultsError, one line, unless ``out`` may hold a shard of ``experiment``: absent, empty, or a shard
    folder (``cells/``, ``shard.json``) of that experiment. With ``overwrite``, anything else in it is deleted."""
    import shutil

    folder = Path(out)
    if not folder.is_dir():
        return
    reason = None
    for entry in sorted(folder.iterdir()):
        if ".tmp-" in entry.name:
            continue
        if entry.name == SHARD_FILE:
            try:
                owner = json.loads(entry.read_text(encoding="utf-8")).get("experiment")
            except (OSError, ValueError, AttributeError):
                owner = None
            if owner != experiment:
                reason = f"holds a shard of experiment {owner!r}"
        elif entry.name == CELLS_DIR and entry.is_dir():
            for run in entry.iterdir():
                try:
                    owner = json.loads((run / "run.json").read_text(encoding="utf-8")).get("experiment")
                except (OSError, ValueError, AttributeError):
                    continue
                if owner != experiment:
                    reason = f"holds the cells of experiment {owner!r}"
        else:
            reason = f"is not a shard folder (it holds {entry.name})"
        if reason:
            break
    if reason is None:
        return
    if not overwrite:
        raise ResultsError(f"{out} {reason}; choose another --out, or add --overwrite to replace it")
    shutil.rmtree(folder)

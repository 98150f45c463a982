"""Seed shards and their merge: a training experiment (cartpole-reinforce) run as three shards and merged
gives the tables and per-seed metrics of one run; the seed-range arithmetic; a set of shards that overlaps,
mixes runs or misses seeds is refused with one line naming the shards. (The variance experiment's shards, a
killed task and the launcher are in tests/test_launch.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from pgjax import cli
from pgjax import io as pio
from pgjax.engine import shards
from pgjax.errors import ConfigError, PgjaxError

#: 12 seeds in 3 shards of 4 (an interquartile mean needs 4), one estimator, a few updates.
TRAIN = [
    "cartpole-reinforce",
    "--n-seeds",
    "12",
    "--episodes",
    "2",
    "--horizon",
    "20",
    "--updates",
    "4",
    "--log-every",
    "2",
    "--bootstrap-reps",
    "100",
    "--estimators",
    "reward_to_go",
    "--chunks",
    "1",
]


def test_training_shards_merge_into_the_tables_of_one_run(tmp_path, capsys):
    folders = [tmp_path / f"s{i}" for i in range(3)]
    for i, folder in enumerate(folders):
        assert cli.main(["run", *TRAIN, "--shard", f"{i}/3", "--out", str(folder)]) == 0
    # the unsharded run is the reference of the tables and raw metrics only: its figures are not looked at
    assert cli.main(["run", *TRAIN, "--no-figures", "--out", str(tmp_path / "one")]) == 0
    assert cli.main(["merge", str(tmp_path / "merged"), *map(str, reversed(folders))]) == 0
    assert pio.compare_tables(tmp_path / "one", tmp_path / "merged", []) == []
    tables = sorted(p.name for p in (tmp_path / "merged").glob("*.parquet"))
    assert tables == ["curves.parquet", "improvement.parquet", "table.parquet"]
    with np.load(tmp_path / "one" / "raw.npz") as one, np.load(tmp_path / "merged" / "raw.npz") as merged:
        assert sorted(one.files) == sorted(merged.files)
        for key in one.files:  # every seed's metrics, bit for bit
            np.testing.assert_array_equal(one[key], merged[key])
    capsys.readouterr()

    # A shard of another config (more bootstrap replicates) is not of the same run: refused, naming the flag.
    other = tmp_path / "other"
    changed = [a if a != "100" else "200" for a in TRAIN]
    assert cli.main(["run", *changed, "--seed-range", "4:8", "--out", str(other)]) == 0
    capsys.readouterr()
    assert cli.main(["merge", str(tmp_path / "m2"), str(folders[0]), str(other), str(folders[2])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not of one run" in err and "--bootstrap-reps (100 vs 200)" in err, err


def test_seed_ranges():
    assert [shards.shard_range(f"{i}/3", 10) for i in range(3)] == [(0, 3), (3, 6), (6, 10)]
    assert shards.parse_seed_range("2:7", 10) == (2, 7)
    assert shards.missing_ranges([(0, 3), (6, 9)], 12) == [(3, 6), (9, 12)]
    for bad in ("3:3", "5:2", "0:11", "a:b", "4"):
        with pytest.raises(ConfigError, match="--seed-range"):
            shards.parse_seed_range(bad, 10)
    for bad in ("3/3", "0/0", "1/11", "x"):
        with pytest.raises(ConfigError, match="--shard"):
            shards.shard_range(bad, 10)


def _fake_shard(folder, seeds, run="r1", n_seeds=9):
    folder.mkdir(parents=True)
    context = {"experiment": "bandit-variance", "config": {"n_seeds": str(n_seeds)}}
    shards.write_shard_manifest(
        folder,
        experiment="bandit-variance",
        context=context,
        run_key=run,
        seeds=seeds,
        n_seeds=n_seeds,
        cells=[],
        argv=["pgjax", "run", "bandit-variance"],
    )
    return folder


def test_overlapping_or_missing_shards_are_named(tmp_path):
    a = _fake_shard(tmp_path / "a", (0, 4))
    b = _fake_shard(tmp_path / "b", (3, 6))
    c = _fake_shard(tmp_path / "c", (6, 9))
    with pytest.raises(PgjaxError, match=r"shards .*a \(seeds 0:4\) and .*b \(seeds 3:6\) overlap \(seeds 3:4\)"):
        shards.check_shards([a, b, c])
    unfinished = tmp_path / "u"
    (unfinished / "cells").mkdir(parents=True)
    with pytest.raises(PgjaxError, match=r"seeds 4:6 of 0:9 are missing; unfinished shard folder\(s\): .*u;"):
        shards.check_shards([a, c, unfinished])
    with pytest.raises(pio.ResultsError, match="not a shard folder"):
        shards.check_shards([a, tmp_path])


def test_bad_seed_range_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "x"
    assert cli.main(["run", *TRAIN, "--seed-range", "8:20", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--seed-range: must be START:STOP with 0 <= START < STOP <= 12" in err
    assert not out.exists()


def test_a_sweep_of_other_seeds_in_a_shard_is_refused(tmp_path):
    """An experiment that runs a sweep of another size (a reference of its own seeds) cannot be sharded."""
    from pgjax.engine.cells import CellStore, check_shard_sweep

    store = CellStore(tmp_path, seed_range=(0, 4), shard_of=12)
    check_shard_sweep(store, 12)
    with pytest.raises(ConfigError, match="--seed-range: this experiment also runs 100 seeds besides its 12"):
        check_shard_sweep(store, 100)

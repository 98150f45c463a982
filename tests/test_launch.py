"""``pgjax launch`` through submitit: a local shard task of bandit-variance killed after its first saved cell,
the merge that refuses the incomplete set naming the missing seeds, the resume from the saved cell, and tables
identical to one unsharded run; the SLURM job array the launcher submits (to a stand-in ``sbatch``)."""

from __future__ import annotations

import os
import re
import signal
import stat
import time
from pathlib import Path

import pytest

pytest.importorskip("submitit")

from pgjax import cli
from pgjax import io as pio

#: Two estimators (two programs, so a task saves its cells one after the other), 9 seeds: shards 0:3, 3:6, 6:9.
ARGS = ["bandit-variance", "--estimators", "reinforce", "constant_baseline", "--ns", "8", "--n-seeds", "9"]


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _wait_for(condition, timeout: float = 300.0, step: float = 0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the task process through /proc")
def test_local_shards_killed_task_resume_and_merge_equal_one_run(tmp_path, capsys):
    """Shards 0 and 2 run here (the command a task runs); the launch submits only shard 1 as a local
    submitit task, which is killed after its first saved cell. The merge then refuses the set, naming seeds
    3:6; the task's command resumes from the saved cell; launching again submits nothing and merges tables
    identical to one unsharded run. (One task process only: each costs seconds of imports.)"""
    out, root = tmp_path / "merged", tmp_path / "merged.shards"
    folders = [root / f"shard-{i}-of-3" for i in range(3)]
    task = [*ARGS, "--shard", "1/3", "--out", str(folders[1]), "--resume"]
    for i in (0, 2):
        assert cli.main(["run", *ARGS, "--shard", f"{i}/3", "--out", str(folders[i]), "--resume"]) == 0
    launch = ["launch", *ARGS, "--shards", "3", "--backend", "local", "--time", "10", "--out", str(out)]
    assert cli.main([*launch, "--no-wait"]) == 0
    printed = capsys.readouterr().out
    assert "submitted 1 shard task(s) of 3 (2 already finished)" in printed, printed
    controller = int(re.search(r"shard 1/3 job (\d+)", printed).group(1))

    def first_cell():
        found = [p for p in (folders[1] / pio.CELLS_DIR).glob("*/*.npz") if ".tmp-" not in p.name]
        return found[0] if found else None

    saved = _wait_for(first_cell)
    (process,) = _wait_for(lambda: _children(controller))
    os.kill(process, signal.SIGKILL)  # the shard's task process, after its first saved cell
    _wait_for(lambda: not Path(f"/proc/{controller}").exists() or _children(controller) == [], step=0.05)
    inode = saved.stat().st_ino
    assert not (folders[1] / "shard.json").exists()

    assert cli.main(["merge", str(out), *map(str, folders)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "seeds 3:6 of 0:9 are missing" in err, err
    assert "shard-1-of-3" in err and not out.exists()

    assert cli.main(["run", *task]) == 0
    assert saved.stat().st_ino == inode  # the killed task's cell was reused, not recomputed
    assert cli.main(launch) == 0  # nothing left to submit: merges
    assert "submitted" not in capsys.readouterr().out
    # the unsharded run is the tables' reference only: its figures are not looked at (the merge draws its own)
    assert cli.main(["run", *ARGS, "--no-figures", "--out", str(tmp_path / "one")]) == 0
    assert pio.compare_tables(tmp_path / "one", out, []) == []
    assert sorted(p.name for p in out.glob("*.parquet")) == ["quality.parquet", "table.parquet"]
    manifest = pio.read_manifest(out)
    assert [s["seeds"] for s in manifest["merged_from"]["shards"]] == [[0, 3], [3, 6], [6, 9]]
    assert manifest["command"][:3] == ["pgjax", "run", "bandit-variance"] and "--shard" not in manifest["command"]


def test_slurm_backend_submits_one_job_array(tmp_path, capsys, monkeypatch):
    """The launcher's sbatch script, submitted to a stand-in sbatch (no SLURM here): one array of 3 tasks with
    the partition, GPUs and time asked for, and each task's command resumes its shard."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = tmp_path / "submitted.sh"
    for name, body in {
        "sbatch": f'cp "$1" {script}\necho "Submitted batch job 4242"\n',
        "srun": "exit 0\n",
    }.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "run"
    args = [*ARGS, "--shards", "3", "--backend", "slurm", "--partition", "gpu", "--gpus-per-task", "1"]
    assert cli.main(["launch", *args, "--time", "2:00:00", "--out", str(out), "--no-wait"]) == 0
    printed = capsys.readouterr().out
    assert "shard 2/3 job 4242_2" in printed and f"pgjax merge {out}" in printed
    text = script.read_text()
    for line in ("#SBATCH --array=0-2%3", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-task=1", "#SBATCH --time=120"):
        assert line in text, text
    assert not (tmp_path / "run.shards" / "shard-0-of-3" / "shard.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--shards", "10", "--backend", "local"], "--shards: at most the 9 seeds"),
        (["--shards", "2", "--backend", "pbs"], "--backend: choose slurm or local"),
        (["--shards", "2", "--backend", "local", "--time", "soon"], "--time"),
        (["--shards", "2", "--backend", "local", "--seed-range", "0:3"], "--seed-range is set per task"),
    ],
)
def test_launch_mistakes_are_one_line(tmp_path, capsys, args, message):
    assert cli.main(["launch", *ARGS, *args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "x.shards").exists()


def test_task_environments_pick_gpus_and_share_them(monkeypatch):
    """Local tasks get their GPUs through CUDA_VISIBLE_DEVICES, and XLA_PYTHON_CLIENT_PREALLOCATE=false when
    tasks share one (unless the user set a JAX memory variable); SLURM tasks are left to SLURM."""
    from pgjax.launch import task_environments

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    for name in ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION"):
        monkeypatch.delenv(name, raising=False)
    envs = task_environments("local", 3, 1)
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["4", "5", "4"]
    assert all(e["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" for e in envs)
    assert all("XLA_PYTHON_CLIENT_PREALLOCATE" not in e for e in task_environments("local", 2, 1))  # one GPU each
    assert [e["CUDA_VISIBLE_DEVICES"] for e in task_environments("local", 2, 0)] == ["4,5", "4,5"]
    monkeypatch.setenv("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.3")
    assert all("XLA_PYTHON_CLIENT_PREALLOCATE" not in e for e in task_environments("local", 3, 1))
    assert task_environments("slurm", 3, 1) == [{}, {}, {}]

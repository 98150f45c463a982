"""Scale-out and integrity: the same per-seed numbers on 1 device or 2 processes of 2 devices, any chunk size;
a run killed with SIGKILL after saving cells (or while writing one) resumes from those cells to the tables of
an uninterrupted run and never leaves a partial file visible; SIGINT stops cleanly; non-finite estimates are
counted without aborting."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pgjax import io as pio
from pgjax.cli_support import cores
from pgjax.engine.cells import CELL_SCHEMA

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sweep_worker  # noqa: E402  (the worker script beside this file, importable after the path insert)


def _env(devices: int = 1, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    env.update({"JAX_NUM_CPU_DEVICES": str(devices), "JAX_PLATFORMS": "cpu", **extra})
    return env


@pytest.fixture(scope="module")
def reference():
    """The sweep in this process: 1 device, one chunk size."""
    return sweep_worker.flatten(sweep_worker.sweep(chunk_size=64))


def _assert_identical(got: dict, want: dict):
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_chunk_size_never_changes_a_bit(reference):
    _assert_identical(sweep_worker.flatten(sweep_worker.sweep(chunk_size=203)), reference)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_over_localhost_give_bit_identical_estimates(tmp_path, reference):
    """Two processes of 2 CPU devices each (4 devices in all), host chunks of 100 seeds (203 seeds: the last
    chunk partial): every process ends with the estimates of one device and one chunk in this process. With
    tests/estimators/test_estimator_matrix.py (every estimator on 1 and 4 devices of one process), this is the
    device-count and process-count check of the engine's promise."""
    address = f"127.0.0.1:{_free_port()}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "sweep_worker.py"),
                str(tmp_path / f"p{pid}.npz"),
                "--coordinator",
                address,
                "--nproc",
                "2",
                "--pid",
                str(pid),
                "--chunk",
                "100",
            ],
            env=_env(devices=2),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for pid in (0, 1)
    ]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    for pid in (0, 1):  # every process ends with the full estimates
        data = dict(np.load(tmp_path / f"p{pid}.npz"))
        execution = str(data.pop("execution"))
        assert "'processes': 2" in execution and "'devices': 4" in execution
        _assert_identical(data, reference)


# ------------------------------------------------------------------------------------------ resume
#: Three estimators of different kinds (score function, a batch baseline, pathwise), three sample sizes in one
#: micro-batch group: one cell per (estimator, n), each estimator one compiled program. Small, because every
#: run below is a fresh process that compiles (the suite's time budget); 100 seeds in chunks of 32 still make
#: four host chunks, the last one partial.
RUN = [
    "--n-seeds",
    "100",
    "--ns",
    "1",
    "4",
    "16",
    "--chunk-size",
    "32",
    "--estimators",
    "reinforce",
    "leave_one_out",
    "pathwise",
    "--no-figures",  # the tables are compared; tests/test_cli.py and the plotting tests draw figures
    "--no-fuse",  # one program per estimator, so that cells are saved estimator by estimator (the kill points)
]


def _pgjax(args, env, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "pgjax.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _visible_files_are_whole(out: Path, n_seeds: int = 100):
    """Every file a reader can see (not a *.tmp-* temporary) is complete and readable."""
    for path in out.rglob("*"):
        if path.is_dir() or ".tmp-" in path.name:
            continue
        if path.suffix == ".npz" and "cells" in path.relative_to(out).parts:
            with np.load(path) as data:
                assert json.loads(str(data["identity"]))["schema"] == CELL_SCHEMA
                assert data["estimates"].shape[0] == n_seeds
        elif path.name == "table.parquet":
            pio.read_table(out)
        elif path.name == "manifest.json":
            pio.read_manifest(out)
        elif path.name == "raw.npz":
            pio.read_raw(out)


def _cell_files(out: Path) -> list[Path]:
    """The finished cells of a results folder (a *.tmp-*.npz file is a cell still being written)."""
    return [p for p in (out / "cells").rglob("*.npz") if ".tmp-" not in p.name]


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory):
    return _env(XDG_CACHE_HOME=str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, cache_env):
    out = tmp_path_factory.mktemp("full") / "run"
    proc = _pgjax(["run", "bandit-variance", *RUN, "--out", str(out)], cache_env)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return out


#: Runs `pgjax` and SIGKILLs it at a chosen moment: PGJAX_TEST_KILL=after:K kills it right after its K-th
#: saved cell, during:K while its K-th cell is written (its bytes in a temporary file, not yet renamed).
KILLER = """
import os, runpy, signal, sys
from pgjax.engine import cells
mode, count = os.environ["PGJAX_TEST_KILL"].split(":")
if mode == "after":
    save = cells.CellStore.save
    def killing_save(self, identity, estimates):
        path = save(self, identity, estimates)
        if len(self.saved) >= int(count):
            os.kill(os.getpid(), signal.SIGKILL)
        return path
    cells.CellStore.save = killing_save
else:
    replace, renames = os.replace, []
    def killing_replace(src, dst):
        if str(dst).endswith(".npz") and "cells" in str(dst):
            renames.append(dst)
            if len(renames) >= int(count):
                os.kill(os.getpid(), signal.SIGKILL)
        return replace(src, dst)
    os.replace = killing_replace
runpy.run_module("pgjax.cli", run_name="__main__")
"""


def test_sigkill_after_saved_cells_then_resume_loads_them_and_equals_uninterrupted(tmp_path, cache_env, uninterrupted):
    """Kills at chosen moments, each after cells were saved, never by a timer: after two estimators' cells and
    part of the third's; then, in the resumed run, in the middle of writing a cell. The run resumed after that
    loads the cells of the two finished estimators and gives the uninterrupted run's tables bit for bit."""
    from pgjax.engine import micro_batch_groups

    out = tmp_path / "run"
    ns = [int(n) for n in RUN[RUN.index("--ns") + 1 : RUN.index("--chunk-size")]]
    assert len(micro_batch_groups(ns)) == 1, "one cell group per estimator: the kill points below assume it"
    per_estimator = len(ns)
    command = [sys.executable, "-c", KILLER, "run", "bandit-variance", *RUN, "--out", str(out), "--resume"]
    for mode, count, cells_after in [
        ("after", 2 * per_estimator + 2, 2 * per_estimator + 2),
        ("during", 1, 2 * per_estimator + 2),
    ]:
        proc = subprocess.run(
            command,
            env={**cache_env, "PGJAX_TEST_KILL": f"{mode}:{count}"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == -signal.SIGKILL, (mode, count, proc.returncode, proc.stderr[-2000:])
        assert len(_cell_files(out)) == cells_after, (mode, count)
        assert not (out / "manifest.json").exists()
        _visible_files_are_whole(out)
    assert list((out / "cells").rglob("*.tmp-*.npz")), "the last kill did not land inside a cell write"
    proc = _pgjax(["run", "bandit-variance", *RUN, "--out", str(out), "--resume"], cache_env)
    stdout, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert pio.read_manifest(out)["execution"]["cells_loaded"] == 2 * per_estimator
    assert f"resumed: {2 * per_estimator} finished cell(s) reused" in stdout
    _visible_files_are_whole(out)
    assert not list((out / "cells").rglob("*.tmp-*")), "a killed write's temporary was left behind"
    pd.testing.assert_frame_equal(pio.read_table(out), pio.read_table(uninterrupted))
    got, _, _ = pio.read_raw(out)
    want, _, _ = pio.read_raw(uninterrupted)
    for name in want:
        for n in want[name]:
            np.testing.assert_array_equal(got[name][n], want[name][n])
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"], "stale staging folder left behind"


def test_sigint_stops_cleanly_and_says_how_to_resume(tmp_path, cache_env):
    out = tmp_path / "run"
    # A large last n keeps the run busy for seconds after its first finished cell (small n come first), so
    # the signal always lands mid-sweep, however fast the machine or warm the compilation cache.
    args = [*RUN[: RUN.index("--chunk-size")], "65536", *RUN[RUN.index("--chunk-size") :]]
    # Ctrl-C as in a terminal: a shell that starts the tests in the background (as `cmd &` does without job
    # control) hands its children SIGINT ignored, and Python then keeps ignoring it; so the child installs
    # Python's own handler first (in the child, not with preexec_fn, which forks a multithreaded process).
    start = (
        "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "runpy.run_module('pgjax.cli', run_name='__main__')"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", start, "run", "bandit-variance", *args, "--n-seeds", "3000", "--out", str(out)],
        env=cache_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300

    def finished_cells():
        return _cell_files(out)

    started = time.time()
    while time.time() < deadline and not finished_cells() and proc.poll() is None:
        time.sleep(0.2)
    seen = (len(finished_cells()), proc.poll(), round(time.time() - started, 1))
    proc.send_signal(signal.SIGINT)
    out_text, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (
        f"cells seen, exit status, seconds at the signal: {seen}; stdout: {out_text[-500:]!r}; stderr: {err[-2000:]!r}"
    )
    last = err.strip().splitlines()[-1]
    assert "--resume" in last and "Traceback" not in err
    assert finished_cells(), "finished cells were not kept"
    assert not (out / "table.parquet").exists()
    _visible_files_are_whole(out, n_seeds=3000)


def test_changed_config_never_reuses_cells(tmp_path, cache_env, capsys):
    """A resumed run with another seed reuses nothing (the manifest would otherwise name the new seed over the
    old seed's numbers); the same command again reuses everything."""
    from pgjax import cli

    out = tmp_path / "run"
    small = ["--n-seeds", "50", "--ns", "4", "--estimators", "reinforce", "--no-figures"]
    assert cli.main(["run", "bandit-variance", *small, "--out", str(out)]) == 0
    first, _, _ = pio.read_raw(out)
    for change in (["--seed", "1"],):  # every other config field: tests/engine/test_cells.py
        capsys.readouterr()
        assert cli.main(["run", "bandit-variance", *small, *change, "--out", str(out), "--resume"]) == 0
        assert "resumed:" not in capsys.readouterr().out
        manifest = pio.read_manifest(out)
        assert manifest["execution"]["cells_loaded"] == 0
        assert manifest["config"][change[0][2:]] == float(change[1])
        again, _, _ = pio.read_raw(out)
        assert not np.array_equal(again["reinforce"][4], first["reinforce"][4])
        assert len(_cell_files(out)) == 1  # the stale cell was pruned
    assert cli.main(["run", "bandit-variance", *small, "--seed", "1", "--out", str(out), "--resume"]) == 0
    assert "resumed: 1 finished cell(s) reused, 0 computed" in capsys.readouterr().out


def test_corrupt_cell_gives_one_line_error_naming_it(tmp_path, capsys):
    from pgjax import cli

    out = tmp_path / "run"
    small = ["--n-seeds", "50", "--ns", "4", "--estimators", "reinforce", "--no-figures", "--out", str(out)]
    assert cli.main(["run", "bandit-variance", *small]) == 0
    cell = _cell_files(out)[0]
    cell.write_bytes(cell.read_bytes()[:100])
    capsys.readouterr()
    assert cli.main(["run", "bandit-variance", *small, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and cell.name in err


def test_nonfinite_estimates_are_counted_not_fatal(tmp_path):
    """sigma = 1e20 overflows the quadratic reward in float32: the sweep completes and flags it."""
    from pgjax.experiments import bandit_variance

    result = bandit_variance.run(
        bandit_variance.Config(sigma=1e20, n_seeds=20, ns=(1, 4), estimators=("reinforce", "pathwise"))
    )
    assert (result.table["n_nonfinite"] > 0).any()
    assert (result.table["n_nonfinite"] <= 20).all()


# ------------------------------------------------------- Mohamed et al. (2020) figures through the engine
FIG3 = dict(
    functions=("exp", "cos"), estimators=("reinforce", "pathwise"), curve_points=5, mc_points=3, n_seeds=300
)  # 300 seeds: not a multiple of a micro-batch (256) or of 4 devices x 256


def _flags(config: dict) -> list[str]:
    args = []
    for key, value in config.items():
        args.append("--" + key.replace("_", "-"))
        args.extend(str(v) for v in (value if isinstance(value, tuple) else (value,)))
    return args


def _assert_same_raw_grid(out: Path, index: pd.DataFrame, estimates: np.ndarray):
    """raw.npz of ``out`` holds the cells ``index`` (axis values, estimator, n) with exactly ``estimates``."""
    got = pio.read_raw_grid(out)
    pd.testing.assert_frame_equal(got.index, index.reset_index(drop=True), check_dtype=False)
    np.testing.assert_array_equal(got.estimates, estimates)


def test_mohamed_fig3_on_four_devices_gives_the_one_device_estimates(tmp_path, cache_env):
    """Seeds sharded over 4 CPU devices (a fresh process, `pgjax run ... --devices 4`) give the same bits as
    one device in this process."""
    from pgjax.experiments import mohamed2020_fig3

    out = tmp_path / "four"
    proc = _pgjax(
        ["run", "mohamed2020-fig3", *_flags(FIG3), "--devices", "4", "--no-figures", "--out", str(out)],
        {**cache_env, "JAX_NUM_CPU_DEVICES": "4"},
    )
    reference = mohamed2020_fig3.run(mohamed2020_fig3.Config(**FIG3), execution={"devices": 1})
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    execution = pio.read_manifest(out)["execution"]
    assert execution["devices"] == 4 and execution["sweeps"] == 2
    assert reference.sweep.execution["devices"] == 1
    index, estimates, _ = reference.sweep.stacked()  # one cell per (function, k, estimator)
    _assert_same_raw_grid(out, index, estimates)


#: A learned critic (a least-squares fit per step of every seed's pilot batch) with the defaults' system, over
#: 4 steps (enough: a 4-step run hung as the 20-step default did).
LQR_GAE = dict(critics=("learned",), lambdas=(0.9,), references=("reinforce",), horizon=4, n_pilot=64, n=16, n_seeds=64)


@pytest.mark.skipif(cores() < 2, reason="needs two cores")
def test_pgjax_run_takes_a_device_per_core_and_the_learned_critic_finishes_there(tmp_path, cache_env):
    """Through the command a user types, in a fresh process that chose nothing: `pgjax run` gives JAX one CPU
    device per core (pgjax.cli_support.use_every_core) and each device's program fits its seeds' critics at
    the same time. A batched LAPACK call there used to hang the process (jaxlib 0.10 splits a batch over the
    thread pool the devices' programs already occupy); the fit decomposes one matrix at a time, so the run
    finishes, with the bits of one device in this process."""
    from pgjax.experiments import lqr_gae

    out = tmp_path / "cores"
    env = {k: v for k, v in cache_env.items() if k != "JAX_NUM_CPU_DEVICES"}
    proc = _pgjax(["run", "lqr-gae", *_flags(LQR_GAE), "--no-figures", "--out", str(out)], env)
    reference = lqr_gae.run(lqr_gae.Config(**LQR_GAE), execution={"devices": 1})
    try:
        _, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("pgjax run lqr-gae on a CPU device per core did not finish in 300 s")
    assert proc.returncode == 0, err
    assert pio.read_manifest(out)["execution"]["devices"] == cores()
    _, estimates, _ = reference.sweep.stacked()
    np.testing.assert_array_equal(pio.read_raw_grid(out).estimates, estimates)


#: A sweep on two CPU devices of REINFORCE and of an estimator whose per-seed program fits a least-squares problem
#: that depends on the seed (a batched LAPACK call once the engine vmaps the seeds); prints a JSON summary.
BATCHED_SOLVE = """
import dataclasses, json
import jax, jax.numpy as jnp, numpy as np
from pgjax.engine import run_sweep
from pgjax.estimators import Reinforce
from pgjax.problems import LinearGaussianBandit

@dataclasses.dataclass(frozen=True)
class FittedReinforce(Reinforce):
    def __call__(self, key, params, problem, n):
        g = super().__call__(key, params, problem, n)
        a = jax.random.normal(jax.random.fold_in(key, 7), (64, 6))
        x = jnp.linalg.lstsq(a, a @ jnp.ones(6))[0]  # (1, ..., 1) up to rounding
        return jax.tree.map(lambda leaf: leaf * jnp.mean(x), g)

problem = LinearGaussianBandit.build(state=[1.0, 0.5], theta=[0.2, -0.3], sigma=1.0)
params = problem.init_params()
estimators = {"reinforce": Reinforce(), "fitted": FittedReinforce()}
two = run_sweep(problem, params, estimators, [4, 16], 4096, devices=2)
one = run_sweep(problem, params, estimators, [4, 16], 4096, devices=1)
print(json.dumps({
    "devices": two.execution["devices"],
    "one_device_programs": two.execution.get("one_device_programs"),
    "same": all(np.array_equal(two.estimates[k][n], one.estimates[k][n]) for k in estimators for n in (4, 16)),
}))
"""


def test_a_program_with_a_batched_lapack_call_runs_on_one_of_the_cpu_devices(cache_env):
    """On several CPU devices, a program with a batched LAPACK call (a plug-in estimator's, here) runs on one
    device, so it cannot hang (see pgjax.engine.sweep.batched_lapack_calls: without that guard this sweep
    hangs); the others use every device, the execution record names it, and the estimates are those of one
    device."""
    proc = subprocess.run(
        [sys.executable, "-c", BATCHED_SOLVE],
        env={**cache_env, "JAX_NUM_CPU_DEVICES": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary == {"devices": 2, "one_device_programs": ["fitted"], "same": True}


def test_mohamed_fig2_resume_equals_an_uninterrupted_run(tmp_path):
    """One cell per (function, estimator) with --no-fuse: a run that lost a cell, resumed, equals the
    uninterrupted run bit for bit, and reuses the cell it kept."""
    from pgjax import cli

    out = tmp_path / "run"
    args = [
        "run",
        "mohamed2020-fig2",
        "--estimators",
        "reinforce",
        "pathwise",
        "--curve-points",
        "5",
        "--mc-points",
        "3",
        "--n-seeds",
        "300",
        "--no-fuse",
        "--no-compile-cache",
        "--no-figures",
        "--devices",
        "1",
        "--out",
        str(out),
    ]
    assert cli.main(args) == 0
    uninterrupted = pio.read_raw_grid(out)
    cells = sorted(_cell_files(out))
    assert len(cells) == 2  # quadratic x (reinforce, pathwise)
    cells[0].unlink()  # as if the run had been killed before its second cell
    (out / "raw.npz").unlink()
    assert cli.main([*args, "--resume"]) == 0
    execution = pio.read_manifest(out)["execution"]
    assert execution["cells_loaded"] == 1 and execution["compiles"] == 1
    _assert_same_raw_grid(out, uninterrupted.index, uninterrupted.estimates)


def test_mohamed_fig2_budget_below_one_micro_batch_is_one_line(tmp_path, capsys):
    from pgjax import cli

    out = tmp_path / "run"
    code = cli.main(
        [
            "run",
            "mohamed2020-fig2",
            "--estimators",
            "pathwise",
            "--curve-points",
            "3",
            "--mc-points",
            "2",
            "--n-seeds",
            "10",
            "--max-memory",
            "1e-7",
            "--no-compile-cache",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("pgjax: error: --max-memory: pathwise at n = 1 needs ") and "micro-batch" in err
    assert not (out / "table.parquet").exists()

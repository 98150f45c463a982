"""Scale-out benchmark: devices, memory against R x n, chunking, and the persistent compilation cache.

Five measurements, each against a baseline measured in the same run (never a timed unit test):

1. **Devices.** REINFORCE on the linear-Gaussian bandit (the defaults of ``bandit-variance``, quadratic reward)
   through :func:`pgjax.engine.run_sweep` with ``devices=1`` and ``devices=4``, in one subprocess started with
   ``JAX_NUM_CPU_DEVICES=4`` (set before JAX starts), in interleaved rounds so that both see the same machine
   load. The time is ``sweep.run_seconds`` (compilation excluded); rates are samples per second, samples =
   R x n. The estimates of both settings are also checked to be bit-identical.
2. **One CPU device per core.** What every ``pgjax`` command starts on a CPU
   (:func:`pgjax.cli_support.use_every_core`) against a plain one-device process: REINFORCE on the bandit
   and reward-to-go on the ``pgjax bench-lqr`` system, each in fresh processes of either kind, alternated
   (``JAX_NUM_CPU_DEVICES`` = 1 or the number of cores), each timing sweeps on all of its devices; the best
   time of each kind, and whether every process gave the same estimates bit for bit (a digest).
3. **Peak resident memory against R x n.** Sweeps whose R x n grows 100-fold, with n fixed and R growing, and
   with R fixed and n growing, each in a fresh subprocess, which reads its own peak resident set size at the
   end (``VmHWM`` of ``/proc/self/status``, or ``ru_maxrss``); in the full mode each sweep in 3 processes,
   reported by its median, because one process's peak varies between runs of the same sweep (R = 100,
   n = 10^6: 469 MiB in one run, 424 to 428 MiB in three others). In the full mode also one sweep of 10^10
   samples (R = 10^4 seeds x n = 10^6), with its time and peak memory.
4. **Chunked against unchunked.** ``run_sweep``'s micro-batched path against one jitted ``vmap`` over all R
   seeds at once (same estimator, same per-seed keys :func:`pgjax.engine.seed_key`), both returning host
   arrays, in interleaved rounds in one single-device subprocess.
5. **Persistent compilation cache.** The wall time, from process start to finished results, of
   ``pgjax run bandit-variance`` with a small config: with an empty cache folder (``XDG_CACHE_HOME`` a fresh
   temporary folder), again with the now-warm cache, and with ``--no-compile-cache``; plus the compile and
   cache-hit counts from each run's ``manifest.json`` (its ``execution`` field).

Every time is the best of its rounds (the median is recorded too). The device (JAX device kind, CPU model,
cores) and the load average before and after each part are recorded. Results go to ``scaling.json`` and
``scaling.md`` (atomic writes). Entry point: :func:`main` (``python -m pgjax.bench.scaling [--quick]
[--out DIR]``). Each measurement runs in a subprocess of this module (``--worker TASK_JSON``), which prints
its result as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pgjax.bench.report import cpu_model, format_rate, load_average, write_report
from pgjax.cli_support import cores

JSON_FILE = "scaling.json"
MARKDOWN_FILE = "scaling.md"
DEFAULT_OUT = Path("results") / "bench"
SCHEMA = 1
#: Prefix of the line on which a worker subprocess prints its JSON result.
RESULT_MARKER = "PGJAX_BENCH_SCALING_RESULT "
#: Devices of the throughput subprocess (``JAX_NUM_CPU_DEVICES``) and the settings compared in it.
SCALE_DEVICES = 4
#: Target of the issue: the micro-batched path within 10% of one vmap over all seeds.
TARGET_CHUNKED_RATIO = 0.9
#: Target of the issue: a 10^10-sample sweep under 2 GiB of peak resident memory on the CPU.
TARGET_BIG_RUN_RSS_BYTES = 2 * 2**30

#: Sizes of the full run and of ``--quick`` (for tests and smoke runs; the numbers mean little; its CLI runs skip
#: the figures, whose drawing would dominate them).
FULL = dict(
    n_seeds=4096,
    n=4096,
    rounds=15,
    memory_n=10_000,
    memory_seeds=(100, 1_000, 10_000),
    memory_ns=(100_000, 1_000_000),
    memory_micro_batch_elements=None,  # the engine's default, 262,144 samples: n = 10^6 is past it
    big_run=(10_000, 1_000_000),
    cli_args=("--n-seeds", "200"),
    cache_rounds=2,
    parallel_memory=False,
    memory_reps=3,
    cores_problems=(("bandit", 4096, 4096), ("lqr", 4096, 256)),
    cores_reps=3,
    cores_rounds=5,
)
QUICK = dict(
    n_seeds=1024,
    n=256,
    rounds=2,  # R a multiple of 4 devices x 256-seed micro-batches: no padded seeds
    memory_n=1024,
    memory_seeds=(16, 1_600),
    memory_ns=(102_400,),
    memory_micro_batch_elements=4_096,  # so that n = 102,400 is past one micro-batch (25 sub-batches), as in full
    big_run=None,
    cli_args=("--n-seeds", "20", "--ns", "4", "--estimators", "reinforce", "--no-figures"),
    cache_rounds=1,
    parallel_memory=True,
    cores_problems=(("bandit", 256, 256),),  # the bandit only: each problem costs two fresh processes
    cores_reps=1,
    cores_rounds=1,
)

#: The keys of ``scaling.json`` that always hold a finite positive number (tests check them).
HEADLINE_KEYS = (
    "samples_per_s_1_device",
    "samples_per_s_4_devices",
    "speedup_4_vs_1_devices",
    "samples_per_s_1_device_process",
    "peak_rss_mib_smallest",
    "peak_rss_mib_largest",
    "peak_rss_ratio_largest_vs_smallest",
    "peak_rss_ratio_r_grows",
    "peak_rss_ratio_n_grows",
    "memory_samples_growth",
    "chunked_over_unchunked",
    "compile_cache_cold_s",
    "compile_cache_warm_s",
    "no_compile_cache_s",
)


# =========================================================================================== worker side
def _bandit():
    """(problem, params, {"reinforce": Reinforce()}): the ``bandit-variance`` default bandit, quadratic reward."""
    from pgjax.estimators import make_estimator
    from pgjax.problems import LinearGaussianBandit

    problem = LinearGaussianBandit.build(
        state=(1.0, 0.5), theta=(0.2, -0.3), sigma=1.0, state_std=0.0, reward="quadratic", reward_target=1.0
    )
    return problem, problem.init_params(), {"reinforce": make_estimator("reinforce")}


def _problem(name: str):
    """(problem, params, {estimator name: estimator}) of the per-core measurement: ``"bandit"`` (:func:`_bandit`)
    or ``"lqr"`` (the ``pgjax bench-lqr`` system, H = 50, with reward-to-go)."""
    if name == "bandit":
        return _bandit()
    from pgjax.bench.lqr import bench_problem
    from pgjax.estimators import make_estimator

    problem = bench_problem()
    return problem, problem.init_params(), {"reward_to_go": make_estimator("reward_to_go")}


def task_process(problem: str, n_seeds: int, n: int, rounds: int) -> dict[str, Any]:
    """run_sweep on all of this process's devices: the best run_seconds of ``rounds`` (after a warm-up sweep)
    and a digest of the per-seed estimates."""
    import hashlib

    import numpy as np

    from pgjax.problems.base import sample_cost

    prob, params, estimators = _problem(problem)
    (name,) = estimators
    sweep, _, _ = _sweep(prob, params, estimators, n_seeds, n)
    estimates = np.ascontiguousarray(sweep.estimates[name][n])
    times = [_sweep(prob, params, estimators, n_seeds, n)[0].run_seconds[name] for _ in range(rounds)]
    return {
        "jax_info": _jax_info(),
        "devices": sweep.execution["devices"],
        "steps_per_sample": sample_cost(prob),
        "run_seconds": _summary(times),
        "estimates_sha256": hashlib.sha256(estimates.tobytes()).hexdigest(),
        "all_finite": bool(np.all(np.isfinite(estimates))),
    }


def _proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_bytes() -> int:
    """This process's peak resident set size: ``VmHWM`` (Linux), else ``ru_maxrss``."""
    hwm = _proc_status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss if sys.platform == "darwin" else maxrss * 1024)  # bytes on macOS, KiB on Linux


def _current_rss_bytes() -> int | None:
    rss = _proc_status_kib("VmRSS")
    return None if rss is None else rss * 1024


def _jax_info() -> dict[str, Any]:
    import jax

    first = jax.devices()[0]
    return {
        "platform": first.platform,
        "device_kind": str(first.device_kind),
        "n_devices": len(jax.devices()),
        "jax": jax.__version__,
    }


def _sweep(problem, params, estimators, n_seeds, n, devices=None, micro_batch_elements=None):
    from pgjax.engine import run_sweep

    c0, t0 = time.process_time(), time.perf_counter()
    sweep = run_sweep(
        problem, params, estimators, (n,), n_seeds, devices=devices, micro_batch_elements=micro_batch_elements
    )
    return sweep, time.process_time() - c0, time.perf_counter() - t0


def _summary(values: Sequence[float]) -> dict[str, Any]:
    return {"best": min(values), "median": statistics.median(values), "all": list(values)}


def task_throughput(n_seeds: int, n: int, devices: Sequence[int], rounds: int) -> dict[str, Any]:
    """run_sweep's run_seconds with each ``devices`` setting, in interleaved rounds (after a warm-up sweep)."""
    import numpy as np

    problem, params, estimators = _bandit()
    compile_s, estimates, times, cpu = {}, {}, {d: [] for d in devices}, {d: [] for d in devices}
    for d in devices:  # warm-up: compiles the program of each setting
        sweep, _, _ = _sweep(problem, params, estimators, n_seeds, n, devices=d)
        compile_s[d] = sweep.compile_seconds["reinforce"]
        estimates[d] = sweep.estimates["reinforce"][n]
        execution = sweep.execution
    for r in range(rounds):
        for d in devices if r % 2 == 0 else tuple(reversed(devices)):
            sweep, cpu_s, wall_s = _sweep(problem, params, estimators, n_seeds, n, devices=d)
            times[d].append(sweep.run_seconds["reinforce"])
            cpu[d].append(cpu_s / wall_s)
    first = estimates[devices[0]]
    return {
        "jax_info": _jax_info(),
        "n_seeds": n_seeds,
        "n": n,
        "rounds": rounds,
        "run_seconds": {str(d): _summary(times[d]) for d in devices},
        "compile_seconds": {str(d): compile_s[d] for d in devices},
        "cpu_utilisation_median": {str(d): statistics.median(cpu[d]) for d in devices},
        "bit_identical_across_devices": all(np.array_equal(estimates[d], first) for d in devices),
        "all_finite": bool(all(np.all(np.isfinite(e)) for e in estimates.values())),
        "execution_last": execution,
    }


def task_memory(n_seeds: int, n: int, micro_batch_elements: int | None = None) -> dict[str, Any]:
    """One sweep of R x n samples on the default devices (``micro_batch_elements``: the engine's micro-batch,
    default its own); the peak resident memory of this process after it."""
    import numpy as np

    problem, params, estimators = _bandit()
    rss_before = _current_rss_bytes()
    peak_before = peak_rss_bytes()
    sweep, cpu_s, wall_s = _sweep(problem, params, estimators, n_seeds, n, micro_batch_elements=micro_batch_elements)
    est = np.asarray(sweep.estimates["reinforce"][n], np.float64)
    finite = bool(np.all(np.isfinite(est)))
    # Unbiasedness sanity check (reported, not enforced): |mean - true| in standard errors, per coordinate.
    sd = est.std(axis=0, ddof=1) if n_seeds > 1 else np.full(est.shape[1], np.nan)
    z = np.abs(est.mean(axis=0) - sweep.true_grad) / np.maximum(sd / math.sqrt(n_seeds), 1e-300)
    return {
        "jax_info": _jax_info(),
        "n_seeds": n_seeds,
        "n": n,
        "samples": n_seeds * n,
        "peak_rss_bytes": peak_rss_bytes(),
        "ru_maxrss_kib": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "rss_before_sweep_bytes": rss_before,
        "peak_rss_before_sweep_bytes": peak_before,
        "host_estimates_bytes": int(sweep.estimates["reinforce"][n].nbytes),
        "sweep_wall_seconds": wall_s,
        "compile_seconds": sweep.compile_seconds["reinforce"],
        "run_seconds": sweep.run_seconds["reinforce"],
        "samples_per_s": n_seeds * n / sweep.run_seconds["reinforce"],
        "cpu_utilisation": cpu_s / wall_s,
        "all_finite": finite,
        "max_abs_z_vs_exact": float(np.max(z)) if n_seeds > 1 else None,
        "execution": sweep.execution,
    }


def task_chunked(n_seeds: int, n: int, rounds: int) -> dict[str, Any]:
    """run_sweep (micro-batched, one device) against one jitted vmap over all seeds; interleaved rounds."""
    import jax
    import numpy as np

    from pgjax.engine import seed_key
    from pgjax.tree_util import ravel

    problem, params, estimators = _bandit()
    estimator = estimators["reinforce"]
    sweep, _, _ = _sweep(problem, params, estimators, n_seeds, n, devices=1)  # warm-up (compiles)
    chunked_estimates = sweep.estimates["reinforce"][n]
    micro_bytes = sweep.execution.get("peak_device_bytes_per_micro_batch")

    def all_seeds(params, base_key, seeds):
        return jax.vmap(lambda i: ravel(estimator(seed_key(base_key, i, n), params, problem, n)))(seeds)

    base_key = jax.random.key(sweep.seed)  # run_sweep's base key
    seeds = np.arange(n_seeds, dtype=np.uint32)
    t0 = time.perf_counter()
    compiled = jax.jit(all_seeds).lower(params, base_key, seeds).compile()
    unchunked_compile_s = time.perf_counter() - t0
    memory = compiled.memory_analysis()
    unchunked_bytes = int(memory.temp_size_in_bytes + memory.output_size_in_bytes) if memory is not None else None

    def unchunked() -> np.ndarray:
        return np.asarray(compiled(params, base_key, seeds))

    unchunked_estimates = unchunked()  # warm-up
    chunked_times, unchunked_times = [], []
    for r in range(rounds):
        order = ("chunked", "unchunked") if r % 2 == 0 else ("unchunked", "chunked")
        for which in order:
            if which == "chunked":
                s, _, _ = _sweep(problem, params, estimators, n_seeds, n, devices=1)
                chunked_times.append(s.run_seconds["reinforce"])
            else:
                t0 = time.perf_counter()
                unchunked()
                unchunked_times.append(time.perf_counter() - t0)
    diff = np.abs(chunked_estimates.astype(np.float64) - unchunked_estimates.astype(np.float64))
    scale = max(float(np.max(np.abs(unchunked_estimates))), 1e-30)
    return {
        "jax_info": _jax_info(),
        "n_seeds": n_seeds,
        "n": n,
        "rounds": rounds,
        "chunked_run_seconds": _summary(chunked_times),
        "unchunked_seconds": _summary(unchunked_times),
        "chunked_compile_seconds": sweep.compile_seconds["reinforce"],
        "unchunked_compile_seconds": unchunked_compile_s,
        "micro_batch_seeds": _micro(n),
        "device_bytes_per_micro_batch": micro_bytes,
        "device_bytes_unchunked": unchunked_bytes,
        "bit_identical": bool(np.array_equal(chunked_estimates, unchunked_estimates)),
        "max_rel_diff": float(np.max(diff)) / scale,
        "all_finite": bool(np.all(np.isfinite(chunked_estimates)) and np.all(np.isfinite(unchunked_estimates))),
    }


def _smallest_row(mem: Mapping[str, Any]) -> Mapping[str, Any]:
    return min(mem["rows"], key=lambda row: row["samples"])


def _micro(n: int) -> int:
    from pgjax.engine import micro_batch_size

    return micro_batch_size(n)


TASKS = {"throughput": task_throughput, "memory": task_memory, "chunked": task_chunked, "process": task_process}


def _worker(spec: str) -> int:
    task = json.loads(spec)
    name = task.pop("task")
    result = TASKS[name](**task)
    result["peak_rss_bytes_process"] = peak_rss_bytes()
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


# =========================================================================================== parent side
def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without JAX_* / XLA_* / PGJAX_NO_COMPILE_CACHE / PGJAX_COMPILE_CACHE_DIR settings, on the
    CPU, plus ``extra`` (the benchmark chooses the compilation cache folder itself)."""
    drop = ("PGJAX_NO_COMPILE_CACHE", "PGJAX_COMPILE_CACHE_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_")) and k not in drop}
    env.update({"JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg", **extra})
    return env


class WorkerError(RuntimeError):
    pass


def _run_worker(task: Mapping[str, Any], *, cpu_devices: int | None = None, timeout: float = 3600) -> dict:
    """Runs ``task`` in a fresh Python process (JAX_NUM_CPU_DEVICES = cpu_devices when given)."""
    extra = {} if cpu_devices is None else {"JAX_NUM_CPU_DEVICES": str(cpu_devices)}
    root = Path(__file__).resolve().parent.parent
    env = _clean_env(**extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "pgjax.bench.scaling", "--worker", json.dumps(dict(task))],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=root,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            if proc.returncode == 0:
                return json.loads(line[len(RESULT_MARKER) :])
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
    raise WorkerError(f"benchmark worker {task.get('task')} failed (exit {proc.returncode}):\n{tail}")


def _mib(x: float) -> float:
    return x / 2**20


def _log(message: str, verbose: bool) -> None:
    if verbose:
        print(f"[bench-scaling] {message}", file=sys.stderr, flush=True)


def measure_throughput(sizes: Mapping[str, Any], verbose: bool) -> dict[str, Any]:
    load = load_average()
    _log(f"throughput: R={sizes['n_seeds']} x n={sizes['n']}, devices 1 vs {SCALE_DEVICES}", verbose)
    res = _run_worker(
        {
            "task": "throughput",
            "n_seeds": sizes["n_seeds"],
            "n": sizes["n"],
            "devices": [1, SCALE_DEVICES],
            "rounds": sizes["rounds"],
        },
        cpu_devices=SCALE_DEVICES,
    )
    samples = sizes["n_seeds"] * sizes["n"]
    best = {d: res["run_seconds"][d]["best"] for d in res["run_seconds"]}
    med = {d: res["run_seconds"][d]["median"] for d in res["run_seconds"]}
    res.update(
        samples=samples,
        samples_per_s={d: samples / t for d, t in best.items()},
        samples_per_s_median={d: samples / t for d, t in med.items()},
        speedup_best=best["1"] / best[str(SCALE_DEVICES)],
        speedup_median=med["1"] / med[str(SCALE_DEVICES)],
        load_average={"before": load, "after": load_average()},
    )
    return res


def measure_cores(sizes: Mapping[str, Any], verbose: bool) -> dict[str, Any]:
    """A plain one-device process against one with a CPU device per core (what every ``pgjax`` command now
    starts, :func:`pgjax.cli_support.use_every_core`): for each problem, ``cores_reps`` fresh processes of each
    kind, alternated, each timing ``cores_rounds`` sweeps on all of its devices; the best time of each kind."""
    load = load_average()
    n_cores = cores()
    if n_cores < 2:
        return {"cores": n_cores, "rows": [], "load_average": {"before": load, "after": load_average()}}
    rows = []
    for problem, n_seeds, n in sizes["cores_problems"]:
        _log(f"devices per core: {problem}, R={n_seeds} x n={n}, 1 vs {n_cores} devices", verbose)
        runs: dict[int, list[dict]] = {1: [], n_cores: []}
        for rep in range(sizes["cores_reps"]):
            for devices in (1, n_cores) if rep % 2 == 0 else (n_cores, 1):
                task = {"task": "process", "problem": problem, "n_seeds": n_seeds, "n": n}
                runs[devices].append(_run_worker({**task, "rounds": sizes["cores_rounds"]}, cpu_devices=devices))
        best = {d: min(r["run_seconds"]["best"] for r in rs) for d, rs in runs.items()}
        steps = runs[1][0]["steps_per_sample"]  # an LQR trajectory is H steps
        work = n_seeds * n * steps
        rows.append(
            {
                "problem": problem,
                "unit": "trajectory steps" if steps > 1 else "samples",
                "n_seeds": n_seeds,
                "n": n,
                "work": work,
                "best_seconds": {str(d): t for d, t in best.items()},
                "rate_1_device": work / best[1],
                "rate_per_core": work / best[n_cores],
                "speedup": best[1] / best[n_cores],
                "devices_seen": sorted({r["devices"] for rs in runs.values() for r in rs}),
                "bit_identical": len({r["estimates_sha256"] for rs in runs.values() for r in rs}) == 1,
                "all_finite": all(r["all_finite"] for rs in runs.values() for r in rs),
            }
        )
    return {
        "cores": n_cores,
        "reps": sizes["cores_reps"],
        "rounds": sizes["cores_rounds"],
        "rows": rows,
        "load_average": {"before": load, "after": load_average()},
    }


def measure_chunked(sizes: Mapping[str, Any], verbose: bool) -> dict[str, Any]:
    load = load_average()
    _log(f"chunked vs unchunked: R={sizes['n_seeds']} x n={sizes['n']}, one device", verbose)
    res = _run_worker({"task": "chunked", "n_seeds": sizes["n_seeds"], "n": sizes["n"], "rounds": sizes["rounds"]})
    samples = sizes["n_seeds"] * sizes["n"]
    c, u = res["chunked_run_seconds"], res["unchunked_seconds"]
    res.update(
        samples=samples,
        chunked_samples_per_s=samples / c["best"],
        unchunked_samples_per_s=samples / u["best"],
        ratio_best=u["best"] / c["best"],  # chunked rate / unchunked rate
        ratio_median=u["median"] / c["median"],
        load_average={"before": load, "after": load_average()},
    )
    res["target_met"] = res["ratio_best"] >= TARGET_CHUNKED_RATIO
    return res


def memory_grid(sizes: Mapping[str, Any]) -> list[tuple[int, int, str]]:
    """(R, n, series) of the memory runs: n fixed with R growing, then R fixed (the smallest) with n growing."""
    n0, r0 = sizes["memory_n"], sizes["memory_seeds"][0]
    grid = [(r, n0, "R grows") for r in sizes["memory_seeds"]]
    grid += [(r0, n, "n grows") for n in sizes["memory_ns"]]
    return grid


def measure_memory(sizes: Mapping[str, Any], verbose: bool) -> dict[str, Any]:
    load = load_average()
    grid = memory_grid(sizes)
    _log(
        f"peak memory: {len(grid)} sweeps, R x n from {min(r * n for r, n, _ in grid):.0e} to "
        f"{max(r * n for r, n, _ in grid):.0e}, one process each",
        verbose,
    )

    def one(point):
        r, n, series = point
        row = _run_worker(
            {"task": "memory", "n_seeds": r, "n": n, "micro_batch_elements": sizes.get("memory_micro_batch_elements")}
        )
        row["series"] = series
        return row

    # Each point in ``memory_reps`` fresh processes, the grid walked once per repetition (so that a passing
    # disturbance of the machine hits one run of each point, not all runs of one point); a point's row is its
    # median run, and keeps every run's peak.
    reps = int(sizes.get("memory_reps", 1))
    jobs = [point for _ in range(reps) for point in grid]
    if sizes["parallel_memory"]:  # memory is per process: concurrent runs do not change it (only time)
        with ThreadPoolExecutor(max(1, min(len(jobs), cores()))) as pool:
            runs = list(pool.map(one, jobs))
    else:
        runs = [one(p) for p in jobs]
    rows = []
    for i in range(len(grid)):
        mine = runs[i :: len(grid)]
        row = dict(sorted(mine, key=lambda run: run["peak_rss_bytes"])[(len(mine) - 1) // 2])
        row["peak_rss_bytes_runs"] = [run["peak_rss_bytes"] for run in mine]
        rows.append(row)
    smallest = min(rows, key=lambda row: row["samples"])  # (R0, n0): the first point of both series
    most = max(row["samples"] for row in rows)
    largest = max((row for row in rows if row["samples"] == most), key=lambda row: row["peak_rss_bytes"])
    peaks = [row["peak_rss_bytes"] for row in rows]

    def series_ratio(series: str) -> float:
        """Peak RSS of the series' largest sweep over that of the smallest sweep (R0, n0)."""
        top = max((row for row in rows if row["series"] == series), key=lambda row: row["samples"])
        return top["peak_rss_bytes"] / smallest["peak_rss_bytes"]

    def series_growth(series: str) -> float:
        top = max((row for row in rows if row["series"] == series), key=lambda row: row["samples"])
        return top["samples"] / smallest["samples"]

    return {
        "rows": rows,
        "reps": reps,
        "concurrent": bool(sizes["parallel_memory"]),
        "samples_smallest": smallest["samples"],
        "samples_largest": largest["samples"],
        "samples_growth": largest["samples"] / smallest["samples"],
        "peak_rss_bytes_smallest": smallest["peak_rss_bytes"],
        "peak_rss_bytes_largest": largest["peak_rss_bytes"],
        "peak_rss_bytes_min": min(peaks),
        "peak_rss_bytes_max": max(peaks),
        "peak_rss_ratio_max_over_min": max(peaks) / min(peaks),
        "peak_rss_ratio_r_grows": series_ratio("R grows"),
        "peak_rss_ratio_n_grows": series_ratio("n grows"),
        "samples_growth_r_grows": series_growth("R grows"),
        "samples_growth_n_grows": series_growth("n grows"),
        "load_average": {"before": load, "after": load_average()},
    }


def measure_big_run(shape: tuple[int, int], verbose: bool) -> dict[str, Any]:
    r, n = shape
    load = load_average()
    _log(f"big run: R={r} x n={n} = {r * n:.0e} samples, one process", verbose)
    t0 = time.perf_counter()
    row = _run_worker({"task": "memory", "n_seeds": r, "n": n}, timeout=6 * 3600)
    row["process_wall_seconds"] = time.perf_counter() - t0
    row["target_peak_rss_bytes"] = TARGET_BIG_RUN_RSS_BYTES
    row["target_met"] = row["peak_rss_bytes"] < TARGET_BIG_RUN_RSS_BYTES
    row["load_average"] = {"before": load, "after": load_average()}
    return row


def _cli_run(args: Sequence[str], out: Path, cache_home: Path, *, no_cache: bool) -> dict[str, Any]:
    """Times `pgjax run bandit-variance ARGS` from process start to exit; reads its manifest."""
    root = Path(__file__).resolve().parent.parent
    env = _clean_env(XDG_CACHE_HOME=str(cache_home))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "pgjax.cli", "run", "bandit-variance", *args, "--out", str(out)]
    if no_cache:
        cmd.append("--no-compile-cache")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, cwd=root)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise WorkerError(f"`pgjax run bandit-variance` failed (exit {proc.returncode}):\n{tail}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    execution = manifest.get("execution", {})
    compile_s = sum(manifest.get("compile_seconds", {}).values())
    run_s = sum(manifest.get("run_seconds", {}).values())
    cache_dir = cache_home / "pgjax" / "jax-compilation-cache"
    return {
        "wall_seconds": wall,
        "compiles": execution.get("compiles"),
        "cache_hits": execution.get("cache_hits"),
        "cache_misses": execution.get("cache_misses"),
        "compile_seconds": compile_s,
        "run_seconds": run_s,
        "cache_entries_after": len(list(cache_dir.iterdir())) if cache_dir.is_dir() else 0,
    }


def measure_compile_cache(sizes: Mapping[str, Any], verbose: bool) -> dict[str, Any]:
    load = load_average()
    args = list(sizes["cli_args"])
    _log(
        f"compilation cache: `pgjax run bandit-variance {' '.join(args)}` cold / warm / --no-compile-cache, "
        f"{sizes['cache_rounds']} round(s)",
        verbose,
    )
    runs: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": [], "no_cache": []}
    with tempfile.TemporaryDirectory(prefix="pgjax-bench-cache-") as tmp:
        tmp = Path(tmp)
        for r in range(sizes["cache_rounds"]):
            cache_home = tmp / f"cache{r}"  # empty: a fresh XDG_CACHE_HOME
            cache_home.mkdir()
            runs["cold"].append(_cli_run(args, tmp / f"cold{r}", cache_home, no_cache=False))
            runs["warm"].append(_cli_run(args, tmp / f"warm{r}", cache_home, no_cache=False))
            runs["no_cache"].append(_cli_run(args, tmp / f"nocache{r}", tmp / f"unused{r}", no_cache=True))
    best = {k: min(run["wall_seconds"] for run in v) for k, v in runs.items()}
    median = {k: statistics.median(run["wall_seconds"] for run in v) for k, v in runs.items()}
    return {
        "command": ["pgjax", "run", "bandit-variance", *args],
        "rounds": sizes["cache_rounds"],
        "runs": runs,
        "best_wall_seconds": best,
        "median_wall_seconds": median,
        "seconds_saved_vs_cold": best["cold"] - best["warm"],
        "seconds_saved_vs_no_cache": best["no_cache"] - best["warm"],
        "warm_over_cold": best["warm"] / best["cold"],
        "load_average": {"before": load, "after": load_average()},
    }


def run_benchmark(*, quick: bool = False, out_dir: Path | str | None = None, verbose: bool = False) -> dict:
    """Runs the four measurements (each in subprocesses) and returns the results dict; writes
    ``scaling.json`` and ``scaling.md`` into ``out_dir`` when given."""
    sizes = dict(QUICK if quick else FULL)
    started = time.time()
    load_start = load_average()
    section_seconds: dict[str, float] = {}

    def timed(name, fn, *args):
        t0 = time.perf_counter()
        value = fn(*args)
        section_seconds[name] = time.perf_counter() - t0
        return value

    throughput = timed("throughput", measure_throughput, sizes, verbose)
    per_core = timed("per_core", measure_cores, sizes, verbose)
    chunked = timed("chunked", measure_chunked, sizes, verbose)
    memory = timed("memory", measure_memory, sizes, verbose)
    big = timed("big_run", measure_big_run, sizes["big_run"], verbose) if sizes["big_run"] else None
    cache = timed("compile_cache", measure_compile_cache, sizes, verbose)

    info = throughput["jax_info"]
    n_cores, model = cores(), cpu_model()
    device = {
        "platform": info["platform"],
        "device_kind": info["device_kind"],
        "cpu_model": model,
        "cpu_cores": n_cores,
        "description": f"cpu: {model or info['device_kind']} ({n_cores} cores)",
    }
    d1, dk = "1", str(SCALE_DEVICES)
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "quick": quick,
        "device": device["description"],
        "device_info": device,
        "versions": {"python": platform.python_version(), "jax": info["jax"]},
        # headline numbers
        "samples_per_s_1_device": throughput["samples_per_s"][d1],
        "samples_per_s_4_devices": throughput["samples_per_s"][dk],
        "speedup_4_vs_1_devices": throughput["speedup_best"],
        "samples_per_s_1_device_process": chunked["chunked_samples_per_s"],
        "peak_rss_mib_smallest": _mib(memory["peak_rss_bytes_smallest"]),
        "peak_rss_mib_largest": _mib(memory["peak_rss_bytes_largest"]),
        "peak_rss_ratio_largest_vs_smallest": memory["peak_rss_bytes_largest"] / memory["peak_rss_bytes_smallest"],
        "peak_rss_ratio_r_grows": memory["peak_rss_ratio_r_grows"],
        "peak_rss_ratio_n_grows": memory["peak_rss_ratio_n_grows"],
        "memory_samples_growth": memory["samples_growth"],
        "chunked_over_unchunked": chunked["ratio_best"],
        "compile_cache_cold_s": cache["best_wall_seconds"]["cold"],
        "compile_cache_warm_s": cache["best_wall_seconds"]["warm"],
        "no_compile_cache_s": cache["best_wall_seconds"]["no_cache"],
        "compile_cache_seconds_saved": cache["seconds_saved_vs_cold"],
        "big_run_samples": big["samples"] if big else None,
        "big_run_peak_rss_mib": _mib(big["peak_rss_bytes"]) if big else None,
        "big_run_seconds": big["sweep_wall_seconds"] if big else None,
        "targets": {
            "chunked_over_unchunked": TARGET_CHUNKED_RATIO,
            "big_run_peak_rss_bytes": TARGET_BIG_RUN_RSS_BYTES,
        },
        "targets_met": {
            "chunked_over_unchunked": chunked["target_met"],
            "big_run_peak_rss": big["target_met"] if big else None,
        },
        # details
        "sizes": {k: (list(v) if isinstance(v, tuple) else v) for k, v in sizes.items()},
        "throughput": throughput,
        "per_core": per_core,
        "chunked": chunked,
        "memory": memory,
        "big_run": big,
        "compile_cache": cache,
        "load_average": {"start": load_start, "end": load_average()},
        "section_seconds": section_seconds,
        "started_unix": started,
        "wall_seconds": time.time() - started,
    }
    if out_dir is not None:
        write_results(result, out_dir)
    return result


# ================================================================================================ output


def _load(pair: Mapping[str, Any] | None) -> str:
    if not pair:
        return "n/a"
    fmt = lambda v: "n/a" if v is None else "/".join(f"{x:.2f}" for x in v)
    return " -> ".join(fmt(v) for v in pair.values())


def render_markdown(result: Mapping[str, Any]) -> str:
    """The human-readable report of a :func:`run_benchmark` result."""
    tp, ch, mem, big, cache = (result[k] for k in ("throughput", "chunked", "memory", "big_run", "compile_cache"))
    dk = str(SCALE_DEVICES)
    lines = [
        "# pgjax scale-out benchmark",
        "",
        f"Device: {result['device']}; JAX device kind `{result['device_info']['device_kind']}`; "
        f"jax {result['versions']['jax']}, Python {result['versions']['python']}. Load average (1/5/15 min) "
        f"at start {_load({'s': result['load_average']['start']})}, "
        f"at end {_load({'e': result['load_average']['end']})}."
        + (" **Quick mode: tiny sizes, the numbers mean little.**" if result["quick"] else ""),
        "",
        "Estimator: REINFORCE on the linear-Gaussian bandit (the `bandit-variance` defaults, quadratic reward), "
        "through `pgjax.engine.run_sweep`. Times exclude compilation (`sweep.run_seconds`); each is the best of "
        "interleaved rounds (medians in scaling.json). Samples = R x n.",
        "",
        f"## Throughput on 1 and {SCALE_DEVICES} CPU devices",
        "",
        f"One process started with `JAX_NUM_CPU_DEVICES={SCALE_DEVICES}`, `run_sweep(..., devices=1)` against "
        f"`devices={SCALE_DEVICES}`, R = {tp['n_seeds']} x n = {tp['n']}, {tp['rounds']} interleaved rounds. "
        f"Load average {_load(tp['load_average'])}.",
        "",
        "| devices | best run (s) | samples/s (best) | samples/s (median) | process CPU / wall |",
        "|---:|---:|---:|---:|---:|",
    ]
    for d in ("1", dk):
        lines.append(
            f"| {d} | {tp['run_seconds'][d]['best']:.4f} | {format_rate(tp['samples_per_s'][d])} | "
            f"{format_rate(tp['samples_per_s_median'][d])} | {tp['cpu_utilisation_median'][d]:.2f} |"
        )
    lines += [
        "",
        f"Speed-up of {SCALE_DEVICES} devices over 1: **{tp['speedup_best']:.2f}x** (best), "
        f"{tp['speedup_median']:.2f}x (median). The {SCALE_DEVICES} CPU devices share this machine's "
        f"{result['device_info']['cpu_cores']} cores, so about {result['device_info']['cpu_cores']}x is the "
        f"ceiling. Process CPU / wall is how many cores the process actually got: "
        f"{tp['cpu_utilisation_median']['1']:.2f} with one device, {tp['cpu_utilisation_median'][dk]:.2f} with "
        f"{SCALE_DEVICES}; where the latter is well under {result['device_info']['cpu_cores']}, other work held "
        f"the other cores (see the load average) and bounds the speed-up, not pgjax. "
        f"Estimates bit-identical across the settings: {tp['bit_identical_across_devices']}. For reference, "
        f"a plain single-device process ran the same sweep at "
        f"{format_rate(result['samples_per_s_1_device_process'])}samples/s (best).",
        "",
        *_per_core_lines(result["per_core"]),
        "## Peak resident memory against R x n",
        "",
        "Each sweep in a fresh process, default devices; peak RSS read by the process itself at the end "
        "(`VmHWM`), so it includes the Python interpreter, JAX and compilation"
        + (
            f"; each sweep ran in {mem['reps']} processes (the grid walked {mem['reps']} times), and its row is "
            f"the run with the median peak (all peaks in `scaling.json`)."
            if mem.get("reps", 1) > 1
            else "."
        )
        + (" (Quick mode: these processes ran concurrently.)" if mem["concurrent"] else ""),
        "",
        "| series | R | n | R x n | peak RSS (MiB) | RSS before the sweep (MiB) | host estimates (MiB) | "
        "sweep wall (s) | samples/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in mem["rows"]:
        before = row.get("rss_before_sweep_bytes")
        lines.append(
            f"| {row['series']} | {row['n_seeds']} | {row['n']} | {row['samples']:.0e} | "
            f"{_mib(row['peak_rss_bytes']):.0f} | {'n/a' if before is None else f'{_mib(before):.0f}'} | "
            f"{_mib(row['host_estimates_bytes']):.2f} | {row['sweep_wall_seconds']:.2f} | "
            f"{format_rate(row['samples_per_s'])} |"
        )
    lines += [
        "",
        f"With n fixed and R growing {mem['samples_growth_r_grows']:.0f}-fold, the peak RSS is "
        f"**{mem['peak_rss_ratio_r_grows']:.2f}x** that of the smallest sweep; with R fixed and n growing "
        f"{mem['samples_growth_n_grows']:.0f}-fold, **{mem['peak_rss_ratio_n_grows']:.2f}x**; "
        f"over all rows it ranges over "
        f"{_mib(mem['peak_rss_bytes_min']):.0f}-{_mib(mem['peak_rss_bytes_max']):.0f} MiB. Host memory grows "
        f"with R only by the (R, P) float32 estimates kept on the host. Device memory is bounded by one "
        f"micro-batch of about {_micro_elements(mem):,} samples: past it, a seed's n samples are accumulated over "
        f"sub-batches of {_largest_n_row(mem)['execution'].get('sub_batch_samples', 'n/a')} samples inside one call "
        f"(the engine's `sub_batched_ns`: n = {_largest_n_row(mem)['execution'].get('sub_batched_ns') or 'none'} "
        f"in the largest-n row), so a call's "
        f"buffers do not grow with n (the `peak_device_bytes_per_micro_batch` of the largest-n row: "
        f"{_fmt_mib(_largest_n_row(mem)['execution'].get('peak_device_bytes_per_micro_batch'))} MiB, of the "
        f"smallest sweep: {_fmt_mib(_smallest_row(mem)['execution'].get('peak_device_bytes_per_micro_batch'))} "
        f"MiB). "
        f"Load average {_load(mem['load_average'])}.",
        "",
    ]
    if big:
        lines += [
            f"### A sweep of {_samples(big['samples'])} samples",
            "",
            f"R = {big['n_seeds']} seeds x n = {big['n']} samples, one estimator, one fresh process: peak RSS "
            f"**{_mib(big['peak_rss_bytes']):.0f} MiB** (target < {_mib(TARGET_BIG_RUN_RSS_BYTES):.0f} MiB: "
            f"{'met' if big['target_met'] else 'NOT met'}); the sweep took **{big['sweep_wall_seconds']:.0f} s** "
            f"({format_rate(big['samples_per_s'])}samples/s, compile {big['compile_seconds']:.1f} s; the whole process "
            f"{big['process_wall_seconds']:.0f} s). Largest |mean - exact| / standard error over the coordinates: "
            f"{big['max_abs_z_vs_exact']:.2f}. Load average {_load(big['load_average'])}.",
            "",
        ]
    else:
        lines += ["The sweep of 10^10 samples is skipped in quick mode.", ""]
    lines += [
        "## Chunked against unchunked",
        "",
        f"One single-device process: `run_sweep` (micro-batches of {ch['micro_batch_seeds']} seeds, host loop, "
        f"results on the host) against one `jax.jit(jax.vmap(...))` over all R = {ch['n_seeds']} seeds x "
        f"n = {ch['n']} at once (same estimator, same per-seed keys, result copied to the host), "
        f"{ch['rounds']} interleaved rounds.",
        "",
        "| path | best (s) | median (s) | samples/s (best) | device memory of one call (MiB) |",
        "|---|---:|---:|---:|---:|",
        f"| run_sweep, micro-batched | {ch['chunked_run_seconds']['best']:.4f} | "
        f"{ch['chunked_run_seconds']['median']:.4f} | {format_rate(ch['chunked_samples_per_s'])} | "
        f"{_fmt_mib(ch['device_bytes_per_micro_batch'])} |",
        f"| one vmap over all seeds | {ch['unchunked_seconds']['best']:.4f} | "
        f"{ch['unchunked_seconds']['median']:.4f} | {format_rate(ch['unchunked_samples_per_s'])} | "
        f"{_fmt_mib(ch['device_bytes_unchunked'])} |",
        "",
        f"Chunked / unchunked throughput: **{ch['ratio_best']:.3f}** (best), {ch['ratio_median']:.3f} (median); "
        f"target >= {TARGET_CHUNKED_RATIO}: {'met' if ch['target_met'] else 'NOT met'}. Estimates bit-identical: "
        f"{ch['bit_identical']} (max relative difference {ch['max_rel_diff']:.1e}). "
        f"Load average {_load(ch['load_average'])}.",
        "",
        "## Persistent compilation cache",
        "",
        f"Wall time from process start to finished results of `{' '.join(cache['command'])}` (best of "
        f"{cache['rounds']} round(s); each round: an empty cache folder, then the same command again, then "
        f"`--no-compile-cache`). Counts from each run's `manifest.json` (`execution`): `compiles` counts the "
        f"programs the run needed (a persistent-cache hit included), `cache hits` / `cache misses` are JAX's "
        f"persistent-cache events; compile s is the manifest's `compile_seconds` summed over estimators (loading "
        f"from the cache included). The rest of the wall time is Python and JAX start-up, tables and figures.",
        "",
        "| run | wall (s) | compiles | cache hits | cache misses | compile s (manifest) | run s (manifest) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {"cold": "empty cache", "warm": "warm cache", "no_cache": "--no-compile-cache"}
    for key, label in labels.items():
        run = min(cache["runs"][key], key=lambda r: r["wall_seconds"])
        lines.append(
            f"| {label} | {run['wall_seconds']:.1f} | {run['compiles']} | {run['cache_hits']} | "
            f"{run['cache_misses']} | {run['compile_seconds']:.1f} | {run['run_seconds']:.1f} |"
        )
    lines += [
        "",
        f"Time saved by the warm cache: **{cache['seconds_saved_vs_cold']:.1f} s** against the empty cache, "
        f"{cache['seconds_saved_vs_no_cache']:.1f} s against `--no-compile-cache` (warm / cold = "
        f"{cache['warm_over_cold']:.2f}). Load average {_load(cache['load_average'])}.",
        "",
        f"Generated by `python -m pgjax.bench.scaling{' --quick' if result['quick'] else ''}` in "
        f"{result['wall_seconds']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def _per_core_lines(pc: Mapping[str, Any] | None) -> list[str]:
    """The report's section on one CPU device per core against one device (:func:`measure_cores`)."""
    if not pc:
        return []
    head = ["## One CPU device per core against one device", ""]
    if not pc["rows"]:
        return [*head, f"Not measured: this machine has {pc['cores']} core.", ""]
    lines = [
        *head,
        f"What every `pgjax` command now starts on a CPU (`pgjax/cli_support.py`, `use_every_core`): a process with "
        f"one JAX device per core ({pc['cores']} here), against a plain one-device process. Fresh processes of each "
        f"kind, {pc['reps']} of each alternated, each timing {pc['rounds']} sweeps (`run_sweep` on all of its "
        f"devices, the engine's default micro-batches); the best time of each kind. Load average "
        f"{_load(pc['load_average'])}.",
        "",
        f"| problem | R | n | unit | 1 device | {pc['cores']} devices | speed-up | estimates bit-identical |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for row in pc["rows"]:
        what = "REINFORCE, bandit" if row["problem"] == "bandit" else "reward-to-go, LQR H = 50"
        lines.append(
            f"| {what} | {row['n_seeds']} | {row['n']} | {row['unit']} | {format_rate(row['rate_1_device'])}/s | "
            f"{format_rate(row['rate_per_core'])}/s | **{row['speedup']:.2f}x** | {row['bit_identical']} |"
        )
    return [*lines, ""]


def _samples(x: int) -> str:
    """10^k for a power of ten, else 1.2e+09 style."""
    k = round(math.log10(x)) if x > 0 else 0
    return f"10^{k}" if x == 10**k else f"{x:.1e}"


def _micro_elements(mem: Mapping[str, Any]) -> int:
    return int(mem["rows"][0]["execution"].get("micro_batch_elements", 0))


def _largest_n_row(mem: Mapping[str, Any]) -> Mapping[str, Any]:
    return max(mem["rows"], key=lambda row: row["n"])


def _fmt_mib(x) -> str:
    return "n/a" if x is None else f"{_mib(x):.1f}"


def write_results(result: Mapping[str, Any], out_dir: Path | str) -> tuple[Path, Path]:
    """Writes ``scaling.json`` and ``scaling.md`` into ``out_dir`` (created if needed), atomically."""
    return write_report(out_dir, JSON_FILE, MARKDOWN_FILE, result, render_markdown(result))


# =================================================================================================== CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgjax bench-scaling",
        description="Scale-out benchmark: 1 vs 4 CPU devices, peak memory against R x n, chunked vs "
        "unchunked, and the persistent compilation cache. Writes scaling.json and scaling.md.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run, under a minute)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pgjax.bench.scaling [--quick] [--out DIR]``; returns the exit code."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.worker is not None:
        return _worker(args.worker)
    try:
        result = run_benchmark(quick=args.quick, out_dir=args.out, verbose=True)
    except WorkerError as exc:
        print(f"pgjax: error: {exc}", file=sys.stderr)
        return 1
    dk = str(SCALE_DEVICES)
    print(
        f"throughput: {format_rate(result['samples_per_s_1_device'])}samples/s on 1 device, "
        f"{format_rate(result['samples_per_s_4_devices'])}samples/s on {dk} ({result['speedup_4_vs_1_devices']:.2f}x)"
    )
    print(
        f"peak RSS: {result['peak_rss_mib_smallest']:.0f} MiB -> {result['peak_rss_mib_largest']:.0f} MiB while "
        f"R x n grows {result['memory_samples_growth']:.0f}-fold ({result['peak_rss_ratio_r_grows']:.2f}x as R grows, "
        f"{result['peak_rss_ratio_n_grows']:.2f}x as n grows)"
    )
    if result["big_run"]:
        print(f"10^10 samples: peak RSS {result['big_run_peak_rss_mib']:.0f} MiB, {result['big_run_seconds']:.0f} s")
    print(f"chunked / unchunked throughput: {result['chunked_over_unchunked']:.3f}")
    print(
        f"compilation cache: {result['compile_cache_cold_s']:.1f} s cold, {result['compile_cache_warm_s']:.1f} s "
        f"warm, {result['no_compile_cache_s']:.1f} s without; saved {result['compile_cache_seconds_saved']:.1f} s"
    )
    print(f"wrote {Path(args.out) / JSON_FILE} and {Path(args.out) / MARKDOWN_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

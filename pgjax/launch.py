"""``pgjax launch``: one scheduler job array of seed shards, then the merge.

``pgjax launch NAME --shards N --backend slurm|local [flags of pgjax run NAME]`` cuts the run's R seeds into N
nearly equal shards (shard I holds seeds I*R//N .. (I+1)*R//N - 1, :func:`pgjax.engine.shards.shard_range`)
and submits one task per shard through submitit (an optional dependency: ``pip install -e ".[slurm]"``):
on SLURM one job array (``sbatch --array=0-(N-1)``), locally one process per shard (submitit's
LocalExecutor, how the tests run it). Task I runs ``pgjax run NAME ... --shard I/N --out
OUT.shards/shard-I-of-N --resume``, so a task that is requeued (preemption, the time limit: submitit
requeues it, :meth:`ShardTask.checkpoint`) or re-launched continues from its saved cells. When every task is
done, the launcher merges the shards into OUT (``pgjax merge``); a shard that is already finished is not
submitted again, so re-running the same launch after a failure runs only what is missing.

GPU sharing. JAX preallocates 75% of a GPU's memory in each process, so several processes on one GPU need
``XLA_PYTHON_CLIENT_PREALLOCATE=false`` (allocate on demand) or ``XLA_PYTHON_CLIENT_MEM_FRACTION`` (a fixed
share each). The local backend sets ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` in every task whenever tasks share
GPUs (more tasks than groups of ``--gpus-per-task`` GPUs, or ``--gpus-per-task 0``), unless the user set one
of the two variables; with ``--gpus-per-task G`` it gives task I the G GPUs of group I mod (GPUs // G)
through ``CUDA_VISIBLE_DEVICES`` (from the launcher's own ``CUDA_VISIBLE_DEVICES``, or ``nvidia-smi -L``). On
SLURM, ``--gpus-per-task`` is sbatch's, and SLURM sets ``CUDA_VISIBLE_DEVICES`` for each task.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pgjax.cli_support import UsageError, tyro_parse
from pgjax.errors import PgjaxError

HELP = """usage: pgjax launch NAME --shards N --backend slurm|local [launch flags] [flags of pgjax run NAME]

Runs the experiment NAME as N seed shards, one scheduler task each, and merges them into --out (default
runs/NAME) when all are done. Shards go to OUT.shards/shard-I-of-N/ and the scheduler's logs to
OUT.shards/logs/. Re-running the same command runs only the shards that are not finished (each continues
from its saved cells).

launch flags:
  --shards N              number of shards (tasks), 1 <= N <= the run's seeds (required)
  --backend slurm|local   SLURM job array through submitit, or local processes (required)
  --partition NAME        SLURM partition
  --gpus-per-task G       GPUs per task (SLURM: sbatch --gpus-per-task, default 1; local: default 0 = tasks
                          share the machine's GPUs, with XLA_PYTHON_CLIENT_PREALLOCATE=false)
  --cpus-per-task C       SLURM --cpus-per-task
  --mem-gb M              SLURM memory per task, in GB
  --time T                time limit per task: minutes, or HH:MM:SS (default 240 minutes)
  --array-parallelism K   at most K tasks of the array at once (SLURM %K; default: all)
  --no-wait               submit and return; merge later with the printed `pgjax merge` command
  --shard-root DIR        where the shard folders go (default OUT.shards)"""

#: The launch flags that take a value, with their defaults.
VALUE_FLAGS = {
    "--shards": None,
    "--backend": None,
    "--partition": None,
    "--gpus-per-task": None,
    "--cpus-per-task": None,
    "--mem-gb": None,
    "--time": "240",
    "--array-parallelism": None,
    "--shard-root": None,
}
#: Variables of the environment that decide how JAX shares a GPU (left alone when the user set one).
GPU_SHARING = ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION")


@dataclasses.dataclass
class ShardTask:
    """One scheduler task: ``main(argv)`` (the ``pgjax`` command) after setting its environment (``None``
    unsets a variable). It runs before JAX is imported in the task's process, so the GPU variables apply."""

    argv: list[str]
    env: dict[str, str | None]
    main: Callable[[list[str]], int]

    def __call__(self) -> list[str]:
        for key, value in self.env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        code = self.main(list(self.argv))
        if code != 0:
            raise RuntimeError(f"`pgjax {' '.join(self.argv)}` exited with status {code} (see this task's log)")
        return self.argv

    def checkpoint(self, *args, **kwargs):
        """Requeue the same task on preemption or at the time limit: it resumes from its saved cells."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self)


def parse_minutes(text: str) -> int:
    """``"90"`` or ``"1:30:00"`` (or ``"1:30"``, hours:minutes) -> minutes."""
    parts = text.split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if not numbers or len(numbers) > 3 or min(numbers) < 0:
        raise UsageError(f"--time: give minutes or HH:MM:SS (got {text!r})")
    if len(numbers) == 1:
        minutes = numbers[0]
    else:
        numbers += [0] * (3 - len(numbers))
        minutes = numbers[0] * 60 + numbers[1] + (1 if numbers[2] else 0)
    if minutes < 1:
        raise UsageError(f"--time: must be at least one minute (got {text!r})")
    return minutes


def _split(args: Sequence[str]) -> tuple[str, dict, bool, list[str]]:
    """(NAME, launch flag values, --no-wait, the flags for pgjax run)."""
    args = list(args)
    if not args or args[0].startswith("-"):
        raise UsageError("usage: pgjax launch NAME --shards N --backend slurm|local [...]; see pgjax launch --help")
    name, rest = args[0], args[1:]
    values, run_flags, no_wait = dict(VALUE_FLAGS), [], False
    while rest:
        arg = rest.pop(0)
        key, eq, inline = arg.partition("=")
        if key in VALUE_FLAGS:
            if not eq:
                if not rest:
                    raise UsageError(f"{key} needs a value")
                inline = rest.pop(0)
            values[key] = inline
        elif arg == "--no-wait":
            no_wait = True
        elif key in ("--seed-range", "--shard", "--resume"):
            raise UsageError(f"launch: {key} is set per task; give --shards N")
        else:
            run_flags.append(arg)
    return name, values, no_wait, run_flags


def _int(values: dict, flag: str, low: int) -> int | None:
    if values[flag] is None:
        return None
    try:
        number = int(values[flag])
    except ValueError:
        number = low - 1
    if number < low:
        raise UsageError(f"{flag}: must be an integer >= {low} (got {values[flag]!r})")
    return number


def visible_gpus() -> list[str]:
    """The GPUs this machine lets the launcher use: its CUDA_VISIBLE_DEVICES, else one per `nvidia-smi -L` line."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g for g in listed.split(",") if g.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        lines = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(line for line in lines if line.startswith("GPU "))]


def task_environments(backend: str, shards: int, gpus_per_task: int | None) -> list[dict[str, str | None]]:
    """The environment of each task (see the module docstring: GPU sharing and device choice)."""
    envs: list[dict[str, str | None]] = [{} for _ in range(shards)]
    if backend == "slurm":
        return envs  # SLURM gives each task its own GPUs and sets CUDA_VISIBLE_DEVICES
    gpus = visible_gpus()
    shared = shards > 1
    if gpus_per_task:
        groups = len(gpus) // gpus_per_task
        if groups < 1:
            raise UsageError(f"--gpus-per-task: {gpus_per_task} GPU(s) per task, but {len(gpus)} visible here")
        shared = shards > groups
        for i, env in enumerate(envs):
            g = i % groups
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus[g * gpus_per_task : (g + 1) * gpus_per_task])
    else:  # the launcher's own devices for every task (submitit would hide them all)
        for env in envs:
            env["CUDA_VISIBLE_DEVICES"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    if shared and gpus and not any(v in os.environ for v in GPU_SHARING):
        for env in envs:
            env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    return envs


def make_executor(backend: str, folder: Path, values: dict, name: str, minutes: int):
    """A submitit executor for the backend, with the task resources of the launch flags."""
    try:
        import submitit
    except ImportError:
        raise UsageError('launch needs submitit: pip install -e ".[slurm]" (or pip install submitit)') from None
    if backend == "local":
        executor = submitit.LocalExecutor(folder=str(folder / "%j"))
        executor.update_parameters(timeout_min=minutes)
        return executor
    try:
        executor = submitit.SlurmExecutor(folder=str(folder / "%j"))
    except RuntimeError as err:
        raise UsageError(f"--backend slurm: {err}") from None
    params = {"job_name": f"pgjax-{name}", "time": minutes, "gpus_per_task": _int(values, "--gpus-per-task", 0)}
    if params["gpus_per_task"] is None:
        params["gpus_per_task"] = 1
    if not params["gpus_per_task"]:
        del params["gpus_per_task"]
    if values["--partition"]:
        params["partition"] = values["--partition"]
    if values["--cpus-per-task"]:
        params["cpus_per_task"] = _int(values, "--cpus-per-task", 1)
    if values["--mem-gb"]:
        params["mem"] = f"{_int(values, '--mem-gb', 1)}GB"
    if values["--array-parallelism"]:
        params["array_parallelism"] = _int(values, "--array-parallelism", 1)
    executor.update_parameters(**params)
    return executor


def main(args: Sequence[str], *, run_options, merge, main) -> int:
    """``pgjax launch`` (see :data:`HELP`). ``run_options``, ``merge`` and ``main`` are the CLI's (the flags of
    ``pgjax run NAME``, ``pgjax merge`` and the ``pgjax`` command the tasks run), passed in so that this module
    does not import the CLI that dispatches to it."""
    from pgjax import experiment
    from pgjax.engine import shards as sh

    if list(args) in (["-h"], ["--help"]):
        print(HELP)
        return 0
    name, values, no_wait, run_flags = _split(args)
    backend = values["--backend"]
    if backend not in ("slurm", "local"):
        raise UsageError(f"--backend: choose slurm or local (got {backend!r})")
    count = _int(values, "--shards", 1)
    if count is None:
        raise UsageError("launch needs --shards N")
    minutes = parse_minutes(values["--time"])
    gpus_per_task = _int(values, "--gpus-per-task", 0)
    module = experiment.load(name)
    options = tyro_parse(run_options(module), run_flags, prog=f"pgjax launch {module.NAME}")
    config = module.Config(**{f.name: getattr(options, f.name) for f in dataclasses.fields(module.Config)})
    config.validate()
    total = sh.total_seeds(config)
    if total is None:
        raise UsageError(f"{module.NAME} has no --n-seeds to cut into shards")
    if count > total:
        raise UsageError(f"--shards: at most the {total} seeds (got {count})")
    out = Path(options.out)
    root = Path(values["--shard-root"] or f"{out}.shards")
    folders = [root / f"shard-{i}-of-{count}" for i in range(count)]
    wanted_config = {f.name: repr(getattr(config, f.name)) for f in dataclasses.fields(config)}
    pending = []
    for i, folder in enumerate(folders):
        try:
            done = sh.read_shard(folder) if folder.is_dir() else None
        except PgjaxError:
            done = None
        finished = (
            done is not None
            and done.experiment == module.NAME
            and done.seeds == sh.shard_range(f"{i}/{count}", total)
            and done.context.get("config") == wanted_config
        )
        if not finished:
            pending.append(i)
    merge_args = [str(out), *(str(f) for f in folders)] + (["--overwrite"] if options.overwrite else [])
    merge_command = "pgjax merge " + " ".join(merge_args)
    if pending:
        envs = task_environments(backend, count, gpus_per_task)
        executor = make_executor(backend, root / "logs", values, module.NAME, minutes)
        tasks = [
            ShardTask(
                argv=["run", module.NAME, *run_flags, "--shard", f"{i}/{count}", "--out", str(folders[i]), "--resume"],
                env=envs[i],
                main=main,
            )
            for i in pending
        ]
        root.mkdir(parents=True, exist_ok=True)
        if backend == "slurm":
            with executor.batch():
                jobs = [executor.submit(task) for task in tasks]
        else:
            jobs = [executor.submit(task) for task in tasks]
        done_before = count - len(pending)
        listed = ", ".join(f"shard {i}/{count} job {job.job_id}" for i, job in zip(pending, jobs))
        print(
            f"submitted {len(jobs)} shard task(s) of {count} ({done_before} already finished) to {backend}: "
            f"{listed}; logs in {root / 'logs'}",
            flush=True,
        )
        if no_wait:
            print(f"when they are done: {merge_command}")
            return 0
        failed = _wait(jobs, pending, backend)
        if failed:
            ranges = [sh.shard_range(f"{i}/{count}", total) for i, _ in failed]
            detail = "; ".join(f"shard {i}/{count} (seeds {a}:{b}): {why}" for (i, why), (a, b) in zip(failed, ranges))
            raise PgjaxError(
                f"{len(failed)} of {count} shard task(s) failed: {detail}; their finished cells are kept: run the "
                f"same launch again to compute only what is missing"
            )
    return merge(merge_args)


def _wait(jobs, indices: Sequence[int], backend: str) -> list[tuple[int, str]]:
    """Waits for every job; returns (shard index, one-line reason) of those that failed."""
    if backend == "local":  # a killed local task leaves no result: do not wait for one
        while not all(job.done() for job in jobs):
            time.sleep(0.2)
    failed = []
    for i, job in zip(indices, jobs):
        if backend == "local" and not job.paths.result_pickle.exists():
            failed.append((i, f"the task process ended without a result (killed?); log {job.paths.stderr}"))
            continue
        try:
            job.result()
        except Exception as err:  # submitit's FailedJobError / UncompletedJobError carry the whole log
            lines = [line for line in str(err).splitlines() if line.strip()]
            reason = next((line for line in reversed(lines) if "Error" in line), lines[-1] if lines else "failed")
            failed.append((i, f"{reason.strip()[:200]}; log {job.paths.stderr}"))
    return failed

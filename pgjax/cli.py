"""The ``pgjax`` command.

    pgjax list                         the experiments and what they do
    pgjax run NAME [--field value ...] run one experiment (every config field is a flag; see --help)
    pgjax table DIR                    re-render the tables of a results folder and print the Markdown one
    pgjax plot DIR                     re-draw the figures of a results folder from its saved table
    pgjax explain [--write] [flags]    the log-derivative trick worked with numbers (docs/log-derivative-trick.md)
    pgjax bench [--quick] [--out DIR]  the speed benchmark of the score-function estimator
    pgjax bench-scaling [--quick]      the scale-out benchmark (devices, memory, compilation cache)
    pgjax bench-lqr [--quick]          the trajectory benchmark (LQR rollout + reward-to-go vs NumPy)
    pgjax bench-envs [--quick]         the environment benchmark (CartPole rollout + gradient vs gymnax)

User mistakes print one line, ``pgjax: error: ...``, on stderr and exit with status 2, without a traceback
and without writing any result file. Ctrl-C stops cleanly (exit 130) and leaves earlier results intact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Sequence

USAGE = __doc__.split("\n\n")[1]


class UsageError(Exception):
    pass


def _error(message: str) -> int:
    print(f"pgjax: error: {message}", file=sys.stderr)
    return 2


def _tyro_parse(cls, args: Sequence[str], prog: str):
    """tyro.cli, with its boxed error report condensed to one line (raised as UsageError)."""
    import tyro

    if any(a in ("-h", "--help") for a in args):
        return tyro.cli(cls, args=list(args), prog=prog)  # prints help, exits 0
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
            return tyro.cli(cls, args=list(args), prog=prog)
    except SystemExit as exc:
        lines = [re.sub(r"[│╭╮╰╯─]", "", line).strip() for line in captured.getvalue().splitlines()]
        lines = [line for line in lines if line and set(line) != {"-"}]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else f"bad arguments (exit {exc.code})")
        raise UsageError(detail) from None


#: Flags of `pgjax run` that say how to run, never what to compute: name -> (type, default, help).
RUN_FLAGS = {
    "out": (str, None, "Folder for the results (created if absent). Default: results/NAME."),
    "resume": (bool, False, "Reuse the finished cells in OUT/cells whose config matches; compute the rest."),
    "devices": (int, 0, "Local devices to shard the seeds over (0 = all)."),
    "max_memory": (float, 2.0, "Device-memory budget per device, in GiB, for the micro-batch calls in flight: "
                   "the host-side chunk of seeds is derived from it (never a number); a micro-batch that does not "
                   "fit is an error before any work."),
    "no_compile_cache": (bool, False, "Do not use the persistent JAX compilation cache."),
    "distributed": (bool, False, "Multi-host: call jax.distributed.initialize() (SLURM, Open MPI, TPU pods "
                    "are detected; or give the three flags below). Process 0 writes the results."),
    "coordinator_address": (str, "", "Multi-host: host:port of process 0 (implies --distributed)."),
    "num_processes": (int, 0, "Multi-host: number of processes (with --coordinator-address)."),
    "process_id": (int, -1, "Multi-host: this process's index (with --coordinator-address)."),
}


def _run_options(module):
    """The experiment's Config plus the execution flags of `pgjax run`."""
    import tyro

    extra = []
    for name, (kind, default, help_text) in RUN_FLAGS.items():
        if name == "out":
            default = f"results/{module.NAME}"
        markers = (tyro.conf.arg(help=help_text),) + ((tyro.conf.FlagCreatePairsOff,) if kind is bool else ())
        extra.append((name, Annotated[(kind, *markers)], dataclasses.field(default=default)))
    return dataclasses.make_dataclass("RunOptions", extra, bases=(module.Config,), frozen=True)


def _start_distributed(options) -> None:
    import jax

    if options.coordinator_address:
        if options.num_processes < 1 or not 0 <= options.process_id < options.num_processes:
            raise UsageError(
                "--coordinator-address needs --num-processes N >= 1 and --process-id in [0, N)"
            )
        jax.distributed.initialize(
            coordinator_address=options.coordinator_address,
            num_processes=options.num_processes,
            process_id=options.process_id,
        )
    else:
        jax.distributed.initialize()


def enable_compilation_cache() -> Path | None:
    """Turns on JAX's persistent compilation cache in the user cache folder, so a second run of the same
    experiment skips compilation. Opt out with `--no-compile-cache` or PGJAX_NO_COMPILE_CACHE=1."""
    if os.environ.get("PGJAX_NO_COMPILE_CACHE", "") not in ("", "0"):
        return None
    import jax

    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = root / "pgjax" / "jax-compilation-cache"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return folder


def cmd_list() -> int:
    from pgjax import experiment

    for name, target in experiment.discover().items():
        module = experiment.load(name)
        summary = " ".join((module.Config.__doc__ or "").split())
        print(f"{name:24s} {summary}")
    for path, reason in experiment.BROKEN.items():
        print(f"pgjax: warning: experiment module {path} failed to import: {reason}", file=sys.stderr)
    return 0


def cmd_run(args: Sequence[str]) -> int:
    from pgjax import experiment, results
    from pgjax.cells import CellStore
    from pgjax.errors import ConfigError

    if not args or args[0].startswith("-"):
        known = ", ".join(experiment.discover())
        raise UsageError(f"run needs an experiment name; known: {known}")
    module = experiment.load(args[0])
    options = _tyro_parse(_run_options(module), args[1:], prog=f"pgjax run {module.NAME}")
    fields = {f.name for f in dataclasses.fields(module.Config)}
    config = module.Config(**{k: v for k, v in dataclasses.asdict(options).items() if k in fields})
    config.validate()
    if options.devices < 0:
        raise ConfigError("devices", f"must be >= 0 (got {options.devices})")
    if not options.max_memory > 0:
        raise ConfigError("max_memory", f"must be > 0 GiB (got {options.max_memory})")
    out = Path(options.out)
    if options.distributed or options.coordinator_address:
        _start_distributed(options)
    import jax

    writer = jax.process_index() == 0
    if writer:
        results.check_writable(out)
    if not options.no_compile_cache:
        enable_compilation_cache()

    if writer:
        _remove_stale_temporaries(out)
    store = CellStore(out / "cells", resume=options.resume)
    execution = {
        "devices": options.devices or None,
        "max_memory_bytes": int(options.max_memory * 2**30),
        "store": store,
    }
    from tqdm.auto import tqdm

    total = module.total_work(config) if hasattr(module, "total_work") else None
    try:
        with tqdm(total=total, desc=module.NAME, unit=getattr(module, "PROGRESS_UNIT", "seed"), file=sys.stderr, disable=None if writer else True) as bar:
            if "execution" in inspect.signature(module.run).parameters:
                result = module.run(config, progress=bar.update, execution=execution)
            else:  # an experiment that cannot shard, resume or bound memory
                result = module.run(config, progress=bar.update)
    except KeyboardInterrupt:
        kept = len(store.saved) + len(store.loaded)
        raise Interrupted(
            f"interrupted; {kept} finished cell(s) kept in {store.folder}; "
            f"rerun the same command with --resume to continue"
        ) from None
    if not writer:
        return 0
    save = getattr(module, "save", experiment.save)
    save(result, out, argv=["pgjax", "run", *args])
    store.prune()
    print(f"wrote {out}/ (table.md, table.parquet, figure.png, manifest.json, ...)")
    if store.loaded:
        print(f"resumed: {len(store.loaded)} finished cell(s) reused, {len(store.saved)} computed")
    execution = getattr(getattr(result, "sweep", None), "execution", {}) or {}
    if "compiles" in execution:
        print(
            f"compiled {execution['compiles']} program(s), {execution['cache_hits']} from the persistent cache; "
            f"{execution['devices']} device(s) x {execution['processes']} process(es)"
        )
    headline = module.headline(result) if hasattr(module, "headline") else _headline(result.table)
    print(results.render_markdown(headline))
    return 0


def _remove_stale_temporaries(out: Path) -> None:
    """Deletes what a killed earlier run may have left: *.tmp-* files and its staging folder."""
    import shutil

    for path in list(out.glob("*.tmp-*")) + list(out.glob("cells/*.tmp-*")):
        path.unlink(missing_ok=True)
    for stage in out.parent.glob(f".{out.name}.tmp-*"):
        shutil.rmtree(stage, ignore_errors=True)


class Interrupted(Exception):
    pass


def _headline(table):
    """The largest-n rows: the quick view printed after a run."""
    largest = table[table["n"] == table["n"].max()]
    return largest


def cmd_table(args: Sequence[str]) -> int:
    from pgjax import results

    folder = _one_dir(args, "table")
    retable = _experiment_hook(folder, "retable")  # an experiment whose tables are not the standard one
    if retable is not None:
        print(retable(folder))
        return 0
    table = results.read_table(folder)
    results.write_table(table, folder)
    print(results.render_markdown(table))
    return 0


def _experiment_hook(folder: Path, name: str):
    """The function ``name`` of the experiment that wrote ``folder`` (per its manifest), or None."""
    from pgjax import experiment, results
    from pgjax.errors import PgjaxError

    try:
        module = experiment.load(results.read_manifest(folder)["experiment"])
    except PgjaxError:
        return None
    return getattr(module, name, None)


def cmd_plot(args: Sequence[str]) -> int:
    from pgjax import plots

    folder = _one_dir(args, "plot")
    # an experiment may draw its own figures (from its saved tables only)
    draw = _experiment_hook(folder, "draw") or plots.draw_all
    for path in draw(folder):
        print(f"wrote {path}")
    return 0


def cmd_bench(args: Sequence[str]) -> int:
    from pgjax import bench

    return bench.main(list(args))


def cmd_bench_scaling(args: Sequence[str]) -> int:
    from pgjax import bench_scaling

    return bench_scaling.main(list(args))


def cmd_bench_envs(args: Sequence[str]) -> int:
    from pgjax import bench_envs

    return bench_envs.main(list(args))


def cmd_bench_lqr(args: Sequence[str]) -> int:
    from pgjax import bench_lqr

    return bench_lqr.main(list(args))


def cmd_explain(args: Sequence[str]) -> int:
    from pgjax import explain

    return explain.main(list(args))


def _one_dir(args: Sequence[str], command: str) -> Path:
    if len(args) != 1 or args[0].startswith("-"):
        raise UsageError(f"usage: pgjax {command} DIR (a results folder written by `pgjax run`)")
    folder = Path(args[0])
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such results folder")
    return folder


COMMANDS = {"list": lambda a: cmd_list(), "run": cmd_run, "table": cmd_table, "plot": cmd_plot, "explain": cmd_explain,
            "bench": cmd_bench, "bench-scaling": cmd_bench_scaling,
            "bench-lqr": cmd_bench_lqr, "bench-envs": cmd_bench_envs}


def main(argv: Sequence[str] | None = None) -> int:
    from pgjax.errors import PgjaxError

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        return _error(f"unknown command {command!r}; choose from {', '.join(COMMANDS)}")
    try:
        return COMMANDS[command](rest)
    except (UsageError, PgjaxError) as exc:
        return _error(str(exc))
    except Interrupted as exc:
        print(f"pgjax: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(
            "pgjax: interrupted; earlier results are unchanged, and a run's finished cells are kept: "
            "rerun the same command with --resume to continue",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:  # e.g. `pgjax table DIR | head`
        sys.stderr.close()
        return 0


def entry() -> None:
    """The console script: ``main`` with its exit status. After Ctrl-C, JAX computations may still be in
    flight, and tearing the interpreter down under them can crash the process (SIGSEGV) after the message
    was printed; so an interrupted run flushes its output and leaves at once with status 130."""
    code = main()
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(code)


if __name__ == "__main__":
    entry()

"""The ``pgjax`` command.

    pgjax list                         the experiments and what they do
    pgjax run NAME [--field value ...] run one experiment into runs/NAME/ (every config field is a flag; see --help)
    pgjax table DIR                    re-render the tables of a results folder and print the Markdown one
    pgjax plot DIR                     re-draw the figures of a results folder from its saved table
    pgjax reproduce DIR [--out NEW]    re-run the command that wrote DIR and compare every table, value by value
    pgjax report DIR... [--out OUT]    one static HTML page per results folder: figures, sortable tables, manifest
    pgjax merge OUT SHARD_DIR...       merge seed shards (pgjax run NAME --seed-range A:B) into one results folder
    pgjax launch NAME --shards N --backend slurm|local [...]  one job array of seed shards, then merge
    pgjax explain [--write] [flags]    the log-derivative trick worked with numbers (docs/log-derivative-trick.md)
    pgjax export-rliable DIR... --out FILE.npz  training results as rliable's score matrices (runs x tasks)
    pgjax bench [--quick] [--out DIR]  the speed benchmark of the score-function estimator
    pgjax bench --all [--quick] [--out DIR] [--budget-seconds S] [--compare REF.json]
                                       every benchmark and a short run of each default experiment, on the
                                       accelerator JAX sees, within the budget (default 8 minutes)
    pgjax bench-scaling [--quick]      the scale-out benchmark (devices, memory, compilation cache)
    pgjax bench-lqr [--quick]          the trajectory benchmark (LQR rollout + reward-to-go vs NumPy)
    pgjax bench-envs [--quick]         the environment benchmark (CartPole rollout + gradient vs gymnax)
    pgjax --version                    the installed version

User mistakes print one line, ``pgjax: error: ...``, on stderr and exit with status 2, without a traceback
and without writing any result file. Ctrl-C stops cleanly (exit 130) and leaves earlier results intact.

A run writes to ``runs/NAME/`` (git-ignored) unless ``--out`` says otherwise; it replaces that folder as a
whole, and refuses (exit 2) a folder that holds another experiment's results or files pgjax did not write,
unless ``--overwrite``. When stderr is not a terminal (a log file, nohup, SLURM), progress is a line every
``PGJAX_PROGRESS_SECONDS`` seconds (default 30) with the work done, the total and an ETA.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import inspect
import os
import re
import sys
import textwrap
import time
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

from pgjax.cli_support import (
    UsageError,
    enable_compilation_cache,
    guard_interrupts,
    print_error,
    tyro_parse,
    use_every_core,
)

USAGE = __doc__.split("\n\n")[1]


#: Flags of `pgjax run` that say how to run, never what to compute: name -> (type, default, help).
RUN_FLAGS = {
    "out": (
        str,
        None,
        "Folder for the results, replaced as a whole when the run succeeds. Default: runs/NAME "
        "(git-ignored); the committed reference results are refreshed with --out results/NAME.",
    ),
    "overwrite": (
        bool,
        False,
        "Replace OUT even if it holds another experiment's results or files pgjax did not write (they are deleted).",
    ),
    "resume": (
        bool,
        False,
        "Reuse the finished cells in OUT/cells of a run with the same config, seed, float "
        "width and versions; compute the rest.",
    ),
    "devices": (int, 0, "Local devices to shard the seeds over (0 = all)."),
    "max_memory": (
        float,
        2.0,
        "Device-memory budget per device, in GiB, for the micro-batch calls in flight: "
        "the host-side chunk of seeds is derived from it (never a number); a micro-batch that does not "
        "fit is an error before any work.",
    ),
    "prng": (
        str,
        "threefry",
        "Pseudo-random number generator: threefry (JAX's; every committed result) or threefry-fast (the same "
        "keys and random bits, unrolled and fused: about 1.9x faster normals on a CPU; environment problems "
        "compiled without YNNPACK fusions on a CPU; estimates may differ in their last bits). Recorded in the "
        "manifest; only for experiments that draw through the engine.",
    ),
    "no_compile_cache": (bool, False, "Do not use the persistent JAX compilation cache."),
    "no_figures": (
        bool,
        False,
        "Write the tables, raw estimates and manifest only (no figures); `pgjax plot OUT` draws them later.",
    ),
    "seed_range": (
        str,
        "",
        "START:STOP: compute only the global seeds START..STOP-1 (the same keys and numbers as in the whole "
        "run) and write a shard folder (cells/ and shard.json) for `pgjax merge`, not tables. Default --out: "
        "runs/NAME.shards/seeds-START-STOP.",
    ),
    "shard": (
        str,
        "",
        "I/N: the I-th (0-based) of N nearly equal seed ranges, as --seed-range (e.g. --shard "
        "$SLURM_ARRAY_TASK_ID/10). Default --out: runs/NAME.shards/shard-I-of-N.",
    ),
    "distributed": (
        bool,
        False,
        "Multi-host: call jax.distributed.initialize() (SLURM, Open MPI, TPU pods "
        "are detected; or give the three flags below). Process 0 writes the results.",
    ),
    "coordinator_address": (str, "", "Multi-host: host:port of process 0 (implies --distributed)."),
    "num_processes": (int, 0, "Multi-host: number of processes (with --coordinator-address)."),
    "process_id": (int, -1, "Multi-host: this process's index (with --coordinator-address)."),
}

#: Where `pgjax run NAME` writes unless --out is given (relative to the working folder; git-ignored).
DEFAULT_OUT = "runs/{name}"


def _run_options(module, *, show_choices: bool = False):
    """The experiment's Config plus the execution flags of `pgjax run`. With ``show_choices`` (for --help),
    the fields that accept a fixed set of names show it, as ``{a,b,c}``."""
    import tyro

    extra = []
    if show_choices:
        hints = typing.get_type_hints(module.Config, include_extras=True)
        docs = field_docstrings(module.Config)
        defaults = module.Config()
        for name, choices in field_choices(module.Config).items():
            metavar = "{" + ",".join(choices) + "}"
            if typing.get_origin(hints[name]) is tuple:
                metavar += " [...]"
            marker = tyro.conf.arg(metavar=metavar, help=docs.get(name))
            extra.append((name, Annotated[(hints[name], marker)], dataclasses.field(default=getattr(defaults, name))))
    for name, (kind, default, help_text) in RUN_FLAGS.items():
        if name == "out":
            default = DEFAULT_OUT.format(name=module.NAME)
        # CascadeSubcommandArgs: a run flag may also follow a subcommand of the config (variance-vs-n lqr ... --out)
        markers = (tyro.conf.arg(help=help_text), tyro.conf.CascadeSubcommandArgs)
        markers += (tyro.conf.FlagCreatePairsOff,) if kind is bool else ()
        extra.append((name, Annotated[(kind, *markers)], dataclasses.field(default=default)))
    return dataclasses.make_dataclass("RunOptions", extra, bases=(module.Config,), frozen=True)


_CHOICES = re.compile(r"(?:choose (?:one of|from)|must be one of) (.+?)(?: \((?:got|or) .*)?$")


def field_choices(config_cls) -> dict[str, tuple[str, ...]]:
    """The names each text field of a config accepts, read from the config's own ``validate``: it is given an
    impossible name and the list in its error message ("choose from a, b, c") is taken, so the help can
    never disagree with what a run accepts. Fields whose validation names no list are left out."""
    from pgjax.errors import ConfigError

    hints = typing.get_type_hints(config_cls)
    base = config_cls()
    found: dict[str, tuple[str, ...]] = {}
    for field in dataclasses.fields(config_cls):
        hint = hints.get(field.name)
        if hint is str:
            probe: Any = "\x00"
        elif typing.get_origin(hint) is tuple and typing.get_args(hint)[:1] == (str,):
            probe = ("\x00",)
        else:
            continue
        try:
            dataclasses.replace(base, **{field.name: probe}).validate()
        except ConfigError as err:
            match = _CHOICES.search(str(err))
            if err.field == field.name and match:
                found[field.name] = tuple(c.strip() for c in match.group(1).split(","))
        except Exception:
            continue
    return found


def field_docstrings(cls) -> dict[str, str]:
    """The docstrings under the fields of a dataclass and of its dataclass bases (as tyro shows them)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _start_distributed(options) -> None:
    import jax

    if options.coordinator_address:
        if options.num_processes < 1 or not 0 <= options.process_id < options.num_processes:
            raise UsageError("--coordinator-address needs --num-processes N >= 1 and --process-id in [0, N)")
        jax.distributed.initialize(
            coordinator_address=options.coordinator_address,
            num_processes=options.num_processes,
            process_id=options.process_id,
        )
    else:
        jax.distributed.initialize()


def cmd_list() -> int:
    from pgjax import experiment

    for name in experiment.discover():
        module = experiment.load(name)
        summary = " ".join((module.Config.__doc__ or "").split())
        print(f"{name:24s} {summary}")
    for path, reason in experiment.BROKEN.items():
        print(f"pgjax: warning: experiment module {path} failed to import: {reason}", file=sys.stderr)
    for message in experiment.MALFORMED.values():
        print(f"pgjax: warning: {message}", file=sys.stderr)
    return 0


def cmd_run(args: Sequence[str]) -> int:
    from pgjax import experiment
    from pgjax import io as pio
    from pgjax.engine import shards
    from pgjax.engine.cells import CellStore, run_context
    from pgjax.errors import ConfigError

    if not args or args[0].startswith("-"):
        known = ", ".join(experiment.discover())
        raise UsageError(f"run needs an experiment name; known: {known}")
    module = experiment.load(args[0])
    wants_help = any(a in ("-h", "--help") for a in args[1:])
    options = tyro_parse(_run_options(module, show_choices=wants_help), args[1:], prog=f"pgjax run {module.NAME}")
    # the fields themselves, not dataclasses.asdict: a field may hold a dataclass (a subcommand's config)
    config = module.Config(**{f.name: getattr(options, f.name) for f in dataclasses.fields(module.Config)})
    config.validate()
    if options.devices < 0:
        raise ConfigError("devices", f"must be >= 0 (got {options.devices})")
    if not options.max_memory > 0:
        raise ConfigError("max_memory", f"must be > 0 GiB (got {options.max_memory})")
    from pgjax.engine.prng import DEFAULT_PRNG, check_prng

    check_prng(options.prng)
    out = Path(options.out)
    seed_range = _seed_range(module, config, options)
    if seed_range is not None and options.out == DEFAULT_OUT.format(name=module.NAME):
        tail = (
            f"shard-{options.shard.replace('/', '-of-')}" if options.shard else f"seeds-{seed_range[0]}-{seed_range[1]}"
        )
        out = Path(DEFAULT_OUT.format(name=module.NAME) + ".shards") / tail
    if options.distributed or options.coordinator_address:
        _start_distributed(options)
    import jax

    writer = jax.process_index() == 0
    if writer:
        pio.check_writable(out)
        pio.remove_stale(out)  # what a killed earlier run left: temporaries, or its old folder set aside
        if seed_range is not None:
            shards.check_shard_folder(out, module.NAME, overwrite=options.overwrite)
        elif not options.overwrite:
            pio.check_replaceable(out, module.NAME)
    if not options.no_compile_cache:
        enable_compilation_cache()

    store = CellStore(
        out / pio.CELLS_DIR,
        resume=options.resume,
        context=run_context(module.NAME, config),
        seed_range=seed_range,
        shard_of=shards.total_seeds(config) if seed_range is not None else None,
    )
    execution = {
        "devices": options.devices or None,
        "max_memory_bytes": int(options.max_memory * 2**30),
        "store": store,
    }
    if options.prng != DEFAULT_PRNG:  # only then: an experiment that never sweeps need not accept the keyword
        execution["prng"] = options.prng
    hooks = experiment.hooks(module)
    total = hooks.total_work(config) if hooks.total_work else None
    if seed_range is not None:
        execution["seed_range"] = seed_range
        if total and hooks.progress_unit == "seed":  # the engine reports this shard's seeds only
            total = max(1, total * (seed_range[1] - seed_range[0]) // shards.total_seeds(config))
        if writer:
            (out / shards.SHARD_FILE).unlink(missing_ok=True)  # no longer a finished shard until this one is
    try:
        with guard_interrupts() as guard, _progress(module.NAME, total, hooks.progress_unit, enabled=writer) as bar:

            def update(count: int = 1) -> None:
                guard.check()  # a Ctrl-C whose KeyboardInterrupt was lost (InterruptGuard) stops the run here
                bar(count)

            result = module.run(config, progress=update, execution=execution)
            guard.check()
    except KeyboardInterrupt:
        kept = len(set(store.saved) | set(store.loaded))
        raise Interrupted(
            f"interrupted; {kept} finished cell(s) kept in {store.folder}; "
            f"rerun the same command with --resume to continue"
        ) from None
    if not writer:
        return 0
    if seed_range is not None:
        return _finish_shard(module, config, store, out, seed_range, ["pgjax", "run", *args])
    if store.folder.is_dir():
        store.prepare()  # its run.json names the experiment (a training checkpoint does not write one)
    used = (getattr(getattr(result, "sweep", None), "execution", {}) or {}).get("prng", DEFAULT_PRNG)
    if used != options.prng:
        raise ConfigError("prng", f"{module.NAME} does not draw through the engine's sweeps: it runs with {used} only")
    save = hooks.save or experiment.save
    from pgjax.plotting.variance import figures_skipped

    with pio.overwriting(options.overwrite), figures_skipped(options.no_figures):
        save(result, out, argv=["pgjax", "run", *args])
    store.prune()
    figures = "" if options.no_figures else "figure.png, "
    print(f"wrote {out}/ (table.md, table.parquet, {figures}manifest.json, ...)")
    execution = getattr(getattr(result, "sweep", None), "execution", {}) or {}
    reused = execution.get("cells_loaded", len(store.loaded))  # a partly finished group is recomputed whole
    if reused:
        print(f"resumed: {reused} finished cell(s) reused, {len(store.saved)} computed")
    print(_platform_line(execution, options))
    if "compiles" in execution:
        print(f"compiled {execution['compiles']} program(s), {execution['cache_hits']} from the persistent cache")
    headline = hooks.headline(result) if hooks.headline else _headline(result.table)
    print(pio.render_markdown(headline))
    for line in nonfinite_report(result):
        print(f"pgjax: warning: {line}", file=sys.stderr)
    return 0


def _seed_range(module, config, options) -> tuple[int, int] | None:
    """The shard's global seed range from --seed-range or --shard (None for a whole run)."""
    from pgjax.engine import shards
    from pgjax.errors import ConfigError

    if not (options.seed_range or options.shard):
        return None
    if options.seed_range and options.shard:
        raise UsageError("give --seed-range or --shard, not both")
    total = shards.total_seeds(config)
    if total is None:
        raise ConfigError("seed_range", f"{module.NAME} has no --n-seeds to cut into shards")
    if options.seed_range:
        return shards.parse_seed_range(options.seed_range, total)
    return shards.shard_range(options.shard, total)


def _finish_shard(module, config, store, out: Path, seed_range, argv) -> int:
    """Writes the shard's shard.json (the mark of a finished shard) once all its cells are saved."""
    from pgjax.engine import shards
    from pgjax.errors import ConfigError

    cells = sorted(set(store.saved) | set(store.loaded))
    if not cells:
        raise ConfigError(
            "seed_range", f"{module.NAME} cannot be sharded: none of its seeds went through the engine's cells"
        )
    store.prepare()
    shards.write_shard_manifest(
        out,
        experiment=module.NAME,
        context=store.context,
        run_key=store.run_key,
        seeds=seed_range,
        n_seeds=shards.total_seeds(config),
        cells=cells,
        argv=argv,
    )
    store.prune()
    start, stop = seed_range
    print(
        f"wrote shard {out}/ (seeds {start}:{stop} of {shards.total_seeds(config)}, {len(cells)} cell file(s)); "
        f"when every shard is done: pgjax merge OUT SHARD_DIR..."
    )
    return 0


def _platform_line(execution: dict, options) -> str:
    """Where the run ran: platform, device kind, devices used of those present, processes."""
    import jax

    devices = jax.devices()
    used = execution.get("devices") or options.devices or len(devices)
    kind = devices[0].device_kind if devices else "?"
    return (
        f"ran on {jax.default_backend()} ({kind}): {used} of {len(devices)} device(s), "
        f"{jax.process_count()} process(es)"
    )


def nonfinite_report(result, limit: int = 12) -> list[str]:
    """Lines that name the cells with non-finite estimates (or, for a training run, the variants with
    non-finite returns) and how many seeds each; empty when every number is finite."""
    import numpy as np

    bad: list[str] = []
    cells = 0
    sweep = getattr(result, "sweep", None)
    raw = getattr(result, "raw", None)
    groups, what = {}, "estimates"  # label -> (seeds, ...) values
    if sweep is not None and hasattr(sweep, "cells"):  # a grid sweep: name each cell's setting
        for setting, name, n, values, _ in sweep.cells():
            where = ", ".join(f"{axis} = {value}" for axis, value in setting.items() if value is not None)
            groups[f"{name} at n = {n}" + (f" ({where})" if where else "")] = values
    elif sweep is not None:
        groups = {f"{name} at n = {n}": values for name, by_n in sweep.estimates.items() for n, values in by_n.items()}
    elif isinstance(raw, dict):
        groups = {key[: -len("/return")]: values for key, values in raw.items() if key.endswith("/return")}
        what = "returns"
    for label, values in groups.items():
        values = np.asarray(values)
        cells += 1
        count = int(np.count_nonzero(~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)))
        if count:
            bad.append(f"{label}: {count} of {values.shape[0]} seeds")
    if not bad:
        return []
    head = (
        f"non-finite {what} in {len(bad)} of {cells} cell(s) (seeds with any non-finite value; the "
        f"table counts them in n_nonfinite):"
    )
    lines = [head, *(f"  {line}" for line in bad[:limit])]
    if len(bad) > limit:
        lines.append(f"  ... and {len(bad) - limit} more")
    return lines


#: Seconds between progress lines when stderr is not a terminal (override: PGJAX_PROGRESS_SECONDS).
PROGRESS_SECONDS = 30.0


def _duration(seconds: float) -> str:
    seconds = int(round(max(seconds, 0)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


class LogProgress:
    """Progress for a log: a line ``pgjax: NAME: done/total units (p%), elapsed, ETA`` on ``stream`` at most
    every ``interval`` seconds (at the update that crosses it), and a last line when a run that printed
    any finishes. For stderr that is not a terminal, where a progress bar would be noise."""

    def __init__(
        self,
        name: str,
        total: int | None,
        unit: str,
        *,
        interval: float,
        stream=None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name, self.total, self.unit, self.interval = name, total, unit, interval
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.start = self.last = clock()
        self.done = 0
        self.lines = 0

    def update(self, count: int = 1) -> None:
        self.done += count
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self._line(now)

    def finish(self) -> None:
        if self.lines:
            self._line(self.clock(), final=True)

    def _line(self, now: float, final: bool = False) -> None:
        elapsed = now - self.start
        text = f"pgjax: {self.name}: {self.done}"
        if self.total:
            text += f"/{self.total} {self.unit}s ({100 * self.done / self.total:.0f}%)"
        else:
            text += f" {self.unit}s"
        if final:
            text += f", done in {_duration(elapsed)}"
        else:
            text += f", {_duration(elapsed)} elapsed"
            if self.total and 0 < self.done < self.total:
                text += f", ETA {_duration(elapsed * (self.total - self.done) / self.done)}"
        print(text, file=self.stream, flush=True)
        self.lines += 1


@contextlib.contextmanager
def _progress(name: str, total: int | None, unit: str, *, enabled: bool = True):
    """The progress callback of a run: a tqdm bar on a terminal, :class:`LogProgress` lines otherwise."""
    if not enabled:
        yield lambda count=1: None
        return
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        with tqdm(total=total, desc=name, unit=unit, file=sys.stderr) as bar:
            yield bar.update
        return
    try:
        interval = float(os.environ.get("PGJAX_PROGRESS_SECONDS", PROGRESS_SECONDS))
    except ValueError:
        interval = PROGRESS_SECONDS
    log = LogProgress(name, total, unit, interval=interval)
    yield log.update
    log.finish()


class Interrupted(Exception):
    pass


def _headline(table):
    """The largest-n rows: the quick view printed after a run."""
    largest = table[table["n"] == table["n"].max()]
    return largest


TABLE_HELP = """usage: pgjax table DIR

Re-renders table.md, table.csv and table.tex of a results folder from its table.parquet (the source of
truth, which is never rewritten), and the quality table's from quality.parquet where there is one, and
prints the Markdown table. DIR must be writable."""

PLOT_HELP = """usage: pgjax plot DIR

Re-draws the figures (PNG and PDF) of a results folder from its saved tables, without recomputing
anything. DIR must be writable."""


def cmd_table(args: Sequence[str]) -> int:
    from pgjax import io as pio

    folder = _one_dir(args, "table", TABLE_HELP)
    if folder is None:
        return 0
    retable = _experiment_hook(folder, "retable")  # an experiment whose tables are not the standard one
    if retable is not None:
        pio.check_writable(folder, parent=False)
        print(retable(folder))
        return 0
    table = pio.read_table(folder)
    quality = pio.read_quality(folder) if (folder / pio.QUALITY_FILE).is_file() else None
    pio.check_writable(folder, parent=False)
    pio.write_table(table, folder, parquet=False)
    if quality is not None:
        pio.write_quality(quality, folder, parquet=False)
    print(pio.render_markdown(table))
    return 0


def _parse_flags(command: str, args: Sequence[str], flags: dict[str, str]) -> tuple[list[str], dict[str, typing.Any]]:
    """The positional arguments and flag values of ``pgjax COMMAND ARGS`` for the commands whose few flags
    are not a config (report, reproduce, export-rliable). ``flags`` maps each flag to its kind: "value" (one
    value, ``--flag V`` or ``--flag=V``; the last one given wins), "repeat" (one value, may be given again:
    a list) or "list" (every following argument up to the next flag: a list). A flag not given is absent
    from the dict. A missing value or an unknown flag is a UsageError naming it."""
    args, positional, values = list(args), [], {}
    while args:
        arg = args.pop(0)
        name, eq, inline = arg.partition("=")
        if not arg.startswith("-"):
            positional.append(arg)
        elif name not in flags:
            raise UsageError(f"{command}: unknown flag {name!r}; see pgjax {command} --help")
        elif flags[name] == "list":
            taken = [inline] if eq else []
            while args and not args[0].startswith("-"):
                taken.append(args.pop(0))
            if not taken:
                raise UsageError(f"{command}: {name} needs at least one value")
            values.setdefault(name, []).extend(taken)
        else:
            value = inline if eq else (args.pop(0) if args and not args[0].startswith("-") else "")
            if not value:
                raise UsageError(f"{command}: {name} needs a value")
            if flags[name] == "repeat":
                values.setdefault(name, []).append(value)
            else:
                values[name] = value
    return positional, values


def _without_flags(args: Sequence[str], valued: Sequence[str]) -> list[str]:
    """``args`` of a recorded `pgjax run` command without the flags in ``valued`` (with their value, given as
    ``--flag V`` or ``--flag=V``) and without --resume and --overwrite, which never change the results."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in valued:
            skip = True
        elif not (arg.split("=", 1)[0] in valued or arg in ("--resume", "--overwrite")):
            kept.append(arg)
    return kept


def _experiment_hook(folder: Path, name: str):
    """The hook ``name`` (a field of :class:`pgjax.experiment.Hooks`) that the experiment which wrote
    ``folder`` (per its manifest) declares, or None: for the default, or when the folder has no readable
    manifest or its experiment is not installed. An installed experiment that breaks the contract is an
    ExperimentError."""
    from pgjax import experiment
    from pgjax import io as pio
    from pgjax.errors import ExperimentError, PgjaxError

    try:
        module = experiment.load(pio.read_manifest(folder)["experiment"])
    except ExperimentError:
        raise
    except PgjaxError:
        return None
    return getattr(experiment.hooks(module), name)


def cmd_plot(args: Sequence[str]) -> int:
    from pgjax import io as pio
    from pgjax.plotting import variance as plots

    folder = _one_dir(args, "plot", PLOT_HELP)
    if folder is None:
        return 0
    # an experiment may draw its own figures (from its saved tables only)
    draw = _experiment_hook(folder, "draw") or plots.draw_all
    pio.check_writable(folder, parent=False)
    paths = draw(folder)
    pio.record_files(folder, paths)
    for path in paths:
        print(f"wrote {path}")
    return 0


REPORT_HELP = """usage: pgjax report DIR [DIR ...] [--out OUTDIR]

Writes one self-contained static HTML page per results folder, to explore it without a notebook: its figures
(embedded), every table (*.parquet) with columns that sort on a click on their name and a filter box for long
ones, numbers to 4 significant figures as in table.md, and its manifest (config, command, git commit,
environment; the raw JSON too). The page needs no server and no network: open it in any browser.

Without --out the page is DIR/report.html (DIR must be writable; a later `pgjax run` into DIR replaces it
with the rest of the folder). With --out, each page is OUTDIR/<folder name>.html, and with several folders
OUTDIR/index.html links them; several folders need --out. A folder without a pgjax manifest.json is refused,
and then nothing is written."""


def cmd_report(args: Sequence[str]) -> int:
    from pgjax import io as pio
    from pgjax.io.report import INDEX_FILE

    if list(args) in (["-h"], ["--help"]):
        print(REPORT_HELP)
        return 0
    positional, values = _parse_flags("report", args, {"--out": "value"})
    folders = [Path(a) for a in positional]
    out = Path(values["--out"]) if "--out" in values else None
    if not folders:
        raise UsageError("usage: pgjax report DIR [DIR ...] [--out OUTDIR]")
    if len(folders) > 1 and out is None:
        raise UsageError("several folders need --out OUTDIR (their pages and the index page linking them go there)")
    for folder in folders:
        if not folder.is_dir():
            raise UsageError(f"{folder}: no such results folder")
    targets: dict[Path, Path] = {}
    for folder in folders:
        target = pio.report_path(folder, out)
        key = Path(os.path.abspath(target))
        if key in targets:
            raise UsageError(f"{targets[key]} and {folder} would both be written to {target}: give one of them")
        if len(folders) > 1 and target.name == INDEX_FILE:
            raise UsageError(f"{folder}: its page would be the index page {target}; rename or copy the folder")
        targets[key] = folder
    pages = [pio.render_report(folder) for folder in folders]  # every folder read before anything is written
    pio.check_writable(out if out is not None else folders[0], parent=False)  # one folder when no --out
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    written = []
    for folder, page in zip(folders, pages):
        written.append(pio.atomic_write_text(pio.report_path(folder, out), page.html))
    if len(folders) > 1:
        links = [(path.name, page) for path, page in zip(written, pages)]
        written.append(pio.atomic_write_text(out / INDEX_FILE, pio.render_index(links)))
    for path in written:
        print(f"wrote {path}")
    return 0


REPRODUCE_HELP = """usage: pgjax reproduce DIR [--out NEW] [--ignore COLUMN ...]

Re-runs the `pgjax run` command recorded in DIR/manifest.json, writing to NEW (default: a new temporary
folder; NEW must not hold other results), and compares every parquet table of DIR with the new one, value by
value with no tolerance (NaN equals NaN). Prints "identical" and exits 0, or prints one line per differing
table column and exits 1. Tables only in NEW (written by a later pgjax) are named, not compared. --ignore
leaves a column out of the comparison (say why when you use it)."""


def cmd_reproduce(args: Sequence[str]) -> int:
    import tempfile

    from pgjax import io as pio

    if list(args) in (["-h"], ["--help"]):
        print(REPRODUCE_HELP)
        return 0
    positional, values = _parse_flags("reproduce", args, {"--out": "value", "--ignore": "repeat"})
    out = Path(values["--out"]) if "--out" in values else None
    ignore = values.get("--ignore", [])
    if len(positional) != 1:
        raise UsageError("usage: pgjax reproduce DIR [--out NEW] [--ignore COLUMN ...]")
    folder = Path(positional[0])
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such results folder")
    command = list(pio.read_manifest(folder).get("command") or [])
    if command[:2] != ["pgjax", "run"] or len(command) < 3:
        raise UsageError(f"{folder}: its manifest records no `pgjax run` command to repeat (got {command})")
    rerun = _without_flags(command[2:], ("--out",))  # the recorded flags, without where it wrote, nor resuming
    out = out or Path(tempfile.mkdtemp(prefix="pgjax-reproduce-")) / folder.resolve().name
    print(f"re-running: pgjax run {' '.join(rerun)} --out {out}")
    status = cmd_run([*rerun, "--out", str(out)])
    if status:
        return status
    differences = pio.compare_tables(folder, out, ignore)
    tables = sorted(p.name for p in folder.glob("*.parquet"))
    if differences:
        print(f"{folder} is NOT reproduced by {out}:")
        for line in differences:
            print(f"  {line}")
        return 1
    left_out = f" (columns left out: {', '.join(ignore)})" if ignore else ""
    print(f"identical: {', '.join(tables)} of {folder} and {out}{left_out}")
    added = pio.new_tables(folder, out)
    if added:
        print(f"new tables, not in {folder} and so not compared: {', '.join(added)}")
    return 0


MERGE_HELP = """usage: pgjax merge OUT SHARD_DIR... [--overwrite]

Merges the shard folders written by `pgjax run NAME --seed-range START:STOP` (or --shard I/N, or `pgjax
launch`) into the results folder OUT: the same tables, raw estimates and figures as one run of all the seeds,
computed from the shards' per-seed estimates (nothing is recomputed). The shards must be of one run (the same
experiment, config, pgjax and jax versions and device kind) and their seed ranges disjoint and covering
0..R-1; otherwise one line names the shards, or the missing seed ranges. OUT's manifest records the
equivalent single-run command (so `pgjax reproduce OUT` re-runs it unsharded) and the shards merged."""

#: Flags of a shard's command that a merge leaves out: where it wrote, and which seeds.
_SHARD_ONLY = ("--seed-range", "--shard", "--out")


def unsharded_flags(command: Sequence[str]) -> list[str]:
    """The flags of a shard's recorded `pgjax run NAME ...` command without its shard, --out, --resume and
    --overwrite: those of the equivalent single run."""
    return _without_flags(list(command)[3:], _SHARD_ONLY)


def cmd_merge(args: Sequence[str]) -> int:
    from pgjax import experiment
    from pgjax import io as pio
    from pgjax.engine import shards
    from pgjax.engine.cells import run_context
    from pgjax.errors import PgjaxError

    if list(args) in (["-h"], ["--help"]):
        print(MERGE_HELP)
        return 0
    overwrite = "--overwrite" in args
    args = [a for a in args if a != "--overwrite"]
    unknown = [a for a in args if a.startswith("-")]
    if unknown:
        raise UsageError(f"merge: unknown flag {unknown[0]!r}; see pgjax merge --help")
    if len(args) < 2:
        raise UsageError("usage: pgjax merge OUT SHARD_DIR... [--overwrite]")
    out, folders = Path(args[0]), [Path(a) for a in args[1:]]
    for folder in folders:
        if not folder.is_dir():
            raise UsageError(f"{folder}: no such shard folder")
    found = shards.check_shards(folders)
    for shard in found:
        inside = shard.folder.resolve()
        if out.resolve() == inside or out.resolve() in inside.parents:
            raise UsageError(f"{out} holds the shard {shard.folder}: merge into another folder")
    first = found[0]
    module = experiment.load(first.experiment)
    flags = unsharded_flags(first.command)
    options = tyro_parse(_run_options(module), flags, prog=f"pgjax merge ({module.NAME})")
    config = module.Config(**{f.name: getattr(options, f.name) for f in dataclasses.fields(module.Config)})
    config.validate()
    if run_context(module.NAME, config)["config"] != first.context.get("config"):
        raise PgjaxError(f"{first.folder}: its recorded command does not give the config of its shard")
    pio.check_writable(out)
    pio.remove_stale(out)
    if not overwrite:
        pio.check_replaceable(out, module.NAME)
    if not options.no_compile_cache:
        enable_compilation_cache()
    store = shards.ShardStore(found)
    execution = {
        "devices": options.devices or None,
        "max_memory_bytes": int(options.max_memory * 2**30),
        "store": store,
    }
    result = module.run(config, progress=None, execution=execution)
    hooks = experiment.hooks(module)
    save = hooks.save or experiment.save
    with pio.overwriting(overwrite):
        save(result, out, argv=["pgjax", "run", module.NAME, *flags, "--out", str(out)])
    manifest = pio.read_manifest(out)
    manifest["merged_from"] = {
        "shards": [{"folder": str(s.folder), "seeds": list(s.seeds)} for s in found],
        "run": first.run,
        "backend": first.context.get("backend"),
        "device_kind": first.context.get("device_kind"),
    }
    pio.write_manifest(out, manifest)
    print(f"merged {len(found)} shard(s) (seeds 0:{first.n_seeds}) into {out}/")
    headline = hooks.headline(result) if hooks.headline else _headline(result.table)
    print(pio.render_markdown(headline))
    return 0


EXPORT_RLIABLE_HELP = """usage: pgjax export-rliable DIR... --out FILE.npz [--tasks NAME ...]

Writes the training results folders DIR... (one task each, named by the env of its manifest unless --tasks
names them) as rliable's score matrices: final/<variant> of shape (runs, tasks), the final returns, and, when
every folder has the same updates, curves/<variant> (runs, tasks, blocks), with tasks, algorithms and
updates (pgjax.io.rliable_export). Load them with numpy.load and pass {variant: matrix} to
rliable.library.get_interval_estimates."""


def cmd_export_rliable(args: Sequence[str]) -> int:
    from pgjax import io as pio

    if list(args) in (["-h"], ["--help"]):
        print(EXPORT_RLIABLE_HELP)
        return 0
    positional, values = _parse_flags("export-rliable", args, {"--out": "value", "--tasks": "list"})
    folders = [Path(a) for a in positional]
    out = Path(values["--out"]) if "--out" in values else None
    tasks = values.get("--tasks")
    if out is None or not folders:
        raise UsageError("usage: pgjax export-rliable DIR... --out FILE.npz [--tasks NAME ...]")
    for folder in folders:
        if not folder.is_dir():
            raise UsageError(f"{folder}: no such results folder")
    scores = pio.rliable_scores(folders, tasks)
    pio.write_rliable(out, scores)
    runs = next(iter(scores.final.values())).shape[0]
    curves = "" if scores.curves is None else f" and curves over {len(scores.updates)} blocks"
    print(
        f"wrote {out}: {len(scores.algorithms)} algorithm(s) x {runs} runs x {len(scores.tasks)} task(s) "
        f"({', '.join(scores.tasks)}), final returns{curves}"
    )
    return 0


def cmd_launch(args: Sequence[str]) -> int:
    from pgjax import launch

    return launch.main(list(args), run_options=_run_options, merge=cmd_merge, main=main)


def cmd_bench(args: Sequence[str]) -> int:
    if "--all" in args:  # every benchmark and a short run of each default experiment (pgjax.bench.all)
        from pgjax.bench import all as bench_all

        return bench_all.main([a for a in args if a != "--all"])
    from pgjax.bench import score as bench

    return bench.main(list(args))


def cmd_bench_scaling(args: Sequence[str]) -> int:
    from pgjax.bench import scaling as bench_scaling

    return bench_scaling.main(list(args))


def cmd_bench_envs(args: Sequence[str]) -> int:
    from pgjax.bench import envs as bench_envs

    return bench_envs.main(list(args))


def cmd_bench_lqr(args: Sequence[str]) -> int:
    from pgjax.bench import lqr as bench_lqr

    return bench_lqr.main(list(args))


def cmd_explain(args: Sequence[str]) -> int:
    from pgjax import explain

    return explain.main(list(args))


def _one_dir(args: Sequence[str], command: str, help_text: str) -> Path | None:
    """The results folder of `pgjax table`/`pgjax plot`; None after printing the help."""
    if list(args) in (["-h"], ["--help"]):
        print(help_text)
        return None
    if len(args) != 1 or args[0].startswith("-"):
        raise UsageError(f"usage: pgjax {command} DIR (a results folder written by `pgjax run`)")
    folder = Path(args[0])
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such results folder")
    return folder


COMMANDS = {
    "list": lambda a: cmd_list(),
    "run": cmd_run,
    "table": cmd_table,
    "plot": cmd_plot,
    "reproduce": cmd_reproduce,
    "report": cmd_report,
    "merge": cmd_merge,
    "launch": cmd_launch,
    "explain": cmd_explain,
    "export-rliable": cmd_export_rliable,
    "bench": cmd_bench,
    "bench-scaling": cmd_bench_scaling,
    "bench-lqr": cmd_bench_lqr,
    "bench-envs": cmd_bench_envs,
}


def main(argv: Sequence[str] | None = None) -> int:
    from pgjax.errors import PgjaxError

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    if args[0] in ("--version", "-V"):
        import pgjax

        print(f"pgjax {pgjax.__version__}")
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        return print_error(f"unknown command {command!r}; choose from {', '.join(COMMANDS)}")
    use_every_core()
    try:
        return COMMANDS[command](rest)
    except (UsageError, PgjaxError) as exc:
        return print_error(str(exc))
    except PermissionError as exc:  # a folder that became read-only after the checks
        return print_error(f"cannot write to {exc.filename or 'the output folder'}: {exc.strerror or exc}")
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

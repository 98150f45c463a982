"""What the commands of ``pgjax`` share: the one-line error report, flag parsing with tyro, and the
persistent compilation cache.

It sits below :mod:`pgjax.cli` and every command module (such as :mod:`pgjax.explain`), so that a command can
use these without importing the CLI that dispatches to it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path


class UsageError(Exception):
    """Bad command-line arguments (an unknown flag, a missing name); the commands print it as one line."""


def print_error(message: str) -> int:
    """Prints ``pgjax: error: MESSAGE`` on stderr and returns the exit status of a user mistake, 2."""
    print(f"pgjax: error: {message}", file=sys.stderr)
    return 2


def tyro_parse(cls, args: Sequence[str], prog: str):
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
        if detail.endswith(":") and len(lines) > 2:  # a flag after a subcommand: the offender is on the next line
            detail = f"{detail} {lines[2]}"
        raise UsageError(detail) from None


def enable_compilation_cache() -> Path | None:
    """Turns on JAX's persistent compilation cache, so a second run of the same experiment skips compilation.

    The folder is ``$PGJAX_COMPILE_CACHE_DIR`` when set (the test suite points it at one temporary folder
    that its workers and subprocesses share), else ``pgjax/jax-compilation-cache`` in the user cache folder
    (``$XDG_CACHE_HOME`` or ``~/.cache``). Opt out with `--no-compile-cache` or PGJAX_NO_COMPILE_CACHE=1."""
    if os.environ.get("PGJAX_NO_COMPILE_CACHE", "") not in ("", "0"):
        return None
    import jax

    if os.environ.get("PGJAX_COMPILE_CACHE_DIR"):
        folder = Path(os.environ["PGJAX_COMPILE_CACHE_DIR"])
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pgjax" / "jax-compilation-cache"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    # Every program, however small: a run also compiles many one-operation programs (the exact values, computed
    # eagerly), each about 30 ms on a CPU; cached, a second run of a small experiment starts 1.6 s sooner.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return folder


class InterruptGuard:
    """A Ctrl-C that a run cannot lose (:func:`guard_interrupts`).

    Python's own SIGINT handler raises KeyboardInterrupt wherever the main thread happens to be. When that is
    inside a callback whose exceptions Python ignores (JAX's garbage-collection callback: seen in a test run,
    where the traceback was printed as "Exception ignored in: <function _xla_gc_callback ...>"), the interrupt
    is lost and the run goes on to finish. This handler raises in the same way and also remembers the signal,
    so :meth:`check` raises KeyboardInterrupt again at the next point where the run calls it.
    """

    def __init__(self) -> None:
        self.interrupted = False

    def handler(self, signum, frame) -> None:
        self.interrupted = True
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raises KeyboardInterrupt once a SIGINT has arrived (whether or not its first raise was lost)."""
        if self.interrupted:
            raise KeyboardInterrupt


@contextlib.contextmanager
def guard_interrupts():
    """Installs an :class:`InterruptGuard` as the SIGINT handler for the block and yields it (restored after).

    Only where Python's default handler is in place, in the main thread: a process that ignores SIGINT (a job
    started in the background without job control) keeps ignoring it, and the guard's :meth:`check` never
    raises then.
    """
    import signal
    import threading

    guard = InterruptGuard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield guard
        return
    signal.signal(signal.SIGINT, guard.handler)
    try:
        yield guard
    finally:
        signal.signal(signal.SIGINT, previous)


def cores() -> int:
    """The number of CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def use_every_core() -> int | None:
    """Gives JAX one CPU device per core this process may run on, so that the engine shards its seeds over
    every core (``jax.shard_map``); returns that count, or None where it left JAX as it was.

    XLA:CPU runs one program at a time per device, and it splits only large fusions over its threads: the
    small per-step fusions of a rollout's loop (LQR, CartPole) and a bandit micro-batch's dispatch then keep
    one core busy while the other waits. With a device per core each core runs its own micro-batch
    (``pgjax bench-scaling`` measures the gain against a plain one-device process:
    ``results/bench/scaling.md``). Per-seed estimates are bit-identical whatever the device count (the
    engine's guarantee, tested), so no number changes. A program with a batched LAPACK call, which jaxlib 0.10
    can hang on several CPU devices, runs on one of them (:func:`pgjax.engine.sweep.batched_lapack_calls`).

    Left alone where the user chose (``JAX_NUM_CPU_DEVICES``, ``--xla_force_host_platform_device_count`` in
    ``XLA_FLAGS``, or JAX's ``jax_num_cpu_devices`` config in this process), on one core, and where JAX already
    runs in this process (its devices are fixed then). Set through JAX's config, not the environment, so that
    processes started from this one (a cluster job on another machine) choose for themselves. Only the CPU
    backend is affected: on a GPU the engine uses the GPUs.
    """
    if "JAX_NUM_CPU_DEVICES" in os.environ or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return None
    count = cores()
    if count <= 1:
        return None
    import jax

    if jax.config.jax_num_cpu_devices != -1:  # chosen already in this process (JAX's default is -1)
        return None
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # JAX has already started its backends in this process
        return None
    return count

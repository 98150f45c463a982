"""What the commands share (pgjax/cli_support.py): a Ctrl-C that a run cannot lose."""

from __future__ import annotations

import os
import signal

import pytest

from pgjax import cli
from pgjax.cli_support import cores, guard_interrupts, use_every_core


def _swallowing(fn):
    """Runs fn as a callback whose exceptions are ignored would (JAX's garbage-collection callback)."""
    try:
        fn()
    except KeyboardInterrupt:
        pass


def test_a_lost_interrupt_is_raised_again_at_the_next_check():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with guard_interrupts() as guard:
            guard.check()  # nothing arrived yet
            _swallowing(lambda: os.kill(os.getpid(), signal.SIGINT))
            with pytest.raises(KeyboardInterrupt):
                guard.check()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_ignored_sigint_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with guard_interrupts() as guard:
            os.kill(os.getpid(), signal.SIGINT)
            guard.check()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_the_cli_stops_a_run_whose_interrupt_was_lost(tmp_path, monkeypatch, capsys):
    """Through `pgjax run`: a SIGINT whose KeyboardInterrupt is swallowed mid-run (here inside the run's first
    progress report) still ends the run with exit status 130 and the resume hint, and writes no results (only
    the finished cells that --resume reuses)."""
    import contextlib

    original = cli._progress
    fired = []

    @contextlib.contextmanager
    def progress(*args, **kwargs):
        with original(*args, **kwargs) as update:

            def report(count=1):
                if not fired:
                    fired.append(True)
                    _swallowing(lambda: os.kill(os.getpid(), signal.SIGINT))
                update(count)

            yield report

    monkeypatch.setattr(cli, "_progress", progress)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        out = tmp_path / "run"
        small = ["--n-seeds", "8", "--ns", "4", "--estimators", "reinforce", "--no-figures"]
        assert cli.main(["run", "bandit-variance", *small, "--out", str(out)]) == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    assert fired
    assert "--resume" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (out / "table.parquet").exists() and not (out / "manifest.json").exists()


def _devices_in_a_fresh_process(env_extra: dict, *, affinity: int | None = None, started: bool = False):
    """(JAX devices, what use_every_core returned) in a fresh Python process with the given environment, on its
    first ``affinity`` cores; ``started``: JAX has run an operation before the call."""
    import json
    import subprocess
    import sys

    code = (
        "import json, os\n"
        + (f"os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:{affinity}]))\n" if affinity else "")
        + ("import jax; jax.numpy.zeros(1).block_until_ready()\n" if started else "")
        + "from pgjax.cli_support import use_every_core\n"
        "chosen = use_every_core()\n"
        "import jax\n"
        "print(json.dumps([len(jax.devices()), chosen]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_NUM_CPU_DEVICES", "XLA_FLAGS")}
    env.update({"JAX_PLATFORMS": "cpu", **env_extra})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.skipif(cores() < 2, reason="needs two cores")
def test_every_core_becomes_a_device_unless_the_user_or_a_running_jax_chose():
    assert _devices_in_a_fresh_process({}, affinity=2) == (2, 2)
    assert _devices_in_a_fresh_process({}, affinity=1) == (1, None)
    assert _devices_in_a_fresh_process({"JAX_NUM_CPU_DEVICES": "3"}, affinity=2) == (3, None)
    flags = {"XLA_FLAGS": "--xla_force_host_platform_device_count=3"}
    assert _devices_in_a_fresh_process(flags, affinity=2) == (3, None)
    assert _devices_in_a_fresh_process({}, affinity=2, started=True) == (1, None)


def test_every_core_leaves_this_processes_choice_alone():
    import jax

    before = len(jax.devices())  # the test process chose one device (tests/conftest.py)
    assert use_every_core() is None
    assert len(jax.devices()) == before == 1


# `pgjax run` on a device per core, through the command a user types, bit for bit against one device:
# tests/engine/test_scaling.py::test_pgjax_run_takes_a_device_per_core_and_the_learned_critic_finishes_there

"""What the commands share (pgjax/cli_support.py): a Ctrl-C that a run cannot lose."""

from __future__ import annotations

import os
import signal

import pytest

from pgjax import cli
from pgjax.cli_support import guard_interrupts


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

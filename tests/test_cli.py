"""The pgjax command end to end, in a temporary folder: run, then table and plot from the saved files, and
every kind of bad input (one line on stderr, exit code 2, nothing written)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pgjax import cli
from pgjax import io as pio

SMALL = ["--n-seeds", "64", "--ns", "1", "8", "--estimators", "reinforce", "leave_one_out", "pathwise"]


def _run(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def finished_run_and_output(tmp_path_factory):
    """`pgjax run bandit-variance` without --out, from a fresh working folder, with stdout and stderr (a log,
    not a terminal) captured and a progress line at every update."""
    cwd = tmp_path_factory.mktemp("cli")
    stdout, stderr = io.StringIO(), io.StringIO()
    previous, interval = os.getcwd(), os.environ.get("PGJAX_PROGRESS_SECONDS")
    os.chdir(cwd)
    os.environ["PGJAX_PROGRESS_SECONDS"] = "0"
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            # one program per estimator (64 seeds are one call of a program): three progress updates
            code = cli.main(["run", "bandit-variance", *SMALL, "--no-fuse"])
    finally:
        os.chdir(previous)
        if interval is None:
            del os.environ["PGJAX_PROGRESS_SECONDS"]
        else:
            os.environ["PGJAX_PROGRESS_SECONDS"] = interval
    assert code == 0, stderr.getvalue()
    return cwd, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def finished_run(finished_run_and_output):
    return finished_run_and_output[0] / "runs" / "bandit-variance"


def test_default_output_is_a_git_ignored_run_folder(finished_run_and_output):
    """A user's first command does not dirty the repository: the default folder is runs/NAME, which git
    ignores; the committed results/ are only written with an explicit --out."""
    cwd, stdout, _ = finished_run_and_output
    assert sorted(p.name for p in cwd.iterdir()) == ["runs"]
    assert f"wrote runs{os.sep}bandit-variance/" in stdout
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", "runs/bandit-variance/table.md"], cwd=root)
    assert ignored.returncode == 0, "runs/ is not git-ignored"
    tracked = subprocess.run(["git", "check-ignore", "-q", "results/bandit-variance/table.md"], cwd=root)
    assert tracked.returncode == 1, "the committed results/ must not be ignored"


def test_run_summary_names_the_platform_and_devices(finished_run_and_output):
    _, stdout, _ = finished_run_and_output
    line = next(line for line in stdout.splitlines() if line.startswith("ran on "))
    assert re.fullmatch(r"ran on (cpu|gpu|tpu) \(.+\): \d+ of \d+ device\(s\), \d+ process\(es\)", line), line


def test_progress_in_a_log_has_done_total_and_eta(finished_run_and_output):
    """stderr is not a terminal here (as under nohup, SLURM or `> log`): progress comes as plain lines."""
    _, _, stderr = finished_run_and_output
    lines = [line for line in stderr.splitlines() if line.startswith("pgjax: bandit-variance: ")]
    assert lines, stderr
    assert any(re.search(r": \d+/192 seeds \(\d+%\), \d+s elapsed, ETA \d+s$", line) for line in lines), lines
    assert re.search(r": 192/192 seeds \(100%\), done in \d+s$", lines[-1]), lines
    assert "\r" not in stderr  # no progress bar redrawn in place


def test_log_progress_prints_at_the_interval_only():
    stream, now = io.StringIO(), [100.0]
    log = cli.LogProgress("demo", 1000, "seed", interval=30, stream=stream, clock=lambda: now[0])
    log.update(100)
    now[0] += 29
    log.update(100)
    assert stream.getvalue() == ""
    now[0] += 1  # 30 s in: 200 done, 800 to go at 200 per 30 s
    log.update(0)
    assert stream.getvalue() == "pgjax: demo: 200/1000 seeds (20%), 30s elapsed, ETA 2m 00s\n"
    now[0] += 10
    log.update(300)
    assert stream.getvalue().count("\n") == 1
    now[0] += 3600
    log.update(500)
    log.finish()
    assert stream.getvalue().splitlines()[-1] == "pgjax: demo: 1000/1000 seeds (100%), done in 1h 00m"
    quiet = io.StringIO()
    short = cli.LogProgress("demo", 10, "seed", interval=30, stream=quiet, clock=lambda: 0.0)
    short.update(10)
    short.finish()
    assert quiet.getvalue() == ""  # a run shorter than the interval stays quiet


def test_run_writes_every_output(finished_run):
    names = {p.name for p in finished_run.iterdir()}
    for expected in [
        "table.parquet",
        "table.csv",
        "table.md",
        "table.tex",
        "raw.npz",
        "manifest.json",
        "figure.png",
        "figure.pdf",
        "bias.png",
        "bias.pdf",
        "cells",
    ]:
        assert expected in names, expected
    assert not [n for n in names if ".tmp-" in n]
    assert not [p for p in finished_run.parent.iterdir() if p.name.startswith(".")], "staging left behind"
    manifest = pio.read_manifest(finished_run)
    assert manifest["config"]["n_seeds"] == 64
    assert manifest["command"][:3] == ["pgjax", "run", "bandit-variance"]
    assert manifest["environment"]["device_count"] >= 1
    table = pio.read_table(finished_run)
    assert len(table) == 3 * 2 * 3  # estimators x ns x coordinates
    assert set(table["n_seeds"]) == {64}


def test_table_and_plot_rerender_without_recomputing(finished_run, capsys):
    raw_before = (finished_run / "raw.npz").read_bytes()
    (finished_run / "table.md").unlink()
    (finished_run / "figure.png").unlink()
    code, out, _ = _run(capsys, "table", str(finished_run))
    assert code == 0 and "leave_one_out" in out
    assert (finished_run / "table.md").exists()
    code, out, _ = _run(capsys, "plot", str(finished_run))
    assert code == 0 and (finished_run / "figure.png").stat().st_size > 1000
    assert (finished_run / "raw.npz").read_bytes() == raw_before


def test_raw_estimates_reproduce_the_table(finished_run):
    from pgjax.analysis import stats

    estimates, names, true_grad = pio.read_raw(finished_run)
    table = pio.read_table(finished_run)
    again = stats.summarise(estimates, names, true_grad)
    np.testing.assert_array_equal(again["var"].to_numpy(), table["var"].to_numpy())


def test_list_names_the_experiment(capsys):
    code, out, _ = _run(capsys, "list")
    assert code == 0 and "bandit-variance" in out


BAD_INPUTS = [
    (["--sigma", "0"], "--sigma"),
    (["--sigma", "-1"], "--sigma"),
    (["--ns", "0", "4"], "--ns"),
    (["--n-seeds", "1"], "--n-seeds"),
    (["--estimators", "nope"], "--estimators"),
    (["--reward", "cubic"], "--reward"),
    (["--theta", "1", "2", "3"], "--theta"),
    (["--state-std", "-1"], "--state-std"),
    (["--n-seeds", "many"], "--n-seeds"),
    (["--no-such-flag", "1"], "--no-such-flag"),
]


@pytest.mark.parametrize("args, field", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, field):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "run", "bandit-variance", *args, "--out", str(out))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pgjax: error:"), err
    assert field in lines[0]
    assert "Traceback" not in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_path(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = _run(capsys, "run", "bandit-variance", *SMALL, "--out", str(blocker / "sub"))
    assert code == 2 and err.count("\n") == 1 and "cannot write" in err
    assert blocker.read_text() == "not a folder"


def test_failed_run_keeps_earlier_results(finished_run, capsys):
    snapshot = lambda: {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file()}
    before = snapshot()
    code, _, _ = _run(capsys, "run", "bandit-variance", "--sigma", "-3", "--out", str(finished_run))
    assert code == 2
    assert snapshot() == before


@pytest.mark.parametrize(
    "args",
    [["run"], ["run", "no-such-experiment"], ["frobnicate"], ["table"], ["plot", "/no/such/folder"]],
)
def test_usage_errors(capsys, args):
    code, _, err = _run(capsys, *args)
    assert code == 2 and err.count("\n") == 1 and err.startswith("pgjax: error:")


@pytest.mark.parametrize(
    "args, message",
    [
        (["report", "DIR", "--out"], "report: --out needs a value"),
        (["report", "DIR", "--out="], "report: --out needs a value"),
        (["report", "DIR", "--bogus", "x"], "report: unknown flag '--bogus'; see pgjax report --help"),
        (["reproduce", "DIR", "--ignore"], "reproduce: --ignore needs a value"),
        (["reproduce", "DIR", "--out", "--ignore", "var"], "reproduce: --out needs a value"),
        (["reproduce", "DIR", "--bogus=1"], "reproduce: unknown flag '--bogus'; see pgjax reproduce --help"),
        (["export-rliable", "DIR", "--out"], "export-rliable: --out needs a value"),
        (["export-rliable", "DIR", "--tasks", "--out", "f.npz"], "export-rliable: --tasks needs at least one value"),
        (
            ["export-rliable", "DIR", "--bogus"],
            "export-rliable: unknown flag '--bogus'; see pgjax export-rliable --help",
        ),
    ],
)
def test_report_reproduce_and_export_share_one_flag_parser(tmp_path, capsys, args, message):
    """The three commands whose flags are not a config parse them alike: a missing value or an unknown flag is
    one line naming the command and the flag, before any folder is read or anything is written."""
    args = [str(tmp_path / "missing") if a == "DIR" else a for a in args]
    code, out, err = _run(capsys, *args)
    assert code == 2 and err == f"pgjax: error: {message}\n" and out == ""
    assert list(tmp_path.iterdir()) == []


def test_table_on_corrupt_folder_names_the_file(tmp_path, capsys):
    (tmp_path / "table.parquet").write_bytes(b"PAR1 this is not parquet")
    code, _, err = _run(capsys, "table", str(tmp_path))
    assert code == 2 and "table.parquet" in err and err.count("\n") == 1
    code, _, err = _run(capsys, "plot", str(tmp_path))
    assert code == 2 and "table.parquet" in err and err.count("\n") == 1


def test_console_script_is_installed(tmp_path):
    """The real `pgjax` executable, as a user calls it (no traceback for a bad flag)."""
    exe = Path(sys.executable).with_name("pgjax")
    if not exe.exists():
        pytest.skip("pgjax console script not installed next to this python")
    proc = subprocess.run(
        [str(exe), "run", "bandit-variance", "--sigma", "-1", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        env={**os.environ, "PGJAX_NO_COMPILE_CACHE": "1"},
    )
    assert proc.returncode == 2
    assert proc.stderr == "pgjax: error: --sigma: must be > 0 (got -1.0)\n"


# ------------------------------------------------------------------------------ output folders


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("stranger", ["other-experiment", "foreign-file"])
def test_run_refuses_a_folder_that_is_not_its_own(tmp_path, capsys, stranger):
    """A folder of another experiment, or with a file pgjax did not write, is refused before any work: one
    line, exit 2, the folder untouched."""
    out = tmp_path / "out"
    out.mkdir()
    if stranger == "other-experiment":
        pio.write_manifest(out, {"experiment": "test-function-variance"})
        (out / "cost.png").write_bytes(b"png")
    else:
        (out / "notes.txt").write_text("my notes")
    before = _snapshot(out)
    code, stdout, err = _run(capsys, "run", "bandit-variance", *SMALL, "--out", str(out))
    assert code == 2 and err.count("\n") == 1 and err.startswith("pgjax: error: "), err
    assert "--overwrite" in err
    assert ("'test-function-variance'" if stranger == "other-experiment" else "notes.txt") in err
    assert _snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_overwrite_replaces_another_experiments_folder_whole(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    pio.write_manifest(out, {"experiment": "test-function-variance", "files": ["cost.png", "manifest.json"]})
    (out / "cost.png").write_bytes(b"a figure of the other experiment")
    code, _, err = _run(
        capsys,
        "run",
        "bandit-variance",
        "--n-seeds",
        "16",
        "--ns",
        "2",
        "--estimators",
        "reinforce",
        "--no-figures",
        "--out",
        str(out),
        "--overwrite",
    )
    assert code == 0, err
    assert not (out / "cost.png").exists(), "a stale figure of the other experiment was left beside the new files"
    manifest = pio.read_manifest(out)
    assert manifest["experiment"] == "bandit-variance"
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and "cells" not in p.parts}
    assert names == set(manifest["files"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging or old folder left


def test_no_figures_writes_the_tables_only_and_plot_draws_them_later(tmp_path, capsys):
    """`--no-figures` (a cluster or shard run) writes tables, raw estimates and manifest, every file it wrote
    listed in the manifest; `pgjax plot` then draws the figures from the saved tables."""
    out = tmp_path / "out"
    small = ["--n-seeds", "16", "--ns", "2", "8", "--estimators", "reinforce", "pathwise"]
    code, stdout, err = _run(capsys, "run", "bandit-variance", *small, "--no-figures", "--out", str(out))
    assert code == 0, err
    assert "figure.png" not in stdout
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and "cells" not in p.parts}
    assert written == set(pio.read_manifest(out)["files"])
    assert {"table.parquet", "raw.npz", "quality.parquet"} <= written
    assert not [name for name in written if name.endswith((".png", ".pdf"))]
    code, _, err = _run(capsys, "plot", str(out))
    assert code == 0, err
    assert (out / "figure.png").stat().st_size > 1000 and (out / "ratio.pdf").stat().st_size > 1000


def test_rerun_replaces_the_folder_whole(capsys, tmp_path):
    """A second run of the same experiment replaces every file: nothing of the first run that the second
    does not write survives (a figure an older version drew, say)."""
    out = tmp_path / "again"
    small = ["--n-seeds", "16", "--ns", "2", "--estimators", "reinforce", "--out", str(out)]
    code, _, err = _run(capsys, "run", "bandit-variance", *small)
    assert code == 0, err
    (out / "old-figure.png").write_bytes(b"drawn by an older version")
    pio.record_files(out, [out / "old-figure.png"])
    code, _, err = _run(capsys, "run", "bandit-variance", *small, "--seed", "3")
    assert code == 0, err
    assert not (out / "old-figure.png").exists()
    assert pio.read_manifest(out)["seed"] == 3


def test_table_rerenders_without_rewriting_the_parquet(finished_run, capsys):
    parquet = finished_run / "table.parquet"
    before = (parquet.read_bytes(), parquet.stat().st_ino, parquet.stat().st_mtime_ns)
    (finished_run / "table.csv").unlink()
    code, _, err = _run(capsys, "table", str(finished_run))
    assert code == 0, err
    assert (finished_run / "table.csv").exists()
    assert (parquet.read_bytes(), parquet.stat().st_ino, parquet.stat().st_mtime_ns) == before


def test_pdf_figures_carry_no_creation_date(finished_run, capsys):
    """So re-drawing the same table gives the same bytes."""
    before = (finished_run / "figure.pdf").read_bytes()
    assert b"/CreationDate" not in before
    code, _, err = _run(capsys, "plot", str(finished_run))
    assert code == 0, err
    assert (finished_run / "figure.pdf").read_bytes() == before


@pytest.fixture
def read_only(monkeypatch):
    """Makes a folder read-only: its mode, and (for root, whom modes do not stop) file creation in it."""
    import tempfile

    made = []
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and any(Path(dir).resolve() == f.resolve() for f in made):
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    def make(folder: Path) -> Path:
        made.append(folder)
        folder.chmod(0o555)
        if os.geteuid() == 0 if hasattr(os, "geteuid") else False:
            monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
        return folder

    yield make
    for folder in made:
        folder.chmod(0o755)


@pytest.mark.parametrize("command", ["table", "plot"])
def test_table_and_plot_on_a_read_only_folder_are_one_line(finished_run, tmp_path, capsys, read_only, command):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(finished_run, folder)
    before = _snapshot(folder)
    read_only(folder)
    code, _, err = _run(capsys, command, str(folder))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"pgjax: error: cannot write to {folder}") and "Traceback" not in err
    assert _snapshot(folder) == before


# ------------------------------------------------------------------------------ a well-kept tool


def test_version(capsys):
    import pgjax

    code, out, _ = _run(capsys, "--version")
    assert code == 0 and out == f"pgjax {pgjax.__version__}\n"


@pytest.mark.parametrize("command", ["table", "plot"])
def test_table_and_plot_help_exit_0(capsys, command):
    code, out, err = _run(capsys, command, "--help")
    assert code == 0 and out.startswith(f"usage: pgjax {command} DIR") and err == ""


def test_run_help_shows_choices_as_a_set(capsys):
    from pgjax.problems import REWARDS

    with pytest.raises(SystemExit) as info:
        cli.main(["run", "bandit-variance", "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "--reward {" + ",".join(REWARDS) + "}" in out
    assert "--estimators {reinforce," in out
    assert "runs/bandit-variance" in out  # the default --out


def test_choices_come_from_each_experiments_validation():
    """Every listed choice is accepted by the experiment's own validation, for every experiment."""
    import dataclasses

    from pgjax import experiment
    from pgjax.errors import ConfigError
    from pgjax.experiments import bandit_variance
    from pgjax.problems import REWARDS

    assert cli.field_choices(bandit_variance.Config)["reward"] == tuple(REWARDS)
    shown = 0
    for name in experiment.discover():
        config_cls = experiment.load(name).Config
        for field, values in cli.field_choices(config_cls).items():
            is_tuple = isinstance(getattr(config_cls(), field), tuple)
            for value in values:
                shown += 1
                try:
                    dataclasses.replace(config_cls(), **{field: (value,) if is_tuple else value}).validate()
                except ConfigError as err:  # another constraint may refuse it (a policy that does not fit
                    # the environment), but never as an unknown name
                    assert err.field != field or not cli._CHOICES.search(str(err)), f"{name} --{field}: {err}"
    assert shown > 50


def test_nonfinite_estimates_are_reported_on_stderr(tmp_path, capsys):
    """sigma = 1e20 overflows the quadratic reward in float32: exit 0, but stderr names every cell with
    non-finite estimates and how many seeds."""
    out = tmp_path / "out"
    code, stdout, err = _run(
        capsys,
        "run",
        "bandit-variance",
        "--sigma",
        "1e20",
        "--n-seeds",
        "20",
        "--ns",
        "1",
        "4",
        "--estimators",
        "reinforce",
        "--no-figures",
        "--out",
        str(out),
    )
    assert code == 0
    estimates, _, _ = pio.read_raw(out)
    counts = {n: int((~np.isfinite(v).all(axis=1)).sum()) for n, v in estimates["reinforce"].items()}
    assert any(counts.values())
    lines = [line for line in err.splitlines() if line.startswith("pgjax: warning: ")]
    assert lines and "non-finite estimates in" in lines[0], err
    for n, count in counts.items():
        assert (f"reinforce at n = {n}: {count} of 20 seeds" in err) == bool(count), err


def test_nonfinite_report_is_empty_when_every_number_is_finite():
    from types import SimpleNamespace

    fine = SimpleNamespace(sweep=SimpleNamespace(estimates={"a": {1: np.ones((4, 2))}}))
    assert cli.nonfinite_report(fine) == []
    bad = np.ones((4, 2))
    bad[1, 0] = np.nan
    bad[3, 1] = np.inf
    report = cli.nonfinite_report(SimpleNamespace(sweep=SimpleNamespace(estimates={"a": {1: bad, 2: np.ones((4, 2))}})))
    assert report[0].startswith("non-finite estimates in 1 of 2 cell(s)") and report[1] == "  a at n = 1: 2 of 4 seeds"
    training = SimpleNamespace(raw={"gae/return": np.array([[1.0, np.nan], [1.0, 2.0]]), "updates": np.arange(2)})
    assert cli.nonfinite_report(training)[1] == "  gae: 1 of 2 seeds"


HUGE = [
    (["run", "bandit-variance", "--n-seeds", "10000000000"], "--n-seeds"),
    (["run", "bandit-variance", "--n-seeds", "1e10"], "--n-seeds"),
    (["run", "bandit-variance", "--ns", "1000000000000"], "--ns"),
    (["run", "bandit-variance", "--ns", "1e12"], "--ns"),
    (["run", "lqr-horizon", "--n", "1000000000000", "--horizons", "1"], "too large"),
    (["run", "cartpole-reinforce", "--n-seeds", "10000000000"], "--n-seeds"),
]


@pytest.mark.parametrize("args, says", HUGE)
def test_huge_inputs_are_one_line_before_any_work(tmp_path, capsys, args, says):
    out = tmp_path / "out"
    code, _, err = _run(capsys, *args, "--out", str(out))
    assert code == 2 and err.count("\n") == 1 and err.startswith("pgjax: error: "), err
    assert says in err and "Traceback" not in err
    assert not (out / "manifest.json").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["run", "bandit-variance", "--n-seeds", "100000", "--ns", "1", "--estimators", "reinforce"],
        [
            "run",
            "cartpole-reinforce",
            "--n-seeds",
            "64",
            "--updates",
            "10",
            "--horizon",
            "10",
            "--estimators",
            "reinforce",
        ],
    ],
)
def test_results_larger_than_host_memory_are_one_line_before_any_work(tmp_path, capsys, monkeypatch, args):
    """Seeds whose estimates (or training metrics) need more memory than the machine has are refused before
    anything is allocated; here the machine is made small rather than the run made huge, so that a missing
    check shows as a run that succeeds, not as a machine out of memory."""
    from pgjax.engine import sweep as engine

    monkeypatch.setattr(engine, "host_memory_bytes", lambda: 1000)
    out = tmp_path / "out"
    code, _, err = _run(capsys, *args, "--out", str(out))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("pgjax: error: --n-seeds: ") and "GiB of host memory" in err
    assert not out.exists()

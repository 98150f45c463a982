"""The experiment contract through the CLI, with plugin experiments registered the supported way: a
distribution on sys.path whose ``entry_points.txt`` names a module under the ``pgjax.experiments`` group.

A plugin's module-level names are its own business: only what it declares in ``HOOKS`` changes what
``pgjax run``, ``pgjax plot`` and ``pgjax table`` do. A plugin that breaks the contract is one line on stderr
naming its module and the problem, with exit status 2."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from pgjax import cli, experiment

#: A tiny valid plugin experiment; ``{extra}`` is appended at module level.
PLUGIN = '''
import dataclasses

from pgjax.estimators import draw  # a stray module-level ``draw``: a sampler, not a figure hook
from pgjax.estimators import make_estimator
from pgjax.experiment import (
    ExperimentResult,
    Hooks,
    check_sample_sizes,
    check_seeds,
    summarise_sweep,
    sweep_from_config,
)
from pgjax.problems import LinearGaussianBandit

NAME = "{name}"


@dataclasses.dataclass(frozen=True)
class Config:
    """A plugin experiment: REINFORCE on a one-dimensional bandit."""

    ns: tuple[int, ...] = (1, 4)
    """Sample sizes."""
    n_seeds: int = 8
    """Seeds."""
    seed: int = 0
    """Base seed."""
    chunk_size: int = 8
    """Seeds per chunk."""

    def validate(self) -> None:
        check_sample_sizes(self.ns)
        check_seeds(self.n_seeds, self.chunk_size)


def run(config=Config(), *, progress=None, execution=None):
    config.validate()
    problem = LinearGaussianBandit.build(state=(1.0,), theta=(0.5,), sigma=1.0)
    params = problem.init_params()
    estimators = {{"reinforce": make_estimator("reinforce")}}
    sweep = sweep_from_config(config, problem, params, estimators, progress=progress, execution=execution)
    table = summarise_sweep(sweep, experiment=NAME, problem_name=problem.describe())
    return ExperimentResult(NAME, config, problem.describe(), table, sweep, info={{}})
{extra}
'''


def _register(tmp_path, monkeypatch, modules: dict[str, str]) -> None:
    """Writes each module (name -> source) into ``tmp_path`` with one distribution that registers them all
    as ``pgjax.experiments`` entry points, and puts ``tmp_path`` on sys.path for this test only."""
    dist = tmp_path / "pgjax_test_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pgjax-test-plugins\nVersion: 0.1\n")
    lines = ["[pgjax.experiments]"] + [f"{module} = {module}" for module in modules]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(experiment, "BROKEN", {})
    monkeypatch.setattr(experiment, "MALFORMED", {})
    monkeypatch.setattr(experiment, "_MALFORMED_NAMES", {})
    _PLUGIN_MODULES.extend(modules)


_PLUGIN_MODULES: list[str] = []


@pytest.fixture(autouse=True)
def _forget_plugin_modules():
    """Each test imports its plugins afresh and leaves none behind in sys.modules."""
    yield
    while _PLUGIN_MODULES:
        sys.modules.pop(_PLUGIN_MODULES.pop(), None)


def _cli(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_stray_module_level_draw_is_not_taken_for_the_figure_hook(tmp_path, monkeypatch, capsys):
    """The plugin imports ``draw`` from pgjax.estimators and declares no hooks: `pgjax plot` draws the
    default figures (it used to call the sampler with the folder and crash)."""
    _register(tmp_path, monkeypatch, {"pgjax_stray_draw": PLUGIN.format(name="stray-draw", extra="")})
    out = tmp_path / "out"
    code, _, err = _cli(capsys, "run", "stray-draw", "--out", str(out))
    assert code == 0, err
    for figure in out.glob("*.png"):
        figure.unlink()
    code, stdout, err = _cli(capsys, "plot", str(out))
    assert code == 0, err
    assert (out / "figure.png").is_file() and f"wrote {out / 'figure.png'}" in stdout
    code, stdout, err = _cli(capsys, "table", str(out))
    assert code == 0 and "reinforce" in stdout, err


def test_a_declared_draw_hook_is_what_plot_calls(tmp_path, monkeypatch, capsys):
    extra = """

def my_figures(folder):
    path = folder / "mine.txt"
    path.write_text("drawn by the plugin")
    return [path]


HOOKS = Hooks(draw=my_figures)
"""
    _register(tmp_path, monkeypatch, {"pgjax_own_draw": PLUGIN.format(name="own-draw", extra=extra)})
    out = tmp_path / "out"
    assert _cli(capsys, "run", "own-draw", "--out", str(out))[0] == 0
    code, stdout, err = _cli(capsys, "plot", str(out))
    assert code == 0, err
    assert stdout.strip() == f"wrote {out / 'mine.txt'}"


MALFORMED = {
    "hook-not-callable": ("HOOKS = Hooks(draw='figure.png')", "hook draw is not callable (got str)"),
    "hooks-not-declared-with-hooks": ("HOOKS = {'draw': print}", "HOOKS must be a pgjax.experiment.Hooks(...)"),
    "progress-unit-not-text": ("HOOKS = Hooks(progress_unit=3)", "hook progress_unit must be a non-empty string"),
    "no-run": ("del run", "defines no run"),
    "no-config": ("del Config", "defines no Config"),
    "run-without-execution": (
        "def run(config=Config(), *, progress=None):\n    raise AssertionError('never called')",
        "run must accept run(config, *, progress=None, execution=None)",
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_plugin_is_one_line_naming_the_module_and_the_problem(tmp_path, monkeypatch, capsys, name):
    extra, problem = MALFORMED[name]
    module = "pgjax_bad_" + name.replace("-", "_")
    _register(tmp_path, monkeypatch, {module: PLUGIN.format(name=name, extra="\n" + extra + "\n")})
    code, stdout, err = _cli(capsys, "run", name, "--out", str(tmp_path / "out"))
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"pgjax: error: experiment module {module}")
    assert problem in err
    assert not (tmp_path / "out").exists()


def test_list_warns_about_a_malformed_plugin_and_lists_the_rest(tmp_path, monkeypatch, capsys):
    _register(
        tmp_path,
        monkeypatch,
        {
            "pgjax_good_plugin": PLUGIN.format(name="good-plugin", extra=""),
            "pgjax_bad_plugin": PLUGIN.format(name="bad-plugin", extra="\nHOOKS = Hooks(save=1)\n"),
        },
    )
    code, stdout, err = _cli(capsys, "list")
    assert code == 0
    assert "good-plugin" in stdout and "bandit-variance" in stdout and "bad-plugin" not in stdout
    assert err == "pgjax: warning: experiment module pgjax_bad_plugin: hook save is not callable (got int)\n"


def test_every_builtin_experiment_keeps_the_contract():
    found = experiment.discover()
    assert found and not experiment.MALFORMED
    for name in found:
        module = experiment.check(experiment.load(name))
        assert isinstance(module, experiment.ExperimentModule)
        assert isinstance(experiment.hooks(module), experiment.Hooks)


def test_a_users_own_experiments_package_does_not_hide_the_builtin_ones(tmp_path):
    """The built-in experiments live in ``pgjax.experiments``: a project with its own top-level
    ``experiments/`` package on PYTHONPATH (first on the path) still sees every built-in experiment."""
    import subprocess

    own = tmp_path / "experiments"
    own.mkdir()
    (own / "__init__.py").write_text("")
    (own / "my_study.py").write_text("VALUE = 1\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import experiments.my_study; from pgjax import cli; raise SystemExit(cli.main(['list']))",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    listed = {line.split()[0] for line in out.stdout.splitlines() if line.strip()}
    assert set(experiment.discover()) <= listed
    assert {"bandit-variance", "lqr-variance", "interval-coverage"} <= listed

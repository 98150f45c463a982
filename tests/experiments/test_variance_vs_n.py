"""``pgjax run variance-vs-n FAMILY ...`` as a user runs it: for every registered problem family it computes the
same table as the experiment that presets that family (bandit-variance, test-function-variance, lqr-variance,
contextual-bandit-variance)
with the same settings, writes that family's figures and records the family in its manifest; a flag the family
does not have, a bad value or an unknown family is one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import numpy as np
import pytest

from pgjax import cli, experiment
from pgjax import io as pio
from pgjax.experiments import variance_vs_n

#: family -> (its preset experiment, tiny settings: two estimators, two sample sizes, eight seeds).
CASES = {
    "bandit": ("bandit-variance", dict(reward="linear", estimators=("reinforce", "pathwise"))),
    "test-function": (
        "test-function-variance",
        dict(k=2.0, mu=(1.0,), sigma=(1.0,), estimators=("measure_valued_coupled", "delta_cv_score")),
    ),
    "lqr": (
        "lqr-variance",
        dict(system="scalar", horizon=2, gain=(-0.5,), x0=(1.0,), estimators=("reinforce", "reward_to_go")),
    ),
    "contextual": (
        "contextual-bandit-variance",
        dict(state_cost=0.25, estimators=("reinforce", "optimal_state_baseline")),
    ),
}
SIZES = dict(ns=(1, 4), n_seeds=8)


def _flags(settings: dict) -> list[str]:
    """The command-line flags that set ``settings`` (field -> value or tuple of values)."""
    out = []
    for name, value in settings.items():
        out += [f"--{name.replace('_', '-')}", *(str(v) for v in (value if isinstance(value, tuple) else (value,)))]
    return out


def _run(capsys, *args) -> tuple[int, str]:
    code = cli.main(["run", *args])
    return code, capsys.readouterr().err


def test_every_family_has_a_case():
    assert set(CASES) == set(variance_vs_n.FAMILIES)


@pytest.mark.parametrize("family", list(CASES))
def test_a_family_run_equals_its_preset_run(tmp_path, capsys, family):
    """`pgjax run variance-vs-n FAMILY` gives the rows of the preset's run with the same settings, value for
    value (only the experiment column differs), its raw estimates, config and manifest facts, and the family's
    figures; the run flags (--out) may follow the family's. The preset runs second, by name, in the same
    process, so its programs come from the in-process compilation cache."""
    preset, settings = CASES[family]
    out = tmp_path / "generic"
    assert _run(capsys, "variance-vs-n", family, *_flags({**settings, **SIZES}), "--out", str(out))[0] == 0
    module = experiment.load(preset)
    config = module.Config(**settings, **SIZES)
    result = module.run(config)
    (tmp_path / "preset").mkdir()
    pio.write_table(result.table, tmp_path / "preset")  # read back as the generic table is

    generic, reference = pio.read_table(out), pio.read_table(tmp_path / "preset")
    assert set(generic["experiment"]) == {"variance-vs-n"} and set(reference["experiment"]) == {preset}
    assert len(generic) == 2 * 2 * len(reference["param"].unique())  # estimators x ns x coordinates
    assert generic.drop(columns="experiment").equals(reference.drop(columns="experiment"))

    estimates, names, grad = pio.read_raw(out)
    assert names == result.sweep.param_names
    np.testing.assert_array_equal(grad, result.sweep.true_grad)
    assert set(estimates) == set(result.sweep.estimates) == set(config.estimators)
    for name, by_n in result.sweep.estimates.items():
        for n in (1, 4):
            np.testing.assert_array_equal(estimates[name][n], by_n[n])

    manifest, preset_manifest = pio.read_manifest(out), experiment.manifest(result)
    assert manifest["problem_family"] == family and "problem_family" not in preset_manifest
    assert manifest["config"] == preset_manifest["config"]  # the family's fields, flat, as the preset has them
    assert manifest["command"][2:4] == ["variance-vs-n", family]
    for key in ("problem", "true_grad", "bias_estimators", "constant_baseline_b", "evaluations_accounting"):
        assert manifest.get(key) == preset_manifest.get(key), key
    figures = {"figure.png", "bias.png"} | ({"ratio.png"} if "reinforce" in config.estimators else set())
    figures |= {"cost.png"} if family == "test-function" else set()  # ratios need the reference, reinforce
    assert {p.name for p in out.glob("*.png")} == figures
    if family == "test-function":
        # evaluations of f per sample (D = 1): 4 D for coupled measure-valued, 1 + (2 + D) / n for delta_cv
        expected = np.where(generic["estimator"] == "measure_valued_coupled", 4.0, 1 + 3 / generic["n"])
        np.testing.assert_allclose(generic["evals_per_sample"], expected)
        np.testing.assert_allclose(generic["work_var"], generic["var"] * generic["n"] * generic["evals_per_sample"])
        assert generic["var_exact"].notna().all()
        # `pgjax plot` finds the family in the manifest and draws its cost figure again
        (out / "cost.png").unlink()
        assert cli.main(["plot", str(out)]) == 0
        assert (out / "cost.png").is_file()


@pytest.mark.parametrize(
    "args, flag",
    [
        (["lqr", "--reward", "linear"], "--reward"),  # the bandit's flag, given to lqr
        (["--horizon", "5"], "--horizon"),  # a family's flag before any family
        (["lqr", "--horizon", "0"], "--horizon"),  # a bad value: the family's own validation
        (["test-function", "--function", "sine"], "--function"),
        (["bandit", "--n-seeds", "1"], "--n-seeds"),
        (["cartpole"], "cartpole"),  # no such family
    ],
)
def test_a_bad_flag_is_one_line_exit_2(tmp_path, capsys, args, flag):
    out = tmp_path / "never"
    code, err = _run(capsys, "variance-vs-n", *args, "--out", str(out))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("pgjax: error:") and flag in lines[0], err
    assert not out.exists()


def test_the_presets_are_the_families_with_their_defaults():
    """Each preset's Config is its family's config class, so its flags and defaults are the family's, and its
    progress total is the one variance-vs-n reports for that family."""
    for family, (preset, _) in CASES.items():
        module = experiment.load(preset)
        assert module.Config is variance_vs_n.FAMILIES[family].config
        config = module.Config()
        wrapped = variance_vs_n.Config(problem=config)
        assert module.HOOKS.total_work(config) == variance_vs_n.HOOKS.total_work(wrapped) > 0
    assert variance_vs_n.Config().problem == variance_vs_n.BanditConfig()


def test_the_bandits_fused_program_gives_the_separate_programs_numbers():
    """The bandit family compiles its estimators as one program by default (``fuse``; the default experiment
    compiles 3 programs instead of 21). Every per-seed estimate of the default estimators equals that of the
    estimator's own program bit for bit, except the batch optimal baseline at n = 2 and 4 (of the default run's
    sample sizes), which XLA compiles differently inside the larger module: there the difference is float32
    rounding (last bits), and the README says so. The micro-batch (256 seeds at these n) is that of the
    default run."""
    from pgjax.engine import run_sweep

    config = variance_vs_n.BanditConfig(ns=(1, 4), n_seeds=256)
    assert config.fuse
    setting = variance_vs_n.setup(config)
    args = (setting.problem, setting.params, setting.estimators, config.ns, config.n_seeds)
    fused = run_sweep(*args, fuse=True)
    apart = run_sweep(*args, fuse=False)
    assert fused.execution["fused"] is True and fused.execution["compiles"] == 1
    assert apart.execution["compiles"] == len(config.estimators)
    last_bits = {("optimal_baseline_batch", 4)}
    for name in config.estimators:
        for n in config.ns:
            one, other = np.asarray(fused.estimates[name][n]), np.asarray(apart.estimates[name][n])
            if (name, n) in last_bits:
                np.testing.assert_allclose(one, other, rtol=1e-6, atol=1e-6, err_msg=f"{name} n={n}")
            else:
                np.testing.assert_array_equal(one, other, err_msg=f"{name} n={n}")

"""Tests for pgjax.styles: one fixed, distinct look per estimator, covering every estimator pgjax has."""

from __future__ import annotations

import itertools

import pytest

from pgjax import styles
from pgjax.estimators import ALL_ESTIMATORS, ESTIMATORS, GAUSSIAN_ESTIMATORS
from pgjax.estimators.base import builtin
from pgjax.estimators.episodic import SIGNALS
from pgjax.estimators.trajectory import TRAJECTORY_ESTIMATORS, VALUES


def registered_names() -> set[str]:
    """Every estimator and learning-signal name an experiment can put in a table."""
    from pgjax.experiments import lqr_pgpe

    names = set(ESTIMATORS) | set(GAUSSIAN_ESTIMATORS) | set(ALL_ESTIMATORS)
    names |= set(TRAJECTORY_ESTIMATORS) | set(SIGNALS) | set(lqr_pgpe.ESTIMATORS)
    names |= {f"gae[{value}]" for value in VALUES}  # lqr-gae's rows: GAE with each critic
    names |= set(builtin())  # every estimator pgjax registers, whatever view it is in
    return names


#: The estimators of each experiment's default run (and the paper's four), which share figures.
EXPERIMENT_SETS = {
    "kool2020-bernoulli": [
        "reinforce",
        "sum_and_sample",
        "sum_and_sample_stochastic",
        "unordered_set",
        "leave_one_out",
        "sum_and_sample_baseline",
        "sum_and_sample_stochastic_baseline",
        "unordered_set_baseline",
    ],
    "bandit-variance": [
        "reinforce",
        "constant_baseline",
        "batch_mean_baseline",
        "leave_one_out",
        "optimal_baseline_exact",
        "optimal_baseline_batch",
        "pathwise",
    ],
    "test-function-variance": [
        "reinforce",
        "batch_mean_baseline",
        "leave_one_out",
        "optimal_baseline_exact",
        "optimal_baseline_batch",
        "pathwise",
        "measure_valued",
        "measure_valued_coupled",
        "delta_cv_score",
        "delta_cv_score_est",
        "delta_cv_pathwise",
        "delta_cv_pathwise_est",
    ],
    "lqr-variance": [
        "reinforce",
        "constant_baseline",
        "optimal_baseline_exact",
        "reward_to_go",
        "reward_to_go_optimal",
        "value_baseline",
        "learned_value_baseline",
        "gae",
        "pathwise",
    ],
    "lqr-gae": ["reinforce", "reward_to_go", "gae[exact]", "gae[stationary]", "gae[learned]"],
    "lqr-pgpe": ["reinforce", "leave_one_out", "pgpe_symmetric", "pathwise"],
    "contextual-bandit-variance": [
        "reinforce",
        "constant_baseline",
        "batch_mean_baseline",
        "leave_one_out",
        "optimal_baseline_exact",
        "optimal_baseline_batch",
        "pathwise",
        "state_value_baseline",
        "optimal_state_baseline",
    ],
    "wu2018": ["reinforce", "state_value_baseline", "optimal_baseline_exact", "action_factorised_baseline"],
    "training": list(SIGNALS),
    "mohamed2020": ["reinforce", "optimal_baseline_exact", "pathwise", "measure_valued_coupled"],
}


def test_registry_covers_every_registered_estimator():
    missing = registered_names() - set(styles.ESTIMATOR_STYLES)
    assert not missing, f"no fixed style for {sorted(missing)}: add them to pgjax.styles.ESTIMATOR_STYLES"


def test_registered_styles_are_pairwise_distinct():
    items = list(styles.ESTIMATOR_STYLES.items())
    for (a, sa), (b, sb) in itertools.combinations(items, 2):
        assert (sa.color, sa.marker, repr(sa.linestyle)) != (sb.color, sb.marker, repr(sb.linestyle)), (a, b)
        # stronger: colour and marker together already tell any two apart
        assert (sa.color, sa.marker) != (sb.color, sb.marker), (a, b)
        # and two of one colour never have look-alike markers (a circle and a hexagon, two triangles)
        if sa.color == sb.color:
            assert styles.MARKER_GROUPS[sa.marker] != styles.MARKER_GROUPS[sb.marker], (a, b)


def test_registered_styles_use_the_palette_and_keep_dotted_for_exact_values():
    for name, style in styles.ESTIMATOR_STYLES.items():
        assert style.color in styles.OKABE_ITO.values(), name
        assert style.color != styles.OKABE_ITO["yellow"], name  # too faint on white
        assert style.marker in styles.MARKER_GROUPS, name
        assert style.linestyle not in (":", "dotted"), name  # dotted lines are exact values


@pytest.mark.parametrize("experiment", sorted(EXPERIMENT_SETS))
def test_each_experiment_draws_its_estimators_apart(experiment):
    names = EXPERIMENT_SETS[experiment]
    looks = styles.style_map(names)
    assert len({(s.color, s.marker) for s in looks.values()}) == len(names)
    # only the batch-estimated baselines share a shape (squares, in two colours), deliberately
    markers = [looks[n].marker for n in names]
    repeated = {m for m in markers if markers.count(m) > 1}
    assert repeated <= {"s"}, (experiment, repeated)


def test_style_map_gives_registered_names_their_fixed_style_whatever_the_company():
    alone = styles.style_map(["pathwise"])["pathwise"]
    crowd = styles.style_map(["reinforce", "gae", "plugin_x", "pathwise"])["pathwise"]
    assert alone == crowd == styles.ESTIMATOR_STYLES["pathwise"]
    assert styles.estimator_style("reinforce")["color"] == styles.OKABE_ITO["black"]


def test_unknown_names_get_deterministic_styles_distinct_within_a_figure():
    plugins = [f"plugin_{i}" for i in range(30)]
    names = sorted(styles.ESTIMATOR_STYLES) + plugins
    looks = styles.style_map(names)
    assert len({(s.color, s.marker) for s in looks.values()}) == len(names)
    registered = {(s.color, s.marker) for s in styles.ESTIMATOR_STYLES.values()}
    assert not registered & {(looks[p].color, looks[p].marker) for p in plugins}  # never a built-in look
    assert styles.style_map(list(reversed(names))) == looks  # independent of the order
    assert styles.style_map(["my_estimator"]) == styles.style_map(["my_estimator"])


def test_variants_of_an_estimator_keep_its_colour_and_differ():
    names = ["reinforce@lr=0.1", "reinforce@lr=0.01", "gae@lr=0.1", "gae@lr=0.01", "reinforce"]
    looks = styles.style_map(names)
    assert len({(s.color, s.marker, repr(s.linestyle), s.filled) for s in looks.values()}) == len(names)
    assert len({(s.color, s.marker) for s in looks.values()}) == len(names)
    assert looks["reinforce@lr=0.1"].color == looks["reinforce"].color == styles.OKABE_ITO["black"]
    assert looks["gae@lr=0.01"].color == styles.ESTIMATOR_STYLES["gae"].color
    assert looks["reinforce"] == styles.ESTIMATOR_STYLES["reinforce"]

"""Gradient estimators: ``(key, params, problem, n) -> gradient pytree shaped like params``.

Estimators are small frozen dataclasses (hashable, so they are static under ``jax.jit``). Build one by name
with :func:`make_estimator`; add one by writing the class and registering it in :data:`ESTIMATORS`.
"""

from __future__ import annotations

from pgjax.errors import ConfigError
from pgjax.estimators.control_variates import (
    DeltaCVPathwise,
    DeltaCVPathwiseEstimated,
    DeltaCVScore,
    DeltaCVScoreEstimated,
)
from pgjax.estimators.measure_valued import MeasureValued, MeasureValuedCoupled
from pgjax.estimators.pathwise import Pathwise
from pgjax.estimators.score_function import (
    BatchMeanBaseline,
    ConstantBaseline,
    LeaveOneOutBaseline,
    OptimalBaselineBatch,
    OptimalBaselineExact,
    Reinforce,
    draw,
    weighted_score_mean,
)

#: Estimator classes by name, in the order experiments list them: the estimators that work on any problem.
ESTIMATORS = {
    cls.name: cls
    for cls in (
        Reinforce,
        ConstantBaseline,
        BatchMeanBaseline,
        LeaveOneOutBaseline,
        OptimalBaselineExact,
        OptimalBaselineBatch,
        Pathwise,
    )
}

#: Estimators that need a problem with Gaussian structure (``gaussian(params) -> (mu, sigma)`` and ``f(x)``,
#: such as :class:`pgjax.problems.GaussianTestFunction`). They are kept out of :data:`ESTIMATORS` so that
#: experiments whose default is "every estimator" on another problem keep working; each has a
#: ``check(problem)`` that raises ConfigError naming ``estimators`` on a problem without that structure.
GAUSSIAN_ESTIMATORS = {
    cls.name: cls
    for cls in (
        MeasureValued,
        MeasureValuedCoupled,
        DeltaCVScore,
        DeltaCVScoreEstimated,
        DeltaCVPathwise,
        DeltaCVPathwiseEstimated,
    )
}

#: Every estimator pgjax has, by name (:data:`ESTIMATORS` then :data:`GAUSSIAN_ESTIMATORS`).
ALL_ESTIMATORS = {**ESTIMATORS, **GAUSSIAN_ESTIMATORS}


def make_estimator(name: str, *, baseline: float = 0.0):
    """The estimator called ``name`` (any of :data:`ALL_ESTIMATORS`); ``baseline`` is the constant b of
    ``constant_baseline``."""
    if name not in ALL_ESTIMATORS:
        raise ConfigError("estimators", f"unknown estimator {name!r}; choose from {', '.join(ALL_ESTIMATORS)}")
    if name == ConstantBaseline.name:
        return ConstantBaseline(baseline=float(baseline))
    return ALL_ESTIMATORS[name]()


def check_estimators(estimators, problem) -> None:
    """Raises ConfigError naming ``estimators`` if an estimator cannot run on ``problem`` (e.g. a
    measure-valued estimator on a problem without Gaussian structure). ``estimators``: a mapping name ->
    estimator, or an iterable of estimators. Call it when building an experiment, before compiling."""
    for estimator in estimators.values() if hasattr(estimators, "values") else estimators:
        check = getattr(estimator, "check", None)
        if check is not None:
            check(problem)


__all__ = [
    "ALL_ESTIMATORS",
    "ESTIMATORS",
    "GAUSSIAN_ESTIMATORS",
    "BatchMeanBaseline",
    "ConstantBaseline",
    "DeltaCVPathwise",
    "DeltaCVPathwiseEstimated",
    "DeltaCVScore",
    "DeltaCVScoreEstimated",
    "LeaveOneOutBaseline",
    "MeasureValued",
    "MeasureValuedCoupled",
    "OptimalBaselineBatch",
    "OptimalBaselineExact",
    "Pathwise",
    "Reinforce",
    "check_estimators",
    "draw",
    "make_estimator",
    "weighted_score_mean",
]

from pgjax.estimators.trajectory import (  # noqa: E402  (trajectory estimators build on the ones above)
    GAE,
    TRAJECTORY_ESTIMATORS,
    LearnedValueBaseline,
    RewardToGo,
    RewardToGoOptimalBaseline,
    SymmetricPGPE,
    ValueBaseline,
    make_trajectory_estimator,
)

__all__ += [
    "GAE",
    "TRAJECTORY_ESTIMATORS",
    "LearnedValueBaseline",
    "RewardToGo",
    "RewardToGoOptimalBaseline",
    "SymmetricPGPE",
    "ValueBaseline",
    "make_trajectory_estimator",
]

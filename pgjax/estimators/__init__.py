"""Gradient estimators: ``(key, params, problem, n) -> gradient pytree shaped like params``.

Estimators are small frozen dataclasses (hashable, so they are static under ``jax.jit``), subclasses of
:class:`pgjax.estimators.base.Estimator`, which declare the problem capabilities they need (``requires``). They
are kept in ONE registry (:func:`pgjax.estimators.base.registry`, name -> class; other packages add theirs
through the ``pgjax.estimators`` entry-point group). Build one by name with :func:`make_estimator`; add one by
writing the class with ``@register`` (see docs/architecture.md). :data:`ESTIMATORS`, :data:`GAUSSIAN_ESTIMATORS`
and :data:`ALL_ESTIMATORS` are views of the registry by capability.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# isort: off
# The import order is the registration order, which is the order experiments list the estimators in.
from pgjax.estimators.base import (
    Estimator,
    EstimatorOptions,
    available_on,
    builtin,
    check_available,
    estimator_class,
    make,
    register,
    registry,
    unavailable,
    with_requirements,
)
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
from pgjax.estimators.pathwise import Pathwise
from pgjax.estimators.measure_valued import MeasureValued, MeasureValuedCoupled
from pgjax.estimators.control_variates import (
    DeltaCVPathwise,
    DeltaCVPathwiseEstimated,
    DeltaCVScore,
    DeltaCVScoreEstimated,
)
from pgjax.problems.base import ExactScoreMoments, GaussianStructure

# isort: on

#: The estimators that work on any problem with an exact objective (needing at most exact score moments), by
#: name, in the order experiments list them: a view of the registry (pgjax's own estimators).
ESTIMATORS = {name: cls for name, cls in builtin().items() if set(cls.requires) <= {ExactScoreMoments}}

#: Estimators that need a problem with Gaussian structure (``gaussian(params) -> (mu, sigma)`` and ``f(x)``,
#: such as :class:`pgjax.problems.GaussianTestFunction`): the registered estimators that require
#: :class:`~pgjax.problems.base.GaussianStructure`. They are kept out of :data:`ESTIMATORS` so that
#: experiments whose default is "every estimator" on another problem keep working.
GAUSSIAN_ESTIMATORS = with_requirements(GaussianStructure)

#: Every estimator of the bandit-like problems, by name (:data:`ESTIMATORS` then :data:`GAUSSIAN_ESTIMATORS`).
ALL_ESTIMATORS = {**ESTIMATORS, **GAUSSIAN_ESTIMATORS}


def make_estimator(name: str, *, baseline: float = 0.0, **options: Any) -> Estimator:
    """The registered estimator called ``name`` (pgjax's or a plugin's); ``baseline`` is the constant b of
    ``constant_baseline``, further ``options`` those of :class:`~pgjax.estimators.base.EstimatorOptions`."""
    return make(name, EstimatorOptions(baseline=float(baseline), **options))


def check_estimators(estimators: Mapping[str, Any] | Iterable[Any], problem: Any) -> None:
    """Raises ConfigError naming ``estimators`` if an estimator cannot run on ``problem`` (e.g. a
    measure-valued estimator on a problem without Gaussian structure), with the reason
    (:func:`~pgjax.estimators.base.unavailable`). ``estimators``: a mapping name -> estimator, or an iterable
    of estimators. Call it when building an experiment, before compiling."""
    check_available(estimators, problem)


__all__ = [
    "ALL_ESTIMATORS",
    "Estimator",
    "EstimatorOptions",
    "available_on",
    "estimator_class",
    "register",
    "registry",
    "unavailable",
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

from pgjax.estimators.without_replacement import (  # noqa: E402  (registered last: the experiments' order)
    WITHOUT_REPLACEMENT,
    SumAndSample,
    SumAndSampleBaseline,
    SumAndSampleStochastic,
    SumAndSampleStochasticBaseline,
    UnorderedSet,
    UnorderedSetBaseline,
)

__all__ += [
    "WITHOUT_REPLACEMENT",
    "SumAndSample",
    "SumAndSampleBaseline",
    "SumAndSampleStochastic",
    "SumAndSampleStochasticBaseline",
    "UnorderedSet",
    "UnorderedSetBaseline",
]

from pgjax.estimators.state_baselines import (  # noqa: E402  (registered after pgjax's older estimators, in this order)
    ActionFactorisedBaseline,
    OptimalStateBaseline,
    StateValueBaseline,
)

__all__ += ["ActionFactorisedBaseline", "OptimalStateBaseline", "StateValueBaseline"]

from pgjax.estimators.group import (  # noqa: E402  (registered after the others: their order is unchanged)
    GROUP_ESTIMATORS,
    GRPO,
    DrGRPO,
    GroupMean,
    GroupOptimal,
    GroupRLOO,
    GroupShrinkage,
    exact_group_moments,
)

__all__ += [
    "GROUP_ESTIMATORS",
    "GRPO",
    "DrGRPO",
    "GroupMean",
    "GroupOptimal",
    "GroupRLOO",
    "GroupShrinkage",
    "exact_group_moments",
]

from pgjax.estimators.kl import K1, K2, K3, KL_ESTIMATOR_CLASSES  # noqa: E402  (registered last: estimate a KL)

__all__ += ["K1", "K2", "K3", "KL_ESTIMATOR_CLASSES"]
